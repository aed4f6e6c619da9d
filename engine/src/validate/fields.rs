//! Which fields each state type accepts, and which belong to JSONPath or to JSONata states only.

use super::{Code, Validator, ptr};
use serde_json::{Map, Value};

// Field groups that several state types share.
const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];
const RESULT: &[&str] = &["Parameters", "ResultSelector", "ResultPath"];
const ERRORS: &[&str] = &["Retry", "Catch"];
/// Fields only a JSONata state may use, and only some state types (see [`jsonata_allows`]).
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items", "Condition"];
/// Fields a JSONata state may not use: `Arguments`/`Output` replace them.
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "ItemsPath",
    "Result",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
    "ErrorPath",
    "CausePath",
];

/// May a JSONata state of type `ty` carry the JSONata-only field `k`?
fn jsonata_allows(ty: &str, k: &str) -> bool {
    match k {
        "Arguments" => matches!(ty, "Task" | "Parallel"),
        "Output" => ty != "Fail",
        "Items" => ty == "Map",
        _ => false,
    }
}
/// State types that may carry `Assign`.
const ASSIGN_STATES: &[&str] = &["Pass", "Task", "Choice", "Wait", "Parallel", "Map"];

/// The fields a `ty` state may carry in a JSONPath machine; `None` for an unknown type.
pub(super) fn allowed_fields(ty: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = COMMON.to_vec();
    let extra: &[&[&str]] = match ty {
        "Pass" => &[IO, FLOW, &["Parameters", "ResultPath", "Result"]],
        "Task" => &[
            IO,
            FLOW,
            RESULT,
            ERRORS,
            &[
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ],
        ],
        "Choice" => &[IO, &["Choices", "Default"]],
        "Wait" => &[IO, FLOW, &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]],
        "Succeed" => &[IO],
        "Fail" => &[&["Error", "ErrorPath", "Cause", "CausePath"]],
        "Parallel" => &[IO, FLOW, RESULT, ERRORS, &["Branches"]],
        "Map" => &[
            IO,
            FLOW,
            RESULT,
            ERRORS,
            &[
                "ItemProcessor",
                "Iterator",
                "ItemsPath",
                "ItemSelector",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "Label",
            ],
        ],
        _ => return None,
    };
    for group in extra {
        v.extend_from_slice(group);
    }
    Some(v)
}

impl Validator {
    /// Reports every field of a `ty` state that it may not carry, given its
    /// `allowed` list and whether it is a JSONata state.
    pub(super) fn check_state_fields(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        ty: &str,
        allowed: &[&str],
        jsonata: bool,
    ) {
        for k in obj.keys() {
            if k == "Assign" {
                if !ASSIGN_STATES.contains(&ty) {
                    self.err(Code::UnknownField, ptr(at, k), format!("field 'Assign' is not allowed in a {ty} state"));
                }
            } else if JSONATA_ONLY.contains(&k.as_str()) {
                if !jsonata {
                    self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is only allowed in JSONata states"));
                } else if !jsonata_allows(ty, k) {
                    self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is not allowed in a {ty} state"));
                }
            } else if jsonata && JSONPATH_ONLY.contains(&k.as_str()) {
                self.err(
                    Code::UnknownField,
                    ptr(at, k),
                    format!(
                        "field '{k}' is not allowed in a JSONata state (use Arguments, Output or a JSONata expression)"
                    ),
                );
            } else if !allowed.contains(&k.as_str()) {
                self.err(Code::UnknownField, ptr(at, k), format!("field '{k}' is not allowed in a {ty} state"));
            }
        }
    }
}
