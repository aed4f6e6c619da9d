//! A synchronous driver that performs the VM's effects in-process: tasks and
//! timers through [`Effects`] (time is virtual unless the effects sleep),
//! forks by driving each child frame in turn. `expressway exec`, `bench`, the
//! conformance runner and the tests use it; the runtime's shards drive the
//! same VM asynchronously and use [`begin`] and [`finish`] from here.

use crate::bounds::Measure;
use crate::errors::ErrorName;
use crate::program::Program;
use crate::program::StateId;
use crate::value::Value;
use crate::vm::{
    ExecutionInfo, Frame, Observer, Outcome, Raised, Resume, Shared, StateEvent, Step, TaskCall, TaskOutcome, Watch,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// What the in-process driver asks of the outside world: perform a Task
/// state (keyed by its Resource ARN), and let time pass.
pub trait Effects {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome;

    /// `millis` of a Wait state or retry back-off pass. The virtual clock has
    /// already moved; effects that run in real time sleep here.
    fn sleep(&mut self, _millis: u64) {}
}

impl<E: Effects + ?Sized> Effects for Box<E> {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        (**self).invoke(call)
    }

    fn sleep(&mut self, millis: u64) {
        (**self).sleep(millis)
    }
}

/// Performs nothing: every task fails with a diagnostic naming its
/// resource, and time is virtual. For machines without Task states (or runs
/// that must not reach one).
pub struct Offline;

