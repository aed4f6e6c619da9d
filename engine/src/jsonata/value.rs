//! Values as JSONata sees them while it evaluates.
//!
//! JSONata is defined over JavaScript values: `undefined` is distinct from
//! `null`, every number is an `f64`, arrays carry flags (is this a sequence?
//! keep it as an array when it holds one item?) and functions are values.
//! [`V`] mirrors that, so the evaluator can follow jsonata-js step by step;
//! [`V::from_json`] and [`V::to_json_within`] cross to the engine's [`Value`].

use crate::value::{Key, Object, Value};
use std::borrow::Cow;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use super::eval::Func;

#[derive(Clone, Default)]
pub enum V {
    #[default]
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(Arc<str>),
    Arr(Rc<Arr>),
    Obj(Rc<Obj>),
    Func(Rc<Func>),
    /// One tuple of a tuple stream (`@`, `#` and `%` bind names per item).
    Tuple(Rc<Obj>),
    /// An engine array or object, converted only as far as it is read:
    /// `$states.input.deviceId` copies nothing. [`V::norm`] expands it.
    Json(Value),
}

/// An array, with jsonata-js's flags.
#[derive(Default)]
pub struct Arr {
    pub items: Vec<V>,
    /// A sequence is the result of a path: one item stands for itself.
    pub sequence: bool,
    pub keep_singleton: Cell<bool>,
    /// Built by an array constructor `[…]`: never flattened into a path.
    pub cons: Cell<bool>,
    pub outer_wrapper: bool,
    pub tuple_stream: bool,
}

pub type Obj = Vec<(Key, V)>;

pub fn obj_get<'a>(o: &'a Obj, key: &str) -> Option<&'a V> {
    o.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
}

pub fn obj_set(o: &mut Obj, key: Key, value: V) {
    match o.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => o.push((key, value)),
    }
}

impl Arr {
    pub fn seq(items: Vec<V>) -> Arr {
        Arr { items, sequence: true, ..Arr::default() }
    }
    pub fn plain(items: Vec<V>) -> Arr {
        Arr { items, ..Arr::default() }
    }
}

impl V {
    pub fn seq(items: Vec<V>) -> V {
        V::Arr(Rc::new(Arr::seq(items)))
    }
    pub fn array(items: Vec<V>) -> V {
        V::Arr(Rc::new(Arr::plain(items)))
    }
    pub fn object(o: Obj) -> V {
        V::Obj(Rc::new(o))
    }
    pub fn is_undef(&self) -> bool {
        matches!(self, V::Undef)
    }
    pub fn is_func(&self) -> bool {
        matches!(self, V::Func(_))
    }
    pub fn is_sequence(&self) -> bool {
        matches!(self, V::Arr(a) if a.sequence)
    }
    /// An array, converted or not.
    pub fn is_array_like(&self) -> bool {
        matches!(self, V::Arr(_) | V::Json(Value::Array(_)))
    }
    /// The number of items of an array, converted or not.
    pub fn item_count(&self) -> Option<usize> {
        match self {
            V::Arr(a) => Some(a.items.len()),
            V::Json(Value::Array(a)) => Some(a.len()),
            _ => None,
        }
    }
    /// This value with a lazily converted container expanded one level.
    pub fn norm(&self) -> Cow<'_, V> {
        match self {
            V::Json(Value::Array(a)) => Cow::Owned(V::array(a.iter().map(V::from_json).collect())),
            V::Json(Value::Object(o)) => {
                Cow::Owned(V::object(o.iter().map(|(k, v)| (k.clone(), V::from_json(v))).collect()))
            }
            V::Json(other) => Cow::Owned(V::from_json(other)),
            v => Cow::Borrowed(v),
        }
    }
    pub fn into_norm(self) -> V {
        match self {
            V::Json(_) => self.norm().into_owned(),
            v => v,
        }
    }
    /// A finite number (JSONata's `isNumeric`).
    pub fn num(&self) -> Option<f64> {
        match self {
            V::Num(n) if n.is_finite() => Some(*n),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s),
            _ => None,
        }
    }
    /// jsonata-js `createSequence(x)`: `[]` for undefined, `[x]` otherwise.
    pub fn to_items(&self) -> Vec<V> {
        match self {
            V::Undef => Vec::new(),
            V::Arr(a) => a.items.clone(),
            V::Json(Value::Array(a)) => a.iter().map(V::from_json).collect(),
            v => vec![v.clone()],
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            V::Undef => "undefined",
            V::Null => "null",
            V::Bool(_) => "boolean",
            V::Num(_) => "number",
            V::Str(_) => "string",
            V::Arr(_) | V::Json(Value::Array(_)) => "array",
            V::Obj(_) | V::Tuple(_) | V::Json(_) => "object",
            V::Func(_) => "function",
        }
    }

    pub fn from_json(v: &Value) -> V {
        match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => V::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => V::Str(s.clone()),
            Value::Array(_) | Value::Object(_) => V::Json(v.clone()),
        }
    }

    /// The JSON this value stands for; `None` for `undefined`. Functions
    /// become `""` as `$string` renders them (JSON has no functions).
    /// The engine value of one at most `levels` deep; `Err` for a deeper
    /// one (an expression can build one in a loop), before recursing past it.
    pub fn to_json_within(&self, levels: usize) -> Result<Option<Value>, Depth> {
        Ok(Some(match self {
            V::Undef => return Ok(None),
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Num(n) => number_value(*n),
            V::Str(s) => Value::String(s.clone()),
            V::Arr(_) | V::Obj(_) | V::Tuple(_) if levels == 0 => return Err(Depth),
            V::Arr(a) => {
                let mut out = Vec::with_capacity(a.items.len());
                for item in &a.items {
                    out.extend(item.to_json_within(levels - 1)?);
                }
                Value::array(out)
            }
            V::Obj(o) | V::Tuple(o) => {
                let mut out = Object::with_capacity(o.len());
                for (k, v) in o.iter() {
                    if let Some(v) = v.to_json_within(levels - 1)? {
                        out.push_unique(k.clone(), v);
                    }
                }
                Value::object(out)
            }
            V::Func(_) => Value::string(""),
            V::Json(v) => v.clone(),
        }))
    }
}

