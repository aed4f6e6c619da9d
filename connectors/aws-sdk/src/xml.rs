//! XML (the `rest-xml`, `query` and `ec2` protocols): a small element tree
//! read with `xmlparser`, request bodies written from the model, and the
//! model-directed reading of answers into Step Functions' results.

use crate::model::{Kind, Member, ServiceModel, Shape, pascal};
use crate::values::{MAX_DEPTH, scalar_from_text, scalar_text, set_members, too_deep};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// The most elements one answer may hold: with the byte budget of
/// [`crate::client::MAX_RESPONSE_BYTES`] this bounds the tree's memory (an
/// element costs far more than the four bytes of `<a/>`).
pub const MAX_ELEMENTS: usize = 200_000;

#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first descendant element named `name`.
    pub fn find_text(&self, name: &str) -> Option<&str> {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            if e.name == name {
                return Some(&e.text);
            }
            stack.extend(e.children.iter().rev());
        }
        None
    }
}

/// The document's root element (namespace prefixes dropped from names).
/// At most [`MAX_ELEMENTS`] elements, nested at most [`MAX_DEPTH`] deep.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = Vec::new();
    let mut elements = 0usize;
    for token in xmlparser::Tokenizer::from(text) {
        let token = token.map_err(|e| format!("the answer is not XML: {e}"))?;
        match token {
            xmlparser::Token::ElementStart { local, .. } => {
                if stack.len() > MAX_DEPTH {
                    return Err(format!("the answer nests deeper than {MAX_DEPTH} levels"));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(format!("the answer holds more than {MAX_ELEMENTS} XML elements"));
                }
                stack.push(Element { name: local.to_string(), ..Default::default() });
            }
            xmlparser::Token::Attribute { prefix, local, value, .. } => {
                if let Some(e) = stack.last_mut()
                    && prefix.as_str() != "xmlns"
                    && local.as_str() != "xmlns"
                {
                    e.attributes.push((local.to_string(), unescape(value.as_str())));
                }
            }
            xmlparser::Token::Text { text } => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&unescape(text.as_str()));
                }
            }
            xmlparser::Token::Cdata { text, .. } => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(text.as_str());
                }
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                xmlparser::ElementEnd::Close(..) | xmlparser::ElementEnd::Empty => {
                    let done = stack.pop().ok_or("unbalanced XML")?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
            },
            _ => {}
        }
    }
    Err("the answer has no XML root element".into())
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            other => out.push(other),
        }
    }
    out
}

// ---- writing (rest-xml request bodies) ----

/// `value` as the XML element `name` of shape `shape_name`.
pub fn write_element(
    model: &ServiceModel,
    name: &str,
    member: &Member,
    value: &Json,
    namespace: Option<&str>,
    out: &mut String,
    depth: usize,
) -> Result<(), String> {
    too_deep(depth)?;
    let shape = model.shape(&member.shape)?;
    let ns = namespace.map(|uri| format!(" xmlns=\"{}\"", escape(uri))).unwrap_or_default();
    match shape.kind {
        Kind::Structure => {
            let members = set_members(&member.shape, shape, value)?;
            let mut attributes = String::new();
            for (mname, m, v) in members.iter().filter(|(_, m, _)| m.xml_attribute) {
                let attr = m.location_name.as_deref().unwrap_or(mname);
                attributes.push_str(&format!(" {attr}=\"{}\"", escape(&scalar_text(model, m, v, "iso8601")?)));
            }
            out.push_str(&format!("<{name}{ns}{attributes}>"));
            for (mname, m, v) in members.iter().filter(|(_, m, _)| !m.xml_attribute) {
                let child = m.location_name.as_deref().unwrap_or(mname);
                write_element(model, child, m, v, m.xml_namespace.as_ref().map(|n| n.uri.as_str()), out, depth + 1)?;
            }
            out.push_str(&format!("</{name}>"));
        }
        Kind::List => {
            let item = shape.member.as_deref().ok_or("a list shape without a member")?;
            let Json::Array(items) = value else { return Err(format!("{}: expected an array", pascal(name))) };
            if member.flattened || shape.flattened {
                let item_name = item.location_name.as_deref().unwrap_or(name);
                for v in items {
                    write_element(model, item_name, item, v, None, out, depth + 1)?;
                }
            } else {
                let item_name = item.location_name.as_deref().unwrap_or("member");
                out.push_str(&format!("<{name}{ns}>"));
                for v in items {
                    write_element(model, item_name, item, v, None, out, depth + 1)?;
                }
                out.push_str(&format!("</{name}>"));
            }
        }
        Kind::Map => {
            let (key, val) = (
                shape.key.as_deref().ok_or("a map without a key")?,
                shape.value.as_deref().ok_or("a map without a value")?,
            );
            let Json::Object(entries) = value else { return Err(format!("{}: expected an object", pascal(name))) };
            let (kname, vname) =
                (key.location_name.as_deref().unwrap_or("key"), val.location_name.as_deref().unwrap_or("value"));
            let flat = member.flattened || shape.flattened;
            if !flat {
                out.push_str(&format!("<{name}{ns}>"));
            }
            for (k, v) in entries {
                out.push_str(if flat { "" } else { "<entry>" });
                if flat {
                    out.push_str(&format!("<{name}>"));
                }
                out.push_str(&format!("<{kname}>{}</{kname}>", escape(k)));
                write_element(model, vname, val, v, None, out, depth + 1)?;
                out.push_str(if flat { "" } else { "</entry>" });
                if flat {
                    out.push_str(&format!("</{name}>"));
                }
            }
            if !flat {
                out.push_str(&format!("</{name}>"));
            }
        }
        _ => {
            let text = scalar_text(model, member, value, "iso8601")?;
            out.push_str(&format!("<{name}{ns}>{}</{name}>", escape(&text)));
        }
    }
    Ok(())
}

