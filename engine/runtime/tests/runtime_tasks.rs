//! The sharded runtime with Task states: executions park while their tasks
//! run elsewhere, Retry/Catch and TimeoutSeconds behave as in the
//! synchronous driver, Map iterations run concurrently, and the results
//! match the synchronous driver's for the same answers.
//!
//! The task service here is a test double of the runtime's own
//! `TaskService` trait (answers from other threads after a delay): these
//! tests are about the runtime's mechanics; the real services (Lambda, SQS,
//! …) are exercised against ministack in `connectors/expressway/tests/aws.rs`.

use expressway_engine::{TaskCall, TaskOutcome, Value, WorkflowType, compile_text};
use expressway_runtime::tasks::{NoTaskService, TaskReply, TaskService};
use expressway_runtime::testing::{records_of, run_to_end};
use expressway_runtime::{Clock, ManualClock, NoDedup, PipelineSpec, RecordId, SystemClock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers each resource by its name, after `delay`, from its own thread:
/// `…:echo` returns the input, `…:flaky` fails the first `fail_times` calls
/// per input `id`, `…:boom` always fails, `…:slow` never answers in time.
struct Service {
    delay: Duration,
    fail_times: usize,
    calls: Mutex<HashMap<String, usize>>,
    running: Arc<AtomicUsize>,
    most_running: AtomicUsize,
}

impl Service {
    fn new(delay_ms: u64, fail_times: usize) -> Arc<Service> {
        Arc::new(Service {
            delay: Duration::from_millis(delay_ms),
            fail_times,
            calls: Mutex::new(HashMap::new()),
            running: Arc::new(AtomicUsize::new(0)),
            most_running: AtomicUsize::new(0),
        })
    }
}

impl TaskService for Service {
    fn check(&self, resource: &str) -> Result<(), String> {
        if resource.contains("unknown") { Err(format!("resource '{resource}' is not supported")) } else { Ok(()) }
    }

    fn start(&self, call: TaskCall, reply: TaskReply) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        let id = call.input.get("id").map(|v| v.to_json()).unwrap_or_default();
        let attempt = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(format!("{}{id}", call.resource)).or_default();
            *n += 1;
            *n
        };
        let outcome = if call.resource.ends_with(":boom") {
            TaskOutcome::Failed { error: "BoomError".into(), cause: Some("{\"errorMessage\":\"boom\"}".into()) }
        } else if call.resource.ends_with(":flaky") && attempt <= self.fail_times {
            TaskOutcome::Failed { error: "Lambda.ServiceException".into(), cause: Some("flaky".into()) }
        } else {
            TaskOutcome::Succeeded(call.input.clone())
        };
        let delay = if call.resource.ends_with(":slow") { Duration::from_secs(3) } else { self.delay };
        let running = self.running.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            running.fetch_sub(1, Ordering::SeqCst);
            reply.send(outcome);
        });
    }
}

fn run(
    machine: &str,
    inputs: Vec<String>,
    service: Arc<Service>,
    shards: usize,
) -> (Vec<Value>, Vec<Value>, Vec<RecordId>) {
    run_on(machine, inputs, service, shards, Arc::new(SystemClock))
}

fn run_on(
    machine: &str,
    inputs: Vec<String>,
    service: Arc<Service>,
    shards: usize,
    clock: Arc<dyn Clock>,
) -> (Vec<Value>, Vec<Value>, Vec<RecordId>) {
    let program = compile_text(machine, WorkflowType::Express).unwrap_or_else(|d| panic!("{d:?}"));
    let spec = PipelineSpec {
        shards,
        commit_interval: Duration::from_millis(100),
        tasks: service,
        clock,
        ..PipelineSpec::new("t", Arc::new(program))
    };
    let source = records_of(inputs);
    let completed = source.completed();
    let ran = run_to_end(spec, source, Arc::new(NoDedup)).expect("run");
    let parse = |l: &[String]| l.iter().map(|s| expressway_engine::value::from_str(s).unwrap()).collect();
    let ids = completed.lock().unwrap().clone();
    (parse(&ran.results), parse(&ran.dead_letters), ids)
}

fn inputs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{\"id\":{i}}}")).collect()
}

fn ids_of(values: &[Value], path: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = values
        .iter()
        .map(|v| {
            let mut v = v;
            for k in path.split('.') {
                v = v.get(k).unwrap_or_else(|| panic!("{path} missing in {}", v.to_json()));
            }
            v.as_f64().unwrap_or(-1.0) as i64
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn executions_park_on_tasks_and_run_concurrently_within_a_shard() {
    let machine = r#"{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:echo","ResultPath":"$.echo","End":true}}}"#;
    let service = Service::new(20, 0);
    let (results, dead, acked) = run(machine, inputs(200), service.clone(), 1);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(ids_of(&results, "echo.id"), (0..200).collect::<Vec<_>>());
    assert_eq!(acked.len(), 200);
    // One shard, yet many executions waited on their tasks at once.
    assert!(service.most_running.load(Ordering::SeqCst) > 10, "{}", service.most_running.load(Ordering::SeqCst));
}

#[test]
fn retry_then_success_and_catch_route_as_in_the_synchronous_driver() {
    let machine = r#"{"StartAt":"Flaky","States":{
      "Flaky":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:flaky","ResultPath":"$.flaky",
        "Retry":[{"ErrorEquals":["Lambda.ServiceException"],"IntervalSeconds":1,"MaxAttempts":3,"BackoffRate":1}],
        "Next":"Boom"},
      "Boom":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:boom",
        "Catch":[{"ErrorEquals":["BoomError"],"ResultPath":"$.caught","Next":"Handled"}],"End":true},
      "Handled":{"Type":"Pass","End":true}}}"#;
    let service = Service::new(1, 2);
    let (results, dead, _) = run(machine, inputs(20), service.clone(), 2);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(results.len(), 20);
    for r in &results {
        assert_eq!(r.get("caught").and_then(|c| c.get("Error")).map(|e| e.to_json()), Some("\"BoomError\"".into()));
        assert!(r.get("flaky").is_some(), "{}", r.to_json());
    }
    // Each input took two failures and a success on the flaky function.
    let calls = service.calls.lock().unwrap();
    assert_eq!(calls.iter().filter(|(k, _)| k.contains("flaky")).map(|(_, n)| *n).sum::<usize>(), 60);
}

