//! Criterion benchmarks of the reference machines in `machines/`: each
//! iteration starts from the input bytes and ends with serialised output
//! bytes, as the runtime does. `cargo bench -p expressway-benches`.

/// The allocator the `expressway` binary ships with.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::{ExecutionInfo, WorkflowType};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

fn load(name: &str) -> (expressway_engine::Program, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("machines");
    let def = std::fs::read_to_string(dir.join(format!("{name}.asl.json"))).expect("machine file");
    let input = std::fs::read(dir.join(format!("{name}.input.json"))).expect("input file");
    let program = expressway_engine::compile_text(&def, WorkflowType::Express).expect("valid machine");
    (program, input)
}

fn machines(c: &mut Criterion) {
    let info = Arc::new(ExecutionInfo::default());
    let opts = RunOptions::default();
    let mut group = c.benchmark_group("execute");
    group.throughput(Throughput::Elements(1));
    for name in ["pass-chain", "iot-fanout"] {
        let (program, input) = load(name);
        let mut out = Vec::with_capacity(4096);
        group.bench_function(name, |b| {
            b.iter(|| {
                let value = expressway_engine::value::from_slice(black_box(&input)).expect("json");
                let r = expressway_engine::execute(&program, info.clone(), value, &mut Offline, &opts);
                out.clear();
                if let Some(o) = &r.output {
                    o.write_json(&mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();

    let (_, _) = load("iot-fanout");
    let def = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("machines/iot-fanout.asl.json"))
        .expect("file");
    c.bench_function("compile/iot-fanout", |b| {
        b.iter(|| expressway_engine::compile_text(black_box(&def), WorkflowType::Express).expect("valid"))
    });
}

criterion_group!(benches, machines);
criterion_main!(benches);
