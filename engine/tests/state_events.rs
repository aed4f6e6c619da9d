//! Per-state events: what an observer is told and the path a result
//! carries (the web console's counts and failure paths).

mod support;
use expressway_engine::driver::RunOptions;
use expressway_engine::program::StateId;
use expressway_engine::vm::{Observer, StateEvent, StateObserver};
use expressway_engine::{Status, TaskCall, TaskOutcome, WorkflowType, compile};
use serde_json::json;
use std::sync::{Arc, Mutex};
use support::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<(StateId, StateEvent)>>);

impl StateObserver for Recorder {
    fn observe(&self, state: StateId, event: StateEvent) {
        self.0.lock().expect("not poisoned").push((state, event));
    }
}

fn names(program: &expressway_engine::Program, events: &[(StateId, StateEvent)]) -> Vec<String> {
    events.iter().map(|(s, e)| format!("{} {}", program.states[*s as usize].name, e.as_str())).collect()
}

#[test]
fn retries_catches_and_failures_are_reported_per_state_and_carried_as_the_path() {
    let def = json!({"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
                 "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Check"}], "Next": "Done"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.Error", "StringEquals": "Boom", "Next": "Broken"}],
                  "Default": "Done"},
        "Broken": {"Type": "Fail", "Error": "Broken"},
        "Done": {"Type": "Succeed"}}});
    let program = compile(&def, WorkflowType::Express).expect("valid");
    let recorder = Arc::new(Recorder::default());
    let opts = RunOptions { observer: Some(Observer(recorder.clone())), ..RunOptions::default() };
    let mut tasks =
        FnTasks { f: |_: &TaskCall| TaskOutcome::Failed { error: "Boom".into(), cause: None }, calls: vec![] };
    let r = expressway_engine::execute(&program, info(), expressway_engine::Value::from(json!({})), &mut tasks, &opts);
    assert_eq!(r.status, Status::Failed);
    let expected = [
        "Call entered",
        "Call retried",
        "Call caught",
        "Check entered",
        "Check succeeded",
        "Broken entered",
        "Broken failed",
    ];
    assert_eq!(names(&program, &r.path), expected);
    assert_eq!(names(&program, &recorder.0.lock().expect("not poisoned")), expected);
}

#[derive(Default)]
struct Transitions(Mutex<Vec<(StateId, StateEvent, StateId)>>);

impl StateObserver for Transitions {
    fn observe(&self, _: StateId, _: StateEvent) {}

    fn transition(&self, from: StateId, event: StateEvent, to: StateId) {
        self.0.lock().expect("not poisoned").push((from, event, to));
    }
}

#[test]
fn each_edge_taken_is_reported_with_its_kind() {
    let def = json!({"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Check"}], "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.Error", "IsPresent": true, "Next": "Log"}],
                  "Default": "Done"},
        "Log": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"}}});
    let program = compile(&def, WorkflowType::Express).expect("valid");
    let id = |name: &str| program.states.iter().position(|s| &*s.name == name).expect("state") as StateId;
    let run = |outcome: TaskOutcome| {
        let recorder = Arc::new(Transitions::default());
        let opts = RunOptions { observer: Some(Observer(recorder.clone())), ..RunOptions::default() };
        let mut tasks = FnTasks { f: move |_: &TaskCall| outcome.clone(), calls: vec![] };
        let r =
            expressway_engine::execute(&program, info(), expressway_engine::Value::from(json!({})), &mut tasks, &opts);
        assert_eq!(r.status, Status::Succeeded);
        recorder.0.lock().expect("not poisoned").clone()
    };
    let caught = run(TaskOutcome::Failed { error: "Boom".into(), cause: None });
    assert_eq!(
        caught,
        [
            (id("Call"), StateEvent::Caught, id("Check")),
            (id("Check"), StateEvent::Succeeded, id("Log")),
            (id("Log"), StateEvent::Succeeded, id("Done")),
        ]
    );
    let succeeded = run(TaskOutcome::Succeeded(json!({}).into()));
    assert_eq!(
        succeeded,
        [(id("Call"), StateEvent::Succeeded, id("Check")), (id("Check"), StateEvent::Succeeded, id("Done"))]
    );
}

#[test]
fn without_an_observer_nothing_is_recorded() {
    let def = single(json!({"Type": "Pass", "End": true}));
    let program = compile(&def, WorkflowType::Express).expect("valid");
    let r = expressway_engine::execute(
        &program,
        info(),
        expressway_engine::Value::from(json!({})),
        &mut expressway_engine::driver::Offline,
        &RunOptions::default(),
    );
    assert_eq!(r.status, Status::Succeeded);
    assert!(r.path.is_empty());
}

#[test]
fn map_iterations_report_their_states_and_the_path_stays_bounded() {
    let def = json!({"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "One", "States": {"One": {"Type": "Pass", "End": true}}}, "End": true}}});
    let program = compile(&def, WorkflowType::Express).expect("valid");
    let recorder = Arc::new(Recorder::default());
    let opts = RunOptions { observer: Some(Observer(recorder.clone())), ..RunOptions::default() };
    let items: Vec<u32> = (0..400).collect();
    let r = expressway_engine::execute(
        &program,
        info(),
        expressway_engine::Value::from(json!({"items": items})),
        &mut expressway_engine::driver::Offline,
        &opts,
    );
    assert_eq!(r.status, Status::Succeeded);
    let seen = recorder.0.lock().expect("not poisoned");
    let one = program.states.iter().position(|s| &*s.name == "One").expect("state One") as StateId;
    assert_eq!(seen.iter().filter(|e| **e == (one, StateEvent::Entered)).count(), 400);
    assert_eq!(seen.iter().filter(|e| **e == (one, StateEvent::Succeeded)).count(), 400);
    assert_eq!(r.path.len(), expressway_engine::vm::MAX_PATH);
}
