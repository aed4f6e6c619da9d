//! The Expressway engine: Amazon States Language in, executions out.
//!
//! It parses and validates ASL ([`validate`]) into a typed model ([`asl`]),
//! compiles it into a bytecode [`program::Program`], and runs executions on a
//! pure, synchronous VM ([`vm`]) that returns effects instead of doing I/O.
//! It knows nothing of threads, clocks, Kafka, SQS, Lambda or HTTP: tasks and
//! time are performed by whoever implements [`driver::Effects`], or by a
//! driver of its own (the `expressway-runtime` crate's shards).

pub mod asl;
pub mod bounds;
pub mod driver;
pub mod errors;
pub mod fusion;
pub mod intrinsics;
pub mod items;
pub mod json;
pub mod jsonata;
pub mod jsonpath;
pub mod key;
pub mod program;
pub mod time;
pub mod validate;
pub mod value;
pub mod vm;

pub use driver::{Effects, ExecutionResult, Input, RunOptions, Status, execute};
pub use program::Program;
pub use validate::{Diagnostic, WorkflowType};
pub use value::Value;
pub use vm::{ExecutionInfo, TaskCall, TaskOutcome};

/// AWS's limit on a state machine definition: 1,048,576 characters (the
/// API's `definition` member).
pub const MAX_DEFINITION_CHARS: usize = 1 << 20;

/// Validate and compile definition text, reporting duplicate keys and JSON
/// syntax errors as diagnostics too; a text past AWS's length limit is
/// refused unread.
pub fn compile_text(text: &str, workflow: WorkflowType) -> Result<Program, Vec<Diagnostic>> {
    read_definition(text, |value| compile(value, workflow))
}

/// `read` of definition text's JSON ([`definition_json`]): its result, or
/// every problem — the text's (keys given twice) and `read`'s together.
pub fn read_definition<T>(
    text: &str,
    read: impl FnOnce(&serde_json::Value) -> Result<T, Vec<Diagnostic>>,
) -> Result<T, Vec<Diagnostic>> {
    let (value, mut diags) = definition_json(text)?;
    match read(&value) {
        Ok(t) if diags.is_empty() => Ok(t),
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            Err(diags)
        }
    }
}

/// Definition text as JSON, with a diagnostic for each key given twice;
/// an error when it is past AWS's length limit (refused unread: a
/// definition file can be any size) or is not JSON. What every reader of
/// definition text (compiling, drawing) starts from.
pub fn definition_json(text: &str) -> Result<(serde_json::Value, Vec<Diagnostic>), Vec<Diagnostic>> {
    use validate::{Code, Diagnostic};
    if text.len() > MAX_DEFINITION_CHARS && text.chars().count() > MAX_DEFINITION_CHARS {
        return Err(vec![Diagnostic {
            code: Code::BadValue,
            pointer: String::new(),
            message: format!("the definition is longer than AWS's limit of {MAX_DEFINITION_CHARS} characters"),
        }]);
    }
    let (value, dups) = json::parse_strict(text).map_err(|e| {
        vec![Diagnostic {
            code: Code::BadValue,
            pointer: String::new(),
            message: format!("the definition is not valid JSON: {e}"),
        }]
    })?;
    let diags = dups
        .into_iter()
        .map(|p| Diagnostic {
            code: Code::DuplicateKey,
            message: format!("key '{}' appears more than once", p.rsplit('/').next().unwrap_or("")),
            pointer: p,
        })
        .collect();
    Ok((value, diags))
}

/// Validate and compile a definition in one go.
pub fn compile(definition: &serde_json::Value, workflow: WorkflowType) -> Result<Program, Vec<Diagnostic>> {
    let machine = validate::validate(definition, workflow)?;
    Ok(program::compile(&machine))
}
