//! Timestamps as Step Functions reads and writes them: ISO-8601 extended
//! offset date-times in, `2024-01-01T00:00:00.000Z` (milliseconds, `Z`) out.

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};

/// Parse an RFC 3339 timestamp (what AWS calls "ISO-8601 extended offset
/// date-time"). A `T` separator and an explicit offset are required.
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    let bytes = s.as_bytes();
    if bytes.len() < 20 || bytes[10] != b'T' {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Milliseconds since the Unix epoch → AWS's rendering.
pub fn format_millis(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => String::from("1970-01-01T00:00:00.000Z"),
    }
}

pub fn to_millis(t: &DateTime<FixedOffset>) -> i64 {
    t.timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_rejects_invalid_dates() {
        assert!(parse_timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(parse_timestamp("2016-03-14T01:59:00.123+02:00").is_some());
        assert!(parse_timestamp("2016-13-05T21:29:29Z").is_none());
        assert!(parse_timestamp("2016-12-05T25:29:29Z").is_none());
        assert!(parse_timestamp("2016-12-05 21:29:29Z").is_none());
        assert!(parse_timestamp("2016-12-05T21:29:29").is_none());
    }

    #[test]
    fn formats_with_millis_and_z() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
