//! The VM: pure and synchronous. [`Program::resume`] runs one execution frame
//! until it needs the outside world and returns a [`Step`] — invoke a task,
//! sleep, fork Map/Parallel children — or finishes. Time, randomness and
//! task results are inputs, so a run is reproducible.

use crate::asl::{
    ChoiceOp, CountField, FailField, GlobPart, ItemBatcher, MapMode, Operand, ResultPath, Retrier, Rule, Seconds,
    StateType, Template, Tolerance, WaitFor,
};
use crate::errors::{self, ErrorName};
use crate::intrinsics::{self, Call, IntrinsicEnv};
use crate::jsonpath::{JsonPath, PathMiss, RefStep, Root};
use crate::program::{MachineId, Op, Program, StateId};
use crate::value::{Object as Map, Value};
use std::sync::Arc;

mod jsonata;
use jsonata::Role;

/// AWS's payload limit: 256 KiB of UTF-8.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Names and ARNs an execution runs under, for the context object `$$`.
#[derive(Debug, Clone, Default)]
pub struct ExecutionInfo {
    pub execution_id: String,
    pub execution_name: String,
    /// Shared by every execution of a machine: cloning is a refcount.
    pub state_machine_id: Arc<str>,
    pub state_machine_name: Arc<str>,
    pub role_arn: Arc<str>,
    pub start_time_ms: i64,
    /// Express executions have no redrive, so `$$.Execution.RedriveCount` is absent.
    pub express: bool,
}

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
    /// States entered, by [`StateType::index`].
    pub entered_by_type: [u32; 8],
}

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
        }
    }

    fn next_random(&mut self) -> u64 {
        intrinsics::splitmix64(&mut self.rng)
    }
}

/// An error raised inside the VM, as an ASL value.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl Raised {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Raised {
        Raised { error: Some(error.into()), cause: Some(cause.into()) }
    }

    fn name(&self) -> &str {
        self.error.as_deref().unwrap_or("")
    }

    /// The error output handed to a Catch (`{"Error", "Cause"}`).
    pub fn to_error_output(&self) -> Value {
        let mut m = Map::new();
        if let Some(e) = &self.error {
            m.insert("Error", Value::from(e.clone()));
        }
        if let Some(c) = &self.cause {
            m.insert("Cause", Value::from(c.clone()));
        }
        Value::object(m)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed(Raised),
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
    pub max_concurrency: usize,
    /// The forking frame's workflow variables: children read them, and what
    /// they assign stays in their own scope.
    pub vars: Value,
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
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Waiting {
    Nothing,
    Op,
    Retry,
    /// Paused by the step budget; resume where it stopped.
    Yield,
}

/// Transitions a frame may make before it yields to its driver, so that a
/// loop of Pass/Choice states cannot starve the thread it runs on.
pub const TRANSITIONS_PER_RESUME: u64 = 1024;

/// How a Map state got going.
enum MapStart {
    /// Children to run outside: the frame waits for their results.
    Forked(Step),
    /// Iterations ran inline; the frame has moved on, or this step ends it.
    Finished(Option<Step>),
}

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
}

/// What a runtime failure looks like to ASL: not catchable, not retriable.
fn runtime(state: &str, entered: u64, detail: impl std::fmt::Display) -> Raised {
    Raised::new(
        ErrorName::Runtime.as_str(),
        format!("An error occurred while executing the state '{state}' (entered at the event id #{entered}). {detail}"),
    )
}

/// The error for a payload template field whose path selects nothing
/// (cold: kept out of the template loop).
#[cold]
fn missing_field(p: &JsonPath, key: &str, data: &Value) -> (ErrorName, String) {
    (
        ErrorName::Runtime,
        format!("The JSONPath '{p}' specified for the field '{key}.$' could not be found in the input '{data}'"),
    )
}

fn path_miss_detail(path: &JsonPath, miss: &PathMiss) -> String {
    if miss.rendered.matches('[').count() == path.segments.len() {
        format!("Invalid path '{path}' : No results for path: {}", miss.rendered)
    } else {
        format!("Invalid path '{path}' : Missing property in path {}", miss.rendered)
    }
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
            chosen: 0,
            attempts: Vec::new(),
            retry_count: 0,
            entered_event: 0,
            entered_ms: 0,
            waiting: Waiting::Nothing,
            tolerance: None,
        }
    }

    pub fn state(&self) -> StateId {
        self.state
    }

    /// The accumulator, which may still be the raw input itself.
    fn acc(&self) -> &Value {
        if self.acc_is_input { &self.input } else { &self.acc }
    }

    fn set_acc(&mut self, v: Value) {
        self.acc = v;
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
        }
        self.acc_is_input = false;
    }

    /// Move the accumulator out; copies only when it is the kept input.
    fn take_acc(&mut self) -> Value {
        if self.acc_is_input {
            self.acc_is_input = false;
            self.input.clone()
        } else {
            std::mem::take(&mut self.acc)
        }
    }
}

