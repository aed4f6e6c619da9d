//! Wait states: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath.

use super::{Code, Validator, ptr};
use crate::asl::WaitFor;
use serde_json::{Map, Value};

impl Validator {
    /// A Wait state's body; JSONata states take `Seconds` or `Timestamp` only.
    pub(super) fn wait(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> Option<WaitFor> {
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if given.len() != 1 {
            self.err(
                Code::ExclusiveFields,
                at,
                "a Wait state needs exactly one of 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'",
            );
            return None;
        }
        let key = given[0];
        let v = &obj[key];
        let p = ptr(at, key);
        if jsonata {
            return self.jwait(v, &p, key);
        }
        match key {
            "Seconds" => self.positive_int(v, &p, key, 0).map(WaitFor::Seconds),
            "SecondsPath" => self.reference_path(v, &p, key).map(WaitFor::SecondsPath),
            "Timestamp" => match v.as_str().and_then(crate::time::parse_timestamp) {
                Some(t) => Some(WaitFor::Timestamp(t)),
                None => {
                    self.err(Code::BadValue, p, "'Timestamp' must be an ISO-8601 extended offset date-time string");
                    None
                }
            },
            _ => self.reference_path(v, &p, key).map(WaitFor::TimestampPath),
        }
    }
}
