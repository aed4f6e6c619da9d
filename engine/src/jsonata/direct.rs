//! Expressions evaluated directly, without an evaluator: reads of
//! variable paths (`$states.input.a.b`), literals, `&`, the comparisons and
//! `and`/`or` — the shape of most Choice conditions and composed keys in
//! JSONata state machines, where setting up an evaluation (scopes, limits,
//! sequences) costs more than the work.
//!
//! Each operator applies the evaluator's own rule for it, so a result is the
//! one the evaluator gives. Where anything is off that path — a read the
//! caller cannot make directly, an error of any kind — evaluation returns
//! `None` and the caller evaluates the usual way, which then reports the
//! error exactly as without this module.

use super::ast::{BinOp, Kind, Node};
use super::eval::{append_text, boolean, compare, concatenated, equality};
use super::value::V;
use crate::value::{Key, Value};
use std::sync::Arc;

/// An expression of reads `R`, literals and the operators above.
#[derive(Debug, Clone)]
pub enum DirectExpr<R> {
    Read(R),
    Literal(Literal),
    /// `a & b & c`, flattened.
    Concat(Vec<DirectExpr<R>>),
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`, `and`, `or`.
    Binary(BinOp, Box<DirectExpr<R>>, Box<DirectExpr<R>>),
}

#[derive(Debug, Clone)]
pub enum Literal {
    Str(Arc<str>),
    Num(f64),
    Bool(bool),
    Null,
}

/// What a read found: `None` where it cannot be read directly (the
/// evaluator then decides), `Some(None)` for `undefined`.
pub type Found = Option<Option<Value>>;

/// A node with nothing attached that the evaluator would apply after its
/// kind: no predicate, stage, grouping, binding or array flag.
fn is_bare(n: &Node) -> bool {
    n.is_plain_step()
        && !n.keep_singleton_array
        && n.ancestor.is_none()
        && n.label.is_none()
        && n.seeking_parent.is_empty()
}

/// `$name.a.b` — a variable then plain field names.
pub(super) fn variable_path(node: &Node) -> Option<(&str, Vec<Key>)> {
    let Kind::Path(steps) = &node.kind else { return None };
    if node.keep_singleton_array || node.group.is_some() || !node.predicate.is_empty() {
        return None;
    }
    if !steps.iter().all(Node::is_plain_step) {
        return None;
    }
    let (first, rest) = steps.split_first()?;
    let Kind::Variable(var) = &first.kind else { return None };
    let mut names = Vec::with_capacity(rest.len());
    for s in rest {
        let Kind::Name(n) = &s.kind else { return None };
        names.push(n.clone());
    }
    Some((var, names))
}

/// The direct form of `node`, each variable path turned into a read by
/// `read`; `None` where any part has no direct form. Recurses as deep as
/// the expression, which the parser bounds.
pub(super) fn of<R>(node: &Node, read: &mut impl FnMut(&str, &[Key]) -> Option<R>) -> Option<DirectExpr<R>> {
    if let Some((var, names)) = variable_path(node) {
        return read(var, &names).map(DirectExpr::Read);
    }
    if !is_bare(node) {
        return None;
    }
    Some(match &node.kind {
        Kind::Str(s) => DirectExpr::Literal(Literal::Str(s.clone())),
        Kind::Num(n) => DirectExpr::Literal(Literal::Num(*n)),
        Kind::Bool(b) => DirectExpr::Literal(Literal::Bool(*b)),
        Kind::Null => DirectExpr::Literal(Literal::Null),
        Kind::Binary(BinOp::Concat, l, r) => {
            let mut parts = Vec::new();
            for side in [l, r] {
                match of(side, read)? {
                    DirectExpr::Concat(inner) => parts.extend(inner),
                    part => parts.push(part),
                }
            }
            DirectExpr::Concat(parts)
        }
        Kind::Binary(
            op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::And | BinOp::Or),
            l,
            r,
        ) => DirectExpr::Binary(*op, Box::new(of(l, read)?), Box::new(of(r, read)?)),
        _ => return None,
    })
}

impl<R> DirectExpr<R> {
    /// The value, as the evaluator's result would be (`Some(None)`:
    /// `undefined`); `None`: evaluate the usual way.
    pub fn evaluate(&self, read: &mut impl FnMut(&R) -> Found) -> Found {
        let v = self.value(read)?;
        v.to_json_within(crate::bounds::MAX_DEPTH).ok()
    }

    fn value(&self, read: &mut impl FnMut(&R) -> Found) -> Option<V> {
        Some(match self {
            DirectExpr::Read(r) => read(r)?.as_ref().map_or(V::Undef, V::from_json),
            DirectExpr::Literal(Literal::Str(s)) => V::Str(s.clone()),
            DirectExpr::Literal(Literal::Num(n)) => V::Num(*n),
            DirectExpr::Literal(Literal::Bool(b)) => V::Bool(*b),
            DirectExpr::Literal(Literal::Null) => V::Null,
            DirectExpr::Concat(parts) => {
                // `None` from a read leaves the buffer as an error would.
                let mut direct = true;
                let text = concatenated(|out| {
                    for part in parts {
                        let Some(v) = part.value(read) else {
                            direct = false;
                            return Ok(());
                        };
                        append_text(&v, out)?;
                    }
                    Ok(())
                });
                match text {
                    Ok(text) if direct => V::Str(text),
                    _ => return None,
                }
            }
            DirectExpr::Binary(op @ (BinOp::And | BinOp::Or), l, r) => {
                let left = boolean(&l.value(read)?).unwrap_or(false);
                match (op, left) {
                    (BinOp::And, false) => V::Bool(false),
                    (BinOp::Or, true) => V::Bool(true),
                    _ => V::Bool(boolean(&r.value(read)?).unwrap_or(false)),
                }
            }
            DirectExpr::Binary(op @ (BinOp::Eq | BinOp::Ne), l, r) => equality(*op, &l.value(read)?, &r.value(read)?),
            DirectExpr::Binary(op, l, r) => compare(*op, &l.value(read)?, &r.value(read)?).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Environment, Expression, States};
    use super::*;

    /// `$states.input.a.b` as the names after `input`.
    fn input_path(var: &str, names: &[Key]) -> Option<Vec<Key>> {
        (var == "states" && names.first().is_some_and(|n| &**n == "input")).then(|| names[1..].to_vec())
    }

    /// As the engine reads directly: through objects only.
    fn read(input: &Value, names: &[Key]) -> Found {
        let mut cur = input;
        for n in names {
            cur = match cur {
                Value::Object(o) => match o.get(n) {
                    Some(v) => v,
                    None => return Some(None),
                },
                Value::Array(_) => return None,
                _ => return Some(None),
            };
        }
        Some(Some(cur.clone()))
    }

    fn usual(e: &Expression, input: &Value) -> Result<Option<Value>, &'static str> {
        let states = States { input, result: None, error_output: None, context: None, map_item: None };
        e.evaluate(Some(input), Environment { states: Some(states), ..Environment::default() }).map_err(|e| e.code)
    }

    const EXPRESSIONS: &[&str] = &[
        "$states.input.a & '#' & $states.input.b",
        "$states.input.a & $states.input.b.c & 1.5 & true & null",
        "$states.input.a = $states.input.b",
        "$states.input.a != $states.input.b",
        "$states.input.a < $states.input.b",
        "$states.input.a <= 80.5",
        "$states.input.a > 80",
        "$states.input.a >= 'abc'",
        "$states.input.a = 'abc' or $states.input.b = true",
        "$states.input.a > 1 and $states.input.b < 'm'",
        "$states.input.a and $states.input.b",
        "$states.input.a = null or $states.input.c != 3",
    ];

    const INPUTS: &[&str] = &[
        r#"{"a": 81, "b": "x", "c": 3}"#,
        r#"{"a": 80.5, "b": 80.5}"#,
        r#"{"a": "abc", "b": "abd"}"#,
        r#"{"a": [1, 2], "b": {"c": [1]}}"#,
        r#"{"a": {"x": 1}, "b": {"x": 1}, "c": null}"#,
        r#"{"a": null, "b": true}"#,
        r#"{"a": 1e21, "b": -0.0}"#,
        r#"{"b": {"c": "é"}}"#,
        r#"{"a": "", "b": 0}"#,
        r#"{"a": 1.0000000000000002, "b": 1.2345678901234568e20, "c": 3}"#,
        r#"{"a": 7, "b": "m"}"#,
        r#"[1, 2]"#,
        r#""text""#,
    ];

    #[test]
    fn a_direct_result_is_the_evaluators() {
        for source in EXPRESSIONS {
            let e = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let direct = e.direct(input_path).unwrap_or_else(|| panic!("{source} has no direct form"));
            let mut taken = 0;
            for text in INPUTS {
                let input = crate::value::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
                let Some(found) = direct.evaluate(&mut |names| read(&input, names)) else { continue };
                taken += 1;
                assert_eq!(Ok(found), usual(&e, &input), "{source} on {text}");
            }
            assert!(taken >= 3, "{source}: evaluated directly on only {taken} inputs");
        }
    }

    #[test]
    fn an_error_or_an_array_on_the_way_is_left_to_the_evaluator() {
        let cases = [
            // T2009: a number compared with a string.
            ("$states.input.a > 80", r#"{"a": "81"}"#, "T2009"),
            // T2010: an object compared.
            ("$states.input.a < 1", r#"{"a": {"x": 1}}"#, "T2010"),
            // An object's text, as `$string` writes it.
            ("$states.input.a & $states.input.b", r#"{"a": 1, "b": {"c": [1, 2]}}"#, ""),
        ];
        for (source, text, code) in cases {
            let e = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let direct = e.direct(input_path).unwrap_or_else(|| panic!("{source} has no direct form"));
            let input = crate::value::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let found = direct.evaluate(&mut |names| read(&input, names));
            if code.is_empty() {
                assert_eq!(Ok(found.flatten()), usual(&e, &input), "{source} on {text}");
            } else {
                assert_eq!(found, None, "{source} on {text}");
                assert_eq!(usual(&e, &input), Err(code), "{source} on {text}");
            }
        }
        let arrays = crate::value::from_str(r#"{"a": [{"b": 1}, {"b": 2}]}"#).unwrap_or_default();
        let e = Expression::parse("$states.input.a.b & 'x'").unwrap_or_else(|e| panic!("{e}"));
        let direct = e.direct(input_path).unwrap_or_else(|| panic!("no direct form"));
        assert_eq!(
            direct.evaluate(&mut |names| read(&arrays, names)),
            None,
            "an array is mapped over by the evaluator"
        );
        assert_eq!(usual(&e, &arrays), Ok(Some(Value::string("[1,2]x"))));
    }

    #[test]
    fn only_reads_literals_and_the_simple_operators_have_a_direct_form() {
        for source in [
            "$states.input.a[0] & 'x'",
            "$foo & 'x'",
            "$count($states.input.a) > 1",
            "($states.input.a & 'b')",
            "$states.input.a + 1 > 2",
            "$states.input.a in ['x']",
            "$states.context.Execution.Id & 'x'",
            "a & 'x'",
        ] {
            let e = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert!(e.direct(input_path).is_none(), "{source} should have no direct form");
        }
    }
}