impl Effects for Offline {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        TaskOutcome::Failed {
            error: ErrorName::TaskFailed.as_str().into(),
            cause: Some(format!("no task service is configured for resource '{}'", call.resource)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionResult {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Virtual time the execution took.
    pub duration_ms: i64,
    /// States entered, by [`crate::asl::StateType::index`].
    pub entered_by_type: [u32; 8],
    /// Map states whose iterations started the fused way ([`crate::fusion`]):
    /// how tests see that it was taken.
    pub fused_maps: u32,
    /// The state events it went through, when [`RunOptions::observer`] was
    /// set (at most [`crate::vm::MAX_PATH`]); empty otherwise.
    pub path: Vec<(StateId, StateEvent)>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Express workflows stop after five minutes.
    pub max_duration_ms: Option<i64>,
    pub seed: u64,
    /// State transitions after which the execution is stopped as timed out:
    /// on the virtual clock a loop of Pass/Choice states takes no time, so
    /// this stands in for the wall-clock cap.
    pub max_transitions: Option<u64>,
    /// The work the execution may do in all ([`crate::vm::WORK_PER_EXECUTION`]
    /// by default), past which it is stopped as timed out.
    pub max_work: u64,
    /// Told of every state event; also makes the result carry its path.
    pub observer: Option<Observer>,
    /// Workflow variables in scope from the start (TestState's `variables`);
    /// an execution starts with none.
    pub variables: Option<Value>,
    /// The context object `$$` given whole (TestState's `context`).
    pub context: Option<Value>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            max_duration_ms: Some(EXPRESS_MAX_DURATION_MS),
            seed: 0x5eed,
            max_transitions: Some(DEFAULT_MAX_TRANSITIONS),
            max_work: crate::vm::WORK_PER_EXECUTION,
            observer: None,
            variables: None,
            context: None,
        }
    }
}

impl RunOptions {
    /// The defaults for `workflow`: AWS's maximum execution time, five
    /// minutes for Express executions and a year for Standard ones.
    pub fn for_workflow(workflow: crate::WorkflowType) -> RunOptions {
        let max = match workflow {
            crate::WorkflowType::Express => EXPRESS_MAX_DURATION_MS,
            crate::WorkflowType::Standard => STANDARD_MAX_DURATION_MS,
        };
        RunOptions { max_duration_ms: Some(max), ..RunOptions::default() }
    }
}

pub const EXPRESS_MAX_DURATION_MS: i64 = 5 * 60 * 1000;
/// AWS's "maximum execution time" of a Standard workflow: one year.
pub const STANDARD_MAX_DURATION_MS: i64 = 365 * 24 * 3600 * 1000;

/// Far beyond any real machine's transitions in five minutes.
pub const DEFAULT_MAX_TRANSITIONS: u64 = 10_000_000;

/// How driving a frame ended, before it becomes an [`ExecutionResult`].
pub enum Driven {
    Done(Outcome),
    TimedOut,
}

/// An execution's input, with an upper bound on its measure where the
/// caller knows one (from [`crate::value::from_slice_bounded`]):
/// states that join the input with what they build then add numbers
/// instead of walking it.
pub struct Input {
    pub value: Value,
    pub bound: Option<Measure>,
}

impl From<Value> for Input {
    fn from(value: Value) -> Input {
        Input { value, bound: None }
    }
}

/// Run one execution to its end.
pub fn execute(
    program: &Program,
    info: Arc<ExecutionInfo>,
    input: impl Into<Input>,
    effects: &mut dyn Effects,
    opts: &RunOptions,
) -> ExecutionResult {
    let start = info.start_time_ms;
    let (mut frame, mut shared, deadline) = begin(program, info, input, opts);
    let driven = drive(program, &mut frame, &mut shared, effects, deadline);
    finish(driven, &mut shared, start)
}

/// A new execution's root frame, its shared state and its deadline (the
/// Express cap or the machine's own `TimeoutSeconds`, whichever is sooner).
pub fn begin(
    program: &Program,
    info: Arc<ExecutionInfo>,
    input: impl Into<Input>,
    opts: &RunOptions,
) -> (Frame, Shared, Option<i64>) {
    let Input { value: input, bound } = input.into();
    let start = info.start_time_ms;
    let mut deadline = opts.max_duration_ms.map(|d| start.saturating_add(d));
    if let Some(t) = program.machines[0].timeout_seconds {
        let d = start.saturating_add(t as i64 * 1000);
        deadline = Some(deadline.map_or(d, |x| x.min(d)));
    }
    // `$$.Execution.Input` is the only reader of the original input.
    let shared_input = Arc::new(if program.uses_context { input.clone() } else { Value::Null });
    let mut shared = Shared::new(info, shared_input, opts.seed);
    shared.max_transitions = opts.max_transitions;
    shared.set_work_left(opts.max_work);
    shared.context = opts.context.clone();
    if let Some(observer) = &opts.observer {
        shared.watch = Watch::new(Some(observer.clone()));
    }
    let vars = opts.variables.clone().unwrap_or_else(Value::empty_object);
    let mut frame = Frame::new(program, 0, input, vars);
    frame.set_input_bound(bound);
    (frame, shared, deadline)
}

pub fn finish(driven: Driven, shared: &mut Shared, start_ms: i64) -> ExecutionResult {
    let duration_ms = shared.now_ms - start_ms;
    let (entered_by_type, fused_maps) = (shared.entered_by_type, shared.fused_maps);
    // Unwatched, an empty Vec (no allocation, no copy).
    let path = shared.watch.take_path();
    match driven {
        Driven::Done(Outcome::Succeeded(v)) => ExecutionResult {
            status: Status::Succeeded,
            output: Some(v),
            error: None,
            cause: None,
            duration_ms,
            entered_by_type,
            fused_maps,
            path,
        },
        Driven::Done(Outcome::Failed(Raised { error, cause })) => ExecutionResult {
            status: Status::Failed,
            output: None,
            error,
            cause,
            duration_ms,
            entered_by_type,
            fused_maps,
            path,
        },
        Driven::TimedOut => ExecutionResult {
            status: Status::TimedOut,
            output: None,
            error: Some(ErrorName::Timeout.as_str().into()),
            cause: budget_cause(shared),
            duration_ms,
            entered_by_type,
            fused_maps,
            path,
        },
    }
}

/// Why an execution stopped at one of Expressway's own limits, which AWS
/// does not have (its time-out, the deadline, carries no cause): a user
/// sees it was not the clock.
fn budget_cause(shared: &Shared) -> Option<String> {
    if let Some(max) = shared.max_transitions.filter(|m| shared.transitions >= *m) {
        return Some(format!(
            "The execution entered {max} states, Expressway's limit on one execution (on the virtual clock a \
             loop of Pass and Choice states takes no time, so this stands in for the five-minute limit)"
        ));
    }
    (shared.work_left() == 0).then(|| {
        "The execution did more work than Expressway allows one execution (its steps of path selection, \
         templates, intrinsics and JSONata, bounded so that no record can hold a shard)"
            .to_string()
    })
}

fn drive(
    program: &Program,
    frame: &mut Frame,
    shared: &mut Shared,
    effects: &mut dyn Effects,
    deadline: Option<i64>,
) -> Driven {
    let mut event = Resume::Start;
    loop {
        match program.resume(frame, shared, event) {
            // Inline iterations past the cap end early (as failures): the
            // execution timed out, whatever came of them.
            Step::Done(_) if shared.out_of_budget() => return Driven::TimedOut,
            Step::Done(outcome) => return Driven::Done(outcome),
            Step::Invoke(call) => event = Resume::Task(effects.invoke(&call)),
            Step::Sleep { millis } => {
                if shared.out_of_budget() {
                    return Driven::TimedOut;
                }
                // Saturating: a wait of `SecondsPath: 2^63 / 1000` or a
                // retry backed off to infinity had wrapped past the deadline
                // and resumed at once, its clock back in 1970.
                if deadline.is_some_and(|d| shared.now_ms.saturating_add(millis) > d) {
                    shared.now_ms = deadline.unwrap_or(shared.now_ms);
                    return Driven::TimedOut;
                }
                if millis > 0 {
                    effects.sleep(millis as u64);
                }
                shared.now_ms = shared.now_ms.saturating_add(millis);
                event = Resume::Timer;
            }
            Step::Fork(fork) => {
                let started = shared.now_ms;
                let mut finished = started;
                let mut results = Vec::with_capacity(fork.children.len());
                let mut gathered = crate::bounds::Gathered::default();
                let mut past_limit = false;
                // Children run `max_concurrency` at a time, as on AWS: on the
                // virtual clock each starts at the fork while a slot is free,
                // else when the earliest running one ends (it had started every
                // child at the fork: 1,000 iterations of a 2 s Wait, 40 at a
                // time, took 2 s here and 50 s on AWS and in `run`); the parent
                // resumes after the last.
                let slots = fork.max_concurrency.max(1);
                // Only a fork with more children than slots makes any wait.
                let queued = fork.children.len() > slots;
                let mut ends: BinaryHeap<Reverse<i64>> = BinaryHeap::new();
                for (machine, input) in fork.children {
                    shared.now_ms =
                        if ends.len() < slots { started } else { ends.pop().map_or(started, |Reverse(t)| t) };
                    shared.iteration_started();
                    if shared.out_of_budget() {
                        return Driven::TimedOut;
                    }
                    let mut child = Frame::new(program, machine, input, fork.vars.clone());
                    match drive(program, &mut child, shared, effects, deadline) {
                        Driven::Done(o) => {
                            if fork.results_bounded && !gathered.add_outcome(&o, &results) {
                                past_limit = true;
                                break;
                            }
                            results.push(o)
                        }
                        Driven::TimedOut => return Driven::TimedOut,
                    }
                    shared.events += 1; // IterationSucceeded/Failed
                    if queued {
                        ends.push(Reverse(shared.now_ms));
                    }
                    finished = finished.max(shared.now_ms);
                }
                shared.now_ms = finished;
                event = if past_limit { Resume::ForkedPastLimit(results) } else { Resume::Forked(results) };
            }
        }
    }
}
