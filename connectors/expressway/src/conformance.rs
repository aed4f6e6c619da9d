//! `expressway conformance`: the batch mode of the shared conformance runner
//! (`../shared/conformance/run.py --judge`), one result line per case.

use crate::common::{invalid_definition_json, result_json};
use expressway_config::ExecutionContext;
use expressway_connectors::memory_s3::MemoryS3;
use expressway_connectors::mock::RecordedMocks;
use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::{Effects, ExecutionInfo, WorkflowType};
use expressway_runtime::clock::wall_ms;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Batch mode for the shared conformance runner: one result line per case.
pub fn cmd_conformance(cases: &Path, out: &Path) -> Result<ExitCode, String> {
    let file = std::fs::File::open(cases).map_err(|e| format!("opening {}: {e}", cases.display()))?;
    let mut writer =
        std::io::BufWriter::new(std::fs::File::create(out).map_err(|e| format!("creating {}: {e}", out.display()))?);
    let mut n = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(&line).map_err(|e| format!("bad case line: {e}"))?;
        let id = case.get("id").cloned().unwrap_or(Value::Null);
        let mut result = std::panic::catch_unwind(|| run_case(&case)).unwrap_or_else(
            |_| json!({"status": "ERROR", "error": "Panic", "cause": "the engine panicked on this case"}),
        );
        if let Value::Object(m) = &mut result {
            m.insert("id".into(), id);
            m.remove("diagnostics");
        }
        writeln!(writer, "{result}").map_err(|e| e.to_string())?;
        n += 1;
    }
    writer.flush().map_err(|e| e.to_string())?;
    eprintln!("wrote {n} results to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn run_case(case: &Value) -> Value {
    let ctx: ExecutionContext = case
        .get("context")
        .filter(|c| c.is_object())
        .and_then(|c| serde_json::from_value::<ExecutionContext>(c.clone()).ok())
        .unwrap_or_default();
    let validation = case.get("kind").and_then(Value::as_str) == Some("validation");
    // Validation cases without a context were judged for any workflow type.
    let default_type = if validation { WorkflowType::Standard } else { WorkflowType::Express };
    let workflow = ctx.workflow_type().ok().flatten().unwrap_or(default_type);
    let def = case.get("definition").cloned().unwrap_or(Value::Null);
    let compiled = match case.get("definition_text").and_then(Value::as_str) {
        Some(text) => expressway_engine::compile_text(text, workflow),
        None => expressway_engine::compile(&def, workflow),
    };
    let program = match compiled {
        Ok(p) => p,
        Err(diags) => return invalid_definition_json(&diags),
    };
    if validation {
        return json!({"status": "VALID"});
    }
    let effects: Box<dyn Effects> = match case.get("mocks").filter(|m| m.is_array()) {
        Some(m) => match RecordedMocks::from_json(m) {
            Ok(r) => Box::new(r),
            Err(e) => return json!({"status": "ERROR", "error": "BadMocks", "cause": e.to_string()}),
        },
        None => Box::new(Offline),
    };
    // The objects the case's test wrote to S3 before the execution.
    let mut effects = MemoryS3::new(effects);
    for o in case.get("s3_objects").and_then(Value::as_array).into_iter().flatten() {
        let field = |name: &str| o.get(name).and_then(Value::as_str).unwrap_or("");
        effects.put(field("bucket"), field("key"), field("body"));
    }
    let info: ExecutionInfo = ctx.execution_info(wall_ms(), "conformance");
    let opts = RunOptions::for_workflow(workflow);
    let input = case.get("input").cloned().unwrap_or(Value::Null);
    result_json(&expressway_engine::execute(
        &program,
        Arc::new(info),
        expressway_engine::Value::from(input),
        &mut effects,
        &opts,
    ))
}
