//! How many children of a fork run at once, as AWS runs them: every branch
//! of a Parallel state together, an inline Map's iterations at most 40 at a
//! time (its documented limit, with or without a larger `MaxConcurrency`).

use expressway_engine::{TaskCall, TaskOutcome, WorkflowType, compile_text};
use expressway_runtime::tasks::{TaskReply, TaskService};
use expressway_runtime::testing::{records_of, run_to_end};
use expressway_runtime::{NoDedup, PipelineSpec};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Holds every call until `wanted` are outstanding, then answers them all.
/// A fork that never has `wanted` children running would wait for ever: a
/// watchdog answers what is held once no call has come for half a second,
/// so the fork ends and the test sees how many it had at once.
struct Gathering {
    wanted: usize,
    held: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    calls: Vec<(TaskCall, TaskReply)>,
    last_call: Option<Instant>,
    most: usize,
}

impl Held {
    fn answer_all(&mut self) {
        for (call, reply) in self.calls.drain(..) {
            reply.send(TaskOutcome::Succeeded(call.input));
        }
    }
}

impl Gathering {
    fn new(wanted: usize) -> Gathering {
        let held: Arc<Mutex<Held>> = Arc::default();
        let watched = Arc::downgrade(&held);
        std::thread::spawn(move || {
            while let Some(held) = watched.upgrade() {
                std::thread::sleep(Duration::from_millis(100));
                let mut held = held.lock().expect("held");
                if held.last_call.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
                    held.answer_all();
                }
            }
        });
        Gathering { wanted, held }
    }
}

impl TaskService for Gathering {
    fn check(&self, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn start(&self, call: TaskCall, reply: TaskReply) {
        let mut held = self.held.lock().expect("held");
        held.calls.push((call, reply));
        held.last_call = Some(Instant::now());
        held.most = held.most.max(held.calls.len());
        if held.calls.len() >= self.wanted {
            held.answer_all();
        }
    }
}

const TASK: &str = r#"{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}"#;

fn most_at_once(machine: String, wanted: usize) -> usize {
    let program = Arc::new(compile_text(&machine, WorkflowType::Express).expect("valid"));
    let service = Gathering::new(wanted);
    let held = service.held.clone();
    let spec = PipelineSpec { tasks: Arc::new(service), shards: 1, ..PipelineSpec::new("forks", program) };
    let ran = run_to_end(spec, records_of(vec!["{\"items\":[1,2,3]}".into()]), Arc::new(NoDedup)).expect("ran");
    assert_eq!(ran.results.len(), 1, "dead letters: {:?}", ran.dead_letters);
    held.lock().expect("held").most
}

#[test]
fn every_branch_of_a_parallel_state_runs_at_once() {
    let branches = 50;
    let branch = |i: usize| format!(r#"{{"StartAt":"T{i}","States":{{"T{i}":{TASK}}}}}"#);
    let machine = format!(
        r#"{{"StartAt":"P","States":{{"P":{{"Type":"Parallel","End":true,"Branches":[{}]}}}}}}"#,
        (0..branches).map(branch).collect::<Vec<_>>().join(",")
    );
    assert_eq!(most_at_once(machine, branches), branches);
}

#[test]
fn an_inline_maps_iterations_run_at_most_forty_at_once() {
    let items = 60;
    for concurrency in ["", r#""MaxConcurrency":1000,"#] {
        let machine = format!(
            r#"{{"StartAt":"Make","States":{{"Make":{{"Type":"Pass","Parameters":{{"many.$":"States.ArrayRange(1, {items}, 1)"}},"Next":"M"}},
               "M":{{"Type":"Map",{concurrency}"End":true,"ItemsPath":"$.many",
               "ItemProcessor":{{"StartAt":"T","States":{{"T":{TASK}}}}}}}}}}}"#
        );
        assert_eq!(most_at_once(machine, items), 40, "with {concurrency:?}");
    }
}
