//! Several source readers: each record's acknowledgement goes back to the
//! source that read it (their ids overlap, as two Kafka consumers' may), every
//! record is written and acknowledged once, each reader's partitions keep
//! their order, and one reader's failure stops the others.

use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{MemorySink, Replay};
use expressway_runtime::{
    NoDedup, PipelineSpec, Polled, RecordId, RunError, SinkWriter, Source, SourceError, Stats, run_parallel,
};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

const PARTITIONS: u64 = 8;

fn pass_through(shards: usize) -> PipelineSpec {
    let program = compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express)
        .expect("valid");
    PipelineSpec { shards, ..PipelineSpec::new("t", Arc::new(program)) }
}

fn writers(sinks: &[MemorySink]) -> Vec<SinkWriter> {
    sinks
        .iter()
        .map(|s| SinkWriter { results: Box::new(s.clone()), dead_letters: Box::new(MemorySink::default()) })
        .collect()
}

fn field(line: &str, name: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    v[name].as_u64().unwrap_or_else(|| panic!("no {name} in {line}"))
}

#[test]
fn each_reader_gets_back_exactly_its_own_records() {
    const READERS: u64 = 3;
    const RECORDS: u64 = 10_000;
    let sources: Vec<_> = (0..READERS)
        .map(|r| {
            Replay::new(RECORDS, move |seq| format!(r#"{{"reader":{r},"seq":{seq}}}"#).into_bytes())
                .partitions(PARTITIONS)
        })
        .collect();
    let completed: Vec<_> = sources.iter().map(Replay::completed).collect();
    let sinks: Vec<MemorySink> = (0..2).map(|_| MemorySink::default()).collect();
    let stats = Arc::new(Stats::default());
    run_parallel(
        pass_through(4),
        sources.into_iter().map(|s| Box::new(s) as Box<dyn Source>).collect(),
        writers(&sinks),
        Arc::new(NoDedup),
        stats.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("the run ends");
    for (reader, completed) in completed.iter().enumerate() {
        let mut ids = completed.lock().unwrap().clone();
        ids.sort_unstable();
        assert_eq!(ids, (0..RECORDS).collect::<Vec<_>>(), "reader {reader}: each of its records acknowledged once");
    }
    assert_eq!(Stats::get(&stats.acknowledged), READERS * RECORDS);
    let mut seen = vec![0u32; (READERS * RECORDS) as usize];
    for lines in sinks.iter().map(MemorySink::lines) {
        let mut last: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for line in &lines {
            let (reader, seq) = (field(line, "reader"), field(line, "seq"));
            seen[(reader * RECORDS + seq) as usize] += 1;
            if let Some(previous) = last.insert((reader, seq % PARTITIONS), seq) {
                assert!(previous < seq, "reader {reader}, partition {}: {seq} after {previous}", seq % PARTITIONS);
            }
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "a record written {:?} times", seen.iter().find(|&&n| n != 1));
}

/// Reads `good` records, then fails.
struct FailsAfter {
    good: u64,
    inner: Replay<fn(u64) -> Vec<u8>>,
    read: u64,
}

impl Source for FailsAfter {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        if self.read >= self.good {
            return Err(SourceError("the broker went away".into()));
        }
        let polled = self.inner.poll(max.min((self.good - self.read) as usize))?;
        if let Polled::Records(r) = &polled {
            self.read += r.len() as u64;
        }
        Ok(polled)
    }

    fn complete(&mut self, id: RecordId) {
        self.inner.complete(id);
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

#[test]
fn one_readers_failure_stops_every_reader_and_is_returned() {
    const ENDLESS: u64 = 50_000_000;
    let payload: fn(u64) -> Vec<u8> = |seq| format!(r#"{{"seq":{seq}}}"#).into_bytes();
    let healthy = Replay::new(ENDLESS, payload);
    let healthy_done: Arc<Mutex<Vec<RecordId>>> = healthy.completed();
    let failing = FailsAfter { good: 1_000, inner: Replay::new(ENDLESS, payload), read: 0 };
    let failing_done = failing.inner.completed();
    let result = run_parallel(
        pass_through(2),
        vec![Box::new(healthy), Box::new(failing)],
        writers(&[MemorySink::default()]),
        Arc::new(NoDedup),
        Arc::new(Stats::default()),
        Arc::new(AtomicBool::new(false)),
    );
    match result {
        Err(RunError::Source(e)) => assert_eq!(e.0, "the broker went away"),
        other => panic!("expected the failing reader's error, got {other:?}"),
    }
    // The healthy reader stopped (it never got near its end) after draining
    // what it had read. The failing reader returned at once, as a single
    // reader does: what of its records finished meanwhile is acknowledged,
    // once each; the rest is left unacknowledged, to be read again.
    let healthy = healthy_done.lock().unwrap().clone();
    assert!((healthy.len() as u64) < ENDLESS, "the healthy reader stopped");
    let mut sorted = healthy.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..healthy.len() as u64).collect::<Vec<_>>(), "all it read, once each");
    let mut failing = failing_done.lock().unwrap().clone();
    failing.sort_unstable();
    failing.dedup();
    assert_eq!(failing.len(), failing_done.lock().unwrap().len(), "once each");
    assert!(failing.iter().all(|&id| id < 1_000), "only records it read: {:?}", failing.last());
}