#[test]
fn exhausted_retries_dead_letter_with_the_task_error() {
    let machine = r#"{"StartAt":"Boom","States":{"Boom":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:boom",
        "Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":1}],"End":true}}}"#;
    let (results, dead, acked) = run(machine, inputs(5), Service::new(1, 0), 1);
    assert!(results.is_empty());
    assert_eq!(dead.len(), 5);
    assert_eq!(acked.len(), 5);
    assert_eq!(dead[0].get("error").map(|v| v.to_json()), Some("\"BoomError\"".into()));
    assert_eq!(dead[0].get("cause").map(|v| v.to_json()), Some(r#""{\"errorMessage\":\"boom\"}""#.into()));
}

#[test]
fn a_task_past_its_timeout_raises_states_timeout() {
    let machine = r#"{"StartAt":"Slow","States":{"Slow":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:slow",
        "TimeoutSeconds":1,"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"TimedOut"}],"End":true},
        "TimedOut":{"Type":"Pass","Result":"timed out","End":true}}}"#;
    let service = Service::new(1, 0);
    let (results, dead, _) = run(machine, inputs(3), service.clone(), 1);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(results, vec![Value::from("timed out"); 3]);
}

#[test]
fn map_iterations_call_their_tasks_concurrently_and_keep_their_order() {
    let machine = r#"{"StartAt":"Fan","States":{"Fan":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":5,
        "ItemProcessor":{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:echo","End":true}}},
        "End":true}}}"#;
    let input = format!("{{\"items\":[{}]}}", (0..20).map(|i| format!("{{\"id\":{i}}}")).collect::<Vec<_>>().join(","));
    let service = Service::new(30, 0);
    let (results, dead, _) = run(machine, vec![input], service.clone(), 1);
    assert!(dead.is_empty(), "{dead:?}");
    let items = results[0].as_array().expect("an array");
    let ids: Vec<i64> = items.iter().map(|v| v.get("id").and_then(Value::as_f64).unwrap_or(-1.0) as i64).collect();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    let most = service.most_running.load(Ordering::SeqCst);
    assert!((2..=5).contains(&most), "MaxConcurrency 5, saw {most} at once");
}

#[test]
fn a_wait_state_waits_on_the_shards_clock() {
    let machine = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":120,"Next":"Now"},
        "Now":{"Type":"Pass","Parameters":{"entered.$":"$$.State.EnteredTime","started.$":"$$.Execution.StartTime"},"End":true}}}"#;
    // Two minutes' Wait on a clock the test moves (a second every 5 ms, never
    // past the Express five-minute limit): nothing sleeps for the Wait.
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let mover = {
        let clock = clock.clone();
        std::thread::spawn(move || {
            for _ in 0..250 {
                std::thread::sleep(Duration::from_millis(5));
                clock.advance(Duration::from_secs(1));
            }
        })
    };
    let (results, dead, _) = run_on(machine, inputs(2), Service::new(1, 0), 1, clock.clone());
    mover.join().expect("clock mover");
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(results.len(), 2);
    for r in results {
        let millis = |k: &str| {
            let s = r.get(k).and_then(|v| v.as_str().map(str::to_string)).expect("a timestamp");
            chrono::DateTime::parse_from_rfc3339(&s).expect("RFC 3339").timestamp_millis()
        };
        assert!(millis("entered") - millis("started") >= 120_000, "{}", r.to_json());
        assert!(millis("started") >= 1_700_000_000_000, "{}", r.to_json());
    }
}

#[test]
fn unsupported_resources_are_named_before_anything_runs() {
    let machine = r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::unknown:thing","Next":"B"},
        "B":{"Type":"Task","Resource":"arn:aws:states:::unknown:thing","Next":"C"},
        "C":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:echo","End":true}}}"#;
    let program = compile_text(machine, WorkflowType::Express).unwrap();
    let problems = expressway_runtime::tasks::check_resources(&program, |r| Service::new(1, 0).check(r)).unwrap_err();
    assert_eq!(problems, vec!["resource 'arn:aws:states:::unknown:thing' is not supported".to_string()]);
    let none = expressway_runtime::tasks::check_resources(&program, |r| NoTaskService.check(r));
    assert_eq!(none.unwrap_err().len(), 2);
}
