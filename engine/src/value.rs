//! The JSON value executions run on.
//!
//! Why not `serde_json::Value`: a state machine mostly *moves* data — copies
//! a field into a template, passes an item to an iteration, writes a result
//! into the input. With `serde_json::Value` each of those is a deep copy, and
//! each object key a fresh `String` hashed with SipHash. Here strings, arrays
//! and objects are reference-counted, so a copy is a counter increment and a
//! write copies only the object it changes (`Arc::make_mut`); object keys are
//! shared `Arc<str>` (a template's keys are allocated once, at compile time);
//! objects keep insertion order, as AWS does, and find keys by a linear scan,
//! which beats hashing for the small objects payloads are made of.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;
use std::fmt;
use std::sync::Arc;

pub use crate::key::Key;

mod parse;

#[derive(Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Arc<str>),
    Array(Arc<Vec<Value>>),
    Object(Arc<Object>),
}

/// An insertion-ordered JSON object.
#[derive(Clone, Default)]
pub struct Object {
    entries: Vec<(Key, Value)>,
}

impl Object {
    pub fn new() -> Object {
        Object { entries: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Object {
        Object { entries: Vec::with_capacity(n) }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    /// [`Object::get`] for a key the program holds: interned keys match by
    /// pointer, without reading their bytes.
    #[inline]
    pub fn get_key(&self, key: &Key) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Insert or replace, keeping the key's original position.
    #[inline]
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v) {
            Some(slot) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Append without looking for an existing key; the caller knows the key
    /// is new (template fields are validated to be distinct).
    pub fn push_unique(&mut self, key: Key, value: Value) {
        self.entries.push((key, value));
    }

    /// [`Object::insert`] of each of `items` in turn, in time linear in
    /// the members however many there are ([`set_all`]).
    #[inline]
    pub fn extend_replacing(&mut self, items: impl IntoIterator<Item = (Key, Value)>) {
        let items = items.into_iter();
        match items.size_hint().1 {
            // Small whatever comes: the plain scan per key.
            Some(n) if self.len().saturating_add(n) <= SCAN_MEMBERS_UP_TO => items.for_each(|(k, v)| self.insert(k, v)),
            _ => set_all(&mut self.entries, items),
        }
    }

    /// The value at `key`, inserting `default()` first if absent.
    pub fn entry_or_insert_with(&mut self, key: &str, default: impl FnOnce() -> Value) -> &mut Value {
        let pos = match self.entries.iter().position(|(k, _)| &**k == key) {
            Some(p) => p,
            None => {
                self.entries.push((key.into(), default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[pos].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// Members from which a bulk operation on an object's members looks keys up
/// in a map of their positions rather than by a scan per key.
pub(crate) const SCAN_MEMBERS_UP_TO: usize = 32;

/// Where each key of a large object sits among its members.
pub(crate) type Positions = std::collections::HashMap<Key, usize, foldhash::fast::FixedState>;

fn positions<V>(entries: &[(Key, V)]) -> Positions {
    entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect()
}

/// Insert or replace each of `items` in `entries` (an object's members,
/// keys distinct), a replaced key keeping its position: by a scan per key
/// while the object is small, by a map of positions once it is large. A
/// record's wide objects merged or built key by key (`States.JsonMerge`,
/// JSONata's `$merge`) would otherwise cost time quadratic in a size the
/// record chooses. Shared by [`Object`] and JSONata's objects.
pub(crate) fn set_all<V>(entries: &mut Vec<(Key, V)>, items: impl IntoIterator<Item = (Key, V)>) {
    let mut map: Option<Positions> = None;
    for (key, value) in items {
        if map.is_none() && entries.len() >= SCAN_MEMBERS_UP_TO {
            map = Some(positions(entries));
        }
        let found = match &map {
            Some(p) => p.get(&key).copied(),
            None => entries.iter().position(|(k, _)| *k == key),
        };
        match found {
            Some(i) => entries[i].1 = value,
            None => {
                if let Some(p) = &mut map {
                    p.insert(key.clone(), entries.len());
                }
                entries.push((key, value));
            }
        }
    }
}

impl PartialEq for Object {
    /// JSON objects are equal regardless of key order.
    fn eq(&self, other: &Object) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if self.len() <= SCAN_MEMBERS_UP_TO {
            return self.iter().all(|(k, v)| other.get(k) == Some(v));
        }
        // Linear, not a scan of `other` per key.
        let at = positions(&other.entries);
        self.iter().all(|(k, v)| at.get(k).is_some_and(|&i| other.entries[i].1 == *v))
    }
}

impl FromIterator<(Key, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (Key, Value)>>(iter: I) -> Object {
        let mut o = Object::new();
        o.extend_replacing(iter);
        o
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => Arc::ptr_eq(a, b) || a == b,
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn string(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Arc::new(items))
    }

    pub fn object(o: Object) -> Value {
        Value::Object(Arc::new(o))
    }

    pub fn empty_object() -> Value {
        Value::object(Object::new())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Copy-on-write access to an object.
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(Arc::make_mut(o)),
            _ => None,
        }
    }

    /// Copy-on-write access to an array.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(Arc::make_mut(a)),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    pub fn is_boolean(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// Compact JSON text, byte for byte what `serde_json::to_string` writes.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(64);
        self.write_json(&mut out);
        // Only UTF-8 is ever written: strings are `str`, the rest ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Append compact JSON to `out`. A direct writer: the runtime serialises
    /// every output, and serde's generic serializer spent ~20 instructions
    /// a byte here.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_member(x, out);
                }
                out.push(b']');
            }
            Value::Object(o) => {
                out.push(b'{');
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_key(k, out);
                    write_member(x, out);
                }
                out.push(b'}');
            }
            scalar => write_member(scalar, out),
        }
    }
}

/// A member of a container: scalars are written here, without a call per
/// value (most members are scalars); only containers recurse.
#[inline(always)]
fn write_member(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(_) | Value::Object(_) => v.write_json(out),
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        // Most payload integers are small (indexes, counts, readings):
        // written without a digit buffer and a variable-length copy.
        if u < 100 {
            let u = u as u8;
            if u < 10 {
                out.push(b'0' + u);
            } else {
                out.extend_from_slice(&[b'0' + u / 10, b'0' + u % 10]);
            }
        } else {
            out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
        }
    } else if let Some(i) = n.as_i64() {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else if let Some(f) = n.as_f64() {
        // serde_json's own formatter for floats (its `Display` calls the
        // same), so the text stays identical to its output, without the
        // `fmt` machinery a `write!` costs.
        out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
    } else {
        write_number_text(n, out);
    }
}

/// Not reached without serde_json's `arbitrary_precision`.
#[cold]
#[inline(never)]
fn write_number_text(n: &Number, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let _ = write!(out, "{n}");
}

/// Bytes that must be escaped in a JSON string: `"`, `\\` and controls.
const ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The bytes of `x` that need escaping in a JSON string (a quote, a
/// backslash or a control character), each marked by its top bit (SWAR).
/// Exact: a byte is marked only if it is one of them, so the lowest mark is
/// the first such byte (the parser finds a string's end with it).
#[inline]
pub(crate) fn special_bytes(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // Exact zero-byte test: (((v & 0x7f..) + 0x7f..) | v) has a byte's top
    // bit clear exactly where the byte is zero; no carry crosses bytes.
    let zero = |v: u64| !((((v & LOW7).wrapping_add(LOW7)) | v) | LOW7);
    // Bytes below 0x20: bits 5 to 7 clear.
    let control = !(((x & (ONES * 0x60)).wrapping_add(ONES * 0x60)) | x | LOW7);
    zero(x ^ (ONES * b'"' as u64)) | zero(x ^ (ONES * b'\\' as u64)) | control
}

/// Whether `bytes` can be written between quotes as they are (no `"`, `\\`
/// or control character): true of nearly every key and most values.
pub(crate) fn is_plain_json(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if special_bytes(u64::from_le_bytes(word)) != 0 {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| ESCAPE[b as usize])
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    if is_plain_json(s.as_bytes()) {
        write_plain(s.as_bytes(), out);
    } else {
        write_escaped(s.as_bytes(), out);
    }
}

/// An object key: interned keys know whether they need escaping.
fn write_key(k: &Key, out: &mut Vec<u8>) {
    if let Some(member) = k.json_member() {
        out.extend_from_slice(member);
    } else {
        write_string(k, out);
        out.push(b':');
    }
}

#[inline]
fn write_plain(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

#[cold]
fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if ESCAPE[b as usize] {
            out.extend_from_slice(&bytes[start..i]);
            write_escape(b, out);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_escape(b: u8, out: &mut Vec<u8>) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        c => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 0xf) as usize]);
        }
    }
}

