//! Map states (items, ItemSelector, ItemBatcher, the tolerated failure
//! threshold; iterations run inline or forked out) and the collection of
//! fork results, Map's and Parallel's.

use super::fields::{path_integer, shown_raw};
use super::query::read_bound;
use super::raised::{check_built, data_limit_cause, path_miss_detail, query_error, runtime};
use super::resolve::selected_bound;
use super::{Fork, Frame, MAX_PAYLOAD_BYTES, MapIo, Outcome, Raised, Resume, Shared, Step, Waiting};
use crate::asl::{DirectRoot, ItemBatcher, MapMode, MapState, Template, Tolerance};
use crate::bounds::{self, Measure, Sum};
use crate::errors::ErrorName;
use crate::jsonata::DirectExpr;
use crate::jsonpath::Root;
use crate::program::{MachineId, MapSpec, Op, Program};
use crate::value::{Object as Map, Value};

/// How a Map state got going.
pub(super) enum MapStart {
    /// Children to run outside: the frame waits for their results.
    Forked(Step),
    /// Iterations ran inline; the frame has moved on, or this step ends it.
    Finished(Option<Step>),
}

/// Iterations that run at once on AWS for a `MaxConcurrency` of
/// `max_concurrency` (0: none given): an inline Map runs at most 40
/// whatever is asked; a distributed one at most 10,000 child executions.
fn at_once(mode: MapMode, max_concurrency: usize) -> usize {
    const INLINE: usize = 40;
    const DISTRIBUTED: usize = 10_000;
    match (mode, max_concurrency) {
        (MapMode::Inline, 0) => INLINE,
        (MapMode::Inline, n) => n.min(INLINE),
        (MapMode::Distributed, 0) => DISTRIBUTED,
        (MapMode::Distributed, n) => n.min(DISTRIBUTED),
    }
}

