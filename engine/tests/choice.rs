//! Choice rules, from the AWS docs' "Choice Rules" page.

mod support;
use serde_json::{Value, json};
use support::*;

fn chooses(rule: Value, input: Value) -> bool {
    let mut r = rule;
    r["Next"] = json!("Yes");
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [r], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": true, "End": true},
        "No": {"Type": "Pass", "Result": false, "End": true}
    }});
    output(def, input) == json!(true)
}

#[test]
fn comparisons() {
    let i = json!({"s": "b", "n": 5, "f": true, "t": "2024-01-01T00:00:00Z", "m": 5.0});
    assert!(chooses(json!({"Variable": "$.s", "StringEquals": "b"}), i.clone()));
    assert!(chooses(json!({"Variable": "$.s", "StringGreaterThan": "a"}), i.clone()));
    assert!(chooses(json!({"Variable": "$.s", "StringLessThanEquals": "b"}), i.clone()));
    assert!(chooses(json!({"Variable": "$.n", "NumericEquals": 5}), i.clone()));
    assert!(chooses(json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}), i.clone()));
    assert!(!chooses(json!({"Variable": "$.n", "NumericLessThan": 5}), i.clone()));
    assert!(chooses(json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}), i.clone()));
    assert!(chooses(json!({"Variable": "$.f", "BooleanEquals": true}), i.clone()));
    assert!(chooses(json!({"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:01Z"}), i.clone()));
    assert!(chooses(json!({"Variable": "$.t", "TimestampEquals": "2024-01-01T01:00:00+01:00"}), i.clone()));
    // A type mismatch is simply false.
    assert!(!chooses(json!({"Variable": "$.s", "NumericEquals": 5}), i));
}

#[test]
fn string_matches_wildcards_and_escapes() {
    let rule = |p: &str| json!({"Variable": "$.v", "StringMatches": p});
    assert!(chooses(rule("log-*.txt"), json!({"v": "log-2024.txt"})));
    assert!(chooses(rule("*"), json!({"v": ""})));
    assert!(!chooses(rule("log-*.txt"), json!({"v": "log-2024.csv"})));
    assert!(chooses(rule(r"a\*b"), json!({"v": "a*b"})));
    assert!(!chooses(rule(r"a\*b"), json!({"v": "axb"})));
}

#[test]
fn type_tests() {
    let i = json!({"nul": null, "num": 1, "str": "x", "b": false, "ts": "2024-02-29T12:00:00Z"});
    assert!(chooses(json!({"Variable": "$.nul", "IsNull": true}), i.clone()));
    assert!(chooses(json!({"Variable": "$.num", "IsNull": false}), i.clone()));
    assert!(chooses(json!({"Variable": "$.missing", "IsPresent": false}), i.clone()));
    assert!(chooses(json!({"Variable": "$.num", "IsNumeric": true}), i.clone()));
    assert!(chooses(json!({"Variable": "$.str", "IsNumeric": false}), i.clone()));
    assert!(chooses(json!({"Variable": "$.str", "IsString": true}), i.clone()));
    assert!(chooses(json!({"Variable": "$.b", "IsBoolean": true}), i.clone()));
    assert!(chooses(json!({"Variable": "$.ts", "IsTimestamp": true}), i.clone()));
    assert!(chooses(json!({"Variable": "$.str", "IsTimestamp": false}), i));
}

#[test]
fn and_or_not() {
    let i = json!({"a": 1, "b": "x"});
    assert!(chooses(
        json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "x"}]}),
        i.clone()
    ));
    assert!(chooses(
        json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "StringEquals": "x"}]}),
        i.clone()
    ));
    assert!(chooses(json!({"Not": {"Variable": "$.a", "NumericEquals": 2}}), i));
}

#[test]
fn no_match_without_default_fails() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "Y"}]},
        "Y": {"Type": "Succeed"}
    }});
    let r = run(def, json!({"a": 2}));
    assert_eq!(r.error.as_deref(), Some("States.NoChoiceMatched"));
}

#[test]
fn missing_variable_is_a_runtime_error() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.nope", "NumericEquals": 1, "Next": "Y"}], "Default": "Y"},
        "Y": {"Type": "Succeed"}
    }});
    assert_eq!(run(def, json!({})).error.as_deref(), Some("States.Runtime"));
}
