//! TestState: one state run on its own with a given input, as the console's
//! "Test state" does. The state becomes a machine of its own: its
//! transitions lead to stub states that record which state would come next
//! (and whether a Catch led there); its Retry becomes a first catcher leading
//! to a stub of its own (AWS does not retry in TestState: it reports such an
//! error as `RETRIABLE`, until `stateConfiguration.retrierRetryCount` says
//! the retrier's attempts are spent), and a `mock`
//! answers its task. Without a mock a task calls the configured services.

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

/// The field a stub's output is marked with.
const MARK: &str = "__expressway_test_state";

/// A stub standing for the state `target` the tested state moves to (by
/// its catcher `catcher`, if one led there): its output is the tested
/// state's output, marked with where it went.
fn stub(target: &str, catcher: Option<usize>) -> Value {
    json!({
        "Type": "Pass",
        "Parameters": {MARK: {"next": target, "caught": catcher.is_some(), "catchIndex": catcher}, "output.$": "$"},
        "End": true,
    })
}

fn stub_name(target: &str, catcher: Option<usize>) -> String {
    match catcher {
        Some(i) => format!("{MARK}:caught:{i}:{target}"),
        None => format!("{MARK}:next:{target}"),
    }
}

/// The retriers of `retry` that would still retry after `retries` attempts
/// (`stateConfiguration.retrierRetryCount`, 0 by default): one whose
/// `MaxAttempts` (3 by default) is spent retries no more, and the errors it
/// names reach the catchers, not a later retrier — the first retrier an
/// error matches is the one that decides.
fn live_retriers(retry: &[Value], retries: u64) -> Vec<Value> {
    let mut spent: Vec<Value> = Vec::new();
    let mut live = Vec::new();
    for retrier in retry {
        let names = retrier.get("ErrorEquals").and_then(Value::as_array).cloned().unwrap_or_default();
        if spent.iter().any(|e| e == "States.ALL") {
            break;
        }
        if retrier.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3) <= retries {
            spent.extend(names);
            continue;
        }
        let names: Vec<Value> = names.into_iter().filter(|e| !spent.contains(e)).collect();
        if !names.is_empty() {
            live.extend(names);
        }
    }
    live
}

