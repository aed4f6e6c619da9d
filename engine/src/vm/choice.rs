//! Choice states: the rules tried in order, the branch taken and its
//! `Assign` and `Output`.

use super::raised::runtime;
use super::{Frame, Raised, Resolver, Shared};
use crate::asl::{ChoiceOp, GlobPart, Operand, Rule};
use crate::errors::ErrorName;
use crate::program::Program;
use crate::value::Value;

impl Program {
    pub(super) fn choose(&self, frame: &mut Frame, shared: &mut Shared, c: u32) -> Result<(), Raised> {
        let table = &self.choices[c as usize];
        let mut chosen = None;
        {
            let mut resolver = self.resolver(frame, shared);
            for branch in &table.branches {
                let verdict = match &branch.rule {
                    Rule::Condition(t) => {
                        resolver.condition(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))
                    }
                    rule => eval_rule(rule, &resolver, frame.acc())
                        .map_err(|detail| runtime(self.state_name(frame), frame.entered_event, detail)),
                };
                match verdict {
                    Ok(true) => {
                        chosen = Some((branch.next, branch.assign, branch.output.or(table.default_output)));
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let (next, assign, output) = match (chosen, table.default) {
            (Some(c), _) => c,
            (None, Some(d)) => (d, table.default_assign, table.default_output),
            (None, None) => {
                return Err(Raised::new(
                    ErrorName::NoChoiceMatched.as_str(),
                    format!("No Matches! at state '{}'", self.state_name(frame)),
                ));
            }
        };
        frame.chosen = next;
        if let Some(t) = assign {
            self.assign(frame, shared, t)?;
        }
        if let Some(t) = output {
            let (v, bound) = self
                .resolver(frame, shared)
                .eval_template_bounded(&self.templates[t as usize], frame.acc(), frame.acc_bound())
                .map_err(|(n, d)| self.template_error(frame, n, d))?;
            frame.set_acc(v, bound);
        }
        Ok(())
    }
}

fn eval_rule(rule: &Rule, resolver: &Resolver<'_>, data: &Value) -> Result<bool, String> {
    match rule {
        Rule::Condition(_) => Err("a JSONata Condition cannot be nested in a JSONPath rule".into()),
        Rule::And(rs) => {
            for r in rs {
                if !eval_rule(r, resolver, data)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rs) => {
            for r in rs {
                if eval_rule(r, resolver, data)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(r) => Ok(!eval_rule(r, resolver, data)?),
        Rule::Test { variable, op, operand } => {
            let value = resolver.select_cow(variable, data);
            if *op == ChoiceOp::IsPresent {
                let present = match value.as_deref() {
                    Ok(Value::Array(a)) if !variable.is_definite() => !a.is_empty(),
                    Ok(_) => true,
                    Err(_) => false,
                };
                return Ok(Some(present) == operand_bool(operand));
            }
            let value = value.map_err(|_| {
                format!("Invalid path '{variable}': The choice state's condition path references an invalid value.")
            })?;
            // A string rule reads its string, up to a payload per rule per
            // transition: charged, or a Choice looping on itself compares
            // megabytes per transition for free.
            if let Value::String(s) = &*value {
                resolver.shared.spend_bytes(s.len());
            }
            let expected = match operand {
                Operand::Path(p) => {
                    let v = resolver.select(p, data).map_err(|_| {
                        format!("Invalid path '{p}': The choice state's condition path references an invalid value.")
                    })?;
                    if let Value::String(s) = &v {
                        resolver.shared.spend_bytes(s.len());
                    }
                    return Ok(test(*op, &value, &Operand::Value(v)));
                }
                other => other,
            };
            Ok(test(*op, &value, expected))
        }
    }
}

fn operand_bool(o: &Operand) -> Option<bool> {
    match o {
        Operand::Value(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn test(op: ChoiceOp, v: &Value, operand: &Operand) -> bool {
    use ChoiceOp::*;
    use std::cmp::Ordering::*;
    let ord_ok = |o: std::cmp::Ordering| match op {
        StringEquals | NumericEquals | TimestampEquals => o == Equal,
        StringLessThan | NumericLessThan | TimestampLessThan => o == Less,
        StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => o == Greater,
        StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => o != Greater,
        StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => o != Less,
        _ => false,
    };
    match op {
        StringEquals | StringLessThan | StringGreaterThan | StringLessThanEquals | StringGreaterThanEquals => {
            match (v, operand) {
                // Equal or not needs no order; the others compare as Java's
                // `String.compareTo` does on AWS: by UTF-16 code units.
                (Value::String(a), Operand::Value(Value::String(b))) if op == StringEquals => a == b,
                (Value::String(a), Operand::Value(Value::String(b))) => ord_ok(crate::value::utf16_order(a, b)),
                _ => false,
            }
        }
        NumericEquals | NumericLessThan | NumericGreaterThan | NumericLessThanEquals | NumericGreaterThanEquals => {
            match (v, operand) {
                (Value::Number(a), Operand::Value(Value::Number(b))) => {
                    a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)).is_some_and(ord_ok)
                }
                _ => false,
            }
        }
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => {
            let Some(a) = v.as_str().and_then(crate::time::parse_timestamp) else {
                return false;
            };
            let b = match operand {
                Operand::Timestamp(t) => *t,
                Operand::Value(Value::String(s)) => match crate::time::parse_timestamp(s) {
                    Some(t) => t,
                    None => return false,
                },
                _ => return false,
            };
            ord_ok(a.cmp(&b))
        }
        BooleanEquals => match (v, operand) {
            (Value::Bool(a), Operand::Value(Value::Bool(b))) => a == b,
            _ => false,
        },
        StringMatches => match (v, operand) {
            (Value::String(s), Operand::Pattern(p)) => glob_match(p, s),
            _ => false,
        },
        IsNull => Some(v.is_null()) == operand_bool(operand),
        IsNumeric => Some(v.is_number()) == operand_bool(operand),
        IsString => Some(v.is_string()) == operand_bool(operand),
        IsBoolean => Some(v.is_boolean()) == operand_bool(operand),
        IsTimestamp => Some(v.as_str().and_then(crate::time::parse_timestamp).is_some()) == operand_bool(operand),
        IsPresent => true,
    }
}

/// Whether `s` matches a `StringMatches` pattern, in time linear in both
/// and without recursion: a pattern of thousands of stars or a string that
/// backtracking would retry exponentially (`*a*a*a*b` against `aaaa…`) is
/// a user's to write. The literal before the first star anchors at the
/// start, the one after the last star at the end, and each literal between
/// stars matches at its leftmost place after the one before: leftmost is
/// never worse, as a star absorbs whatever a later place would skip. Relies
/// on the parser never emitting two literals in a row.
fn glob_match(parts: &[GlobPart], s: &str) -> bool {
    let (mut parts, mut s) = (parts, s);
    if let Some((GlobPart::Literal(head), rest)) = parts.split_first() {
        match s.strip_prefix(head.as_str()) {
            Some(after) => (parts, s) = (rest, after),
            None => return false,
        }
    }
    if parts.is_empty() {
        return s.is_empty();
    }
    if let Some((GlobPart::Literal(tail), init)) = parts.split_last() {
        match s.strip_suffix(tail.as_str()) {
            Some(before) => (parts, s) = (init, before),
            None => return false,
        }
    }
    for part in parts {
        if let GlobPart::Literal(middle) = part {
            match s.find(middle.as_str()) {
                Some(at) => s = &s[at + middle.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `String*` rules order strings by UTF-16 code units (Java's
    /// `compareTo`), not by code points: U+FFFF sorts after U+1F600, whose
    /// first unit is the surrogate 0xD83D.
    #[test]
    fn string_rules_compare_utf16_code_units() {
        let s = |x: &str| Value::from(x);
        let operand = |x: &str| Operand::Value(Value::from(x));
        assert!(test(ChoiceOp::StringGreaterThan, &s("\u{ffff}"), &operand("\u{1f600}")));
        assert!(test(ChoiceOp::StringLessThan, &s("\u{1f600}"), &operand("\u{e000}")));
        assert!(test(ChoiceOp::StringLessThanEquals, &s("ab"), &operand("abc")));
        assert!(test(ChoiceOp::StringGreaterThanEquals, &s("b"), &operand("abc")));
        assert!(test(ChoiceOp::StringEquals, &s("\u{1f600}"), &operand("\u{1f600}")));
        assert!(!test(ChoiceOp::StringEquals, &s("a"), &operand("b")));
        assert!(!test(ChoiceOp::StringLessThan, &s("a"), &Operand::Value(Value::from(1))));
    }

    /// A `StringMatches` pattern as the validator parses it.
    fn pattern(text: &str) -> Vec<GlobPart> {
        crate::validate::choice::glob(text)
    }

    /// The backtracking definition the linear matcher must agree with.
    fn backtracking(parts: &[GlobPart], s: &str) -> bool {
        match parts.split_first() {
            None => s.is_empty(),
            Some((GlobPart::Literal(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|r| backtracking(rest, r)),
            Some((GlobPart::Star, rest)) => {
                s.char_indices().map(|(i, _)| i).chain([s.len()]).any(|i| backtracking(rest, &s[i..]))
            }
        }
    }

    /// Every pattern over `a`, `b`, `*` up to 5 long against every string
    /// over `a`, `b`, `é` up to 5 long: the same answer as backtracking.
    #[test]
    fn string_matches_agrees_with_backtracking() {
        fn all(alphabet: &[&str], up_to: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..up_to {
                last = last.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let strings = all(&["a", "b", "é"], 5);
        for text in all(&["a", "b", "*"], 5) {
            let parts = pattern(&text);
            for s in &strings {
                assert_eq!(glob_match(&parts, s), backtracking(&parts, s), "{text:?} against {s:?}");
            }
        }
    }

    /// A pattern of 100,000 stars and literals, and one that backtracking
    /// retries exponentially, each answer in linear time on the stack it
    /// started with (the recursive matcher overflowed the stack on the
    /// first and ran for hours on the second).
    #[test]
    fn string_matches_is_linear_and_flat() {
        let many = pattern(&"*a".repeat(50_000));
        assert!(glob_match(&many, &"a".repeat(50_000)));
        assert!(!glob_match(&many, &"a".repeat(49_999)));
        let exponential = pattern(&format!("{}b", "*a".repeat(40)));
        assert!(!glob_match(&exponential, &"a".repeat(100_000)));
        assert!(glob_match(&exponential, &format!("{}b", "a".repeat(100_000))));
    }
}
