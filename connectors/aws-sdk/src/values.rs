//! What every protocol shares: Step Functions' PascalCase parameter names
//! matched to model members, and the scalars (timestamps, blobs) as a state
//! machine writes and reads them.

use crate::model::{Member, ServiceModel, Shape, pascal};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value as Json;

/// Deeper input or responses than this are refused: a bound on recursion.
pub const MAX_DEPTH: usize = 64;

pub fn too_deep(depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH { Err(format!("the value nests deeper than {MAX_DEPTH} levels")) } else { Ok(()) }
}

/// The members `value` sets, with their values, in the model's order.
/// Names are the members' PascalCase ([`pascal`]) only, as Step Functions
/// takes them: `bucket` for S3's `Bucket`, or `restApiId` for API Gateway's
/// `restApiId` member (`RestApiId` here), is refused as AWS refuses it,
/// "The field "bucket" is not supported by Step Functions", naming the
/// fields there are.
pub fn set_members<'a>(
    shape_name: &str,
    shape: &'a Shape,
    value: &'a Json,
) -> Result<Vec<(&'a str, &'a Member, &'a Json)>, String> {
    let Json::Object(fields) = value else {
        return Err(format!("{shape_name} must be an object, not {}", kind_of(value)));
    };
    for key in fields.keys() {
        if !shape.members.iter().any(|(name, _)| pascal(name) == *key) {
            let names: Vec<String> = shape.members.iter().map(|(n, _)| pascal(n)).collect();
            return Err(format!(
                "The field \"{key}\" is not supported by Step Functions ({shape_name} takes {})",
                names.join(", ")
            ));
        }
    }
    Ok(shape
        .members
        .iter()
        .filter_map(|(name, member)| {
            let v = fields.get(&pascal(name))?;
            (!v.is_null()).then_some((name.as_str(), member, v))
        })
        .collect())
}

pub fn kind_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A timestamp parameter: an ISO 8601 string or epoch seconds.
pub fn timestamp_in(value: &Json) -> Result<DateTime<Utc>, String> {
    match value {
        Json::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("'{s}' is not an ISO 8601 timestamp: {e}")),
        Json::Number(n) => {
            let secs = n.as_f64().unwrap_or(0.0);
            DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
                .ok_or_else(|| format!("{n} is out of the timestamp range"))
        }
        other => Err(format!("a timestamp must be a string or a number, not {}", kind_of(other))),
    }
}

/// How a timestamp travels: `iso8601`, `rfc822` or `unixTimestamp`.
pub fn timestamp_wire(t: &DateTime<Utc>, format: &str) -> Json {
    match format {
        "unixTimestamp" => {
            let millis = t.timestamp_millis();
            if millis % 1000 == 0 {
                Json::from(millis / 1000)
            } else {
                serde_json::Number::from_f64(millis as f64 / 1000.0).map(Json::Number).unwrap_or(Json::Null)
            }
        }
        "rfc822" => Json::String(t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        _ => Json::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

/// A timestamp in a result: ISO 8601 as the Java SDK's `Instant` prints it
/// (`2024-05-01T10:00:00Z`, fractions only when there are some).
pub fn timestamp_out(t: &DateTime<Utc>) -> Json {
    Json::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A timestamp read off the wire in any of the three formats.
pub fn timestamp_parse(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.with_timezone(&Utc));
    }
    let secs: f64 = text.parse().ok()?;
    DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
}

/// A blob parameter's bytes: a string is its UTF-8 text, anything else its
/// JSON text (`"Body": {"a": 1}` stores `{"a":1}`, as AWS does).
pub fn blob_in(value: &Json) -> Vec<u8> {
    match value {
        Json::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

/// A blob in a result: its UTF-8 text (S3 `Body`), base64 where the bytes
/// are not text.
pub fn blob_out(bytes: &[u8]) -> Json {
    match std::str::from_utf8(bytes) {
        Ok(text) => Json::String(text.to_string()),
        Err(_) => Json::String(BASE64.encode(bytes)),
    }
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim()).ok()
}

pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// A scalar's text on a wire that carries text (query strings, headers,
/// XML, form fields).
pub fn scalar_text(model: &ServiceModel, member: &Member, value: &Json, default_ts: &str) -> Result<String, String> {
    let shape = model.shape(&member.shape)?;
    use crate::model::Kind::*;
    Ok(match (shape.kind, value) {
        (Timestamp, v) => {
            let format = member.timestamp_format.as_deref().or(shape.timestamp_format.as_deref()).unwrap_or(default_ts);
            match timestamp_wire(&timestamp_in(v)?, format) {
                Json::String(s) => s,
                other => other.to_string(),
            }
        }
        (Blob, v) => base64_encode(&blob_in(v)),
        (String, Json::String(s)) if member.jsonvalue || shape.jsonvalue => base64_encode(s.as_bytes()),
        (String, Json::String(s)) => s.clone(),
        (String, other) if member.jsonvalue || shape.jsonvalue => base64_encode(other.to_string().as_bytes()),
        (_, Json::String(s)) => s.clone(),
        (_, Json::Bool(b)) => b.to_string(),
        (_, Json::Number(n)) => n.to_string(),
        (_, other) => return Err(format!("expected a scalar, not {}", kind_of(other))),
    })
}

/// A scalar read from text (XML, headers) as its shape types it.
pub fn scalar_from_text(shape: &Shape, text: &str) -> Json {
    use crate::model::Kind::*;
    match shape.kind {
        Integer | Long | BigInteger => text.trim().parse::<i64>().map(Json::from).unwrap_or(Json::String(text.into())),
        Float | Double | BigDecimal => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .unwrap_or(Json::String(text.into())),
        Boolean => Json::Bool(text.trim() == "true"),
        Timestamp => timestamp_parse(text.trim()).map(|t| timestamp_out(&t)).unwrap_or(Json::String(text.into())),
        Blob => base64_decode(text).map(|b| blob_out(&b)).unwrap_or(Json::String(text.into())),
        _ => Json::String(text.to_string()),
    }
}

/// Rewrites the ISO 8601 timestamps of a result read as `shape_name` into
/// epoch milliseconds: the optimised integrations (`states:startExecution`'s
/// `StartDate`, `ecs:runTask`'s `CreatedAt`) serialise the AWS SDK for Java
/// v1's `Date` so.
pub fn timestamps_as_epoch_millis(model: &ServiceModel, shape_name: &str, value: &mut Json, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(shape) = model.shape(shape_name) else { return };
    use crate::model::Kind;
    match (shape.kind, value) {
        (Kind::Timestamp, value) => {
            if let Some(t) = value.as_str().and_then(timestamp_parse) {
                *value = Json::from(t.timestamp_millis());
            }
        }
        (Kind::Structure, Json::Object(fields)) if !shape.document => {
            for (name, member) in &shape.members {
                if let Some(v) = fields.get_mut(&pascal(name)) {
                    timestamps_as_epoch_millis(model, &member.shape, v, depth + 1);
                }
            }
        }
        (Kind::List, Json::Array(items)) => {
            if let Some(item) = shape.member.as_deref() {
                for v in items {
                    timestamps_as_epoch_millis(model, &item.shape, v, depth + 1);
                }
            }
        }
        (Kind::Map, Json::Object(entries)) => {
            if let Some(val) = shape.value.as_deref() {
                for v in entries.values_mut() {
                    timestamps_as_epoch_millis(model, &val.shape, v, depth + 1);
                }
            }
        }
        _ => {}
    }
}
