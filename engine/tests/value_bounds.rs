//! Every value an execution builds keeps AWS's 256 KiB payload limit and a
//! nesting depth of `bounds::MAX_DEPTH`; every function that builds a string
//! or an array refuses a huge one before allocating it. Each hostile input
//! fails with its documented error, and a neighbouring normal input still
//! works. Tests that could overflow run on a 2 MiB stack, a shard's.

mod support;
use expressway_engine::bounds::MAX_DEPTH;
use expressway_engine::jsonata::{Environment, Expression};
use expressway_engine::{Status, TaskOutcome, value};
use serde_json::{Value, json};
use support::*;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(2 << 20).spawn(f).unwrap().join().unwrap()
}

/// A machine that applies `state` (which must go to "Loop") `n` times.
fn looping(state: Value, n: u64) -> Value {
    let mut state = state;
    state["Next"] = json!("Loop");
    json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Loop"},
        "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": n, "Next": "Done"}],
                 "Default": "Grow"},
        "Grow": state,
        "Done": {"Type": "Succeed"}}})
}

fn failed_with(r: &Res, error: &str) -> String {
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert_eq!(r.error.as_deref(), Some(error), "{:?}", r.cause);
    r.cause.clone().unwrap_or_default()
}

#[test]
fn a_pass_loop_nesting_its_input_fails_at_the_depth_bound_without_overflowing() {
    // Each turn wraps the input one level deeper: tiny in bytes.
    let grow = json!({"Type": "Pass", "Parameters": {"a.$": "$", "i.$": "States.MathAdd($.i, 1)"}});
    let (deep, shallow) =
        on_small_stack(move || (run(looping(grow.clone(), 100_000), json!({})), run(looping(grow, 10), json!({}))));
    let cause = failed_with(&deep, "States.DataLimitExceeded");
    assert!(
        cause.contains("'Grow'") && cause.contains(&format!("nested deeper than the maximum of {MAX_DEPTH} levels")),
        "{cause}"
    );
    assert_eq!(shallow.status, Status::Succeeded, "{shallow:?}");
}

#[test]
fn a_template_doubling_its_input_fails_at_the_payload_limit() {
    let grow = json!({"Type": "Pass", "Parameters": {"a.$": "$", "b.$": "$", "i.$": "States.MathAdd($.i, 1)"}});
    let r = run(looping(grow.clone(), 1_000), json!({"s": "x".repeat(1000)}));
    let cause = failed_with(&r, "States.DataLimitExceeded");
    assert_eq!(
        cause,
        "The state/task 'Grow' returned a result with a size exceeding the maximum number of bytes service limit."
    );
    assert_eq!(run(looping(grow, 3), json!({"s": "x".repeat(1000)})).status, Status::Succeeded);
}

/// A definition may hold a constant past the payload limit (its own bound
/// is 1 MB): as the state's output it fails the state, as AWS recorded
/// (localstack's `test_start_large_input`: a Pass `Result` of 257 KiB);
/// the same constant as Parameters, a JSONata Output or written into the
/// input fails alike; dropped by `ResultPath: null` it costs nothing; one
/// that fits is the output.
#[test]
fn a_constant_past_the_payload_limit_fails_where_it_becomes_an_output() {
    let big = json!({"Arg1": "a".repeat(263_168)});
    let pass = |fields: Value, jsonata: bool| {
        let mut state = json!({"Type": "Pass", "Next": "After"});
        for (k, v) in fields.as_object().unwrap() {
            state[k] = v.clone();
        }
        let mut def = json!({"StartAt": "State_1", "States": {"State_1": state, "After": {"Type": "Succeed"}}});
        if jsonata {
            def["QueryLanguage"] = json!("JSONata");
        }
        run(def, json!({}))
    };
    let limit =
        "The state/task 'State_1' returned a result with a size exceeding the maximum number of bytes service limit.";
    for (fields, jsonata) in [
        (json!({"Result": big}), false),
        (json!({"Result": big, "ResultPath": "$.x"}), false),
        (json!({"Parameters": big}), false),
        (json!({"Output": big}), true),
    ] {
        let keys: Vec<&String> = fields.as_object().unwrap().keys().collect();
        let r = pass(fields.clone(), jsonata);
        // Not `{r:?}`: its output would be the whole constant.
        let got = (r.status, r.error.as_deref(), r.cause.as_deref());
        assert_eq!(got, (Status::Failed, Some("States.DataLimitExceeded"), Some(limit)), "{keys:?}");
    }
    let dropped = pass(json!({"Result": big, "ResultPath": null}), false);
    assert!(dropped.status == Status::Succeeded && dropped.output == Some(json!({})), "{:?}", dropped.error);
    let small = pass(json!({"Result": {"Arg1": "a"}}), false);
    assert_eq!(small.output, Some(json!({"Arg1": "a"})));
}

