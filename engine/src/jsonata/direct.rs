//! Expressions evaluated directly, without an evaluator: reads of
//! variable paths (`$states.input.a.b`), literals, `&`, the comparisons,
//! `and`/`or`, and `$merge` of reads and object constructors — the shape of
//! most Choice conditions, composed keys and outputs (`$merge([$states.input,
//! {'result': $states.result}])`, JSONata's `ResultPath`) in state
//! machines, where setting up an evaluation (scopes, limits, sequences)
//! costs more than the work, and measuring a merged output walks it all.
//!
//! `&`, the comparisons and `and`/`or` call the evaluator's own functions
//! for them (`append_text`, `equality`, `compare`, `logical`); `$merge` with
//! its array and object constructors is written here again on engine
//! values, and held to the evaluator by the tests below. Where anything is
//! off that path — a read the caller cannot make directly, a variable hiding
//! `$merge`, an error (T2009, T2010, T0412, nesting past the limit) — the
//! evaluation returns `None` and the caller evaluates the usual way, which
//! then reports the error exactly as without this module.

use super::ast::{BinOp, Kind, Node};
use super::eval::{append_text, compare, concatenated, equality, logical};
use super::value::{INTEGER_VALUE_LIMIT, V};
use crate::bounds::{self, MAX_DEPTH, Measure, Sum};
use crate::value::{Key, Object, Value};
use std::borrow::Cow;
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
    /// `$merge([…])` of reads and object constructors.
    Merge(Vec<MergePart<R>>),
}

#[derive(Debug, Clone)]
pub enum Literal {
    Str(Arc<str>),
    Num(f64),
    Bool(bool),
    Null,
}

/// One item of `$merge`'s array constructor.
#[derive(Debug, Clone)]
pub enum MergePart<R> {
    Read(R),
    /// `{'key': value, …}`: distinct literal keys.
    Object(Vec<(Key, DirectExpr<R>)>),
}

/// What a read found: `None` where it cannot be read directly (the
/// evaluator then decides), `Some(None)` for `undefined`. Borrowed from the
/// data where it can be: most reads are only looked at.
pub type Found<'a> = Option<Option<Cow<'a, Value>>>;

/// What an expression evaluated to, with an upper bound on its measure
/// where one is known without measuring it; `None` for `undefined`.
pub type Evaluated = Option<(Value, Option<Measure>)>;

/// `root.a.b` for `fields` `[a, b]` as a JSONata path takes it through
/// objects: `undefined` at a missing field or a scalar; `None` at an array,
/// which JSONata would map over (the evaluator then decides). An array
/// reached as the last step is returned as it is, as JSONata does.
pub fn read_fields<'a>(root: &'a Value, fields: &[Key]) -> Found<'a> {
    let mut cur = root;
    for f in fields {
        cur = match cur {
            // The program's keys are interned: most matches compare pointers.
            Value::Object(o) => match o.get_key(f) {
                Some(v) => v,
                None => return Some(None),
            },
            Value::Array(_) => return None,
            _ => return Some(None),
        };
    }
    Some(Some(Cow::Borrowed(cur)))
}

/// What a direct evaluation asks of its caller.
pub trait Reader<R> {
    /// The value `r` reads.
    fn read(&self, r: &R) -> Found<'_>;
    /// An upper bound on the measure of anything `r` can read, where known.
    fn bound(&self, r: &R) -> Option<Measure>;
    /// Is `name` a variable of the evaluation (which hides the function)?
    fn is_variable(&self, name: &str) -> bool;
}

/// A node with nothing attached that the evaluator would apply after its
/// kind: no predicate, stage, grouping, binding or array flag.
fn is_bare(n: &Node) -> bool {
    !n.cons_array && is_bare_allowing_cons_array(n)
}

