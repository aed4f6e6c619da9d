//! The `query` and `ec2` protocols' request: `Action`, `Version` and the
//! input flattened into form fields (`Attributes.entry.1.key`,
//! `Filter.1.Value.1`).

use crate::model::{Kind, Member, Protocol, ServiceModel};
use crate::values::{kind_of, scalar_text, set_members, too_deep};
use serde_json::Value as Json;

pub fn form(model: &ServiceModel, operation: &str, input_shape: Option<&str>, input: &Json) -> Result<String, String> {
    let mut fields = vec![
        ("Action".to_string(), operation.to_string()),
        ("Version".to_string(), model.metadata.api_version.clone()),
    ];
    if let Some(shape) = input_shape {
        structure(model, shape, input, "", &mut fields, 0)?;
    }
    Ok(form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish())
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

fn structure(
    model: &ServiceModel,
    shape_name: &str,
    value: &Json,
    prefix: &str,
    fields: &mut Vec<(String, String)>,
    depth: usize,
) -> Result<(), String> {
    too_deep(depth)?;
    let shape = model.shape(shape_name)?;
    let ec2 = model.metadata.protocol == Protocol::Ec2;
    for (name, member, v) in set_members(shape_name, shape, value)? {
        let wire = if ec2 {
            // EC2: queryName, else the capitalised locationName.
            member
                .query_name
                .clone()
                .or_else(|| member.location_name.as_deref().map(crate::model::pascal))
                .unwrap_or_else(|| name.to_string())
        } else {
            member.location_name.clone().unwrap_or_else(|| name.to_string())
        };
        serialize(model, member, v, &join(prefix, &wire), fields, depth + 1)?;
    }
    Ok(())
}

fn serialize(
    model: &ServiceModel,
    member: &Member,
    value: &Json,
    prefix: &str,
    fields: &mut Vec<(String, String)>,
    depth: usize,
) -> Result<(), String> {
    too_deep(depth)?;
    let shape = model.shape(&member.shape)?;
    let ec2 = model.metadata.protocol == Protocol::Ec2;
    match shape.kind {
        Kind::Structure => structure(model, &member.shape, value, prefix, fields, depth)?,
        Kind::List => {
            let item = shape.member.as_deref().ok_or("a list shape without a member")?;
            let Json::Array(items) = value else {
                return Err(format!("{prefix}: expected an array, not {}", kind_of(value)));
            };
            if items.is_empty() && !ec2 {
                fields.push((prefix.to_string(), String::new()));
            }
            let list_prefix = if ec2 || member.flattened || shape.flattened {
                prefix.to_string()
            } else {
                join(prefix, item.location_name.as_deref().unwrap_or("member"))
            };
            for (i, v) in items.iter().enumerate() {
                serialize(model, item, v, &format!("{list_prefix}.{}", i + 1), fields, depth + 1)?;
            }
        }
        Kind::Map => {
            let (key, val) = (
                shape.key.as_deref().ok_or("a map without a key")?,
                shape.value.as_deref().ok_or("a map without a value")?,
            );
            let Json::Object(entries) = value else {
                return Err(format!("{prefix}: expected an object, not {}", kind_of(value)));
            };
            let entry_prefix =
                if member.flattened || shape.flattened { prefix.to_string() } else { join(prefix, "entry") };
            let (kname, vname) =
                (key.location_name.as_deref().unwrap_or("key"), val.location_name.as_deref().unwrap_or("value"));
            for (i, (k, v)) in entries.iter().enumerate() {
                let at = format!("{entry_prefix}.{}", i + 1);
                fields.push((join(&at, kname), k.clone()));
                serialize(model, val, v, &join(&at, vname), fields, depth + 1)?;
            }
        }
        _ => fields.push((prefix.to_string(), scalar_text(model, member, value, "iso8601")?)),
    }
    Ok(())
}
