//! Idempotency keys: a record whose key was seen is skipped, and keys of
//! different JSON types never collide (`1` and `"1"` are two records).
//!
//! The dedup store here is a test double (a set in memory) of the runtime's
//! own `DedupStore` trait; the real stores are tested in the connectors.

use expressway_engine::jsonpath::JsonPath;
use expressway_engine::{Value, WorkflowType, compile_text};
use expressway_runtime::testing::{records_of, run_to_end};
use expressway_runtime::{DedupStore, KeySpec, PipelineSpec, Stats};
use std::collections::HashSet;
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