#[test]
fn a_jsonata_assign_doubling_a_variable_fails_at_the_payload_limit() {
    let def = |n: u64| {
        json!({"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
            "Init": {"Type": "Pass", "Assign": {"v": "{% $pad('', 1000, 'x') %}", "i": 0}, "Next": "Loop"},
            "Loop": {"Type": "Choice", "Choices": [{"Condition": format!("{{% $i >= {n} %}}"), "Next": "Done"}],
                     "Default": "Grow"},
            "Grow": {"Type": "Pass", "Assign": {"v": "{% {'a': $v, 'b': $v} %}", "i": "{% $i + 1 %}"}, "Next": "Loop"},
            "Done": {"Type": "Pass", "Output": "{% $i %}", "End": true}}})
    };
    let cause = failed_with(&run(def(1_000), json!({})), "States.DataLimitExceeded");
    assert!(cause.contains("'Grow'"), "{cause}");
    assert_eq!(output(def(3), json!({})), json!(3));
}

#[test]
fn a_result_path_that_takes_the_input_over_the_limit_fails_and_catch_sees_the_input() {
    let big = "y".repeat(150 * 1024);
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "ResultPath": "$.r",
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Pass", "End": true}}});
    let answer = Value::String(big.clone());
    let mut tasks = FnTasks { f: move |_: &_| TaskOutcome::Succeeded((&answer).into()), calls: Vec::new() };
    let out = run_with(def.clone(), json!({"keep": big.clone()}), &mut tasks);
    assert_eq!(out.status, Status::Succeeded, "{out:?}");
    let out = out.output.unwrap();
    assert_eq!(out["err"]["Error"], json!("States.DataLimitExceeded"));
    assert_eq!(out["keep"].as_str().map(str::len), Some(big.len()), "the state's input is kept for Catch");
    assert!(out.get("r").is_none());
    // A small input takes the same result.
    let answer = Value::String(big.clone());
    let mut tasks = FnTasks { f: move |_: &_| TaskOutcome::Succeeded((&answer).into()), calls: Vec::new() };
    let ok = run_with(def, json!({"keep": "k"}), &mut tasks);
    assert_eq!(ok.output.unwrap()["r"].as_str().map(str::len), Some(big.len()));
}

/// AWS names an integration by its resource type in the cause (recorded:
/// 'lambda' for `lambda:invoke`, the ARN for a bare function), as in its
/// history's `resourceType`: `aws-sdk:s3`, `states`, `dynamodb`.
#[test]
fn a_task_result_over_the_limit_names_the_integrations_resource_type() {
    let big = "y".repeat(300 * 1024);
    for (resource, named) in [
        ("arn:aws:states:::lambda:invoke", "lambda"),
        ("arn:aws:lambda:us-east-1:1:function:f", "arn:aws:lambda:us-east-1:1:function:f"),
        ("arn:aws:states:::aws-sdk:s3:getObject", "aws-sdk:s3"),
        ("arn:aws:states:::states:startExecution", "states"),
        ("arn:aws:states:::dynamodb:getItem", "dynamodb"),
    ] {
        let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": true}}});
        let answer = Value::String(big.clone());
        let mut tasks = FnTasks { f: move |_: &_| TaskOutcome::Succeeded((&answer).into()), calls: Vec::new() };
        let out = run_with(def, json!({}), &mut tasks);
        let expected = format!(
            "The state/task '{named}' returned a result with a size exceeding the maximum number of bytes service limit."
        );
        assert_eq!((out.error.as_deref(), out.cause.as_deref()), (Some("States.DataLimitExceeded"), Some(&*expected)));
    }
}

#[test]
fn map_results_over_the_limit_fail_the_map() {
    let def = |n: usize| {
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"s.$": "$.s", "t.$": "$.s"}, "End": true}}},
            "End": true}}})
        .pipe(|d| (d, json!({"items": vec![json!({"s": "z".repeat(60 * 1024)}); n]})))
    };
    let (d, input) = def(3);
    let cause = failed_with(&run(d, input), "States.DataLimitExceeded");
    assert!(cause.contains("'M'"), "{cause}");
    let (d, input) = def(1);
    assert_eq!(run(d, input).status, Status::Succeeded);
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl Pipe for Value {}

fn nest(n: usize) -> String {
    "[".repeat(n) + &"]".repeat(n)
}

