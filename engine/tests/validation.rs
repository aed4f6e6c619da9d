//! Every validation code, each with its JSON Pointer, and "all problems at once".

use expressway_engine::WorkflowType;
use expressway_engine::validate::{Code, validate};
use serde_json::{Value, json};

fn diags(def: Value) -> Vec<(Code, String)> {
    match validate(&def, WorkflowType::Express) {
        Ok(_) => vec![],
        Err(d) => d.into_iter().map(|d| (d.code, d.pointer)).collect(),
    }
}

fn has(def: Value, code: Code, pointer: &str) {
    let d = diags(def);
    assert!(d.iter().any(|(c, p)| *c == code && p == pointer), "expected {code:?} at {pointer}, got {d:?}");
}

fn pass_end() -> Value {
    json!({"Type": "Pass", "End": true})
}

#[test]
fn structure_codes() {
    has(json!([]), Code::NotAnObject, "");
    has(json!({"StartAt": "A"}), Code::MissingField, "");
    has(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Bogus": 1}}}),
        Code::UnknownField,
        "/States/A/Bogus",
    );
    has(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": "yes"}}}), Code::WrongType, "/States/A/End");
    has(json!({"StartAt": "A", "States": {"A": {"Type": "Nope"}}}), Code::UnknownStateType, "/States/A/Type");
    has(json!({"StartAt": "B", "States": {"A": pass_end()}}), Code::MissingState, "/StartAt");
    has(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}, "Z2": pass_end()}}),
        Code::MissingState,
        "/States/A/Next",
    );
    has(json!({"StartAt": "A", "States": {"A": pass_end(), "B": pass_end()}}), Code::UnreachableState, "/States/B");
    has(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Next": "A"}}}),
        Code::EndAndNext,
        "/States/A",
    );
    has(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}), Code::NoTransition, "/States/A");
    has(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}), Code::NoTerminalState, "/States");
}

#[test]
fn field_codes() {
    let task = |extra: Value| {
        let mut t = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true});
        t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"StartAt": "T", "States": {"T": t}})
    };
    has(
        task(json!({"Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]})),
        Code::AllNotLast,
        "/States/T/Retry/0/ErrorEquals",
    );
    has(
        task(json!({"Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]})),
        Code::OutOfRange,
        "/States/T/Retry/0/BackoffRate",
    );
    has(
        task(json!({"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}]})),
        Code::BadValue,
        "/States/T/Retry/0/JitterStrategy",
    );
    has(task(json!({"InputPath": "$.a["})), Code::BadJsonPath, "/States/T/InputPath");
    has(task(json!({"ResultPath": "$.a[*]"})), Code::BadJsonPath, "/States/T/ResultPath");
    has(task(json!({"Parameters": {"x.$": "States.Nope(1)"}})), Code::BadIntrinsic, "/States/T/Parameters/x.$");
    has(task(json!({"Parameters": {"x.$": "States.MathAdd(1, 'a')"}})), Code::BadIntrinsic, "/States/T/Parameters/x.$");
    has(task(json!({"Parameters": {"x": 1, "x.$": "$.x"}})), Code::DuplicateKey, "/States/T/Parameters/x.$");
    has(task(json!({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"})), Code::ExclusiveFields, "/States/T");
    has(task(json!({"Assign": {"states": 1}})), Code::BadValue, "/States/T/Assign/states");
    has(
        json!({"StartAt": "S", "States": {"S": {"Type": "Succeed", "Assign": {"x": 1}}}}),
        Code::UnknownField,
        "/States/S/Assign",
    );
    // JSONata states: JSONPath fields are refused, expressions are parsed.
    has(task(json!({"QueryLanguage": "JSONata", "InputPath": "$.a"})), Code::UnknownField, "/States/T/InputPath");
    has(task(json!({"QueryLanguage": "JSONata", "ResultPath": "$.a"})), Code::UnknownField, "/States/T/ResultPath");
    has(
        task(json!({"QueryLanguage": "JSONata", "Output": "{% $states.input.( %}"})),
        Code::BadJsonata,
        "/States/T/Output",
    );
    has(
        task(json!({"QueryLanguage": "JSONata", "Arguments": {"a": [1, "{% 1 + %}"]}})),
        Code::BadJsonata,
        "/States/T/Arguments/a/1",
    );
    has(task(json!({"QueryLanguage": "JSONata", "Items": "{% [] %}"})), Code::UnknownField, "/States/T/Items");
    has(
        json!({"StartAt": "C", "QueryLanguage": "JSONata", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "Next": "C"}]}}}),
        Code::BadChoiceRule,
        "/States/C/Choices/0/Variable",
    );
    has(task(json!({"Arguments": {}})), Code::UnknownField, "/States/T/Arguments");
    has(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": true}}}),
        Code::Unsupported,
        "/States/T/Resource",
    );
    has(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "Next": "C"}]}}}),
        Code::BadChoiceRule,
        "/States/C/Choices/0",
    );
    has(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": "1", "Next": "C"}]}}}),
        Code::BadChoiceRule,
        "/States/C/Choices/0/NumericEquals",
    );
}

#[test]
fn nested_machines_are_validated_with_full_pointers() {
    let def = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Gone"}}}},
    }});
    has(def, Code::MissingState, "/States/M/ItemProcessor/States/A/Next");
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "P", "States": {"P": pass_end()}}]},
    }});
    has(def, Code::DuplicateState, "/States/P/Branches/0/States/P");
}

