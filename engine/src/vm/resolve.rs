//! Resolving paths, payload templates and intrinsic calls within one state.

use super::raised::{check_built, missing_field, path_miss_detail};
use super::{Frame, Role, Shared};
use crate::asl::Template;
use crate::errors::ErrorName;
use crate::intrinsics::{self, Call, IntrinsicEnv};
use crate::jsonpath::{JsonPath, PathMiss, Root};
use crate::program::{Program, StateId};
use crate::value::{Object as Map, Value};

/// Resolution context for paths, templates and intrinsics in one state.
pub(super) struct Resolver<'a> {
    pub(super) program: &'a Program,
    pub(super) vars: &'a Value,
    pub(super) frame_state: StateId,
    pub(super) entered_ms: i64,
    pub(super) retry_count: u32,
    pub(super) shared: &'a mut Shared,
    pub(super) map_item: Option<(usize, &'a Value)>,
    pub(super) entered_event: u64,
    /// `$states.input` of JSONata expressions: the state's raw input.
    pub(super) state_input: &'a Value,
    /// What the data a JSONata expression gets is to it.
    pub(super) role: Role,
}

impl Resolver<'_> {
    /// Borrowing form of [`Resolver::select`] for definite input paths.
    pub(super) fn select_cow<'d>(
        &self,
        path: &JsonPath,
        data: &'d Value,
    ) -> Result<std::borrow::Cow<'d, Value>, PathMiss> {
        if path.root == Root::Input && path.is_definite() {
            return path.select_definite(data);
        }
        self.select(path, data).map(std::borrow::Cow::Owned)
    }

    pub(super) fn select(&self, path: &JsonPath, data: &Value) -> Result<Value, PathMiss> {
        match &path.root {
            Root::Input => path.select(data),
            Root::Context => self.select_context(path),
            Root::Variable(name) => match self.vars.get(name) {
                Some(v) => path.select(v),
                None => Err(PathMiss { rendered: format!("${name}") }),
            },
        }
    }

    /// Build a template's value; one that breaks the payload bounds fails
    /// the state (a constant or a selected value cannot have grown).
    pub(super) fn eval_template(&mut self, t: &Template, data: &Value) -> Result<Value, (ErrorName, String)> {
        let v = self.build(t, data)?;
        if !matches!(t, Template::Const(_) | Template::Path(_)) {
            check_built(&self.program.states[self.frame_state as usize].name, &v)?;
        }
        Ok(v)
    }

    fn build(&mut self, t: &Template, data: &Value) -> Result<Value, (ErrorName, String)> {
        match t {
            Template::Const(v) => Ok(v.clone()),
            Template::Object(fields) => {
                // One spare slot: a ResultPath often adds a field next.
                let mut out = Map::with_capacity(fields.len() + 1);
                for (k, ft) in fields {
                    // Keys are distinct (validated), and shared with the template.
                    match ft {
                        Template::Path(p) => match self.select(p, data) {
                            Ok(v) => out.push_unique(k.clone(), v),
                            Err(_) => return Err(missing_field(p, k, data)),
                        },
                        Template::Call(c) => out.push_unique(k.clone(), self.eval_call(c, data)?),
                        other => out.push_unique(k.clone(), self.build(other, data)?),
                    }
                }
                Ok(Value::object(out))
            }
            Template::Array(items) => {
                items.iter().map(|it| self.build(it, data)).collect::<Result<Vec<_>, _>>().map(Value::array)
            }
            Template::Path(p) => self.select(p, data).map_err(|m| (ErrorName::Runtime, path_miss_detail(p, &m))),
            Template::Call(c) => self.eval_call(c, data),
            Template::Jsonata(j) => self.eval_jsonata(j, data),
        }
    }

    pub(super) fn eval_call(&mut self, c: &Call, data: &Value) -> Result<Value, (ErrorName, String)> {
        let mut env = CallEnv { resolver: self, data };
        intrinsics::eval(c, &mut env).map_err(|cause| (ErrorName::IntrinsicFailure, cause))
    }
}

struct CallEnv<'s, 'a> {
    resolver: &'s mut Resolver<'a>,
    data: &'s Value,
}

impl IntrinsicEnv for CallEnv<'_, '_> {
    fn resolve(&self, path: &JsonPath) -> Result<Value, String> {
        self.resolver.select(path, self.data).map_err(|m| path_miss_detail(path, &m))
    }
    fn resolve_borrowed(&self, path: &JsonPath) -> Result<std::borrow::Cow<'_, Value>, String> {
        self.resolver.select_cow(path, self.data).map_err(|m| path_miss_detail(path, &m))
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.resolver.shared.next_random(), self.resolver.shared.next_random());
        intrinsics::uuid_v4(a, b)
    }
    fn random(&mut self) -> u64 {
        self.resolver.shared.next_random()
    }
}

impl Program {
    pub(super) fn resolver<'a>(&'a self, frame: &'a Frame, shared: &'a mut Shared) -> Resolver<'a> {
        Resolver {
            program: self,
            vars: &frame.vars,
            frame_state: frame.state,
            entered_ms: frame.entered_ms,
            retry_count: frame.retry_count,
            entered_event: frame.entered_event,
            shared,
            map_item: None,
            // Until the work is done the accumulator is the input; states
            // that read it later keep it.
            state_input: if self.states[frame.state as usize].keeps_input { &frame.input } else { frame.acc() },
            role: Role::Input,
        }
    }
}