/// Resolution context for paths, templates and intrinsics in one state.
struct Scope<'a> {
    program: &'a Program,
    vars: &'a Value,
    frame_state: StateId,
    entered_ms: i64,
    retry_count: u32,
    shared: &'a mut Shared,
    map_item: Option<(usize, &'a Value)>,
    entered_event: u64,
    /// `$states.input` of JSONata expressions: the state's raw input.
    state_input: &'a Value,
    /// What the data a JSONata expression gets is to it.
    role: Role,
}

impl Scope<'_> {
    /// Resolve a `$$` path, building only the part of the context object
    /// the path's first field names (the whole object only for `$$`).
    fn select_context(&self, path: &JsonPath) -> Result<Value, PathMiss> {
        use crate::jsonpath::MapItem;
        match (self.map_item, path.map_item()) {
            (Some((_, value)), Some(MapItem::Value)) => return Ok(value.clone()),
            (Some((index, _)), Some(MapItem::Index)) => return Ok(Value::from(index)),
            _ => {}
        }
        path.select(&self.context())
    }

    fn context(&self) -> Value {
        let info = &self.shared.info;
        let st = &self.program.states[self.frame_state as usize];
        let mut exec = Map::new();
        exec.insert("Id", Value::from(info.execution_id.clone()));
        exec.insert("Input", (*self.shared.execution_input).clone());
        exec.insert("StartTime", Value::from(crate::time::format_millis(info.start_time_ms)));
        exec.insert("Name", Value::from(info.execution_name.clone()));
        exec.insert("RoleArn", Value::String(info.role_arn.clone()));
        if !info.express {
            exec.insert("RedriveCount", Value::from(0));
        }
        let mut sm = Map::new();
        sm.insert("Id", Value::String(info.state_machine_id.clone()));
        sm.insert("Name", Value::String(info.state_machine_name.clone()));
        let mut state = Map::new();
        state.insert("Name", Value::from(st.name.to_string()));
        state.insert("EnteredTime", Value::from(crate::time::format_millis(self.entered_ms)));
        if matches!(st.state_type, StateType::Task | StateType::Map | StateType::Parallel) {
            state.insert("RetryCount", Value::from(self.retry_count));
        }
        let mut ctx = Map::new();
        ctx.insert("Execution", Value::object(exec));
        ctx.insert("StateMachine", Value::object(sm));
        ctx.insert("State", Value::object(state));
        if let Some(token) = self.program.task_token(self.frame_state, self.entered_event, self.shared) {
            let mut task = Map::new();
            task.insert("Token", Value::from(token));
            ctx.insert("Task", Value::object(task));
        }
        if let Some((index, value)) = self.map_item {
            let mut item = Map::new();
            item.insert("Index", Value::from(index));
            item.insert("Value", value.clone());
            let mut m = Map::new();
            m.insert("Item", Value::object(item));
            ctx.insert("Map", Value::object(m));
        }
        Value::object(ctx)
    }

    /// Borrowing form of [`Scope::select`] for definite input paths.
    fn select_cow<'d>(&self, path: &JsonPath, data: &'d Value) -> Result<std::borrow::Cow<'d, Value>, PathMiss> {
        if path.root == Root::Input && path.is_definite() {
            return path.select_definite(data);
        }
        self.select(path, data).map(std::borrow::Cow::Owned)
    }

    fn select(&self, path: &JsonPath, data: &Value) -> Result<Value, PathMiss> {
        match &path.root {
            Root::Input => path.select(data),
            Root::Context => self.select_context(path),
            Root::Variable(name) => match self.vars.get(name) {
                Some(v) => path.select(v),
                None => Err(PathMiss { rendered: format!("${name}") }),
            },
        }
    }

    fn eval_template(&mut self, t: &Template, data: &Value) -> Result<Value, (ErrorName, String)> {
        match t {
            Template::Const(v) => Ok(v.clone()),
            Template::Object(fields) => {
                // One spare slot: a ResultPath often adds a field next.
                let mut out = Map::with_capacity(fields.len() + 1);
                for (k, ft) in fields {
                    // Keys are distinct (validated), and shared with the template.
                    match ft {
                        Template::Path(p) => match self.select(p, data) {
                            Ok(v) => out.push_unique(k.clone(), v),
                            Err(_) => return Err(missing_field(p, k, data)),
                        },
                        Template::Call(c) => out.push_unique(k.clone(), self.eval_call(c, data)?),
                        other => out.push_unique(k.clone(), self.eval_template(other, data)?),
                    }
                }
                Ok(Value::object(out))
            }
            Template::Array(items) => {
                items.iter().map(|it| self.eval_template(it, data)).collect::<Result<Vec<_>, _>>().map(Value::array)
            }
            Template::Path(p) => self.select(p, data).map_err(|m| (ErrorName::Runtime, path_miss_detail(p, &m))),
            Template::Call(c) => self.eval_call(c, data),
            Template::Jsonata(j) => self.eval_jsonata(j, data),
        }
    }

    fn eval_call(&mut self, c: &Call, data: &Value) -> Result<Value, (ErrorName, String)> {
        let mut env = CallEnv { scope: self, data };
        intrinsics::eval(c, &mut env).map_err(|cause| (ErrorName::IntrinsicFailure, cause))
    }
}

