//! Errors raised inside the VM, and the texts AWS gives them.

use super::{Frame, Program};
use crate::bounds::{self, Exceeded};
use crate::errors::ErrorName;
use crate::jsonpath::{JsonPath, PathMiss};
use crate::value::{Object as Map, Value};

/// An error raised inside the VM, as an ASL value.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl Raised {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Raised {
        Raised { error: Some(error.into()), cause: Some(cause.into()) }
    }

    pub(super) fn name(&self) -> &str {
        self.error.as_deref().unwrap_or("")
    }

    /// The error output handed to a Catch (`{"Error", "Cause"}`).
    pub fn to_error_output(&self) -> Value {
        let mut m = Map::new();
        if let Some(e) = &self.error {
            m.insert("Error", Value::from(e.clone()));
        }
        if let Some(c) = &self.cause {
            m.insert("Cause", Value::from(c.clone()));
        }
        Value::object(m)
    }
}

/// What a runtime failure looks like to ASL: not catchable, not retriable.
pub(super) fn runtime(state: &str, entered: u64, detail: impl std::fmt::Display) -> Raised {
    Raised::new(
        ErrorName::Runtime.as_str(),
        format!("An error occurred while executing the state '{state}' (entered at the event id #{entered}). {detail}"),
    )
}

/// The error for a payload template field whose path selects nothing
/// (cold: kept out of the template loop).
#[cold]
pub(super) fn missing_field(p: &JsonPath, key: &str, data: &Value) -> (ErrorName, String) {
    (
        ErrorName::Runtime,
        format!("The JSONPath '{p}' specified for the field '{key}.$' could not be found in the input '{data}'"),
    )
}

pub(super) fn path_miss_detail(path: &JsonPath, miss: &PathMiss) -> String {
    if miss.rendered.matches('[').count() == path.segments.len() {
        format!("Invalid path '{path}' : No results for path: {}", miss.rendered)
    } else {
        format!("Invalid path '{path}' : Missing property in path {}", miss.rendered)
    }
}

/// The measure of a value the state `state` built, if it keeps the payload
/// bounds ([`crate::bounds`]); else the `States.DataLimitExceeded` it raises.
pub(super) fn check_built(state: &str, v: &Value) -> Result<bounds::Measure, (ErrorName, String)> {
    match bounds::check(v) {
        Ok(m) => Ok(m),
        Err(e) => Err((ErrorName::DataLimitExceeded, data_limit_cause(state, e))),
    }
}

/// What AWS names a task by in its history (`resourceType`) and in the
/// cause of a result over the payload limit: a service integration's type
/// (`lambda` for `arn:aws:states:::lambda:invoke`, `aws-sdk:s3` for
/// `…:::aws-sdk:s3:getObject`, `states` for `…:::states:startExecution.sync:2`),
/// any other resource (a function's or an activity's ARN) itself.
pub(super) fn resource_type(resource: &str) -> &str {
    let Some((_, integration)) = resource.split_once(":states:::") else { return resource };
    let end = match integration.strip_prefix("aws-sdk:") {
        Some(rest) => "aws-sdk:".len() + rest.find(':').unwrap_or(rest.len()),
        None => integration.find(':').unwrap_or(integration.len()),
    };
    &integration[..end]
}

/// AWS's cause for a result over the payload limit; ours for one nested
/// too deep, worded alike.
#[cold]
pub(super) fn data_limit_cause(state: &str, e: Exceeded) -> String {
    match e {
        Exceeded::Size => format!(
            "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."
        ),
        Exceeded::Depth => format!(
            "The state/task '{state}' returned a result nested deeper than the maximum of {} levels.",
            bounds::MAX_DEPTH
        ),
    }
}

/// A JSONata failure in a state: States.QueryEvaluationError.
pub(super) fn query_error(state: &str, entered: u64, detail: impl std::fmt::Display) -> Raised {
    Raised::new(
        ErrorName::QueryEvaluationError.as_str(),
        format!("An error occurred while executing the state '{state}' (entered at the event id #{entered}). {detail}"),
    )
}

impl Program {
    pub(super) fn template_error(&self, frame: &Frame, name: ErrorName, detail: String) -> Raised {
        match name {
            ErrorName::Runtime => runtime(self.state_name(frame), frame.entered_event, detail),
            ErrorName::QueryEvaluationError => query_error(self.state_name(frame), frame.entered_event, detail),
            other => Raised::new(other.as_str(), detail),
        }
    }
}