#[test]
fn payloads_and_definitions_nested_too_deep_are_refused_when_read() {
    let (at, over, huge, def) = on_small_stack(|| {
        (
            value::from_str(&nest(MAX_DEPTH)).is_ok(),
            value::from_str(&nest(MAX_DEPTH + 1)).is_err(),
            value::from_str(&nest(1_000_000)).is_err(),
            expressway_engine::json::parse_strict(&nest(1_000_000)).is_err(),
        )
    });
    assert_eq!((at, over, huge, def), (true, true, true, true));
}

#[test]
fn a_task_result_nested_too_deep_is_refused() {
    let mut deep = Value::Null;
    for _ in 0..MAX_DEPTH + 1 {
        deep = json!([deep]);
    }
    let def = single(json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}));
    let answer: value::Value = (&deep).into();
    let mut tasks = FnTasks { f: move |_: &_| TaskOutcome::Succeeded(answer.clone()), calls: Vec::new() };
    let r = run_with(def, json!({}), &mut tasks);
    failed_with(&r, "States.DataLimitExceeded");
}

fn jsonata_state(expr: &str) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {
        "S": {"Type": "Pass", "Output": format!("{{% {expr} %}}"), "End": true}}})
}

/// The JSONata error code a state's failure cites.
fn jsonata_code(expr: &str) -> String {
    let r = run(jsonata_state(expr), json!({}));
    let cause = failed_with(&r, "States.QueryEvaluationError");
    let after = cause.split("threw an error during evaluation. ").nth(1).unwrap_or(&cause);
    after.split(':').next().unwrap_or_default().to_string()
}

/// Built-ins charge the evaluation's step budget for the items they copy
/// or compare and the text they write, so that no single step runs or
/// allocates without bound: each hostile expression here ran for seconds
/// to minutes or held gigabytes before. What fits a payload still runs.
#[test]
fn jsonata_built_ins_charge_their_work_to_the_step_budget() {
    let hostile = [
        "$count($distinct([1..200000]))",
        "$count($zip([1..10000000], [1..10000000]))",
        "$count($sort([1..10000000]))",
        "$count([[1..10000000], [1..10000000], [1..10000000], [1..10000000], [1..10000000]])",
        "$count($map([1..100000], function($v){ $length($string([1..2000])) }))",
        // String built-ins and `&` charge the text they read and write:
        // 10^5 substrings of a 100 KB string scanned 10 GB, 10^4 upper-cased
        // copies held a gigabyte.
        "($s := $pad('', 100000, 'x'); $count([1..100000].$substring($s, 5, 3)))",
        "($s := $pad('', 100000, 'x'); $count([1..10000].$uppercase($s)))",
        "($s := $pad('', 100000, 'x'); $count([1..1000].$split($s, '')))",
        "($s := $pad('', 100000, 'x'); $count([1..100000].($s & 'y')))",
        // Each match object is a step: 20 × 200,000 matches (and their
        // indexes counted from the start each time: 7 minutes before).
        "($s := $pad('', 200000, 'a'); $count([1..20].$match($s, /a/)))",
        // A search for the next match may scan to the end (`a*x` looks for
        // an `x` past every `a`): quadratic, a minute for 250 KB before.
        "$count($split($pad('', 250000, 'a'), /a*x|a/))",
        "$length($replace($pad('', 250000, 'a'), /a*x|a/, 'b'))",
        "($s := $pad('', 100000, ' '); $count([1..100000].$trim($s)))",
        // `**` unpacks a node per item it yields: over a chain of 300
        // objects, `**.a.**.a.**` yields 4.5 M (~900 MB held before).
        "($d := $reduce([1..300], function($v, $i){ {'a': $v} }, 0); $count($d.**.a.**.a.**))",
    ];
    for expr in hostile {
        assert_eq!(jsonata_code(expr), "U1001", "{expr}");
    }
    let fine = [
        ("$count([1..10000000])", json!(10_000_000)),
        ("$count($distinct([1..2000]))", json!(2000)),
        ("$count($sort([1..100000]))", json!(100_000)),
        ("$count($zip([1..100000], [1..100000]))", json!(100_000)),
        ("$count($keys([1..30000].{$string($): 1}))", json!(30000)),
        ("$count($match($pad('', 20000, 'a'), /a/))", json!(20_000)),
        ("$match('😀a😀éa', /a/).index", json!([2, 6])),
        ("$count($split($join([1..20000].($string($) & 'x'), ','), /,/))", json!(20_000)),
        ("$replace('😀a😀éa', /a/, function($m){ $string($m.start) })", json!("😀2😀é6")),
        ("($d := $reduce([1..300], function($v, $i){ {'a': $v} }, 0); $count($d.**))", json!(301)),
        ("($s := $pad('', 100000, 'x'); $length($substring($s, 5)))", json!(99995)),
        ("($s := $pad('', 1000, 'x'); $count([1..1000].$uppercase($s)))", json!(1000)),
    ];
    for (expr, want) in fine {
        assert_eq!(output(jsonata_state(expr), json!({})), want, "{expr}");
    }
}

