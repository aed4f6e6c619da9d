//! `Assign` on states, choice rules and catchers: variable names and the templates that set them.

use super::{Code, Validator, ptr};
use crate::asl::Template;
use serde_json::Value;

/// Names a workflow variable may not take.
const RESERVED_VARIABLES: &[&str] = &["states"];

impl Validator {
    /// `Assign`: an object whose keys name variables; values are templates
    /// (`"x.$": "$.path"`) evaluated against the state's result.
    pub(super) fn assign(&mut self, v: &Value, at: &str, jsonata: bool) -> Option<Template> {
        let Some(o) = v.as_object() else {
            self.err(Code::WrongType, at, "'Assign' must be an object");
            return None;
        };
        for k in o.keys() {
            let name = k.strip_suffix(".$").unwrap_or(k);
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.err(Code::BadValue, ptr(at, k), format!("'{name}' is not a valid variable name"));
            } else if RESERVED_VARIABLES.contains(&name) {
                self.err(Code::BadValue, ptr(at, k), format!("'{name}' is a reserved name and cannot be assigned"));
            }
        }
        Some(if jsonata { self.jtemplate(v, at, "Assign") } else { self.template(v, at) })
    }
}
