//! The text drawn for states and edges: Choice rules, catchers, retriers.
//! Every label is built within a character budget, so a huge rule costs no
//! more than its first few dozen characters.

use expressway_engine::asl::{ChoiceOp, GlobPart, Operand, Retrier, Rule, Template};

/// Rules nested deeper than this are drawn as `…` (the parser already
/// bounds the nesting by the JSON's depth; this keeps the walk short).
const MAX_RULE_DEPTH: usize = 8;

/// Text with control characters (newlines included) turned into spaces
/// and clipped to `max` characters, the last of them `…` when clipped.
pub fn clip(text: &str, max: usize) -> String {
    let mut out = Budget::new(max);
    out.push(text);
    out.finish()
}

/// A string that stops growing at its budget and remembers that it did.
struct Budget {
    out: String,
    left: usize,
    clipped: bool,
}

impl Budget {
    fn new(max: usize) -> Budget {
        Budget { out: String::new(), left: max, clipped: false }
    }

    /// Append `text`; false once the budget is spent.
    fn push(&mut self, text: &str) -> bool {
        for c in text.chars() {
            if self.left == 0 {
                self.clipped = true;
                return false;
            }
            self.out.push(if c.is_control() { ' ' } else { c });
            self.left -= 1;
        }
        true
    }

    fn full(&self) -> bool {
        self.clipped
    }

    fn finish(mut self) -> String {
        if self.clipped {
            // Make room for the ellipsis within the budget.
            self.out.pop();
            self.out.push('…');
        }
        self.out
    }
}

/// A Choice rule, compactly: `$.x > 3`, `And($.a == "b", !IsNull($.c))`,
/// or a JSONata `Condition`'s expression text.
pub fn rule(r: &Rule, max: usize) -> String {
    let mut out = Budget::new(max);
    write_rule(r, 0, &mut out);
    out.finish()
}

fn write_rule(r: &Rule, depth: usize, out: &mut Budget) {
    if depth >= MAX_RULE_DEPTH {
        out.push("…");
        return;
    }
    match r {
        Rule::And(rules) | Rule::Or(rules) => {
            out.push(if matches!(r, Rule::And(_)) { "And(" } else { "Or(" });
            for (i, inner) in rules.iter().enumerate() {
                if out.full() {
                    return;
                }
                if i > 0 {
                    out.push(", ");
                }
                write_rule(inner, depth + 1, out);
            }
            out.push(")");
        }
        Rule::Not(inner) => {
            out.push("Not(");
            write_rule(inner, depth + 1, out);
            out.push(")");
        }
        Rule::Test { variable, op, operand } => write_test(variable.as_str(), *op, operand, out),
        Rule::Condition(Template::Jsonata(field)) => {
            out.push(field.expr.source());
        }
        Rule::Condition(Template::Const(v)) => {
            out.push(&v.to_json());
        }
        Rule::Condition(_) => {
            out.push("…");
        }
    }
}

fn write_test(variable: &str, op: ChoiceOp, operand: &Operand, out: &mut Budget) {
    if let Some(name) = type_test(op) {
        if let Operand::Value(v) = operand
            && let Some(b) = v.as_bool()
        {
            out.push(if b { "" } else { "!" });
            out.push(name);
            out.push("(");
            out.push(variable);
            out.push(")");
            return;
        }
        out.push(name);
        out.push("(");
        out.push(variable);
        out.push(") == ");
    } else {
        out.push(variable);
        out.push(" ");
        out.push(comparison(op));
        out.push(" ");
    }
    match operand {
        Operand::Value(v) => {
            out.push(&v.to_json());
        }
        Operand::Path(p) => {
            out.push(p.as_str());
        }
        Operand::Timestamp(t) => {
            out.push("\"");
            out.push(&t.to_rfc3339());
            out.push("\"");
        }
        Operand::Pattern(parts) => {
            out.push("\"");
            for part in parts {
                let more = match part {
                    GlobPart::Star => out.push("*"),
                    GlobPart::Literal(s) => out.push(&s.replace('\\', "\\\\").replace('*', "\\*").replace('"', "\\\"")),
                };
                if !more {
                    return;
                }
            }
            out.push("\"");
        }
    }
}

/// The name of a type test (`IsNull` …), or None for a comparison.
fn type_test(op: ChoiceOp) -> Option<&'static str> {
    Some(match op {
        ChoiceOp::IsNull => "IsNull",
        ChoiceOp::IsPresent => "IsPresent",
        ChoiceOp::IsNumeric => "IsNumeric",
        ChoiceOp::IsString => "IsString",
        ChoiceOp::IsBoolean => "IsBoolean",
        ChoiceOp::IsTimestamp => "IsTimestamp",
        _ => return None,
    })
}

/// The comparison's symbol; the operand's form (quoted, number, path)
/// tells strings, numbers and timestamps apart.
fn comparison(op: ChoiceOp) -> &'static str {
    use ChoiceOp::*;
    match op {
        StringEquals | NumericEquals | BooleanEquals | TimestampEquals => "==",
        StringLessThan | NumericLessThan | TimestampLessThan => "<",
        StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => ">",
        StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => "<=",
        StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => ">=",
        StringMatches => "matches",
        IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp => "is",
    }
}

/// A catcher's or retrier's `ErrorEquals`, comma-separated.
pub fn errors(names: &[String], max: usize) -> String {
    let mut out = Budget::new(max);
    for (i, name) in names.iter().enumerate() {
        if (i > 0 && !out.push(", ")) || !out.push(name) {
            break;
        }
    }
    out.finish()
}

/// `retry States.ALL ×3`.
pub fn retry(r: &Retrier, max: usize) -> String {
    let attempts = format!(" ×{}", r.max_attempts);
    let room = max.saturating_sub("retry ".len() + attempts.chars().count()).max(4);
    format!("retry {}{attempts}", errors(&r.error_equals, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_blanks_control_characters_and_marks_what_it_cut() {
        assert_eq!(clip("a\nb\tc", 10), "a b c");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
        assert_eq!(clip("äöüßé", 3).chars().count(), 3);
    }

    #[test]
    fn error_lists_stop_at_their_budget() {
        let names: Vec<String> = (0..1000).map(|i| format!("Error{i}")).collect();
        let text = errors(&names, 20);
        assert_eq!(text.chars().count(), 20);
        assert!(text.starts_with("Error0, Error1"), "{text}");
        assert!(text.ends_with('…'));
    }
}
