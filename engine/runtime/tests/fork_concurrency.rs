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
/// watchdog answers what is held once no call has come for three seconds,
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

/// Calls held by a test's task service, answered by a watchdog once no call
/// has come for three seconds (so a fork that never reaches what the test
/// waits for still ends).
trait HeldCalls: Send + 'static {
    fn last_call(&self) -> Option<Instant>;
    fn answer_held(&mut self);
}

impl HeldCalls for Held {
    fn last_call(&self) -> Option<Instant> {
        self.last_call
    }
    fn answer_held(&mut self) {
        self.answer_all();
    }
}

/// The watchdog of [`HeldCalls`]: it ends with the service.
fn answer_when_quiet<T: HeldCalls>(held: &Arc<Mutex<T>>) {
    let watched = Arc::downgrade(held);
    std::thread::spawn(move || {
        while let Some(held) = watched.upgrade() {
            std::thread::sleep(Duration::from_millis(100));
            let mut held = held.lock().expect("held");
            if held.last_call().is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
                held.answer_held();
            }
        }
    });
}

impl Gathering {
    fn new(wanted: usize) -> Gathering {
        let held: Arc<Mutex<Held>> = Arc::default();
        answer_when_quiet(&held);
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

impl HeldCalls for FirstHeld {
    fn last_call(&self) -> Option<Instant> {
        self.last_call
    }
    fn answer_held(&mut self) {
        if let Some((call, reply)) = self.call.take() {
            reply.send(TaskOutcome::Succeeded(call.input));
        }
    }
}

/// Holds the call for item 0 and answers every other at once; releases the
/// held one when the three others have all started while it was held (or,
/// failing that, when calls stop coming for three seconds).
struct HoldsTheFirst {
    held: Arc<Mutex<FirstHeld>>,
}

/// The held call, how many others started while it was held, and when the
/// last call came.
#[derive(Default)]
struct FirstHeld {
    call: Option<(TaskCall, TaskReply)>,
    others_while_held: usize,
    last_call: Option<Instant>,
}

impl TaskService for HoldsTheFirst {
    fn check(&self, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn start(&self, call: TaskCall, reply: TaskReply) {
        let mut held = self.held.lock().expect("held");
        held.last_call = Some(Instant::now());
        if call.input.as_f64() == Some(0.0) {
            held.call = Some((call, reply));
            return;
        }
        if held.call.is_some() {
            held.others_while_held += 1;
        }
        reply.send(TaskOutcome::Succeeded(call.input));
        if held.others_while_held == 3 {
            held.answer_held();
        }
    }
}

/// A slot is free as soon as any child ends, as on AWS: with
/// `MaxConcurrency: 2` and the first iteration held, the three others run
/// one after another beside it (a stream that yields in order had kept a
/// slot for each child ended after the slower first one, so the third
/// waited for the first).
#[test]
fn a_slot_frees_when_any_child_ends_not_in_order() {
    let machine = format!(
        r#"{{"StartAt":"M","States":{{"M":{{"Type":"Map","MaxConcurrency":2,"End":true,"ItemsPath":"$.items",
           "ItemProcessor":{{"StartAt":"T","States":{{"T":{TASK}}}}}}}}}}}"#
    );
    let program = Arc::new(compile_text(&machine, WorkflowType::Express).expect("valid"));
    let held: Arc<Mutex<FirstHeld>> = Arc::default();
    answer_when_quiet(&held);
    let service = HoldsTheFirst { held: held.clone() };
    let spec = PipelineSpec { tasks: Arc::new(service), shards: 1, ..PipelineSpec::new("slots", program) };
    let ran = run_to_end(spec, records_of(vec!["{\"items\":[0,1,2,3]}".into()]), Arc::new(NoDedup)).expect("ran");
    assert_eq!(ran.results.len(), 1, "dead letters: {:?}", ran.dead_letters);
    let output: serde_json::Value = serde_json::from_str(&ran.results[0]).expect("JSON");
    assert_eq!(output.get("output").unwrap_or(&output), &serde_json::json!([0, 1, 2, 3]), "results in item order");
    assert_eq!(held.lock().expect("held").others_while_held, 3, "the three others ran while the first was held");
}
