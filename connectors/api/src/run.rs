//! Execution operations: StartSyncExecution, StartExecution,
//! DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution.
//!
//! Every execution runs with Express semantics (in memory, at least once);
//! a STANDARD machine gets Standard's limits and its name rules, but its
//! executions do not survive a restart.

use crate::Api;
use crate::arn::check_name;
use crate::executions::{Ending, Execution, Status, Store};
use crate::registry::Resolved;
use crate::running::{Admitted, Refusal};
use crate::wire::{ApiError, ErrorKind, Fields, Reply, paged, timestamp};
use expressway_connectors::mock::MockConfig;
use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::program::StateId;
use expressway_engine::value::Value as EngineValue;
use expressway_engine::vm::{ExecutionInfo, Observer, StateEvent};
use expressway_engine::{ExecutionResult, WorkflowType};
use expressway_runtime::TaskService;
use expressway_runtime::clock::wall_ms;
use expressway_runtime::pool::{AbortHandle, Finished, Submission};
use expressway_runtime::tasks::{NoTaskService, StartExecution, StartRefused, StartedExecution};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// AWS's limit on an execution's input, in bytes of UTF-8.
const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The state events an execution went through (see [`Observer::path_only`]).
pub type Path = Vec<(StateId, StateEvent)>;

/// The error an execution ended by a bug in Expressway carries.
const INTERNAL_ERROR: &str = "Expressway.InternalError";

fn input_of(f: &Fields) -> Result<(String, EngineValue), ApiError> {
    let text = f.opt_str("input")?.unwrap_or("{}");
    if text.len() > MAX_INPUT_BYTES {
        return Err(ApiError::validation(
            "input",
            "'<sensitive>'",
            &format!("Member must have length less than or equal to {MAX_INPUT_BYTES}"),
        ));
    }
    // Record sources skip a byte order mark; AWS's JSON reader refuses one
    // at the start of an input string.
    if text.starts_with('\u{feff}') {
        return Err(ApiError::new(
            ErrorKind::InvalidExecutionInput,
            "Invalid State Machine Execution Input: 'the input starts with a byte order mark (U+FEFF)'",
        ));
    }
    match expressway_runtime::input::parse(text.as_bytes(), MAX_INPUT_BYTES) {
        Ok(v) => Ok((text.to_string(), v)),
        Err(rejected) => Err(ApiError::new(
            ErrorKind::InvalidExecutionInput,
            format!("Invalid State Machine Execution Input: '{}'", rejected.cause),
        )),
    }
}

impl Api {
    fn new_execution(&self, r: &Resolved, f: &Fields, input: String) -> Result<Execution, ApiError> {
        let name = match f.opt_str("name")? {
            Some(n) => {
                check_name(n, 80)?;
                n.to_string()
            }
            None => self.uuid(),
        };
        let id = if r.express { self.uuid() } else { String::new() };
        Ok(Execution {
            arn: self.partition.execution(r.express, &r.name, &name, &id),
            name,
            machine_arn: r.machine_arn.clone(),
            version_arn: r.version_arn.clone(),
            alias_arn: r.alias_arn.clone(),
            express: r.express,
            role_arn: r.revision.role_arn.clone(),
            input,
            start_ms: wall_ms(),
            trace_header: f.opt_str_max("traceHeader", 256)?.map(str::to_string),
            ending: Default::default(),
            abort: Default::default(),
        })
    }

    fn info(&self, r: &Resolved, e: &Execution) -> Arc<ExecutionInfo> {
        Arc::new(ExecutionInfo {
            execution_id: e.arn.clone(),
            execution_name: e.name.clone(),
            state_machine_id: e.version_arn.as_deref().unwrap_or(&e.machine_arn).into(),
            state_machine_name: r.name.as_str().into(),
            role_arn: r.revision.role_arn.as_str().into(),
            start_time_ms: e.start_ms,
            express: r.express,
        })
    }

