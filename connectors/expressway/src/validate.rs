//! `expressway validate FILE`: every diagnostic of a definition, or its
//! compiled program.

use crate::cli::TypeArg;
use crate::common::{read_definition, workflow_of};
use expressway_config::ExecutionContext;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub fn cmd_validate(
    definition: &Path,
    json_out: bool,
    disassemble: bool,
    workflow_type: Option<TypeArg>,
) -> Result<ExitCode, String> {
    let workflow = workflow_of(workflow_type, &ExecutionContext::default())?;
    match expressway_engine::compile_text(&read_definition(definition)?, workflow) {
        Ok(program) => {
            if json_out {
                println!("{}", json!({"status": "VALID"}));
            } else {
                println!(
                    "{}: valid ({} states, {} instructions)",
                    definition.display(),
                    program.states.len(),
                    program.code.len()
                );
            }
            if disassemble {
                print!("{}", program.disassemble());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            if json_out {
                println!("{}", json!({"status": "INVALID_DEFINITION", "diagnostics": diags}));
            } else {
                for d in &diags {
                    println!("{d}\n");
                }
                println!("{}: {} problem(s)", definition.display(), diags.len());
            }
            Ok(ExitCode::from(2))
        }
    }
}
