//! `Assign` on states, choice rules and catchers: variable names and the templates that set them.

use super::{Code, Validator, ptr};
use crate::asl::Template;
use serde_json::Value;

/// Names a workflow variable may not take.
const RESERVED_VARIABLES: &[&str] = &["states"];

/// AWS's limit on a variable name, in characters.
const MAX_VARIABLE_NAME: usize = 80;

/// AWS: "Variable names follow the rules for Unicode Identifiers (Unicode
/// Standard Annex #31): the first character must be a Unicode ID_Start
/// character, subsequent characters must be Unicode ID_Continue characters.
/// Maximum length: 80." A leading `_` is taken too (ASL's own examples use
/// it, and refusing a name AWS takes would stop a machine it runs).
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || unicode_ident::is_xid_start(c))
        && chars.all(unicode_ident::is_xid_continue)
        && name.chars().count() <= MAX_VARIABLE_NAME
}

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
            if !is_variable_name(name) {
                self.err(Code::BadValue, ptr(at, k), format!("'{name}' is not a valid variable name"));
            } else if RESERVED_VARIABLES.contains(&name) {
                self.err(Code::BadValue, ptr(at, k), format!("'{name}' is a reserved name and cannot be assigned"));
            }
        }
        Some(if jsonata { self.jtemplate(v, at, "Assign") } else { self.template(v, at) })
    }
}
