//! How a record's bytes become an execution's input: the size limit and the
//! JSON reader. `expressway run` (through [`crate::admission`], with
//! [`parse_bounded`]) and `expressway exec` (with [`parse`], which wraps it)
//! share one reader, so one bad record gets the same error and cause
//! whichever way it is run.

use expressway_engine::bounds::Measure;
use expressway_engine::value::{self, Value};

/// Why a record cannot start an execution: the error and cause its dead
/// letter (or `exec`'s message) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub error: &'static str,
    pub cause: String,
    /// Too large, rather than unreadable.
    pub oversized: bool,
}

/// The error name of a record larger than the input limit (AWS's).
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// The error name of a record that is not JSON text.
pub const MALFORMED_RECORD: &str = "Expressway.MalformedRecord";

/// A record of `size` bytes when at most `max` are accepted.
pub fn too_large(size: u64, max: usize) -> Rejected {
    Rejected {
        error: DATA_LIMIT_EXCEEDED,
        cause: format!("The input of {size} bytes exceeds the maximum of {max} bytes for an execution input"),
        oversized: true,
    }
}

/// Check `payload` against `max` bytes and parse it (the payload stays as
/// it was, for a dead letter).
pub fn parse(payload: &[u8], max: usize) -> Result<Value, Rejected> {
    parse_bounded(payload, max).map(|(v, _)| v)
}

/// [`parse`], with an upper bound on the value's measure (see
/// [`value::from_slice_bounded`]) that spares the engine a walk over it.
pub fn parse_bounded(payload: &[u8], max: usize) -> Result<(Value, Measure), Rejected> {
    if payload.len() > max {
        return Err(too_large(payload.len() as u64, max));
    }
    // A UTF-8 byte order mark, as editors on Windows write at the start of a
    // file, is not part of the JSON text (RFC 8259 §8.1 lets a reader skip it).
    let (payload, skipped) = match payload.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, 3),
        None => (payload, 0),
    };
    value::from_slice_bounded(payload).map_err(|e| {
        // The parser checks UTF-8 first; only on its error path is it worth
        // a second pass to say which of the two was wrong.
        let cause = match std::str::from_utf8(payload) {
            Err(bad) => {
                format!("the input is not UTF-8 text: invalid byte at offset {}", bad.valid_up_to() + skipped)
            }
            // Nothing to parse: say so, not where the text ended.
            Ok(text) if text.trim_ascii().is_empty() => {
                "the input is empty: a record must be JSON text (a Kafka tombstone has no value)".to_string()
            }
            Ok(_) => format!("the input is not valid JSON: {e}"),
        };
        Rejected { error: MALFORMED_RECORD, cause, oversized: false }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_parsed_and_everything_else_is_named() {
        assert_eq!(parse(br#"{"a": [1, "x"]}"#, 100).map(|v| v.to_json()), Ok(r#"{"a":[1,"x"]}"#.into()));
        let bad = parse(b"{\"a\": ", 100).expect_err("truncated");
        assert_eq!(bad.error, MALFORMED_RECORD);
        assert!(bad.cause.starts_with("the input is not valid JSON: "), "{}", bad.cause);
        let latin1 = parse(b"\"caf\xe9\"", 100).expect_err("not UTF-8");
        assert_eq!(
            (latin1.error, latin1.cause.as_str()),
            (MALFORMED_RECORD, "the input is not UTF-8 text: invalid byte at offset 4")
        );
        assert_eq!(
            parse(b"\xEF\xBB\xBF{\"a\": 1}", 100).map(|v| v.to_json()),
            Ok(r#"{"a":1}"#.into()),
            "a BOM is skipped"
        );
        assert!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBF{}", 100).is_err(), "one BOM, not two");
        for empty in [&b""[..], b" \r\n\t", b"\xEF\xBB\xBF"] {
            let rejected = parse(empty, 100).expect_err("empty");
            assert_eq!(rejected.error, MALFORMED_RECORD);
            assert!(rejected.cause.starts_with("the input is empty: "), "{}", rejected.cause);
        }
        let big = parse(&[b' '; 101], 100).expect_err("too large");
        assert_eq!(big, too_large(101, 100));
        assert!(big.oversized && big.cause.contains("101 bytes exceeds the maximum of 100"), "{}", big.cause);
    }
}
