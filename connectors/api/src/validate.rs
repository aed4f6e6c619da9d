//! ValidateStateMachineDefinition: our validator's diagnostics in AWS's
//! result shape.

use crate::registry::{MAX_DEFINITION_CHARS, aws_code, pointer_or_root};
use crate::wire::{ApiError, Fields, Reply};
use expressway_engine::WorkflowType;
use serde_json::{Value, json};

pub fn validate_definition(f: Fields) -> Reply {
    let definition = f.str("definition")?;
    if definition.chars().count() > MAX_DEFINITION_CHARS {
        return Err(ApiError::validation(
            "definition",
            "'<sensitive>'",
            &format!("Member must have length less than or equal to {MAX_DEFINITION_CHARS}"),
        ));
    }
    let workflow = match f.opt_str("type")? {
        None | Some("STANDARD") => WorkflowType::Standard,
        Some("EXPRESS") => WorkflowType::Express,
        Some(other) => {
            return Err(ApiError::validation(
                "type",
                &format!("'{other}'"),
                "Member must satisfy enum value set: [STANDARD, EXPRESS]",
            ));
        }
    };
    // Every diagnostic is an error; WARNING-only requests see none.
    let errors_wanted = !matches!(f.opt_str("severity")?, Some("WARNING"));
    let max = f.max_results(100)?;
    let diagnostics: Vec<Value> = match expressway_engine::compile_text(definition, workflow) {
        Ok(_) => Vec::new(),
        Err(diags) => diags
            .iter()
            .filter(|_| errors_wanted)
            .map(|d| {
                json!({
                    "severity": "ERROR",
                    "code": aws_code(d),
                    "message": format!("{} ({})", d.message, d.code.as_str()),
                    "location": pointer_or_root(&d.pointer),
                })
            })
            .collect(),
    };
    let failed =
        !diagnostics.is_empty() || (!errors_wanted && expressway_engine::compile_text(definition, workflow).is_err());
    let truncated = diagnostics.len() > max;
    let shown: Vec<Value> = diagnostics.into_iter().take(max).collect();
    Ok(json!({"result": if failed { "FAIL" } else { "OK" }, "diagnostics": shown, "truncated": truncated}))
}
