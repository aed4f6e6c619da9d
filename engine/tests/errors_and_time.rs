//! Retry, Catch, Wait and timeouts on the virtual clock (AWS docs:
//! "Handling errors in Step Functions workflows", "Wait state").

mod support;
use expressway_engine::driver::RunOptions;
use expressway_engine::{Status, TaskCall, TaskOutcome, WorkflowType};
use serde_json::{Value, json};
use support::*;

fn failing_n_times(n: usize) -> impl FnMut(&TaskCall) -> TaskOutcome {
    let mut seen = 0;
    move |_| {
        seen += 1;
        if seen <= n {
            TaskOutcome::Failed { error: "Lambda.ServiceException".into(), cause: Some("boom".into()) }
        } else {
            TaskOutcome::Succeeded(json!({"ok": seen}).into())
        }
    }
}

fn task(retry: Value) -> Value {
    single(json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "Retry": retry, "End": true}))
}

#[test]
fn retry_backs_off_exponentially_on_the_virtual_clock() {
    let mut inv = FnTasks { f: failing_n_times(3), calls: vec![] };
    let r = run_with(
        task(json!([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3}])),
        json!({}),
        &mut inv,
    );
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(inv.calls.len(), 4);
    assert_eq!(r.duration_ms, 1000 + 2000 + 4000);
}

#[test]
fn max_delay_caps_the_backoff() {
    let mut inv = FnTasks { f: failing_n_times(3), calls: vec![] };
    let retry = json!([{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 5, "MaxDelaySeconds": 5}]);
    let r = run_with(task(retry), json!({}), &mut inv);
    assert_eq!(r.duration_ms, 2000 + 5000 + 5000);
}

#[test]
fn full_jitter_never_exceeds_the_backoff() {
    let mut inv = FnTasks { f: failing_n_times(2), calls: vec![] };
    let retry =
        json!([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 2, "JitterStrategy": "FULL"}]);
    let r = run_with(task(retry), json!({}), &mut inv);
    assert_eq!(r.status, Status::Succeeded);
    assert!(r.duration_ms <= 10_000 + 20_000, "{}", r.duration_ms);
}

#[test]
fn max_attempts_zero_never_retries_and_exhaustion_fails_with_the_last_error() {
    let mut inv = FnTasks { f: failing_n_times(10), calls: vec![] };
    let r = run_with(task(json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}])), json!({}), &mut inv);
    assert_eq!(inv.calls.len(), 1);
    assert_eq!((r.error.as_deref(), r.cause.as_deref()), (Some("Lambda.ServiceException"), Some("boom")));
}

#[test]
fn catch_routes_with_error_output_under_result_path() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
              "Catch": [{"ErrorEquals": ["Other"], "Next": "Wrong"}, {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "Handled"}],
              "End": true},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Handled": {"Type": "Pass", "End": true}
    }});
    let mut inv = FnTasks { f: failing_n_times(10), calls: vec![] };
    let r = run_with(def, json!({"in": 1}), &mut inv);
    assert_eq!(r.output, Some(json!({"in": 1, "err": {"Error": "Lambda.ServiceException", "Cause": "boom"}})));
}

#[test]
fn task_failed_does_not_match_timeouts() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "TimeoutSeconds": 5,
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}], "End": true},
        "H": {"Type": "Succeed"}
    }});
    let mut inv = FnTasks {
        f: |c: &TaskCall| {
            assert_eq!(c.timeout_seconds, Some(5));
            TaskOutcome::TimedOut
        },
        calls: vec![],
    };
    let r = run_with(def, json!({}), &mut inv);
    assert_eq!(r.error.as_deref(), Some("States.Timeout"));
}

#[test]
fn fail_state_error_and_cause_from_paths() {
    let def = single(json!({"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('code {}', $.c)"}));
    let r = run(def, json!({"e": "Bad", "c": 7}));
    assert_eq!((r.status, r.error.as_deref(), r.cause.as_deref()), (Status::Failed, Some("Bad"), Some("code 7")));
}

#[test]
fn wait_states_advance_the_virtual_clock() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "Seconds": 10, "Next": "B"},
        "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
        "C": {"Type": "Wait", "Timestamp": "2023-11-14T22:14:20Z", "End": true}
    }});
    let r = run(def, json!({"s": 20}));
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(r.duration_ms, 60_000);
}

