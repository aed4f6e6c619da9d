//! Fail states: the Error and Cause they end with, literal, by path, by intrinsic or by JSONata.

use super::jsonata_fields;
use super::{Code, Validator, ptr};
use crate::asl::FailField;
use crate::intrinsics::{self, Call};
use serde_json::{Map, Value};

impl Validator {
    /// `Error`/`Cause`: a literal or its `*Path` (a path or an intrinsic call);
    /// in a JSONata state, a literal or an expression.
    pub(super) fn fail_field(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        lit: &str,
        path: &str,
        jsonata: bool,
    ) -> FailField {
        if jsonata {
            return match obj.get(lit) {
                None => FailField::None,
                Some(Value::String(s)) if !jsonata_fields::is_expression(s) => FailField::Literal(s.clone()),
                Some(v @ Value::String(_)) => FailField::Expr(self.jtemplate(v, &ptr(at, lit), lit)),
                Some(_) => {
                    self.err(Code::WrongType, ptr(at, lit), format!("'{lit}' must be a string"));
                    FailField::None
                }
            };
        }
        match (obj.get(lit), obj.get(path)) {
            (Some(_), Some(_)) => {
                self.err(Code::ExclusiveFields, at, format!("only one of '{lit}' and '{path}' may be given"));
                FailField::None
            }
            (Some(Value::String(s)), None) => FailField::Literal(s.clone()),
            (Some(_), None) => {
                self.err(Code::WrongType, ptr(at, lit), format!("'{lit}' must be a string"));
                FailField::None
            }
            (None, Some(v)) => match v.as_str() {
                Some(s) if intrinsics::looks_like_call(s) => match Call::parse(s) {
                    Ok(c) => FailField::Call(self.noted(c)),
                    Err(e) => {
                        self.err(Code::BadIntrinsic, ptr(at, path), format!("invalid intrinsic function call: {e}"));
                        FailField::None
                    }
                },
                _ => self.path(v, &ptr(at, path), path).map(FailField::Path).unwrap_or(FailField::None),
            },
            (None, None) => FailField::None,
        }
    }
}
