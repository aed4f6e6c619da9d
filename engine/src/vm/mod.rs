//! The VM: pure and synchronous. [`Program::resume`] runs one execution frame
//! until it needs the outside world and returns a [`Step`] — invoke a task,
//! sleep, fork Map/Parallel children — or finishes. Time, randomness and
//! task results are inputs, so a run is reproducible.
//!
//! This module holds the frame and the dispatch loop. Beside it: `step`
//! (what a frame and its driver exchange), `raised` (errors and their
//! texts), `recovery` (Retry and Catch), `resolve` (paths, templates,
//! intrinsics), `query` (JSONata and `$states`), `context` (the context
//! object `$$`), `fields` (typed run-time fields), `choice` (Choice rules)
//! and `map` (Map states and fork results).

use crate::bounds::{self, Measure};
use crate::errors::ErrorName;
use crate::intrinsics;
use crate::jsonpath::{RefStep, Root};
use crate::program::{ConstBound, MachineId, Op, Program, StateId};
use crate::value::Value;
use std::cell::Cell;
use std::sync::Arc;

mod choice;
mod context;
mod fields;
mod map;
mod query;
mod raised;
mod reader;
mod recovery;
mod resolve;
mod step;
mod watch;
mod writer;

pub use context::ExecutionInfo;
pub use raised::Raised;
pub use step::{Fork, Outcome, Resume, Step, TaskCall, TaskOutcome};
pub use watch::{MAX_PATH, Observer, Stage, StateEvent, StateObserver, Watch};

use map::MapStart;
use query::Role;
use raised::{check_built, data_limit_cause, path_miss_detail, runtime};
use resolve::Resolver;

pub use crate::bounds::MAX_PAYLOAD_BYTES;

/// Per-execution state shared by all of its frames: the clock, the random
/// source, the history-event counter and the immutable context.
#[derive(Debug)]
pub struct Shared {
    pub info: Arc<ExecutionInfo>,
    pub execution_input: Arc<Value>,
    /// Virtual (or real) wall clock in milliseconds since the epoch.
    pub now_ms: i64,
    pub rng: u64,
    /// History events emitted so far, counted as AWS counts them
    /// (ExecutionStarted is #1); causes cite them.
    pub events: u64,
    /// State transitions made so far, all frames together.
    pub transitions: u64,
    /// States entered, by [`crate::asl::StateType::index`].
    pub entered_by_type: [u32; 8],
    /// Map states whose iterations started the fused way ([`crate::fusion`]).
    pub fused_maps: u32,
    /// Per-state events for an observer, if the driver set one.
    pub watch: Watch,
    /// The context object `$$` given whole (TestState's `context`), in place
    /// of the one the execution's names and state make.
    pub context: Option<Value>,
    /// The transitions after which the driver stops the execution as timed
    /// out: inline iterations, which run within one step, stop there too.
    pub max_transitions: Option<u64>,
    /// Work the execution may still do, all its states together
    /// ([`WORK_PER_EXECUTION`]). In a cell: paths are selected through
    /// shared borrows, and an indefinite one spends work too.
    work_left: Cell<u64>,
}

/// Work one execution may do in all by default ([`crate::driver::RunOptions`]
/// and a configuration's `runtime.max_work_per_execution` set another), in
/// JSONata evaluation steps (ten times one state's budget; a step is well
/// under a microsecond): its JSONata steps, its intrinsic functions at a
/// step per 16 bytes they read or write (so at most 320 MB of text built,
/// e.g. by an ItemSelector for iteration inputs held all at once), and its
/// JSONPath selects ([`NODES_PER_STEP`], [`MEMBERS_PER_STEP`]). Past it the
/// execution is stopped as timed out, as AWS stops an Express execution at
/// its time limit. Without it a loop of states, each within its own bounds,
/// could hold a shard's thread for hours on one record, and its shutdown
/// with it.
pub const WORK_PER_EXECUTION: u64 = 20_000_000;

/// Bytes an intrinsic function reads or writes per unit of work.
pub const BYTES_PER_STEP: usize = 16;

