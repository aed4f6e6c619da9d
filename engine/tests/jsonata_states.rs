//! JSONata states (AWS docs: "Transforming data with JSONata in Step
//! Functions", "Passing data between states with variables").

mod support;
use expressway_engine::{Status, TaskCall, TaskOutcome, WorkflowType};
use serde_json::{Value, json};
use support::*;

fn machine(states: Value) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": states})
}

fn echo_task() -> impl FnMut(&TaskCall) -> TaskOutcome {
    |call: &TaskCall| TaskOutcome::Succeeded(call.input.clone())
}

#[test]
fn pass_output_is_a_template_with_expressions_nested_anywhere() {
    let def = machine(json!({"S": {"Type": "Pass", "End": true, "Output": {
        "sum": "{% $sum($states.input.xs) %}",
        "list": [1, "{% $count($states.input.xs) %}", {"deep": "{% $uppercase($states.input.name) %}"}],
        "literal": "not {% an expression",
        "n": 7
    }}}));
    let out = output(def, json!({"xs": [1, 2, 3], "name": "ada"}));
    assert_eq!(out, json!({"sum": 6, "list": [1, 3, {"deep": "ADA"}], "literal": "not {% an expression", "n": 7}));
}

#[test]
fn pass_without_output_passes_its_input() {
    let def = machine(json!({"S": {"Type": "Pass", "End": true}}));
    assert_eq!(output(def, json!({"a": 1})), json!({"a": 1}));
}

#[test]
fn task_arguments_and_output_see_input_and_result() {
    let def = machine(json!({"S": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
        "Arguments": {"doubled": "{% $states.input.n * 2 %}"},
        "Output": {"in": "{% $states.input.n %}", "got": "{% $states.result.doubled %}"}}}));
    let mut inv = FnTasks { f: echo_task(), calls: vec![] };
    let r = run_with(def, json!({"n": 21}), &mut inv);
    assert_eq!(inv.calls[0].input, json!({"doubled": 42}).into());
    assert_eq!(r.output, Some(json!({"in": 21, "got": 42})));
}

#[test]
fn task_output_defaults_to_the_result() {
    let def = machine(json!({"S": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}}));
    let mut inv = FnTasks { f: |_: &TaskCall| TaskOutcome::Succeeded(json!({"r": 1}).into()), calls: vec![] };
    assert_eq!(run_with(def, json!({"ignored": true}), &mut inv).output, Some(json!({"r": 1})));
}

#[test]
fn assign_and_output_are_evaluated_together_and_variables_change_after_the_state() {
    let def = machine(json!({
        "S": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"x": "{% $x + 1 %}", "seen": "{% $x %}"}, "Output": {"x": "{% $x %}"}, "Next": "C"},
        "C": {"Type": "Pass", "Output": {"x": "{% $x %}", "seen": "{% $seen %}", "prev": "{% $states.input.x %}"}, "End": true}
    }));
    assert_eq!(output(def, json!({})), json!({"x": 2, "seen": 1, "prev": 1}));
}

#[test]
fn choice_conditions_pick_a_rule_and_rules_assign_and_output() {
    let def = machine(json!({
        "S": {"Type": "Choice", "Choices": [
            {"Condition": "{% $states.input.n > 10 %}", "Next": "Big", "Assign": {"kind": "big"}, "Output": {"size": "large"}},
            {"Condition": "{% $states.input.n > 5 %}", "Next": "Big", "Assign": {"kind": "medium"}}
        ], "Default": "Big", "Assign": {"kind": "small"}, "Output": {"size": "default"}},
        "Big": {"Type": "Pass", "Output": {"kind": "{% $kind %}", "in": "{% $states.input %}"}, "End": true}
    }));
    let run_n = |n: i64| output(def.clone(), json!({"n": n}));
    assert_eq!(run_n(20), json!({"kind": "big", "in": {"size": "large"}}));
    assert_eq!(run_n(7), json!({"kind": "medium", "in": {"size": "default"}}));
    assert_eq!(run_n(1), json!({"kind": "small", "in": {"size": "default"}}));
}

#[test]
fn a_condition_that_is_not_boolean_fails_the_state() {
    let def = machine(json!({
        "S": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n %}", "Next": "E"}], "Default": "E"},
        "E": {"Type": "Succeed"}
    }));
    let r = run(def, json!({"n": 3}));
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    assert!(r.cause.unwrap_or_default().contains("Expected 'boolean', but was 'number'"));
}

