//! Fields read at run time into typed values: Task timeouts, Wait
//! durations, a Fail state's Error and Cause, counts.

use super::raised::{path_miss_detail, runtime};
use super::{Frame, Raised, Shared};
use crate::asl::{CountField, FailField, Seconds, WaitFor};
use crate::errors::ErrorName;
use crate::jsonpath::JsonPath;
use crate::program::Program;
use crate::value::Value;

impl Program {
    pub(super) fn seconds(&self, frame: &Frame, shared: &mut Shared, s: &Seconds, field: &str) -> Result<u64, Raised> {
        match s {
            Seconds::Fixed(n) => Ok(*n),
            Seconds::Expr(t) => self.jsonata_count(frame, shared, t, field.trim_end_matches("Path")).map(|n| n.max(1)),
            Seconds::Path(p) => {
                let resolver = self.resolver(frame, shared);
                match resolver.select(p, &frame.input) {
                    Ok(Value::Number(n)) if n.as_u64().is_some_and(|v| v > 0) => Ok(n.as_u64().unwrap_or(1)),
                    Ok(v) => Err(runtime(
                        self.state_name(frame),
                        frame.entered_event,
                        format!("The {field} parameter does not reference a positive integer: {p} == {v}"),
                    )),
                    Err(m) => Err(runtime(self.state_name(frame), frame.entered_event, path_miss_detail(p, &m))),
                }
            }
        }
    }

    pub(super) fn wait_millis(&self, frame: &Frame, shared: &mut Shared, w: &WaitFor) -> Result<i64, Raised> {
        let name = self.state_name(frame);
        let fail = |detail: String| runtime(name, frame.entered_event, detail);
        match w {
            WaitFor::Seconds(s) => Ok(*s as i64 * 1000),
            // Saturating: `{% 1e19 %}` had wrapped to a negative wait.
            WaitFor::SecondsExpr(t) => {
                let seconds = self.jsonata_count(frame, shared, t, "Seconds")?;
                Ok(i64::try_from(seconds).unwrap_or(i64::MAX).saturating_mul(1000))
            }
            WaitFor::TimestampExpr(t) => {
                let ms = self.jsonata_timestamp(frame, shared, t)?;
                Ok(ms.saturating_sub(shared.now_ms).max(0))
            }
            WaitFor::Timestamp(t) => Ok(crate::time::to_millis(t).saturating_sub(shared.now_ms).max(0)),
            WaitFor::SecondsPath(p) => {
                let v =
                    self.resolver(frame, shared).select(p, frame.acc()).map_err(|m| fail(path_miss_detail(p, &m)))?;
                match &v {
                    // Past i64 is past Java's long, as on AWS.
                    Value::Number(n) if n.is_i64() => match n.as_i64() {
                        Some(s) if s >= 0 => Ok(s.saturating_mul(1000)),
                        _ => Err(fail(format!("The SecondsPath parameter references a negative value: {p} == {v}"))),
                    },
                    _ => Err(fail(format!("The SecondsPath parameter cannot be parsed as a long value: {p} == {v}"))),
                }
            }
            WaitFor::TimestampPath(p) => {
                let v =
                    self.resolver(frame, shared).select(p, frame.acc()).map_err(|m| fail(path_miss_detail(p, &m)))?;
                match v.as_str().and_then(crate::time::parse_timestamp) {
                    Some(t) => Ok(crate::time::to_millis(&t).saturating_sub(shared.now_ms).max(0)),
                    None => {
                        let shown = match &v {
                            Value::String(s) => s.to_string(),
                            other => other.to_json(),
                        };
                        Err(fail(format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {shown}"
                        )))
                    }
                }
            }
        }
    }

    pub(super) fn fail_field(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        f: &FailField,
        field: &str,
    ) -> Result<Option<String>, Raised> {
        let mut resolver = self.resolver(frame, shared);
        let render = |v: Value| match v {
            Value::String(s) => s.to_string(),
            other => other.to_json(),
        };
        match f {
            FailField::None => Ok(None),
            FailField::Expr(t) => match resolver.eval_template(t, &frame.input) {
                Ok(v) => Ok(Some(render(v))),
                Err((n, detail)) => Err(self.template_error(frame, n, detail)),
            },
            FailField::Literal(s) => Ok(Some(s.clone())),
            FailField::Path(p) => match resolver.select(p, &frame.input) {
                Ok(v) => Ok(Some(render(v))),
                Err(_) => Err(runtime(
                    self.state_name(frame),
                    frame.entered_event,
                    format!(
                        "The JSONPath '{p}' specified for the field '{field}' could not be found in the input '{}'",
                        frame.input
                    ),
                )),
            },
            FailField::Call(c) => match resolver.eval_call(c, &frame.input) {
                Ok(v) => Ok(Some(render(v))),
                Err((_, cause)) => Err(Raised::new(ErrorName::IntrinsicFailure.as_str(), cause)),
            },
        }
    }

    /// Read a `…Path` field against the accumulator; a miss is States.Runtime.
    pub(super) fn read_path(&self, frame: &Frame, shared: &mut Shared, p: &JsonPath) -> Result<Value, Raised> {
        self.resolver(frame, shared)
            .select(p, frame.acc())
            .map_err(|m| runtime(self.state_name(frame), frame.entered_event, path_miss_detail(p, &m)))
    }

    pub(super) fn count_field(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        f: &CountField,
        field: &str,
    ) -> Result<u64, Raised> {
        match f {
            CountField::Fixed(n) => Ok(*n),
            CountField::Expr(t) => self.jsonata_count(frame, shared, t, field.trim_end_matches("Path")),
            CountField::Path(p) => {
                let v = self.read_path(frame, shared, p)?;
                let fail = |detail: String| runtime(self.state_name(frame), frame.entered_event, detail);
                // MaxConcurrencyPath also truncates a number with a fraction, as AWS does.
                let truncate = field == "MaxConcurrencyPath";
                match path_integer(&v, truncate) {
                    Some(n) if n >= 0 => Ok(n as u64),
                    Some(n) if truncate => {
                        Err(fail(format!("Expected non-negative integer for MaxConcurrency, got '{n}' instead.")))
                    }
                    _ => Err(fail(format!(
                        "The {field} field refers to value \"{}\" which is not a valid integer: {p}",
                        shown_raw(&v)
                    ))),
                }
            }
        }
    }
}

/// The integer a `…Path` field's value stands for, as AWS reads these
/// fields: a JSON integer, or a string holding one ("1" is 1, "1.5" is
/// nothing); with `truncate_fractions`, a number with a fraction too (1.5 is 1).
pub(super) fn path_integer(v: &Value, truncate_fractions: bool) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64().filter(|f| truncate_fractions && f.is_finite())?.trunc();
            (f.abs() < 9.0e18).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A value as AWS quotes it in a `…Path` field's cause: a string bare, anything else as JSON.
pub(super) fn shown_raw(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_json(),
    }
}