/// [`is_bare`], but allowing the flag of an array constructor at the start
/// or end of a path, which only matters in a path (`$merge([…])`'s argument).
fn is_bare_allowing_cons_array(n: &Node) -> bool {
    n.stages.is_empty()
        && n.predicate.is_empty()
        && n.group.is_none()
        && !n.keep_array
        && !n.tuple
        && n.focus.is_none()
        && n.index.is_none()
        && !n.keep_singleton_array
        && n.ancestor.is_none()
        && n.label.is_none()
        && n.seeking_parent.is_empty()
}

/// `$name.a.b` — a variable then plain field names.
fn variable_path(node: &Node) -> Option<(&str, Vec<Key>)> {
    let Kind::Path(steps) = &node.kind else { return None };
    if !is_bare(node) {
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
        Kind::Call(f, args) if is_bare(f) && matches!(&f.kind, Kind::Variable(name) if &**name == MERGE) => {
            let [array] = args.as_slice() else { return None };
            let Kind::Array(items) = &array.kind else { return None };
            if !is_bare_allowing_cons_array(array) {
                return None;
            }
            DirectExpr::Merge(items.iter().map(|item| merge_part(item, read)).collect::<Option<_>>()?)
        }
        _ => return None,
    })
}

/// The function `$merge` (unless a variable of that name hides it).
const MERGE: &str = "merge";

fn merge_part<R>(item: &Node, read: &mut impl FnMut(&str, &[Key]) -> Option<R>) -> Option<MergePart<R>> {
    if let Some((var, names)) = variable_path(item) {
        return read(var, &names).map(MergePart::Read);
    }
    let Kind::Object(pairs) = &item.kind else { return None };
    if !is_bare(item) {
        return None;
    }
    let mut fields: Vec<(Key, DirectExpr<R>)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let Kind::Str(name) = &k.kind else { return None };
        // A repeated key is an error (D1009): the evaluator reports it.
        if !is_bare(k) || fields.iter().any(|(f, _)| **f == **name) {
            return None;
        }
        fields.push((Key::intern(name), of(v, read)?));
    }
    Some(MergePart::Object(fields))
}

impl<R> DirectExpr<R> {
    /// The same expression reading what `f` makes of each read; `None` if
    /// `f` refuses one.
    pub fn map_reads<S>(&self, f: &mut impl FnMut(&R) -> Option<S>) -> Option<DirectExpr<S>> {
        Some(match self {
            DirectExpr::Read(r) => DirectExpr::Read(f(r)?),
            DirectExpr::Literal(l) => DirectExpr::Literal(l.clone()),
            DirectExpr::Concat(parts) => {
                DirectExpr::Concat(parts.iter().map(|p| p.map_reads(f)).collect::<Option<_>>()?)
            }
            DirectExpr::Binary(op, l, r) => {
                DirectExpr::Binary(*op, Box::new(l.map_reads(f)?), Box::new(r.map_reads(f)?))
            }
            DirectExpr::Merge(parts) => DirectExpr::Merge(
                parts
                    .iter()
                    .map(|part| {
                        Some(match part {
                            MergePart::Read(r) => MergePart::Read(f(r)?),
                            MergePart::Object(fields) => MergePart::Object(
                                fields
                                    .iter()
                                    .map(|(k, e)| Some((k.clone(), e.map_reads(f)?)))
                                    .collect::<Option<_>>()?,
                            ),
                        })
                    })
                    .collect::<Option<_>>()?,
            ),
        })
    }

    /// The value, as the evaluator's result would be; `None`: evaluate the
    /// usual way.
    pub fn evaluate(&self, reader: &mut impl Reader<R>) -> Option<Evaluated> {
        match self {
            DirectExpr::Read(r) => Some(reader.read(r)?.map(|v| {
                // A converted number's text may be longer than its source's:
                // a scalar is bounded by what it became.
                let v = as_evaluated(&v);
                let bound = bounds::scalar(&v).or_else(|| reader.bound(r));
                (v, bound)
            })),
            DirectExpr::Merge(parts) => merge(parts, reader).map(|(v, bound)| Some((v, Some(bound)))),
            // A literal, `&` or a comparison: a scalar.
            _ => {
                let v = self.value(reader)?;
                Some(v.to_json_within(MAX_DEPTH).ok()?.map(|v| {
                    let bound = bounds::scalar(&v);
                    (v, bound)
                }))
            }
        }
    }

