//! JSONPath data flow: paths, `.$` payload templates, InputPath/Parameters/ResultSelector/ResultPath/OutputPath.

use super::{Code, Validator, ptr};
use crate::asl::{DataFlow, PathField, ResultPath, Template};
use crate::intrinsics::{self, Call};
use crate::jsonpath::{JsonPath, Root};
use crate::value::{Key, Value as RtValue};
use serde_json::{Map, Value};

impl Validator {
    /// A JSONPath string; notes whether it reads the execution's part of `$$`.
    pub(super) fn path(&mut self, v: &Value, at: &str, name: &str) -> Option<JsonPath> {
        let Some(s) = v.as_str() else {
            self.err(Code::WrongType, at, format!("'{name}' must be a JSONPath string"));
            return None;
        };
        match JsonPath::parse(s) {
            Ok(p) => {
                self.uses_context |= p.reads_execution_context();
                self.jsonpath_bytes = self.jsonpath_bytes.saturating_add(size_of::<JsonPath>() + p.heap_bytes());
                Some(p)
            }
            Err(e) => {
                self.err(Code::BadJsonPath, at, format!("'{name}' is not a valid JSONPath: {e}"));
                None
            }
        }
    }

    /// An intrinsic call parsed for the machine: what it reads of `$$` and
    /// what its paths hold compiled are noted.
    pub(super) fn noted(&mut self, call: Call) -> Call {
        self.uses_context |= call.paths().iter().any(|p| p.reads_execution_context());
        self.jsonpath_bytes = self.jsonpath_bytes.saturating_add(call.heap_bytes());
        call
    }

    /// A reference path: fields and indexes only (no filters or wildcards), so it names one value.
    pub(super) fn reference_path(&mut self, v: &Value, at: &str, name: &str) -> Option<JsonPath> {
        let p = self.path(v, at, name)?;
        if !p.is_reference() {
            self.err(
                Code::BadJsonPath,
                at,
                format!("'{name}' must be a reference path (fields and indexes only): '{p}'"),
            );
            return None;
        }
        Some(p)
    }

    /// `InputPath`/`OutputPath`: absent or `$` passes everything, `null` discards.
    fn path_field(&mut self, obj: &Map<String, Value>, at: &str, key: &str) -> PathField {
        match obj.get(key) {
            None => PathField::Identity,
            Some(Value::Null) => PathField::Discard,
            Some(v) => match self.path(v, &ptr(at, key), key) {
                Some(p) if p.is_root() && p.root == Root::Input => PathField::Identity,
                Some(p) => PathField::Path(p),
                None => PathField::Identity,
            },
        }
    }

    /// `ResultPath`: where the result goes in the state input; `null` discards it.
    pub(super) fn result_path(&mut self, v: Option<&Value>, at: &str) -> ResultPath {
        match v {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(v) => match self.reference_path(v, at, "ResultPath") {
                Some(p) if p.root != Root::Input => {
                    self.err(Code::BadJsonPath, at, "'ResultPath' must start with '$', not a context path");
                    ResultPath::Replace
                }
                Some(p) if p.is_root() => ResultPath::Replace,
                Some(p) => {
                    let steps = p.reference_steps().unwrap_or_default();
                    ResultPath::Into(p, steps)
                }
                None => ResultPath::Replace,
            },
        }
    }

    /// A payload template: keys ending in `.$` hold paths or intrinsic calls.
    pub(super) fn template(&mut self, v: &Value, at: &str) -> Template {
        match v {
            Value::Object(o) => {
                let mut fields = Vec::with_capacity(o.len());
                let mut all_const = true;
                for k in o.keys() {
                    if let Some(stripped) = k.strip_suffix(".$")
                        && o.contains_key(stripped)
                    {
                        self.err(
                            Code::DuplicateKey,
                            ptr(at, k),
                            format!("'{k}' and '{stripped}' name the same field once '.$' is removed"),
                        );
                    }
                }
                for (k, x) in o {
                    let kp = ptr(at, k);
                    let t = if let Some(stripped) = k.strip_suffix(".$") {
                        let t = self.dynamic(x, &kp, k);
                        fields.push((Key::intern(stripped), t));
                        all_const = false;
                        continue;
                    } else {
                        self.template(x, &kp)
                    };
                    all_const &= matches!(t, Template::Const(_));
                    fields.push((Key::intern(k), t));
                }
                if all_const { Template::Const(RtValue::from(v)) } else { Template::Object(fields) }
            }
            Value::Array(a) => {
                let items: Vec<Template> =
                    a.iter().enumerate().map(|(i, x)| self.template(x, &format!("{at}/{i}"))).collect();
                if items.iter().all(|t| matches!(t, Template::Const(_))) {
                    Template::Const(RtValue::from(v))
                } else {
                    Template::Array(items)
                }
            }
            other => Template::Const(RtValue::from(other)),
        }
    }

    /// The value of a `key.$` field: an intrinsic function call or a path.
    fn dynamic(&mut self, v: &Value, at: &str, key: &str) -> Template {
        let Some(s) = v.as_str() else {
            self.err(
                Code::WrongType,
                at,
                format!("the value of '{key}' must be a JSONPath or an intrinsic function call"),
            );
            return Template::Const(RtValue::Null);
        };
        if intrinsics::looks_like_call(s) {
            match Call::parse(s) {
                Ok(c) => Template::Call(self.noted(c)),
                Err(e) => {
                    self.err(Code::BadIntrinsic, at, format!("invalid intrinsic function call in '{key}': {e}"));
                    Template::Const(RtValue::Null)
                }
            }
        } else {
            match self.path(v, at, key) {
                Some(p) => Template::Path(p),
                None => Template::Const(RtValue::Null),
            }
        }
    }

    /// The JSONPath data-flow fields of a state.
    pub(super) fn data_flow(&mut self, obj: &Map<String, Value>, at: &str, ty: &str) -> DataFlow {
        DataFlow {
            input_path: self.path_field(obj, at, "InputPath"),
            // A Map's `Parameters` is the legacy name of its ItemSelector.
            parameters: obj
                .get("Parameters")
                .filter(|_| ty != "Map")
                .map(|p| self.object_template(p, &ptr(at, "Parameters"), "Parameters")),
            result_selector: obj
                .get("ResultSelector")
                .map(|p| self.object_template(p, &ptr(at, "ResultSelector"), "ResultSelector")),
            result_path: self.result_path(obj.get("ResultPath"), &ptr(at, "ResultPath")),
            output_path: self.path_field(obj, at, "OutputPath"),
        }
    }

    /// `Parameters` or `ResultSelector`; only `ResultSelector` must be an object.
    fn object_template(&mut self, v: &Value, at: &str, name: &str) -> Template {
        if !v.is_object() && name == "ResultSelector" {
            self.err(Code::WrongType, at, format!("'{name}' must be an object"));
        }
        self.template(v, at)
    }
}