#[test]
fn jsonata_functions_refuse_huge_results_before_allocating_them() {
    let hostile = [
        ("$pad('x', 1e15)", "U1002"),
        ("$pad('x', -1e12, 'ab')", "U1002"),
        ("[1..100000000000]", "D2014"),
        ("$count([1..100000000000])", "D2014"),
        ("($f := function($s, $n){ $n = 0 ? $s : $f($s & $s, $n - 1) }; $f('ab', 64))", "U1002"),
        ("$join([1..40].$pad('', 10000, 'j'))", "U1002"),
        ("$replace($pad('', 1000, 'a'), 'a', $pad('', 1000, 'b'))", "U1002"),
        // The copies' work passes the step budget before the item limit.
        ("$reduce([1..40], function($a, $b){ $append($a, $a) }, [1])", "U1001"),
        ("$reduce([1..40], function($a, $b){ [$a, $a] }, [1])", "U1002"),
        ("$fromMillis(0, '[Y,1000000000]')", "U1002"),
        ("$string([1..60000].{'k': $pad('', 10, 'v')})", "U1002"),
        // An `M` per thousand: 10^18 would be a petabyte of numeral.
        ("$formatInteger(1e18, 'I')", "U1002"),
        ("$formatInteger(1e9, 'i')", "U1002"),
        // Tuples of a positional or focus binding cost steps as they are
        // built: 10 M of them took 2.8 GB and succeeded.
        ("$count([1..10000000]#$i)", "U1001"),
        ("[1..10000000]#$i.[$i]", "U1001"),
    ];
    for (expr, code) in hostile {
        assert_eq!(jsonata_code(expr), code, "{expr}");
    }
    let fine = [
        ("$pad('x', 3)", json!("x  ")),
        ("$count([1..1000000])", json!(1_000_000)),
        ("$count([1..100000]#$i[$i % 2 = 0])", json!(50_000)),
        ("$length($join([1..10].$pad('', 1000, 'j')))", json!(10_000)),
        ("$formatInteger(7, '000')", json!("007")),
        ("$formatInteger(1999, 'I')", json!("MCMXCIX")),
        ("$length($formatInteger(100000, 'i'))", json!(100)),
        ("$fromMillis(0, '[Y,4]')", json!("1970")),
        ("$count($reduce([1..10], function($a, $b){ $append($a, $a) }, [1]))", json!(1024)),
    ];
    for (expr, want) in fine {
        assert_eq!(output(jsonata_state(expr), json!({})), want, "{expr}");
    }
}

#[test]
fn jsonata_arithmetic_out_of_range_is_d1001() {
    assert_eq!(jsonata_code("1/(10e300 * 10e100)"), "D1001");
    assert_eq!(jsonata_code("$string({'inf': 1/0})"), "D1001");
    assert_eq!(output(jsonata_state("10e300 * 10"), json!({})), json!(1e302));
}

#[test]
fn a_jsonata_value_built_deeper_than_the_bound_fails_without_overflowing() {
    let r = on_small_stack(|| {
        // A tail call: the evaluator's depth stays flat while the value deepens.
        let deep = "($f := function($n, $acc){ $n = 0 ? $acc : $f($n - 1, {'a': $acc}) }; $f(20000, 1))";
        let shallow = "($f := function($n, $acc){ $n = 0 ? $acc : $f($n - 1, {'a': $acc}) }; $f(3, 1))";
        (jsonata_code(deep), output(jsonata_state(shallow), json!({})))
    });
    assert_eq!(r.0, "U1002");
    assert_eq!(r.1, json!({"a": {"a": {"a": 1}}}));
}

#[test]
fn deep_jsonata_recursion_is_u1001_on_a_shard_stack() {
    let (in_state, default_limits, shallow) = on_small_stack(|| {
        let expr = "($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))";
        let in_state = jsonata_code(expr);
        let default_limits = match Expression::parse(expr).unwrap().evaluate(None, Environment::default()) {
            Err(e) => e.code.to_string(),
            Ok(v) => format!("{v:?}"),
        };
        let shallow = output(jsonata_state("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100))"), json!({}));
        (in_state, default_limits, shallow)
    });
    assert_eq!(in_state, "U1001");
    assert_eq!(default_limits, "U1001");
    assert_eq!(shallow, json!(100));
}