impl Program {
    pub(super) fn start_map(&self, frame: &mut Frame, shared: &mut Shared, m: u32) -> Result<MapStart, Raised> {
        let spec = &self.maps[m as usize];
        let map = &spec.state;
        frame.io = None;
        let max_concurrency = match &map.max_concurrency {
            Some(f) => self.count_field(frame, shared, f, "MaxConcurrencyPath")? as usize,
            None => 0,
        };
        frame.tolerance = self.tolerance(frame, shared, map)?;
        if let Some(reader) = &map.item_reader {
            // The items come from S3: ask for them, then carry on in
            // `map_over` with the answer (`ItemsPath` does not apply).
            return self.start_reading(frame, shared, reader, max_concurrency).map(MapStart::Forked);
        }
        let name = self.state_name(frame).to_string();
        let entered = frame.entered_event;
        let inline = self.machines[spec.processor as usize].runs_inline;
        let wants_bounds = inline || map.item_selector.is_some();
        // Bounds on the iterations' inputs spare measuring them where they
        // are built on (templates, inline iterations). Items read from the
        // accumulator by a definite path are parts of it: each is bounded
        // by it, measured once here if need be.
        let from_acc =
            map.items.is_none() && map.items_path.as_ref().is_none_or(|p| p.root == Root::Input && p.is_definite());
        // Measured also for JSONata `Items` and `Output`, which read it as
        // `$states.input`.
        let acc_bound = if wants_bounds { frame.measured_acc_bound() } else { frame.acc_bound() };
        let mut items_bound = if from_acc { acc_bound } else { None };
        let items_value = match (&map.items_path, &map.items) {
            (_, Some(t)) => {
                let (items, bound) = self.jsonata_items(frame, shared, t)?;
                items_bound = bound;
                std::borrow::Cow::Owned(items)
            }
            (None, None) => std::borrow::Cow::Borrowed(frame.acc()),
            (Some(p), None) => self
                .resolver(frame, shared)
                .select_cow(p, frame.acc())
                .map_err(|m| runtime(&name, entered, path_miss_detail(p, &m)))?,
        };
        let Value::Array(items) = items_value.as_ref() else {
            if map.jsonata {
                return Err(query_error(
                    &name,
                    entered,
                    format!("Map state input must be an array but was: {items_value}"),
                ));
            }
            let path = map.items_path.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "$".into());
            return Err(runtime(
                &name,
                entered,
                format!("Invalid path '{path}': The ItemsPath must reference a JSON array, got {items_value}"),
            ));
        };
        let items = items.clone();
        drop(items_value);
        self.map_over(frame, shared, m, items, items_bound, max_concurrency)
    }

    /// Run a Map state over `items` (bounded by `items_bound` where known):
    /// its iterations' inputs, then inline or forked out.
    pub(super) fn map_over(
        &self,
        frame: &mut Frame,
        shared: &mut Shared,
        m: u32,
        items: std::sync::Arc<Vec<Value>>,
        mut items_bound: Option<Measure>,
        max_concurrency: usize,
    ) -> Result<MapStart, Raised> {
        let spec = &self.maps[m as usize];
        let map = &spec.state;
        let inline = self.machines[spec.processor as usize].runs_inline;
        let wants_bounds = inline || map.item_selector.is_some();
        let acc_bound = if wants_bounds { frame.measured_acc_bound() } else { frame.acc_bound() };
        if inline && map.item_selector.is_none() && items_bound.is_none() && map.item_reader.is_none() {
            items_bound = bounds::check(&Value::Array(items.clone())).ok();
        }
        // A fused Map's iterations start after their first template,
        // made here; any other takes its inputs from the selector or items.
        let fused = match &spec.fused {
            Some(f) if inline => {
                self.fused_start_accs(frame, shared, spec, &items, items_bound, acc_bound).map(|a| (a, f.start_pc))
            }
            _ => None,
        };
        let (mut inputs, start_pc) = match fused {
            Some((accs, pc)) => {
                shared.fused_maps += 1;
                (accs, Some(pc))
            }
            None => (self.iteration_inputs(frame, shared, map, &items, items_bound, acc_bound)?, None),
        };
        if let Some(b) = &map.batcher {
            let items = inputs.into_iter().map(|(v, _)| v).collect();
            inputs = self.batch(frame, shared, b, items)?.into_iter().map(|v| (v, None)).collect();
        }
        shared.events += 1; // MapStateStarted
        if map.result_writer.is_some() {
            // The writer reports each iteration's input beside its result.
            frame.io = Some(Box::new(MapIo::Forked { inputs: inputs.iter().map(|(v, _)| v.clone()).collect() }));
        }
        if inline {
            let bounded = map.result_writer.is_none();
            let (results, bounds, past_limit) =
                self.run_inline(frame, shared, spec.processor, inputs, start_pc, bounded);
            return Ok(MapStart::Finished(self.collect_fork(frame, shared, results, &bounds, past_limit)));
        }
        let children = inputs.into_iter().map(|(v, _)| (spec.processor, v)).collect();
        frame.waiting = Waiting::Op;
        let results_bounded = map.result_writer.is_none();
        let max_concurrency = at_once(map.mode, max_concurrency);
        Ok(MapStart::Forked(Step::Fork(Fork { children, max_concurrency, vars: frame.vars.clone(), results_bounded })))
    }

    /// The tolerated failure threshold (percentage, count) a Distributed
    /// Map keeps until its results come; an Inline Map has none (its
    /// fields are still read, and can fail).
    fn tolerance(&self, frame: &Frame, shared: &mut Shared, map: &MapState) -> Result<Option<(f64, f64)>, Raised> {
        let name = self.state_name(frame);
        let entered = frame.entered_event;
        let pct = match &map.tolerated_failure_percentage {
            None => 0.0,
            Some(Tolerance::Fixed(f)) => *f,
            Some(Tolerance::Expr(t)) => self.jsonata_number(frame, shared, t, "ToleratedFailurePercentage")?,
            Some(Tolerance::Path(p)) => {
                let v = self.read_path(frame, shared, p)?;
                // A string counts only when it holds an integer ("5", not "5.5").
                let f = v.as_f64().or_else(|| path_integer(&v, false).filter(|_| v.is_string()).map(|n| n as f64));
                let f = f.ok_or_else(|| {
                    runtime(
                        name,
                        entered,
                        format!(
                            "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {p}",
                            shown_raw(&v)
                        ),
                    )
                })?;
                if !(0.0..=100.0).contains(&f) {
                    return Err(runtime(name, entered, "ToleratedFailurePercentage must be between 0 and 100."));
                }
                f
            }
        };
        let count = match &map.tolerated_failure_count {
            None => 0.0,
            Some(Tolerance::Fixed(f)) => *f,
            Some(Tolerance::Expr(t)) => self.jsonata_count(frame, shared, t, "ToleratedFailureCount")? as f64,
            Some(Tolerance::Path(p)) => {
                let v = self.read_path(frame, shared, p)?;
                let n = path_integer(&v, false).ok_or_else(|| {
                    runtime(
                        name,
                        entered,
                        format!(
                            "The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: {p}",
                            shown_raw(&v)
                        ),
                    )
                })?;
                if n < 0 {
                    return Err(runtime(name, entered, "ToleratedFailureCount cannot be negative."));
                }
                n as f64
            }
        };
        Ok(if map.mode == MapMode::Distributed { Some((pct, count)) } else { None })
    }

    /// Each iteration's input, and a bound on it: its ItemSelector's value
    /// for the item, or the item.
    fn iteration_inputs(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        map: &MapState,
        items: &[Value],
        items_bound: Option<Measure>,
        acc_bound: Option<Measure>,
    ) -> Result<Vec<(Value, Option<Measure>)>, Raised> {
        let mut inputs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Inputs are all built before the first iteration runs: each
            // counts against the execution's work as it is built.
            if shared.out_of_budget() {
                return Err(out_of_budget());
            }
            let input = match &map.item_selector {
                None => (item.clone(), bounds::scalar(item).or(items_bound)),
                Some(t) => {
                    let mut resolver = self.resolver(frame, shared);
                    resolver.map_item = Some((i, item));
                    resolver.map_item_bound = items_bound;
                    resolver
                        .eval_template_bounded(t, frame.acc(), acc_bound)
                        .map_err(|(n, d)| self.template_error(frame, n, d))?
                }
            };
            inputs.push(input);
        }
        Ok(inputs)
    }

    /// The accumulators a fused Map's iterations start with: their start
    /// state's `Parameters` or `Output` ([`crate::fusion`]), evaluated here against the
    /// Map's input and each item. `None` — take the usual way, which fails
    /// exactly as it should — if one fails, or if the selector's objects,
    /// never built, are not proven within the payload bounds as they would
    /// have been checked.
    fn fused_start_accs(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        spec: &MapSpec,
        items: &[Value],
        items_bound: Option<Measure>,
        acc_bound: Option<Measure>,
    ) -> Option<Vec<(Value, Option<Measure>)>> {
        let fused = spec.fused.as_ref()?;
        let Some(Template::Object(selector)) = &spec.state.item_selector else {
            return None;
        };
        // What JSONata's `$states.input` reads: the Map's input (measured
        // only for a JSONata selector that reads it).
        let mut input_bound = None;
        let mut input_bound = || {
            *input_bound.get_or_insert_with(|| {
                let resolver = self.resolver(frame, shared);
                if std::ptr::eq(resolver.state_input, frame.acc()) {
                    acc_bound
                } else {
                    resolver.state_input_bound.or_else(|| bounds::check(resolver.state_input).ok())
                }
            })
        };
        let mut sum = Some(Sum::new());
        for (k, t) in selector {
            let bound = match t {
                Template::Const(v) => bounds::bound(v, None),
                Template::Path(p) => selected_bound(p, acc_bound, items_bound),
                // A bare read (see `crate::fusion`); its number may be
                // converted to a longer text, the index is a number.
                Template::Jsonata(j) => match &j.direct {
                    Some(DirectExpr::Read(r)) => {
                        let input = if r.root == DirectRoot::Input { input_bound() } else { None };
                        read_bound(r.root, input, None, items_bound)
                            .map(|b| Measure { bytes: b.bytes.saturating_add(Measure::NUMBER.bytes), depth: b.depth })
                    }
                    _ => None,
                },
                _ => None,
            };
            sum = bounds::add_part(sum, bounds::member_len(k), bound);
        }
        if !sum.is_some_and(|s| s.total().fits()) {
            return None;
        }
        let mut accs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // The usual way fails it (see `iteration_inputs`).
            if shared.out_of_budget() {
                return None;
            }
            let mut resolver = self.resolver(frame, shared);
            resolver.map_item = Some((i, item));
            resolver.map_item_bound = items_bound;
            if !fused.must_find.iter().all(|r| resolver.finds(r)) {
                return None;
            }
            accs.push(resolver.eval_template_bounded(&fused.template, frame.acc(), acc_bound).ok()?);
        }
        Some(accs)
    }

    /// Run each iteration of an inline processor (see
    /// [`crate::program::MachineInfo::runs_inline`]) to its end, in order:
    /// their outcomes, and bounds on their outputs. Each starts with its
    /// input, or (a fused Map) at `start_pc` with the accumulator its start
    /// state's `Parameters` or `Output` would have made.
    fn run_inline(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        processor: MachineId,
        inputs: Vec<(Value, Option<Measure>)>,
        start_pc: Option<u32>,
        bounded: bool,
    ) -> (Vec<Outcome>, Vec<Option<Measure>>, bool) {
        let mut results: Vec<Outcome> = Vec::with_capacity(inputs.len());
        let mut measures = Vec::with_capacity(inputs.len());
        let mut gathered = bounds::Gathered::default();
        for (input, bound) in inputs {
            if shared.out_of_budget() {
                // The execution has timed out: its driver ends it at the
                // next pause, whatever the Map makes of this.
                results.push(Outcome::Failed(out_of_budget()));
                measures.push(None);
                break;
            }
            shared.iteration_started();
            let mut child = Frame::new(self, processor, Value::Null, frame.vars.clone());
            let mut step = match start_pc {
                None => {
                    child.set_input(input, bound);
                    self.resume(&mut child, shared, Resume::Start)
                }
                Some(pc) => self.enter_at(&mut child, shared, pc as usize, input, bound),
            };
            let outcome = loop {
                match step {
                    Step::Done(o) => break o,
                    // Past the transitions cap the execution has timed out
                    // (see above).
                    _ if shared.out_of_budget() => {
                        break Outcome::Failed(out_of_budget());
                    }
                    // Only the step budget pauses an inline machine, and
                    // an acyclic one ends: carry on.
                    _ => step = self.resume(&mut child, shared, Resume::Timer),
                }
            };
            shared.events += 1; // IterationSucceeded/Failed
            if bounded
                && let Outcome::Succeeded(v) = &outcome
                && !gathered.add(v, child.output_bound, results.iter().filter_map(Outcome::succeeded))
            {
                // The results so far: a failure among them still decides.
                return (results, measures, true);
            }
            results.push(outcome);
            measures.push(child.output_bound);
        }
        (results, measures, false)
    }

    /// A Map's or Parallel's results grown past the payload limit.
    fn results_past_limit(&self, frame: &Frame) -> Raised {
        let state = self.state_name(frame);
        Raised::new(ErrorName::DataLimitExceeded.as_str(), data_limit_cause(state, bounds::Exceeded::Size))
    }

    fn batch(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        b: &ItemBatcher,
        items: Vec<Value>,
    ) -> Result<Vec<Value>, Raised> {
        let max_items = match &b.max_items {
            Some(f) => self.count_field(frame, shared, f, "MaxItemsPerBatchPath")? as usize,
            None => usize::MAX,
        }
        .max(1);
        let max_bytes = match &b.max_bytes {
            Some(f) => self.count_field(frame, shared, f, "MaxInputBytesPerBatchPath")? as usize,
            None => MAX_PAYLOAD_BYTES,
        };
        let batch_input = match &b.batch_input {
            Some(t) => {
                let mut resolver = self.resolver(frame, shared);
                Some(resolver.eval_template(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))?)
            }
            None => None,
        };
        let mut batches = Vec::new();
        let mut current: Vec<Value> = Vec::new();
        let mut bytes = 0usize;
        for item in items {
            let size = serde_json::to_string(&item).map(|s| s.len()).unwrap_or(0);
            if !current.is_empty() && (current.len() >= max_items || bytes + size > max_bytes) {
                batches.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += size;
            current.push(item);
        }
        if !current.is_empty() {
            batches.push(current);
        }
        Ok(batches
            .into_iter()
            .map(|items| {
                let mut m = Map::new();
                if let Some(bi) = &batch_input {
                    m.insert("BatchInput", bi.clone());
                }
                m.insert("Items", Value::array(items));
                Value::object(m)
            })
            .collect())
    }

    /// Collect fork results into the state's result. `bounds`: what is
    /// known of the outputs' measures, by child (none for forked ones).
    pub(super) fn collect_fork(
        &self,
        frame: &mut Frame,
        shared: &mut Shared,
        results: Vec<Outcome>,
        bounds: &[Option<Measure>],
        past_limit: bool,
    ) -> Option<Step> {
        let total = results.len();
        let failures = results.iter().filter(|r| matches!(r, Outcome::Failed(_))).count();
        let is_map = matches!(self.code.get(frame.pc), Some(Op::Map(_)));
        if failures > 0 {
            let first_failure = results.iter().find_map(|r| match r {
                Outcome::Failed(e) => Some(e.clone()),
                _ => None,
            });
            let err = match (is_map, frame.tolerance) {
                (true, Some((pct, count))) => {
                    let tolerated =
                        (failures as f64) <= count || (total > 0 && (failures as f64 * 100.0 / total as f64) <= pct);
                    if tolerated {
                        None
                    } else {
                        Some(Raised::new(
                            ErrorName::ExceedToleratedFailureThreshold.as_str(),
                            "The specified tolerated failure threshold was exceeded",
                        ))
                    }
                }
                _ => first_failure,
            };
            if let Some(err) = err {
                shared.events += 1; // MapStateFailed / ParallelStateFailed
                return self.raise(frame, shared, err);
            }
        }
        // Gathering stopped at the payload limit, no failure deciding first
        // (a ResultWriter's Map is never stopped: its results are written).
        if past_limit {
            shared.events += 1; // MapStateFailed / ParallelStateFailed
            let raised = self.results_past_limit(frame);
            return self.raise(frame, shared, raised);
        }
        if let Some(Op::Map(m)) = self.code.get(frame.pc)
            && let Some(writer) = &self.maps[*m as usize].state.result_writer
        {
            shared.events += 1; // MapStateSucceeded
            return self.write_results(frame, shared, writer, results);
        }
        shared.events += 1; // MapStateSucceeded / ParallelStateSucceeded
        let mut sum = Some(Sum::new());
        let out: Vec<Value> = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let v = match r {
                    Outcome::Succeeded(v) => v,
                    Outcome::Failed(e) => e.to_error_output(),
                };
                let known = bounds.get(i).copied().flatten();
                sum = crate::bounds::add_part(sum, 0, crate::bounds::bound(&v, known));
                v
            })
            .collect();
        let out = Value::array(out);
        // The outputs' bounds prove most results within the payload bounds;
        // one they do not is measured exactly.
        let bound = match sum.map(Sum::total).filter(|b| b.fits()) {
            Some(b) => b,
            None => match check_built(self.state_name(frame), &out) {
                Ok(m) => m,
                Err((name, cause)) => return self.raise(frame, shared, Raised::new(name.as_str(), cause)),
            },
        };
        shared.watch.note_stage(frame.state, || Some(super::Stage::Result), || out.clone());
        frame.set_acc(out, Some(bound));
        frame.pc += 1;
        None
    }
}

