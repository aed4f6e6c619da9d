//! TestState: one state run on its own with a given input, as the console's
//! "Test state" does. The state becomes a machine of its own: its
//! transitions lead to stub states, and an observer of the run tells which
//! stub it went to (and by which catcher), the error it raised and the value
//! it held after each step. Its Retry is left out: AWS does not retry in
//! TestState but reports an error its deciding retrier would retry as
//! `RETRIABLE`, until `stateConfiguration.retrierRetryCount` says that
//! retrier's attempts are spent. A `mock` answers its task, or a Map or
//! Parallel state as a whole (a mocked JSONPath Map still selects its items,
//! and `mapIterationFailureCount` can exceed its tolerated failures).
//! Without a mock a task calls the configured services. What AWS does here
//! was recorded on AWS (LocalStack's parity snapshots: test_state_*).

use crate::Api;
use crate::registry::compile;
use crate::wire::{ApiError, ErrorKind, Fields, Reply};
use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::program::StateId;
use expressway_engine::value::Value as EngineValue;
use expressway_engine::vm::{ExecutionInfo, Observer, Stage, StateEvent, StateObserver};
use expressway_engine::{Effects, ExecutionResult, TaskCall, TaskOutcome, WorkflowType};
use expressway_runtime::clock::wall_ms;
use expressway_runtime::tasks::Blocking;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// How long TestState runs at most, as on AWS.
const TEST_STATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Where a transition of the tested state leads: the state it names, and
/// the index of the catcher that led there.
#[derive(Debug, Clone, PartialEq)]
struct Exit {
    target: String,
    catcher: Option<usize>,
}

/// The tested state with its transitions pointed at stubs (states that
/// end the run with the tested state's output), its Retry left out; and
/// where each stub stands for.
fn isolate(state: &Map<String, Value>, taken: &[String]) -> (Map<String, Value>, Vec<(String, Exit)>) {
    let mut state = state.clone();
    let mut exits: Vec<(String, Exit)> = Vec::new();
    let mut redirect = |target: &Value, catcher: Option<usize>| -> Value {
        let Some(t) = target.as_str() else { return target.clone() };
        let exit = Exit { target: t.to_string(), catcher };
        if let Some((name, _)) = exits.iter().find(|(_, e)| *e == exit) {
            return Value::String(name.clone());
        }
        let mut used = taken.to_vec();
        used.extend(exits.iter().map(|(name, _)| name.clone()));
        let name = free_name("Exit", &used);
        exits.push((name.clone(), exit));
        Value::String(name)
    };
    if let Some(next) = state.get("Next").cloned() {
        state.insert("Next".into(), redirect(&next, None));
    }
    if let Some(default) = state.get("Default").cloned() {
        state.insert("Default".into(), redirect(&default, None));
    }
    if let Some(Value::Array(choices)) = state.get_mut("Choices") {
        for choice in choices.iter_mut() {
            if let Some(next) = choice.get("Next").cloned() {
                choice["Next"] = redirect(&next, None);
            }
        }
    }
    if let Some(Value::Array(catchers)) = state.get_mut("Catch") {
        for (i, catcher) in catchers.iter_mut().enumerate() {
            if let Some(next) = catcher.get("Next").cloned() {
                catcher["Next"] = redirect(&next, Some(i));
            }
        }
    }
    state.remove("Retry");
    (state, exits)
}

/// A machine of the tested state `name` and its stubs.
fn machine_of(name: &str, tested: Map<String, Value>, exits: &[(String, Exit)]) -> Value {
    let mut states = Map::new();
    states.insert(name.to_string(), Value::Object(tested));
    for (stub, _) in exits {
        states.insert(stub.clone(), json!({"Type": "Pass", "End": true}));
    }
    json!({"StartAt": name, "States": states})
}

/// `wanted`, or `wanted` with a number, whichever no state of `taken` has
/// (a Map's or Parallel's own states share the machine's names).
fn free_name(wanted: &str, taken: &[String]) -> String {
    std::iter::once(wanted.to_string())
        .chain((1..).map(|i| format!("{wanted}{i}")))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| wanted.to_string())
}