#[test]
fn intrinsics_refuse_huge_results_and_overflowing_sums() {
    let param = |call: &str| single(json!({"Type": "Pass", "Parameters": {"x.$": call}, "End": true}));
    let big = json!({"s": "q".repeat(100 * 1024)});
    for call in [
        "States.Format('{}{}{}', $.s, $.s, $.s)",
        "States.Array($.s, $.s, $.s)",
        "States.ArrayRange(0, 100000000000, 1)",
        "States.MathAdd(9223372036854775807, 1)",
        "States.JsonToString(States.Array($.s, $.s, $.s))",
    ] {
        let r = run(param(call), big.clone());
        failed_with(&r, "States.IntrinsicFailure");
    }
    assert_eq!(output(param("States.MathAdd(2147483647, 1)"), json!({})), json!({"x": 2147483648i64}));
    assert_eq!(output(param("States.Format('{}{}', $.s, $.s)"), json!({"s": "ab"})), json!({"x": "abab"}));
}

/// Run `def` on `input` with `opts`: the result and how many Pass states
/// were entered (how far the iterations got).
fn run_counting(def: Value, input: Value, opts: &expressway_engine::driver::RunOptions) -> (Res, u32) {
    let program = expressway_engine::compile(&def, expressway_engine::WorkflowType::Express).expect("valid");
    let mut effects = expressway_engine::driver::Offline;
    let r = expressway_engine::execute(&program, info(), value::Value::from(input), &mut effects, opts);
    let passes = r.entered_by_type[expressway_engine::asl::StateType::Pass.index()];
    (res(r), passes)
}

/// A Map whose iterations each return most of a payload fails with
/// States.DataLimitExceeded as soon as its results cannot fit, not after
/// every iteration has run and held its result: 3,000 iterations of 100 KB
/// would hold 300 MB. Inline (Pass only) and forked (a Wait in the
/// iteration) alike.
#[test]
fn a_maps_results_stop_gathering_once_they_cannot_fit_a_payload() {
    let big = "x".repeat(100_000);
    let input = json!({"items": (0..3000).collect::<Vec<u32>>(), "big": big});
    for wait in [false, true] {
        let mut states =
            json!({"Copy": {"Type": "Pass", "Parameters": {"s.$": "$$.Execution.Input.big"}, "End": true}});
        let start = if wait {
            states["Pause"] = json!({"Type": "Wait", "Seconds": 0, "Next": "Copy"});
            "Pause"
        } else {
            "Copy"
        };
        let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": start, "States": states}, "End": true}}});
        let (r, passes) = run_counting(def, input.clone(), &Default::default());
        let cause = failed_with(&r, "States.DataLimitExceeded");
        assert!(cause.contains("'M'"), "{cause}");
        assert!(passes <= 3, "wait={wait}: {passes} iterations ran; the third result is past the limit");
    }
    // A failure before the limit still decides, as it did (and on AWS):
    // a Catch on it fires. For a Map's iteration and a Parallel's branch.
    let failing_first = json!({"Choice": {"Type": "Choice",
            "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Bad"}], "Default": "Copy"},
        "Bad": {"Type": "Fail", "Error": "ItemBad"},
        "Copy": {"Type": "Pass", "Parameters": {"s.$": "$$.Execution.Input.big"}, "End": true}});
    let caught = json!([{"ErrorEquals": ["ItemBad"], "Next": "Caught"}]);
    let map = json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemsPath": "$.items", "Catch": caught,
              "ItemProcessor": {"StartAt": "Choice", "States": failing_first.clone()}, "End": true},
        "Caught": {"Type": "Pass", "Result": "caught", "End": true}}});
    assert_eq!(output(map, input.clone()), json!("caught"));
    let copy = |n: u32| {
        json!({"StartAt": format!("Copy{n}"), "States": {format!("Copy{n}"):
            {"Type": "Pass", "Parameters": {"s.$": "$$.Execution.Input.big"}, "End": true}}})
    };
    let parallel = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Catch": caught,
              "Branches": [{"StartAt": "Bad0", "States": {"Bad0": {"Type": "Fail", "Error": "ItemBad"}}},
                           copy(1), copy(2), copy(3)],
              "End": true},
        "Caught": {"Type": "Pass", "Result": "caught", "End": true}}});
    assert_eq!(output(parallel, input.clone()), json!("caught"));
    // Iteration inputs built by an ItemSelector count against the
    // execution's work as they are built (all before the first iteration):
    // 3,000 copies of 100 KB stop as timed out, not 300 MB later.
    let selecting = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemSelector": {"s.$": "States.JsonToString($$.Execution.Input.big)"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": true}}},
        "End": true}}});
    let (r, passes) = run_counting(selecting, input.clone(), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert_eq!(passes, 0, "no iteration ran");
    // Small results are gathered as before.
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    assert_eq!(output(def, json!({"items": [1, 2, 3]})), json!([1, 2, 3]));
}

