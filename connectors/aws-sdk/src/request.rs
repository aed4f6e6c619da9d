//! One operation's input as an HTTP request, per protocol: `json` (a POST
//! with `X-Amz-Target`), `rest-json` and `rest-xml` (members bound to the
//! URI, query string, headers and body as the model places them), `query`
//! and `ec2` (a form POST).

use crate::model::{Kind, Location, Operation, Protocol, ServiceModel};
use crate::values::{blob_in, kind_of, scalar_text, set_members};
use crate::{json, query, xml};
use base64::Engine;
use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value as Json;

#[derive(Debug, Default)]
pub struct WireRequest {
    pub method: String,
    /// The path and query string, encoded.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// RFC 3986 unreserved characters stay; everything else is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
const GREEDY: &AsciiSet = &UNRESERVED.remove(b'/');

pub fn build(model: &ServiceModel, name: &str, op: &Operation, input: &Json) -> Result<WireRequest, String> {
    let meta = &model.metadata;
    let mut req = WireRequest { method: op.http.method.clone(), ..Default::default() };
    match meta.protocol {
        Protocol::Json => {
            req.method = "POST".into();
            req.path_and_query = "/".into();
            let target = meta.target_prefix.as_deref().unwrap_or_default();
            req.headers.push(("x-amz-target".into(), format!("{target}.{name}")));
            let version = meta.json_version.as_deref().unwrap_or("1.0");
            req.headers.push(("content-type".into(), format!("application/x-amz-json-{version}")));
            let body = match &op.input {
                Some(shape) => json::to_wire(model, shape, input, false)?,
                None => Json::Object(Default::default()),
            };
            req.body = body.to_string().into_bytes();
        }
        Protocol::Query | Protocol::Ec2 => {
            req.method = "POST".into();
            req.path_and_query = "/".into();
            req.headers.push(("content-type".into(), "application/x-www-form-urlencoded; charset=utf-8".into()));
            req.body = query::form(model, name, op.input.as_deref(), input)?.into_bytes();
        }
        Protocol::RestJson | Protocol::RestXml => rest(model, op, input, &mut req)?,
    }
    if op.checksum_required {
        let digest = Md5::digest(&req.body);
        req.headers.push(("content-md5".into(), base64::engine::general_purpose::STANDARD.encode(digest)));
    }
    Ok(req)
}

fn rest(model: &ServiceModel, op: &Operation, input: &Json, req: &mut WireRequest) -> Result<(), String> {
    let (template, fixed_query) = op.http.request_uri.split_once('?').unwrap_or((&op.http.request_uri, ""));
    let mut path = template.to_string();
    let mut query: Vec<(String, String)> = form_urlencoded::parse(fixed_query.as_bytes()).into_owned().collect();
    let Some(input_shape) = op.input.as_deref() else {
        req.path_and_query = path_with_query(&path, &query);
        return Ok(());
    };
    let shape = model.shape(input_shape)?;
    let mut body_set = false;
    for (name, member, value) in set_members(input_shape, shape, input)? {
        let wire = member.location_name.as_deref().unwrap_or(name);
        let at = |e: String| format!("{}: {e}", crate::model::pascal(name));
        match member.location {
            Some(Location::Uri) => {
                let text = scalar_text(model, member, value, "iso8601").map_err(at)?;
                let greedy = format!("{{{wire}+}}");
                if path.contains(&greedy) {
                    path = path.replace(&greedy, &utf8_percent_encode(&text, GREEDY).to_string());
                } else {
                    path = path.replace(&format!("{{{wire}}}"), &utf8_percent_encode(&text, UNRESERVED).to_string());
                }
            }
            Some(Location::Querystring) => match value {
                Json::Array(items) => {
                    let item = model.shape(&member.shape)?.member.as_deref().ok_or("a list shape without a member")?;
                    for v in items {
                        query.push((wire.to_string(), scalar_text(model, item, v, "iso8601").map_err(at)?));
                    }
                }
                Json::Object(entries) => {
                    for (k, v) in entries {
                        match v {
                            Json::Array(vs) => query.extend(vs.iter().map(|v| (k.clone(), text_of(v)))),
                            other => query.push((k.clone(), text_of(other))),
                        }
                    }
                }
                _ => query.push((wire.to_string(), scalar_text(model, member, value, "iso8601").map_err(at)?)),
            },
            Some(Location::Header) => {
                let text = match value {
                    Json::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(","),
                    _ => scalar_text(model, member, value, "rfc822").map_err(at)?,
                };
                req.headers.push((wire.to_ascii_lowercase(), text));
            }
            Some(Location::Headers) => {
                let Json::Object(entries) = value else {
                    return Err(at(format!("expected an object, not {}", kind_of(value))));
                };
                for (k, v) in entries {
                    req.headers.push((format!("{wire}{k}").to_ascii_lowercase(), text_of(v)));
                }
            }
            Some(Location::StatusCode) => {}
            None => body_set = true,
        }
    }
    req.path_and_query = path_with_query(&path, &query);
    let xml = model.metadata.protocol == Protocol::RestXml;
    if let Some(payload) = &shape.payload {
        let Some((pname, member)) = shape.members.iter().find(|(n, _)| n == payload) else {
            return Err(format!("the payload member '{payload}' is not in {input_shape}"));
        };
        let Some(value) = input.get(crate::model::pascal(pname)) else {
            return Ok(());
        };
        let pshape = model.shape(&member.shape)?;
        match pshape.kind {
            Kind::Blob | Kind::String => req.body = blob_in(value),
            _ if xml => {
                let name = member.location_name.as_deref().unwrap_or(pname);
                let ns = member.xml_namespace.as_ref().or(pshape.xml_namespace.as_ref()).map(|n| n.uri.as_str());
                let mut out = String::new();
                xml::write_element(model, name, member, value, ns, &mut out, 0)?;
                req.body = out.into_bytes();
                req.headers.push(("content-type".into(), "application/xml".into()));
            }
            _ => {
                req.body = json::to_wire(model, &member.shape, value, false)?.to_string().into_bytes();
                req.headers.push(("content-type".into(), "application/json".into()));
            }
        }
    } else if body_set || (!xml && shape.members.iter().any(|(_, m)| m.location.is_none())) {
        if xml {
            let root = shape.location_name.as_deref().unwrap_or(input_shape);
            let body_only = body_members(input_shape, shape, input)?;
            let mut out = String::new();
            let ns = shape.xml_namespace.as_ref().map(|n| n.uri.as_str());
            write_structure(model, root, input_shape, &body_only, ns, &mut out)?;
            req.body = out.into_bytes();
            req.headers.push(("content-type".into(), "application/xml".into()));
        } else {
            req.body = json::to_wire(model, input_shape, input, true)?.to_string().into_bytes();
            req.headers.push(("content-type".into(), "application/json".into()));
        }
    }
    Ok(())
}

/// The input without the members bound to the URI, query or headers.
fn body_members(shape_name: &str, shape: &crate::model::Shape, input: &Json) -> Result<Json, String> {
    let mut out = serde_json::Map::new();
    for (name, member, v) in set_members(shape_name, shape, input)? {
        if member.location.is_none() {
            out.insert(crate::model::pascal(name), v.clone());
        }
    }
    Ok(Json::Object(out))
}

fn write_structure(
    model: &ServiceModel,
    root: &str,
    shape_name: &str,
    value: &Json,
    ns: Option<&str>,
    out: &mut String,
) -> Result<(), String> {
    let member = crate::model::Member {
        shape: shape_name.to_string(),
        location: None,
        location_name: None,
        flattened: false,
        xml_namespace: None,
        xml_attribute: false,
        jsonvalue: false,
        timestamp_format: None,
        query_name: None,
    };
    xml::write_element(model, root, &member, value, ns, out, 0)
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn path_with_query(path: &str, query: &[(String, String)]) -> String {
    // Labels an input left unset are dropped (optional greedy labels).
    let mut path = path.to_string();
    while let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
        if close < open {
            break;
        }
        path.replace_range(open..=close, "");
    }
    if query.is_empty() {
        return path;
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            let k = utf8_percent_encode(k, UNRESERVED).to_string();
            if v.is_empty() && !k.is_empty() { k } else { format!("{k}={}", utf8_percent_encode(v, UNRESERVED)) }
        })
        .collect();
    format!("{path}?{}", encoded.join("&"))
}