/// The tested state with its transitions pointed at stubs, and the stubs;
/// `retries` attempts of its Retry are taken as made.
fn isolate(state: &Map<String, Value>, retries: u64) -> (Map<String, Value>, Map<String, Value>) {
    let mut state = state.clone();
    let mut stubs = Map::new();
    let mut redirect = |target: &Value, catcher: Option<usize>| -> Value {
        let Some(t) = target.as_str() else { return target.clone() };
        let name = stub_name(t, catcher);
        stubs.insert(name.clone(), stub(t, catcher));
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
    // An error a retrier would retry is RETRIABLE, whatever a catcher says:
    // a catcher placed first sends it to a stub of its own.
    let retried =
        live_retriers(&state.remove("Retry").and_then(|r| r.as_array().cloned()).unwrap_or_default(), retries);
    if !retried.is_empty() {
        let retriable = format!("{MARK}:retriable");
        stubs.insert(
            retriable.clone(),
            json!({"Type": "Pass", "Parameters": {MARK: {"retriable": true}, "output.$": "$"}, "End": true}),
        );
        let first = json!({"ErrorEquals": retried, "Next": retriable});
        let all = retried.iter().any(|e| e == "States.ALL");
        let mut catchers = vec![first];
        if !all {
            catchers.extend(state.get("Catch").and_then(Value::as_array).cloned().unwrap_or_default());
        }
        state.insert("Catch".into(), Value::Array(catchers));
    }
    (state, stubs)
}

/// Answers every task with the request's `mock`.
struct Mock(TaskOutcome);

impl Effects for Mock {
    fn invoke(&mut self, _: &TaskCall) -> TaskOutcome {
        self.0.clone()
    }
}

fn mock_of(v: &Value) -> Result<TaskOutcome, ApiError> {
    if let Some(result) = v.get("result").and_then(Value::as_str) {
        let value = expressway_engine::value::from_str(result).map_err(|e| {
            ApiError::new(ErrorKind::ValidationException, format!("mock.result is not valid JSON: {e}"))
        })?;
        return Ok(TaskOutcome::Succeeded(value));
    }
    if let Some(e) = v.get("errorOutput") {
        return Ok(TaskOutcome::Failed {
            error: e.get("error").and_then(Value::as_str).unwrap_or("States.TaskFailed").to_string(),
            cause: e.get("cause").and_then(Value::as_str).map(str::to_string),
        });
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
    let variables = json_member(&f, "variables")?;
    if variables.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(ApiError::new(ErrorKind::ValidationException, "variables must be a JSON object"));
    }
    let context = json_member(&f, "context")?;
    if context.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(ApiError::new(ErrorKind::ValidationException, "context must be a JSON object"));
    }
    let level = f.opt_str("inspectionLevel")?.unwrap_or("INFO");
    if !matches!(level, "INFO" | "DEBUG" | "TRACE") {
        return Err(ApiError::validation(
            "inspectionLevel",
            &format!("'{level}'"),
            "Member must satisfy enum value set: [INFO, DEBUG, TRACE]",
        ));
    }
    let name = f.opt_str("stateName")?.unwrap_or("TestState").to_string();
    let input_text = f.opt_str("input")?.unwrap_or("{}").to_string();
    let input = expressway_runtime::input::parse(input_text.as_bytes(), 256 * 1024).map_err(|r| {
        ApiError::new(ErrorKind::InvalidExecutionInput, format!("Invalid State Machine Execution Input: '{}'", r.cause))
    })?;
    let shown_input = Value::from(&input);
    let (tested, stubs) = isolate(&state, retries);
    let mut states = Map::new();
    states.insert(name.clone(), Value::Object(tested));
    states.extend(stubs);
    let machine = json!({"StartAt": name, "States": states});
    let program = Arc::new(compile(&machine.to_string(), false)?);
    let mock = f.get("mock").map(mock_of).transpose()?;
    let info = Arc::new(ExecutionInfo {
        execution_id: format!(
            "arn:aws:states:{}:{}:execution:TestState:test",
            api.partition.region, api.partition.account
        ),
        execution_name: "test".into(),
        state_machine_id: "TestState".into(),
        state_machine_name: "TestState".into(),
        role_arn: f.opt_str("roleArn")?.unwrap_or("").into(),
        start_time_ms: wall_ms(),
        express: false,
    });
    let stages = Arc::new(Stages::of(&program, &name));
    let opts = RunOptions {
        variables: variables.as_ref().map(expressway_engine::value::Value::from),
        context: context.as_ref().map(expressway_engine::value::Value::from),
        observer: Some(Observer(stages.clone())),
        ..RunOptions::for_workflow(WorkflowType::Standard)
    };
    let result: ExecutionResult = match mock {
        Some(outcome) => {
            let work = move || expressway_engine::execute(&program, info, input, &mut Mock(outcome), &opts);
            api.off_the_free_thread(true, work).await?
        }
        None if program.tasks.is_empty() => {
            let work = move || expressway_engine::execute(&program, info, input, &mut Offline, &opts);
            api.off_the_free_thread(true, work).await?
        }
        None => {
            let tasks = api.tasks().map_err(|e| ApiError::new(ErrorKind::ValidationException, e))?;
            tokio::task::spawn_blocking(move || {
                // AWS: "The TestState API can run for up to five minutes".
                let mut blocking = Blocking::new(tasks.as_ref(), Some(TEST_STATE_LIMIT));
                expressway_engine::execute(&program, info, input, &mut blocking, &opts)
            })
            .await
            .map_err(|e| ApiError::new(ErrorKind::InternalFailure, e.to_string()))?
        }
    };
    let mut out = Map::new();
    let mut error_details = None;
    // Whether the tested state ran to its end (not failed, caught or retried).
    let mut left = false;
    match result.status {
        expressway_engine::Status::Succeeded => {
            let output = result.output.map(|v| Value::from(&v)).unwrap_or(Value::Null);
            let marker = output.get(MARK);
            let moved = marker.and_then(|marker| {
                Some((marker.get("next")?.clone(), marker.get("caught")?.as_bool()?, output.get("output")?.clone()))
            });
            let retried = marker.is_some_and(|m| m.get("retriable").is_some());
            let error_output = output.get("output").cloned().unwrap_or(Value::Null);
            match moved {
                _ if retried => {
                    out.insert("status".into(), json!("RETRIABLE"));
                    for (from, to) in [("Error", "error"), ("Cause", "cause")] {
                        if let Some(v) = error_output.get(from) {
                            out.insert(to.into(), v.clone());
                        }
                    }
                    let error = error_output.get("Error").and_then(Value::as_str).unwrap_or("");
                    error_details = retry_details(&state, error, retries, true);
                }
                Some((next, caught, shown)) => {
                    left = !caught;
                    out.insert("status".into(), json!(if caught { "CAUGHT_ERROR" } else { "SUCCEEDED" }));
                    out.insert("nextState".into(), next);
                    out.insert("output".into(), json!(shown.to_string()));
                    if let Some(i) = marker.and_then(|m| m.get("catchIndex")).and_then(Value::as_u64) {
                        let error_output = caught_error(&state, i as usize, &shown);
                        for (from, to) in [("Error", "error"), ("Cause", "cause")] {
                            if let Some(v) = error_output.and_then(|e| e.get(from)) {
                                out.insert(to.into(), v.clone());
                            }
                        }
                        error_details = Some(json!({"catchIndex": i}));
                    }
                }
                None => {
                    left = true;
                    out.insert("status".into(), json!("SUCCEEDED"));
                    out.insert("output".into(), json!(output.to_string()));
                }
            }
        }
        _ => {
            let error = result.error.clone().unwrap_or_else(|| "States.Timeout".into());
            error_details = retry_details(&state, &error, retries, false);
            out.insert("status".into(), json!("FAILED"));
            out.insert("error".into(), json!(error));
            if let Some(c) = result.cause {
                out.insert("cause".into(), json!(c));
            }
        }
    }
    if level != "INFO" {
        let seen = stages.take();
        let mut data = inspection(&state, &shown_input, &seen, variables.as_ref(), left);
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

/// The values the tested state held after each step of its data flow.
struct Stages {
    state: Option<StateId>,
    seen: Mutex<Vec<(Stage, EngineValue)>>,
}

impl Stages {
    fn of(program: &expressway_engine::Program, name: &str) -> Stages {
        let state = program.states.iter().position(|s| &*s.name == name).map(|i| i as StateId);
        Stages { state, seen: Mutex::new(Vec::new()) }
    }

    fn take(&self) -> Vec<(Stage, Value)> {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()));
        seen.into_iter().map(|(stage, v)| (stage, Value::from(&v))).collect()
    }
}

