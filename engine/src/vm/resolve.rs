//! Resolving paths, payload templates and intrinsic calls within one state.

use super::raised::{check_built, missing_field, path_miss_detail};
use super::{Frame, Role, Shared};
use crate::asl::Template;
use crate::bounds::{self, Measure, Sum};
use crate::errors::ErrorName;
use crate::intrinsics::{self, Call, IntrinsicEnv};
use crate::jsonpath::{JsonPath, MapItem, PathMiss, Root};
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
    /// An upper bound on the measure of the Map item's value, if known.
    pub(super) map_item_bound: Option<Measure>,
    pub(super) entered_event: u64,
    /// `$states.input` of JSONata expressions: the state's raw input.
    pub(super) state_input: &'a Value,
    /// An upper bound on its measure, if known.
    pub(super) state_input_bound: Option<Measure>,
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
            return self.select_definite(path, data);
        }
        self.select(path, data).map(std::borrow::Cow::Owned)
    }

    /// A definite path's value, wide objects it looks into spending the
    /// execution's work (a step per [`super::MEMBERS_PER_STEP`] members).
    fn select_definite<'d>(&self, path: &JsonPath, data: &'d Value) -> Result<std::borrow::Cow<'d, Value>, PathMiss> {
        let mut scanned = 0;
        let selected = path.select_definite_scanning(data, 0, &mut scanned);
        if scanned > 0 {
            self.shared.spend_work(scanned / super::MEMBERS_PER_STEP);
        }
        selected
    }

    pub(super) fn select(&self, path: &JsonPath, data: &Value) -> Result<Value, PathMiss> {
        match &path.root {
            Root::Input => self.select_metered(path, data),
            Root::Context => self.select_context(path),
            Root::Variable(name) => match self.vars.get(name) {
                Some(v) => self.select_metered(path, v),
                None => Err(PathMiss { rendered: format!("${name}") }),
            },
        }
    }

    /// Select `path` from `data`, an indefinite path spending the
    /// execution's work for the nodes it visits (a step per
    /// [`super::NODES_PER_STEP`]), at most [`crate::jsonpath::NODES_PER_SELECT`].
    /// Out of either, it stops and misses, the execution's work spent; the
    /// driver then ends the execution as timed out.
    pub(super) fn select_metered(&self, path: &JsonPath, data: &Value) -> Result<Value, PathMiss> {
        if path.is_definite() {
            return self.select_definite(path, data).map(std::borrow::Cow::into_owned);
        }
        let budget =
            self.shared.work_left().saturating_mul(super::NODES_PER_STEP).min(crate::jsonpath::NODES_PER_SELECT);
        let mut nodes_left = budget;
        let selected = path.select_within(data, &mut nodes_left);
        match selected {
            Ok(_) => self.shared.spend_work((budget - nodes_left).div_ceil(super::NODES_PER_STEP)),
            // An indefinite path misses only when its walk ran out.
            Err(_) => self.shared.spend_work(u64::MAX),
        }
        selected
    }

    /// Build a template's value; one that breaks the payload bounds fails
    /// the state (a selected value cannot have grown; a constant past them
    /// is unfolded by the compiler, and so built).
    pub(super) fn eval_template(&mut self, t: &Template, data: &Value) -> Result<Value, (ErrorName, String)> {
        self.eval_template_bounded(t, data, None).map(|(v, _)| v)
    }

    /// [`Resolver::eval_template`], given an upper bound on `data`'s
    /// measure where one is known; returns one on the value's (`None`:
    /// unknown, for a folded constant or a selected value, not checked).
    /// The bounds of its parts prove most values within the payload bounds
    /// without a walk over them; one they do not is measured exactly, so a
    /// loose bound never fails a state.
    pub(super) fn eval_template_bounded(
        &mut self,
        t: &Template,
        data: &Value,
        data_bound: Option<Measure>,
    ) -> Result<(Value, Option<Measure>), (ErrorName, String)> {
        match t {
            // A folded object or array fits (the compiler unfolds one that
            // does not: `unfold_past_bounds`), measured only if a later join
            // needs it; a string is measured here, as a scalar.
            Template::Const(v) => {
                let bound = match bounds::scalar(v) {
                    Some(b) if !b.fits() => Some(check_built(&self.program.states[self.frame_state as usize].name, v)?),
                    b => b,
                };
                return Ok((v.clone(), bound));
            }
            Template::Path(p) => {
                let v = self.select(p, data).map_err(|m| (ErrorName::Runtime, path_miss_detail(p, &m)))?;
                let bound = bounds::scalar(&v).or(self.whole_bound(p, data_bound));
                return Ok((v, bound));
            }
            _ => {}
        }
        let (v, bound) = self.build(t, data, data_bound)?;
        if bound.is_some_and(Measure::fits) {
            return Ok((v, bound));
        }
        let exact = check_built(&self.program.states[self.frame_state as usize].name, &v)?;
        Ok((v, Some(exact)))
    }

    /// A template's value and an upper bound on its measure (`None` where
    /// a part's is unknown or over the bounds).
    fn build(
        &mut self,
        t: &Template,
        data: &Value,
        data_bound: Option<Measure>,
    ) -> Result<(Value, Option<Measure>), (ErrorName, String)> {
        match t {
            Template::Const(v) => Ok((v.clone(), bounds::bound(v, None))),
            Template::Object(fields) => {
                // One spare slot: a ResultPath often adds a field next.
                let mut out = Map::with_capacity(fields.len() + 1);
                let mut sum = Some(Sum::new());
                for (k, ft) in fields {
                    // Keys are distinct (validated), and shared with the template.
                    let (v, bound) = match ft {
                        Template::Path(p) => match self.select(p, data) {
                            Ok(v) => {
                                let bound = self.selected_bound(p, &v, data_bound);
                                (v, bound)
                            }
                            Err(_) => return Err(missing_field(p, k, data)),
                        },
                        Template::Call(c) => self.eval_call_measured(c, data)?,
                        other => self.build(other, data, data_bound)?,
                    };
                    sum = bounds::add_part(sum, bounds::member_len(k), bound);
                    out.push_unique(k.clone(), v);
                }
                Ok((Value::object(out), sum.map(Sum::total)))
            }
            Template::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut sum = Some(Sum::new());
                for it in items {
                    let (v, bound) = self.build(it, data, data_bound)?;
                    sum = bounds::add_part(sum, 0, bound);
                    out.push(v);
                }
                Ok((Value::array(out), sum.map(Sum::total)))
            }
            Template::Path(p) => match self.select(p, data) {
                Ok(v) => {
                    let bound = self.selected_bound(p, &v, data_bound);
                    Ok((v, bound))
                }
                Err(m) => Err((ErrorName::Runtime, path_miss_detail(p, &m))),
            },
            Template::Call(c) => self.eval_call_measured(c, data),
            Template::Jsonata(j) => {
                let (v, whole) = self.eval_jsonata(j, data, data_bound)?;
                // Loose: a result that does not fit is measured exactly
                // (`eval_template_bounded`), so no state fails for it.
                let bound = bounds::scalar(&v).or(whole).or_else(|| bounds::loose(&v));
                Ok((v, bound))
            }
        }
    }

    /// An upper bound on the measure of what `p` selects, where known.
    fn whole_bound(&self, p: &JsonPath, data_bound: Option<Measure>) -> Option<Measure> {
        selected_bound(p, data_bound, self.map_item_bound)
    }

    /// The measure of `v`, selected by `p`: its bound where known, else
    /// measured, the walk spending the execution's work (a step per
    /// [`super::BYTES_PER_STEP`] measured): an ItemSelector copying a
    /// context value into every iteration of nested Maps walked it each
    /// time uncharged, minutes up to the transitions cap.
    fn selected_bound(&self, p: &JsonPath, v: &Value, data_bound: Option<Measure>) -> Option<Measure> {
        if let Some(known) = bounds::scalar(v).or(self.whole_bound(p, data_bound)) {
            return Some(known);
        }
        let measured = bounds::check(v).ok();
        let walked = measured.map_or(bounds::MAX_PAYLOAD_BYTES, |m| m.bytes);
        self.shared.spend_bytes(walked);
        measured
    }

    pub(super) fn eval_call_measured(
        &mut self,
        c: &Call,
        data: &Value,
    ) -> Result<(Value, Option<Measure>), (ErrorName, String)> {
        let mut env = CallEnv { resolver: self, data };
        intrinsics::eval_measured(c, &mut env).map_err(|cause| (ErrorName::IntrinsicFailure, cause))
    }

    pub(super) fn eval_call(&mut self, c: &Call, data: &Value) -> Result<Value, (ErrorName, String)> {
        let mut env = CallEnv { resolver: self, data };
        intrinsics::eval(c, &mut env).map_err(|cause| (ErrorName::IntrinsicFailure, cause))
    }
}

