//! Property tests: random machines never panic the validator or compiler,
//! every compiled program passes the verifier, and running one never panics.

use expressway_engine::driver::{Offline, RunOptions};
use expressway_engine::{ExecutionInfo, WorkflowType};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;

fn state_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["A", "B", "C", "D"]).prop_map(str::to_string)
}

fn path() -> impl Strategy<Value = Value> {
    prop::sample::select(vec!["$", "$.a", "$.b[0]", "$$.Execution.Id", "$.a.b", "$[", "nope", "$..a", "$.a[*]"])
        .prop_map(|s| json!(s))
}

fn state() -> impl Strategy<Value = Value> {
    let transition =
        prop_oneof![state_name().prop_map(|n| json!({"Next": n})), Just(json!({"End": true})), Just(json!({}))];
    let body = prop_oneof![
        (prop::option::of(path()), prop::option::of(any::<i32>())).prop_map(|(p, r)| {
            let mut s = json!({"Type": "Pass"});
            if let Some(p) = p { s["InputPath"] = p; }
            if let Some(r) = r { s["Result"] = json!(r); }
            s
        }),
        (path(), state_name(), any::<i16>()).prop_map(|(p, n, v)| json!({"Type": "Choice", "Choices": [{"Variable": p, "NumericGreaterThan": v, "Next": n}], "Default": n})),
        (0u64..5).prop_map(|s| json!({"Type": "Wait", "Seconds": s})),
        Just(json!({"Type": "Succeed"})),
        Just(json!({"Type": "Fail", "Error": "E"})),
        path().prop_map(|p| json!({"Type": "Pass", "Parameters": {"x.$": p, "f.$": "States.Format('{}', $)"}})),
        path().prop_map(|p| json!({"Type": "Map", "ItemsPath": p, "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}})),
    ];
    (body, transition).prop_map(|(mut b, t)| {
        if !matches!(b["Type"].as_str(), Some("Choice" | "Succeed" | "Fail")) {
            b.as_object_mut().unwrap().extend(t.as_object().unwrap().clone());
        }
        b
    })
}

fn machine() -> impl Strategy<Value = Value> {
    (state_name(), prop::collection::btree_map(state_name(), state(), 1..5))
        .prop_map(|(start, states)| json!({"StartAt": start, "States": states}))
}

fn input() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        Just(json!({"a": 1, "b": [1, 2]})),
        Just(json!({"a": {"b": 3}})),
        Just(json!([1, 2])),
        Just(json!(null))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn compile_never_panics_programs_verify_and_executions_repeat(def in machine(), inp in input()) {
        if let Ok(program) = expressway_engine::compile(&def, WorkflowType::Express) {
            prop_assert!(program.verify().is_ok(), "{:?}", program.verify());
            let _ = program.disassemble();
            // Pass/Choice loops take no virtual time: the transition budget ends them.
            let info = Arc::new(ExecutionInfo::default());
            let opts = RunOptions { max_duration_ms: Some(60_000), max_transitions: Some(10_000), ..RunOptions::default() };
            let input: expressway_engine::Value = inp.into();
            let first = expressway_engine::execute(&program, info.clone(), input.clone(), &mut Offline, &opts);
            // The VM has no clock or randomness of its own: the same inputs
            // give the same execution.
            let again = expressway_engine::execute(&program, info, input, &mut Offline, &opts);
            prop_assert_eq!(first, again);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_the_validator(v in any::<Vec<(String, u8)>>()) {
        let def: serde_json::Map<String, Value> = v.into_iter().map(|(k, n)| (k, json!(n))).collect();
        let _ = expressway_engine::compile(&Value::Object(def), WorkflowType::Express);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Paths and intrinsic calls come straight from users: parsing any string
    /// gives a value or an error, never a panic.
    #[test]
    fn parsers_never_panic(s in "[$@.\\[\\]'\"*?()=<>!&|,:0-9a-zA-Zé☃ -]{0,40}", t in ".{0,60}") {
        let _ = expressway_engine::jsonpath::JsonPath::parse(&s);
        let _ = expressway_engine::jsonpath::JsonPath::parse(&t);
        let _ = expressway_engine::intrinsics::Call::parse(&format!("States.Format({s})"));
        let _ = expressway_engine::intrinsics::Call::parse(&t);
        let _ = expressway_engine::value::from_str(&t);
    }

    /// Whatever a valid path selects from whatever input, selection never panics.
    #[test]
    fn selection_never_panics(s in "\\$(\\.[a-c]|\\[-?[0-3]\\]|\\[\\*\\]|\\.\\.[a-c]|\\[0:2\\]|\\[\\?\\(@\\.a > 1\\)\\]){0,4}", inp in input()) {
        if let Ok(p) = expressway_engine::jsonpath::JsonPath::parse(&s) {
            let _ = p.select(&expressway_engine::Value::from(inp));
        }
    }
}
