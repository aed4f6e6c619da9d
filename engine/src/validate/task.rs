//! Task states: the Resource, Credentials, integration patterns the workflow type allows, timeout and heartbeat.

use super::{Code, Validator, WorkflowType, ptr};
use crate::asl::{Seconds, Task};
use serde_json::{Map, Value};

impl Validator {
    /// A Task state's body.
    pub(super) fn task(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> Task {
        let resource = self.string_field(obj, at, "Resource", true).unwrap_or_default();
        if !resource.is_empty() && !is_uri_or_substitution(&resource) {
            self.err(
                Code::BadValue,
                ptr(at, "Resource"),
                format!("'Resource' must be a URI (an ARN), not '{resource}'"),
            );
        }
        if let Some(problem) = lambda_arn_problem(&resource) {
            self.err(Code::BadValue, ptr(at, "Resource"), problem);
        }
        match obj.get("Credentials") {
            None => {}
            Some(c @ Value::Object(_)) => {
                self.template(c, &ptr(at, "Credentials"));
            }
            Some(_) => self.err(Code::WrongType, ptr(at, "Credentials"), "'Credentials' must be an object"),
        }
        if self.workflow == WorkflowType::Express
            && (resource.ends_with(".sync") || resource.contains(".sync:") || resource.ends_with(".waitForTaskToken"))
        {
            self.err(
                Code::Unsupported,
                ptr(at, "Resource"),
                format!("Express state machines do not support the .sync or .waitForTaskToken integration pattern: '{resource}'"),
            );
        }
        let (timeout, heartbeat) = if jsonata {
            (self.jseconds(obj, at, "TimeoutSeconds"), self.jseconds(obj, at, "HeartbeatSeconds"))
        } else {
            (
                self.seconds_pair(obj, at, "TimeoutSeconds", "TimeoutSecondsPath"),
                self.seconds_pair(obj, at, "HeartbeatSeconds", "HeartbeatSecondsPath"),
            )
        };
        if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.err(
                Code::OutOfRange,
                ptr(at, "HeartbeatSeconds"),
                "'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'",
            );
        }
        Task { resource, timeout, heartbeat }
    }

    /// `TimeoutSeconds`/`HeartbeatSeconds` (at least 1) or its `*Path`, not both.
    fn seconds_pair(&mut self, obj: &Map<String, Value>, at: &str, fixed: &str, path: &str) -> Option<Seconds> {
        match (obj.get(fixed), obj.get(path)) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, format!("only one of '{fixed}' and '{path}' may be given"));
                None
            }
            (Some(v), None) => self.positive_int(v, &ptr(at, fixed), fixed, 1).map(Seconds::Fixed),
            (None, Some(v)) => self.reference_path(v, &ptr(at, path), path).map(Seconds::Path),
            (None, None) => None,
        }
    }
}

/// `scheme:rest` (an ARN is one), or a whole `${Name}` template placeholder
/// that deployment tools substitute before AWS sees the definition.
fn is_uri_or_substitution(s: &str) -> bool {
    if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        return !inner.is_empty() && !inner.contains(['{', '}']);
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        }
        None => false,
    }
}

/// A Lambda function ARN's optional qualifier must be a version or alias.
fn lambda_arn_problem(resource: &str) -> Option<String> {
    let rest = resource.strip_prefix("arn:aws:lambda:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    // region, account, "function", name[, qualifier]
    if parts.len() < 4 || parts[2] != "function" {
        return None;
    }
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'));
    if !valid(parts[3]) || parts.len() > 5 || (parts.len() == 5 && !valid(parts[4])) {
        return Some(format!("'{resource}' is not a valid Lambda function ARN (name and optional version or alias)"));
    }
    None
}