    /// Run `e` to its end: from a MockConfigFile test case, inline when the
    /// machine never waits and `place` allows it, else on the runtime's
    /// pool. With `observer` set, also the path it took. `admitted` is held
    /// until the execution has ended, wherever it runs: on the pool, by the
    /// execution's own callback, so a caller that goes away (a client that
    /// disconnects from StartSyncExecution) does not give its room back early.
    async fn run(
        self: &Arc<Self>,
        r: &Resolved,
        e: &Arc<Execution>,
        input: EngineValue,
        observer: Option<Observer>,
        place: Place,
        admitted: Admitted,
    ) -> (Ending, Path) {
        let workflow = if r.express { WorkflowType::Express } else { WorkflowType::Standard };
        let opts = RunOptions { observer: observer.clone(), ..RunOptions::for_workflow(workflow) };
        let info = self.info(r, e);
        let program = r.revision.program.clone();
        let mut finished = if let Some(tc) = &r.test_case {
            match self.mocks(&r.name, tc) {
                Ok(mut mocks) => {
                    let (program, opts) = (program.clone(), opts.clone());
                    let work = move || caught(|| expressway_engine::execute(&program, info, input, &mut mocks, &opts));
                    self.off_the_free_thread(place == Place::InlineIfFree, work)
                        .await
                        .unwrap_or_else(|e| Finished::Panicked(e.message))
                }
                Err(cause) => Finished::Ran(failed("States.Runtime", cause)),
            }
        } else if !program.suspends()
            && let Some(_slot) = (place == Place::InlineIfFree).then(|| self.inline_slot()).flatten()
        {
            caught(|| expressway_engine::execute(&program, info, input, &mut Offline, &opts))
        } else {
            // A machine that never waits calls no task: the AWS clients are
            // neither needed nor built for it.
            let tasks =
                if !program.suspends() { Ok(Arc::new(NoTaskService) as Arc<dyn TaskService>) } else { self.tasks() };
            let tasks = match tasks {
                Ok(t) => t,
                Err(cause) => return (ending(Finished::Ran(failed("States.Runtime", cause))), Path::new()),
            };
            let (handle, registration) = AbortHandle::new_pair();
            *e.abort.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let submission = Submission {
                program,
                info,
                input,
                workflow,
                tasks,
                observer,
                abort: Some(registration),
                done: Box::new(move |finished| {
                    let _ = tx.send(finished);
                    drop(admitted);
                }),
            };
            match self.pool.submit(submission) {
                Ok(()) => rx.await.unwrap_or(Finished::Abandoned),
                // The pool holds as many as the running bound admits: only
                // a pool that is stopping refuses.
                Err(_) => {
                    Finished::Ran(failed("Expressway.Throttled", "too many executions are running; retry later".into()))
                }
            }
        };
        let path = match &mut finished {
            Finished::Ran(result) => std::mem::take(&mut result.path),
            _ => Path::new(),
        };
        (ending(finished), path)
    }

    fn keep(&self, e: Arc<Execution>) {
        self.executions().add(e);
    }

    /// Run `work` (an execution that never waits, or answers its tasks
    /// itself) on this request's thread when `inline` and a slot is free,
    /// else on Tokio's blocking threads, as many at once as the pool has
    /// threads (later ones wait their turn): never on the request thread kept free.
    pub(crate) async fn off_the_free_thread<T: Send + 'static>(
        &self,
        inline: bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if inline && let Some(_slot) = self.inline_slot() {
            return Ok(work());
        }
        self.blocking(work).await
    }

    /// Run `work` on Tokio's blocking threads once one of the bounded
    /// places for such runs is free.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let failure = |e: String| ApiError::new(ErrorKind::InternalFailure, e);
        let place = self.blocking_runs.clone().acquire_owned().await.map_err(|e| failure(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _place = place;
            work()
        })
        .await
        .map_err(|e| failure(e.to_string()))
    }

    /// One of the request threads' slots for an inline execution, if free.
    fn inline_slot(&self) -> Option<InlineSlot<'_>> {
        self.inline_slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| free.checked_sub(1))
            .ok()
            .map(|_| InlineSlot(&self.inline_slots))
    }
}