/// A value nested deeper than it may be.
#[derive(Debug, Default)]
pub struct Depth;

/// A whole number below this in magnitude becomes an engine integer when
/// converted back to JSON ([`number_value`]); text is another matter
/// ([`whole_number`]'s limit is JavaScript's for digits without exponent).
pub const INTEGER_VALUE_LIMIT: u64 = 9_000_000_000_000_000;

/// A JSON number for an `f64`, integral values as integers (`1`, not `1.0`),
/// which is how JavaScript writes them.
pub fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < INTEGER_VALUE_LIMIT as f64 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// Deep equality as JSONata's `=` (`isDeepEqual`).
pub fn deep_equal(a: &V, b: &V) -> bool {
    if matches!(a, V::Json(_)) || matches!(b, V::Json(_)) {
        if let (V::Json(x), V::Json(y)) = (a, b) {
            return json_equal(x, y);
        }
        return deep_equal(&a.norm(), &b.norm());
    }
    match (a, b) {
        (V::Undef, V::Undef) | (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Num(x), V::Num(y)) => x == y,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Arr(x), V::Arr(y)) => {
            x.items.len() == y.items.len() && x.items.iter().zip(y.items.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (V::Obj(x), V::Obj(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| obj_get(y, k).is_some_and(|w| deep_equal(v, w)))
        }
        (V::Func(x), V::Func(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

/// Deep equality of engine values as JavaScript sees them: numbers by their
/// value (`1` and `1.0` are one number), objects whatever their key order.
fn json_equal(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            Arc::ptr_eq(a, b) || (a.len() == b.len() && a.iter().zip(b.iter()).all(|(p, q)| json_equal(p, q)))
        }
        (Value::Object(a), Value::Object(b)) => {
            Arc::ptr_eq(a, b)
                || (a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| json_equal(v, w))))
        }
        _ => x == y,
    }
}

/// JavaScript's text for a whole number below 10^15, written into `buf`:
/// its digits (`-0` is `0`). `None` for any other number.
pub fn whole_number(n: f64, buf: &mut itoa::Buffer) -> Option<&str> {
    (n.fract() == 0.0 && n.abs() < 1e15).then(|| buf.format(n as i64))
}

/// JavaScript's `Number.prototype.toString()`.
pub fn js_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if let Some(digits) = whole_number(n, &mut itoa::Buffer::new()) {
        return digits.to_string();
    }
    let sci = format!("{n:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len() as i32;
    let point = exp + 1;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if k <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if point > 0 { '+' } else { '-' });
        out.push_str(&(point - 1).abs().to_string());
    }
    out
}

/// `Number(n.toPrecision(15))`: how `$string` rounds away float noise.
pub fn round15(n: f64) -> f64 {
    format!("{n:.14e}").parse().unwrap_or(n)
}

/// `JSON.stringify` with `$string`'s number rounding; `indent` > 0 pretty-prints.
pub fn stringify(v: &V, indent: usize) -> String {
    let mut out = String::new();
    write_json(v, indent, 0, &mut out);
    out
}

fn write_json(v: &V, indent: usize, level: usize, out: &mut String) {
    match v {
        V::Json(_) => write_json(&v.norm(), indent, level, out),
        V::Undef | V::Func(_) => out.push_str(if level == 0 { "" } else { "null" }),
        V::Null => out.push_str("null"),
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Num(n) => {
            if n.is_finite() {
                // Integers print whole; other numbers lose float noise.
                out.push_str(&js_number(if n.fract() == 0.0 { *n } else { round15(*n) }))
            } else {
                out.push_str("null")
            }
        }
        V::Str(s) => quote(s, out),
        V::Arr(a) => {
            out.push('[');
            for (i, item) in a.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, level + 1, out);
                match item {
                    V::Undef | V::Func(_) => out.push_str(if matches!(item, V::Func(_)) { "\"\"" } else { "null" }),
                    _ => write_json(item, indent, level + 1, out),
                }
            }
            if !a.items.is_empty() {
                newline(indent, level, out);
            }
            out.push(']');
        }
        V::Obj(o) | V::Tuple(o) => {
            out.push('{');
            let mut first = true;
            for (k, val) in o.iter() {
                if val.is_undef() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                newline(indent, level + 1, out);
                quote(k, out);
                out.push(':');
                if indent > 0 {
                    out.push(' ');
                }
                if val.is_func() {
                    out.push_str("\"\"");
                } else {
                    write_json(val, indent, level + 1, out);
                }
            }
            if !first {
                newline(indent, level, out);
            }
            out.push('}');
        }
    }
}

fn newline(indent: usize, level: usize, out: &mut String) {
    if indent > 0 {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent * level));
    }
}

pub fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_does() {
        assert_eq!(js_number(1.0), "1");
        assert_eq!(js_number(-0.5), "-0.5");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(1e20), "100000000000000000000");
        assert_eq!(js_number(1.5e-7), "1.5e-7");
        assert_eq!(js_number(0.000001), "0.000001");
        assert_eq!(js_number(123.456), "123.456");
        assert_eq!(js_number(round15(0.1 + 0.2)), "0.3");
    }
}
