//! Executions submitted one at a time rather than read from a source: the
//! Step Functions API's StartExecution and StartSyncExecution. Each carries
//! its own program, task service and a callback for its end. They run on a
//! few threads of their own with the same machinery as a shard (inline when
//! the machine never waits, else parked in a [`Reactor`] on [`Timers`]), and
//! a panic ends only the execution it happened in.

use crate::clock::Clock;
use crate::live::{self, Boxed, Live};
use crate::panics::{Panicked, isolate};
use crate::reactor::{Ended, Reactor};
use crate::tasks::TaskService;
use crate::timers::Timers;
use crossbeam_channel::{Receiver, Sender, unbounded};
use expressway_engine::Status;
use expressway_engine::WorkflowType;
use expressway_engine::driver::{self, ExecutionResult, Offline, RunOptions};
use expressway_engine::program::Program;
use expressway_engine::value::Value;
use expressway_engine::vm::{ExecutionInfo, Observer, Resume};
use futures_util::future::Abortable;
pub use futures_util::future::{AbortHandle, AbortRegistration};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a submitted execution ended.
#[derive(Debug)]
pub enum Finished {
    Ran(ExecutionResult),
    /// Stopped through its [`AbortHandle`] before it ended.
    Aborted,
    /// A bug in Expressway ended it; the message of the panic.
    Panicked(String),
    /// The pool stopped while it was still running.
    Abandoned,
}

/// One execution to run.
pub struct Submission {
    pub program: Arc<Program>,
    pub info: Arc<ExecutionInfo>,
    pub input: Value,
    pub workflow: WorkflowType,
    pub tasks: Arc<dyn TaskService>,
    /// Told of its state events; with one set, its result carries its path.
    pub observer: Option<Observer>,
    /// Stops it where it waits (a task, a timer); see [`Submission::abortable`].
    pub abort: Option<AbortRegistration>,
    /// Called once, on a pool thread, when it ends.
    pub done: Box<dyn FnOnce(Finished) + Send>,
}

impl Submission {
    /// A handle that stops this execution, and the registration to submit it with.
    pub fn abortable() -> (AbortHandle, AbortRegistration) {
        AbortHandle::new_pair()
    }
}