/// Where an execution that never waits may run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// On the request's thread, when a slot is free (StartSyncExecution:
    /// its caller waits, and a hop to the pool would add to every answer).
    InlineIfFree,
    /// On the pool (StartExecution: its answer does not wait for it).
    Pool,
}

/// A request thread's slot, given back when the inline execution ends.
struct InlineSlot<'a>(&'a AtomicUsize);

impl Drop for InlineSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

fn caught(f: impl FnOnce() -> ExecutionResult) -> Finished {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Finished::Ran(r),
        Err(p) => Finished::Panicked(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
        ),
    }
}

fn failed(error: &str, cause: String) -> ExecutionResult {
    ExecutionResult {
        status: expressway_engine::Status::Failed,
        output: None,
        error: Some(error.into()),
        cause: Some(cause),
        duration_ms: 0,
        entered_by_type: [0; 8],
        fused_maps: 0,
        path: Vec::new(),
    }
}

fn ending(finished: Finished) -> Ending {
    let stop_ms = wall_ms();
    let (status, output, error, cause) = match finished {
        Finished::Ran(r) => {
            let status = match r.status {
                expressway_engine::Status::Succeeded => Status::Succeeded,
                expressway_engine::Status::Failed => Status::Failed,
                expressway_engine::Status::TimedOut => Status::TimedOut,
            };
            (status, r.output.map(|o| o.to_json()), r.error, r.cause)
        }
        Finished::Aborted => (Status::Aborted, None, None, None),
        Finished::Panicked(m) => (
            Status::Failed,
            None,
            Some(INTERNAL_ERROR.into()),
            Some(format!("the execution was stopped by an internal error (a panic: {m}); this is a bug in Expressway")),
        ),
        Finished::Abandoned => {
            (Status::Aborted, None, Some("Expressway.Shutdown".into()), Some("the server stopped while it ran".into()))
        }
    };
    Ending { status, output, error, cause, stop_ms }
}

/// StartSyncExecution's answer, written straight to bytes: it is the hot
/// path of a request/response service, and a JSON tree of the input and
/// output only to print them once would cost more than the execution.
pub async fn start_sync(api: &Arc<Api>, f: Fields<'_>) -> Result<Vec<u8>, ApiError> {
    start_sync_watched(api, f, None).await.map(|(answer, _)| answer)
}

/// StartSyncExecution, and with `observer` set the path the execution took
/// (the console's "try it").
pub async fn start_sync_watched(
    api: &Arc<Api>,
    f: Fields<'_>,
    observer: Option<Observer>,
) -> Result<(Vec<u8>, Path), ApiError> {
    let arn = f.str("stateMachineArn")?;
    let r = api.read_registry().resolve(arn, api.pick())?;
    if !r.express {
        return Err(ApiError::new(
            ErrorKind::StateMachineTypeNotSupported,
            "This operation is not supported by this type of state machine",
        ));
    }
    let (text, input) = input_of(&f)?;
    let admitted = api.running.admit(text.len(), Refusal::Throttling)?;
    let e = Arc::new(api.new_execution(&r, &f, text)?);
    let (end, path) = api.run(&r, &e, input, observer, Place::InlineIfFree, admitted).await;
    let body = sync_answer(&e, &end);
    e.end(end);
    api.keep(e);
    Ok((body, path))
}