/// Inline iterations count against the execution's transitions cap: nested
/// Maps of 100 × 100 × 100 Pass states (results dropped, so small) stop at
/// the cap as timed out instead of running a million transitions inside one
/// step.
#[test]
fn nested_inline_maps_stop_at_the_transitions_cap() {
    let level = |name: &str, inner: Value| {
        json!({"StartAt": name, "States": {name: {"Type": "Map", "ItemsPath": "$$.Execution.Input.a",
            "ItemProcessor": inner, "ResultPath": null, "End": true}}})
    };
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": true}}});
    let def = level("L1", level("L2", level("L3", pass)));
    let input = json!({"a": (0..100).collect::<Vec<u32>>()});
    let opts = expressway_engine::driver::RunOptions { max_transitions: Some(10_000), ..Default::default() };
    let (r, passes) = run_counting(def, input, &opts);
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(passes < 20_000, "{passes} Pass states ran past a cap of 10,000 transitions");
}

/// An execution's JSONata work together is bounded, not only each
/// evaluation's: a loop of states, each well within its own step budget,
/// is stopped as timed out once the execution has spent
/// `WORK_PER_EXECUTION`, instead of holding its thread (and a
/// shard's shutdown) for as long as the loop goes on.
#[test]
fn a_loop_of_jsonata_states_stops_at_the_executions_work() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "Work", "States": {
        "Work": {"Type": "Pass", "Output": "{% {'n': $states.input.n + 1, 'w': $count($sort([1..20000]))} %}",
                 "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n < 1000000 %}", "Next": "Work"}],
                  "Default": "Done"},
        "Done": {"Type": "Succeed"}}});
    let (r, passes) = run_counting(def, json!({"n": 0}), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(r.cause.as_deref().is_some_and(|c| c.contains("more work than Expressway allows")), "{r:?}");
    assert!(passes < 2_000, "{passes} states of ~40,000 steps each ran past the execution's 20 M");
}

/// Intrinsic functions count against the execution's work too, a step per
/// 16 bytes they read or write: a loop hashing a 200 KB string (each call
/// within every bound) is stopped as timed out after ~320 MB of hashing,
/// not after ten million transitions' worth.
#[test]
fn a_loop_of_intrinsics_over_a_large_string_stops_at_the_executions_work() {
    let grow = json!({"Type": "Pass", "Parameters": {
        "i.$": "States.MathAdd($.i, 1)",
        "h.$": "States.Hash($$.Execution.Input.big, 'MD5')"}});
    let input = json!({"big": "x".repeat(200_000)});
    let (r, passes) = run_counting(looping(grow, 1_000_000), input, &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(passes < 3_000, "{passes} hashes of 200 KB ran");
}

/// Intrinsics that compare items charge each comparison, and a Choice its
/// strings: each loop here is stopped as timed out by the execution's
/// work, where before `ArrayContains` and a string Choice ran uncharged
/// to the transitions cap (hours), `Hash` of an object serialized it for
/// free, and `ArrayUnique` of 15,000 objects compared 110 M pairs a pass.
#[test]
fn comparing_intrinsics_and_string_choices_spend_the_executions_work() {
    let numbers: Vec<u64> = (0..30_000).collect();
    let objects: Vec<Value> = (0..15_000).map(|i| json!({"a": i})).collect();
    let loops = [
        ("States.ArrayContains($$.Execution.Input.items, -1)", json!(numbers), 10_000),
        ("States.Hash($$.Execution.Input.items, 'MD5')", json!(objects), 3_000),
        ("States.ArrayUnique($$.Execution.Input.items)", json!(objects), 3),
    ];
    for (call, items, most) in loops {
        let grow = json!({"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "x.$": call}});
        let (r, passes) = run_counting(looping(grow, 1_000_000), json!({"items": items}), &Default::default());
        assert_eq!(r.status, Status::TimedOut, "{call}: {r:?}");
        assert!(passes <= most, "{call}: {passes} passes ran, at most {most} expected");
    }
    let choice = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringLessThanPath": "$.b", "Next": "Done"}],
              "Default": "Again"},
        "Again": {"Type": "Pass", "Next": "C"},
        "Done": {"Type": "Succeed"}}});
    let same = "x".repeat(200_000);
    let (r, passes) = run_counting(choice, json!({"a": same, "b": same}), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(passes < 1_000, "{passes} comparisons of 200 KB strings ran");
}

