//! The validator and compiler on arbitrary definition text; a machine that
//! compiles is run on a fixed input with no task service and a transition
//! cap. Invariants: `compile_text` and `compile` on serde_json's reading
//! agree on validity; the run ends, with an output only when it succeeded.
#![no_main]

use expressway_engine::driver::{Offline, RunOptions, Status};
use expressway_engine::{ExecutionInfo, WorkflowType, compile, compile_text, execute};
use expressway_fuzz::{MAX_SOURCE_LEN, document};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_SOURCE_LEN {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(program) = compile_text(text, WorkflowType::Express) else { return };
    let value: serde_json::Value = serde_json::from_str(text).expect("compile_text accepted it, so it is JSON");
    assert!(compile(&value, WorkflowType::Express).is_ok(), "compile_text accepts what compile rejects");

    let info = Arc::new(ExecutionInfo {
        execution_id: "arn:aws:states:us-east-1:123456789012:express:fuzz:exec".into(),
        execution_name: "exec".into(),
        state_machine_id: "arn:aws:states:us-east-1:123456789012:stateMachine:fuzz".into(),
        state_machine_name: "fuzz".into(),
        role_arn: "arn:aws:iam::123456789012:role/fuzz".into(),
        start_time_ms: 1_700_000_000_000,
        express: true,
    });
    let opts = RunOptions { max_transitions: Some(1_000), ..RunOptions::for_workflow(WorkflowType::Express) };
    let result = execute(&program, info, document(), &mut Offline, &opts);
    match result.status {
        Status::Succeeded => assert!(result.output.is_some(), "a success has an output"),
        // A Fail state may leave Error out; a time-out always names States.Timeout.
        Status::Failed => assert!(result.output.is_none(), "a failure has no output"),
        Status::TimedOut => assert!(result.error.is_some(), "a time-out names its error"),
    }
});