fn sync_answer(e: &Execution, end: &Ending) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(256 + e.input.len() * 2 + end.output.as_ref().map_or(0, |o| o.len() * 2));
    let string = |out: &mut Vec<u8>, s: &str| {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    };
    let seconds = |ms: i64| ms as f64 / 1000.0;
    out.extend_from_slice(b"{\"executionArn\":");
    string(&mut out, &e.arn);
    out.extend_from_slice(b",\"stateMachineArn\":");
    string(&mut out, &e.machine_arn);
    out.extend_from_slice(b",\"name\":");
    string(&mut out, &e.name);
    let _ = write!(out, ",\"startDate\":{},\"stopDate\":{}", seconds(e.start_ms), seconds(end.stop_ms));
    let _ = write!(out, ",\"status\":\"{}\"", end.status.as_str());
    for (name, value) in [("error", &end.error), ("cause", &end.cause)] {
        if let Some(v) = value {
            let _ = write!(out, ",\"{name}\":");
            string(&mut out, v);
        }
    }
    out.extend_from_slice(b",\"input\":");
    string(&mut out, &e.input);
    out.extend_from_slice(b",\"inputDetails\":{\"included\":true}");
    if let Some(o) = &end.output {
        out.extend_from_slice(b",\"output\":");
        string(&mut out, o);
        out.extend_from_slice(b",\"outputDetails\":{\"included\":true}");
    }
    if let Some(t) = &e.trace_header {
        out.extend_from_slice(b",\"traceHeader\":");
        string(&mut out, t);
    }
    // Express bills by 100 ms and 64 MB.
    let billed = (((end.stop_ms - e.start_ms).max(0) + 99) / 100 * 100).max(100);
    let _ =
        write!(out, ",\"billingDetails\":{{\"billedMemoryUsedInMB\":64,\"billedDurationInMilliseconds\":{billed}}}}}");
    out
}

pub async fn start(api: &Arc<Api>, f: Fields<'_>) -> Reply {
    let e = start_execution(api, f)?;
    Ok(json!({"executionArn": e.arn, "startDate": timestamp(e.start_ms)}))
}

/// StartExecution: the execution is kept and set running (on the current
/// Tokio runtime); the answer does not wait for it.
fn start_execution(api: &Arc<Api>, f: Fields<'_>) -> Result<Arc<Execution>, ApiError> {
    let arn = f.str("stateMachineArn")?;
    let r = api.read_registry().resolve(arn, api.pick())?;
    let (text, input) = input_of(&f)?;
    let e = Arc::new(api.new_execution(&r, &f, text)?);
    let admitted = if !r.express {
        // Names are unique per STANDARD machine: the same name and input
        // while it runs is the same execution; anything else is refused —
        // both answered before the running bound is asked.
        let mut store = api.executions();
        if let Some(existing) = store.get(&e.arn) {
            if existing.ending().is_none() && existing.input == e.input {
                return Ok(existing);
            }
            return Err(ApiError::new(
                ErrorKind::ExecutionAlreadyExists,
                format!("Execution Already Exists: '{}'", e.arn),
            ));
        }
        let admitted = api.running.admit(e.input.len(), Refusal::ExecutionLimitExceeded)?;
        store.add(e.clone());
        admitted
    } else {
        let admitted = api.running.admit(e.input.len(), Refusal::ExecutionLimitExceeded)?;
        api.keep(e.clone());
        admitted
    };
    let (api, started) = (api.clone(), e.clone());
    tokio::spawn(async move {
        let (end, _) = api.run(&r, &e, input, None, Place::Pool, admitted).await;
        let grew = end.output.as_ref().map_or(0, String::len);
        if e.end(end) {
            api.executions().grew(grew);
        }
    });
    Ok(started)
}