/// Nodes an indefinite JSONPath (wildcard, scan, filter) visits per unit of
/// work: a visit is a few nanoseconds, a JSONata step some tens.
pub const NODES_PER_STEP: u64 = 16;

/// Members of wide objects a field lookup or write scans per unit of work
/// (a member is a pointer comparison, under a nanosecond).
pub const MEMBERS_PER_STEP: u64 = 128;

impl Shared {
    pub fn new(info: Arc<ExecutionInfo>, execution_input: Arc<Value>, seed: u64) -> Shared {
        Shared {
            now_ms: info.start_time_ms,
            info,
            execution_input,
            rng: seed,
            events: 1,
            transitions: 0,
            entered_by_type: [0; 8],
            fused_maps: 0,
            watch: Watch::default(),
            context: None,
            max_transitions: None,
            work_left: Cell::new(WORK_PER_EXECUTION),
        }
    }

    /// A Map iteration or Parallel branch begins: its history event, and the
    /// transition into its first state (a one-state iteration would
    /// otherwise never count against the cap, however many there are).
    /// Every driver of iterations calls this, so they count alike.
    pub fn iteration_started(&mut self) {
        self.events += 1; // IterationStarted
        self.transitions += 1;
    }

    /// Past the transitions cap or the execution's work: the driver
    /// ends the execution as timed out at its next pause or end.
    pub fn out_of_budget(&self) -> bool {
        self.max_transitions.is_some_and(|m| self.transitions >= m) || self.work_left.get() == 0
    }

    /// The work the execution may still do.
    pub fn work_left(&self) -> u64 {
        self.work_left.get()
    }

    /// Set the work the execution may still do (a driver, before it starts).
    pub fn set_work_left(&mut self, steps: u64) {
        self.work_left.set(steps);
    }

    /// Spend the work of reading or writing `bytes` (a step per
    /// [`BYTES_PER_STEP`]).
    pub fn spend_bytes(&self, bytes: usize) {
        self.spend_work((bytes / BYTES_PER_STEP) as u64);
    }

    /// Spend `steps` of the execution's work (all that is left, at most).
    pub fn spend_work(&self, steps: u64) {
        self.work_left.set(self.work_left.get().saturating_sub(steps));
    }

