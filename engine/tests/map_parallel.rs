//! Map and Parallel states (AWS docs: "Map state", "Parallel state").

mod support;
use expressway_engine::{Status, TaskCall, TaskOutcome};
use serde_json::json;
use support::*;

#[test]
fn map_with_item_selector_and_context() {
    let def = single(json!({
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "ResultPath": "$.out", "End": true
    }));
    let out = output(def, json!({"items": ["a", "b"], "tag": "t"}));
    assert_eq!(out["out"], json!([{"i": 0, "v": "a", "tag": "t"}, {"i": 1, "v": "b", "tag": "t"}]));
}

#[test]
fn legacy_iterator_and_parameters_still_work() {
    let def = single(json!({
        "Type": "Map", "Parameters": {"v.$": "$$.Map.Item.Value"},
        "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true
    }));
    assert_eq!(output(def, json!([1, 2])), json!([{"v": 1}, {"v": 2}]));
}

#[test]
fn map_iteration_failure_fails_the_map_with_its_error() {
    let def = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemProcessor": {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}], "Default": "P"},
            "F": {"Type": "Fail", "Error": "Two", "Cause": "item two"},
            "P": {"Type": "Pass", "End": true}}},
        "Catch": [{"ErrorEquals": ["Two"], "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}}});
    assert_eq!(output(def, json!([1, 2, 3])), json!({"Error": "Two", "Cause": "item two"}));
}

#[test]
fn distributed_map_tolerates_failures_up_to_the_threshold() {
    let body = |pct: u32| {
        json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ToleratedFailurePercentage": pct,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}], "Default": "P"},
            "F": {"Type": "Fail", "Error": "Two"},
            "P": {"Type": "Pass", "End": true}}},
        "End": true}}})
    };
    let ok = run(body(50), json!([1, 2, 3]));
    assert_eq!(ok.status, Status::Succeeded);
    let failed = run(body(10), json!([1, 2, 3]));
    assert_eq!(failed.error.as_deref(), Some("States.ExceedToleratedFailureThreshold"));
}

#[test]
fn item_batcher_groups_items() {
    let def = single(json!({
        "Type": "Map",
        "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"job": "j"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "End": true
    }));
    assert_eq!(
        output(def, json!([1, 2, 3])),
        json!([{"BatchInput": {"job": "j"}, "Items": [1, 2]}, {"BatchInput": {"job": "j"}, "Items": [3]}])
    );
}

#[test]
fn map_over_a_non_array_is_a_runtime_error() {
    let def = single(
        json!({"Type": "Map", "ItemsPath": "$.x", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}),
    );
    assert_eq!(run(def, json!({"x": 1})).error.as_deref(), Some("States.Runtime"));
}

#[test]
fn parallel_runs_branches_in_order_and_retries_as_a_whole() {
    let def = single(json!({
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}}}
        ],
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}],
        "ResultSelector": {"both.$": "$"},
        "End": true
    }));
    let mut first = true;
    let mut inv = FnTasks {
        f: move |_: &TaskCall| {
            if std::mem::take(&mut first) {
                TaskOutcome::Failed { error: "Flaky".into(), cause: None }
            } else {
                TaskOutcome::Succeeded(json!("b").into())
            }
        },
        calls: vec![],
    };
    let r = run_with(def, json!({}), &mut inv);
    assert_eq!(r.output, Some(json!({"both": ["a", "b"]})));
    assert_eq!(inv.calls.len(), 2);
}

#[test]
fn maps_with_tasks_fork_to_the_driver_and_agree_with_inline_maps() {
    let with = |inner: serde_json::Value| {
        single(json!({"Type": "Map", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "I", "States": {"I": inner}}, "End": true}))
    };
    // A Task inside: iterations are forked out and answered by the test's effects.
    let mut inv = FnTasks { f: |c: &TaskCall| TaskOutcome::Succeeded(c.input.clone()), calls: vec![] };
    let forked = run_with(
        with(json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true})),
        json!([1, 2, 3]),
        &mut inv,
    );
    assert_eq!(inv.calls.len(), 3);
    // Only Pass inside: the VM runs the iterations itself.
    let inline = output(with(json!({"Type": "Pass", "End": true})), json!([1, 2, 3]));
    assert_eq!(forked.output, Some(inline.clone()));
    assert_eq!(inline, json!([{"v": 1}, {"v": 2}, {"v": 3}]));
}

#[test]
fn a_map_processor_with_a_cycle_is_not_run_inline_and_still_ends() {
    let def = single(json!({"Type": "Map", "ItemProcessor": {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "Done"}], "Default": "A"},
        "Done": {"Type": "Succeed"}}}, "End": true}));
    let program = expressway_engine::compile(&def, expressway_engine::WorkflowType::Express).unwrap();
    assert!(!program.machines[1].runs_inline);
    assert_eq!(output(def, json!([1, 1])), json!([1, 1]));
}

#[test]
fn only_the_execution_part_of_the_context_keeps_the_input() {
    // `$$.Map.Item…` needs no copy of the execution input; `$$.Execution.Input`
    // inside an iteration still reads the original input, not the state's.
    let compile = |def: serde_json::Value| {
        expressway_engine::compile(&def, expressway_engine::WorkflowType::Express).expect("compiles")
    };
    let map_item_only = single(json!({
        "Type": "Map", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true
    }));
    assert!(!compile(map_item_only).uses_context);
    let reads_input = single(json!({
        "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.items",
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "first.$": "$$.Execution.Input.items[0]"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true
    }));
    assert!(compile(reads_input.clone()).uses_context);
    assert_eq!(
        output(reads_input, json!({"items": [7, 8]})),
        json!({"items": [{"v": 7, "first": 7}, {"v": 8, "first": 7}]})
    );
}