// ---- reading ----

/// The structure `shape_name` read from `element`'s children.
pub fn structure(model: &ServiceModel, shape_name: &str, element: &Element, depth: usize) -> Result<Json, String> {
    too_deep(depth)?;
    let shape = model.shape(shape_name)?;
    let mut members: Vec<_> = shape.members.iter().filter(|(_, m)| m.location.is_none()).collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    // The children by name, indexed once: a lookup per member stays O(1)
    // however many siblings a flattened list brings.
    let mut by_name: HashMap<&str, Vec<&Element>> = HashMap::new();
    for child in &element.children {
        by_name.entry(child.name.as_str()).or_default().push(child);
    }
    let named = |wire: &str| by_name.get(wire).map(Vec::as_slice).unwrap_or_default();
    let mut out = Map::new();
    for (name, m) in members {
        let mshape = model.shape(&m.shape)?;
        let wire = m.location_name.as_deref().unwrap_or(name);
        if m.xml_attribute {
            if let Some((_, v)) = element.attributes.iter().find(|(k, _)| k == wire) {
                out.insert(pascal(name), scalar_from_text(mshape, v));
            }
            continue;
        }
        let flat_list = mshape.kind == Kind::List && (m.flattened || mshape.flattened);
        let flat_map = mshape.kind == Kind::Map && (m.flattened || mshape.flattened);
        let value = if flat_list {
            let item = mshape.member.as_deref().ok_or("a list shape without a member")?;
            let items = named(wire);
            if items.is_empty() {
                continue;
            }
            Json::Array(items.iter().map(|e| value(model, item, e, depth + 1)).collect::<Result<_, _>>()?)
        } else if flat_map {
            let entries = named(wire);
            if entries.is_empty() {
                continue;
            }
            map_entries(model, mshape, entries, depth)?
        } else {
            match named(wire).first() {
                Some(child) => value(model, m, child, depth + 1)?,
                None => continue,
            }
        };
        out.insert(pascal(name), value);
    }
    Ok(Json::Object(out))
}

fn map_entries(model: &ServiceModel, shape: &Shape, entries: &[&Element], depth: usize) -> Result<Json, String> {
    let (key, val) =
        (shape.key.as_deref().ok_or("a map without a key")?, shape.value.as_deref().ok_or("a map without a value")?);
    let (kname, vname) =
        (key.location_name.as_deref().unwrap_or("key"), val.location_name.as_deref().unwrap_or("value"));
    let mut out = Map::new();
    for entry in entries.iter() {
        let k = entry.child(kname).map(|e| e.text.clone()).unwrap_or_default();
        let v = match entry.child(vname) {
            Some(e) => value(model, val, e, depth + 1)?,
            None => Json::Null,
        };
        out.insert(k, v);
    }
    Ok(Json::Object(out))
}

/// The value of `element` as `member`'s shape.
pub fn value(model: &ServiceModel, member: &Member, element: &Element, depth: usize) -> Result<Json, String> {
    too_deep(depth)?;
    let shape = model.shape(&member.shape)?;
    Ok(match shape.kind {
        Kind::Structure => structure(model, &member.shape, element, depth)?,
        Kind::List => {
            let item = shape.member.as_deref().ok_or("a list shape without a member")?;
            // Wrapped lists hold `member` (query), `item` (ec2) or the
            // member's own name; any child element is an item.
            let named = item.location_name.as_deref();
            Json::Array(
                element
                    .children
                    .iter()
                    .filter(|c| named.is_none_or(|n| c.name == n))
                    .map(|c| value(model, item, c, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Kind::Map => map_entries(model, shape, &element.children_named("entry").collect::<Vec<_>>(), depth)?,
        _ => scalar_from_text(shape, &element.text),
    })
}
