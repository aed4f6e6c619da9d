//! Retry and Catch: retriers, catchers and the ErrorEquals lists they match on.

use super::{Code, Validator, ptr};
use crate::asl::{Catcher, Retrier};
use serde_json::{Map, Value};

impl Validator {
    /// `ErrorEquals`: a non-empty list of error names, `States.ALL` only alone.
    fn error_equals(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<String> {
        let p = ptr(at, "ErrorEquals");
        let Some(Value::Array(list)) = obj.get("ErrorEquals") else {
            if obj.contains_key("ErrorEquals") {
                self.err(Code::WrongType, p, "'ErrorEquals' must be a non-empty array of strings");
            } else {
                self.err(Code::MissingField, at, "missing required field 'ErrorEquals'");
            }
            return Vec::new();
        };
        if list.is_empty() {
            self.err(Code::BadValue, &p, "'ErrorEquals' must not be empty");
        }
        let mut out = Vec::new();
        for (i, e) in list.iter().enumerate() {
            match e.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.err(Code::WrongType, format!("{p}/{i}"), "an error name must be a string"),
            }
        }
        if out.iter().any(|e| e == "States.ALL") && out.len() > 1 {
            self.err(Code::AllNotLast, p, "'States.ALL' must appear alone in 'ErrorEquals'");
        }
        out
    }

    /// `Retry`; absent fields take the ASL defaults (IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0).
    pub(super) fn retriers(&mut self, v: &Value, at: &str) -> Vec<Retrier> {
        let Some(list) = v.as_array() else {
            self.err(Code::WrongType, at, "'Retry' must be an array");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let rp = format!("{at}/{i}");
            let Some(obj) = r.as_object() else {
                self.err(Code::NotAnObject, rp, "a retrier must be an object");
                continue;
            };
            for k in obj.keys() {
                if ![
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ]
                .contains(&k.as_str())
                {
                    self.err(Code::UnknownField, ptr(&rp, k), format!("field '{k}' is not allowed in a retrier"));
                }
            }
            let error_equals = self.error_equals(obj, &rp);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != list.len() {
                self.err(Code::AllNotLast, ptr(&rp, "ErrorEquals"), "a retrier with 'States.ALL' must be the last one");
            }
            let interval_seconds = match obj.get("IntervalSeconds") {
                Some(x) => self.positive_int(x, &ptr(&rp, "IntervalSeconds"), "IntervalSeconds", 1).unwrap_or(1),
                None => 1,
            };
            let max_attempts = match obj.get("MaxAttempts") {
                Some(x) => self.positive_int(x, &ptr(&rp, "MaxAttempts"), "MaxAttempts", 0).unwrap_or(3) as u32,
                None => 3,
            };
            let backoff_rate = match obj.get("BackoffRate") {
                Some(x) => match x.as_f64() {
                    Some(b) if b >= 1.0 => b,
                    Some(_) => {
                        self.err(Code::OutOfRange, ptr(&rp, "BackoffRate"), "'BackoffRate' must be at least 1.0");
                        2.0
                    }
                    None => {
                        self.err(Code::WrongType, ptr(&rp, "BackoffRate"), "'BackoffRate' must be a number");
                        2.0
                    }
                },
                None => 2.0,
            };
            let max_delay_seconds = match obj.get("MaxDelaySeconds") {
                // AWS: "greater than 0 and less than 31622401" (a year and a day).
                Some(x) => self.int_in(x, &ptr(&rp, "MaxDelaySeconds"), "MaxDelaySeconds", 1, 31_622_400),
                None => None,
            };
            let full_jitter = match obj.get("JitterStrategy") {
                None => false,
                Some(Value::String(s)) if s == "FULL" => true,
                Some(Value::String(s)) if s == "NONE" => false,
                Some(_) => {
                    self.err(Code::BadValue, ptr(&rp, "JitterStrategy"), "'JitterStrategy' must be 'FULL' or 'NONE'");
                    false
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                full_jitter,
            });
        }
        out
    }

    /// `Catch`; a JSONata catcher takes `Output` instead of `ResultPath`.
    pub(super) fn catchers(&mut self, v: &Value, at: &str, jsonata: bool) -> Vec<Catcher> {
        let Some(list) = v.as_array() else {
            self.err(Code::WrongType, at, "'Catch' must be an array");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let cp = format!("{at}/{i}");
            let Some(obj) = c.as_object() else {
                self.err(Code::NotAnObject, cp, "a catcher must be an object");
                continue;
            };
            for k in obj.keys() {
                let allowed = match k.as_str() {
                    "ErrorEquals" | "Next" | "Comment" | "Assign" => true,
                    "ResultPath" => !jsonata,
                    "Output" => jsonata,
                    _ => false,
                };
                if !allowed {
                    self.err(Code::UnknownField, ptr(&cp, k), format!("field '{k}' is not allowed in a catcher"));
                }
            }
            let error_equals = self.error_equals(obj, &cp);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != list.len() {
                self.err(Code::AllNotLast, ptr(&cp, "ErrorEquals"), "a catcher with 'States.ALL' must be the last one");
            }
            let next = self.string_field(obj, &cp, "Next", true).unwrap_or_default();
            let result_path = self.result_path(obj.get("ResultPath").filter(|_| !jsonata), &ptr(&cp, "ResultPath"));
            let assign = obj.get("Assign").and_then(|a| self.assign(a, &ptr(&cp, "Assign"), jsonata));
            let output =
                obj.get("Output").filter(|_| jsonata).map(|o| self.jtemplate(o, &ptr(&cp, "Output"), "Output"));
            out.push(Catcher { error_equals, next, result_path, assign, output });
        }
        out
    }
}
