//! The bounds every value an execution builds must keep: AWS's payload
//! limit on its JSON text, and a nesting depth that no recursive pass over
//! a value (write, compare, drop, path scan) can overflow a shard thread's
//! 2 MiB stack with.
//!
//! A value within both can be measured, written, compared and dropped
//! recursively; [`check`] itself recurses at most [`MAX_DEPTH`] levels and
//! visits at most one node per byte of the limit, however much of the value
//! is shared (a value built by doubling is a small graph but a huge text).

use crate::value::{Value, is_plain_json};

/// AWS's payload limit: 256 KiB of UTF-8 JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// The deepest nesting of arrays and objects a value may have (`[]` is 1,
/// `[[1]]` 2). AWS states none; this one leaves every recursive pass over
/// a value ample room on a 2 MiB stack (see `tests/value_bounds.rs`).
pub const MAX_DEPTH: usize = 512;

/// Which bound a value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// Its JSON text is longer than [`MAX_PAYLOAD_BYTES`].
    Size,
    /// It nests deeper than [`MAX_DEPTH`].
    Depth,
}

/// What [`check`] found of a value within the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The length of its compact JSON text (as `Value::to_json` writes it).
    pub bytes: usize,
    /// Its nesting depth: 0 for a scalar, 1 for `[]`.
    pub depth: usize,
}

impl Measure {
    /// `{}`'s.
    pub const EMPTY_OBJECT: Measure = Measure { bytes: 2, depth: 1 };
    /// Any number's, at most ([`MAX_NUMBER_LEN`]).
    pub const NUMBER: Measure = Measure { bytes: MAX_NUMBER_LEN, depth: 0 };

    /// Is a value of this measure within both bounds? For an upper bound:
    /// `true` proves the value is; `false` proves nothing (measure it).
    pub fn fits(self) -> bool {
        self.bytes <= MAX_PAYLOAD_BYTES && self.depth <= MAX_DEPTH
    }
}

/// The longest JSON text of a number: 20 characters for any 64-bit
/// integer, 24 for the shortest round-trip form of any `f64`
/// (`-2.2250738585072014e-308`).
pub const MAX_NUMBER_LEN: usize = 24;

/// Strings up to this many bytes are bounded without being read.
const UNREAD_STRING_LEN: usize = 32;

/// An upper bound on a scalar's measure, found without reading it where
/// that is cheaper than exactness matters: a number counts as its longest
/// text, a short string as if each byte were escaped (`\u00XX`), a longer
/// one is scanned once for escapes. `None` for an array or object.
///
/// Loose bounds only ever add up to a sum that fails [`Measure::fits`]
/// sooner, and a value whose bound does not fit is measured exactly: a
/// state never fails for a loose bound, it only pays the walk.
#[inline]
pub fn scalar(v: &Value) -> Option<Measure> {
    let bytes = match v {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(_) => MAX_NUMBER_LEN,
        Value::String(s) if s.len() <= UNREAD_STRING_LEN => 6 * s.len() + 2,
        Value::String(s) => string_len(s),
        Value::Array(_) | Value::Object(_) => return None,
    };
    Some(Measure { bytes, depth: 0 })
}

/// An upper bound on `v`'s measure: [`scalar`]'s, else `container`
/// (a bound its caller knows, e.g. that of the value it was selected
/// from), else measured. `None` where `v` breaks a bound.
pub fn bound(v: &Value, container: Option<Measure>) -> Option<Measure> {
    scalar(v).or(container).or_else(|| check(v).ok())
}

/// An upper bound on `v`'s measure that reads no number and no short
/// string ([`scalar`]'s bound for each), for a value built by an
/// expression; exact in depth. `None` past the depth limit, or once the
/// bound passes the size limit (which a value of many numbers or short
/// strings may do while it fits: its caller then measures it exactly, a
/// second walk). Visits at most one node per byte of the limit, as
/// [`check`] does, however much of the value is shared.
pub fn loose(v: &Value) -> Option<Measure> {
    let mut left = MAX_PAYLOAD_BYTES;
    let depth = walk(v, 0, &mut left, |leaf| scalar(leaf).map_or(0, |m| m.bytes)).ok()?;
    Some(Measure { bytes: MAX_PAYLOAD_BYTES - left, depth })
}

