//! Idempotency keys: a record whose key was seen is skipped, keys of
//! different JSON types never collide (`1` and `"1"` are two records), and a
//! twin of an execution still running waits for it before it is skipped.
//!
//! The dedup stores here are test doubles (maps in memory) of the runtime's
//! own `DedupStore` trait; the real stores are tested in the connectors.

use expressway_engine::jsonpath::JsonPath;
use expressway_engine::{Value, WorkflowType, compile_text};
use expressway_runtime::testing::{MemorySink, records_of, run_to_end};
use expressway_runtime::{
    Claim, Coordinates, DedupStore, KeySpec, Origin, PendingClaims, PipelineSpec, Place, Polled, Record, RecordId,
    SinkWriter, Source, SourceError, Stats, run_parallel,
};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pipeline of one Pass state whose records are keyed by `$.id`.
fn keyed_by_id() -> PipelineSpec {
    let program =
        compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express).unwrap();
    PipelineSpec { key: KeySpec::Path(JsonPath::parse("$.id").unwrap()), ..PipelineSpec::new("t", Arc::new(program)) }
}

#[derive(Default)]
struct Seen(Mutex<HashSet<String>>);

impl DedupStore for Seen {
    /// Every key seen is done: a set of completed keys.
    fn begin(&self, key: &str) -> Claim {
        if self.0.lock().unwrap().insert(key.to_string()) { Claim::Run } else { Claim::Done }
    }
    fn complete(&self, _key: &str) {}
}

