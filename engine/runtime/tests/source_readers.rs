//! Several source readers: each record's acknowledgement goes back to the
//! source that read it (their ids overlap, as two Kafka consumers' may), every
//! record is written and acknowledged once, each reader's partitions keep
//! their order, and one reader's failure stops the others.

use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{MemorySink, Replay};
use expressway_runtime::{
    CompletionHook, NoDedup, PipelineSpec, Polled, RecordId, RunError, SinkWriter, Source, SourceError, Stats,
    run_parallel,
};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

const PARTITIONS: u64 = 8;
/// More records than a reader that stops when it should ever reads.
const ENDLESS: u64 = 50_000_000;

fn seq_payload(seq: u64) -> Vec<u8> {
    format!(r#"{{"seq":{seq}}}"#).into_bytes()
}

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
        .map(|r| Hooked {
            inner: Replay::new(RECORDS, move |seq| format!(r#"{{"reader":{r},"seq":{seq}}}"#).into_bytes())
                .partitions(PARTITIONS),
            hooked: Arc::default(),
        })
        .collect();
    let completed: Vec<_> = sources.iter().map(|s| s.inner.completed()).collect();
    let hooked: Vec<_> = sources.iter().map(|s| s.hooked.clone()).collect();
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
        // Its completion hook (the Kafka source's way) saw the same ids.
        let mut hooked = hooked[reader].lock().unwrap().clone();
        hooked.sort_unstable();
        assert_eq!(hooked, ids, "reader {reader}: its hook saw exactly its records");
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

/// A source that also learns of completions through a completion hook, as
/// the Kafka source does (called on the sink writer's thread).
struct Hooked<F: FnMut(u64) -> Vec<u8>> {
    inner: Replay<F>,
    hooked: Arc<Mutex<Vec<RecordId>>>,
}

impl<F: FnMut(u64) -> Vec<u8> + Send> Source for Hooked<F> {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        self.inner.poll(max)
    }

    fn complete(&mut self, id: RecordId) {
        self.inner.complete(id);
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        self.inner.commit()
    }

    fn completion_hook(&self) -> Option<CompletionHook> {
        let hooked = self.hooked.clone();
        Some(Arc::new(move |ids: &[RecordId]| hooked.lock().unwrap().extend_from_slice(ids)))
    }
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
    let payload: fn(u64) -> Vec<u8> = seq_payload;
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
    // It stops within a few polls of the failure (a poll is at most its
    // share of the in-flight cap); a million would mean it went on.
    assert!(healthy.len() < 1_000_000, "the healthy reader stopped: {} records", healthy.len());
    let mut sorted = healthy.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..healthy.len() as u64).collect::<Vec<_>>(), "all it read, once each");
    let mut failing = failing_done.lock().unwrap().clone();
    failing.sort_unstable();
    failing.dedup();
    assert_eq!(failing.len(), failing_done.lock().unwrap().len(), "once each");
    assert!(failing.iter().all(|&id| id < 1_000), "only records it read: {:?}", failing.last());
}

/// Panics on its first poll.
struct Panics;

impl Source for Panics {
    fn poll(&mut self, _max: usize) -> Result<Polled, SourceError> {
        panic!("a bug in a source");
    }

    fn complete(&mut self, _id: RecordId) {}

    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// A reader that panics (on its own thread, or on the calling one) stops
/// the others, which drain; the panic reaches the caller, and nothing hangs.
#[test]
fn a_panicking_reader_stops_the_others() {
    let payload: fn(u64) -> Vec<u8> = seq_payload;
    for panicking_first in [false, true] {
        let healthy = Replay::new(ENDLESS, payload);
        let done = healthy.completed();
        let mut sources: Vec<Box<dyn Source>> = vec![Box::new(healthy), Box::new(Panics)];
        if panicking_first {
            sources.reverse();
        }
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_parallel(
                pass_through(2),
                sources,
                writers(&[MemorySink::default()]),
                Arc::new(NoDedup),
                Arc::new(Stats::default()),
                Arc::new(AtomicBool::new(false)),
            )
        }));
        match run {
            // On the calling thread the panic unwinds out of the run.
            Err(_) => assert!(panicking_first, "only reader 0 runs on the calling thread"),
            Ok(result) => {
                assert!(!panicking_first);
                match result {
                    Err(RunError::Source(e)) => assert_eq!(e.0, "a source reader panicked"),
                    other => panic!("expected the panicked reader's error, got {other:?}"),
                }
            }
        }
        let read = done.lock().unwrap().len();
        assert!(read < 1_000_000, "the healthy reader stopped: {read} records");
    }
}
