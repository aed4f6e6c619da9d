//! A value picked out of a result by a JSONPath: a Kafka message key, an SQS
//! FIFO `MessageGroupId`. Sinks see results as bytes, so the result is parsed
//! again — only for sinks configured with a path.

use expressway_engine::Value;
use expressway_engine::jsonpath::JsonPath;

#[derive(Debug)]
pub struct ResultKey(JsonPath);

impl ResultKey {
    /// `what` names the config field in the error (`key`, `message_group_id`).
    pub fn parse(path: &str, what: &str) -> Result<ResultKey, String> {
        match JsonPath::parse(path) {
            Ok(p) if p.is_definite() => Ok(ResultKey(p)),
            Ok(_) => Err(format!("{what} '{path}' must select one value")),
            Err(e) => Err(format!("{what} '{path}': {e}")),
        }
    }

    /// The selected string, or a number or boolean as its JSON text; `None`
    /// when the result is not JSON or the path selects nothing else.
    pub fn pick(&self, line: &[u8]) -> Option<String> {
        let value = expressway_engine::value::from_slice(line).ok()?;
        match self.0.select(&value) {
            Ok(Value::String(s)) => Some(s.to_string()),
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_json()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_strings_numbers_and_nothing_else() {
        let k = ResultKey::parse("$.device.id", "key").unwrap();
        assert_eq!(k.pick(br#"{"device":{"id":"s-1"}}"#).as_deref(), Some("s-1"));
        assert_eq!(k.pick(br#"{"device":{"id":42}}"#).as_deref(), Some("42"));
        assert_eq!(k.pick(br#"{"device":{"id":{"a":1}}}"#), None);
        assert_eq!(k.pick(br#"{"other":1}"#), None);
        assert_eq!(k.pick(b"not json"), None);
        assert!(ResultKey::parse("$..id", "key").unwrap_err().contains("one value"));
    }
}
