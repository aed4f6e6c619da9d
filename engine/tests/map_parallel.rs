//! Map and Parallel states (AWS docs: "Map state", "Parallel state").

mod support;
use expressway_engine::vm::Observer;
use expressway_engine::{Status, TaskCall, TaskOutcome};
use serde_json::{Value, json};
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

/// A Map whose ItemSelector the compiler fuses into its first state's
/// Parameters (`engine/src/fusion.rs`).
fn fusable_map(selector_extra: Value, parameters_extra: Value) -> Value {
    fusable_map_with(selector_extra, parameters_extra, json!({}), json!({}))
}

/// [`fusable_map`] with more fields on its first state and on the Map.
fn fusable_map_with(selector_extra: Value, parameters_extra: Value, pass_extra: Value, map_extra: Value) -> Value {
    let mut parameters = json!({
        "key.$": "States.Format('{}#{}', $.id, $.i)", "v.$": "$.r.value", "first.$": "$.r.tags[0]"
    });
    parameters.as_object_mut().unwrap().extend(parameters_extra.as_object().unwrap().clone());
    let mut selector = json!({"id.$": "$.deviceId", "i.$": "$$.Map.Item.Index", "r.$": "$$.Map.Item.Value"});
    selector.as_object_mut().unwrap().extend(selector_extra.as_object().unwrap().clone());
    let mut first = json!({"Type": "Pass", "Parameters": parameters, "Next": "C"});
    first.as_object_mut().unwrap().extend(pass_extra.as_object().unwrap().clone());
    let mut map = json!({
        "Type": "Map", "ItemsPath": "$.items", "ItemSelector": selector,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "L", "States": {
            "L": first,
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericGreaterThan": 80, "Next": "A"}],
                  "Default": "N"},
            "A": {"Type": "Pass", "Result": "ALERT", "ResultPath": "$.level", "End": true},
            "N": {"Type": "Pass", "Result": "OK", "ResultPath": "$.level", "End": true}}},
        "ResultPath": "$.out", "End": true});
    map.as_object_mut().unwrap().extend(map_extra.as_object().unwrap().clone());
    json!({"StartAt": "M", "States": {"M": map}})
}

/// Each definition ends each input, fused, as it does with fusion off:
/// status, error, cause, output, states entered and the path.
fn ends_as_the_usual_way_does(definitions: &[Value], cases: &[Value]) {
    for def in definitions {
        for input in cases {
            let [a, b] = fused_and_usual(def, input);
            let shown = |r: &expressway_engine::ExecutionResult| {
                (r.status, r.error.clone(), r.cause.clone(), r.output.clone(), r.entered_by_type, r.path.clone())
            };
            assert_eq!(shown(&a), shown(&b), "input {:.200}", input.to_string());
        }
    }
}

/// The machine's result, with its Map fused as compiled and with fusion
/// turned off (the usual way: selector objects, then the iterations).
fn fused_and_usual(def: &Value, input: &Value) -> [expressway_engine::ExecutionResult; 2] {
    let fused = expressway_engine::compile(def, expressway_engine::WorkflowType::Express).expect("valid");
    assert_eq!(fused.maps.iter().filter(|m| m.fused.is_some()).count(), 1, "the Map is fused");
    let mut usual = fused.clone();
    usual.maps.iter_mut().for_each(|m| m.fused = None);
    [&fused, &usual].map(|p| {
        p.verify().expect("verifies");
        let opts = expressway_engine::RunOptions { observer: Some(Observer::path_only()), ..Default::default() };
        let input = expressway_engine::Value::from(input.clone());
        expressway_engine::execute(p, info(), input, &mut expressway_engine::driver::Offline, &opts)
    })
}