/// Upper bounds on the measure of an array or object being built from
/// parts whose bounds are known: the sum of its parts and punctuation.
#[derive(Debug, Clone, Copy)]
pub struct Sum {
    bytes: usize,
    inner_depth: usize,
    parts: usize,
}

impl Sum {
    pub fn new() -> Sum {
        Sum { bytes: 2, inner_depth: 0, parts: 0 }
    }

    /// Add an item (`member` = 0) or a member (`member` = the length of
    /// its `"key":`).
    pub fn add(&mut self, member: usize, part: Measure) {
        self.bytes = self.bytes.saturating_add(member + usize::from(self.parts > 0)).saturating_add(part.bytes);
        self.inner_depth = self.inner_depth.max(part.depth);
        self.parts += 1;
    }

    pub fn total(self) -> Measure {
        Measure { bytes: self.bytes, depth: self.inner_depth + 1 }
    }
}

/// `sum` with a part added; `None` once a part's bound is unknown.
pub fn add_part(sum: Option<Sum>, member: usize, part: Option<Measure>) -> Option<Sum> {
    let (mut sum, part) = (sum?, part?);
    sum.add(member, part);
    Some(sum)
}

impl Default for Sum {
    fn default() -> Sum {
        Sum::new()
    }
}

/// A running measure of the values gathered into one array (a Map's or a
/// Parallel's results), so that gathering stops as soon as they cannot fit
/// in one payload. A record whose iterations each return a large value
/// would otherwise hold many payloads' worth in memory before the array is
/// measured. Cheap while the values' bounds show they fit; exact (each
/// value walked once, within the limit) from the first time they do not.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Upper bounds, or exact measures once `exact`: each value's bytes and
    /// its comma (or the opening bracket).
    bytes: usize,
    exact: bool,
}

impl Gathered {
    /// Count `next`, gathered after `earlier`: false once the array of all
    /// of them is certainly over the size limit. Failures' error outputs
    /// are small and not counted.
    pub fn add_outcome(&mut self, next: &crate::vm::Outcome, earlier: &[crate::vm::Outcome]) -> bool {
        let Some(v) = next.succeeded() else { return true };
        self.add(v, None, earlier.iter().filter_map(crate::vm::Outcome::succeeded))
    }

    /// [`Gathered::add_outcome`] for a value whose measure may be known.
    #[inline]
    pub fn add<'a>(&mut self, next: &Value, known: Option<Measure>, earlier: impl Iterator<Item = &'a Value>) -> bool {
        if self.exact {
            return self.add_exact(next);
        }
        let part = match known {
            Some(m) => m.bytes,
            None => bound(next, None).map_or(MAX_PAYLOAD_BYTES, |m| m.bytes),
        };
        self.bytes += part + 1;
        self.bytes < MAX_PAYLOAD_BYTES || self.measure_exactly(next, earlier)
    }

    /// The bounds no longer show the array fits: measure what is gathered
    /// exactly, once.
    #[cold]
    fn measure_exactly<'a>(&mut self, next: &Value, earlier: impl Iterator<Item = &'a Value>) -> bool {
        self.exact = true;
        self.bytes = 0;
        for v in earlier {
            if !self.add_exact(v) {
                return false;
            }
        }
        self.add_exact(next)
    }

    fn add_exact(&mut self, v: &Value) -> bool {
        match check(v) {
            Ok(m) => {
                self.bytes += m.bytes + 1;
                // The array's text: every value and comma, and `]`.
                self.bytes < MAX_PAYLOAD_BYTES
            }
            Err(_) => false,
        }
    }
}

/// The length of an object key's `"key":` as the writer writes it.
pub fn member_len(k: &crate::value::Key) -> usize {
    k.json_member().map_or_else(|| string_len(k) + 1, <[u8]>::len)
}

/// Measure `v`, or say which bound it breaks; stops as soon as one is.
pub fn check(v: &Value) -> Result<Measure, Exceeded> {
    let mut left = MAX_PAYLOAD_BYTES;
    let depth = walk(v, 0, &mut left, scalar_len)?;
    Ok(Measure { bytes: MAX_PAYLOAD_BYTES - left, depth })
}

