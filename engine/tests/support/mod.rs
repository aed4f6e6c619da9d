//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::{Effects, ExecutionInfo, Status, TaskCall, TaskOutcome, WorkflowType};
use serde_json::Value;
use std::sync::Arc;

pub const START_MS: i64 = 1_700_000_000_000;

pub fn info() -> Arc<ExecutionInfo> {
    Arc::new(ExecutionInfo {
        execution_id: "arn:aws:states:us-east-1:123456789012:express:m:e1".into(),
        execution_name: "e1".into(),
        state_machine_id: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
        state_machine_name: "m".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        start_time_ms: START_MS,
        express: true,
    })
}

/// Answers tasks from a closure; records every call.
pub struct FnTasks<F: FnMut(&TaskCall) -> TaskOutcome> {
    pub f: F,
    pub calls: Vec<TaskCall>,
}

impl<F: FnMut(&TaskCall) -> TaskOutcome> Effects for FnTasks<F> {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        self.calls.push(call.clone());
        (self.f)(call)
    }
}

/// An execution result with the output as `serde_json::Value`, for `json!` comparisons.
#[derive(Debug)]
pub struct Res {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub duration_ms: i64,
}

pub fn res(r: expressway_engine::ExecutionResult) -> Res {
    Res {
        status: r.status,
        output: r.output.map(Value::from),
        error: r.error,
        cause: r.cause,
        duration_ms: r.duration_ms,
    }
}

pub fn run(def: Value, input: Value) -> Res {
    run_with(def, input, &mut Offline)
}

pub fn run_with(def: Value, input: Value, effects: &mut dyn Effects) -> Res {
    let program = expressway_engine::compile(&def, WorkflowType::Express).unwrap_or_else(|d| panic!("invalid: {d:?}"));
    program.verify().expect("compiled program verifies");
    res(expressway_engine::execute(
        &program,
        info(),
        expressway_engine::Value::from(input),
        effects,
        &RunOptions::default(),
    ))
}

pub fn output(def: Value, input: Value) -> Value {
    let r = run(def, input);
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    r.output.unwrap_or(Value::Null)
}

/// Wrap one state as a whole machine.
pub fn single(state: Value) -> Value {
    serde_json::json!({"StartAt": "S", "States": {"S": state}})
}