#[test]
fn keys_of_every_json_type_are_distinct_and_repeats_are_skipped() {
    let ids = [
        r#"1"#,
        r#""1""#,
        r#"true"#,
        r#""true""#,
        r#"false"#,
        r#"1.5"#,
        r#""1.5""#,
        r#"{"a":1}"#,
        r#""{\"a\":1}""#,
        r#"[1]"#,
        r#""[1]""#,
        r#""""#,
    ];
    let mut payloads: Vec<String> = ids.iter().map(|id| format!(r#"{{"id":{id}}}"#)).collect();
    // Each again: skipped as duplicates.
    payloads.extend(ids.iter().map(|id| format!(r#"{{"id":{id}}}"#)));
    // No key: dead letters, never a shared key.
    payloads.push(r#"{"id":null}"#.into());
    payloads.push(r#"{"other":1}"#.into());
    payloads.push(r#"{"id":null}"#.into());

    let spec = keyed_by_id();
    // One partition: records run in order, so the second of each pair is the
    // one skipped.
    let source = records_of(payloads).partitions(1);
    let ran = run_to_end(spec, source, Arc::new(Seen::default())).expect("run");
    let (stats, dead) = (ran.stats, ran.dead_letters);
    let ran: Vec<String> = ran
        .results
        .iter()
        .map(|l| expressway_engine::value::from_str(l).unwrap().get("id").unwrap().to_json())
        .collect();
    assert_eq!(
        ran,
        ids.iter()
            .map(|id| Value::from(serde_json::from_str::<serde_json::Value>(id).unwrap()).to_json())
            .collect::<Vec<_>>()
    );
    assert_eq!(Stats::get(&stats.duplicates), ids.len() as u64);
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(dead.iter().all(|d| d.contains("Expressway.MissingIdempotencyKey")), "{dead:?}");
}

/// A store that counts how it is asked: claims must come a batch at a time.
#[derive(Default)]
struct Counting {
    seen: Mutex<HashSet<String>>,
    single_claims: AtomicUsize,
    batch_claims: AtomicUsize,
}

impl DedupStore for Counting {
    fn begin(&self, _key: &str) -> Claim {
        self.single_claims.fetch_add(1, Ordering::Relaxed);
        Claim::Run
    }
    fn begin_many(&self, keys: &[&str]) -> Vec<Claim> {
        self.batch_claims.fetch_add(1, Ordering::Relaxed);
        let mut seen = self.seen.lock().unwrap();
        keys.iter().map(|k| if seen.insert(k.to_string()) { Claim::Run } else { Claim::Done }).collect()
    }
    fn complete(&self, _key: &str) {}
}

/// Counts the polls that yielded records: with one shard, each is one batch.
struct CountingPolls<S>(S, Arc<AtomicUsize>);

impl<S: Source> Source for CountingPolls<S> {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let polled = self.0.poll(max)?;
        if matches!(&polled, Polled::Records(r) if !r.is_empty()) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
        Ok(polled)
    }
    fn complete(&mut self, id: u64) {
        self.0.complete(id)
    }
    fn commit(&mut self) -> Result<(), SourceError> {
        self.0.commit()
    }
}

#[test]
fn a_shard_claims_its_batch_in_one_call_and_skips_twins_within_it() {
    let spec = keyed_by_id();
    // 5,040 records of 2,520 ids: each id twice, its twin 7 records later,
    // so most twins share their first occurrence's batch.
    let payloads: Vec<String> = (0..5_040u64).map(|i| format!(r#"{{"id":{}}}"#, (i / 14) * 7 + i % 7)).collect();
    let polls = Arc::new(AtomicUsize::new(0));
    let source = CountingPolls(records_of(payloads).partitions(1), polls.clone());
    let store = Arc::new(Counting::default());
    let ran = run_to_end(spec, source, store.clone()).expect("run");
    assert_eq!(ran.results.len(), 2_520, "each id runs once");
    assert_eq!(Stats::get(&ran.stats.duplicates), 2_520);
    assert_eq!(store.single_claims.load(Ordering::Relaxed), 0, "no claim one key at a time");
    let (batches, polls) = (store.batch_claims.load(Ordering::Relaxed), polls.load(Ordering::Relaxed));
    assert!(polls >= 5, "at most 1,024 records a poll: {polls}");
    assert_eq!(batches, polls, "one claim per batch a shard received");
}

/// A store that tells running keys from done ones, as the real stores do,
/// and notes when each key was completed.
#[derive(Default)]
struct Claims {
    keys: Mutex<HashMap<String, bool>>,
    completed_at: Mutex<HashMap<String, Instant>>,
    asked: AtomicUsize,
}

impl DedupStore for Claims {
    fn begin(&self, key: &str) -> Claim {
        self.asked.fetch_add(1, Ordering::Relaxed);
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
        self.completed_at.lock().unwrap().insert(key.to_string(), Instant::now());
        self.keys.lock().unwrap().insert(key.to_string(), true);
    }
}

/// One record, read once `gate` opens; notes when it was acknowledged.
struct OneRecord {
    record: Option<Record>,
    gate: Box<dyn Fn() -> bool + Send>,
    acked: Arc<Mutex<Option<Instant>>>,
}

impl OneRecord {
    fn new(name: &str, payload: &str, gate: impl Fn() -> bool + Send + 'static) -> OneRecord {
        let record = Record {
            id: 0,
            partition: 0,
            payload: payload.as_bytes().to_vec(),
            coordinates: Coordinates::new(Origin::intern(name), Place::Offset(0)),
            key: None,
            oversized: None,
        };
        OneRecord { record: Some(record), gate: Box::new(gate), acked: Arc::default() }
    }
}

impl Source for OneRecord {
    fn poll(&mut self, _max: usize) -> Result<Polled, SourceError> {
        if self.record.is_some() && !(self.gate)() {
            std::thread::sleep(Duration::from_millis(1));
            return Ok(Polled::Idle);
        }
        Ok(self.record.take().map_or(Polled::Finished, |r| Polled::Records(vec![r])))
    }
    fn complete(&mut self, _id: RecordId) {
        *self.acked.lock().unwrap() = Some(Instant::now());
    }
    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// The at-least-once gap this guards: a twin read by another consumer while
/// its first occurrence still runs used to be acknowledged at once — its
/// consumer could commit past it while the first might never finish (its
/// partition's drain gave up on it, its process crashed). Now the twin is
/// held, unacknowledged, until the first is done, and then skipped.
#[test]
fn a_twin_of_a_running_execution_is_acknowledged_only_once_that_execution_is_done() {
    let program = compile_text(
        r#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.wait","End":true}}}"#,
        WorkflowType::Express,
    )
    .unwrap();
    let spec = PipelineSpec {
        key: KeySpec::Path(JsonPath::parse("$.k").unwrap()),
        shards: 2,
        ..PipelineSpec::new("t", Arc::new(program))
    };
    let store = Arc::new(Claims::default());
    // Reader A's record runs for a second; reader B reads its twin once A's
    // key is claimed.
    let first = OneRecord::new("test:a", r#"{"k":"x","wait":1}"#, || true);
    let claimed = store.clone();
    let twin = OneRecord::new("test:b", r#"{"k":"x","wait":0}"#, move || claimed.asked.load(Ordering::Relaxed) > 0);
    let (first_acked, twin_acked) = (first.acked.clone(), twin.acked.clone());
    let results = MemorySink::default();
    let stats = Arc::new(Stats::default());
    run_parallel(
        spec,
        vec![Box::new(first), Box::new(twin)],
        vec![SinkWriter { results: Box::new(results.clone()), dead_letters: Box::new(MemorySink::default()) }],
        store.clone(),
        stats.clone(),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("the run ends");
    assert_eq!(results.lines().len(), 1, "one execution: {:?}", results.lines());
    assert_eq!(Stats::get(&stats.duplicates), 1, "the twin is skipped");
    let done = *store.completed_at.lock().unwrap().get(r#""x""#).expect("the key was completed");
    let twin_acked = twin_acked.lock().unwrap().expect("the twin is acknowledged");
    assert!(first_acked.lock().unwrap().is_some(), "the first is acknowledged");
    assert!(twin_acked >= done, "the twin was acknowledged {:?} before its execution was done", done - twin_acked);
    assert!(store.asked.load(Ordering::Relaxed) >= 3, "the twin's key was asked about again");
}

/// A store whose answers take a while to come back, and which logs when
/// each batch's claims were sent and answered.
#[derive(Default)]
struct Slow {
    log: Arc<Mutex<Vec<(&'static str, usize)>>>,
    batches: AtomicUsize,
}

impl DedupStore for Slow {
    fn begin(&self, _key: &str) -> Claim {
        Claim::Run
    }
    fn send_claims<'s>(&'s self, keys: &[&str]) -> PendingClaims<'s> {
        let batch = self.batches.fetch_add(1, Ordering::Relaxed);
        self.log.lock().unwrap().push(("sent", batch));
        let answers = vec![Claim::Run; keys.len()];
        let log = self.log.clone();
        PendingClaims::new(move || {
            std::thread::sleep(Duration::from_millis(2));
            log.lock().unwrap().push(("answered", batch));
            answers
        })
    }
    fn complete(&self, _key: &str) {}
}

/// With the next batch already waiting, a shard sends its claims before it
/// waits for the current batch's answers: a store on a server answers while
/// the shard works.
#[test]
fn a_shard_sends_the_next_batchs_claims_before_it_waits_for_the_current_ones() {
    // Room for several batches in flight, as a busy pipeline has.
    let spec = PipelineSpec { max_in_flight_per_shard: 16 * 1024, ..keyed_by_id() };
    let payloads: Vec<String> = (0..20_000u64).map(|i| format!(r#"{{"id":{i}}}"#)).collect();
    let store = Arc::new(Slow::default());
    let ran = run_to_end(spec, records_of(payloads).partitions(1), store.clone()).expect("run");
    assert_eq!(ran.results.len(), 20_000);
    let log = store.log.lock().unwrap().clone();
    let at = |event: (&'static str, usize)| log.iter().position(|e| *e == event);
    let ahead = (1..store.batches.load(Ordering::Relaxed))
        .filter(|&b| at(("sent", b)).zip(at(("answered", b - 1))).is_some_and(|(sent, answered)| sent < answered))
        .count();
    assert!(ahead > 0, "no batch's claims were sent before the previous batch's answers: {log:?}");
    for b in 0..store.batches.load(Ordering::Relaxed) {
        assert!(at(("answered", b)).is_some(), "batch {b} answered");
    }
}

/// A store that panics when asked, and notes the keys completed.
#[derive(Default)]
struct Panicking {
    completed: Mutex<Vec<String>>,
}

impl DedupStore for Panicking {
    fn begin(&self, _key: &str) -> Claim {
        panic!("the store broke")
    }
    fn complete(&self, key: &str) {
        self.completed.lock().unwrap().push(key.to_string());
    }
}

/// A store that panics while claiming leaves it unknown whether the keys
/// were claimed: the records are dead-lettered and their keys completed with
/// the dead letters, so a twin held for one of them is released, not held
/// for good.
#[test]
fn records_dead_lettered_by_a_panicking_store_complete_their_keys() {
    let spec = keyed_by_id();
    let payloads: Vec<String> = (0..3).map(|i| format!(r#"{{"id":{i}}}"#)).collect();
    let store = Arc::new(Panicking::default());
    let ran = run_to_end(spec, records_of(payloads).partitions(1), store.clone()).expect("run");
    assert!(ran.results.is_empty());
    assert_eq!(ran.dead_letters.len(), 3, "{:?}", ran.dead_letters);
    assert!(ran.dead_letters.iter().all(|d| d.contains("Expressway.InternalError")), "{:?}", ran.dead_letters);
    let mut completed = store.completed.lock().unwrap().clone();
    completed.sort();
    assert_eq!(completed, ["0", "1", "2"]);
}

/// A key's JSON text past 128 bytes is stored as its SHA-256 (`sha256:`
/// and 64 hex digits): repeats of a 100 KB key are still skipped, keys
/// differing in their last byte still run, and the store never holds more
/// than 128 bytes a key (it held the whole key before).
#[test]
fn long_keys_are_stored_as_their_digest() {
    let long = |last: char| format!("{}{last}", "k".repeat(100_000));
    let payloads: Vec<String> = [long('a'), long('a'), long('b'), "short".into(), "short".into()]
        .iter()
        .map(|id| format!(r#"{{"id":"{id}"}}"#))
        .collect();
    let store = Arc::new(Seen::default());
    let ran = run_to_end(keyed_by_id(), records_of(payloads).partitions(1), store.clone()).expect("run");
    assert_eq!(ran.results.len(), 3);
    assert_eq!(Stats::get(&ran.stats.duplicates), 2);
    let keys = store.0.lock().unwrap();
    assert!(keys.contains(r#""short""#), "{keys:?}");
    let digests: Vec<&String> = keys.iter().filter(|k| k.starts_with("sha256:")).collect();
    assert_eq!(digests.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.len() <= 128), "{keys:?}");
}