/// Measuring a selected value whose size is not known yet spends the
/// execution's work: nested Maps whose ItemSelector copies the execution's
/// 3,000-item input into every iteration walked it each time for free (the
/// transitions cap let that run for minutes); now the execution is timed
/// out after some tens of thousands of iterations.
#[test]
fn measuring_selected_values_spends_the_executions_work() {
    let map = |inner: (&str, Value)| {
        json!({"Type": "Map", "ItemsPath": "$.a", "ItemSelector": {"a.$": "$$.Execution.Input.a"},
               "ItemProcessor": {"StartAt": inner.0, "States": {inner.0: inner.1}},
               "ResultSelector": {"n.$": "States.ArrayLength($)"}, "End": true})
    };
    let pass = ("P", json!({"Type": "Pass", "Result": 1, "End": true}));
    let def = json!({"StartAt": "M1", "States": {"M1": map(("M2", map(("M3", map(pass)))))}});
    let items: Vec<u64> = (0..3_000).collect();
    let (r, passes) = run_counting(def, json!({"a": items}), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(passes < 100_000, "{passes} iterations ran");
}

/// `depth` objects, each under the `a` of the one before.
fn chain_of_a(depth: usize) -> Value {
    let mut v = json!(0);
    for _ in 0..depth {
        v = json!({"a": v});
    }
    v
}

/// A path whose scans multiply the nodes (`$..a..a..a` over a chain of 400
/// visits ~10.7 M) stops at the select bound of 8 M nodes and the execution
/// is timed out, where before its node lists could grow to the execution's
/// whole work (320 M references, gigabytes). Within the bound it runs.
#[test]
fn a_path_multiplying_nodes_stops_at_the_select_bound() {
    let def = |path: &str| {
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass",
        "Parameters": {"n.$": path}, "End": true}}})
    };
    let r = run(def("$..a..a..a.length()"), chain_of_a(400));
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert_eq!(output(def("$..a..a.length()"), chain_of_a(400)), json!({"n": 79_800}));
}

/// `count` items `{"a": i}`, under `items`.
fn numbered_items(count: usize) -> Value {
    json!({"items": (0..count).map(|i| json!({"a": i})).collect::<Vec<_>>()})
}

