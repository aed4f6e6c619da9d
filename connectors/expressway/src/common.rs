//! What the subcommands share: reading files, the workflow type, and the
//! JSON an execution's result or an invalid definition is printed as.

use crate::cli::TypeArg;
use expressway_config::ExecutionContext;
use expressway_config::files::{MAX_DEFINITION_FILE_BYTES, MAX_SIDE_FILE_BYTES, read_text_at_most};
use expressway_engine::{ExecutionResult, Status, WorkflowType};
use expressway_runtime::input::{self, Rejected};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::Path;

/// A definition's text from `path` (`-`: standard input), read at most to
/// the size no definition AWS takes can exceed.
pub fn read_definition(path: &Path) -> Result<String, String> {
    read_text_at_most(path, MAX_DEFINITION_FILE_BYTES).map_err(|e| format!("reading {}: {e}", shown(path)))
}

/// A context, a mock file or another file read beside a definition, bounded.
pub fn read_text(path: &Path) -> Result<String, String> {
    read_text_at_most(path, MAX_SIDE_FILE_BYTES).map_err(|e| format!("reading {}: {e}", shown(path)))
}

fn shown(path: &Path) -> std::borrow::Cow<'_, str> {
    if path.as_os_str() == "-" { "standard input".into() } else { path.to_string_lossy() }
}

/// An execution input read from `path` (`-`: standard input) as `run` reads
/// a record: at most `max` bytes, the same JSON reader, the same errors
/// (`expressway_runtime::input`). A larger input is never read whole.
pub fn read_input(path: &Path, max: usize) -> Result<Result<expressway_engine::value::Value, Rejected>, String> {
    let named = |e: std::io::Error| {
        if path.as_os_str() == "-" {
            format!("reading standard input: {e}")
        } else {
            format!("reading {}: {e}", path.display())
        }
    };
    let mut bytes = Vec::new();
    let size = if path.as_os_str() == "-" {
        let mut stdin = std::io::stdin().lock();
        (&mut stdin).take(max as u64 + 1).read_to_end(&mut bytes).map_err(named)?;
        // Count the rest without keeping it.
        bytes.len() as u64 + std::io::copy(&mut stdin, &mut std::io::sink()).map_err(named)?
    } else {
        let mut file = std::fs::File::open(path).map_err(named)?;
        (&mut file).take(max as u64 + 1).read_to_end(&mut bytes).map_err(named)?;
        let meta = file.metadata().map_err(named)?;
        if meta.is_file() {
            meta.len().max(bytes.len() as u64)
        } else {
            // A pipe or a device has no length: count the rest as it comes.
            bytes.len() as u64 + std::io::copy(&mut file, &mut std::io::sink()).map_err(named)?
        }
    };
    if size > max as u64 {
        return Ok(Err(input::too_large(size, max)));
    }
    Ok(input::parse(&bytes, max))
}

pub fn read_json(path: &Path) -> Result<Value, String> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

pub fn workflow_of(arg: Option<TypeArg>, ctx: &ExecutionContext) -> Result<WorkflowType, String> {
    Ok(match arg {
        Some(TypeArg::Express) => WorkflowType::Express,
        Some(TypeArg::Standard) => WorkflowType::Standard,
        None => ctx.workflow_type().map_err(|e| e.to_string())?.unwrap_or(WorkflowType::Express),
    })
}

pub fn invalid_definition_json(diags: &[expressway_engine::Diagnostic]) -> Value {
    let cause = diags
        .iter()
        .map(|d| format!("{} at {}: {}", d.code.as_str(), d.pointer, d.message))
        .collect::<Vec<_>>()
        .join("; ");
    json!({"status": "INVALID_DEFINITION", "error": "States.InvalidDefinition", "cause": cause, "diagnostics": diags})
}

pub fn result_json(r: &ExecutionResult) -> Value {
    let mut m = Map::new();
    let status = match r.status {
        Status::Succeeded => "SUCCEEDED",
        Status::Failed => "FAILED",
        Status::TimedOut => "TIMED_OUT",
    };
    m.insert("status".into(), json!(status));
    if let Some(o) = &r.output {
        m.insert("output".into(), Value::from(o));
    }
    if let Some(e) = &r.error {
        m.insert("error".into(), json!(e));
    }
    if let Some(c) = &r.cause {
        m.insert("cause".into(), json!(c));
    }
    Value::Object(m)
}
