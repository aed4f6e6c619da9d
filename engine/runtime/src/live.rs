//! Real-time driving for the runtime's shards. An execution that reaches a
//! Task, a Wait or a retry back-off becomes a future parked in its shard's
//! [`crate::reactor::Reactor`]: the shard runs other records meanwhile, and a
//! task's answer (from any thread) or a due timer wakes it. Map and Parallel
//! children run concurrently, as on AWS. Everything here lives on one shard
//! thread, so the per-execution state is a `RefCell`, not a lock.
//!
//! Time is the shard's [`Clock`] (the wall clock in production):
//! `$$.State.EnteredTime`, Wait timestamps and the execution's deadline all
//! read it, as they do on AWS.

use crate::clock::Clock;
use crate::tasks::{self, TaskService};
use crate::timers::{Sleep, Timers};
use expressway_engine::bounds::Gathered;
use expressway_engine::driver::{self, Driven, ExecutionResult};
use expressway_engine::program::Program;
use expressway_engine::vm::{Frame, Resume, Shared, Step, TaskCall, TaskOutcome};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What every execution of a shard shares.
pub(crate) struct Live<'a> {
    pub program: &'a Program,
    pub tasks: &'a dyn TaskService,
    pub timers: &'a Timers,
    pub clock: &'a dyn Clock,
}

/// Drive one execution from its first step to its end.
pub(crate) async fn execute(
    live: &Live<'_>,
    mut frame: Frame,
    shared: Shared,
    first: Step,
    deadline_ms: Option<i64>,
) -> ExecutionResult {
    let start = shared.info.start_time_ms;
    let shared = RefCell::new(shared);
    let driven = drive(live, &mut frame, &shared, first, deadline_ms).await;
    driver::finish(driven, &mut shared.into_inner(), start)
}

fn drive<'f, 'l: 'f>(
    live: &'f Live<'l>,
    frame: &'f mut Frame,
    shared: &'f RefCell<Shared>,
    first: Step,
    deadline_ms: Option<i64>,
) -> Boxed<'f, Driven> {
    Box::pin(async move {
        let mut step = first;
        loop {
            let event = match step {
                // Inline iterations past the cap end early: the execution
                // timed out, whatever came of them.
                Step::Done(_) if shared.borrow().out_of_budget() => return Driven::TimedOut,
                Step::Done(outcome) => return Driven::Done(outcome),
                Step::Invoke(call) => match invoke(live, call, deadline_ms).await {
                    Some(outcome) => Resume::Task(outcome),
                    None => return timed_out(shared, deadline_ms),
                },
                Step::Sleep { millis } => {
                    if shared.borrow().out_of_budget() {
                        return Driven::TimedOut;
                    }
                    let now = live.clock.wall_ms();
                    // Saturating: a huge wait had wrapped past the deadline
                    // and parked the execution for ~292 million years.
                    if deadline_ms.is_some_and(|d| now.saturating_add(millis) > d) {
                        return timed_out(shared, deadline_ms);
                    }
                    if millis > 0 {
                        let Some(at) = live.clock.now().checked_add(Duration::from_millis(millis as u64)) else {
                            return timed_out(shared, deadline_ms);
                        };
                        Sleep::new(live.timers, at).await;
                    }
                    Resume::Timer
                }
                Step::Fork(fork) => {
                    let limit = fork.max_concurrency.max(1);
                    let vars = fork.vars;
                    let children = fork.children.into_iter().enumerate().map(|(index, (machine, input))| {
                        let vars = vars.clone();
                        async move {
                            let mut child = Frame::new(live.program, machine, input, vars);
                            let first = {
                                let mut s = shared.borrow_mut();
                                s.iteration_started();
                                live.program.resume(&mut child, &mut s, Resume::Start)
                            };
                            let driven = drive(live, &mut child, shared, first, deadline_ms).await;
                            shared.borrow_mut().events += 1; // IterationSucceeded/Failed
                            (index, driven)
                        }
                    });
                    // A slot is free as soon as any child ends, as on AWS
                    // (`buffered` had held a slot for each child ended after
                    // a slower earlier one); results are put back in order.
                    // Past the payload limit, what was gathered is what ended
                    // first (as on AWS, where iterations race), not a prefix.
                    let mut running = futures_util::stream::iter(children).buffer_unordered(limit);
                    let mut outcomes = Vec::new();
                    let mut indexes = Vec::new();
                    let mut gathered = Gathered::default();
                    let mut past_limit = false;
                    while let Some((index, driven)) = running.next().await {
                        match driven {
                            Driven::Done(o) => {
                                // Results past the payload limit: the
                                // children still running are dropped.
                                if fork.results_bounded && !gathered.add_outcome(&o, &outcomes) {
                                    past_limit = true;
                                    break;
                                }
                                outcomes.push(o);
                                indexes.push(index);
                            }
                            Driven::TimedOut => return Driven::TimedOut,
                        }
                    }
                    let mut ordered: Vec<(usize, _)> = indexes.into_iter().zip(outcomes).collect();
                    ordered.sort_unstable_by_key(|(index, _)| *index);
                    let outcomes = ordered.into_iter().map(|(_, o)| o).collect();
                    if past_limit { Resume::ForkedPastLimit(outcomes) } else { Resume::Forked(outcomes) }
                }
            };
            let mut s = shared.borrow_mut();
            s.now_ms = s.now_ms.max(live.clock.wall_ms());
            step = live.program.resume(frame, &mut s, event);
        }
    })
}

fn timed_out(shared: &RefCell<Shared>, deadline_ms: Option<i64>) -> Driven {
    if let Some(d) = deadline_ms {
        shared.borrow_mut().now_ms = d;
    }
    Driven::TimedOut
}

/// A task's outcome, `TimedOut` past its `TimeoutSeconds`; `None` when the
/// execution's own deadline passes first.
async fn invoke(live: &Live<'_>, call: TaskCall, deadline_ms: Option<i64>) -> Option<TaskOutcome> {
    let now = live.clock.now();
    // Past any instant (a `TimeoutSecondsPath` of 2^63) is no limit but the execution's.
    let task_limit = call.timeout_seconds.and_then(|s| now.checked_add(Duration::from_secs(s)));
    let execution_limit = deadline_ms.map(|d| now + Duration::from_millis((d - live.clock.wall_ms()).max(0) as u64));
    let (reply, wait) = tasks::channel();
    live.tasks.start(call, reply);
    let limit = match (task_limit, execution_limit) {
        (Some(t), Some(e)) => Some(t.min(e)),
        (t, e) => t.or(e),
    };
    let Some(at) = limit else { return Some(wait.await) };
    match select(wait, Sleep::new(live.timers, at)).await {
        Either::Left((outcome, _)) => Some(outcome),
        Either::Right(_) if execution_limit == Some(at) => None,
        Either::Right(_) => Some(TaskOutcome::TimedOut),
    }
}
