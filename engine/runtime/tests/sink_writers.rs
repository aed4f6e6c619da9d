//! Several sink writers: each shard's results go through one writer (shard
//! `s` through writer `s % n`), in the order the shard finished them; every
//! record is written and acknowledged once, and dead letters go to the
//! dead-letter sink of the same writer.

use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{MemorySink, Replay};
use expressway_runtime::{NoDedup, PipelineSpec, SinkWriter, Stats};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

const PARTITIONS: u64 = 8;

/// `{"seq": n}`, or (every 97th) text that is not JSON: a dead letter.
fn payload(seq: u64) -> Vec<u8> {
    if seq.is_multiple_of(97) {
        format!("not json {seq}").into_bytes()
    } else {
        format!("{{\"seq\":{seq}}}").into_bytes()
    }
}

struct Written {
    results: Vec<Vec<String>>,
    dead_letters: Vec<Vec<String>>,
    /// The ids the source was told were complete, in that order.
    completed: Vec<u64>,
}

fn run(shards: usize, writers: usize, records: u64) -> Written {
    let program = compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express)
        .expect("valid");
    let spec = PipelineSpec { shards, ..PipelineSpec::new("t", Arc::new(program)) };
    let source = Replay::new(records, payload).partitions(PARTITIONS);
    let completed = source.completed();
    let sinks: Vec<(MemorySink, MemorySink)> = (0..writers).map(|_| Default::default()).collect();
    let writers = sinks
        .iter()
        .map(|(r, d)| SinkWriter { results: Box::new(r.clone()), dead_letters: Box::new(d.clone()) })
        .collect();
    expressway_runtime::run_parallel(
        spec,
        vec![Box::new(source)],
        writers,
        Arc::new(NoDedup),
        Arc::new(Stats::default()),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("the run ends");
    let completed = completed.lock().unwrap().clone();
    Written {
        results: sinks.iter().map(|(r, _)| r.lines()).collect(),
        dead_letters: sinks.iter().map(|(_, d)| d.lines()).collect(),
        completed,
    }
}

fn seq_of(line: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {line}"))
}

#[test]
fn each_shard_writes_through_one_writer_in_order_and_every_record_once() {
    const RECORDS: u64 = 20_000;
    // 4 shards over 3 writers: shards 0 and 3 share writer 0.
    let w = run(4, 3, RECORDS);
    let mut completed = w.completed.clone();
    completed.sort_unstable();
    assert_eq!(completed, (0..RECORDS).collect::<Vec<_>>(), "every record acknowledged once");
    let mut seen = vec![0u32; RECORDS as usize];
    for (writer, lines) in w.results.iter().enumerate() {
        assert!(!lines.is_empty(), "writer {writer} wrote nothing");
        let mut last: BTreeMap<u64, u64> = BTreeMap::new();
        for line in lines {
            let seq = seq_of(line);
            seen[seq as usize] += 1;
            let partition = seq % PARTITIONS;
            // The router sends partition p to shard p % 4, the shard to writer shard % 3.
            assert_eq!((partition % 4) as usize % 3, writer, "seq {seq} through writer {writer}");
            if let Some(previous) = last.insert(partition, seq) {
                assert!(previous < seq, "partition {partition}: {seq} written after {previous}");
            }
        }
    }
    let dead: usize = w.dead_letters.iter().map(Vec::len).sum();
    assert_eq!(dead as u64, RECORDS.div_ceil(97), "one dead letter per record that is not JSON");
    for (writer, letters) in w.dead_letters.iter().enumerate() {
        for letter in letters {
            let seq: u64 =
                letter.split("not json ").nth(1).and_then(|s| s.split('"').next()?.parse().ok()).expect(letter);
            seen[seq as usize] += 1;
            assert_eq!(((seq % PARTITIONS) % 4) as usize % 3, writer, "dead letter {seq} through writer {writer}");
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "a record written {:?} times", seen.iter().find(|&&n| n != 1));
}

#[test]
fn writers_beyond_the_shards_are_not_started() {
    let w = run(2, 5, 1_000);
    assert_eq!(w.completed.len(), 1_000);
    let busy: Vec<bool> = w.results.iter().map(|l| !l.is_empty()).collect();
    assert_eq!(busy, [true, true, false, false, false]);
}