#[test]
fn map_items_item_selector_and_result() {
    let def = machine(json!({"S": {"Type": "Map", "End": true,
        "Items": "{% $states.input.list %}",
        "ItemSelector": {"i": "{% $states.context.Map.Item.Index %}", "v": "{% $states.context.Map.Item.Value %}",
                         "tag": "{% $states.input.tag %}"},
        "ItemProcessor": {"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Output": "{% $states.input.tag & ':' & $states.input.i & '=' & $states.input.v %}", "End": true}}},
        "Output": {"joined": "{% $join($states.result, ',') %}"}}}));
    assert_eq!(output(def, json!({"list": ["a", "b"], "tag": "t"})), json!({"joined": "t:0=a,t:1=b"}));
}

#[test]
fn map_items_must_be_an_array() {
    let def = machine(json!({"S": {"Type": "Map", "End": true, "Items": "{% $states.input.x %}",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}}}));
    let r = run(def, json!({"x": {"a": 1}}));
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    assert!(r.cause.unwrap_or_default().contains("Expected 'array', but was 'object'"), "AWS's wording");
    let def = machine(json!({"S": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}}}));
    let r = run(def, json!("text"));
    assert_eq!(
        r.cause.unwrap_or_default(),
        "An error occurred while executing the state 'S' (entered at the event id #2). Map state input must be an array but was: \"text\""
    );
}

#[test]
fn map_iterations_read_outer_variables_but_do_not_assign_them() {
    let def = machine(json!({
        "S": {"Type": "Pass", "Assign": {"bias": 10}, "Next": "M"},
        "M": {"Type": "Map", "Items": [1, 2], "Next": "After",
              "ItemProcessor": {"StartAt": "P", "States": {
                  "P": {"Type": "Pass", "Assign": {"bias": 99}, "Output": "{% $states.input + $bias %}", "End": true}}},
              "Assign": {"results": "{% $states.result %}"}},
        "After": {"Type": "Pass", "Output": {"results": "{% $results %}", "bias": "{% $bias %}"}, "End": true}
    }));
    assert_eq!(output(def, json!({})), json!({"results": [11, 12], "bias": 10}));
}

#[test]
fn parallel_arguments_feed_every_branch() {
    let branch = |name: &str, expr: &str| json!({"StartAt": name, "States": {name: {"Type": "Pass", "Output": expr, "End": true}}});
    let def = machine(json!({"S": {"Type": "Parallel", "End": true, "Arguments": {"n": "{% $states.input.n + 1 %}"},
        "Branches": [branch("B1", "{% $states.input.n * 2 %}"), branch("B2", "{% $states.input.n * 3 %}")]}}));
    assert_eq!(output(def, json!({"n": 1})), json!([4, 6]));
}

#[test]
fn catch_output_and_assign_see_the_error_output() {
    let def = machine(json!({
        "S": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H",
                         "Assign": {"err": "{% $states.errorOutput.Error %}"},
                         "Output": {"cause": "{% $states.errorOutput.Cause %}", "in": "{% $states.input.k %}"}}]},
        "H": {"Type": "Pass", "Output": {"err": "{% $err %}", "got": "{% $states.input %}"}, "End": true}
    }));
    let mut inv = FnTasks {
        f: |_: &TaskCall| TaskOutcome::Failed { error: "Boom".into(), cause: Some("why".into()) },
        calls: vec![],
    };
    let r = run_with(def, json!({"k": "v"}), &mut inv);
    assert_eq!(r.output, Some(json!({"err": "Boom", "got": {"cause": "why", "in": "v"}})));
}

#[test]
fn wait_seconds_and_timestamp_from_expressions() {
    let def = machine(json!({
        "S": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "Next": "T"},
        "T": {"Type": "Wait", "Timestamp": "{% $states.input.at %}", "End": true}
    }));
    let r = run(def, json!({"s": 5, "at": "2023-11-14T22:14:00Z"}));
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    assert!(r.duration_ms >= 5_000, "waited {} ms", r.duration_ms);
    let def = machine(json!({"S": {"Type": "Wait", "Timestamp": "{% $states.input.at %}", "End": true}}));
    let r = run(def, json!({"at": "2016-13-05T21:29:29Z"}));
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    assert!(
        r.cause.unwrap_or_default().ends_with("ISO-8601 extended offset date-time format string: 2016-13-05T21:29:29Z")
    );
}