/// Every state name within `state` (its Map's or Parallel's states, at any
/// depth, bounded as a definition is).
fn nested_names(state: &Value, out: &mut Vec<String>) {
    let mut pending = vec![state];
    while let Some(v) = pending.pop() {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(states)) = m.get("States") {
                    out.extend(states.keys().cloned());
                }
                pending.extend(m.values());
            }
            Value::Array(a) => pending.extend(a),
            _ => {}
        }
    }
}

/// The retrier of `state`'s Retry that decides what becomes of `error` (the
/// first that names it), with its index and whether it still retries after
/// `retries` attempts (its `MaxAttempts`, 3 by default). `States.Runtime` is
/// never retried.
fn deciding_retrier<'s>(state: &'s Map<String, Value>, error: &str, retries: u64) -> Option<(usize, &'s Value, bool)> {
    if error == "States.Runtime" {
        return None;
    }
    let retry = state.get("Retry")?.as_array()?;
    let (index, retrier) = retry.iter().enumerate().find(|(_, r)| {
        let names: Vec<String> = r
            .get("ErrorEquals")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        expressway_engine::errors::matches(&names, error)
    })?;
    let live = retrier.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) > retries;
    Some((index, retrier, live))
}

/// The back-off before attempt `retries + 1` of `retrier`, in whole seconds
/// (AWS's model types it as an integer).
fn backoff_seconds(retrier: &Value, retries: u64) -> u64 {
    let interval = retrier.get("IntervalSeconds").and_then(Value::as_f64).unwrap_or(1.0);
    let rate = retrier.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0);
    let exponent = i32::try_from(retries).unwrap_or(i32::MAX);
    let mut seconds = interval * rate.powi(exponent);
    if let Some(max) = retrier.get("MaxDelaySeconds").and_then(Value::as_f64) {
        seconds = seconds.min(max);
    }
    // A float past u64 saturates; NaN is 0.
    seconds as u64
}

/// A Map or Parallel state whose result the request's mock gives, as AWS
/// tests them: a task the mock answers, with the state's input and output
/// processing, Retry and Catch, and none of its iterations or branches.
fn mocked_whole(state: &Map<String, Value>) -> Map<String, Value> {
    const KEPT: [&str; 12] = [
        "Comment",
        "QueryLanguage",
        "InputPath",
        "ResultSelector",
        "ResultPath",
        "OutputPath",
        "Output",
        "Assign",
        "Next",
        "End",
        "Retry",
        "Catch",
    ];
    let mut task: Map<String, Value> =
        state.iter().filter(|(k, _)| KEPT.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    task.insert("Type".into(), json!("Task"));
    task.insert("Resource".into(), json!("arn:aws:states:::lambda:invoke"));
    task
}

/// Answers every task with the request's `mock`. A mocked JSONPath Map
/// first selects its items from the input its task was given, as AWS does.
struct Mock {
    outcome: TaskOutcome,
    items: Option<ItemsPath>,
}

/// A mocked JSONPath Map's `ItemsPath`, and what it selected.
struct ItemsPath {
    path: String,
    /// The request's context, which a `$$` path reads (not checked without it).
    context: Option<EngineValue>,
    selected: Arc<Mutex<Option<EngineValue>>>,
}

impl ItemsPath {
    /// The items `path` selects from `input`; a path that does not select
    /// an array fails the state (AWS's words).
    fn select(&self, input: &EngineValue) -> Result<Option<EngineValue>, TaskOutcome> {
        let (root, path) = match self.path.strip_prefix("$$") {
            Some(rest) => (self.context.as_ref(), format!("${rest}")),
            None => (Some(input), self.path.clone()),
        };
        let Some(root) = root else { return Ok(None) };
        let selected = expressway_engine::jsonpath::JsonPath::parse(&path).ok().and_then(|p| p.select(root).ok());
        match selected {
            Some(items) if items.is_array() => Ok(Some(items)),
            _ => Err(TaskOutcome::Failed {
                error: "States.Runtime".into(),
                cause: Some(format!("Reference path \"{path}\" must point to array.")),
            }),
        }
    }
}

impl Effects for Mock {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        if let Some(items) = &self.items {
            match items.select(&call.input) {
                Ok(selected) => *items.selected.lock().unwrap_or_else(|e| e.into_inner()) = selected,
                Err(refused) => return refused,
            }
        }
        self.outcome.clone()
    }
}

