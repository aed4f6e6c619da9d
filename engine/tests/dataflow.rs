//! Input and output processing, from the AWS docs' examples
//! ("InputPath, Parameters and ResultSelector", "ResultPath", context object).

mod support;
use serde_json::json;
use support::*;

#[test]
fn input_path_parameters_result_path_output_path_in_order() {
    // The docs' "comment" example: InputPath narrows, Parameters reshapes,
    // the task result lands under ResultPath, OutputPath picks the result.
    let def = single(json!({
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "InputPath": "$.library",
        "Parameters": {"comment": "Selecting what I care about.", "MyDetails": {"size.$": "$.size", "exists.$": "$.exists"}},
        "ResultSelector": {"modifiedPayload.$": "$.Payload"},
        "ResultPath": "$.taskresult",
        "OutputPath": "$.taskresult",
        "End": true
    }));
    let mut inv = FnTasks {
        f: |c: &expressway_engine::TaskCall| {
            expressway_engine::TaskOutcome::Succeeded(json!({"Payload": c.input.clone(), "StatusCode": 200}).into())
        },
        calls: vec![],
    };
    let r = run_with(def, json!({"library": {"size": 3, "exists": true, "other": 1}}), &mut inv);
    let sent = json!({"comment": "Selecting what I care about.", "MyDetails": {"size": 3, "exists": true}});
    assert_eq!(serde_json::Value::from(&inv.calls[0].input), sent);
    assert_eq!(r.output, Some(json!({"modifiedPayload": sent})));
}

#[test]
fn result_path_null_keeps_input_and_nested_paths_create_objects() {
    let keep = single(json!({"Type": "Pass", "Result": 1, "ResultPath": null, "End": true}));
    assert_eq!(output(keep, json!({"a": 1})), json!({"a": 1}));
    let nested = single(json!({"Type": "Pass", "Result": "x", "ResultPath": "$.b.c", "End": true}));
    assert_eq!(output(nested, json!({"a": 1})), json!({"a": 1, "b": {"c": "x"}}));
}

#[test]
fn result_path_into_a_scalar_raises_result_path_match_failure() {
    let def = single(json!({"Type": "Pass", "Result": "x", "ResultPath": "$.a.b", "End": true}));
    let r = run(def, json!({"a": 5}));
    assert_eq!(r.error.as_deref(), Some("States.ResultPathMatchFailure"));
}

#[test]
fn null_input_and_output_paths_give_empty_objects() {
    let def = single(json!({"Type": "Pass", "InputPath": null, "End": true}));
    assert_eq!(output(def, json!({"a": 1})), json!({}));
    let def = single(json!({"Type": "Pass", "OutputPath": null, "End": true}));
    assert_eq!(output(def, json!({"a": 1})), json!({}));
}

#[test]
fn missing_path_fails_with_states_runtime_and_aws_cause() {
    let def = single(json!({"Type": "Pass", "Parameters": {"v.$": "$.nope"}, "End": true}));
    let r = run(def, json!({"a": 1}));
    assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        r.cause.as_deref(),
        Some(
            "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath '$.nope' specified for the field 'v.$' could not be found in the input '{\"a\":1}'"
        )
    );
}

#[test]
fn context_object_has_aws_shape() {
    let def =
        single(json!({"Type": "Pass", "Parameters": {"ctx.$": "$$", "name.$": "$$.Execution.Name"}, "End": true}));
    let out = output(def, json!({"k": 1}));
    assert_eq!(out["name"], json!("e1"));
    assert_eq!(out["ctx"]["Execution"]["Input"], json!({"k": 1}));
    assert_eq!(out["ctx"]["Execution"]["StartTime"], json!("2023-11-14T22:13:20.000Z"));
    assert_eq!(out["ctx"]["State"]["Name"], json!("S"));
    assert_eq!(out["ctx"]["StateMachine"]["Name"], json!("m"));
}

#[test]
fn intrinsics_in_parameters() {
    let def = single(json!({"Type": "Pass", "Parameters": {
        "greeting.$": "States.Format('Hello, {}!', $.name)",
        "parts.$": "States.StringSplit($.csv, ',')",
        "n.$": "States.ArrayLength(States.Array(1, 2, 3))"
    }, "End": true}));
    assert_eq!(
        output(def, json!({"name": "Ada", "csv": "a,b"})),
        json!({"greeting": "Hello, Ada!", "parts": ["a", "b"], "n": 3})
    );
}

#[test]
fn oversized_task_result_raises_data_limit_exceeded() {
    let def = single(json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}));
    let big = "x".repeat(300 * 1024);
    let mut inv = FnTasks {
        f: move |_: &expressway_engine::TaskCall| expressway_engine::TaskOutcome::Succeeded(json!(big.clone()).into()),
        calls: vec![],
    };
    let r = run_with(def, json!({}), &mut inv);
    assert_eq!(r.error.as_deref(), Some("States.DataLimitExceeded"));
}