macro_rules! from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
from_number!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(a) => Value::array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::object(o.iter().map(|(k, v)| (Key::intern(k), Value::from(v))).collect())
            }
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        Value::from(&v)
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> serde_json::Value {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(serde_json::Value::from).collect()),
            Value::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v))).collect())
            }
        }
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> serde_json::Value {
        serde_json::Value::from(&v)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a.iter() {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Value::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o.iter() {
                    map.serialize_entry(&**k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Parse JSON bytes into a [`Value`] (one pass: `value/parse.rs`).
pub fn from_slice(bytes: &[u8]) -> Result<Value, ParseError> {
    from_slice_bounded(bytes).map(|(v, _)| v)
}

/// Why a payload is not JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// [`from_slice`], with an upper bound on the value's measure found while
/// building it, so that the engine need not walk a parsed input to learn
/// it. Compact text is never longer than the text it was parsed from, but
/// for numbers (`1e2` is written `100.0`): each counts as its longest text.
/// The depth is exact unless a key repeats (an upper bound then: the
/// earlier value, replaced, may have been deeper).
pub fn from_slice_bounded(bytes: &[u8]) -> Result<(Value, crate::bounds::Measure), ParseError> {
    parse::parse(bytes)
}

/// Strings in the order of their UTF-16 code units: JavaScript's (JSONata's
/// comparisons and sorts) and Java's `String.compareTo` (a JSONPath Choice
/// rule's `String*` comparisons on AWS), where Rust's is by bytes (code
/// points). The two differ only where the first differing characters are
/// one from U+E000 to U+FFFF and one past U+FFFF, which UTF-16 writes as a
/// surrogate pair (0xD800…) and so puts first.
pub fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // The shared prefix is whole characters up to its last boundary, in both.
    let start = (0..=common).rev().find(|&i| a.is_char_boundary(i)).unwrap_or(0);
    match (a[start..].chars().next(), b[start..].chars().next()) {
        (Some(x), Some(y)) => {
            let (mut x16, mut y16) = ([0u16; 2], [0u16; 2]);
            (*x.encode_utf16(&mut x16)).cmp(&*y.encode_utf16(&mut y16))
        }
        _ => a.len().cmp(&b.len()),
    }
}

/// A string built by `build` in a buffer reused between calls on this
/// thread: one allocation, the result's. A nested call takes a buffer of
/// its own (the shared one is borrowed while `build` runs); one grown past
/// 64 KiB is not kept.
pub(crate) fn text_in_scratch<E>(build: impl FnOnce(&mut String) -> Result<(), E>) -> Result<Arc<str>, E> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    const KEEP: usize = 64 * 1024;
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            let result = build(&mut out).map(|()| Arc::from(out.as_str()));
            if out.capacity() > KEEP {
                *out = String::new();
            }
            result
        }
        Err(_) => {
            let mut out = String::new();
            build(&mut out).map(|()| Arc::from(out.as_str()))
        }
    })
}

