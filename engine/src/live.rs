//! Real-time driving for the runtime's shards. An execution that reaches a
//! Task, a Wait or a retry back-off becomes a future parked in its shard's
//! [`Reactor`]: the shard runs other records meanwhile, and a task's answer
//! (from any thread) or a due timer wakes it. Map and Parallel children run
//! concurrently, as on AWS. Everything here lives on one shard thread, so the
//! per-execution state is a `RefCell`, not a lock.
//!
//! The clock is the wall clock: `$$.State.EnteredTime`, Wait timestamps and
//! the execution's deadline all read it, as they do on AWS.

use crate::driver::{Driven, ExecutionResult};
use crate::program::Program;
use crate::tasks::{self, TaskService};
use crate::time::now_ms as wall_ms;
use crate::vm::{Frame, Resume, Shared, Step, TaskCall, TaskOutcome};
use crossbeam_channel::{Receiver, Sender, unbounded};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Concurrent iterations of a Map without `MaxConcurrency`, as AWS's inline
/// Map runs them.
const UNBOUNDED_FORK_CONCURRENCY: usize = 40;

pub(crate) type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What every execution of a shard shares.
pub(crate) struct Live<'a> {
    pub program: &'a Program,
    pub tasks: &'a dyn TaskService,
    pub timers: &'a Timers,
    pub max_transitions: Option<u64>,
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
    crate::driver::finish(driven, &shared.into_inner(), start)
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
                Step::Done(outcome) => return Driven::Done(outcome),
                Step::Invoke(call) => match invoke(live, call, deadline_ms).await {
                    Some(outcome) => Resume::Task(outcome),
                    None => return timed_out(shared, deadline_ms),
                },
                Step::Sleep { millis } => {
                    if live.max_transitions.is_some_and(|m| shared.borrow().transitions >= m) {
                        return Driven::TimedOut;
                    }
                    let now = wall_ms();
                    if deadline_ms.is_some_and(|d| now + millis > d) {
                        return timed_out(shared, deadline_ms);
                    }
                    if millis > 0 {
                        Sleep::new(live.timers, Instant::now() + Duration::from_millis(millis as u64)).await;
                    }
                    Resume::Timer
                }
                Step::Fork(fork) => {
                    let limit = match fork.max_concurrency {
                        0 => UNBOUNDED_FORK_CONCURRENCY,
                        n => n,
                    };
                    let vars = fork.vars;
                    let children = fork.children.into_iter().map(|(machine, input)| {
                        let vars = vars.clone();
                        async move {
                            let mut child = Frame::new(live.program, machine, input, vars);
                            let first = {
                                let mut s = shared.borrow_mut();
                                s.events += 1; // IterationStarted
                                live.program.resume(&mut child, &mut s, Resume::Start)
                            };
                            let driven = drive(live, &mut child, shared, first, deadline_ms).await;
                            shared.borrow_mut().events += 1; // IterationSucceeded/Failed
                            driven
                        }
                    });
                    let results: Vec<Driven> = futures_util::stream::iter(children).buffered(limit).collect().await;
                    let mut outcomes = Vec::with_capacity(results.len());
                    for driven in results {
                        match driven {
                            Driven::Done(o) => outcomes.push(o),
                            Driven::TimedOut => return Driven::TimedOut,
                        }
                    }
                    Resume::Forked(outcomes)
                }
            };
            let mut s = shared.borrow_mut();
            s.now_ms = s.now_ms.max(wall_ms());
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
    let now = Instant::now();
    let task_limit = call.timeout_seconds.map(|s| now + Duration::from_secs(s));
    let execution_limit = deadline_ms.map(|d| now + Duration::from_millis((d - wall_ms()).max(0) as u64));
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

struct TimerEntry {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A shard's timers: a heap of deadlines and the wakers waiting on them.
#[derive(Default)]
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Reverse<TimerEntry>>>,
    seq: Cell<u64>,
}

impl Timers {
    fn add(&self, at: Instant, waker: Waker) {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.heap.borrow_mut().push(Reverse(TimerEntry { at, seq, waker }));
    }

    /// The earliest deadline still waited on.
    pub fn next(&self) -> Option<Instant> {
        self.heap.borrow().peek().map(|e| e.0.at)
    }

    /// Wake everything due by now.
    pub fn fire_due(&self) {
        let now = Instant::now();
        loop {
            let entry = {
                let mut heap = self.heap.borrow_mut();
                match heap.peek() {
                    Some(e) if e.0.at <= now => heap.pop(),
                    _ => None,
                }
            };
            match entry {
                Some(Reverse(e)) => e.waker.wake(),
                None => return,
            }
        }
    }
}

struct Sleep<'a> {
    timers: &'a Timers,
    at: Instant,
    registered: bool,
}

impl<'a> Sleep<'a> {
    fn new(timers: &'a Timers, at: Instant) -> Sleep<'a> {
        Sleep { timers, at, registered: false }
    }
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            self.timers.add(self.at, cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Wakes a parked execution by queueing its slot for the shard to poll.
struct SlotWaker {
    slot: usize,
    queue: Sender<usize>,
}

impl std::task::Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.queue.send(self.slot);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.queue.send(self.slot);
    }
}

/// The executions a shard has parked, each with what the shard needs to
/// finish it (`T`), and the queue of those woken since.
pub(crate) struct Reactor<'a, T> {
    slots: Vec<Option<(Boxed<'a, ExecutionResult>, T)>>,
    wakers: Vec<Waker>,
    free: Vec<usize>,
    parked: usize,
    queue: Sender<usize>,
    pub woken: Receiver<usize>,
}

impl<'a, T> Reactor<'a, T> {
    pub fn new() -> Self {
        let (queue, woken) = unbounded();
        Reactor { slots: Vec::new(), wakers: Vec::new(), free: Vec::new(), parked: 0, queue, woken }
    }

    pub fn is_empty(&self) -> bool {
        self.parked == 0
    }

    /// Poll `execution` once; park it unless it is already done.
    pub fn spawn(&mut self, mut execution: Boxed<'a, ExecutionResult>, meta: T) -> Option<(ExecutionResult, T)> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.wakers
                    .push(Waker::from(Arc::new(SlotWaker { slot: self.slots.len() - 1, queue: self.queue.clone() })));
                self.slots.len() - 1
            }
        };
        let mut cx = Context::from_waker(&self.wakers[slot]);
        match execution.as_mut().poll(&mut cx) {
            Poll::Ready(result) => {
                self.free.push(slot);
                Some((result, meta))
            }
            Poll::Pending => {
                self.slots[slot] = Some((execution, meta));
                self.parked += 1;
                None
            }
        }
    }

    /// Poll a woken slot; a stale or repeated wake finds nothing to do.
    pub fn poll(&mut self, slot: usize) -> Option<(ExecutionResult, T)> {
        let (execution, _) = self.slots.get_mut(slot)?.as_mut()?;
        let mut cx = Context::from_waker(&self.wakers[slot]);
        match execution.as_mut().poll(&mut cx) {
            Poll::Pending => None,
            Poll::Ready(result) => {
                let (_, meta) = self.slots[slot].take()?;
                self.free.push(slot);
                self.parked -= 1;
                Some((result, meta))
            }
        }
    }
}