#[test]
fn a_fused_item_selector_ends_every_execution_as_the_usual_way_does() {
    let big = "x".repeat(90_000);
    let cases = [
        // Succeeds, both branches of the Choice.
        json!({"deviceId": "d-1", "items": [{"value": 60, "tags": ["a"]}, {"value": 90, "tags": ["b", "c"]}]}),
        // An item lacks a field the first state reads: it fails there.
        json!({"deviceId": "d-1", "items": [{"value": 60, "tags": ["a"]}, {"value": 90}]}),
        json!({"deviceId": "d-1", "items": [{"value": 60, "tags": "not an array"}]}),
        json!({"deviceId": "d-1", "items": [7]}),
        // The Map's input lacks a field the selector reads: the Map fails.
        json!({"items": [{"value": 60, "tags": ["a"]}]}),
        json!({"deviceId": "d-1", "items": "not an array"}),
        json!({"deviceId": "d-1", "items": []}),
        // Selector objects past the payload limit (with the device id read three times).
        json!({"deviceId": big, "items": [{"value": 60, "tags": ["a"]}]}),
    ];
    let thrice =
        || (json!({"id2.$": "$.deviceId", "id3.$": "$.deviceId"}), json!({"id2.$": "$.id2", "id3.$": "$.id3"}));
    let none = || json!({});
    let definitions = [
        fusable_map(none(), none()),
        fusable_map(thrice().0, thrice().1),
        // A constant selector field no one reads; a negative index; a part
        // of the item's index (always a miss, so always the usual way).
        fusable_map(json!({"tag": "t"}), json!({"last.$": "$.r.tags[-1]"})),
        fusable_map(none(), json!({"x.$": "$.i.x"})),
        // The first state assigns a variable, or replaces its Parameters by
        // a Result; a random draw after the iterations.
        fusable_map_with(
            none(),
            none(),
            json!({"Assign": {"seen.$": "$.key"}}),
            json!({"ResultSelector": {"all.$": "$", "draw.$": "States.MathRandom(1, 1000000)"}}),
        ),
        fusable_map_with(none(), none(), json!({"Result": {"v": 99}}), none()),
    ];
    ends_as_the_usual_way_does(&definitions, &cases);
    // The cases reach each way out.
    let (selector_extra, parameters_extra) = thrice();
    let def = fusable_map(selector_extra, parameters_extra);
    let errors: Vec<_> = cases.iter().map(|i| fused_and_usual(&def, i)[0].error.clone()).collect();
    assert_eq!(errors[0], None);
    // The fused way was taken where it can be, and only in the fused program.
    let fused: Vec<_> = cases.iter().map(|i| fused_and_usual(&def, i).map(|r| r.fused_maps)).collect();
    assert_eq!(fused[0], [1, 0]);
    assert_eq!(fused[1], [0, 0], "an item lacks a field: the usual way");
    assert_eq!(errors[1].as_deref(), Some("States.Runtime"));
    assert_eq!(errors[4].as_deref(), Some("States.Runtime"));
    assert_eq!(errors[7].as_deref(), Some("States.DataLimitExceeded"));
}

/// [`fusable_map`] in JSONata: the ItemSelector is fused into the first
/// state's `Output`.
fn fusable_jsonata_map(selector_extra: Value, output_extra: Value) -> Value {
    let mut selector = json!({
        "id": "{% $states.input.deviceId %}", "i": "{% $states.context.Map.Item.Index %}",
        "r": "{% $states.context.Map.Item.Value %}"
    });
    selector.as_object_mut().unwrap().extend(selector_extra.as_object().unwrap().clone());
    let mut output = json!({
        "key": "{% $states.input.id & '#' & $states.input.i %}", "v": "{% $states.input.r.value %}",
        "tags": "{% $states.input.r.tags %}"
    });
    output.as_object_mut().unwrap().extend(output_extra.as_object().unwrap().clone());
    json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
        "Type": "Map", "Items": "{% $states.input.items %}", "ItemSelector": selector,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "L", "States": {
            "L": {"Type": "Pass", "Output": output, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.v > 80 %}", "Next": "A"}],
                  "Default": "N"},
            "A": {"Type": "Pass", "Output": {"level": "ALERT", "all": "{% $states.input %}"}, "End": true},
            "N": {"Type": "Pass", "Output": {"level": "OK", "all": "{% $states.input %}"}, "End": true}}},
        "Output": "{% $merge([$states.input, {'out': $states.result}]) %}", "End": true}}})
}

