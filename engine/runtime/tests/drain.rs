//! The drain timeout bounds the whole drain: an execution parked on a long
//! Wait when it passes is abandoned, not acknowledged (it runs again after a
//! restart) and its dedup claim given back, while everything that finished
//! before is acknowledged.

use expressway_engine::jsonpath::JsonPath;
use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{MemorySink, records_of};
use expressway_runtime::{Claim, DedupStore, KeySpec, ManualClock, NoDedup, PipelineSpec, Stats};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn a_parked_execution_is_abandoned_unacknowledged_at_the_drain_deadline() {
    let inputs =
        [r#"{"id":0,"slow":false}"#, r#"{"id":1,"slow":true}"#, r#"{"id":2,"slow":false}"#, r#"{"id":3,"slow":false}"#];
    // The three quick records finish; the slow one parks on its Wait.
    let run =
        run_until(&inputs, Arc::new(NoDedup), KeySpec::None, 3).expect("the run returned before the Wait could end");
    assert_eq!(run.results, vec![inputs[0], inputs[2], inputs[3]]);
    assert_eq!(run.acknowledged, vec![0, 2, 3], "the abandoned record is not acknowledged");
    assert_eq!(Stats::get(&run.stats.abandoned), 1);
    // Shards add their counts once per turn, before they hand results on:
    // when the three were acknowledged, all four starts and the three
    // successes were already counted, the parked one's start included.
    assert_eq!(run.counted_at_acknowledgement, (4, 3));
}

/// A memory store as the connectors' is, that notes what it is asked to give
/// back: claims run (`false`) or done (`true`); a release forgets a claim,
/// never a completed key.
#[derive(Default)]
struct Remembering {
    keys: Mutex<HashMap<String, bool>>,
    released: Mutex<Vec<Vec<String>>>,
}

impl DedupStore for Remembering {
    fn begin(&self, key: &str) -> Claim {
        match self.keys.lock().unwrap().entry(key.to_string()) {
            Entry::Vacant(v) => {
                v.insert(false);
                Claim::Run
            }
            Entry::Occupied(done) if *done.get() => Claim::Done,
            Entry::Occupied(_) => Claim::Running,
        }
    }
    fn complete(&self, key: &str) {
        self.keys.lock().unwrap().insert(key.to_string(), true);
    }
    fn release_many(&self, keys: &[&str]) {
        self.released.lock().unwrap().push(keys.iter().map(|k| k.to_string()).collect());
        let mut held = self.keys.lock().unwrap();
        for key in keys {
            if held.get(*key) == Some(&false) {
                held.remove(*key);
            }
        }
    }
}

/// What a run left: its results, the ids it acknowledged, its counts.
struct Run {
    results: Vec<String>,
    acknowledged: Vec<expressway_runtime::RecordId>,
    stats: Arc<Stats>,
    /// Executions started and succeeded as counted when the awaited records
    /// were acknowledged, before the shutdown.
    counted_at_acknowledgement: (u64, u64),
}

/// Run `inputs` through a machine whose `"slow": true` records park on an
/// hour-long Wait, on a clock that never moves (so such a Wait can only end
/// by the drain giving up), with `dedup` and `key`, until `acknowledged`
/// records are (or ten seconds passed), then shut down. `None` if the run
/// did not return within a minute.
fn run_until(inputs: &[&str], dedup: Arc<dyn DedupStore>, key: KeySpec, acknowledged: u64) -> Option<Run> {
    let machine = r#"{"StartAt":"Slow?","States":{
      "Slow?":{"Type":"Choice","Choices":[{"Variable":"$.slow","BooleanEquals":true,"Next":"Hour"}],"Default":"Done"},
      "Hour":{"Type":"Wait","Seconds":3600,"Next":"Done"},
      "Done":{"Type":"Pass","End":true}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Standard).expect("valid"));
    let spec = PipelineSpec {
        express: false,
        drain_timeout: Duration::from_millis(300),
        clock: Arc::new(ManualClock::new(1_700_000_000_000)),
        key,
        ..PipelineSpec::new("drain", program)
    };
    let source = records_of(inputs.iter().map(|s| s.to_string()).collect());
    let completed = source.completed();
    let (results, dead) = (MemorySink::default(), MemorySink::default());
    let stats = Arc::new(Stats::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    {
        let (results, dead, stats, shutdown) = (results.clone(), dead.clone(), stats.clone(), shutdown.clone());
        std::thread::spawn(move || {
            let r = expressway_runtime::run(
                spec,
                Box::new(source),
                Box::new(results),
                Box::new(dead),
                dedup,
                stats,
                shutdown,
            );
            let _ = done_tx.send(r);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Stats::get(&stats.acknowledged) < acknowledged && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let counted_at_acknowledgement = (Stats::get(&stats.executions), Stats::get(&stats.succeeded));
    shutdown.store(true, Ordering::Relaxed);
    // A bound only so that a hang fails instead of waiting out the hour.
    done_rx.recv_timeout(Duration::from_secs(60)).ok()?.expect("a clean shutdown");
    assert!(dead.lines().is_empty(), "{:?}", dead.lines());
    let mut ids = completed.lock().expect("completed ids").clone();
    ids.sort_unstable();
    Some(Run { results: results.lines(), acknowledged: ids, stats, counted_at_acknowledgement })
}

/// The claim of an execution abandoned at the drain deadline is given back
/// (in one call, its key alone: completed keys are never released), so the
/// record, delivered again to a new run on the same store, runs at once
/// instead of being held as the twin of a claim nobody will complete.
#[test]
fn an_abandoned_executions_claim_is_given_back_and_its_redelivery_runs_at_once() {
    let store = Arc::new(Remembering::default());
    let first = [r#"{"id":0,"slow":false}"#, r#"{"id":1,"slow":true}"#, r#"{"id":2,"slow":false}"#];
    let run = run_until(&first, store.clone(), by_id(), 2).expect("the first run returned");
    assert_eq!(run.results, vec![first[0], first[2]]);
    assert_eq!(run.acknowledged, vec![0, 2], "the abandoned record is not acknowledged");
    assert_eq!(*store.released.lock().unwrap(), vec![vec!["1".to_string()]], "one call, the abandoned key only");
    assert_eq!(store.keys.lock().unwrap().get("0"), Some(&true), "a completed key stays completed");

    // Delivered again (not slow this time), the record runs; its completed
    // neighbour is skipped.
    let again = [r#"{"id":1,"slow":false}"#, r#"{"id":2,"slow":false}"#];
    let run = run_until(&again, store.clone(), by_id(), 2).expect("the second run returned");
    assert_eq!(
        run.results,
        vec![again[0]],
        "the redelivery ran (not held for a claim never given back); the completed key was skipped"
    );
    assert_eq!(run.acknowledged, vec![0, 1]);
    assert_eq!(store.released.lock().unwrap().len(), 1, "nothing was abandoned the second time");
}

fn by_id() -> KeySpec {
    KeySpec::Path(JsonPath::parse("$.id").expect("path"))
}
