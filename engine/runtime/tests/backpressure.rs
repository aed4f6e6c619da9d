//! The source loop admits at most `max_in_flight_per_shard` unacknowledged
//! records per shard: a sink that stops accepting writes holds the source
//! there instead of letting records pile up in memory.

use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::Replay;
use expressway_runtime::{NoDedup, PipelineSpec, Sink, Stats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Blocks every write until it is opened.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }
}

impl Sink for Gate {
    fn write(&mut self, _line: &[u8]) -> std::io::Result<()> {
        let (open, changed) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stalled_sink_holds_the_source_at_the_in_flight_cap() {
    const CAP: usize = 64;
    const SHARDS: usize = 2;
    const RECORDS: u64 = 5_000;
    let program = compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express)
        .expect("valid");
    let spec =
        PipelineSpec { shards: SHARDS, max_in_flight_per_shard: CAP, ..PipelineSpec::new("t", Arc::new(program)) };
    let polled = Arc::new(AtomicU64::new(0));
    let source = {
        let polled = polled.clone();
        Replay::new(RECORDS, move |seq| {
            polled.fetch_add(1, Ordering::SeqCst);
            format!("{{\"seq\":{seq}}}").into_bytes()
        })
    };
    let gate = Gate::default();
    let stats = Arc::new(Stats::default());
    let run = {
        let (gate, stats) = (gate.clone(), stats.clone());
        std::thread::spawn(move || {
            expressway_runtime::run(
                spec,
                Box::new(source),
                Box::new(gate.clone()),
                Box::new(gate),
                Arc::new(NoDedup),
                stats,
                Arc::new(AtomicBool::new(false)),
            )
        })
    };
    // Wait until the source stops moving: it is held, not slow.
    let mut last = u64::MAX;
    let deadline = Instant::now() + Duration::from_secs(10);
    while polled.load(Ordering::SeqCst) != last && Instant::now() < deadline {
        last = polled.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
    }
    let held_at = polled.load(Ordering::SeqCst);
    assert!(held_at > 0, "the source was never polled");
    assert!(
        held_at <= (CAP * SHARDS) as u64,
        "{held_at} records read with a stalled sink; the cap is {}",
        CAP * SHARDS
    );
    gate.open();
    run.join().expect("run thread").expect("run");
    assert_eq!(Stats::get(&stats.acknowledged), RECORDS);
}
