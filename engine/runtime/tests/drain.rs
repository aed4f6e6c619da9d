//! The drain timeout bounds the whole drain: an execution parked on a long
//! Wait when it passes is abandoned, not acknowledged (it runs again after a
//! restart), while everything that finished before is.

use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{MemorySink, records_of};
use expressway_runtime::{ManualClock, NoDedup, PipelineSpec, Stats};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn a_parked_execution_is_abandoned_unacknowledged_at_the_drain_deadline() {
    let machine = r#"{"StartAt":"Slow?","States":{
      "Slow?":{"Type":"Choice","Choices":[{"Variable":"$.slow","BooleanEquals":true,"Next":"Hour"}],"Default":"Done"},
      "Hour":{"Type":"Wait","Seconds":3600,"Next":"Done"},
      "Done":{"Type":"Pass","End":true}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Standard).expect("valid"));
    // The clock never moves: the Wait could only end by the drain giving up.
    let spec = PipelineSpec {
        express: false,
        drain_timeout: Duration::from_millis(500),
        clock: Arc::new(ManualClock::new(1_700_000_000_000)),
        ..PipelineSpec::new("drain", program)
    };
    let inputs =
        [r#"{"id":0,"slow":false}"#, r#"{"id":1,"slow":true}"#, r#"{"id":2,"slow":false}"#, r#"{"id":3,"slow":false}"#];
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
                Arc::new(NoDedup),
                stats,
                shutdown,
            );
            let _ = done_tx.send(r);
        });
    }
    // The three quick records finish; the slow one parks on its Wait.
    while Stats::get(&stats.acknowledged) < 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    shutdown.store(true, Ordering::Relaxed);
    // A bound only so that a hang fails instead of waiting out the hour.
    let outcome = done_rx.recv_timeout(Duration::from_secs(120)).expect("the run returned before the Wait could end");
    outcome.expect("a clean shutdown");

    assert_eq!(results.lines(), vec![inputs[0], inputs[2], inputs[3]]);
    assert!(dead.lines().is_empty(), "{:?}", dead.lines());
    let mut acknowledged = completed.lock().expect("completed ids").clone();
    acknowledged.sort_unstable();
    assert_eq!(acknowledged, vec![0, 2, 3], "the abandoned record is not acknowledged");
    assert_eq!(Stats::get(&stats.abandoned), 1);
}
