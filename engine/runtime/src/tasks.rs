//! The runtime's door to Task states. A [`TaskService`] starts a call and
//! answers it later, from any thread, through a [`TaskReply`]; the shard that
//! started it meanwhile runs other executions. The runtime owns no async
//! runtime and knows no AWS service: connectors implement the trait (Lambda,
//! SQS, …) on whatever runtime they like.

use expressway_engine::Program;
use expressway_engine::driver::Effects;
use expressway_engine::errors::ErrorName;
use expressway_engine::vm::{TaskCall, TaskOutcome};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Performs Task states for the runtime, keyed by their Resource ARN.
pub trait TaskService: Send + Sync {
    /// Whether `resource` can be invoked. Checked for every Task state when a
    /// pipeline starts, so an unsupported or unconfigured resource stops it
    /// with a message naming the resource instead of failing each execution.
    fn check(&self, resource: &str) -> Result<(), String>;

    /// Start `call`. `reply` is answered exactly once; dropping it unanswered
    /// fails the task (`States.TaskFailed`) rather than hanging the execution.
    fn start(&self, call: TaskCall, reply: TaskReply);
}

/// The state machines this process runs, so `states:startExecution` starts
/// one of them here, without a network hop. The Step Functions API (whose
/// registry holds the process's machines: the pipelines' and those created
/// through it) implements it; the AWS task service asks it before calling
/// AWS.
pub trait LocalExecutions: Send + Sync {
    /// Start `request` when its state machine ARN (or version or alias ARN)
    /// names a machine of this process, with StartExecution's semantics:
    /// the execution runs on, the call answers at once. `None` when it names
    /// none, and the call goes to AWS.
    fn start_execution(&self, request: &StartExecution) -> Option<Result<StartedExecution, StartRefused>>;
}

/// StartExecution's request, its members as the API names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartExecution {
    pub state_machine_arn: String,
    /// The input's JSON text (`{}` when absent).
    pub input: Option<String>,
    pub name: Option<String>,
    pub trace_header: Option<String>,
}

/// StartExecution's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedExecution {
    pub execution_arn: String,
    /// Milliseconds since the Unix epoch.
    pub start_ms: i64,
}

/// StartExecution's error: the API's error code (`StateMachineDoesNotExist`,
/// `ExecutionAlreadyExists`, `InvalidName`, …) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRefused {
    pub code: String,
    pub message: String,
}

/// Every Task state's resource that `check` refuses (a [`TaskService::check`],
/// or a parse of the resource before any service exists), with its reason,
/// once per resource.
pub fn check_resources(program: &Program, check: impl Fn(&str) -> Result<(), String>) -> Result<(), Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let problems: Vec<String> = program
        .tasks
        .iter()
        .map(|t| t.resource.as_str())
        .chain(program.s3_resources())
        .filter(|r| seen.insert(*r))
        .filter_map(|r| check(r).err())
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// For pipelines without a task service: every resource is refused.
pub struct NoTaskService;

impl TaskService for NoTaskService {
    fn check(&self, resource: &str) -> Result<(), String> {
        Err(format!("no task service is configured for resource '{resource}'"))
    }

    fn start(&self, call: TaskCall, reply: TaskReply) {
        reply.send(TaskOutcome::Failed {
            error: ErrorName::TaskFailed.as_str().into(),
            cause: Some(format!("no task service is configured for resource '{}'", call.resource)),
        });
    }
}

#[derive(Default)]
struct Slot {
    outcome: Option<TaskOutcome>,
    waker: Option<Waker>,
    /// The waiter went away (the task timed out, its execution ended):
    /// nobody reads the answer, so the call should stop.
    abandoned: bool,
    abandon_waker: Option<Waker>,
}

/// The answering half of a started task.
pub struct TaskReply(Option<Arc<Mutex<Slot>>>);

impl TaskReply {
    pub fn send(mut self, outcome: TaskOutcome) {
        if let Some(slot) = self.0.take() {
            fill(&slot, outcome);
        }
    }

    /// Resolves once nobody waits for the answer any more: past the task's
    /// `TimeoutSeconds` or its execution's end. A service stops its call
    /// then, so a hung endpoint holds no connection and no concurrency slot
    /// beyond the task's own time.
    pub fn abandoned(&self) -> Abandoned {
        Abandoned(self.0.clone())
    }
}

/// See [`TaskReply::abandoned`].
pub struct Abandoned(Option<Arc<Mutex<Slot>>>);

impl Future for Abandoned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(slot) = &self.0 else { return Poll::Ready(()) };
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        if s.abandoned {
            return Poll::Ready(());
        }
        s.abandon_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for TaskReply {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            let cause = "the task service dropped the call without an answer".to_string();
            fill(&slot, TaskOutcome::Failed { error: ErrorName::TaskFailed.as_str().into(), cause: Some(cause) });
        }
    }
}

