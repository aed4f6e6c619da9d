//! JSONata queries in the VM: the `$states` binding, the evaluation budget,
//! AWS's error texts, and the fields whose values must have a given type
//! (Items, Condition, counts).

use super::raised::query_error;
use super::{Frame, Program, Raised, Resolver, Shared};
use crate::asl::{ContextUse, DirectRead, DirectRoot, JsonataField, Template};
use crate::bounds::Measure;
use crate::errors::ErrorName;
use crate::jsonata::{Environment, Limits, States};
use crate::value::Value;

/// The evaluation budget of one expression: a runaway one fails its state
/// with `States.QueryEvaluationError` (U1001) instead of holding the shard.
/// Nested evaluation steps: a user function recursing ~3,000 times that is
/// not tail-recursive (jsonata-js, on JavaScript's stack, goes as far).
const LIMITS: Limits = Limits { max_depth: 10_000, max_steps: 2_000_000 };

/// What the data handed to a JSONata expression is, besides `$states.input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Before the work (Arguments, Items, Condition): only the input.
    Input,
    /// After a Task, Map or Parallel: `$states.result`.
    Result,
    /// In a Catch: `$states.errorOutput`.
    ErrorOutput,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The error for a field whose value has the wrong type.
fn unexpected(t: &Template, expected: &str, v: &Value) -> (ErrorName, String) {
    let detail = match t {
        Template::Jsonata(j) => format!(
            "The JSONata expression '{}' specified for the field '{}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {v}",
            j.expr.source(),
            j.field,
            json_type(v)
        ),
        _ => format!("The field value {v} has an unexpected type. Expected '{expected}', but was '{}'", json_type(v)),
    };
    (ErrorName::QueryEvaluationError, detail)
}

/// The error for a JSONata field that evaluated to `undefined`.
fn returned_nothing(j: &JsonataField) -> (ErrorName, String) {
    (
        ErrorName::QueryEvaluationError,
        format!(
            "The JSONata expression '{}' specified for the field '{}' returned nothing (undefined).",
            j.expr.source(),
            j.field
        ),
    )
}

/// What a direct JSONata expression reads: `$states` as the resolver
/// sees it, `data` (the state's result or error output) bounded by
/// `data_bound`.
struct DirectReader<'a, 'r> {
    resolver: &'a Resolver<'r>,
    data: &'a Value,
    data_bound: Option<Measure>,
}

impl crate::jsonata::Reader<DirectRead> for DirectReader<'_, '_> {
    fn read(&self, d: &DirectRead) -> crate::jsonata::Found<'_> {
        self.resolver.direct_read(d, self.data)
    }

    fn bound(&self, d: &DirectRead) -> Option<Measure> {
        read_bound(d.root, self.resolver.state_input_bound, self.data_bound, self.resolver.map_item_bound)
    }

    fn is_variable(&self, name: &str) -> bool {
        self.resolver.vars.get(name).is_some()
    }
}

/// An upper bound on what a direct read from `root` finds before its
/// number conversion, given bounds on the state input, on `data` (the
/// result or error output) and on the Map item: a part of a value is no
/// larger than all of it; the item's index is a number.
pub(super) fn read_bound(
    root: DirectRoot,
    input_bound: Option<Measure>,
    data_bound: Option<Measure>,
    map_item_bound: Option<Measure>,
) -> Option<Measure> {
    match root {
        DirectRoot::Input => input_bound,
        DirectRoot::Result | DirectRoot::ErrorOutput => data_bound,
        DirectRoot::MapValue => map_item_bound,
        DirectRoot::MapIndex => Some(Measure::NUMBER),
    }
}

