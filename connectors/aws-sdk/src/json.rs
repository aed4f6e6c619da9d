//! JSON bodies (the `json` and `rest-json` protocols): Step Functions'
//! PascalCase input to the wire's member names, the wire's answer back.

use crate::model::{Kind, Member, ServiceModel, pascal};
use crate::values::{
    base64_decode, base64_encode, blob_in, blob_out, kind_of, set_members, timestamp_in, timestamp_out,
    timestamp_parse, timestamp_wire, too_deep,
};
use serde_json::{Map, Value as Json};

/// The wire JSON of `value` as `shape_name` (body members only: `rest`
/// says which members travel elsewhere).
pub fn to_wire(model: &ServiceModel, shape_name: &str, value: &Json, body_only: bool) -> Result<Json, String> {
    structure_to_wire(model, shape_name, value, body_only, 0)
}

fn structure_to_wire(
    model: &ServiceModel,
    shape_name: &str,
    value: &Json,
    body_only: bool,
    depth: usize,
) -> Result<Json, String> {
    too_deep(depth)?;
    let shape = model.shape(shape_name)?;
    let mut out = Map::new();
    for (name, member, v) in set_members(shape_name, shape, value)? {
        if body_only && member.location.is_some() {
            continue;
        }
        let wire_name = member.location_name.clone().unwrap_or_else(|| name.to_string());
        out.insert(
            wire_name,
            member_to_wire(model, member, v, depth + 1).map_err(|e| format!("{}: {e}", pascal(name)))?,
        );
    }
    Ok(Json::Object(out))
}

fn member_to_wire(model: &ServiceModel, member: &Member, value: &Json, depth: usize) -> Result<Json, String> {
    too_deep(depth)?;
    let shape = model.shape(&member.shape)?;
    Ok(match shape.kind {
        Kind::Structure if shape.document => value.clone(),
        Kind::Structure => structure_to_wire(model, &member.shape, value, false, depth)?,
        Kind::List => {
            let item = shape.member.as_deref().ok_or("a list shape without a member")?;
            let Json::Array(items) = value else { return Err(format!("expected an array, not {}", kind_of(value))) };
            Json::Array(items.iter().map(|v| member_to_wire(model, item, v, depth + 1)).collect::<Result<_, _>>()?)
        }
        Kind::Map => {
            let val = shape.value.as_deref().ok_or("a map shape without a value")?;
            let Json::Object(entries) = value else {
                return Err(format!("expected an object, not {}", kind_of(value)));
            };
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k.clone(), member_to_wire(model, val, v, depth + 1)?);
            }
            Json::Object(out)
        }
        Kind::Timestamp => {
            let format =
                member.timestamp_format.as_deref().or(shape.timestamp_format.as_deref()).unwrap_or("unixTimestamp");
            timestamp_wire(&timestamp_in(value)?, format)
        }
        Kind::Blob => Json::String(base64_encode(&blob_in(value))),
        Kind::String if member.jsonvalue || shape.jsonvalue => match value {
            Json::String(s) => Json::String(s.clone()),
            other => Json::String(other.to_string()),
        },
        _ => value.clone(),
    })
}

/// Step Functions' result of a wire JSON value read as `shape_name`.
pub fn from_wire(model: &ServiceModel, shape_name: &str, wire: &Json) -> Result<Json, String> {
    value_from_wire(model, shape_name, None, wire, 0)
}

fn value_from_wire(
    model: &ServiceModel,
    shape_name: &str,
    member: Option<&Member>,
    wire: &Json,
    depth: usize,
) -> Result<Json, String> {
    too_deep(depth)?;
    let shape = model.shape(shape_name)?;
    Ok(match (shape.kind, wire) {
        (_, Json::Null) => Json::Null,
        (Kind::Structure, _) if shape.document => wire.clone(),
        (Kind::Structure, Json::Object(fields)) => {
            // Members sorted by name: the order Step Functions writes them.
            let mut members: Vec<_> = shape.members.iter().collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (name, m) in members {
                let wire_name = m.location_name.as_deref().unwrap_or(name);
                if let Some(v) = fields.get(wire_name) {
                    out.insert(pascal(name), value_from_wire(model, &m.shape, Some(m), v, depth + 1)?);
                }
            }
            Json::Object(out)
        }
        (Kind::List, Json::Array(items)) => {
            let item = shape.member.as_deref().ok_or("a list shape without a member")?;
            Json::Array(
                items
                    .iter()
                    .map(|v| value_from_wire(model, &item.shape, Some(item), v, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        (Kind::Map, Json::Object(entries)) => {
            let val = shape.value.as_deref().ok_or("a map shape without a value")?;
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k.clone(), value_from_wire(model, &val.shape, Some(val), v, depth + 1)?);
            }
            Json::Object(out)
        }
        (Kind::Timestamp, Json::Number(n)) => {
            let secs = n.as_f64().unwrap_or(0.0);
            chrono::DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
                .map(|t| timestamp_out(&t))
                .unwrap_or_else(|| wire.clone())
        }
        (Kind::Timestamp, Json::String(s)) => {
            timestamp_parse(s).map(|t| timestamp_out(&t)).unwrap_or_else(|| wire.clone())
        }
        (Kind::Blob, Json::String(s)) => base64_decode(s).map(|b| blob_out(&b)).unwrap_or_else(|| wire.clone()),
        (Kind::String, Json::String(s)) if shape.jsonvalue || member.is_some_and(|m| m.jsonvalue) => {
            serde_json::from_str(s).unwrap_or_else(|_| wire.clone())
        }
        _ => wire.clone(),
    })
}
