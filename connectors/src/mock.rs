//! Recorded task answers, as the in-process driver's `Effects`. These are
//! test doubles by design: they replay what a
//! real service answered, so a machine can be run without AWS.

use expressway_engine::{Effects, TaskCall, TaskOutcome, Value};
use serde_json::Value as Json;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct MockError(pub String);

impl std::fmt::Display for MockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One recorded answer of a shared conformance case.
#[derive(Debug, Clone)]
struct Recorded {
    state: String,
    expects: Option<Value>,
    answer: Answer,
}

/// Replays a case's `mocks` list: answers a Task from the entries recorded
/// for its state, in order, preferring the entry whose recorded input equals
/// the task's effective input (stable across Map/Parallel iterations).
#[derive(Debug, Clone, Default)]
pub struct RecordedMocks {
    entries: Vec<Recorded>,
    used: Vec<bool>,
}

impl RecordedMocks {
    pub fn from_json(v: &Json) -> Result<RecordedMocks, MockError> {
        let list = v.as_array().ok_or_else(|| MockError("mocks must be a JSON array".into()))?;
        let mut entries = Vec::with_capacity(list.len());
        for (i, m) in list.iter().enumerate() {
            let state = m
                .get("state")
                .and_then(Json::as_str)
                .ok_or_else(|| MockError(format!("mocks[{i}]: missing 'state'")))?
                .to_string();
            let answer = match m.get("outcome").and_then(Json::as_str) {
                Some("succeeded") => Answer::Succeeded(m.get("output").map(Value::from).unwrap_or(Value::Null)),
                Some("failed") => Answer::Failed {
                    error: m.get("error").and_then(Json::as_str).unwrap_or("States.TaskFailed").to_string(),
                    cause: m.get("cause").cloned(),
                },
                Some("timed_out") => Answer::TimedOut,
                other => return Err(MockError(format!("mocks[{i}]: unknown outcome {other:?}"))),
            };
            let expects = m.get("parameters").or_else(|| m.get("input")).map(Value::from);
            entries.push(Recorded { state, expects, answer });
        }
        let used = vec![false; entries.len()];
        Ok(RecordedMocks { entries, used })
    }
}

/// A cause recorded as JSON is the service's error document. Through the
/// SDK integration (`arn:aws:states:::lambda:invoke`) Step Functions passes
/// it on as compact JSON; through a bare function ARN it passes the bytes the
/// function's runtime wrote, which for the recorded (Python) runtimes means
/// `", "` and `": "` separators.
fn render_cause(v: &Json, resource: &str) -> String {
    match v {
        Json::String(s) => s.clone(),
        other if is_function_arn(resource) => python_json(other),
        other => other.to_string(),
    }
}

fn is_function_arn(resource: &str) -> bool {
    resource.starts_with("arn:aws:lambda:") && resource.contains(":function:")
}

