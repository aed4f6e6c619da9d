//! A panic while one execution runs — here in a task service's `start`, on
//! the execution's first poll and on a later one — dead-letters that record
//! as `Expressway.InternalError` and nothing else: the shard goes on, every
//! record is accounted for and acknowledged (the checkpoint moves past it).

use expressway_engine::{TaskCall, TaskOutcome, Value, WorkflowType, compile_text};
use expressway_runtime::tasks::{TaskReply, TaskService};
use expressway_runtime::testing::{records_of, run_to_end};
use expressway_runtime::{NoDedup, PipelineSpec, Stats};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Echoes each call's input from another thread, but panics (on the shard's
/// thread, inside `start`) for the record whose `id` the resource names:
/// `…:function:first-panics-on-1`, `…:function:then-panics-on-3`.
struct Panicky;

impl TaskService for Panicky {
    fn check(&self, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn start(&self, call: TaskCall, reply: TaskReply) {
        let id = call.input.get("id").and_then(Value::as_f64).unwrap_or(-1.0) as i64;
        let victim = call.resource.rsplit("-on-").next().and_then(|n| n.parse::<i64>().ok());
        if victim == Some(id) {
            panic!("the task service failed on record {id}");
        }
        std::thread::spawn(move || reply.send(TaskOutcome::Succeeded(call.input)));
    }
}

fn ids(lines: &[String]) -> BTreeSet<i64> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v.get("input").unwrap_or(&v)["id"].as_i64().expect("an id")
        })
        .collect()
}

#[test]
fn a_panicking_execution_is_dead_lettered_and_the_others_go_on() {
    let machine = r#"{"StartAt":"First","States":{
      "First":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:first-panics-on-1","Next":"Then"},
      "Then":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:then-panics-on-3","End":true}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Express).expect("valid"));
    let spec = PipelineSpec { tasks: Arc::new(Panicky), shards: 2, ..PipelineSpec::new("panics", program) };
    let n = 8;
    let source = records_of((0..n).map(|i| format!("{{\"id\":{i}}}")).collect());
    let completed = source.completed();
    let ran = run_to_end(spec, source, Arc::new(NoDedup)).expect("the run survives its panics");

    assert_eq!(ran.results.len() + ran.dead_letters.len(), n, "every input is accounted for");
    assert_eq!(ids(&ran.results), BTreeSet::from([0, 2, 4, 5, 6, 7]));
    assert_eq!(ids(&ran.dead_letters), BTreeSet::from([1, 3]));
    for line in &ran.dead_letters {
        let dead: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let id = dead["input"]["id"].as_i64().expect("the input is kept");
        assert_eq!(dead["error"], "Expressway.InternalError");
        let cause = dead["cause"].as_str().expect("a cause");
        assert!(cause.contains(&format!("the task service failed on record {id}")), "{cause}");
    }
    assert_eq!(Stats::get(&ran.stats.internal_errors), 2);
    assert_eq!(Stats::get(&ran.stats.dead_letters), 2);
    let mut acknowledged = completed.lock().expect("completed ids").clone();
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, (0..n as u64).collect::<Vec<_>>(), "the panicked records are concluded too");
}
