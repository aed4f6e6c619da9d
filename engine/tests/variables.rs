//! Workflow variables with JSONPath (AWS docs: "Passing data between states
//! with variables").

mod support;
use expressway_engine::{TaskCall, TaskOutcome};
use serde_json::json;
use support::*;

#[test]
fn assign_reads_the_result_and_takes_effect_from_the_next_state() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"answer": 42}, "Assign": {"theAnswer.$": "$.answer", "const": "c"},
              "ResultPath": "$.r", "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"a.$": "$theAnswer", "c.$": "$const", "sum.$": "States.MathAdd($theAnswer, 1)"}, "End": true}
    }});
    assert_eq!(output(def, json!({})), json!({"a": 42, "c": "c", "sum": 43}));
}

#[test]
fn a_state_does_not_see_its_own_assignments() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"x": 2, "seen.$": "$x"}, "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"x.$": "$x", "seen.$": "$seen"}, "End": true}
    }});
    assert_eq!(output(def, json!({})), json!({"x": 2, "seen": 1}));
}

#[test]
fn choice_assigns_from_the_matching_rule_or_the_state_on_default() {
    let def = |v: serde_json::Value| {
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice",
                  "Choices": [{"Variable": "$.n", "NumericEquals": 42, "Assign": {"status": "CORRECT"}, "Next": "F"}],
                  "Assign": {"status": "INCORRECT", "guess.$": "$.n"}, "Default": "F"},
            "F": {"Type": "Pass", "Parameters": {"status.$": "$status"}, "End": true}
        }, "Comment": v})
    };
    assert_eq!(output(def(json!(1)), json!({"n": 42})), json!({"status": "CORRECT"}));
    assert_eq!(output(def(json!(2)), json!({"n": 7})), json!({"status": "INCORRECT"}));
}

#[test]
fn map_iterations_read_outer_variables_and_keep_their_own() {
    let def = json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"bias": 10, "items": [1, 2]}, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$items",
              "ItemProcessor": {"StartAt": "I", "States": {
                  "I": {"Type": "Pass", "Assign": {"bias": 99}, "Parameters": {"v.$": "States.MathAdd($, $bias)"}, "End": true}}},
              "ResultPath": "$.out", "Next": "After"},
        "After": {"Type": "Pass", "Parameters": {"out.$": "$.out", "bias.$": "$bias"}, "End": true}
    }});
    assert_eq!(output(def, json!({})), json!({"out": [{"v": 11}, {"v": 12}], "bias": 10}));
}

#[test]
fn catch_assigns_from_the_error_output() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "Assign": {"never": true},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"err.$": "$.Error"}, "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "Parameters": {"err.$": "$err"}, "End": true}
    }});
    let mut inv =
        FnTasks { f: |_: &TaskCall| TaskOutcome::Failed { error: "Boom".into(), cause: None }, calls: vec![] };
    let r = run_with(def, json!({}), &mut inv);
    assert_eq!(r.output, Some(json!({"err": "Boom"})));
}

#[test]
fn an_unknown_variable_is_a_runtime_error_and_names_are_validated() {
    let def = single(json!({"Type": "Pass", "Parameters": {"x.$": "$nope"}, "End": true}));
    assert_eq!(run(def, json!({})).error.as_deref(), Some("States.Runtime"));
    let long = "v".repeat(81);
    for bad in ["states", "1x", "a-b", "·x", "a b", long.as_str()] {
        let def = single(json!({"Type": "Pass", "Assign": {bad: 1}, "End": true}));
        assert!(expressway_engine::compile(&def, expressway_engine::WorkflowType::Express).is_err(), "{bad}");
    }
    let def = single(json!({"Type": "Succeed", "Assign": {"x": 1}}));
    assert!(expressway_engine::compile(&def, expressway_engine::WorkflowType::Express).is_err());
}

/// Variable names are Unicode identifiers, as AWS documents them
/// ("Variable name syntax": UAX #31 ID_Start, then ID_Continue, at most 80
/// characters): set and read back with JSONPath and with JSONata.
#[test]
fn variable_names_are_unicode_identifiers() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"café": 1, "変数.$": "$.n", "_x": true}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"c.$": "$café", "v.$": "$変数", "u.$": "$_x"}, "Next": "C"},
        "C": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $merge([$states.input, {'j': $café + $変数}]) %}",
              "End": true}
    }});
    assert_eq!(output(def, json!({"n": 2})), json!({"c": 1, "v": 2, "u": true, "j": 3}));
    let longest = "v".repeat(80);
    let def = single(json!({"Type": "Pass", "Assign": {longest: 1}, "End": true}));
    assert!(expressway_engine::compile(&def, expressway_engine::WorkflowType::Express).is_ok());
}
