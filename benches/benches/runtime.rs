//! The runtime end to end, in memory: a source that replays one input
//! record N times → the sharded executor → a null sink, with the memory
//! dedup store (every key distinct). `cargo bench -p expressway-benches --bench runtime`.

/// The allocator the `expressway` binary ships with.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use expressway_connectors::dedup::MemoryDedup;
use expressway_engine::WorkflowType;
use expressway_engine::jsonpath::JsonPath;
use expressway_engine::runtime::{
    self, DedupStore, KeySpec, PipelineSpec, Polled, Record, RecordId, Sink, Source, SourceError, Stats,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const RECORDS: u64 = 50_000;

/// Replays `payload` with a distinct `"seq"` key per record.
struct MemorySource {
    payload: Vec<u8>,
    next: u64,
}

impl Source for MemorySource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        if self.next >= RECORDS {
            return Ok(Polled::Finished);
        }
        let n = (max as u64).min(RECORDS - self.next).min(1024);
        let records = (0..n)
            .map(|i| {
                let id = self.next + i;
                let mut payload = format!("{{\"seq\":{id},").into_bytes();
                payload.extend_from_slice(&self.payload[1..]);
                Record { id, partition: (id % 64) as u32, payload, coordinates: String::new(), key: None }
            })
            .collect();
        self.next += n;
        Ok(Polled::Records(records))
    }
    fn complete(&mut self, _id: RecordId) {}
    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

struct NullSink;
impl Sink for NullSink {
    fn write(&mut self, _line: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

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
                        name: name.into(),
                        program: program.clone(),
                        state_machine_name: name.into(),
                        express: true,
                        key: KeySpec::Path(JsonPath::parse("$.seq").expect("path")),
                        shards,
                        max_in_flight_per_shard: 4096,
                        max_payload_bytes: 256 * 1024,
                        drain_timeout: Duration::from_secs(10),
                        commit_interval: Duration::from_secs(1),
                        log_level: runtime::ExecutionLogLevel::Off,
                        log_execution_data: false,
                        tasks: std::sync::Arc::new(expressway_engine::tasks::NoTaskService),
                    };
                    let source = Box::new(MemorySource { payload: input.clone(), next: 0 });
                    let stats = Arc::new(Stats::default());
                    runtime::run(
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