/// On the virtual clock a fork's children run as many at a time as on
/// AWS: a Map's `MaxConcurrency` (an inline Map at most 40) and every
/// branch of a Parallel state at once; the parent resumes after the last.
#[test]
fn forked_children_share_the_virtual_clock_as_their_concurrency_allows() {
    let map = |concurrency: Value, items: usize| {
        let mut state = json!({"Type": "Map", "ItemsPath": "$.items", "End": true,
            "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 2, "End": true}}}});
        if !concurrency.is_null() {
            state["MaxConcurrency"] = concurrency;
        }
        run(single(state), json!({ "items": vec![0; items] })).duration_ms
    };
    assert_eq!(map(json!(2), 8), 8_000, "8 waits of 2 s, two at a time");
    assert_eq!(map(json!(3), 7), 6_000, "three rounds: 3, 3, 1");
    assert_eq!(map(json!(1), 4), 8_000, "one at a time");
    assert_eq!(map(Value::Null, 100), 6_000, "40 at a time: three rounds");
    assert_eq!(map(json!(1000), 100), 6_000, "an inline Map runs at most 40 whatever it asks");
    let parallel = single(json!({"Type": "Parallel", "End": true, "Branches": (0..50)
        .map(|i| json!({"StartAt": format!("W{i}"), "States": {format!("W{i}"): {"Type": "Wait", "Seconds": 2, "End": true}}}))
        .collect::<Vec<_>>()}));
    assert_eq!(run(parallel, json!({})).duration_ms, 2_000, "every branch at once");
}

#[test]
fn wait_rejects_negative_and_fractional_seconds() {
    let def = single(json!({"Type": "Wait", "SecondsPath": "$.s", "End": true}));
    for bad in [json!(-1), json!(1.5), json!("x")] {
        assert_eq!(run(def.clone(), json!({"s": bad})).error.as_deref(), Some("States.Runtime"));
    }
}

#[test]
fn express_executions_time_out_after_five_minutes() {
    let def = single(json!({"Type": "Wait", "Seconds": 301, "End": true}));
    let r = run(def, json!({}));
    assert_eq!((r.status, r.error.as_deref()), (Status::TimedOut, Some("States.Timeout")));
    assert_eq!(r.duration_ms, 300_000);
}

#[test]
fn machine_timeout_seconds_applies_without_the_express_cap() {
    let def =
        json!({"StartAt": "W", "TimeoutSeconds": 3, "States": {"W": {"Type": "Wait", "Seconds": 4, "End": true}}});
    let program = expressway_engine::compile(&def, WorkflowType::Standard).unwrap();
    let opts = RunOptions { max_duration_ms: None, ..RunOptions::default() };
    let r = res(expressway_engine::execute(
        &program,
        info(),
        expressway_engine::Value::from(json!({})),
        &mut expressway_engine::driver::Offline,
        &opts,
    ));
    assert_eq!(r.status, Status::TimedOut);
}

#[test]
fn a_pass_loop_is_stopped_by_the_transition_budget() {
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}, "C": {"Type": "Succeed"}}});
    let def = {
        let mut d = def;
        d["States"]["B"] = json!({"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "C"}], "Default": "A"});
        d
    };
    let program = expressway_engine::compile(&def, WorkflowType::Express).unwrap();
    let opts = RunOptions { max_transitions: Some(50_000), ..RunOptions::default() };
    let r = res(expressway_engine::execute(
        &program,
        info(),
        expressway_engine::Value::from(json!({})),
        &mut expressway_engine::driver::Offline,
        &opts,
    ));
    assert_eq!(r.status, Status::TimedOut);
    // Not AWS's time-out (which has no cause): the cause names the limit.
    assert!(r.cause.as_deref().is_some_and(|c| c.contains("entered 50000 states")), "{:?}", r.cause);
}

/// A wait or a retry back-off too long for any clock ends the execution
/// at its deadline, as AWS's maximum execution time does (five minutes for
/// Express, a year for Standard): the sum of now and `SecondsPath: 2^62`
/// had wrapped below the deadline, and the execution resumed at once with
/// `$$.State.EnteredTime` in 1970.
#[test]
fn a_wait_or_back_off_past_any_clock_times_out_at_the_deadline() {
    let def = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "T"},
        "T": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}, "End": true}}});
    for s in [json!(4611686018427387904u64), json!(9223372036854775807u64)] {
        let r = run(def.clone(), json!({ "s": s }));
        assert_eq!((r.status, r.error.as_deref()), (Status::TimedOut, Some("States.Timeout")), "{s}: {r:?}");
        assert_eq!(r.duration_ms, 300_000, "{s}");
        assert_eq!(r.cause, None, "AWS's time-out carries no cause");
    }
    // A JSONata wait past any clock, as a path's.
    let jsonata = json!({"QueryLanguage": "JSONata", "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": "{% 1e19 %}", "End": true}}});
    let r = run(jsonata, json!({}));
    assert_eq!((r.status, r.duration_ms), (Status::TimedOut, 300_000), "{r:?}");
    // Past a Java long: a number AWS cannot read as one.
    let r = run(def.clone(), json!({"s": 18446744073709551615u64}));
    assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    assert!(r.cause.as_deref().unwrap_or("").contains("cannot be parsed as a long value"), "{r:?}");
    let standard = expressway_engine::compile(&def, WorkflowType::Standard).expect("valid");
    let r = res(expressway_engine::execute(
        &standard,
        info(),
        expressway_engine::Value::from(json!({"s": 9223372036854775807u64})),
        &mut expressway_engine::driver::Offline,
        &RunOptions::for_workflow(WorkflowType::Standard),
    ));
    assert_eq!((r.status, r.duration_ms), (Status::TimedOut, 365 * 24 * 3600 * 1000), "a year: {r:?}");

    let retried = single(json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 1e308, "MaxAttempts": 5}]}));
    let mut inv = FnTasks { f: failing_n_times(4), calls: vec![] };
    let r = run_with(retried, json!({}), &mut inv);
    assert_eq!((r.status, r.error.as_deref()), (Status::TimedOut, Some("States.Timeout")), "{r:?}");
    assert_eq!(inv.calls.len(), 2, "the second back-off (1e308 s) is past the deadline");
}