fn python_json(v: &Json) -> String {
    match v {
        Json::Object(o) => {
            let parts: Vec<String> =
                o.iter().map(|(k, x)| format!("{}: {}", Json::String(k.clone()), python_json(x))).collect();
            format!("{{{}}}", parts.join(", "))
        }
        Json::Array(a) => format!("[{}]", a.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A recorded outcome; failure causes are rendered when the resource is known.
#[derive(Debug, Clone)]
enum Answer {
    Succeeded(Value),
    Failed { error: String, cause: Option<Json> },
    TimedOut,
}

impl Answer {
    fn outcome(&self, resource: &str) -> TaskOutcome {
        match self {
            Answer::Succeeded(v) => TaskOutcome::Succeeded(v.clone()),
            Answer::Failed { error, cause } => {
                TaskOutcome::Failed { error: error.clone(), cause: cause.as_ref().map(|c| render_cause(c, resource)) }
            }
            Answer::TimedOut => TaskOutcome::TimedOut,
        }
    }
}

fn same_input(recorded: &Value, actual: &Value) -> bool {
    recorded == actual
        || recorded
            .as_str()
            .and_then(|s| expressway_engine::value::from_str(s).ok())
            .is_some_and(|parsed| &parsed == actual)
}

impl Effects for RecordedMocks {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        let candidates: Vec<usize> =
            (0..self.entries.len()).filter(|&i| !self.used[i] && self.entries[i].state == *call.state_name).collect();
        let pick = candidates
            .iter()
            .copied()
            .find(|&i| self.entries[i].expects.as_ref().is_some_and(|e| same_input(e, &call.input)))
            .or_else(|| candidates.first().copied());
        match pick {
            Some(i) => {
                self.used[i] = true;
                self.entries[i].answer.outcome(&call.resource)
            }
            None => TaskOutcome::Failed {
                error: "States.TaskFailed".into(),
                cause: Some(format!(
                    "no recorded mock answer left for state '{}' ({})",
                    call.state_name, call.resource
                )),
            },
        }
    }
}

/// AWS Step Functions Local's `MockConfigFile.json`, one test case of one
/// state machine: state name → numbered responses (`"0"`, `"1-2"`).
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    responses: HashMap<String, Vec<(u32, u32, TaskOutcome)>>,
    calls: HashMap<String, u32>,
}

impl MockConfig {
    pub fn from_json(v: &Json, state_machine: Option<&str>, test_case: &str) -> Result<MockConfig, MockError> {
        let machines = v
            .get("StateMachines")
            .and_then(Json::as_object)
            .ok_or_else(|| MockError("MockConfigFile: missing 'StateMachines'".into()))?;
        let machine = match state_machine {
            Some(name) => {
                machines.get(name).ok_or_else(|| MockError(format!("MockConfigFile: no state machine '{name}'")))?
            }
            None if machines.len() == 1 => {
                machines.values().next().ok_or_else(|| MockError("no state machine".into()))?
            }
            None => return Err(MockError("MockConfigFile names several state machines: pass --state-machine".into())),
        };
        let case = machine
            .get("TestCases")
            .and_then(|t| t.get(test_case))
            .and_then(Json::as_object)
            .ok_or_else(|| MockError(format!("MockConfigFile: no test case '{test_case}'")))?;
        let mocked = v.get("MockedResponses").and_then(Json::as_object);
        let mut responses = HashMap::new();
        for (state, response_name) in case {
            let name = response_name
                .as_str()
                .ok_or_else(|| MockError(format!("test case '{test_case}': '{state}' must name a response")))?;
            let resp = mocked
                .and_then(|m| m.get(name))
                .and_then(Json::as_object)
                .ok_or_else(|| MockError(format!("MockConfigFile: no mocked response '{name}'")))?;
            let mut table = Vec::new();
            for (range, answer) in resp {
                let (lo, hi) = match range.split_once('-') {
                    Some((a, b)) => (a.trim().parse(), b.trim().parse()),
                    None => (range.trim().parse(), range.trim().parse()),
                };
                let (Ok(lo), Ok(hi)) = (lo, hi) else {
                    return Err(MockError(format!("mocked response '{name}': bad invocation range '{range}'")));
                };
                let outcome = if let Some(r) = answer.get("Return") {
                    TaskOutcome::Succeeded(Value::from(r))
                } else if let Some(t) = answer.get("Throw") {
                    TaskOutcome::Failed {
                        error: t.get("Error").and_then(Json::as_str).unwrap_or("States.TaskFailed").to_string(),
                        cause: t.get("Cause").map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string())),
                    }
                } else {
                    return Err(MockError(format!("mocked response '{name}' {range}: needs 'Return' or 'Throw'")));
                };
                table.push((lo, hi, outcome));
            }
            responses.insert(state.clone(), table);
        }
        Ok(MockConfig { responses, calls: HashMap::new() })
    }
}

impl Effects for MockConfig {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        let n = self.calls.entry(call.state_name.to_string()).or_insert(0);
        let attempt = *n;
        *n += 1;
        let found = self
            .responses
            .get(&*call.state_name)
            .and_then(|t| t.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&attempt)).map(|(_, _, o)| o.clone()));
        found.unwrap_or_else(|| TaskOutcome::Failed {
            error: "States.TaskFailed".into(),
            cause: Some(format!(
                "the mock config has no response for state '{}' invocation {attempt}",
                call.state_name
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(state: &str, input: Json) -> TaskCall {
        TaskCall {
            state_name: state.into(),
            resource: "arn:aws:lambda:x".into(),
            input: Value::from(input),
            timeout_seconds: None,
            heartbeat_seconds: None,
        }
    }

    #[test]
    fn recorded_mocks_prefer_matching_input_then_order() {
        let mut m = RecordedMocks::from_json(&json!([
            {"state": "T", "outcome": "succeeded", "input": {"i": 1}, "output": "one"},
            {"state": "T", "outcome": "succeeded", "input": {"i": 2}, "output": "two"},
            {"state": "T", "outcome": "failed", "error": "E", "cause": {"a": [1, 2]}}
        ]))
        .unwrap();
        assert_eq!(m.invoke(&call("T", json!({"i": 2}))), TaskOutcome::Succeeded(json!("two").into()));
        assert_eq!(m.invoke(&call("T", json!({"i": 9}))), TaskOutcome::Succeeded(json!("one").into()));
        assert_eq!(
            m.invoke(&call("T", json!({}))),
            TaskOutcome::Failed { error: "E".into(), cause: Some("{\"a\":[1,2]}".into()) }
        );
        assert!(matches!(m.invoke(&call("T", json!({}))), TaskOutcome::Failed { .. }));
    }

    #[test]
    fn mock_config_answers_by_invocation_number() {
        let cfg = json!({
            "StateMachines": {"M": {"TestCases": {"Flaky": {"Call": "FailTwice"}}}},
            "MockedResponses": {"FailTwice": {
                "0-1": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "boom"}},
                "2": {"Return": {"ok": true}}
            }}
        });
        let mut m = MockConfig::from_json(&cfg, None, "Flaky").unwrap();
        for _ in 0..2 {
            assert!(
                matches!(m.invoke(&call("Call", json!({}))), TaskOutcome::Failed { ref error, .. } if error == "Lambda.ServiceException")
            );
        }
        assert_eq!(m.invoke(&call("Call", json!({}))), TaskOutcome::Succeeded(json!({"ok": true}).into()));
        assert!(MockConfig::from_json(&cfg, None, "Nope").is_err());
    }
}