impl Resolver<'_> {
    /// Does the direct read `d` of the state input or Map item find a value
    /// (`false` also where it cannot be read directly)?
    pub(super) fn finds(&self, d: &DirectRead) -> bool {
        matches!(self.direct_read(d, &Value::Null), Some(Some(_)))
    }

    /// A direct read (`$states.input.a.b`), as `jsonata::read_fields`
    /// takes a path; `None` for a root this state does not have.
    fn direct_read<'s>(&'s self, d: &DirectRead, data: &'s Value) -> crate::jsonata::Found<'s> {
        let root = match d.root {
            DirectRoot::Input => self.state_input,
            DirectRoot::Result if self.role == Role::Result => data,
            DirectRoot::ErrorOutput if self.role == Role::ErrorOutput => data,
            DirectRoot::MapIndex => return self.map_item.map(|(i, _)| Some(std::borrow::Cow::Owned(Value::from(i)))),
            DirectRoot::MapValue => self.map_item?.1,
            _ => return None,
        };
        crate::jsonata::read_fields(root, &d.fields)
    }

    /// Evaluate a JSONata field, given an upper bound on `data`'s measure
    /// where known; with one on the value's where its direct form knows one
    /// (a part of a value whose bound is known, a `$merge`'s sum; `None`:
    /// measure it).
    pub(super) fn eval_jsonata(
        &mut self,
        j: &JsonataField,
        data: &Value,
        data_bound: Option<Measure>,
    ) -> Result<(Value, Option<Measure>), (ErrorName, String)> {
        let found = j.direct.as_ref().and_then(|direct| {
            let mut reader = DirectReader { resolver: self, data, data_bound };
            direct.evaluate(&mut reader)
        });
        if let Some(evaluated) = found {
            return evaluated.ok_or_else(|| returned_nothing(j));
        }
        if j.direct_only {
            return Err((ErrorName::QueryEvaluationError, format!("'{}' is not evaluated directly here", j.field)));
        }
        let context = match j.context {
            ContextUse::All => Some(self.context()),
            ContextUse::None | ContextUse::MapItem => None,
        };
        let states = States {
            input: self.state_input,
            result: (self.role == Role::Result).then_some(data),
            error_output: (self.role == Role::ErrorOutput).then_some(data),
            context: context.as_ref(),
            map_item: self.map_item,
        };
        // The depth of what the expression can read, where known: its
        // input, `$states` and the Map item (not the context, built here
        // with the execution's input).
        let mut value_depth = self.state_input_bound.map(|b| b.depth);
        if self.role != Role::Input {
            value_depth = value_depth.zip(data_bound).map(|(d, b)| d.max(b.depth));
        }
        if context.is_some() {
            value_depth = None;
        }
        if self.map_item.is_some() {
            value_depth = value_depth.zip(self.map_item_bound).map(|(d, b)| d.max(b.depth));
        }
        let env = Environment {
            value_depth,
            bindings: &[],
            states: Some(states),
            variables: Some(self.vars),
            now_millis: self.shared.now_ms,
            seed: if j.reads_random { self.shared.next_random() } else { 0x9e37_79b9 },
            // Within what is left of the execution's steps, too.
            limits: Limits { max_steps: LIMITS.max_steps.min(self.shared.work_left()), ..LIMITS },
        };
        let mut steps = 0;
        let evaluated = j.expr.evaluate_metered(Some(self.state_input), env, &mut steps);
        self.shared.spend_work(steps);
        match evaluated {
            Ok(Some(v)) => Ok((v, None)),
            Ok(None) => Err(returned_nothing(j)),
            Err(e) => Err((
                ErrorName::QueryEvaluationError,
                format!(
                    "The JSONata expression '{}' specified for the field '{}' threw an error during evaluation. {}: {}",
                    j.expr.source(),
                    j.field,
                    e.code,
                    e.message
                ),
            )),
        }
    }

    /// A Choice rule's `Condition`: must be a boolean.
    pub(super) fn condition(&mut self, t: &Template, data: &Value) -> Result<bool, (ErrorName, String)> {
        match self.eval_template(t, data)? {
            Value::Bool(b) => Ok(b),
            other => Err(unexpected(t, "boolean", &other)),
        }
    }
}

impl Program {
    /// The role of the accumulator in the current state's `Assign`/`Output`.
    pub(super) fn result_role(&self, frame: &Frame) -> Role {
        if self.states[frame.state as usize].has_result { Role::Result } else { Role::Input }
    }

    fn jsonata_value(&self, frame: &Frame, shared: &mut Shared, t: &Template) -> Result<Value, Raised> {
        self.resolver(frame, shared).eval_template(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))
    }

    fn typed<T>(&self, frame: &Frame, t: &Template, v: &Value, expected: &str, ok: Option<T>) -> Result<T, Raised> {
        ok.ok_or_else(|| {
            let (n, d) = unexpected(t, expected, v);
            self.template_error(frame, n, d)
        })
    }

    /// A non-negative integer field (seconds, counts, concurrency).
    pub(super) fn jsonata_count(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        t: &Template,
        _field: &str,
    ) -> Result<u64, Raised> {
        let v = self.jsonata_value(frame, shared, t)?;
        let n = v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64);
        self.typed(frame, t, &v, "integer", n)
    }

    pub(super) fn jsonata_number(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        t: &Template,
        _field: &str,
    ) -> Result<f64, Raised> {
        let v = self.jsonata_value(frame, shared, t)?;
        let n = v.as_f64();
        self.typed(frame, t, &v, "number", n)
    }

    /// A Wait `Timestamp`, in epoch milliseconds.
    pub(super) fn jsonata_timestamp(&self, frame: &Frame, shared: &mut Shared, t: &Template) -> Result<i64, Raised> {
        let v = self.jsonata_value(frame, shared, t)?;
        match v.as_str().and_then(crate::time::parse_timestamp) {
            Some(ts) => Ok(crate::time::to_millis(&ts)),
            None => {
                let shown = match &v {
                    Value::String(s) => s.to_string(),
                    other => other.to_json(),
                };
                Err(query_error(
                    &self.states[frame.state as usize].name,
                    frame.entered_event,
                    format!(
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {shown}"
                    ),
                ))
            }
        }
    }

    /// A Map's JSONata `Items`: must be an array. With a bound on its
    /// measure, if known.
    pub(super) fn jsonata_items(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        t: &Template,
    ) -> Result<(Value, Option<Measure>), Raised> {
        let (v, bound) = self
            .resolver(frame, shared)
            .eval_template_bounded(t, frame.acc(), frame.acc_bound())
            .map_err(|(n, d)| self.template_error(frame, n, d))?;
        if v.is_array() {
            return Ok((v, bound));
        }
        let (n, d) = unexpected(t, "array", &v);
        Err(self.template_error(frame, n, d))
    }
}
