//! `expressway bench`: one machine in a loop on one thread, executions per
//! second and allocations per execution.

use crate::alloc::allocations_on_this_thread;
use crate::common::{invalid_definition_json, read_json, read_text};
use expressway_config::ExecutionContext;
use expressway_connectors::mock::RecordedMocks;
use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::{Effects, Status, WorkflowType};
use expressway_runtime::clock::wall_ms;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn cmd_bench(definition: &Path, input: &Path, mocks: Option<&Path>, seconds: f64) -> Result<ExitCode, String> {
    let def = read_json(definition)?;
    let program = expressway_engine::compile(&def, WorkflowType::Express)
        .map_err(|d| format!("invalid definition: {}", invalid_definition_json(&d)))?;
    let input_bytes = read_text(input)?.into_bytes();
    let mocks = match mocks {
        Some(p) => Some(RecordedMocks::from_json(&read_json(p)?).map_err(|e| e.to_string())?),
        None => None,
    };
    let info = Arc::new(ExecutionContext::default().execution_info(wall_ms(), "bench"));
    let opts = RunOptions::default();
    let mut out = Vec::with_capacity(4096);
    let run_once = |out: &mut Vec<u8>| -> Result<Status, String> {
        let (value, bound) = expressway_engine::value::from_slice_bounded(&input_bytes)
            .map_err(|e| format!("input is not valid JSON: {e}"))?;
        let input = expressway_engine::Input { value, bound: Some(bound) };
        let mut effects: Box<dyn Effects> = match &mocks {
            Some(m) => Box::new(m.clone()),
            None => Box::new(Offline),
        };
        let r = expressway_engine::execute(&program, info.clone(), input, effects.as_mut(), &opts);
        out.clear();
        match &r.output {
            Some(o) => o.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
        Ok(r.status)
    };
    let first = run_once(&mut out)?;
    eprintln!("status: {first:?}, output bytes: {}", out.len());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.1));
    let allocs_before = allocations_on_this_thread();
    let started = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        for _ in 0..256 {
            run_once(&mut out)?;
        }
        n += 256;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allocs = allocations_on_this_thread() - allocs_before;
    println!("executions: {n}");
    println!("allocations/execution: {:.1}", allocs as f64 / n as f64);
    println!("executions/s: {:.0}", n as f64 / elapsed);
    Ok(ExitCode::SUCCESS)
}