struct CallEnv<'s, 'a> {
    scope: &'s mut Scope<'a>,
    data: &'s Value,
}

impl IntrinsicEnv for CallEnv<'_, '_> {
    fn resolve(&self, path: &JsonPath) -> Result<Value, String> {
        self.scope.select(path, self.data).map_err(|m| path_miss_detail(path, &m))
    }
    fn resolve_borrowed(&self, path: &JsonPath) -> Result<std::borrow::Cow<'_, Value>, String> {
        self.scope.select_cow(path, self.data).map_err(|m| path_miss_detail(path, &m))
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.scope.shared.next_random(), self.scope.shared.next_random());
        intrinsics::uuid_v4(a, b)
    }
    fn random(&mut self) -> u64 {
        self.scope.shared.next_random()
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
            Resume::Task(outcome) => {
                let resource = match self.code.get(frame.pc) {
                    Some(Op::Invoke(t)) => self.tasks[*t as usize].resource.as_str(),
                    _ => "",
                };
                shared.events += 2; // TaskStarted + TaskSucceeded/Failed/TimedOut
                match outcome {
                    TaskOutcome::Succeeded(v) => {
                        if payload_too_large(&v) {
                            let raised = Raised::new(
                                ErrorName::DataLimitExceeded.as_str(),
                                format!(
                                    "The state/task '{resource}' returned a result with a size exceeding the maximum number of bytes service limit."
                                ),
                            );
                            if let Some(step) = self.raise(frame, shared, raised) {
                                return step;
                            }
                        } else {
                            frame.set_acc(v);
                            frame.pc += 1;
                        }
                    }
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
                if let Some(step) = self.collect_fork(frame, shared, results) {
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

    fn enter_state(&self, frame: &mut Frame, shared: &mut Shared, state: StateId) {
        let info = &self.states[state as usize];
        frame.state = state;
        frame.pc = info.entry as usize;
        shared.events += 1;
        shared.entered_by_type[info.state_type.index()] += 1;
        frame.entered_event = shared.events;
        frame.entered_ms = shared.now_ms;
        frame.retry_count = 0;
        frame.attempts.clear();
        frame.attempts.resize(info.retry.len(), 0);
        // A state that still needs its raw input reads it in place until an
        // instruction replaces the accumulator: no copy on entry.
        if info.keeps_input || !info.retry.is_empty() {
            frame.acc = Value::Null;
            frame.acc_is_input = true;
        } else {
            frame.acc = std::mem::take(&mut frame.input);
            frame.acc_is_input = false;
        }
    }

    fn scope<'a>(&'a self, frame: &'a Frame, shared: &'a mut Shared) -> Scope<'a> {
        Scope {
            program: self,
            vars: &frame.vars,
            frame_state: frame.state,
            entered_ms: frame.entered_ms,
            retry_count: frame.retry_count,
            entered_event: frame.entered_event,
            shared,
            map_item: None,
            // Until the work is done the accumulator is the input; states
            // that read it later keep it.
            state_input: if self.states[frame.state as usize].keeps_input { &frame.input } else { frame.acc() },
            role: Role::Input,
        }
    }

    /// Callback tasks get a token derived from the execution and the
    /// state's entry, stable across the state's retries.
    fn task_token(&self, state: StateId, entered_event: u64, shared: &Shared) -> Option<String> {
        let info = &self.states[state as usize];
        if info.state_type != StateType::Task {
            return None;
        }
        let is_callback = self.code[info.entry as usize..]
            .iter()
            .find_map(|op| match op {
                Op::Invoke(t) => Some(self.tasks[*t as usize].resource.ends_with(".waitForTaskToken")),
                _ => None,
            })
            .unwrap_or(false);
        is_callback.then(|| {
            let mut seed = shared.rng ^ entered_event.rotate_left(17);
            let a = intrinsics::splitmix64(&mut seed);
            let b = intrinsics::splitmix64(&mut seed);
            format!("{}:{}", shared.info.execution_name, intrinsics::uuid_v4(a, b))
        })
    }

    fn state_name(&self, frame: &Frame) -> &str {
        &self.states[frame.state as usize].name
    }

    /// Execute instructions from `frame.pc` until a step is needed.
    fn run(&self, frame: &mut Frame, shared: &mut Shared) -> Step {
        loop {
            let op = self.code[frame.pc];
            let result: Result<(), Raised> = match op {
                Op::InputPath(p) | Op::OutputPath(p) => {
                    let path = &self.paths[p as usize];
                    let scope = self.scope(frame, shared);
                    match scope.select(path, frame.acc()) {
                        Ok(v) => {
                            frame.set_acc(v);
                            Ok(())
                        }
                        Err(m) => Err(runtime(self.state_name(frame), frame.entered_event, path_miss_detail(path, &m))),
                    }
                }
                Op::DiscardInput | Op::DiscardOutput => {
                    frame.set_acc(Value::empty_object());
                    Ok(())
                }
                Op::Parameters(t) | Op::ResultSelector(t) => {
                    let mut scope = self.scope(frame, shared);
                    match scope.eval_template(&self.templates[t as usize], frame.acc()) {
                        Ok(v) => {
                            frame.set_acc(v);
                            Ok(())
                        }
                        Err((name, detail)) => Err(self.template_error(frame, name, detail)),
                    }
                }
                Op::Const(c) => {
                    frame.set_acc(self.consts[c as usize].clone());
                    Ok(())
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
                    let children = branches.iter().map(|m| (*m, frame.acc().clone())).collect();
                    frame.waiting = Waiting::Op;
                    return Step::Fork(Fork { children, max_concurrency: 0, vars: frame.vars.clone() });
                }
                Op::ResultPath(r) => {
                    let (path, steps) = &self.result_paths[r as usize];
                    let result = frame.take_acc();
                    // What follows ResultPath (OutputPath, the transition) can
                    // only fail with States.Runtime, which no Catch sees: the
                    // input is not needed again unless this write fails.
                    let mut out = std::mem::take(&mut frame.input);
                    match write_path(&mut out, steps, result) {
                        Ok(()) => {
                            frame.set_acc(out);
                            Ok(())
                        }
                        Err(()) => {
                            frame.input = out;
                            Err(Raised::new(
                                ErrorName::ResultPathMatchFailure.as_str(),
                                format!("Unable to apply ResultPath '{path}' to input '{}'", frame.input),
                            ))
                        }
                    }
                }
                Op::DiscardResult => {
                    let input = std::mem::take(&mut frame.input);
                    frame.set_acc(input);
                    Ok(())
                }
                Op::Choose(c) => self.choose(frame, shared, c),
                Op::Assign(t) => self.assign(frame, shared, t),
                Op::Output(t) => {
                    let mut scope = self.scope(frame, shared);
                    scope.role = self.result_role(frame);
                    match scope.eval_template(&self.templates[t as usize], frame.acc()) {
                        Ok(v) => {
                            frame.set_acc(v);
                            Ok(())
                        }
                        Err((name, detail)) => Err(self.template_error(frame, name, detail)),
                    }
                }
                Op::GotoChosen => {
                    shared.events += 1; // ChoiceStateExited
                    frame.apply_pending();
                    frame.acc_into_input();
                    let next = frame.chosen;
                    self.enter_state(frame, shared, next);
                    if let Some(step) = self.budget(frame, shared) {
                        return step;
                    }
                    continue;
                }
                Op::Goto(next) => {
                    shared.events += 1; // StateExited
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
                    return Step::Done(Outcome::Succeeded(frame.take_acc()));
                }
                Op::Fail(f) => {
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
                Ok(()) => frame.pc += 1,
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
        if shared.transitions.is_multiple_of(TRANSITIONS_PER_RESUME) {
            frame.waiting = Waiting::Yield;
            return Some(Step::Sleep { millis: 0 });
        }
        None
    }

    fn fail_or_handle(&self, frame: &mut Frame, shared: &mut Shared, e: Raised) -> Step {
        match self.raise(frame, shared, e) {
            Some(step) => step,
            None => self.run(frame, shared),
        }
    }

    fn template_error(&self, frame: &Frame, name: ErrorName, detail: String) -> Raised {
        match name {
            ErrorName::Runtime => runtime(self.state_name(frame), frame.entered_event, detail),
            ErrorName::QueryEvaluationError => {
                jsonata::query_error(self.state_name(frame), frame.entered_event, detail)
            }
            other => Raised::new(other.as_str(), detail),
        }
    }

    /// Apply Retry then Catch. `None`: caught, continue running; `Some`: a
    /// retry timer or the frame's failure.
    fn raise(&self, frame: &mut Frame, shared: &mut Shared, err: Raised) -> Option<Step> {
        let info = &self.states[frame.state as usize];
        let name = err.name().to_string();
        let recoverable = !matches!(name.as_str(), "States.Runtime");
        if recoverable {
            let retriers = &self.retriers[info.retry.start as usize..info.retry.end as usize];
            if let Some(i) = retriers.iter().position(|r| errors::matches(&r.error_equals, &name)) {
                let r = &retriers[i];
                if frame.attempts[i] < r.max_attempts {
                    let delay = retry_delay(r, frame.attempts[i], shared);
                    frame.attempts[i] += 1;
                    frame.pending = None;
                    frame.waiting = Waiting::Retry;
                    return Some(Step::Sleep { millis: delay });
                }
            }
            let catchers = &self.catchers[info.catch.start as usize..info.catch.end as usize];
            if let Some(c) = catchers.iter().find(|c| errors::matches(&c.error_equals, &name)) {
                let error_output = err.to_error_output();
                // The failed state's own assignments are dropped; the
                // catcher's see the error output as `$`.
                frame.pending = None;
                if let Some(t) = c.assign {
                    let mut scope = self.scope(frame, shared);
                    scope.role = Role::ErrorOutput;
                    let assigned = scope.eval_template(&self.templates[t as usize], &error_output);
                    match assigned {
                        Ok(v) => frame.pending = Some(v),
                        Err((n, detail)) => {
                            return Some(Step::Done(Outcome::Failed(self.template_error(frame, n, detail))));
                        }
                    }
                }
                let output = match c.output {
                    Some(t) => {
                        let mut scope = self.scope(frame, shared);
                        scope.role = Role::ErrorOutput;
                        match scope.eval_template(&self.templates[t as usize], &error_output) {
                            Ok(v) => Some(v),
                            Err((n, detail)) => {
                                return Some(Step::Done(Outcome::Failed(self.template_error(frame, n, detail))));
                            }
                        }
                    }
                    None => None,
                };
                frame.apply_pending();
                let out = match &c.result_path {
                    _ if output.is_some() => output.unwrap_or_default(),
                    ResultPath::Replace => error_output,
                    ResultPath::Discard => frame.input.clone(),
                    ResultPath::Into(_, steps) => {
                        let mut out = frame.input.clone();
                        if write_path(&mut out, steps, error_output.clone()).is_err() { error_output } else { out }
                    }
                };
                shared.events += 1; // StateExited
                frame.input = out;
                self.enter_state(frame, shared, c.next);
                return None;
            }
        }
        Some(Step::Done(Outcome::Failed(err)))
    }

    fn seconds(&self, frame: &Frame, shared: &mut Shared, s: &Seconds, field: &str) -> Result<u64, Raised> {
        match s {
            Seconds::Fixed(n) => Ok(*n),
            Seconds::Expr(t) => self.jsonata_count(frame, shared, t, field.trim_end_matches("Path")).map(|n| n.max(1)),
            Seconds::Path(p) => {
                let scope = self.scope(frame, shared);
                match scope.select(p, &frame.input) {
                    Ok(Value::Number(n)) if n.as_u64().is_some_and(|v| v > 0) => Ok(n.as_u64().unwrap_or(1)),
                    Ok(v) => Err(runtime(
                        self.state_name(frame),
                        frame.entered_event,
                        format!("The {field} parameter does not reference a positive integer: {p} == {v}"),
                    )),
                    Err(m) => Err(runtime(self.state_name(frame), frame.entered_event, path_miss_detail(p, &m))),
                }
            }
        }
    }

    fn wait_millis(&self, frame: &Frame, shared: &mut Shared, w: &WaitFor) -> Result<i64, Raised> {
        let name = self.state_name(frame);
        let fail = |detail: String| runtime(name, frame.entered_event, detail);
        match w {
            WaitFor::Seconds(s) => Ok(*s as i64 * 1000),
            WaitFor::SecondsExpr(t) => Ok(self.jsonata_count(frame, shared, t, "Seconds")? as i64 * 1000),
            WaitFor::TimestampExpr(t) => {
                let ms = self.jsonata_timestamp(frame, shared, t)?;
                Ok((ms - shared.now_ms).max(0))
            }
            WaitFor::Timestamp(t) => Ok((crate::time::to_millis(t) - shared.now_ms).max(0)),
            WaitFor::SecondsPath(p) => {
                let v = self.scope(frame, shared).select(p, frame.acc()).map_err(|m| fail(path_miss_detail(p, &m)))?;
                match &v {
                    Value::Number(n) if n.is_i64() || n.is_u64() => match n.as_i64() {
                        Some(s) if s >= 0 => Ok(s.saturating_mul(1000)),
                        _ => Err(fail(format!("The SecondsPath parameter references a negative value: {p} == {v}"))),
                    },
                    _ => Err(fail(format!("The SecondsPath parameter cannot be parsed as a long value: {p} == {v}"))),
                }
            }
            WaitFor::TimestampPath(p) => {
                let v = self.scope(frame, shared).select(p, frame.acc()).map_err(|m| fail(path_miss_detail(p, &m)))?;
                match v.as_str().and_then(crate::time::parse_timestamp) {
                    Some(t) => Ok((crate::time::to_millis(&t) - shared.now_ms).max(0)),
                    None => {
                        let shown = match &v {
                            Value::String(s) => s.to_string(),
                            other => other.to_json(),
                        };
                        Err(fail(format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {shown}"
                        )))
                    }
                }
            }
        }
    }

    fn fail_field(
        &self,
        frame: &Frame,
        shared: &mut Shared,
        f: &FailField,
        field: &str,
    ) -> Result<Option<String>, Raised> {
        let mut scope = self.scope(frame, shared);
        let render = |v: Value| match v {
            Value::String(s) => s.to_string(),
            other => other.to_json(),
        };
        match f {
            FailField::None => Ok(None),
            FailField::Expr(t) => match scope.eval_template(t, &frame.input) {
                Ok(v) => Ok(Some(render(v))),
                Err((n, detail)) => Err(self.template_error(frame, n, detail)),
            },
            FailField::Literal(s) => Ok(Some(s.clone())),
            FailField::Path(p) => match scope.select(p, &frame.input) {
                Ok(v) => Ok(Some(render(v))),
                Err(_) => Err(runtime(
                    self.state_name(frame),
                    frame.entered_event,
                    format!(
                        "The JSONPath '{p}' specified for the field '{field}' could not be found in the input '{}'",
                        frame.input
                    ),
                )),
            },
            FailField::Call(c) => match scope.eval_call(c, &frame.input) {
                Ok(v) => Ok(Some(render(v))),
                Err((_, cause)) => Err(Raised::new(ErrorName::IntrinsicFailure.as_str(), cause)),
            },
        }
    }

    fn choose(&self, frame: &mut Frame, shared: &mut Shared, c: u32) -> Result<(), Raised> {
        let table = &self.choices[c as usize];
        let mut chosen = None;
        {
            let mut scope = self.scope(frame, shared);
            for branch in &table.branches {
                let verdict = match &branch.rule {
                    Rule::Condition(t) => {
                        scope.condition(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))
                    }
                    rule => eval_rule(rule, &scope, frame.acc())
                        .map_err(|detail| runtime(self.state_name(frame), frame.entered_event, detail)),
                };
                match verdict {
                    Ok(true) => {
                        chosen = Some((branch.next, branch.assign, branch.output.or(table.default_output)));
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let (next, assign, output) = match (chosen, table.default) {
            (Some(c), _) => c,
            (None, Some(d)) => (d, table.default_assign, table.default_output),
            (None, None) => {
                return Err(Raised::new(
                    ErrorName::NoChoiceMatched.as_str(),
                    format!("No Matches! at state '{}'", self.state_name(frame)),
                ));
            }
        };
        frame.chosen = next;
        if let Some(t) = assign {
            self.assign(frame, shared, t)?;
        }
        if let Some(t) = output {
            let v = self
                .scope(frame, shared)
                .eval_template(&self.templates[t as usize], frame.acc())
                .map_err(|(n, d)| self.template_error(frame, n, d))?;
            frame.set_acc(v);
        }
        Ok(())
    }

    /// Evaluate an `Assign` template against the accumulator; the values
    /// take effect when the state is left.
    fn assign(&self, frame: &mut Frame, shared: &mut Shared, t: u32) -> Result<(), Raised> {
        let mut scope = self.scope(frame, shared);
        scope.role = self.result_role(frame);
        match scope.eval_template(&self.templates[t as usize], frame.acc()) {
            Ok(v) => {
                frame.pending = Some(v);
                Ok(())
            }
            Err((name, detail)) => Err(self.template_error(frame, name, detail)),
        }
    }

    /// Read a `…Path` field against the accumulator; a miss is States.Runtime.
    fn read_path(&self, frame: &Frame, shared: &mut Shared, p: &JsonPath) -> Result<Value, Raised> {
        self.scope(frame, shared)
            .select(p, frame.acc())
            .map_err(|m| runtime(self.state_name(frame), frame.entered_event, path_miss_detail(p, &m)))
    }

    fn count_field(&self, frame: &Frame, shared: &mut Shared, f: &CountField, field: &str) -> Result<u64, Raised> {
        match f {
            CountField::Fixed(n) => Ok(*n),
            CountField::Expr(t) => self.jsonata_count(frame, shared, t, field.trim_end_matches("Path")),
            CountField::Path(p) => {
                let v = self.read_path(frame, shared, p)?;
                // A numeric string counts too (AWS reads "1" as 1).
                let n = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse::<u64>().ok()));
                match n {
                    Some(n) => Ok(n),
                    None => Err(runtime(
                        self.state_name(frame),
                        frame.entered_event,
                        format!("The {field} field refers to value \"{}\" which is not a valid integer: {p}", v),
                    )),
                }
            }
        }
    }

    fn start_map(&self, frame: &mut Frame, shared: &mut Shared, m: u32) -> Result<MapStart, Raised> {
        let spec = &self.maps[m as usize];
        let map = &spec.state;
        if map.item_reader.is_some() {
            return Err(Raised::new(
                ErrorName::ItemReaderFailed.as_str(),
                "ItemReader is not supported by this engine yet: items must come from the state input (ItemsPath)",
            ));
        }
        let name = self.state_name(frame).to_string();
        let entered = frame.entered_event;
        let max_concurrency = match &map.max_concurrency {
            Some(f) => self.count_field(frame, shared, f, "MaxConcurrencyPath")? as usize,
            None => 0,
        };
        let pct = match &map.tolerated_failure_percentage {
            None => 0.0,
            Some(Tolerance::Fixed(f)) => *f,
            Some(Tolerance::Expr(t)) => self.jsonata_number(frame, shared, t, "ToleratedFailurePercentage")?,
            Some(Tolerance::Path(p)) => {
                let v = self.read_path(frame, shared, p)?;
                let f = v.as_f64().ok_or_else(|| {
                    runtime(
                        &name,
                        entered,
                        format!(
                            "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {p}",
                            v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                        ),
                    )
                })?;
                if !(0.0..=100.0).contains(&f) {
                    return Err(runtime(&name, entered, "ToleratedFailurePercentage must be between 0 and 100."));
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
                let n = match &v {
                    Value::Number(n) => n.as_i64().ok_or(()),
                    _ => Err(()),
                }
                .map_err(|_| {
                    runtime(
                        &name,
                        entered,
                        format!(
                            "The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: {p}",
                            v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                        ),
                    )
                })?;
                if n < 0 {
                    return Err(runtime(&name, entered, "ToleratedFailureCount cannot be negative."));
                }
                n as f64
            }
        };
        frame.tolerance = if map.mode == MapMode::Distributed { Some((pct, count)) } else { None };

        let items_value = match (&map.items_path, &map.items) {
            (_, Some(t)) => std::borrow::Cow::Owned(self.jsonata_items(frame, shared, t)?),
            (None, None) => std::borrow::Cow::Borrowed(frame.acc()),
            (Some(p), None) => self
                .scope(frame, shared)
                .select_cow(p, frame.acc())
                .map_err(|m| runtime(&name, entered, path_miss_detail(p, &m)))?,
        };
        let Value::Array(items) = items_value.as_ref() else {
            if map.jsonata {
                return Err(jsonata::query_error(
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
        let mut inputs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let v = match &map.item_selector {
                None => item.clone(),
                Some(t) => {
                    let mut scope = self.scope(frame, shared);
                    scope.map_item = Some((i, item));
                    scope.eval_template(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))?
                }
            };
            inputs.push(v);
        }
        if let Some(b) = &map.batcher {
            inputs = self.batch(frame, shared, b, inputs)?;
        }
        shared.events += 1; // MapStateStarted
        if self.machines[spec.processor as usize].runs_inline {
            let mut results = Vec::with_capacity(inputs.len());
            for input in inputs {
                shared.events += 1; // IterationStarted
                let mut child = Frame::new(self, spec.processor, input, frame.vars.clone());
                let mut event = Resume::Start;
                let outcome = loop {
                    match self.resume(&mut child, shared, event) {
                        Step::Done(o) => break o,
                        // Only the step budget pauses an inline machine, and
                        // an acyclic one ends: carry on.
                        _ => event = Resume::Timer,
                    }
                };
                shared.events += 1; // IterationSucceeded/Failed
                results.push(outcome);
            }
            return Ok(MapStart::Finished(self.collect_fork(frame, shared, results)));
        }
        let children = inputs.into_iter().map(|v| (spec.processor, v)).collect();
        frame.waiting = Waiting::Op;
        Ok(MapStart::Forked(Step::Fork(Fork { children, max_concurrency, vars: frame.vars.clone() })))
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
                let mut scope = self.scope(frame, shared);
                Some(scope.eval_template(t, frame.acc()).map_err(|(n, d)| self.template_error(frame, n, d))?)
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

    fn collect_fork(&self, frame: &mut Frame, shared: &mut Shared, results: Vec<Outcome>) -> Option<Step> {
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
        shared.events += 1; // MapStateSucceeded / ParallelStateSucceeded
        let out: Vec<Value> = results
            .into_iter()
            .map(|r| match r {
                Outcome::Succeeded(v) => v,
                Outcome::Failed(e) => e.to_error_output(),
            })
            .collect();
        frame.set_acc(Value::array(out));
        frame.pc += 1;
        None
    }
}

fn payload_too_large(v: &Value) -> bool {
    // Cheap pre-check before serialising: small values cannot exceed it.
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > MAX_PAYLOAD_BYTES {
                return Err(std::io::Error::other("limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter(0), v).is_err()
}

fn retry_delay(r: &Retrier, attempt: u32, shared: &mut Shared) -> i64 {
    let mut secs = r.interval_seconds as f64 * r.backoff_rate.powi(attempt as i32);
    if let Some(max) = r.max_delay_seconds {
        secs = secs.min(max as f64);
    }
    if r.full_jitter {
        let unit = (shared.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        secs *= unit;
    }
    (secs * 1000.0).round() as i64
}

/// Write `value` at `steps` inside `root`, creating objects on the way.
fn write_path(root: &mut Value, steps: &[RefStep], value: Value) -> Result<(), ()> {
    let Some((last, init)) = steps.split_last() else {
        *root = value;
        return Ok(());
    };
    let mut cur = root;
    for step in init {
        cur = match step {
            RefStep::Field(f) => {
                let obj = cur.as_object_mut().ok_or(())?;
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
            cur.as_object_mut().ok_or(())?.insert(f.clone(), value);
        }
        RefStep::Index(i) => {
            let arr = cur.as_array_mut().ok_or(())?;
            let idx = usize::try_from(*i).map_err(|_| ())?;
            *arr.get_mut(idx).ok_or(())? = value;
        }
    }
    Ok(())
}

fn eval_rule(rule: &Rule, scope: &Scope<'_>, data: &Value) -> Result<bool, String> {
    match rule {
        Rule::Condition(_) => Err("a JSONata Condition cannot be nested in a JSONPath rule".into()),
        Rule::And(rs) => {
            for r in rs {
                if !eval_rule(r, scope, data)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Rule::Or(rs) => {
            for r in rs {
                if eval_rule(r, scope, data)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Rule::Not(r) => Ok(!eval_rule(r, scope, data)?),
        Rule::Test { variable, op, operand } => {
            let value = scope.select_cow(variable, data);
            if *op == ChoiceOp::IsPresent {
                let present = match value.as_deref() {
                    Ok(Value::Array(a)) if !variable.is_definite() => !a.is_empty(),
                    Ok(_) => true,
                    Err(_) => false,
                };
                return Ok(Some(present) == operand_bool(operand));
            }
            let value = value.map_err(|_| {
                format!("Invalid path '{variable}': The choice state's condition path references an invalid value.")
            })?;
            let expected = match operand {
                Operand::Path(p) => {
                    let v = scope.select(p, data).map_err(|_| {
                        format!("Invalid path '{p}': The choice state's condition path references an invalid value.")
                    })?;
                    return Ok(test(*op, &value, &Operand::Value(v)));
                }
                other => other,
            };
            Ok(test(*op, &value, expected))
        }
    }
}

fn operand_bool(o: &Operand) -> Option<bool> {
    match o {
        Operand::Value(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn test(op: ChoiceOp, v: &Value, operand: &Operand) -> bool {
    use ChoiceOp::*;
    use std::cmp::Ordering::*;
    let ord_ok = |o: std::cmp::Ordering| match op {
        StringEquals | NumericEquals | TimestampEquals => o == Equal,
        StringLessThan | NumericLessThan | TimestampLessThan => o == Less,
        StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => o == Greater,
        StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => o != Greater,
        StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => o != Less,
        _ => false,
    };
    match op {
        StringEquals | StringLessThan | StringGreaterThan | StringLessThanEquals | StringGreaterThanEquals => {
            match (v, operand) {
                (Value::String(a), Operand::Value(Value::String(b))) => ord_ok(a.cmp(b)),
                _ => false,
            }
        }
        NumericEquals | NumericLessThan | NumericGreaterThan | NumericLessThanEquals | NumericGreaterThanEquals => {
            match (v, operand) {
                (Value::Number(a), Operand::Value(Value::Number(b))) => {
                    a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)).is_some_and(ord_ok)
                }
                _ => false,
            }
        }
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => {
            let Some(a) = v.as_str().and_then(crate::time::parse_timestamp) else {
                return false;
            };
            let b = match operand {
                Operand::Timestamp(t) => *t,
                Operand::Value(Value::String(s)) => match crate::time::parse_timestamp(s) {
                    Some(t) => t,
                    None => return false,
                },
                _ => return false,
            };
            ord_ok(a.cmp(&b))
        }
        BooleanEquals => match (v, operand) {
            (Value::Bool(a), Operand::Value(Value::Bool(b))) => a == b,
            _ => false,
        },
        StringMatches => match (v, operand) {
            (Value::String(s), Operand::Pattern(p)) => glob_match(p, s),
            _ => false,
        },
        IsNull => Some(v.is_null()) == operand_bool(operand),
        IsNumeric => Some(v.is_number()) == operand_bool(operand),
        IsString => Some(v.is_string()) == operand_bool(operand),
        IsBoolean => Some(v.is_boolean()) == operand_bool(operand),
        IsTimestamp => Some(v.as_str().and_then(crate::time::parse_timestamp).is_some()) == operand_bool(operand),
        IsPresent => true,
    }
}

fn glob_match(parts: &[GlobPart], s: &str) -> bool {
    match parts.split_first() {
        None => s.is_empty(),
        Some((GlobPart::Literal(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|r| glob_match(rest, r)),
        Some((GlobPart::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len())).any(|i| glob_match(rest, &s[i..]))
        }
    }
}