/// Is `v` within both bounds?
pub fn within(v: &Value) -> bool {
    check(v).is_ok()
}

#[inline]
fn take(left: &mut usize, n: usize) -> Result<usize, Exceeded> {
    *left = left.checked_sub(n).ok_or(Exceeded::Size)?;
    Ok(0)
}

/// The length of a scalar's JSON text (0 for an array or object).
fn scalar_len(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => number_len(n),
        Value::String(s) => string_len(s),
        Value::Array(_) | Value::Object(_) => 0,
    }
}

/// Count `v` (at nesting `depth`) against `left`, each scalar as
/// `leaf_len` says; returns its own depth.
fn walk(
    v: &Value,
    depth: usize,
    left: &mut usize,
    leaf_len: impl Fn(&Value) -> usize + Copy,
) -> Result<usize, Exceeded> {
    match v {
        Value::Array(a) => {
            if depth >= MAX_DEPTH {
                return Err(Exceeded::Depth);
            }
            // Brackets, and a comma between items.
            take(left, 2 + a.len().saturating_sub(1))?;
            let mut inner = 0;
            for x in a.iter() {
                inner = inner.max(walk(x, depth + 1, left, leaf_len)?);
            }
            Ok(inner + 1)
        }
        Value::Object(o) => {
            if depth >= MAX_DEPTH {
                return Err(Exceeded::Depth);
            }
            take(left, 2 + o.len().saturating_sub(1))?;
            let mut inner = 0;
            for (k, x) in o.iter() {
                // `"key":`: interned keys know their framed length.
                take(left, member_len(k))?;
                inner = inner.max(walk(x, depth + 1, left, leaf_len)?);
            }
            Ok(inner + 1)
        }
        scalar => take(left, leaf_len(scalar)),
    }
}

/// The length of a number's JSON text: integers by their digit count,
/// as `itoa` writes them.
fn number_len(n: &serde_json::Number) -> usize {
    if let Some(u) = n.as_u64() {
        decimal_digits(u)
    } else if let Some(i) = n.as_i64() {
        1 + decimal_digits(i.unsigned_abs())
    } else {
        // Floats are rare: count what the writer would write.
        struct Count(usize);
        impl std::fmt::Write for Count {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0 += s.len();
                Ok(())
            }
        }
        let mut c = Count(0);
        let _ = std::fmt::write(&mut c, format_args!("{n}"));
        c.0
    }
}