/// A few threads running submitted executions.
///
/// Submissions wait in one queue per thread, together at most `max_waiting`
/// of them (counted, not preallocated: a large bound costs nothing until it is
/// used). The API sizes `max_waiting` to its running bound, and each submission
/// holds a place under that bound until it ends, so an execution the API
/// admitted always finds room here (before, queues of a fixed 4,096 per
/// thread refused admitted executions after StartExecution had answered).
pub struct Pool {
    queues: Vec<Sender<Submission>>,
    next: AtomicUsize,
    /// Submissions sent and not yet taken by a thread.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn start(threads: usize, max_waiting: usize, clock: Arc<dyn Clock>) -> std::io::Result<Pool> {
        let mut queues = Vec::new();
        let mut handles = Vec::new();
        let waiting = Arc::new(AtomicUsize::new(0));
        for i in 0..threads.max(1) {
            let (tx, rx) = unbounded::<Submission>();
            let (clock, waiting) = (clock.clone(), waiting.clone());
            handles
                .push(std::thread::Builder::new().name(format!("api-{i}")).spawn(move || worker(rx, waiting, clock))?);
            queues.push(tx);
        }
        Ok(Pool { queues, next: AtomicUsize::new(0), waiting, max_waiting, threads: handles })
    }

    /// Hand `submission` to a thread, round robin. With `max_waiting` submissions
    /// already waiting (or the pool stopped) it is given back.
    pub fn submit(&self, submission: Submission) -> Result<(), Submission> {
        if self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max_waiting).then_some(n + 1))
            .is_err()
        {
            return Err(submission);
        }
        let n = self.queues.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut submission = submission;
        // A queue whose thread has ended (it never does but for a bug) gives
        // the submission back: the next thread takes it.
        for i in 0..n {
            match self.queues[(first + i) % n].send(submission) {
                Ok(()) => return Ok(()),
                Err(e) => submission = e.into_inner(),
            }
        }
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        Err(submission)
    }

    /// Stop taking submissions, give running ones until `grace` to end, then
    /// end the rest as [`Finished::Abandoned`].
    pub fn shutdown(self, grace: Duration) {
        drop(self.queues);
        let deadline = std::time::Instant::now() + grace;
        for t in self.threads {
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// What a parked execution needs to be finished.
struct Parked {
    done: Box<dyn FnOnce(Finished) + Send>,
    aborted: Arc<AtomicBool>,
}

/// How long a thread with parked executions waits for a submission or a wake
/// before it checks its timers again.
const IDLE_POLL: Duration = Duration::from_millis(50);

fn worker(rx: Receiver<Submission>, waiting: Arc<AtomicUsize>, clock: Arc<dyn Clock>) {
    let timers = Timers::new(clock.clone());
    let mut reactor: Reactor<'_, Parked> = Reactor::new();
    let woken = reactor.woken.clone();
    let mut open = true;
    while open || !reactor.is_empty() {
        let next = if reactor.is_empty() {
            rx.recv().ok()
        } else {
            timers.fire_due();
            while let Ok(slot) = woken.try_recv() {
                if let Some(ended) = reactor.poll(slot) {
                    conclude(ended);
                }
            }
            let wait = timers.next().map_or(IDLE_POLL, |at| at.saturating_duration_since(clock.now()).min(IDLE_POLL));
            if open {
                crossbeam_channel::select! {
                    recv(rx) -> r => r.ok(),
                    recv(woken) -> slot => {
                        if let Ok(slot) = slot && let Some(ended) = reactor.poll(slot) {
                            conclude(ended);
                        }
                        continue;
                    },
                    default(wait) => continue,
                }
            } else {
                if let Ok(slot) = woken.recv_timeout(wait)
                    && let Some(ended) = reactor.poll(slot)
                {
                    conclude(ended);
                }
                continue;
            }
        };
        let Some(submission) = next else {
            open = false;
            continue;
        };
        waiting.fetch_sub(1, Ordering::AcqRel);
        start(submission, &timers, clock.as_ref(), &mut reactor);
    }
    for parked in reactor.drain() {
        (parked.done)(Finished::Abandoned);
    }
}

fn start<'a>(submission: Submission, timers: &'a Timers, clock: &'a dyn Clock, reactor: &mut Reactor<'a, Parked>) {
    let Submission { program, info, input, workflow, tasks, observer, abort, done } = submission;
    let opts = RunOptions { observer, ..RunOptions::for_workflow(workflow) };
    if !program.suspends() {
        let finished = match isolate(|| driver::execute(&program, info, input, &mut Offline, &opts)) {
            Ok(result) => Finished::Ran(result),
            Err(Panicked(message)) => Finished::Panicked(message),
        };
        return done(finished);
    }
    // Without a handle of its own it still runs abortable, never aborted.
    let registration = abort.unwrap_or_else(|| AbortHandle::new_pair().1);
    let aborted = Arc::new(AtomicBool::new(false));
    let flag = aborted.clone();
    let execution: Boxed<'a, ExecutionResult> = Box::pin(async move {
        let live = Live { program: &program, tasks: tasks.as_ref(), timers, clock };
        let (mut frame, mut shared, deadline) = driver::begin(&program, info, input, &opts);
        let first = program.resume(&mut frame, &mut shared, Resume::Start);
        match Abortable::new(live::execute(&live, frame, shared, first, deadline), registration).await {
            Ok(result) => result,
            Err(_) => {
                flag.store(true, Ordering::Relaxed);
                // A placeholder: `conclude` reports the abort, not this.
                ExecutionResult {
                    status: Status::Failed,
                    output: None,
                    error: None,
                    cause: None,
                    duration_ms: 0,
                    entered_by_type: [0; 8],
                    fused_maps: 0,
                    path: Vec::new(),
                }
            }
        }
    });
    if let Some(ended) = reactor.spawn(execution, Parked { done, aborted }) {
        conclude(ended);
    }
}

fn conclude((ended, parked): (Ended, Parked)) {
    let finished = match ended {
        Ok(_) if parked.aborted.load(Ordering::Relaxed) => Finished::Aborted,
        Ok(result) => Finished::Ran(result),
        Err(Panicked(message)) => Finished::Panicked(message),
    };
    (parked.done)(finished);
}