/// Indefinite JSONPath spends the execution's work too, a step per 16
/// nodes it visits: a filter comparing each of 2,000 items with a path over
/// all of them visits ~4 M nodes, well within every bound each time, and a
/// loop of such states is stopped as timed out, not run to its end.
#[test]
fn a_loop_of_quadratic_jsonpath_filters_stops_at_the_executions_work() {
    let grow = json!({"Type": "Pass", "Parameters": {
        "i.$": "States.MathAdd($.i, 1)",
        "items.$": "$.items",
        "matched.$": "$.items[?(@.a == $.items[-1:].a)]"}});
    let mut input = numbered_items(2_000);
    input["i"] = json!(0);
    // A path over the whole input per item: quadratic.
    let quadratic = json!({"Type": "Pass", "Parameters": {
        "i.$": "States.MathAdd($.i, 1)",
        "items.$": "$.items",
        "matched.$": "$.items[?(@.a == $.items[*].a)]"}});
    let (r, passes) = run_counting(looping(quadratic, 400), input.clone(), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(passes < 200, "{passes} filters of ~4 M nodes each ran past the execution's 20 M steps");
    // A linear filter over the same items runs its 400 passes.
    let (r, passes) = run_counting(looping(grow, 400), input, &Default::default());
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    assert_eq!(passes, 401);
}

/// Filters nested in a filter's operand multiply: over 1,000 items this
/// path visits ~10⁹ nodes in one select. It stops when the execution's
/// work is spent, in that one select, and the execution times out.
#[test]
fn a_single_cubic_jsonpath_stops_within_the_executions_work() {
    let def = json!({"StartAt": "Cubic", "States": {"Cubic": {"Type": "Pass",
        "InputPath": "$.items[?(@.a == $.items[?(@.a == $.items[*].a)].a)]", "End": true}}});
    let (r, _) = run_counting(def, numbered_items(1_000), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
}

/// A field lookup (or a ResultPath write) in an object reads its members
/// one by one, so a wide object's lookups spend the execution's work: a
/// loop reading and writing a field of a 10,000-member object (~10 µs a
/// lookup, 10 M transitions allowed) is stopped as timed out after a few
/// seconds of work, where it would hold its thread for minutes; the same
/// loop over a narrow object runs to its end.
#[test]
fn a_loop_over_a_wide_objects_fields_stops_at_the_executions_work() {
    // Count in `$.n.v`, then copy it to `$.i`: two lookups and a write in
    // the wide object per pass, and one more by the loop's Choice.
    let counting = |limit: u64| {
        let mut def = looping(
            json!({"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.i, 1)"},
                                     "ResultPath": "$.n"}),
            limit,
        );
        def["States"]["Grow"]["Next"] = json!("Copy");
        def["States"]["Copy"] = json!({"Type": "Pass", "InputPath": "$.n.v", "ResultPath": "$.i", "Next": "Loop"});
        def
    };
    let wide = |members: usize| {
        let mut input: serde_json::Map<String, Value> = (0..members).map(|i| (format!("k{i}"), json!(i))).collect();
        input.insert("i".into(), json!(0));
        Value::Object(input)
    };
    let (r, passes) = run_counting(counting(100_000), wide(10_000), &Default::default());
    assert_eq!(r.status, Status::TimedOut, "{r:?}");
    assert!(passes < 150_000, "{passes} of 200,001 passes over a 10,000-member object ran");
    let (r, passes) = run_counting(counting(100_000), wide(50), &Default::default());
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    assert_eq!(passes, 200_001, "Init, then Grow and Copy each time");
}

/// `$formatBase` (JavaScript's `toString(radix)`) and `$formatInteger`
/// (its decimal, letter and word pictures) print whole numbers past i64 as
/// jsonata-js does (a cast had printed 1e19 and 1e20 as 9223372036854775807
/// and 18446744073709551615); the expected texts are jsonata-js 2.x's.
#[test]
fn format_functions_print_numbers_past_i64_as_javascript_does() {
    let cases = [
        ("$formatBase(1e19, 10)", json!("10000000000000000000")),
        ("$formatBase(1e21, 10)", json!("1e+21")),
        ("$formatBase(-1e19, 16)", json!("-8ac7230489e80000")),
        ("$formatBase($power(2, 70), 2)", json!(format!("1{}", "0".repeat(70)))),
        ("$formatBase($power(2, 100), 16)", json!(format!("1{}", "0".repeat(25)))),
        // V8 prints base 10 shortest, and writes 0 for digits past a double's precision.
        ("$formatBase($power(2, 64), 10)", json!("18446744073709552000")),
        ("$formatBase($power(2, 64), 3)", json!("11112220022122120101211020120210122000000")),
        ("$formatBase(255, 16)", json!("ff")),
        // jsonata-js spells in doubles, "trillion" its largest word.
        ("$formatInteger(1e20, 'w')", json!("one hundred million trillion")),
        ("$formatInteger(1234, 'w')", json!("one thousand, two hundred and thirty-four")),
        // Decimal pictures print JavaScript's text, letters follow its doubles.
        ("$formatInteger(1e20, '0')", json!("100000000000000000000")),
        ("$formatInteger($power(2, 64), '#,##0')", json!("18,446,744,073,709,552,000")),
        ("$formatInteger(-1e19, '0')", json!("-10000000000000000000")),
        ("$formatInteger(1e21, '0')", json!("1e+21")),
        ("$formatInteger(1e20, 'a')", json!("angwjirsmasvagw")),
        ("$formatInteger(702, 'A')", json!("ZZ")),
        ("$formatBase(-255.5, 2)", json!("-100000000")), // rounded half to even: -256
    ];
    for (expr, want) in cases {
        assert_eq!(output(jsonata_state(expr), json!({})), want, "{expr}");
    }
}

/// Regex matches as jsonata-js's closure gives them: a next search starts
/// where the last match ended, none follows a match at the end of the
/// string, and an empty match a next search finds is D1004.
#[test]
fn regex_matches_progress_as_in_jsonata_js() {
    for expr in ["$match('aaa', /(?:)/)", "$split('ab', /x*/)", "$match('aab', /a*/)", "$match('ab', /x*/, 1)"] {
        assert_eq!(jsonata_code(expr), "D1004", "{expr}");
    }
    let cases = [
        ("$match('aa', /a*/).match", json!("aa")),
        ("$replace('aa', /a*/, 'b')", json!("b")),
        ("$split('a,b,,c', /,/)", json!(["a", "b", "", "c"])),
        ("$split('a,b,c', /,/, 2)", json!(["a", "b"])),
        ("$match('ab', /$/).index", json!(2)),
        ("$count($match('abcabc', /b/))", json!(2)),
        ("$contains('ab', /x*/)", json!(true)),
        ("$replace('abc', /$/, 'X')", json!("abcX")),
        ("$replace('', /x*/, 'X')", json!("X")),
    ];
    for (expr, want) in cases {
        assert_eq!(output(jsonata_state(expr), json!({})), want, "{expr}");
    }
}