fn decimal_digits(u: u64) -> usize {
    u.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// A string's length in JSON, quotes and escapes included.
pub fn string_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    if is_plain_json(bytes) {
        return bytes.len() + 2;
    }
    bytes.len()
        + 2
        + bytes
            .iter()
            .map(|&b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                c if c < 0x20 => 5,
                _ => 0,
            })
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::from_str;

    #[test]
    fn measures_exactly_what_the_writer_writes() {
        for text in [
            r#"{"b":1,"a":[true,null,"x",1.5,-3,18446744073709551615],"c":{"z":{},"y":[]}}"#,
            r#"["quote \" backslash \\ nl \n \u0007 é ☃",1e-7,1.0e20,{"k\"ey":false}]"#,
            r#"[0,9,10,99,100,-1,-9,-10,-99,9223372036854775807,-9223372036854775808,18446744073709551615]"#,
            r#"[1e300,-0.0,0.1,123456.789,-2.5e-300]"#,
            r#"[]"#,
            r#""s""#,
            r#"0"#,
        ] {
            let v = from_str(text).unwrap();
            assert_eq!(check(&v).map(|m| m.bytes), Ok(v.to_json().len()), "{text}");
        }
    }

    #[test]
    fn a_sum_of_parts_bounds_the_container_built_of_them() {
        let v = from_str(r#"{"a":[1,"x"],"bb":{"c":null}}"#).unwrap();
        let Value::Object(o) = &v else { unreachable!() };
        let mut sum = Sum::new();
        for (k, x) in o.iter() {
            sum.add(member_len(k), check(x).unwrap());
        }
        assert_eq!(Ok(sum.total()), check(&v));
        let mut items = Sum::new();
        items.add(0, Measure { bytes: 1, depth: 0 });
        items.add(0, check(&v).unwrap());
        assert_eq!(items.total(), Measure { bytes: 2 + 1 + 1 + v.to_json().len(), depth: 3 });
        for short in ["é\n", "", "\u{1}\"\\"] {
            let exact = check(&Value::from(short)).unwrap();
            assert!(
                bound(&Value::from(short), None).is_some_and(|b| b.bytes >= exact.bytes && b.depth == 0),
                "{short:?}"
            );
        }
        assert_eq!(bound(&v, Some(Measure { bytes: 99, depth: 9 })), Some(Measure { bytes: 99, depth: 9 }));
    }

    #[test]
    fn a_loose_bound_is_never_below_the_measure_and_its_depth_is_exact() {
        for text in [
            r#"{"b":1,"a":[true,null,"x",1.5,-3,18446744073709551615],"c":{"z":{},"y":[]}}"#,
            r#"["quote \" backslash \\ nl \n \u0007 é ☃",1e-7,1.0e20,{"k\"ey":false}]"#,
            r#"[[[[]]],{"a":{"b":{"c":"d"}}},"long string past thirty-two bytes \u0001 of text"]"#,
            "[]",
            "{}",
        ] {
            let v = from_str(text).unwrap();
            let exact = check(&v).unwrap();
            let b = loose(&v).unwrap();
            assert!(b.bytes >= exact.bytes && b.depth == exact.depth, "{text}: {b:?} < {exact:?}");
        }
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH + 1 {
            deep = Value::array(vec![deep]);
        }
        assert!(loose(&deep).is_none() && check(&deep).is_err());
        // Shared parts are counted each time they appear, and the walk
        // stops at the size limit.
        let part = from_str(&format!("[{}]", vec!["0"; 1000].join(","))).unwrap();
        let shared = Value::array(vec![part; 100_000]);
        assert!(loose(&shared).is_none() && check(&shared).is_err());
    }

    #[test]
    fn a_scalars_bound_is_never_below_its_measure() {
        let long = format!("\"{}\\n\\u0001\"", "x".repeat(40));
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-1",
            "18446744073709551615",
            "-9223372036854775808",
            "-2.2250738585072014e-308",
            "1.7976931348623157e308",
            "-4.9e-324",
            "1e300",
            "0.1",
            "-0.0",
            "123456789.12345678",
            "1.0e20",
            "1e21",
            "1e-7",
            "0.000001",
            "9007199254740993.5",
            r#""""#,
            r#""plain""#,
            r#""\u0000\u001f\"\\ é ☃""#,
            &long,
        ] {
            let v = from_str(text).unwrap();
            let exact = check(&v).unwrap();
            let b = scalar(&v).unwrap();
            assert!(b.bytes >= exact.bytes && b.depth == exact.depth, "{text}: {b:?} < {exact:?}");
        }
    }

    #[test]
    fn refuses_a_value_over_the_payload_limit_or_nested_too_deep() {
        let at_limit = Value::from("x".repeat(MAX_PAYLOAD_BYTES - 2));
        assert_eq!(check(&at_limit), Ok(Measure { bytes: MAX_PAYLOAD_BYTES, depth: 0 }));
        assert_eq!(check(&Value::from("x".repeat(MAX_PAYLOAD_BYTES - 1))), Err(Exceeded::Size));
        let mut v = Value::Null;
        for _ in 0..MAX_DEPTH {
            v = Value::array(vec![v]);
        }
        assert_eq!(check(&v).map(|m| m.depth), Ok(MAX_DEPTH));
        assert_eq!(check(&Value::array(vec![v])), Err(Exceeded::Depth));
    }

    #[test]
    fn a_doubled_value_is_refused_without_walking_all_of_it() {
        // 2^60 leaves as text; a few nodes in memory.
        let mut v = Value::from("abcdefgh");
        for _ in 0..60 {
            v = Value::array(vec![v.clone(), v]);
        }
        assert_eq!(check(&v), Err(Exceeded::Size));
    }
}
