//! The runtime end to end, in memory: a source that replays one input
//! record N times → the sharded executor → a null sink, with the memory
//! dedup store (every key distinct). `cargo bench -p expressway-benches --bench runtime`.

/// The allocator the `expressway` binary ships with.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use expressway_connectors::dedup::MemoryDedup;
use expressway_connectors::stdio::NullSink;
use expressway_engine::WorkflowType;
use expressway_engine::jsonpath::JsonPath;
use expressway_runtime::testing::Replay;
use expressway_runtime::{DedupStore, KeySpec, PipelineSpec, Stats};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const RECORDS: u64 = 50_000;

fn pipeline(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("machines");
    let mut group = c.benchmark_group("runtime");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    for name in ["pass-chain", "iot-fanout"] {
        let def = std::fs::read_to_string(dir.join(format!("{name}.asl.json"))).expect("machine");
        let input = std::fs::read(dir.join(format!("{name}.input.json"))).expect("input");
        let input: Vec<u8> = input.into_iter().filter(|b| *b != b'\n').collect();
        let program = Arc::new(expressway_engine::compile_text(&def, WorkflowType::Express).expect("valid"));
        for shards in [1, 2] {
            group.bench_function(format!("{name}/{shards}-shards"), |b| {
                b.iter(|| {
                    let spec = PipelineSpec {
                        key: KeySpec::Path(JsonPath::parse("$.seq").expect("path")),
                        shards,
                        max_in_flight_per_shard: 4096,
                        drain_timeout: Duration::from_secs(10),
                        ..PipelineSpec::new(name, program.clone())
                    };
                    // A distinct `"seq"` key per record, so the dedup store sees every key.
                    let input = input.clone();
                    let source = Box::new(Replay::new(RECORDS, move |seq| {
                        let mut payload = format!("{{\"seq\":{seq},").into_bytes();
                        payload.extend_from_slice(&input[1..]);
                        payload
                    }));
                    let stats = Arc::new(Stats::default());
                    expressway_runtime::run(
                        spec,
                        source,
                        Box::new(NullSink),
                        Box::new(NullSink),
                        Arc::new(MemoryDedup::new(Duration::from_secs(600), 1_000_000)) as Arc<dyn DedupStore>,
                        stats.clone(),
                        Arc::new(AtomicBool::new(false)),
                    )
                    .expect("run");
                    assert_eq!(Stats::get(&stats.succeeded), RECORDS);
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