fn fill(slot: &Mutex<Slot>, outcome: TaskOutcome) {
    let waker = {
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        s.outcome = Some(outcome);
        s.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// The waiting half: resolves to the task's outcome. Dropping it unanswered
/// abandons the call ([`TaskReply::abandoned`]).
pub struct TaskWait(Arc<Mutex<Slot>>);

impl Drop for TaskWait {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
            s.abandoned = true;
            // A late answer must not wake an execution that is gone.
            s.waker = None;
            s.abandon_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Future for TaskWait {
    type Output = TaskOutcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskOutcome> {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match s.outcome.take() {
            Some(o) => Poll::Ready(o),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

pub(crate) fn channel() -> (TaskReply, TaskWait) {
    let slot = Arc::new(Mutex::new(Slot::default()));
    (TaskReply(Some(slot.clone())), TaskWait(slot))
}

/// Runs a [`TaskService`] call on the calling thread, for the one-shot
/// synchronous drivers (`expressway exec`, TestState): `TimedOut` past the
/// task's `TimeoutSeconds` or the driver's own limit, whichever is sooner,
/// the call then abandoned.
pub struct Blocking<'a> {
    service: &'a dyn TaskService,
    limit: Option<std::time::Duration>,
}

impl<'a> Blocking<'a> {
    /// Waits for a task at most `limit` (its execution's whole time: five
    /// minutes for Express and for TestState; these drivers keep no wall
    /// clock of the execution to stop it sooner), `None`: as long as its
    /// `TimeoutSeconds` says.
    pub fn new(service: &'a dyn TaskService, limit: Option<std::time::Duration>) -> Blocking<'a> {
        Blocking { service, limit }
    }
}

impl Effects for Blocking<'_> {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        let timeout = call.timeout_seconds.map(std::time::Duration::from_secs);
        let limit = match (timeout, self.limit) {
            (Some(t), Some(l)) => Some(t.min(l)),
            (t, l) => t.or(l),
        };
        // A limit past any clock is none.
        let deadline = limit.and_then(|l| std::time::Instant::now().checked_add(l));
        let (reply, wait) = channel();
        self.service.start(call.clone(), reply);
        let thread = std::thread::current();
        let waker = Waker::from(Arc::new(Unpark(thread)));
        let mut cx = Context::from_waker(&waker);
        let mut wait = std::pin::pin!(wait);
        loop {
            if let Poll::Ready(o) = wait.as_mut().poll(&mut cx) {
                return o;
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return TaskOutcome::TimedOut;
                    }
                    std::thread::park_timeout(left);
                }
            }
        }
    }
}

struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Other effects, but Wait states and retry back-offs sleep for real
/// (`expressway exec --real-time`).
pub struct RealTime<E>(pub E);

impl<E: Effects> Effects for RealTime<E> {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        self.0.invoke(call)
    }

    fn sleep(&mut self, millis: u64) {
        std::thread::sleep(std::time::Duration::from_millis(millis));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expressway_engine::value::Value;

    fn call() -> TaskCall {
        TaskCall {
            state_name: "T".into(),
            resource: "arn:aws:lambda:us-east-1:1:function:f".into(),
            input: Value::Null,
            timeout_seconds: None,
            heartbeat_seconds: None,
        }
    }

    struct Threaded;
    impl TaskService for Threaded {
        fn check(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn start(&self, call: TaskCall, reply: TaskReply) {
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(5));
                reply.send(TaskOutcome::Succeeded(Value::from(call.resource.as_str())))
            });
        }
    }

    struct Dropping;
    impl TaskService for Dropping {
        fn check(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn start(&self, _: TaskCall, _: TaskReply) {}
    }

    /// Never answers; tells `abandoned` once its waiter has gone.
    struct Hanging {
        abandoned: std::sync::mpsc::Sender<()>,
    }
    impl TaskService for Hanging {
        fn check(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn start(&self, _: TaskCall, reply: TaskReply) {
            let tell = self.abandoned.clone();
            std::thread::spawn(move || {
                let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
                let mut cx = Context::from_waker(&waker);
                let mut gone = std::pin::pin!(reply.abandoned());
                while gone.as_mut().poll(&mut cx).is_pending() {
                    std::thread::park();
                }
                let _ = tell.send(());
                drop(reply);
            });
        }
    }

    /// A call that never answers times out at its `TimeoutSeconds`, and the
    /// service learns that nobody waits for it any more, so it can stop.
    #[test]
    fn a_blocking_call_times_out_and_is_abandoned() {
        let (tell, told) = std::sync::mpsc::channel();
        let (done, out) = std::sync::mpsc::channel();
        // On a thread of its own: without a time-out the call would wait for ever.
        std::thread::spawn(move || {
            let service = Hanging { abandoned: tell };
            let began = std::time::Instant::now();
            let _ = done.send((
                Blocking::new(&service, None).invoke(&TaskCall { timeout_seconds: Some(1), ..call() }),
                began.elapsed(),
            ));
        });
        let (outcome, took) = out.recv_timeout(std::time::Duration::from_secs(10)).expect("the call timed out");
        assert_eq!(outcome, TaskOutcome::TimedOut);
        assert!(took >= std::time::Duration::from_secs(1));
        told.recv_timeout(std::time::Duration::from_secs(10)).expect("the service is told the call was abandoned");
        // The driver's own limit, without a TimeoutSeconds.
        let (tell, _told) = std::sync::mpsc::channel();
        let service = Hanging { abandoned: tell };
        let limited = Blocking::new(&service, Some(std::time::Duration::from_millis(200))).invoke(&call());
        assert_eq!(limited, TaskOutcome::TimedOut);
    }

    #[test]
    fn an_answered_call_is_not_abandoned_before_its_answer() {
        let (reply, wait) = channel();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut gone = std::pin::pin!(reply.abandoned());
        assert!(gone.as_mut().poll(&mut cx).is_pending());
        reply.send(TaskOutcome::TimedOut);
        assert!(gone.as_mut().poll(&mut cx).is_pending(), "answered, the waiter still holds it");
        drop(wait);
        assert!(gone.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn an_answer_from_another_thread_reaches_the_waiter() {
        let out = Blocking::new(&Threaded, None).invoke(&call());
        assert_eq!(out, TaskOutcome::Succeeded(Value::from("arn:aws:lambda:us-east-1:1:function:f")));
    }

    #[test]
    fn a_dropped_reply_fails_the_task_instead_of_hanging() {
        match Blocking::new(&Dropping, None).invoke(&call()) {
            TaskOutcome::Failed { error, cause } => {
                assert_eq!(error, "States.TaskFailed");
                assert!(cause.unwrap_or_default().contains("dropped"));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