/// Whether `failures` of a mocked Map's `items` iterations pass the
/// state's literal `ToleratedFailureCount` or `ToleratedFailurePercentage`.
/// A Map without either is not failed by them (recorded on AWS: two failures
/// of three, no threshold, succeeded).
fn exceeds_tolerance(state: &Map<String, Value>, failures: u64, items: usize) -> bool {
    let count = state.get("ToleratedFailureCount").and_then(Value::as_u64);
    let percentage = state.get("ToleratedFailurePercentage").and_then(Value::as_f64);
    count.is_some_and(|most| failures > most)
        || percentage.is_some_and(|most| items > 0 && failures as f64 * 100.0 / items as f64 > most)
}

/// AWS's checks of the `context` a TestState request gives (its messages,
/// recorded on AWS): the context object's own fields only, each of its type,
/// and `Task` only for a state that waits for a task token or a job.
fn check_context(context: &Value, state: &Map<String, Value>) -> Result<(), ApiError> {
    #[derive(PartialEq)]
    enum Kind {
        Text,
        Count,
        Any,
    }
    use Kind::{Any, Count, Text};
    let refuse = |why: &str| {
        Err(ApiError::new(ErrorKind::ValidationException, format!("Invalid Context object provided: {why}")))
    };
    let Some(fields) = context.as_object() else { return refuse("the context must be a JSON object") };
    let resource = state.get("Resource").and_then(Value::as_str).unwrap_or("");
    let waits = state.get("Type").and_then(Value::as_str) == Some("Task")
        && (resource.ends_with(".sync") || resource.contains(".sync:") || resource.ends_with(".waitForTaskToken"));
    for (name, members) in fields {
        let allowed: &[(&str, Kind)] = match name.as_str() {
            "Execution" => &[
                ("Id", Text),
                ("Input", Any),
                ("Name", Text),
                ("RoleArn", Text),
                ("StartTime", Text),
                ("RedriveCount", Count),
                ("RedriveTime", Text),
            ],
            "State" => &[("EnteredTime", Text), ("Name", Text), ("RetryCount", Count)],
            "StateMachine" => &[("Id", Text), ("Name", Text)],
            "Task" if waits => &[("Token", Text)],
            "Task" => {
                return refuse(
                    "Context object contains 'Task' when state is not a Task state with a '.sync' or \
                     '.waitForTaskToken' service integration pattern",
                );
            }
            "Map" => return refuse("'Map' field is not supported when mocking a Context object"),
            other => return refuse(&format!("Field '{other}' is not allowed")),
        };
        let Some(members) = members.as_object() else { return refuse(&format!("{name} must be an object")) };
        for (member, value) in members {
            match allowed.iter().find(|(n, _)| n == member).map(|(_, kind)| kind) {
                None => return refuse(&format!("Field '{member}' is not allowed")),
                Some(Text) if !value.is_string() => return refuse(&format!("{name}.{member} must be a string")),
                Some(Count) if !value.is_u64() => return refuse(&format!("{name}.{member} must be an integer")),
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// The request's `mock` (AWS's MockInput): a `result` or an `errorOutput`
/// with its `error`, within AWS's lengths (in characters).
fn mock_of(v: &Value) -> Result<TaskOutcome, ApiError> {
    let within = |field: &str, text: &str, max: usize| match text.chars().count() > max {
        true => Err(ApiError::too_long(field, max)),
        false => Ok(()),
    };
    if v.get("result").is_some() && v.get("errorOutput").is_some() {
        return Err(ApiError::new(ErrorKind::ValidationException, "mock takes a result or an errorOutput, not both"));
    }
    if let Some(e) = v.get("errorOutput") {
        let error =
            e.get("error").and_then(Value::as_str).ok_or_else(|| ApiError::missing("mock.errorOutput.error"))?;
        within("mock.errorOutput.error", error, 256)?;
        let cause = e.get("cause").and_then(Value::as_str);
        within("mock.errorOutput.cause", cause.unwrap_or(""), 32_768)?;
        return Ok(TaskOutcome::Failed { error: error.to_string(), cause: cause.map(str::to_string) });
    }
    if let Some(result) = v.get("result").and_then(Value::as_str) {
        within("mock.result", result, 262_144)?;
        let value = expressway_engine::value::from_str(result).map_err(|e| {
            ApiError::new(ErrorKind::ValidationException, format!("mock.result is not valid JSON: {e}"))
        })?;
        return Ok(TaskOutcome::Succeeded(value));
    }
    Err(ApiError::new(ErrorKind::ValidationException, "mock needs result or errorOutput"))
}

pub async fn test_state(api: &Arc<Api>, f: Fields<'_>) -> Reply {
    let definition = f.str("definition")?;
    let mut state: Map<String, Value> = match serde_json::from_str(definition) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(ApiError::new(
                ErrorKind::InvalidDefinition,
                "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The state definition must be a JSON object at /'",
            ));
        }
    };
    // With `stateName`, the definition is a whole state machine and the
    // state of that name is the one tested, in the machine's query language.
    if let (Some(wanted), Some(Value::Object(states))) = (f.opt_str("stateName")?, state.get("States")) {
        let Some(Value::Object(one)) = states.get(wanted) else {
            return Err(ApiError::new(
                ErrorKind::InvalidDefinition,
                format!("Invalid State Machine Definition: 'The state machine has no state named '{wanted}''"),
            ));
        };
        let mut one = one.clone();
        if let Some(language) = state.get("QueryLanguage").filter(|_| !one.contains_key("QueryLanguage")) {
            one.insert("QueryLanguage".into(), language.clone());
        }
        state = one;
    }
    let retries = match f.get("stateConfiguration").and_then(|c| c.get("retrierRetryCount")) {
        None | Some(Value::Null) => 0,
        Some(n) => n.as_u64().ok_or_else(|| {
            ApiError::validation(
                "stateConfiguration.retrierRetryCount",
                &n.to_string(),
                "Member must have value greater than or equal to 0",
            )
        })?,
    };
    let iteration_failures = match f.get("stateConfiguration").and_then(|c| c.get("mapIterationFailureCount")) {
        None | Some(Value::Null) => None,
        Some(n) => Some(n.as_u64().ok_or_else(|| {
            ApiError::validation(
                "stateConfiguration.mapIterationFailureCount",
                &n.to_string(),
                "Member must have value greater than or equal to 0",
            )
        })?),
    };
    let variables = json_member(&f, "variables")?;
    if variables.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(ApiError::new(ErrorKind::ValidationException, "variables must be a JSON object"));
    }
    let context = json_member(&f, "context")?;
    if let Some(context) = &context {
        check_context(context, &state)?;
    }
    let level = f.opt_str("inspectionLevel")?.unwrap_or("INFO");
    if !matches!(level, "INFO" | "DEBUG" | "TRACE") {
        return Err(ApiError::validation(
            "inspectionLevel",
            &format!("'{level}'"),
            "Member must satisfy enum value set: [INFO, DEBUG, TRACE]",
        ));
    }
    let mut taken = Vec::new();
    nested_names(&Value::Object(state.clone()), &mut taken);
    let name = match f.opt_str("stateName")? {
        Some(name) => name.to_string(),
        // AWS's name for a state tested on its own (recorded: `$$.State.Name`).
        None => free_name("StateName", &taken),
    };
    taken.push(name.clone());
    let input_text = f.opt_str("input")?.unwrap_or("{}").to_string();
    let input = expressway_runtime::input::parse(input_text.as_bytes(), 256 * 1024).map_err(|r| {
        ApiError::new(ErrorKind::InvalidExecutionInput, format!("Invalid State Machine Execution Input: '{}'", r.cause))
    })?;
    let shown_input = Value::from(&input);
    let mut mock = f.get("mock").map(mock_of).transpose()?;
    let kind = state.get("Type").and_then(Value::as_str).unwrap_or("");
    if mock.is_some() && !matches!(kind, "Task" | "Map" | "Parallel") {
        return Err(ApiError::new(
            ErrorKind::ValidationException,
            format!("State type '{kind}' is not supported when a mock is specified"),
        ));
    }
    let whole = matches!(kind, "Map" | "Parallel") && mock.is_some();
    if whole && matches!(&mock, Some(TaskOutcome::Succeeded(v)) if v.as_array().is_none()) {
        return Err(ApiError::new(ErrorKind::ValidationException, "Mocked result must be an array"));
    }
    if kind == "Map"
        && let (Some(failures), Some(TaskOutcome::Succeeded(items))) = (iteration_failures, &mock)
        && exceeds_tolerance(&state, failures, items.as_array().map_or(0, Vec::len))
    {
        mock = Some(TaskOutcome::Failed {
            error: "States.ExceedToleratedFailureThreshold".into(),
            cause: Some("The specified tolerated failure threshold was exceeded".into()),
        });
    }
    let run_as = if whole { mocked_whole(&state) } else { state.clone() };
    let (tested, exits) = isolate(&run_as, &taken);
    // The state is checked as written, its Retry too, though it runs without it.
    if let Some(retry) = run_as.get("Retry") {
        let mut checked = tested.clone();
        checked.insert("Retry".into(), retry.clone());
        compile(&machine_of(&name, checked, &exits).to_string(), false)?;
    }
    let machine = machine_of(&name, tested, &exits);
    let program = Arc::new(compile(&machine.to_string(), false)?);
    // AWS runs the state as an Express execution of a machine of its own
    // (recorded: `…:express:<machine>:<execution>`, no RedriveCount).
    let (region, account) = (&api.partition.region, &api.partition.account);
    let execution_name = api.uuid();
    let info = Arc::new(ExecutionInfo {
        execution_id: format!("arn:aws:states:{region}:{account}:express:TestState:{execution_name}"),
        execution_name,
        state_machine_id: format!("arn:aws:states:{region}:{account}:stateMachine:TestState").into(),
        state_machine_name: "TestState".into(),
        role_arn: f.opt_str("roleArn")?.unwrap_or("").into(),
        start_time_ms: wall_ms(),
        express: true,
    });
    let stages = Arc::new(Stages::of(&program, &name, &exits));
    let opts = RunOptions {
        variables: variables.as_ref().map(expressway_engine::value::Value::from),
        context: context.as_ref().map(expressway_engine::value::Value::from),
        observer: Some(Observer(stages.clone())),
        ..RunOptions::for_workflow(WorkflowType::Standard)
    };
    let after_items = Arc::new(Mutex::new(None));
    let jsonata = state.get("QueryLanguage").and_then(Value::as_str) == Some("JSONata");
    let items = (kind == "Map" && whole && !jsonata).then(|| ItemsPath {
        path: state.get("ItemsPath").and_then(Value::as_str).unwrap_or("$").to_string(),
        context: context.as_ref().map(EngineValue::from),
        selected: after_items.clone(),
    });
    let result: ExecutionResult = match mock {
        Some(outcome) => {
            let mut mock = Mock { outcome, items };
            let work = move || expressway_engine::execute(&program, info, input, &mut mock, &opts);
            api.off_the_free_thread(true, work).await?
        }
        None if program.tasks.is_empty() => {
            let work = move || expressway_engine::execute(&program, info, input, &mut Offline, &opts);
            api.off_the_free_thread(true, work).await?
        }
        None => {
            let tasks = api.tasks().map_err(|e| ApiError::new(ErrorKind::ValidationException, e))?;
            api.blocking(move || {
                // AWS: "The TestState API can run for up to five minutes".
                let mut blocking = Blocking::new(tasks.as_ref(), Some(TEST_STATE_LIMIT));
                expressway_engine::execute(&program, info, input, &mut blocking, &opts)
            })
            .await?
        }
    };
    let mut out = Map::new();
    let seen = stages.take();
    let raised = seen.iter().find(|(s, _)| *s == Stage::Raised).map(|(_, v)| v.clone());
    let error_of = |field: &str| raised.as_ref().and_then(|r| r.get(field)).cloned();
    let deciding = error_of("Error")
        .and_then(|e| e.as_str().map(str::to_string))
        .and_then(|e| deciding_retrier(&state, &e, retries));
    let exit = stages.exit();
    let mut error_details = None;
    // Whether the tested state ran to its end (not failed, caught or retried).
    let mut left = false;
    match (&deciding, result.status) {
        (Some((index, retrier, true)), _) => {
            out.insert("status".into(), json!("RETRIABLE"));
            out.extend(error_of("Error").map(|e| ("error".to_string(), e)));
            out.extend(error_of("Cause").map(|c| ("cause".to_string(), c)));
            let backoff = backoff_seconds(retrier, retries);
            error_details = Some(json!({"retryBackoffIntervalSeconds": backoff, "retryIndex": index}));
        }
        (_, expressway_engine::Status::Succeeded) => {
            let output = result.output.map(|v| Value::from(&v)).unwrap_or(Value::Null);
            out.insert("output".into(), json!(output.to_string()));
            match exit {
                Some(Exit { target, catcher: Some(i) }) => {
                    out.insert("status".into(), json!("CAUGHT_ERROR"));
                    out.insert("nextState".into(), json!(target));
                    out.extend(error_of("Error").map(|e| ("error".to_string(), e)));
                    out.extend(error_of("Cause").map(|c| ("cause".to_string(), c)));
                    error_details = Some(json!({"catchIndex": i}));
                }
                Some(Exit { target, catcher: None }) => {
                    left = true;
                    out.insert("status".into(), json!("SUCCEEDED"));
                    out.insert("nextState".into(), json!(target));
                }
                None => {
                    left = true;
                    out.insert("status".into(), json!("SUCCEEDED"));
                }
            }
        }
        _ => {
            let error = result.error.clone().unwrap_or_else(|| "States.Timeout".into());
            if let Some((index, _, false)) = deciding {
                error_details = Some(json!({"retryIndex": index}));
            }
            out.insert("status".into(), json!("FAILED"));
            out.insert("error".into(), json!(error));
            if let Some(c) = result.cause {
                out.insert("cause".into(), json!(c));
            }
        }
    }
    if level != "INFO" {
        let after_items = after_items.lock().unwrap_or_else(|e| e.into_inner()).take().map(|v| Value::from(&v));
        let mut data = inspection(&state, &shown_input, &seen, variables.as_ref(), left, after_items);
        if let Some(details) = error_details {
            data.insert("errorDetails".into(), details);
        }
        out.insert("inspectionData".into(), Value::Object(data));
    }
    Ok(Value::Object(out))
}

/// A request member holding JSON text (`variables`, `context`): parsed, and
/// bounded as an input is.
fn json_member(f: &Fields<'_>, name: &str) -> Result<Option<Value>, ApiError> {
    let Some(text) = f.opt_str_max(name, 256 * 1024)? else { return Ok(None) };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ApiError::new(ErrorKind::ValidationException, format!("{name} is not valid JSON: {e}")))
}