/// What a Map gets for work it stops at the execution's budget: the
/// execution has timed out, and its driver ends it at the next pause
/// whatever the Map (or a Catch) makes of this.
fn out_of_budget() -> Raised {
    Raised::new(ErrorName::Timeout.as_str(), "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::ExecutionInfo;
    use serde_json::json;
    use std::sync::Arc;

    /// What a fused Map's iterations start with for `input`, as
    /// `fused_start_accs` makes them; `None`: the usual way.
    fn fused_accs(def: serde_json::Value, input: serde_json::Value) -> Option<Vec<serde_json::Value>> {
        let program = crate::compile(&def, crate::WorkflowType::Express).expect("valid");
        let spec = &program.maps[0];
        assert!(spec.fused.is_some(), "the Map is fused");
        let info = Arc::new(ExecutionInfo {
            execution_id: "e".into(),
            execution_name: "e".into(),
            state_machine_id: "m".into(),
            state_machine_name: "m".into(),
            role_arn: "r".into(),
            start_time_ms: 0,
            express: true,
        });
        let mut shared = Shared::new(info, Arc::new(Value::Null), 1);
        let input = Value::from(input);
        let items: Vec<Value> = input.get("items").and_then(Value::as_array).map(|a| a.to_vec()).unwrap_or_default();
        let (items_bound, acc_bound) = (bounds::check(&Value::array(items.clone())).ok(), bounds::check(&input).ok());
        let mut frame = Frame::new(&program, 0, Value::Null, Value::empty_object());
        // The state input (JSONata's `$states.input`) and the accumulator.
        frame.set_input(input.clone(), acc_bound);
        frame.set_acc(input, acc_bound);
        program
            .fused_start_accs(&frame, &mut shared, spec, &items, items_bound, acc_bound)
            .map(|a| a.into_iter().map(|(v, _)| serde_json::Value::from(v)).collect())
    }

    /// `tests/map_parallel.rs` shows a fused Map ends as the usual way does,
    /// which it would also do if the fused way were never taken: this shows
    /// it is, and that it makes what the start state's Parameters would
    /// (for JSONata, its Output: the next test).
    #[test]
    fn a_fused_map_starts_its_iterations_with_what_their_parameters_make() {
        let def = json!({"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"id.$": "$.deviceId", "i.$": "$$.Map.Item.Index", "r.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "L", "States": {
                "L": {"Type": "Pass", "End": true, "Parameters": {
                    "key.$": "States.Format('{}#{}', $.id, $.i)", "v.$": "$.r.value"}}}},
            "End": true}}});
        let input = json!({"deviceId": "d-1", "items": [{"value": 60}, {"value": 90}]});
        assert_eq!(
            fused_accs(def.clone(), input),
            Some(vec![json!({"key": "d-1#0", "v": 60}), json!({"key": "d-1#1", "v": 90})])
        );
        // One item the Parameters cannot read: the usual way, for all of them.
        assert_eq!(fused_accs(def, json!({"deviceId": "d-1", "items": [{"value": 60}, {}]})), None);
    }

    /// The same for a JSONata Map and its start state's `Output`.
    #[test]
    fn a_fused_jsonata_map_starts_its_iterations_with_what_their_output_makes() {
        let def = json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
            "Type": "Map", "Items": "{% $states.input.items %}",
            "ItemSelector": {"id": "{% $states.input.deviceId %}", "i": "{% $states.context.Map.Item.Index %}",
                             "r": "{% $states.context.Map.Item.Value %}"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "L", "States": {
                "L": {"Type": "Pass", "End": true, "Output": {
                    "key": "{% $states.input.id & '#' & $states.input.i %}", "v": "{% $states.input.r.value %}"}}}},
            "End": true}}});
        let input = json!({"deviceId": "d-1", "items": [{"value": 60.0}, {"value": 90}]});
        assert_eq!(
            fused_accs(def.clone(), input),
            Some(vec![json!({"key": "d-1#0", "v": 60}), json!({"key": "d-1#1", "v": 90})])
        );
        // An item the Output cannot read directly (JSONata would map over the
        // array), a selector field that misses (`&` alone would not fail):
        // the usual way, for all of them.
        assert_eq!(fused_accs(def.clone(), json!({"deviceId": "d-1", "items": [{"value": 60}, [{"value": 1}]]})), None);
        assert_eq!(fused_accs(def, json!({"items": [{"value": 60}]})), None);
    }
}