    fn value(&self, reader: &mut impl Reader<R>) -> Option<V> {
        Some(match self {
            DirectExpr::Read(r) => reader.read(r)?.as_deref().map_or(V::Undef, V::from_json),
            DirectExpr::Literal(Literal::Str(s)) => V::Str(s.clone()),
            DirectExpr::Literal(Literal::Num(n)) => V::Num(*n),
            DirectExpr::Literal(Literal::Bool(b)) => V::Bool(*b),
            DirectExpr::Literal(Literal::Null) => V::Null,
            DirectExpr::Concat(parts) => {
                // A part that cannot be evaluated directly ends the text early;
                // it is then not used.
                let mut direct = true;
                let text = concatenated(|out| {
                    for part in parts {
                        let Some(v) = part.value(reader) else {
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
                let left = l.value(reader)?;
                logical(*op, &left, || r.value(reader).ok_or(())).ok()?
            }
            DirectExpr::Binary(op @ (BinOp::Eq | BinOp::Ne), l, r) => {
                equality(*op, &l.value(reader)?, &r.value(reader)?)
            }
            DirectExpr::Binary(op, l, r) => compare(*op, &l.value(reader)?, &r.value(reader)?).ok()?,
            // Only at the top (`evaluate`): its value is an engine object.
            DirectExpr::Merge(_) => return None,
        })
    }
}

/// A read value as the evaluator returns it: a number goes through
/// JavaScript's (an `f64`; `1.0` is `1`), as a scalar does when the
/// evaluator converts it; anything else is passed as it is.
fn as_evaluated(v: &Value) -> Value {
    if converts(v) { V::from_json(v).to_json_within(0).ok().flatten().unwrap_or_else(|| v.clone()) } else { v.clone() }
}

/// Does the evaluator's conversion change `v`? Only a number can; the
/// common whole one is its own conversion (`value::number_value`).
fn converts(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_i64().is_none_or(|i| i.unsigned_abs() >= INTEGER_VALUE_LIMIT),
        _ => false,
    }
}

/// `$merge([…])` as the evaluator makes it (`functions::merge` over the
/// array constructor's items, `obj_set`, `object_of_one`): each item's
/// members in turn, a later value replacing an earlier one in place; an
/// `undefined` item or field value is dropped. With an upper bound on its
/// measure, the sum of its items' (every member of the result is a member
/// of an item). `None` where the evaluator would fail (an item that is not
/// an object, a constructor nested past the depth limit) or could map (an
/// array read), or a variable hides `$merge`.
fn merge<R>(parts: &[MergePart<R>], reader: &mut impl Reader<R>) -> Option<(Value, Measure)> {
    if reader.is_variable(MERGE) {
        return None;
    }
    let mut out = Object::with_capacity(parts.len() * 4);
    let mut merged = Measure { bytes: 2, depth: 1 };
    for part in parts {
        let bound = match part {
            MergePart::Read(r) => {
                let Some(v) = reader.read(r)? else { continue };
                let Value::Object(o) = &*v else { return None };
                // The array constructor around it must keep the depth limit.
                let mut bound = reader.bound(r)?;
                if bound.depth + 1 > MAX_DEPTH {
                    return None;
                }
                out.extend_replacing(o.iter().map(|(k, v)| {
                    if converts(v) {
                        // Its text may grow (`12345678901234567` is `1.2345678901234568e+16`).
                        bound.bytes = bound.bytes.saturating_add(bounds::MAX_NUMBER_LEN);
                    }
                    (k.clone(), as_evaluated(v))
                }));
                bound
            }
            MergePart::Object(fields) => {
                let mut sum = Sum::new();
                for (k, e) in fields {
                    let Some((v, bound)) = e.evaluate(reader)? else { continue };
                    // `{…}` inside `[…]`: its values two levels down.
                    let bound = bound.filter(|b| b.depth + 2 <= MAX_DEPTH)?;
                    sum.add(bounds::member_len(k), bound);
                    out.insert(k.clone(), v);
                }
                sum.total()
            }
        };
        merged.bytes = merged.bytes.saturating_add(bound.bytes);
        merged.depth = merged.depth.max(bound.depth);
    }
    Some((Value::object(out), merged))
}

#[cfg(test)]
mod tests {
    use super::super::{Environment, Expression, States};
    use super::*;

    /// `$states.input.a.b` as the names after `input`.
    fn input_path(var: &str, names: &[Key]) -> Option<Vec<Key>> {
        (var == "states" && names.first().is_some_and(|n| &**n == "input")).then(|| names[1..].to_vec())
    }

    /// Reads as the engine's resolver does (`read_fields`).
    struct Input<'a> {
        value: &'a Value,
        variables: &'a [&'a str],
    }

    impl Reader<Vec<Key>> for Input<'_> {
        fn read(&self, names: &Vec<Key>) -> Found<'_> {
            read_fields(self.value, names)
        }

