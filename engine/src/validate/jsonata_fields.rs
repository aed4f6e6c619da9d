//! The fields of JSONata states: JSON values in which a `"{% … %}"` string is an expression, parsed once.

use super::{Code, Validator, ptr};
use crate::asl::{CountField, JsonataField, Rule, Seconds, Template, Tolerance, WaitFor};
use crate::value::{Key, Value as RtValue};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The most regular expressions one definition's JSONata may hold: far
/// past hand-written machines, and a bounded memory (each up to 1 MiB).
pub const MAX_REGEXES_PER_DEFINITION: usize = 100;

/// The most nodes one definition's JSONata expressions may hold: a
/// 1 MB definition of long expressions compiled to ~87 MB before, and a
/// server keeps thousands of definitions. Hand-written machines hold a few
/// thousand.
pub const MAX_JSONATA_NODES: usize = 100_000;

/// Is `s` a JSONata expression (`{% … %}`) rather than a literal string?
pub fn is_expression(s: &str) -> bool {
    s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")
}

impl Validator {
    /// A JSONata field value; `field` names it in runtime errors
    /// (`Output/result`), as AWS does.
    pub(super) fn jtemplate(&mut self, v: &Value, at: &str, field: &str) -> Template {
        match v {
            Value::String(s) if is_expression(s) => {
                let source = s[2..s.len() - 2].trim();
                if self.regexes > MAX_REGEXES_PER_DEFINITION || self.jsonata_nodes > MAX_JSONATA_NODES {
                    // Reported once; the rest are not compiled.
                    return Template::Const(RtValue::Null);
                }
                match crate::jsonata::Expression::parse(source) {
                    Ok(expr) => {
                        self.regexes += expr.regexes();
                        self.jsonata_nodes += expr.nodes();
                        if self.jsonata_nodes > MAX_JSONATA_NODES {
                            self.err(
                                Code::BadJsonata,
                                at,
                                format!(
                                    "the definition's JSONata expressions hold more than {MAX_JSONATA_NODES} nodes \
                                     (a few hundred bytes each once compiled)"
                                ),
                            );
                        }
                        if self.regexes > MAX_REGEXES_PER_DEFINITION {
                            self.err(
                                Code::BadJsonata,
                                at,
                                format!(
                                    "the definition's JSONata holds more than {MAX_REGEXES_PER_DEFINITION} regular \
                                     expressions (each compiled up to 1 MiB)"
                                ),
                            );
                        }
                        let context = crate::asl::ContextUse::of(source);
                        let direct = crate::asl::DirectRead::expression(&expr);
                        self.uses_context |= context == crate::asl::ContextUse::All;
                        let reads_random = ["random", "uuid", "shuffle"].iter().any(|f| source.contains(f));
                        Template::Jsonata(Arc::new(JsonataField {
                            expr,
                            field: field.to_string(),
                            context,
                            direct,
                            reads_random,
                            direct_only: false,
                        }))
                    }
                    Err(e) => {
                        self.err(Code::BadJsonata, at, format!("invalid JSONata expression '{source}': {e}"));
                        Template::Const(RtValue::Null)
                    }
                }
            }
            // AWS: "Improperly opening or closing the expression will result
            // in a validation error" (`"{% 10 %"`, `"10 %}"`); a string with
            // neither, even around spaces (`" {% x %} "`), is a literal.
            Value::String(s) if s.starts_with("{%") || s.ends_with("%}") => {
                self.err(
                    Code::BadJsonata,
                    at,
                    format!("'{field}' opens or closes a JSONata expression without the other: write \"{{% … %}}\""),
                );
                Template::Const(RtValue::Null)
            }
            Value::Object(o) => {
                let fields: Vec<_> = o
                    .iter()
                    .map(|(k, x)| (Key::intern(k), self.jtemplate(x, &ptr(at, k), &format!("{field}/{k}"))))
                    .collect();
                if fields.iter().all(|(_, t)| matches!(t, Template::Const(_))) {
                    Template::Const(RtValue::from(v))
                } else {
                    Template::Object(fields)
                }
            }
            Value::Array(a) => {
                let items: Vec<_> = a
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.jtemplate(x, &format!("{at}/{i}"), &format!("{field}/{i}")))
                    .collect();
                if items.iter().all(|t| matches!(t, Template::Const(_))) {
                    Template::Const(RtValue::from(v))
                } else {
                    Template::Array(items)
                }
            }
            other => Template::Const(RtValue::from(other)),
        }
    }

    /// A number of seconds: an integer, or an expression checked when run.
    pub(super) fn jseconds(&mut self, obj: &Map<String, Value>, at: &str, key: &str) -> Option<Seconds> {
        match obj.get(key)? {
            v @ Value::String(_) => Some(Seconds::Expr(self.jtemplate(v, &ptr(at, key), key))),
            v => self.positive_int(v, &ptr(at, key), key, 1).map(Seconds::Fixed),
        }
    }

    pub(super) fn jwait(&mut self, v: &Value, at: &str, key: &str) -> Option<WaitFor> {
        match (key, v) {
            ("Seconds", Value::String(_)) => Some(WaitFor::SecondsExpr(self.jtemplate(v, at, key))),
            ("Seconds", _) => self.positive_int(v, at, key, 0).map(WaitFor::Seconds),
            ("Timestamp", Value::String(_)) => Some(WaitFor::TimestampExpr(self.jtemplate(v, at, key))),
            ("Timestamp", _) => {
                self.err(Code::WrongType, at, "'Timestamp' must be a string");
                None
            }
            _ => {
                self.err(Code::UnknownField, at, format!("field '{key}' is not allowed in a JSONata state"));
                None
            }
        }
    }

    pub(super) fn jcount(&mut self, v: &Value, at: &str, key: &str) -> Option<CountField> {
        match v {
            Value::String(_) => Some(CountField::Expr(self.jtemplate(v, at, key))),
            v => self.positive_int(v, at, key, 0).map(CountField::Fixed),
        }
    }

    pub(super) fn jtolerance(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        key: &str,
        max: Option<f64>,
    ) -> Option<Tolerance> {
        match obj.get(key)? {
            v @ Value::String(_) => Some(Tolerance::Expr(self.jtemplate(v, &ptr(at, key), key))),
            v => match v.as_f64() {
                Some(f) if f >= 0.0 && max.is_none_or(|m| f <= m) => Some(Tolerance::Fixed(f)),
                _ => {
                    self.err(Code::OutOfRange, ptr(at, key), format!("'{key}' is out of range"));
                    None
                }
            },
        }
    }

    /// A JSONata Choice rule: `Condition` instead of a comparison.
    pub(super) fn condition(&mut self, obj: &Map<String, Value>, at: &str) -> Option<Rule> {
        for k in obj.keys() {
            if !matches!(k.as_str(), "Condition" | "Next" | "Assign" | "Output" | "Comment") {
                self.err(
                    Code::BadChoiceRule,
                    ptr(at, k),
                    format!("field '{k}' is not allowed in a JSONata choice rule"),
                );
            }
        }
        match obj.get("Condition") {
            Some(v @ (Value::String(_) | Value::Bool(_))) => {
                Some(Rule::Condition(self.jtemplate(v, &ptr(at, "Condition"), "Condition")))
            }
            Some(_) => {
                self.err(
                    Code::WrongType,
                    ptr(at, "Condition"),
                    "'Condition' must be a JSONata expression or a boolean",
                );
                None
            }
            None => {
                self.err(Code::BadChoiceRule, at, "a JSONata choice rule needs a 'Condition'");
                None
            }
        }
    }
}
