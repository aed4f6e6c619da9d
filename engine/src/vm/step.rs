//! What a frame and its driver exchange: the [`Step`] a frame stops at and
//! the [`Resume`] event that carries it on.

use super::Raised;
use crate::program::MachineId;
use crate::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed(Raised),
}

impl Outcome {
    pub fn succeeded(&self) -> Option<&Value> {
        match self {
            Outcome::Succeeded(v) => Some(v),
            Outcome::Failed(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TaskCall {
    pub state_name: Box<str>,
    pub resource: String,
    pub input: Value,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Succeeded(Value),
    Failed { error: String, cause: Option<String> },
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct Fork {
    pub children: Vec<(MachineId, Value)>,
    /// Children that run at once, as AWS runs them (at least 1): every
    /// branch of a Parallel state, at most 40 iterations of an inline Map.
    pub max_concurrency: usize,
    /// The forking frame's workflow variables: children read them, and what
    /// they assign stays in their own scope.
    pub vars: Value,
    /// Whether the children's results become the state's result (not
    /// written out by a ResultWriter), so bounded as one payload: a driver
    /// stops gathering them once they cannot fit
    /// ([`crate::bounds::Gathered`]) and resumes with
    /// [`Resume::ForkedPastLimit`].
    pub results_bounded: bool,
}

#[derive(Debug, Clone)]
pub enum Step {
    Invoke(TaskCall),
    Sleep { millis: i64 },
    Fork(Fork),
    Done(Outcome),
}

#[derive(Debug, Clone)]
pub enum Resume {
    Start,
    Task(TaskOutcome),
    Timer,
    Forked(Vec<Outcome>),
    /// The children's results so far, after which they grew past the
    /// payload limit: the state fails with the first failure among them
    /// (as it would have), else with States.DataLimitExceeded.
    ForkedPastLimit(Vec<Outcome>),
}