        fn bound(&self, _: &Vec<Key>) -> Option<Measure> {
            bounds::check(self.value).ok()
        }

        fn is_variable(&self, name: &str) -> bool {
            self.variables.contains(&name)
        }
    }

    fn usual(e: &Expression, input: &Value) -> Result<Option<Value>, &'static str> {
        let states = States { input, result: None, error_output: None, context: None, map_item: None };
        e.evaluate(Some(input), Environment { states: Some(states), ..Environment::default() }).map_err(|e| e.code)
    }

    fn direct(e: &Expression, input: &Value, variables: &[&str]) -> Option<Option<(Value, Option<Measure>)>> {
        let form = e.direct(input_path).unwrap_or_else(|| panic!("{e:?} has no direct form"));
        form.evaluate(&mut Input { value: input, variables })
    }

    fn parse(text: &str) -> Value {
        crate::value::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
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
        "$states.input.a",
        "$merge([$states.input, {'classified': $states.input.b, 'k': $states.input.a & '-'}])",
        "$merge([$states.input.b, $states.input, {'a': 'replaced', 'n': $states.input.c > 1}])",
        "$merge([{'x': $states.input.missing}, $states.input.missing])",
        "$merge([])",
        "$merge([$states.input])",
        "$merge([$states.input, {'m': $merge([$states.input.b, {'z': $states.input.c}])}])",
        "$states.input",
    ];

    const INPUTS: &[&str] = &[
        r#"{"a": 81, "b": "x", "c": 3}"#,
        r#"{"a": 80.5, "b": 80.5}"#,
        r#"{"a": "abc", "b": "abd"}"#,
        r#"{"a": [1, 2], "b": {"c": [1]}}"#,
        r#"{"a": {"x": 1}, "b": {"x": 1, "a": 2.0}, "c": null}"#,
        r#"{"a": null, "b": true}"#,
        r#"{"a": 1e21, "b": -0.0}"#,
        r#"{"b": {"c": "é"}}"#,
        r#"{"a": "", "b": 0}"#,
        r#"{"a": 1.0000000000000002, "b": 1.2345678901234568e20, "c": 3}"#,
        r#"{"a": 7, "b": "m", "c": 1.0, "d": 9007199254740993}"#,
        r#"{"a": 1, "b": {"a": 1.0, "z": [true]}, "c": 2}"#,
        r#"{"b": {}, "c": 0}"#,
        r#"{"a": 9000000000000001, "b": {"a": -9000000000000000, "c": 8999999999999999}, "c": 8999999999999999}"#,
        r#"{"a": 12345678901234567, "b": {"a": -12345678901234567}, "c": 1e300}"#,
        r#"[1, 2]"#,
        r#""text""#,
        // A root number whose text grows in the conversion.
        "12345678901234567",
    ];

    #[test]
    fn a_direct_result_is_the_evaluators() {
        for source in EXPRESSIONS {
            let e = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let mut taken = 0;
            for text in INPUTS {
                let input = parse(text);
                let Some(found) = direct(&e, &input, &[]) else { continue };
                taken += 1;
                let value = found.as_ref().map(|(v, _)| v.clone());
                assert_eq!(Ok(value.clone()), usual(&e, &input), "{source} on {text}");
                if let Some((v, Some(bound))) = &found {
                    let exact = bounds::check(v).unwrap_or_else(|_| panic!("{source} on {text}: out of bounds"));
                    assert!(
                        bound.bytes >= exact.bytes && bound.depth >= exact.depth,
                        "{source} on {text}: {bound:?} < {exact:?}"
                    );
                }
            }
            assert!(taken >= 3, "{source}: evaluated directly on only {taken} inputs");
        }
    }

    #[test]
    fn a_merge_is_bounded_by_its_parts_and_hidden_by_a_variable_of_its_name() {
        let e = Expression::parse("$merge([$states.input, {'classified': $states.input.items}])")
            .unwrap_or_else(|e| panic!("{e}"));
        let input = parse(r#"{"id": "d-1", "items": [{"v": 1}, {"v": 2}]}"#);
        let Some(Some((v, Some(bound)))) = direct(&e, &input, &[]) else { panic!("no direct result with a bound") };
        assert_eq!(v.to_json(), r#"{"id":"d-1","items":[{"v":1},{"v":2}],"classified":[{"v":1},{"v":2}]}"#);
        assert!(bound.bytes >= v.to_json().len() && bound.depth >= 3, "{bound:?}");
        assert!(direct(&e, &input, &["merge"]).is_none(), "a variable `merge` is not the function");
        // Nested as deep as allowed, the array around the input is one level too many.
        let deep = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        let deep = parse(&deep);
        assert!(direct(&e, &deep, &[]).is_none());
        assert_eq!(usual(&e, &deep).map(|_| ()), Err(super::super::functions::TOO_LARGE));
    }

    #[test]
    fn an_error_or_an_array_on_the_way_is_left_to_the_evaluator() {
        let cases = [
            // T2009: a number compared with a string.
            ("$states.input.a > 80", r#"{"a": "81"}"#, "T2009"),
            // T2010: an object compared.
            ("$states.input.a < 1", r#"{"a": {"x": 1}}"#, "T2010"),
            // T0412: an item of `$merge` that is not an object.
            ("$merge([$states.input, $states.input.a])", r#"{"a": 1}"#, "T0412"),
            ("$merge([$states.input])", r#""text""#, "T0412"),
        ];
        for (source, text, code) in cases {
            let e = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let input = parse(text);
            assert!(direct(&e, &input, &[]).is_none(), "{source} on {text}");
            assert_eq!(usual(&e, &input), Err(code), "{source} on {text}");
        }
        let arrays = parse(r#"{"a": [{"b": 1}, {"b": 2}]}"#);
        let e = Expression::parse("$states.input.a.b & 'x'").unwrap_or_else(|e| panic!("{e}"));
        assert!(direct(&e, &arrays, &[]).is_none(), "an array is mapped over by the evaluator");
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
            "$merge([$states.input, {'k': 1, 'k': 2}])",
            "$merge([$states.input, {$states.input.k: 1}])",
            "$merge([$states.input], 1)",
            "$merge($states.input)",
            "$merge([$states.input, [{'a': 1}]])",
            // A filter or grouping on the array constructor is the evaluator's.
            "$merge([$states.input, {'a': 1}][0])",
            "$merge([$states.input]{'k': 'v'})",
            "$states.input[0]",
        ] {
            let e = Expression::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert!(e.direct(input_path).is_none(), "{source} should have no direct form");
        }
    }
}