impl Api {
    /// `states:startExecution` of a machine this API holds, without a
    /// network hop: `None` when the ARN is not of this API's partition or
    /// names no machine of it (the caller then asks AWS). Must be called
    /// within a Tokio runtime, on which the execution then waits.
    pub fn start_in_process(
        self: &Arc<Self>,
        request: &StartExecution,
    ) -> Option<Result<StartedExecution, StartRefused>> {
        let machine = self.partition.parse_machine(&request.state_machine_arn).ok()?;
        if !self.read_registry().contains(&machine.name) {
            return None;
        }
        let mut body = serde_json::Map::new();
        body.insert("stateMachineArn".into(), request.state_machine_arn.clone().into());
        for (field, value) in
            [("input", &request.input), ("name", &request.name), ("traceHeader", &request.trace_header)]
        {
            if let Some(v) = value {
                body.insert(field.into(), v.clone().into());
            }
        }
        Some(
            start_execution(self, Fields(&body))
                .map(|e| StartedExecution { execution_arn: e.arn.clone(), start_ms: e.start_ms })
                .map_err(|e| StartRefused { code: e.kind.as_str().into(), message: e.message }),
        )
    }
}

fn execution(api: &Api, f: &Fields) -> Result<Arc<Execution>, ApiError> {
    let arn = f.str("executionArn")?;
    api.partition.parse_execution(arn)?;
    api.executions().get(arn).ok_or_else(|| Store::not_found(arn))
}

pub fn describe(api: &Api, f: Fields) -> Reply {
    Ok(execution(api, &f)?.describe())
}

pub fn stop(api: &Api, f: Fields) -> Reply {
    let e = execution(api, &f)?;
    // AWS's limits: an error of 256 characters, a cause of 32,768.
    let error = f.opt_str_max("error", 256)?.map(str::to_string);
    let cause = f.opt_str_max("cause", 32_768)?.map(str::to_string);
    let now = wall_ms();
    if e.end(Ending { status: Status::Aborted, output: None, error, cause, stop_ms: now })
        && let Some(h) = e.abort.lock().unwrap_or_else(|p| p.into_inner()).take()
    {
        h.abort();
    }
    Ok(json!({"stopDate": timestamp(e.ending().map_or(now, |x| x.stop_ms))}))
}

pub fn list(api: &Api, f: Fields) -> Reply {
    let arn = f.str("stateMachineArn")?;
    let r = api.read_registry().resolve(arn, 0)?;
    let filter = match f.opt_str("statusFilter")? {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::validation(
                "statusFilter",
                &format!("'{s}'"),
                "Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, RUNNING]",
            )
        })?),
    };
    let qualified = arn.split('#').next().unwrap_or(arn);
    let all: Vec<Value> = api
        .executions()
        .of_machine(&r.machine_arn)
        .into_iter()
        .filter(|e| {
            qualified == r.machine_arn
                || e.version_arn.as_deref() == Some(qualified)
                || e.alias_arn.as_deref() == Some(qualified)
        })
        .filter(|e| filter.is_none_or(|s| e.ending().map_or(Status::Running, |x| x.status) == s))
        .map(|e| Value::Object(e.summary()))
        .collect();
    paged("executions", &all, &f)
}

pub fn history(api: &Api, f: Fields) -> Reply {
    let e = execution(api, &f)?;
    let mut events = e.history();
    if f.opt_bool("reverseOrder")?.unwrap_or(false) {
        events.reverse();
    }
    if f.opt_bool("includeExecutionData")? == Some(false) {
        for ev in &mut events {
            if let Some(m) = ev.as_object_mut() {
                for (_, details) in m.iter_mut().filter(|(k, _)| k.ends_with("EventDetails")) {
                    if let Some(d) = details.as_object_mut() {
                        d.remove("input");
                        d.remove("output");
                    }
                }
            }
        }
    }
    paged("events", &events, &f)
}

impl Api {
    fn mocks(&self, machine: &str, test_case: &str) -> Result<MockConfig, String> {
        let Some(file) = &self.mock_config else {
            return Err(format!(
                "the execution names test case '{test_case}', but the API has no mock_config (a MockConfigFile.json)"
            ));
        };
        MockConfig::from_json(file, Some(machine), test_case).map_err(|e| e.to_string())
    }
}