#[test]
fn fail_error_and_cause_from_expressions() {
    let def = machine(
        json!({"S": {"Type": "Fail", "Error": "{% 'E.' & $states.input.code %}", "Cause": "{% $string($states.input) %}"}}),
    );
    let r = run(def, json!({"code": "X"}));
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.error.as_deref(), Some("E.X"));
    assert_eq!(r.cause.as_deref(), Some(r#"{"code":"X"}"#));
}

#[test]
fn merge_with_the_input_and_a_variable_named_merge_hides_the_function() {
    // Evaluated without the evaluator (`jsonata::direct`), so the VM's own
    // reads and variables are what is tested here.
    let output_expr = "{% $merge([$states.input, {'k': $states.input.id & '#', 'big': $states.input.n > 1}]) %}";
    let def = machine(json!({"S": {"Type": "Pass", "Output": output_expr, "End": true}}));
    assert_eq!(output(def, json!({"id": "a", "n": 2.0})), json!({"id": "a", "n": 2, "k": "a#", "big": true}));
    let def = machine(json!({
        "S": {"Type": "Pass", "Assign": {"merge": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Output": output_expr, "End": true}
    }));
    let r = run(def, json!({"id": "a", "n": 2}));
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    let cause = r.cause.unwrap_or_default();
    assert!(cause.ends_with("threw an error during evaluation. T1006: Attempted to invoke a non-function"), "{cause}");
}

#[test]
fn undefined_results_and_evaluation_errors_name_expression_and_field() {
    let def =
        machine(json!({"S": {"Type": "Pass", "Output": {"a": {"b": "{% $states.input.missing %}"}}, "End": true}}));
    let r = run(def, json!({}));
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    assert_eq!(
        r.cause.as_deref(),
        Some(
            "An error occurred while executing the state 'S' (entered at the event id #2). The JSONata expression '$states.input.missing' specified for the field 'Output/a/b' returned nothing (undefined)."
        )
    );
    let def = machine(json!({"S": {"Type": "Pass", "Output": "{% $nope(1) %}", "End": true}}));
    let cause = run(def, json!({})).cause.unwrap_or_default();
    assert!(cause.ends_with("threw an error during evaluation. T1006: Attempted to invoke a non-function"), "{cause}");
}

#[test]
fn query_evaluation_errors_can_be_caught_and_retried() {
    let def = machine(json!({
        "S": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "Next": "Done",
              "Output": "{% $states.result.missing %}",
              "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Done", "Output": "caught"}]},
        "Done": {"Type": "Succeed"}
    }));
    let mut inv = FnTasks { f: echo_task(), calls: vec![] };
    assert_eq!(run_with(def, json!({}), &mut inv).output, Some(json!("caught")));
}

#[test]
fn a_runaway_expression_is_stopped_by_the_evaluation_budget() {
    // Tail recursion runs in constant stack: only the step budget ends it.
    let def = machine(json!({"S": {"Type": "Pass", "End": true,
        "Output": "{% ($loop := function($n){ $loop($n + 1) }; $loop(0)) %}"}}));
    let r = run(def, json!({}));
    assert_eq!(r.error.as_deref(), Some("States.QueryEvaluationError"));
    assert!(r.cause.unwrap_or_default().contains("U1001"));
    // Deep non-tail recursion hits the depth limit, not the thread's stack.
    let def = machine(json!({"S": {"Type": "Pass", "End": true,
        "Output": "{% ($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000)) %}"}}));
    assert!(run(def, json!({})).cause.unwrap_or_default().contains("U1001"));
}

