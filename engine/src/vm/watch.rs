//! Per-state events for an embedder that watches executions (the web
//! console's live counts and failure paths). The VM reports each event to an
//! optional [`StateObserver`] and records the execution's path; with no
//! observer set, each event costs one branch and nothing is recorded.

use crate::program::{Op, StateId};
use crate::value::Value;
use std::fmt;
use std::sync::Arc;

/// What happened to a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateEvent {
    Entered = 0,
    /// Left for its `Next`, a Choice's target or the end of its scope.
    Succeeded = 1,
    /// Its error left it unhandled (a Fail state, or no retrier or catcher
    /// matched).
    Failed = 2,
    /// A retrier matched: it runs again after the back-off.
    Retried = 3,
    /// A catcher matched: the execution goes on at the catcher's `Next`.
    Caught = 4,
}

impl StateEvent {
    pub const COUNT: usize = 5;
    pub const ALL: [StateEvent; StateEvent::COUNT] =
        [StateEvent::Entered, StateEvent::Succeeded, StateEvent::Failed, StateEvent::Retried, StateEvent::Caught];

    pub fn as_str(self) -> &'static str {
        match self {
            StateEvent::Entered => "entered",
            StateEvent::Succeeded => "succeeded",
            StateEvent::Failed => "failed",
            StateEvent::Retried => "retried",
            StateEvent::Caught => "caught",
        }
    }
}

/// A point of a state's data flow, as TestState's `inspectionData` names
/// them: the value the state holds right after that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    AfterInputPath,
    /// `Parameters`, or a JSONata state's `Arguments`.
    AfterParameters,
    /// A task's answer, a Pass state's `Result`, a Map's or Parallel's results.
    Result,
    AfterResultSelector,
    AfterResultPath,
    AfterOutputPath,
    /// A JSONata state's `Output`.
    Output,
    /// The variables a state's `Assign` sets (when it is left).
    Assigned,
    /// The error output (`Error`, `Cause`) of an error the state raised,
    /// before its Retry and Catch.
    Raised,
}

impl Stage {
    /// The stage an instruction's success reaches, if it is one.
    pub(crate) fn after(op: Op) -> Option<Stage> {
        Some(match op {
            Op::InputPath(_) | Op::DiscardInput => Stage::AfterInputPath,
            Op::Parameters(_) => Stage::AfterParameters,
            Op::Const(_) => Stage::Result,
            Op::ResultSelector(_) => Stage::AfterResultSelector,
            Op::ResultPath(_) | Op::DiscardResult => Stage::AfterResultPath,
            Op::OutputPath(_) | Op::DiscardOutput => Stage::AfterOutputPath,
            Op::Output(_) => Stage::Output,
            Op::Assign(_) => Stage::Assigned,
            _ => return None,
        })
    }
}

/// Told of every state event of the executions it watches, on the thread
/// that runs them. Called on the hot path: it must neither block nor
/// allocate.
pub trait StateObserver: Send + Sync {
    fn observe(&self, state: StateId, event: StateEvent);

    /// Whether [`StateObserver::stage`] is to be called (read once per
    /// execution): only a debugger wants every step's value.
    fn wants_stages(&self) -> bool {
        false
    }

    /// The value `state` holds after `stage` (only if it
    /// [`StateObserver::wants_stages`]).
    fn stage(&self, _state: StateId, _stage: Stage, _value: &Value) {}

    /// Right after `observe(from, event)`, when the execution goes on from
    /// `from` to `to`: `Succeeded` along a `Next` or a Choice's branch,
    /// `Caught` along a catcher's `Next` (the graph's edges).
    fn transition(&self, _from: StateId, _event: StateEvent, _to: StateId) {}
}

/// A shared observer, as [`crate::driver::RunOptions`] carries it.
#[derive(Clone)]
pub struct Observer(pub Arc<dyn StateObserver>);

impl Observer {
    /// Counts nothing: set only so the execution records its path (the
    /// console's "try it" shows the path a single execution took).
    pub fn path_only() -> Observer {
        Observer(Arc::new(PathOnly))
    }
}

struct PathOnly;

impl StateObserver for PathOnly {
    fn observe(&self, _: StateId, _: StateEvent) {}
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

/// The most path entries one execution records; later events are counted
/// but not added to its path.
pub const MAX_PATH: usize = 256;

/// An execution's observer and the path of state events it took (only
/// recorded when an observer is set). Unwatched, it is one null pointer, so
/// [`super::Shared`] stays small and each event costs one predictable branch.
#[derive(Debug, Clone, Default)]
pub struct Watch(Option<Box<Watching>>);

#[derive(Debug, Clone)]
struct Watching {
    observer: Observer,
    path: Vec<(StateId, StateEvent)>,
    stages: bool,
}

impl Watch {
    /// Watch with `observer`, or not at all.
    pub fn new(observer: Option<Observer>) -> Watch {
        Watch(observer.map(|observer| {
            let stages = observer.0.wants_stages();
            Box::new(Watching { observer, path: Vec::new(), stages })
        }))
    }

    /// Whether the observer wants [`Stage`]s.
    #[inline(always)]
    pub(crate) fn wants_stages(&self) -> bool {
        self.0.as_ref().is_some_and(|w| w.stages)
    }

    /// `value` is what `state` holds after `stage`: told to an observer that
    /// wants stages (a branch on a null pointer otherwise).
    #[inline(always)]
    pub(crate) fn note_stage(
        &mut self,
        state: StateId,
        stage: impl FnOnce() -> Option<Stage>,
        value: impl FnOnce() -> Value,
    ) {
        if let Some(watching) = &mut self.0 {
            watching.stage(state, stage, value);
        }
    }

    #[inline(always)]
    pub(crate) fn note(&mut self, state: StateId, event: StateEvent) {
        if let Some(watching) = &mut self.0 {
            watching.record(state, event);
        }
    }

    /// `note(state, event)`, the execution going on to `next`.
    #[inline(always)]
    pub(crate) fn note_leaving(&mut self, state: StateId, event: StateEvent, next: StateId) {
        if let Some(watching) = &mut self.0 {
            watching.record_leaving(state, event, next);
        }
    }

    /// The events recorded so far, in order (at most [`MAX_PATH`]).
    pub fn take_path(&mut self) -> Vec<(StateId, StateEvent)> {
        match &mut self.0 {
            Some(w) => std::mem::take(&mut w.path),
            None => Vec::new(),
        }
    }
}

impl Watching {
    #[cold]
    #[inline(never)]
    fn stage(&mut self, state: StateId, stage: impl FnOnce() -> Option<Stage>, value: impl FnOnce() -> Value) {
        if self.stages
            && let Some(stage) = stage()
        {
            self.observer.0.stage(state, stage, &value());
        }
    }

    #[cold]
    #[inline(never)]
    fn record(&mut self, state: StateId, event: StateEvent) {
        self.observer.0.observe(state, event);
        if self.path.len() < MAX_PATH {
            self.path.push((state, event));
        }
    }

    #[cold]
    #[inline(never)]
    fn record_leaving(&mut self, state: StateId, event: StateEvent, next: StateId) {
        self.record(state, event);
        self.observer.0.transition(state, event, next);
    }
}