    fn next_random(&mut self) -> u64 {
        intrinsics::splitmix64(&mut self.rng)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Waiting {
    Nothing,
    Op,
    Retry,
    /// Paused by the step budget; resume where it stopped.
    Yield,
    /// A Map's ItemReader waits for an S3 answer.
    Reader,
    /// A Map's ResultWriter waits for an S3 write.
    Writer,
}

/// A Distributed Map's exchange with S3 while its state runs: the reader's
/// progress, the iterations' inputs kept for the writer, the writes left.
#[derive(Debug)]
enum MapIo {
    Reading(reader::Reading),
    Forked { inputs: Vec<Value> },
    Writing(writer::Writing),
}

/// Transitions a frame may make before it yields to its driver, so that a
/// loop of Pass/Choice states cannot starve the thread it runs on.
pub const TRANSITIONS_PER_RESUME: u64 = 1024;

/// One running (sub-)machine: the top level, a Map iteration or a branch.
#[derive(Debug)]
pub struct Frame {
    pub machine: MachineId,
    state: StateId,
    pc: usize,
    input: Value,
    acc: Value,
    /// `acc` has not diverged from `input` yet (see [`Frame::acc`]).
    acc_is_input: bool,
    /// Upper bounds on the measures of `input` and `acc` where known
    /// (`None`: measure when needed). Carried from where a value is built
    /// or checked, so that joining two (ResultPath, fork results) adds
    /// numbers instead of walking both again.
    input_bound: Option<Measure>,
    acc_bound: Option<Measure>,
    /// The bound of the output the frame finished with (`Op::End`).
    output_bound: Option<Measure>,
    chosen: StateId,
    attempts: Vec<u32>,
    retry_count: u32,
    entered_event: u64,
    entered_ms: i64,
    waiting: Waiting,
    /// Workflow variables in scope (an object).
    vars: Value,
    /// Assignments made by the current state, applied when it is left.
    pending: Option<Value>,
    /// Map state bookkeeping between the fork and its results.
    tolerance: Option<(f64, f64)>,
    /// A Map's S3 reads and writes under way (boxed: rare, and frames are many).
    io: Option<Box<MapIo>>,
}

impl Frame {
    pub fn new(program: &Program, machine: MachineId, input: Value, vars: Value) -> Frame {
        Frame {
            vars,
            pending: None,
            machine,
            state: program.machines[machine as usize].start,
            pc: 0,
            input,
            acc: Value::Null,
            acc_is_input: false,
            input_bound: None,
            acc_bound: None,
            output_bound: None,
            chosen: 0,
            attempts: Vec::new(),
            retry_count: 0,
            entered_event: 0,
            entered_ms: 0,
            waiting: Waiting::Nothing,
            tolerance: None,
            io: None,
        }
    }

    pub fn state(&self) -> StateId {
        self.state
    }

    /// An upper bound on the input's measure, known to whoever parsed it.
    pub(crate) fn set_input_bound(&mut self, bound: Option<Measure>) {
        self.input_bound = bound;
    }

    /// The accumulator, which may still be the raw input itself.
    fn acc(&self) -> &Value {
        if self.acc_is_input { &self.input } else { &self.acc }
    }

    /// An upper bound on the accumulator's measure, if known.
    fn acc_bound(&self) -> Option<Measure> {
        if self.acc_is_input { self.input_bound } else { self.acc_bound }
    }

    /// [`Frame::acc_bound`], measuring the accumulator (once) if unknown
    /// or too loose to prove it within the payload bounds.
    fn measured_acc_bound(&mut self) -> Option<Measure> {
        if let Some(b) = self.acc_bound().filter(|b| b.fits()) {
            return Some(b);
        }
        let b = bounds::check(self.acc()).ok();
        if self.acc_is_input {
            self.input_bound = b;
        } else {
            self.acc_bound = b;
        }
        b
    }

    /// Replace the accumulator with `v`, whose measure is at most `bound`.
    fn set_acc(&mut self, v: Value, bound: Option<Measure>) {
        self.acc = v;
        self.acc_bound = bound;
        self.acc_is_input = false;
    }

    /// The state's assignments take effect (on leaving it).
    fn apply_pending(&mut self) {
        if let Some(Value::Object(assigned)) = self.pending.take() {
            if !self.vars.is_object() {
                self.vars = Value::empty_object();
            }
            if let Some(vars) = self.vars.as_object_mut() {
                for (k, v) in assigned.iter() {
                    vars.insert(k.clone(), v.clone());
                }
            }
        }
    }

    /// The state's output becomes the next state's input.
    fn acc_into_input(&mut self) {
        if !self.acc_is_input {
            self.input = std::mem::take(&mut self.acc);
            self.input_bound = self.acc_bound.take();
        }
        self.acc_is_input = false;
    }

    /// Move the accumulator out; copies only when it is the kept input.
    fn take_acc(&mut self) -> Value {
        self.take_acc_bounded().0
    }

    /// [`Frame::take_acc`], with the accumulator's bound.
    fn take_acc_bounded(&mut self) -> (Value, Option<Measure>) {
        if self.acc_is_input {
            self.acc_is_input = false;
            (self.input.clone(), self.input_bound)
        } else {
            (std::mem::take(&mut self.acc), self.acc_bound.take())
        }
    }

    /// Replace the input (a Catch's output becomes the next state's).
    fn set_input(&mut self, v: Value, bound: Option<Measure>) {
        self.input = v;
        self.input_bound = bound;
    }

    /// Move the input out, with its bound.
    fn take_input(&mut self) -> (Value, Option<Measure>) {
        (std::mem::take(&mut self.input), self.input_bound.take())
    }
}

impl Program {
    /// Drive `frame` until it needs something from outside.
    pub fn resume(&self, frame: &mut Frame, shared: &mut Shared, event: Resume) -> Step {
        match event {
            Resume::Start => return self.enter(frame, shared, frame.state),
            Resume::Timer => match frame.waiting {
                Waiting::Retry => {
                    frame.retry_count += 1;
                    frame.pc = self.states[frame.state as usize].entry as usize;
                    frame.acc_is_input = true;
                }
                Waiting::Yield => {}
                _ => frame.pc += 1,
            },
            Resume::Task(outcome) if matches!(frame.waiting, Waiting::Reader | Waiting::Writer) => {
                let step = if frame.waiting == Waiting::Reader {
                    self.read_answer(frame, shared, outcome)
                } else {
                    self.write_answer(frame, shared, outcome)
                };
                if let Some(step) = step {
                    return step;
                }
            }
            Resume::Task(outcome) => {
                // Named only in the cause of a result past the payload limit.
                let resource = || match self.code.get(frame.pc) {
                    Some(Op::Invoke(t)) => raised::resource_type(&self.tasks[*t as usize].resource),
                    _ => "",
                };
                shared.events += 2; // TaskStarted + TaskSucceeded/Failed/TimedOut
                match outcome {
                    TaskOutcome::Succeeded(v) => match crate::bounds::check(&v) {
                        Ok(m) => {
                            shared.watch.note_stage(frame.state, || Some(Stage::Result), || v.clone());
                            frame.set_acc(v, Some(m));
                            frame.pc += 1;
                        }
                        Err(e) => {
                            let raised =
                                Raised::new(ErrorName::DataLimitExceeded.as_str(), data_limit_cause(resource(), e));
                            if let Some(step) = self.raise(frame, shared, raised) {
                                return step;
                            }
                        }
                    },
                    TaskOutcome::Failed { error, cause } => {
                        if let Some(step) = self.raise(frame, shared, Raised { error: Some(error), cause }) {
                            return step;
                        }
                    }
                    TaskOutcome::TimedOut => {
                        let raised = Raised::new(ErrorName::Timeout.as_str(), "");
                        if let Some(step) = self.raise(frame, shared, raised) {
                            return step;
                        }
                    }
                }
            }
            Resume::Forked(results) => {
                if let Some(step) = self.collect_fork(frame, shared, results, &[], false) {
                    return step;
                }
            }
            Resume::ForkedPastLimit(results) => {
                if let Some(step) = self.collect_fork(frame, shared, results, &[], true) {
                    return step;
                }
            }
        }
        self.run(frame, shared)
    }

    fn enter(&self, frame: &mut Frame, shared: &mut Shared, state: StateId) -> Step {
        self.enter_state(frame, shared, state);
        self.run(frame, shared)
    }

    /// Enter the frame's start state and run from `pc` within it, with
    /// `acc` as the accumulator the instructions before `pc` would have
    /// made (a fused Map's iteration: see [`crate::fusion`]).
    fn enter_at(&self, frame: &mut Frame, shared: &mut Shared, pc: usize, acc: Value, bound: Option<Measure>) -> Step {
        let start = frame.state;
        self.enter_state(frame, shared, start);
        frame.pc = pc;
        frame.set_acc(acc, bound);
        self.run(frame, shared)
    }

    fn enter_state(&self, frame: &mut Frame, shared: &mut Shared, state: StateId) {
        let info = &self.states[state as usize];
        frame.state = state;
        frame.pc = info.entry as usize;
        shared.events += 1;
        shared.entered_by_type[info.state_type.index()] += 1;
        shared.watch.note(state, StateEvent::Entered);
        frame.entered_event = shared.events;
        frame.entered_ms = shared.now_ms;
        frame.retry_count = 0;
        frame.attempts.clear();
        frame.attempts.resize(info.retry.len(), 0);
        // A state that still needs its raw input reads it in place until an
        // instruction replaces the accumulator: no copy on entry.
        if info.keeps_input || !info.retry.is_empty() {
            frame.acc = Value::Null;
            frame.acc_bound = None;
            frame.acc_is_input = true;
        } else {
            (frame.acc, frame.acc_bound) = frame.take_input();
            frame.acc_is_input = false;
        }
    }

    fn state_name(&self, frame: &Frame) -> &str {
        &self.states[frame.state as usize].name
    }

    /// Execute instructions from `frame.pc` until a step is needed.
    fn run(&self, frame: &mut Frame, shared: &mut Shared) -> Step {
        // Read once: the per-instruction check is then a register's (a
        // second, monomorphised loop measured worse on machine (b): more
        // code, not fewer instructions; `benches/README.md`).
        let staging = shared.watch.wants_stages();
        loop {
            let op = self.code[frame.pc];
            let result: Result<(), Raised> = match op {
                Op::InputPath(p) | Op::OutputPath(p) => {
                    let path = &self.paths[p as usize];
                    let resolver = self.resolver(frame, shared);
                    match resolver.select(path, frame.acc()) {
                        Ok(v) => {
                            // A definite path selects a part of the accumulator.
                            let whole =
                                if path.root == Root::Input && path.is_definite() { frame.acc_bound() } else { None };
                            let bound = bounds::scalar(&v).or(whole);
                            frame.set_acc(v, bound);
                            Ok(())
                        }
                        Err(m) => Err(runtime(self.state_name(frame), frame.entered_event, path_miss_detail(path, &m))),
                    }
                }
                Op::DiscardInput | Op::DiscardOutput => {
                    frame.set_acc(Value::empty_object(), Some(Measure::EMPTY_OBJECT));
                    Ok(())
                }
                Op::Parameters(t) | Op::ResultSelector(t) => {
                    let mut resolver = self.resolver(frame, shared);
                    match resolver.eval_template_bounded(&self.templates[t as usize], frame.acc(), frame.acc_bound()) {
                        Ok((v, bound)) => {
                            frame.set_acc(v, bound);
                            Ok(())
                        }
                        Err((name, detail)) => Err(self.template_error(frame, name, detail)),
                    }
                }
                Op::Const(c) => {
                    let v = self.consts[c as usize].clone();
                    match self.const_bounds[c as usize] {
                        ConstBound::Fits(m) => {
                            frame.set_acc(v, Some(m));
                            Ok(())
                        }
                        ConstBound::Unknown => {
                            frame.set_acc(v, None);
                            Ok(())
                        }
                        ConstBound::Fails => match check_built(self.state_name(frame), &v) {
                            Ok(m) => {
                                frame.set_acc(v, Some(m));
                                Ok(())
                            }
                            Err((name, cause)) => Err(Raised::new(name.as_str(), cause)),
                        },
                    }
                }
                Op::Invoke(t) => {
                    let task = &self.tasks[t as usize];
                    let timeout = match &task.timeout {
                        Some(s) => match self.seconds(frame, shared, s, "TimeoutSecondsPath") {
                            Ok(v) => Some(v),
                            Err(e) => return self.fail_or_handle(frame, shared, e),
                        },
                        None => None,
                    };
                    let heartbeat = match &task.heartbeat {
                        Some(s) => match self.seconds(frame, shared, s, "HeartbeatSecondsPath") {
                            Ok(v) => Some(v),
                            Err(e) => return self.fail_or_handle(frame, shared, e),
                        },
                        None => None,
                    };
                    shared.events += 1; // TaskScheduled
                    frame.waiting = Waiting::Op;
                    return Step::Invoke(TaskCall {
                        state_name: self.states[frame.state as usize].name.clone(),
                        resource: task.resource.clone(),
                        input: frame.take_acc(),
                        timeout_seconds: timeout,
                        heartbeat_seconds: heartbeat,
                    });
                }
                Op::Wait(w) => match self.wait_millis(frame, shared, &self.waits[w as usize]) {
                    Ok(ms) => {
                        frame.waiting = Waiting::Op;
                        return Step::Sleep { millis: ms };
                    }
                    Err(e) => Err(e),
                },
                Op::Map(m) => match self.start_map(frame, shared, m) {
                    Ok(MapStart::Forked(step)) => return step,
                    // Ran inline: the frame already moved on (or was caught).
                    Ok(MapStart::Finished(None)) => continue,
                    Ok(MapStart::Finished(Some(step))) => return step,
                    Err(e) => Err(e),
                },
                Op::Parallel(p) => {
                    shared.events += 1; // ParallelStateStarted
                    let branches = &self.parallels[p as usize];
                    let children: Vec<_> = branches.iter().map(|m| (*m, frame.acc().clone())).collect();
                    frame.waiting = Waiting::Op;
                    return Step::Fork(Fork {
                        // Every branch runs at once.
                        max_concurrency: children.len(),
                        children,
                        vars: frame.vars.clone(),
                        results_bounded: true,
                    });
                }
                Op::ResultPath(r) => {
                    let (path, steps) = &self.result_paths[r as usize];
                    let (result, result_bound) = frame.take_acc_bounded();
                    // The result is bounded; with the input it joins it may
                    // not be. Where the two may be over, write into a copy,
                    // so that the input stays for Retry and Catch.
                    let written = if steps.is_empty() {
                        // The result is the output: one of unknown measure
                        // (a constant past the bounds) is measured below.
                        result_bound.filter(|b| b.fits()).map(Some)
                    } else {
                        let input_bound = frame.input_bound.or_else(|| bounds::check(&frame.input).ok());
                        let result_bound = result_bound.or_else(|| bounds::check(&result).ok());
                        input_bound
                            .zip(result_bound)
                            .map(|(i, r)| written_bound(i, steps, r))
                            .filter(|b| b.fits())
                            .map(Some)
                    };
                    let fits = written.is_some();
                    let mut out = if fits { frame.take_input().0 } else { frame.input.clone() };
                    let mut scanned = 0;
                    let wrote = write_path(&mut out, steps, result, &mut scanned);
                    if scanned > 0 {
                        shared.spend_work(scanned / MEMBERS_PER_STEP);
                    }
                    match wrote {
                        Ok(()) => match written.map_or_else(|| check_built(self.state_name(frame), &out).map(Some), Ok)
                        {
                            Ok(bound) => {
                                frame.set_acc(out, bound);
                                Ok(())
                            }
                            Err((name, cause)) => Err(Raised::new(name.as_str(), cause)),
                        },
                        Err(()) => {
                            if fits {
                                // With the objects the write made on its way.
                                frame.set_input(out, None);
                            }
                            Err(Raised::new(
                                ErrorName::ResultPathMatchFailure.as_str(),
                                format!("Unable to apply ResultPath '{path}' to input '{}'", frame.input),
                            ))
                        }
                    }
                }
                Op::DiscardResult => {
                    let (input, bound) = frame.take_input();
                    frame.set_acc(input, bound);
                    Ok(())
                }
                Op::Choose(c) => self.choose(frame, shared, c),
                Op::Assign(t) => self.assign(frame, shared, t),
                Op::Output(t) => {
                    let mut resolver = self.resolver(frame, shared);
                    resolver.role = self.result_role(frame);
                    match resolver.eval_template_bounded(&self.templates[t as usize], frame.acc(), frame.acc_bound()) {
                        Ok((v, bound)) => {
                            frame.set_acc(v, bound);
                            Ok(())
                        }
                        Err((name, detail)) => Err(self.template_error(frame, name, detail)),
                    }
                }
                Op::GotoChosen => {
                    shared.events += 1; // ChoiceStateExited
                    let next = frame.chosen;
                    shared.watch.note_leaving(frame.state, StateEvent::Succeeded, next);
                    frame.apply_pending();
                    frame.acc_into_input();
                    self.enter_state(frame, shared, next);
                    if let Some(step) = self.budget(frame, shared) {
                        return step;
                    }
                    continue;
                }
                Op::Goto(next) => {
                    shared.events += 1; // StateExited
                    shared.watch.note_leaving(frame.state, StateEvent::Succeeded, next);
                    frame.apply_pending();
                    frame.acc_into_input();
                    self.enter_state(frame, shared, next);
                    if let Some(step) = self.budget(frame, shared) {
                        return step;
                    }
                    continue;
                }
                Op::End => {
                    shared.events += 1; // StateExited
                    shared.watch.note(frame.state, StateEvent::Succeeded);
                    let (output, bound) = frame.take_acc_bounded();
                    frame.output_bound = bound;
                    return Step::Done(Outcome::Succeeded(output));
                }
                Op::Fail(f) => {
                    shared.watch.note(frame.state, StateEvent::Failed);
                    let spec = &self.fails[f as usize];
                    let error = self.fail_field(frame, shared, &spec.error, "ErrorPath");
                    let cause = self.fail_field(frame, shared, &spec.cause, "CausePath");
                    match (error, cause) {
                        (Ok(error), Ok(cause)) => return Step::Done(Outcome::Failed(Raised { error, cause })),
                        (Err(e), _) | (_, Err(e)) => return Step::Done(Outcome::Failed(e)),
                    }
                }
            };
            match result {
                Ok(()) => {
                    if staging {
                        shared.watch.note_stage(
                            frame.state,
                            || Stage::after(op),
                            || match op {
                                Op::Assign(_) => frame.pending.clone().unwrap_or_default(),
                                _ => frame.acc().clone(),
                            },
                        );
                    }
                    frame.pc += 1
                }
                Err(e) => {
                    if let Some(step) = self.raise(frame, shared, e) {
                        return step;
                    }
                }
            }
        }
    }

    fn budget(&self, frame: &mut Frame, shared: &mut Shared) -> Option<Step> {
        shared.transitions += 1;
        if shared.transitions.is_multiple_of(TRANSITIONS_PER_RESUME) || shared.out_of_budget() {
            frame.waiting = Waiting::Yield;
            return Some(Step::Sleep { millis: 0 });
        }
        None
    }

    /// Evaluate an `Assign` template against the accumulator; the values
    /// take effect when the state is left.
    fn assign(&self, frame: &mut Frame, shared: &mut Shared, t: u32) -> Result<(), Raised> {
        let mut resolver = self.resolver(frame, shared);
        resolver.role = self.result_role(frame);
        match resolver.eval_template(&self.templates[t as usize], frame.acc()) {
            Ok(v) => {
                frame.pending = Some(v);
                Ok(())
            }
            Err((name, detail)) => Err(self.template_error(frame, name, detail)),
        }
    }
}

/// An upper bound on the measure of `root` with a value written at
/// `steps`, from theirs: the output is at most both texts and the objects
/// the steps create, and nests at most as deep as the deeper of the two.
fn written_bound(root: Measure, steps: &[RefStep], value: Measure) -> Measure {
    let created: usize = steps
        .iter()
        .map(|s| match s {
            // `"f":` (known without a scan for a plain interned key), and the
            // `{}` and `,` of an object created on the way.
            RefStep::Field(f) => bounds::member_len(f) + 3,
            RefStep::Index(_) => 0,
        })
        .sum();
    Measure {
        bytes: root.bytes.saturating_add(value.bytes).saturating_add(created),
        depth: root.depth.max(steps.len() + value.depth),
    }
}

/// Write `value` at `steps` inside `root`, creating objects on the way.
/// Write `value` at `steps` under `root`, adding to `*scanned` the members
/// of the wide objects it looked a field up in (see
/// [`crate::jsonpath::JsonPath::select_definite_scanning`]).
fn write_path(root: &mut Value, steps: &[RefStep], value: Value, scanned: &mut u64) -> Result<(), ()> {
    let Some((last, init)) = steps.split_last() else {
        *root = value;
        return Ok(());
    };
    let mut cur = root;
    for step in init {
        cur = match step {
            RefStep::Field(f) => {
                let obj = cur.as_object_mut().ok_or(())?;
                *scanned += crate::jsonpath::wide_members(obj);
                obj.entry_or_insert_with(f, Value::empty_object)
            }
            RefStep::Index(i) => {
                let arr = cur.as_array_mut().ok_or(())?;
                let idx = usize::try_from(*i).map_err(|_| ())?;
                arr.get_mut(idx).ok_or(())?
            }
        };
    }
    match last {
        RefStep::Field(f) => {
            // The key is shared with the program: no allocation per write.
            let obj = cur.as_object_mut().ok_or(())?;
            *scanned += crate::jsonpath::wide_members(obj);
            obj.insert(f.clone(), value);
        }
        RefStep::Index(i) => {
            let arr = cur.as_array_mut().ok_or(())?;
            let idx = usize::try_from(*i).map_err(|_| ())?;
            *arr.get_mut(idx).ok_or(())? = value;
        }
    }
    Ok(())
}