#[test]
fn a_fused_jsonata_item_selector_ends_every_execution_as_the_usual_way_does() {
    let big = "x".repeat(90_000);
    let cases = [
        // Succeeds, both branches of the Choice.
        json!({"deviceId": "d-1", "items": [{"value": 60, "tags": ["a"]}, {"value": 90, "tags": ["b", "c"]}]}),
        // An item lacks a field the first state reads: it fails there.
        json!({"deviceId": "d-1", "items": [{"value": 60, "tags": ["a"]}, {"tags": ["b"]}]}),
        json!({"deviceId": "d-1", "items": [{"value": 60}]}),
        json!({"deviceId": "d-1", "items": [7]}),
        // The Map's input lacks a field the selector reads: the Map fails.
        json!({"items": [{"value": 60, "tags": ["a"]}]}),
        json!({"deviceId": "d-1", "items": "not an array"}),
        json!({"deviceId": "d-1", "items": []}),
        // Selector objects past the payload limit (with the device id read three times).
        json!({"deviceId": big, "items": [{"value": 60, "tags": ["a"]}]}),
        // An array on a read path: JSONata maps over it (the usual way only).
        json!({"deviceId": "d-1", "items": [[{"value": 90, "tags": ["t"]}], {"value": 2, "tags": 1}]}),
        // Numbers JSONata converts (`1.0` is `1`, past 2^53 a double), a
        // number concatenated, a comparison that fails.
        json!({"deviceId": 12345678901234567u64, "items": [{"value": 1.0, "tags": 2.50}, {"value": 9007199254740993u64, "tags": null}]}),
        json!({"deviceId": "d-1", "items": [{"value": "hot", "tags": []}]}),
        json!({"deviceId": ["a", "b"], "items": [{"value": {"x": 1}, "tags": {"t": [1]}}]}),
    ];
    let thrice = || {
        (
            json!({"id2": "{% $states.input.deviceId %}", "id3": "{% $states.input.deviceId %}"}),
            json!({"id2": "{% $states.input.id2 %}", "id3": "{% $states.input.id3 %}"}),
        )
    };
    let none = || json!({});
    let definitions = [
        fusable_jsonata_map(none(), none()),
        fusable_jsonata_map(thrice().0, thrice().1),
        // A constant selector field no one reads, the Map's whole input read
        // through a field; a merge, comparisons and literals.
        fusable_jsonata_map(
            json!({"tag": "t", "all": "{% $states.input %}"}),
            json!({"n": "{% $states.input.all.items %}"}),
        ),
        fusable_jsonata_map(
            none(),
            json!({"m": "{% $merge([$states.input.r, {'k': $states.input.id, 'hot': $states.input.r.value >= 90}]) %}",
                   "lit": [1, "two", {"three": "{% $states.input.i = 0 or $states.input.id != 'd-1' %}"}]}),
        ),
    ];
    ends_as_the_usual_way_does(&definitions, &cases);
    // The cases reach each way out.
    let (selector_extra, output_extra) = thrice();
    let def = fusable_jsonata_map(selector_extra, output_extra);
    let errors: Vec<_> = cases.iter().map(|i| fused_and_usual(&def, i)[0].error.clone()).collect();
    assert_eq!(errors[0], None);
    assert_eq!(errors[1].as_deref(), Some("States.QueryEvaluationError"));
    assert_eq!(errors[4].as_deref(), Some("States.QueryEvaluationError"));
    assert_eq!(errors[7].as_deref(), Some("States.DataLimitExceeded"));
    assert_eq!(errors[8], None);
    assert_eq!(errors[10].as_deref(), Some("States.QueryEvaluationError"));
    // The fused way was taken where it can be (converted numbers too), and
    // not where an array is on a read path or a selector read misses.
    let fused: Vec<_> = cases.iter().map(|i| fused_and_usual(&def, i).map(|r| r.fused_maps)).collect();
    assert_eq!(fused[0], [1, 0]);
    assert_eq!(fused[9], [1, 0]);
    assert_eq!(fused[8], [0, 0]);
    assert_eq!(fused[4], [0, 0]);
}