#[test]
fn every_problem_is_reported_at_once() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Missing", "Bogus": 1},
        "B": {"Type": "Wait", "End": true},
        "C": {"Type": "Task", "End": true, "Retry": [{"ErrorEquals": [], "MaxAttempts": -1}]}
    }});
    let d = diags(def);
    assert!(d.len() >= 5, "{d:?}");
}

#[test]
fn duplicate_keys_in_text_are_reported() {
    let err = expressway_engine::compile_text(
        r#"{"StartAt": "A", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#,
        WorkflowType::Express,
    )
    .err()
    .unwrap();
    assert_eq!(err[0].code, Code::DuplicateKey);
    assert_eq!(err[0].pointer, "/StartAt");
}

/// Jayway trims the spaces around a path, so AWS deploys definitions whose
/// paths carry them (aws-stepfunctions-examples' app-decompose-for-parallelism
/// passes "$$.Execution.Name "); a '.' left at the end is still refused.
#[test]
fn paths_with_surrounding_spaces_are_accepted() {
    let def = json!({"StartAt": "A", "States": {"A": {
        "Type": "Pass",
        "Parameters": {"name.$": "$$.Execution.Name ", "v.$": "$.a "},
        "InputPath": "$ ",
        "End": true
    }}});
    assert_eq!(diags(def), vec![]);
    has(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"v.$": "$.a. "}, "End": true}}}),
        Code::BadJsonPath,
        "/States/A/Parameters/v.$",
    );
}

/// AWS: "Improperly opening or closing the expression will result in a
/// validation error"; a string that neither opens nor closes one, even with
/// an expression inside spaces, is a literal (recorded on AWS:
/// `" {% states.input %} "` passed through as text).
#[test]
fn a_jsonata_expression_opened_or_closed_alone_is_refused() {
    let with_output = |output: &str| json!({"StartAt": "X", "QueryLanguage": "JSONata", "States": {"X": {"Type": "Pass", "Output": output, "End": true}}});
    for bad in ["{% 10 %", "10 %}", "{%}", "{% $states.input"] {
        has(with_output(bad), Code::BadJsonata, "/States/X/Output");
    }
    for good in ["{% 10 %}", " {% states.input %} ", "100 % sure", "{ % x % }"] {
        assert!(diags(with_output(good)).is_empty(), "{good}: {:?}", diags(with_output(good)));
    }
}

/// A Map `Label` follows AWS's naming rule: the characters AWS lists for
/// names (`$`, `,` and `/` among them, recorded refused by AWS) are refused.
#[test]
fn a_map_label_refuses_the_characters_aws_names_refuse() {
    let map = |label: &str| {
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "Label": label, "End": true,
            "ItemProcessor": {"StartAt": "P", "States": {"P": pass_end()}}}}})
    };
    for c in [
        ' ', '<', '>', '{', '}', '[', ']', '?', '*', '"', '#', '%', '\\', '^', '|', '~', '`', '$', '&', ',', ';', ':',
        '/', '\u{1}', '\u{85}',
    ] {
        has(map(&format!("label_{c}")), Code::BadValue, "/States/M/Label");
    }
    for ok in ["label", "label-1_x.y", "é", &"x".repeat(40)] {
        assert!(diags(map(ok)).is_empty(), "{ok:?} refused: {:?}", diags(map(ok)));
    }
    has(map(&"x".repeat(41)), Code::BadValue, "/States/M/Label");
}