/// What the run of the tested state showed: the values it held after each
/// step of its data flow, and the stub it went to.
struct Stages {
    state: Option<StateId>,
    /// The stubs' states, and where each stands for.
    exits: Vec<(StateId, Exit)>,
    seen: Mutex<Vec<(Stage, EngineValue)>>,
    exit: Mutex<Option<Exit>>,
}

impl Stages {
    fn of(program: &expressway_engine::Program, name: &str, exits: &[(String, Exit)]) -> Stages {
        let id = |name: &str| program.states.iter().position(|s| &*s.name == name).map(|i| i as StateId);
        Stages {
            state: id(name),
            exits: exits.iter().filter_map(|(stub, exit)| Some((id(stub)?, exit.clone()))).collect(),
            seen: Mutex::new(Vec::new()),
            exit: Mutex::new(None),
        }
    }

    fn take(&self) -> Vec<(Stage, Value)> {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()));
        seen.into_iter().map(|(stage, v)| (stage, Value::from(&v))).collect()
    }

    fn exit(&self) -> Option<Exit> {
        self.exit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl StateObserver for Stages {
    fn observe(&self, _: StateId, _: StateEvent) {}

    fn transition(&self, from: StateId, _: StateEvent, to: StateId) {
        if Some(from) == self.state
            && let Some((_, exit)) = self.exits.iter().find(|(id, _)| *id == to)
        {
            *self.exit.lock().unwrap_or_else(|p| p.into_inner()) = Some(exit.clone());
        }
    }

    fn wants_stages(&self) -> bool {
        true
    }

    fn stage(&self, state: StateId, stage: Stage, value: &EngineValue) {
        if Some(state) == self.state {
            self.seen.lock().unwrap_or_else(|p| p.into_inner()).push((stage, value.clone()));
        }
    }
}

/// TestState's `inspectionData` for `state` (as written), from the values it
/// held after each step, as AWS reports them (recorded on AWS; LocalStack's
/// parity snapshots): each member is JSON text. A JSONPath state shows its
/// data flow — a Pass with a `Result` from its result on, a Choice, Wait,
/// Succeed or Fail only its input after `InputPath` — and a JSONata state its
/// input, a task's evaluated `Arguments` and result, and the variables given.
fn inspection(
    state: &Map<String, Value>,
    input: &Value,
    seen: &[(Stage, Value)],
    vars: Option<&Value>,
    left: bool,
    after_items: Option<Value>,
) -> Map<String, Value> {
    let at = |stage: Stage| seen.iter().find(|(s, _)| *s == stage).map(|(_, v)| v.clone());
    // A step left at its default (`$`) is no instruction: the state holds
    // what the step before it made, once the state went that far.
    let after_result_path = |selected: &Value| match at(Stage::AfterResultPath) {
        Some(v) => Some(v),
        None if left && !state.contains_key("ResultPath") => Some(selected.clone()),
        None => None,
    };
    let kind = state.get("Type").and_then(Value::as_str).unwrap_or("");
    let jsonata = state.get("QueryLanguage").and_then(Value::as_str) == Some("JSONata");
    let mut data: Vec<(&str, Value)> = vec![("input", input.clone())];
    if jsonata {
        if kind == "Task" {
            data.extend(at(Stage::AfterParameters).map(|v| ("afterArguments", v)));
            data.extend(at(Stage::Result).map(|v| ("result", v)));
        }
    } else if kind == "Pass" && state.contains_key("Result") {
        if let Some(result) = at(Stage::Result) {
            data.push(("result", result.clone()));
            data.extend(after_result_path(&result).map(|v| ("afterResultPath", v)));
            data.push(("afterResultSelector", result));
        }
    } else {
        // A step the state has but did not reach failed: nothing after it.
        let after_input = match at(Stage::AfterInputPath) {
            Some(v) => Some(v),
            None if state.contains_key("InputPath") => None,
            None => Some(input.clone()),
        };
        if let Some(after_input) = after_input {
            data.push(("afterInputPath", after_input.clone()));
            data.extend(after_items.clone().map(|v| ("afterItemsPath", v)));
            if matches!(kind, "Map" | "Parallel") {
                // Their results are not shown, what became of them is.
                let selected = at(Stage::AfterResultSelector).or_else(|| at(Stage::Result));
                if let Some(selected) = selected {
                    data.extend(after_result_path(&selected).map(|v| ("afterResultPath", v)));
                    data.push(("afterResultSelector", selected));
                }
            }
            if matches!(kind, "Pass" | "Task") {
                let after_parameters = match at(Stage::AfterParameters) {
                    Some(v) => Some(v),
                    None if state.contains_key("Parameters") => None,
                    None => Some(after_input),
                };
                if let Some(after_parameters) = after_parameters {
                    let passed = kind == "Pass" && left;
                    let result = if kind == "Task" { at(Stage::Result) } else { None };
                    if kind == "Task" || passed {
                        data.push(("afterParameters", after_parameters.clone()));
                    }
                    if let Some(result) = &result {
                        data.push(("result", result.clone()));
                    }
                    let selected = match at(Stage::AfterResultSelector) {
                        Some(v) => Some(v),
                        None if state.contains_key("ResultSelector") => None,
                        None if passed => Some(after_parameters),
                        None => result,
                    };
                    if let Some(selected) = selected {
                        data.extend(after_result_path(&selected).map(|v| ("afterResultPath", v)));
                        data.push(("afterResultSelector", selected));
                    }
                }
            }
        }
    }
    let mut out: Map<String, Value> = data.into_iter().map(|(k, v)| (k.to_string(), json!(v.to_string()))).collect();
    // A JSONPath Map whose ItemsPath selected no array stopped before them.
    let items_refused = kind == "Map" && !jsonata && after_items.is_none() && at(Stage::Raised).is_some();
    if kind == "Map" && !items_refused {
        let most = state.get("MaxConcurrency").and_then(Value::as_u64).unwrap_or(0);
        out.insert("maxConcurrency".into(), json!(most));
        if let Some(count) = state.get("ToleratedFailureCount").and_then(Value::as_u64) {
            out.insert("toleratedFailureCount".into(), json!(count));
        }
        if let Some(percentage) = state.get("ToleratedFailurePercentage").filter(|p| p.is_number()) {
            out.insert("toleratedFailurePercentage".into(), percentage.clone());
        }
    }
    if let Some(vars) = vars.filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
        out.insert("variables".into(), json!(vars.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_first_retrier_naming_an_error_decides_even_when_spent() {
        let s = state(json!({"Retry": [
            {"ErrorEquals": ["Busy"], "MaxAttempts": 2},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]}));
        let index = |error, retries| deciding_retrier(&s, error, retries).map(|(i, _, live)| (i, live));
        assert_eq!(index("Busy", 1), Some((0, true)));
        // Spent, Busy goes to the catchers: the later States.ALL does not take it.
        assert_eq!(index("Busy", 2), Some((0, false)));
        assert_eq!(index("Other", 4), Some((1, true)));
        assert_eq!(index("States.Runtime", 0), None, "never retried");
    }

    #[test]
    fn the_back_off_is_whole_seconds_and_saturates() {
        let r = json!({"IntervalSeconds": 1, "BackoffRate": 2});
        assert_eq!(backoff_seconds(&r, 4), 16, "recorded on AWS");
        assert_eq!(backoff_seconds(&json!({"BackoffRate": 1.5}), 1), 1);
        assert_eq!(backoff_seconds(&json!({"IntervalSeconds": 99999999, "BackoffRate": 2}), 40), u64::MAX);
        assert_eq!(backoff_seconds(&json!({"BackoffRate": 2, "MaxDelaySeconds": 10}), 40), 10);
        assert_eq!(backoff_seconds(&json!({"BackoffRate": 1.01}), 2000), 439_286_205);
    }

    #[test]
    fn stub_names_never_take_a_name_the_state_uses() {
        let inner = json!({"Type": "Map", "ItemProcessor": {"StartAt": "TestState", "States": {
            "TestState": {"Type": "Pass", "End": true}, "Exit0": {"Type": "Pass", "End": true}}}, "Next": "N"});
        let mut taken = Vec::new();
        nested_names(&inner, &mut taken);
        assert_eq!(free_name("TestState", &taken), "TestState1");
        let (tested, exits) = isolate(&state(inner), &taken);
        assert_eq!(exits, [("Exit".to_string(), Exit { target: "N".into(), catcher: None })]);
        assert_eq!(tested["Next"], "Exit");
        let both = json!({"Type": "Task", "Resource": "r", "Next": "N", "Catch": [
            {"ErrorEquals": ["A"], "Next": "N"}, {"ErrorEquals": ["B"], "Next": "N"}]});
        let (_, exits) = isolate(&state(both), &["Exit".to_string()]);
        let names: Vec<&str> = exits.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Exit1", "Exit2", "Exit3"], "one stub per way out, none named as a state");
    }
}
