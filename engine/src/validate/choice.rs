//! Choice states: JSONPath choice rules (comparisons, And/Or/Not) and StringMatches patterns.

use super::{Code, Validator, ptr};
use crate::asl::{ChoiceBranch, ChoiceOp, GlobPart, Operand, Rule, StateKind};
use crate::value::Value as RtValue;
use serde_json::{Map, Value};

impl Validator {
    /// A Choice state's `Choices` and `Default`; JSONata rules use `Condition`.
    pub(super) fn choice(&mut self, obj: &Map<String, Value>, at: &str, jsonata: bool) -> StateKind {
        let cp = ptr(at, "Choices");
        let mut choices = Vec::new();
        match obj.get("Choices") {
            Some(Value::Array(list)) if !list.is_empty() => {
                for (i, c) in list.iter().enumerate() {
                    let rp = format!("{cp}/{i}");
                    let Some(robj) = c.as_object() else {
                        self.err(Code::NotAnObject, rp, "a choice rule must be an object");
                        continue;
                    };
                    let next = self.string_field(robj, &rp, "Next", true);
                    let assign = robj.get("Assign").and_then(|a| self.assign(a, &ptr(&rp, "Assign"), jsonata));
                    let rule = if jsonata { self.condition(robj, &rp) } else { self.rule(robj, &rp, true) };
                    if let Some(rule) = rule
                        && let Some(next) = next
                    {
                        let output = robj
                            .get("Output")
                            .filter(|_| jsonata)
                            .map(|o| self.jtemplate(o, &ptr(&rp, "Output"), "Output"));
                        choices.push(ChoiceBranch { rule, next, assign, output });
                    }
                }
            }
            Some(_) => self.err(Code::WrongType, &cp, "'Choices' must be a non-empty array"),
            None => self.err(Code::MissingField, at, "missing required field 'Choices'"),
        }
        let default = self.string_field(obj, at, "Default", false);
        StateKind::Choice { choices, default }
    }

