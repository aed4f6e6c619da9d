//! Idempotency keys: a record whose key was seen is skipped, and keys of
//! different JSON types never collide (`1` and `"1"` are two records).
//!
//! The dedup store here is a test double (a set in memory) of the runtime's
//! own `DedupStore` trait; the real stores are tested in the connectors.

use expressway_engine::jsonpath::JsonPath;
use expressway_engine::{Value, WorkflowType, compile_text};
use expressway_runtime::testing::{records_of, run_to_end};
use expressway_runtime::{DedupStore, KeySpec, PipelineSpec, Polled, Source, SourceError, Stats};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen(Mutex<HashSet<String>>);

impl DedupStore for Seen {
    fn begin(&self, key: &str) -> bool {
        self.0.lock().unwrap().insert(key.to_string())
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

    let program =
        compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express).unwrap();
    let spec = PipelineSpec {
        key: KeySpec::Path(JsonPath::parse("$.id").unwrap()),
        ..PipelineSpec::new("t", Arc::new(program))
    };
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
    fn begin(&self, _key: &str) -> bool {
        self.single_claims.fetch_add(1, Ordering::Relaxed);
        true
    }
    fn begin_many(&self, keys: &[&str]) -> Vec<bool> {
        self.batch_claims.fetch_add(1, Ordering::Relaxed);
        let mut seen = self.seen.lock().unwrap();
        keys.iter().map(|k| seen.insert(k.to_string())).collect()
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
    let program =
        compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express).unwrap();
    let spec = PipelineSpec {
        key: KeySpec::Path(JsonPath::parse("$.id").unwrap()),
        ..PipelineSpec::new("t", Arc::new(program))
    };
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