#[test]
fn step_functions_functions() {
    let def = machine(json!({"S": {"Type": "Pass", "End": true, "Output": {
        "parts": "{% $partition([1,2,3,4,5], 2) %}",
        "range": "{% $range(0, 10, 5) %}",
        "hash": "{% $hash('abc', 'SHA-256') %}",
        "parsed": "{% $parse('{\"a\": [1]}') %}",
        "uuid": "{% $length($uuid()) %}",
        "seeded": "{% $random(7) = $random(7) %}"
    }}}));
    let out = output(def, json!({}));
    assert_eq!(out["parts"], json!([[1, 2], [3, 4], [5]]));
    assert_eq!(out["range"], json!([0, 5, 10]));
    assert_eq!(out["hash"], json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_eq!(out["parsed"], json!({"a": [1]}));
    assert_eq!(out["uuid"], json!(36));
    assert_eq!(out["seeded"], json!(true));
}

#[test]
fn mixed_machines_run_jsonpath_and_jsonata_states_side_by_side() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Parameters": {"v.$": "$.n"}, "Assign": {"kept.$": "$.v"}, "Next": "J"},
        "J": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"v": "{% $states.input.v + $kept %}"}, "End": true}
    }});
    assert_eq!(output(def, json!({"n": 4})), json!({"v": 8}));
}

#[test]
fn jsonata_states_refuse_jsonpath_fields_and_bad_expressions() {
    let bad = [
        json!({"S": {"Type": "Pass", "Parameters": {"a": 1}, "End": true}}),
        json!({"S": {"Type": "Pass", "OutputPath": "$.a", "End": true}}),
        json!({"S": {"Type": "Pass", "Output": "{% $states.input.( %}", "End": true}}),
        json!({"S": {"Type": "Pass", "Assign": {"states": 1}, "End": true}}),
        json!({"S": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "S"}]}}),
    ];
    for states in bad {
        assert!(expressway_engine::compile(&machine(states.clone()), WorkflowType::Express).is_err(), "{states}");
    }
    // A JSONPath state inside a JSONata machine is refused too.
    let def = machine(json!({"S": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}));
    assert!(expressway_engine::compile(&def, WorkflowType::Express).is_err());
}

/// Arrays read from the state's input behave as arrays JSONata builds, as
/// in jsonata-js 2.x (the expected values are its results): a predicate that
/// names positions keeps the items at them (it had been taken as a truthy
/// value, keeping every item), `$lookup` and `$keys` flatten and merge them,
/// and `$spread` keeps what is not an object.
#[test]
fn input_arrays_are_read_as_jsonata_js_reads_them() {
    let input = json!({"objs": [{"a": 1, "c": [1, 2]}, {"a": 2, "c": [3]}, {"a": 3}], "arr": [1, 2],
        "nested": [{"a": 1}, [{"b": 2}]]});
    let cases = [
        ("$states.input.objs[$states.input.arr].a", json!([2, 3])),
        ("$count($states.input.objs[c])", json!(0)),
        ("$lookup($states.input.objs, 'c')", json!([1, 2, 3])),
        ("$keys($states.input.nested)", json!(["a", "b"])),
        ("$spread([1, {'a': 1}])", json!([1, {"a": 1}])),
        ("$spread($states.input.arr)", json!([1, 2])),
        ("$spread([[1, {'x': 2}], 3])", json!([1, {"x": 2}, 3])),
        ("$exists($spread([]))", json!(false)),
    ];
    for (expr, want) in cases {
        let def = machine(json!({"S": {"Type": "Pass", "End": true, "Output": format!("{{% {expr} %}}")}}));
        assert_eq!(output(def, input.clone()), want, "{expr}");
    }
}

/// Regex matches and a few built-ins as jsonata-js 2.x gives them (the
/// expected values are its results): a regex called as a function, and the
/// object `$replace` hands a function, carry `start` and `end`; a group that
/// took no part is `null` (it had been `""`); `$spread` of an array is an
/// array; `$parseInteger` reads a sign as `parseInt` does.
#[test]
fn regex_matches_and_built_ins_keep_jsonata_js_shapes() {
    let cases = [
        ("/b/('abc')", json!({"match": "b", "start": 1, "end": 2, "groups": []})),
        ("$match('abc', /(x)|(b)/).groups", json!([null, "b"])),
        ("$replace('abc', /b/, function($m){ $string($m.start) & $string($m.end) })", json!("a12c")),
        ("$spread([3])", json!([3])),
        ("$spread({'a': 1})", json!({"a": 1})),
        ("$parseInteger('-12', '0')", json!(-12)),
        ("$parseInteger('-1,234', '#,##0')", json!(-1234)),
    ];
    for (expr, want) in cases {
        let def = machine(json!({"S": {"Type": "Pass", "End": true, "Output": format!("{{% {expr} %}}")}}));
        assert_eq!(output(def, json!({})), want, "{expr}");
    }
}