/// An upper bound on the measure of what `p` selects from data bounded by
/// `data_bound`, in a Map iteration whose item is bounded by
/// `map_item_bound`: a definite path selects a part of what it reads, no
/// more than all of it; the item's index is a number.
pub(super) fn selected_bound(
    p: &JsonPath,
    data_bound: Option<Measure>,
    map_item_bound: Option<Measure>,
) -> Option<Measure> {
    match (&p.root, p.map_item()) {
        (Root::Input, _) if p.is_definite() => data_bound,
        (Root::Context, Some(MapItem::Value)) => map_item_bound,
        (Root::Context, Some(MapItem::Index)) => Some(Measure::NUMBER),
        _ => None,
    }
}

struct CallEnv<'s, 'a> {
    resolver: &'s mut Resolver<'a>,
    data: &'s Value,
}

impl IntrinsicEnv for CallEnv<'_, '_> {
    fn charge(&mut self, bytes: usize) {
        self.resolver.shared.spend_bytes(bytes);
    }
    fn out_of_work(&self) -> bool {
        self.resolver.shared.work_left() == 0
    }
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
            map_item_bound: None,
            // Until the work is done the accumulator is the input; states
            // that read it later keep it.
            state_input: if self.states[frame.state as usize].keeps_input { &frame.input } else { frame.acc() },
            state_input_bound: if self.states[frame.state as usize].keeps_input {
                frame.input_bound
            } else {
                frame.acc_bound()
            },
            role: Role::Input,
        }
    }
}
