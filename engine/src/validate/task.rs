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
        if let Some(c) = obj.get("Credentials") {
            self.credentials(c, &ptr(at, "Credentials"), jsonata);
        }
        if self.workflow == WorkflowType::Express
            && let Some(refused) = express_refusal(&resource)
        {
            self.err(Code::Unsupported, ptr(at, "Resource"), refused);
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

    /// `Credentials`: an object. In a JSONPath state it is a payload template
    /// (ASL spec, Task state); AWS refuses a JSONata state's Credentials without
    /// `RoleArn` ("The field 'RoleArn' is required but was missing"), the one
    /// member of its TaskCredentials type.
    fn credentials(&mut self, c: &Value, at: &str, jsonata: bool) {
        let Some(cobj) = c.as_object() else {
            self.err(Code::WrongType, at, "'Credentials' must be an object");
            return;
        };
        if !jsonata {
            self.template(c, at);
            return;
        }
        if !cobj.contains_key("RoleArn") {
            self.err(Code::MissingField, at, "The field 'RoleArn' is required but was missing");
        }
        self.jtemplate(c, at, "Credentials");
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

/// Why an Express machine cannot run this resource, in AWS's words: Express
/// workflows support neither activities nor the `.sync` and
/// `.waitForTaskToken` integration patterns (Developer Guide, "Choosing
/// workflow type": Standard only).
fn express_refusal(resource: &str) -> Option<String> {
    let pattern = if resource.ends_with(".waitForTaskToken") {
        ".waitForTaskToken"
    } else if resource.ends_with(".sync") || resource.contains(".sync:") {
        ".sync"
    } else if is_activity_arn(resource) {
        return Some("Express state machine does not support Activity ARNs".into());
    } else {
        return None;
    };
    Some(format!("Express state machine does not support '{pattern}' service integration"))
}

/// `arn:<partition>:states:<region>:<account>:activity:<name>`.
fn is_activity_arn(resource: &str) -> bool {
    let parts: Vec<&str> = resource.splitn(7, ':').collect();
    parts.len() == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity"
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