impl StateObserver for Stages {
    fn observe(&self, _: StateId, _: StateEvent) {}

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
    if kind == "Map" {
        let most = state.get("MaxConcurrency").and_then(Value::as_u64).unwrap_or(0);
        out.insert("maxConcurrency".into(), json!(most));
    }
    if let Some(vars) = vars.filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
        out.insert("variables".into(), json!(vars.to_string()));
    }
    out
}

/// The error output (`Error`, `Cause`) within what catcher `index` of
/// `state` made of it: where its `ResultPath` of plain fields put it.
fn caught_error<'v>(state: &Map<String, Value>, index: usize, output: &'v Value) -> Option<&'v Value> {
    let catcher = state.get("Catch")?.as_array()?.get(index)?;
    let path = match catcher.get("ResultPath") {
        None => "$",
        Some(Value::String(p)) => p.as_str(),
        Some(_) => return None,
    };
    let fields = path.strip_prefix('$')?;
    fields.split('.').skip(1).try_fold(output, |v, field| v.get(field))
}

/// `errorDetails` of an error a retrier of `state` matched: its index, and
/// while it still retries (`retriable`) the back-off before the next attempt.
fn retry_details(state: &Map<String, Value>, error: &str, retries: u64, retriable: bool) -> Option<Value> {
    let retry = state.get("Retry")?.as_array()?;
    let matches = |names: &[Value]| {
        names
            .iter()
            .filter_map(Value::as_str)
            .any(|n| n == error || n == "States.ALL" || (n == "States.TaskFailed" && !error.starts_with("States.")))
    };
    let (index, retrier) = retry
        .iter()
        .enumerate()
        .find(|(_, r)| r.get("ErrorEquals").and_then(Value::as_array).is_some_and(|names| matches(names)))?;
    if !retriable {
        return Some(json!({"retryIndex": index}));
    }
    let interval = retrier.get("IntervalSeconds").and_then(Value::as_f64).unwrap_or(1.0);
    let rate = retrier.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0);
    let mut backoff = interval * rate.powf(retries.min(1_000) as f64);
    if let Some(max) = retrier.get("MaxDelaySeconds").and_then(Value::as_f64) {
        backoff = backoff.min(max);
    }
    let backoff = if backoff.fract() == 0.0 && backoff < 1e15 { json!(backoff as u64) } else { json!(backoff) };
    Some(json!({"retryBackoffIntervalSeconds": backoff, "retryIndex": index}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retriers(r: Value) -> Vec<Value> {
        r.as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn a_retrier_whose_attempts_are_spent_retries_no_more_and_shadows_later_ones() {
        let retry = retriers(json!([
            {"ErrorEquals": ["Busy"], "MaxAttempts": 2},
            {"ErrorEquals": ["Busy", "Slow"]},
            {"ErrorEquals": ["Never"], "MaxAttempts": 0}
        ]));
        assert_eq!(live_retriers(&retry, 0), [json!("Busy"), json!("Busy"), json!("Slow")]);
        // Busy's first retrier is spent: Busy is not retried by the second.
        assert_eq!(live_retriers(&retry, 2), [json!("Slow")]);
        assert!(live_retriers(&retry, 3).is_empty());
        let all = retriers(json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}, {"ErrorEquals": ["X"]}]));
        assert!(live_retriers(&all, 1).is_empty(), "a spent States.ALL retrier catches everything first");
    }
}