/// Parse JSON text into a [`Value`].
pub fn from_str(text: &str) -> Result<Value, ParseError> {
    parse::parse_text(text).map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bulk inserts (a map past 32 members) give what one `insert` after
    /// another gives: a replaced key keeps its first position and takes the
    /// last value; equality ignores order at every size.
    #[test]
    fn bulk_inserts_and_equality_match_the_plain_scan_at_every_size() {
        let key = |i: u64| Key::from(format!("k{}", i % 97).as_str());
        for n in [0u64, 5, 31, 32, 33, 40, 200, 1000] {
            // Keys repeat (i % 97), so large runs replace as well as append.
            let items: Vec<(Key, Value)> = (0..n).map(|i| (key(i * 7 + n), Value::from(i))).collect();
            let mut plain = Object::new();
            for (k, v) in items.iter().cloned() {
                plain.insert(k, v);
            }
            let mut bulk = Object::new();
            bulk.extend_replacing(items.iter().cloned());
            let collected: Object = items.iter().cloned().collect();
            let order = |o: &Object| o.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
            assert_eq!(order(&bulk), order(&plain), "{n} items");
            assert_eq!(order(&collected), order(&plain), "{n} items");
            // An iterator with no upper bound on its length takes the map's
            // path at any size.
            let mut unbounded = Object::new();
            let mut next = items.iter().cloned();
            unbounded.extend_replacing(std::iter::from_fn(|| next.next()));
            assert_eq!(order(&unbounded), order(&plain), "{n} items");

            let mut members: Vec<(Key, Value)> = plain.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            members.reverse();
            let reversed: Object = members.into_iter().collect();
            assert!(reversed == plain, "{n} items: equal in any order");
            if let Some((k, _)) = plain.iter().last() {
                let mut changed = plain.clone();
                changed.insert(k.clone(), Value::from("other"));
                assert!(changed != plain, "{n} items: one value differs");
            }
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        let floats =
            [0.1, -0.0, 71.5, 1e300, -1e-300, 5e-324, 1.7976931348623157e308, 1.5e-7, 123456789.125, 1e21, 1e15];
        let integers: [serde_json::Number; 10] =
            [0u64, 9, 10, 99, 100, 1_700_000_000, u64::MAX, 42, 7, 1_000_000].map(serde_json::Number::from);
        let negative = [-1i64, -10, -99, -100, i64::MIN].map(serde_json::Number::from);
        let numbers = floats.iter().filter_map(|&f| serde_json::Number::from_f64(f)).chain(integers).chain(negative);
        for n in numbers {
            let mut out = Vec::new();
            Value::Number(n.clone()).write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&n).unwrap());
        }
    }

    #[test]
    fn a_parsed_values_bound_is_never_below_its_measure() {
        for text in [
            r#"{"b":1,"a":[true,null,"x",1.5],"c":{"z":{},"y":[]}}"#,
            r#"[1e2, 1E-7, -0, 0.1e1, 5e-324, 1.7976931348623157e308, 18446744073709551615]"#,
            r#"{"k": "\u00e9\ud83d\ude00\/\n\u0001", "k": [[[]]], "\u0041": "\""}"#,
            "  [ 1 ,\n 2 ]  ",
            r#""just a string""#,
            "3",
            "[[[[[[[[[[{}]]]]]]]]]]",
        ] {
            let (v, bound) = from_slice_bounded(text.as_bytes()).unwrap();
            let exact = crate::bounds::check(&v).unwrap();
            assert!(bound.bytes >= exact.bytes, "{text}: {bound:?} < {exact:?}");
            assert!(bound.depth >= exact.depth, "{text}");
            if !text.contains(r#""k""#) {
                assert_eq!(bound.depth, exact.depth, "{text}: without a repeated key the depth is exact");
            }
        }
    }

    #[test]
    fn round_trips_and_keeps_key_order() {
        let text = r#"{"b":1,"a":[true,null,"x",1.5],"c":{"z":{},"y":[]}}"#;
        let v = from_str(text).unwrap();
        assert_eq!(v.to_json(), text);
        let sj: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(Value::from(&sj), v);
        assert_eq!(serde_json::Value::from(&v), sj);
    }

    #[test]
    fn writes_exactly_what_serde_json_writes() {
        let texts = [
            r#"{"s":"quote \" backslash \\ nl \n tab \t bell \u0007 del \u007f é ☃","n":[0,-1,18446744073709551615,-9223372036854775808,1.5,1e-7,1.0e20,3.0]}"#,
            r#"[null,true,false,{},[],""]"#,
            r#"["0123456789abcdef\"0123456789", "\u001f\u0000 plain ascii text that is long", "ünïcödé text ☃ over eight bytes\\"]"#,
        ];
        for t in texts {
            let sj: serde_json::Value = serde_json::from_str(t).unwrap();
            let ours = Value::from(&sj);
            assert_eq!(ours.to_json(), serde_json::to_string(&sj).unwrap());
        }
    }

    #[test]
    fn parse_agrees_with_serde_json() {
        let texts = [
            r#"{"b":1,"a":[true,null,"x\n\u00e9\"",1.5,-3,18446744073709551615],"c":{"z":{},"y":[]},"b":2}"#,
            r#"[]"#,
            r#""just a string""#,
            r#"12.5e3"#,
            r#"[{"k":1},{"k":2},{"k":3}]"#,
        ];
        for t in texts {
            let sj: serde_json::Value = serde_json::from_str(t).unwrap();
            assert_eq!(from_slice(t.as_bytes()).unwrap(), Value::from(&sj), "{t}");
        }
        for bad in ["{", "[1,]", "{\"a\" 1}", "nul", ""] {
            assert!(from_slice(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn objects_compare_regardless_of_order_and_insert_replaces_in_place() {
        let a = from_str(r#"{"x":1,"y":2}"#).unwrap();
        let b = from_str(r#"{"y":2,"x":1}"#).unwrap();
        assert_eq!(a, b);
        let mut o = Object::new();
        o.insert("k", Value::from(1));
        o.insert("j", Value::from(2));
        o.insert("k", Value::from(3));
        assert_eq!(Value::object(o).to_json(), r#"{"k":3,"j":2}"#);
    }

    #[test]
    fn writes_copy_only_what_they_change() {
        let original = from_str(r#"{"a":{"deep":[1,2,3]},"b":1}"#).unwrap();
        let mut copy = original.clone();
        copy.as_object_mut().unwrap().insert("b", Value::from(2));
        assert_eq!(original.get("b"), Some(&Value::from(1)));
        match (original.get("a"), copy.get("a")) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => assert!(Arc::ptr_eq(x, y)),
            other => panic!("{other:?}"),
        }
    }
}