    /// A JSONPath choice rule; only a `top` rule (a branch) may carry `Next` and `Assign`.
    fn rule(&mut self, obj: &Map<String, Value>, at: &str, top: bool) -> Option<Rule> {
        for k in obj.keys() {
            let ok = matches!(k.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
                || (top && (k == "Next" || k == "Assign"))
                || op_by_name(k).is_some();
            if !ok {
                let code = if k == "Condition" { Code::Unsupported } else { Code::BadChoiceRule };
                self.err(code, ptr(at, k), format!("field '{k}' is not allowed in a choice rule"));
            }
        }
        if !top && obj.contains_key("Next") {
            self.err(Code::BadChoiceRule, ptr(at, "Next"), "a nested choice rule cannot have 'Next'");
        }
        let combinators: Vec<&str> = ["And", "Or", "Not"].into_iter().filter(|k| obj.contains_key(*k)).collect();
        let ops: Vec<(&String, ChoiceOp)> = obj.iter().filter_map(|(k, _)| op_by_name(k).map(|o| (k, o))).collect();
        if combinators.len() + ops.len() != 1 {
            self.err(
                Code::BadChoiceRule,
                at,
                "a choice rule needs exactly one comparison operator or one of 'And', 'Or', 'Not'",
            );
            return None;
        }
        if let Some(c) = combinators.first() {
            if obj.contains_key("Variable") {
                self.err(Code::BadChoiceRule, ptr(at, "Variable"), format!("'{c}' rules take no 'Variable'"));
            }
            let p = ptr(at, c);
            return match (*c, &obj[*c]) {
                ("Not", Value::Object(inner)) => self.rule(inner, &p, false).map(|r| Rule::Not(Box::new(r))),
                ("Not", _) => {
                    self.err(Code::BadChoiceRule, p, "'Not' must hold one choice rule object");
                    None
                }
                (_, Value::Array(list)) if !list.is_empty() => {
                    let mut rules = Vec::new();
                    for (i, r) in list.iter().enumerate() {
                        match r.as_object() {
                            Some(o) => rules.extend(self.rule(o, &format!("{p}/{i}"), false)),
                            None => {
                                self.err(Code::BadChoiceRule, format!("{p}/{i}"), "a choice rule must be an object")
                            }
                        }
                    }
                    Some(if *c == "And" { Rule::And(rules) } else { Rule::Or(rules) })
                }
                _ => {
                    self.err(Code::BadChoiceRule, p, format!("'{c}' must be a non-empty array of choice rules"));
                    None
                }
            };
        }
        let (key, op) = ops[0];
        let variable = match obj.get("Variable") {
            Some(v) => self.path(v, &ptr(at, "Variable"), "Variable")?,
            None => {
                self.err(Code::BadChoiceRule, at, "a comparison needs a 'Variable'");
                return None;
            }
        };
        let vp = ptr(at, key);
        let raw = &obj[key.as_str()];
        let operand = if key.ends_with("Path") {
            Operand::Path(self.path(raw, &vp, key)?)
        } else {
            match op {
                ChoiceOp::StringEquals
                | ChoiceOp::StringLessThan
                | ChoiceOp::StringGreaterThan
                | ChoiceOp::StringLessThanEquals
                | ChoiceOp::StringGreaterThanEquals => match raw {
                    Value::String(_) => Operand::Value(RtValue::from(raw)),
                    _ => return self.rule_type(vp, key, "a string"),
                },
                ChoiceOp::StringMatches => match raw.as_str() {
                    Some(s) => Operand::Pattern(glob(s)),
                    None => return self.rule_type(vp, key, "a string"),
                },
                ChoiceOp::NumericEquals
                | ChoiceOp::NumericLessThan
                | ChoiceOp::NumericGreaterThan
                | ChoiceOp::NumericLessThanEquals
                | ChoiceOp::NumericGreaterThanEquals => match raw {
                    Value::Number(_) => Operand::Value(RtValue::from(raw)),
                    _ => return self.rule_type(vp, key, "a number"),
                },
                ChoiceOp::BooleanEquals
                | ChoiceOp::IsNull
                | ChoiceOp::IsPresent
                | ChoiceOp::IsNumeric
                | ChoiceOp::IsString
                | ChoiceOp::IsBoolean
                | ChoiceOp::IsTimestamp => match raw {
                    Value::Bool(_) => Operand::Value(RtValue::from(raw)),
                    _ => return self.rule_type(vp, key, "a boolean"),
                },
                _ => match raw.as_str().and_then(crate::time::parse_timestamp) {
                    Some(t) => Operand::Timestamp(t),
                    None => return self.rule_type(vp, key, "an ISO-8601 timestamp string"),
                },
            }
        };
        Some(Rule::Test { variable, op, operand })
    }

    fn rule_type(&mut self, at: String, key: &str, what: &str) -> Option<Rule> {
        self.err(Code::BadChoiceRule, at, format!("'{key}' must be {what}"));
        None
    }
}

/// The comparison operator a choice-rule field names (`…Path` forms compare with
/// another path), or `None`.
pub fn op_by_name(k: &str) -> Option<ChoiceOp> {
    use ChoiceOp::*;
    let base = k.strip_suffix("Path").unwrap_or(k);
    let op = match base {
        "StringEquals" => StringEquals,
        "StringLessThan" => StringLessThan,
        "StringGreaterThan" => StringGreaterThan,
        "StringLessThanEquals" => StringLessThanEquals,
        "StringGreaterThanEquals" => StringGreaterThanEquals,
        "StringMatches" if k == base => StringMatches,
        "NumericEquals" => NumericEquals,
        "NumericLessThan" => NumericLessThan,
        "NumericGreaterThan" => NumericGreaterThan,
        "NumericLessThanEquals" => NumericLessThanEquals,
        "NumericGreaterThanEquals" => NumericGreaterThanEquals,
        "BooleanEquals" => BooleanEquals,
        "TimestampEquals" => TimestampEquals,
        "TimestampLessThan" => TimestampLessThan,
        "TimestampGreaterThan" => TimestampGreaterThan,
        "TimestampLessThanEquals" => TimestampLessThanEquals,
        "TimestampGreaterThanEquals" => TimestampGreaterThanEquals,
        "IsNull" if k == base => IsNull,
        "IsPresent" if k == base => IsPresent,
        "IsNumeric" if k == base => IsNumeric,
        "IsString" if k == base => IsString,
        "IsBoolean" if k == base => IsBoolean,
        "IsTimestamp" if k == base => IsTimestamp,
        _ => return None,
    };
    Some(op)
}

/// `StringMatches` patterns: `*` matches any run, `\*` and `\\` are literal.
pub(crate) fn glob(s: &str) -> Vec<GlobPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => lit.push(e),
                None => lit.push('\\'),
            },
            '*' => {
                if !lit.is_empty() {
                    parts.push(GlobPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(GlobPart::Star);
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(GlobPart::Literal(lit));
    }
    parts
}