/// A user function that is not tail-recursive recurses as deep as in
/// jsonata-js (3,000 calls; ~130 had overflowed the evaluator's depth),
/// on a thread of the default 2 MiB stack; endless recursion is still U1001.
#[test]
fn deep_recursion_runs_to_jsonata_js_depths_and_endless_recursion_stops() {
    let run_on_small_stack = |expr: &'static str| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let def = machine(json!({"S": {"Type": "Pass", "End": true, "Output": format!("{{% {expr} %}}")}}));
                run(def, json!({}))
            })
            .expect("thread")
            .join()
            .expect("no stack overflow")
    };
    let deep = run_on_small_stack("($f := function($n){$n = 0 ? 0 : 1 + $f($n-1)}; $f(3000))");
    assert_eq!(deep.output, Some(json!(3000)), "{deep:?}");
    let endless = run_on_small_stack("($f := function($n){1 + $f($n)}; $f(1))");
    assert_eq!(endless.error.as_deref(), Some("States.QueryEvaluationError"));
    assert!(endless.cause.as_deref().unwrap_or("").contains("U1001"), "{endless:?}");
    // `$eval` parses its text from deep in a recursion (a 199-level
    // expression wants ~800 KiB of stack for its parse).
    let deep_eval = run_on_small_stack(
        "($f := function($n){$n = 0 ? $eval($pad('', 199, '(') & '1' & $pad('', 199, ')')) : $f($n-1)}; $f(2900))",
    );
    assert_eq!(deep_eval.output, Some(json!(1)), "{deep_eval:?}");
    // A function chained to itself in a loop nests without evaluating a
    // node; calling (or dropping) 300,000 levels had overflowed the stack.
    let chained = run_on_small_stack(
        "($c := function($f, $n){ $n = 0 ? $f : $c($f ~> $string, $n - 1) }; $c($string, 1500)('x'))",
    );
    assert!(chained.cause.as_deref().unwrap_or("").contains("more than 1000 nested"), "{chained:?}");
    // A loop at the edge of a stack segment moves to a new one once, not
    // per item: at some depth each of 3,000 items' evaluations had mapped a
    // segment of its own and spent the step budget.
    for depth in 0..400 {
        let expr = format!(
            "($f := function($n){{ $n = 0 ? $count($map([1..3000], function($x){{ $x }})) : 1 + $f($n - 1) }}; $f({depth}))"
        );
        let edge = run_on_small_stack(Box::leak(expr.into_boxed_str()));
        assert_eq!(edge.output, Some(json!(depth + 3000)), "at depth {depth}: {edge:?}");
    }
    // Functions nested through what no depth check sees into — a partial's
    // array or object argument, a lambda's input — 100,000 deep: dropping
    // them had recursed once a level and aborted the process.
    for nest in ["$p([$a], ?)", "$p({'g': $a}, ?)", "[$a].(function(){ 1 })"] {
        let expr =
            format!("( $p := function($g, $x){{ 1 }}; $c := $reduce([0..100000], function($a, $i){{ {nest} }}); 7 )");
        let nested = run_on_small_stack(Box::leak(expr.into_boxed_str()));
        assert_eq!(nested.output, Some(json!(7)), "{nest}: {nested:?}");
    }
}

/// `$states` itself holds the context object beside the input (AWS's
/// catchers that output `{% $states %}` show `input`, `context` and
/// `errorOutput`); a variable whose name starts with `states` is not it.
#[test]
fn states_as_a_whole_holds_the_context() {
    let def = machine(json!({"S": {"Type": "Pass", "End": true, "Output": "{% $states %}"}}));
    let out = output(def, json!({"a": 1}));
    assert_eq!(out["input"], json!({"a": 1}));
    assert_eq!(out["context"]["State"]["Name"], json!("S"), "{out}");
    use expressway_engine::asl::ContextUse;
    assert_eq!(ContextUse::of("$states.input.a"), ContextUse::None);
    assert_eq!(ContextUse::of("$statesOld + $states.result"), ContextUse::None);
    assert_eq!(ContextUse::of("$keys($states)"), ContextUse::All);
    assert_eq!(ContextUse::of("$states.context.Map.Item.Value"), ContextUse::MapItem);
}
