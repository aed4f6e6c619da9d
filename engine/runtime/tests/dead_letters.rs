//! A dead letter carries what replaying the record needs: its bytes exactly,
//! as text when they are UTF-8 and in base64 when they are not.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use expressway_engine::vm::StateEvent;
use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{Replay, run_to_end};
use expressway_runtime::watch::PipelineWatch;
use expressway_runtime::{NoDedup, PipelineSpec};
use std::sync::Arc;

#[test]
fn malformed_records_keep_their_exact_bytes() {
    let records: Vec<Vec<u8>> =
        vec![b"{\"not json".to_vec(), vec![b'{', 0xff, 0xfe, b'"', 0xc3, b'}'], b"{\"ok\":1}".to_vec()];
    let program =
        compile_text(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#, WorkflowType::Express).unwrap();
    let source = {
        let records = records.clone();
        Replay::new(records.len() as u64, move |seq| records[seq as usize].clone()).partitions(1)
    };
    let ran = run_to_end(PipelineSpec::new("t", Arc::new(program)), source, Arc::new(NoDedup)).expect("run");
    assert_eq!(ran.results, vec![r#"{"ok":1}"#.to_string()]);
    let dead: Vec<serde_json::Value> = ran.dead_letters.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["error"], "Expressway.MalformedRecord");
    assert_eq!(dead[0]["input"], "{\"not json");
    assert!(dead[0].get("inputBase64").is_none());
    assert_eq!(dead[1]["error"], "Expressway.MalformedRecord");
    assert!(dead[1].get("input").is_none(), "{}", dead[1]);
    let bytes = BASE64_STANDARD.decode(dead[1]["inputBase64"].as_str().expect("base64 text")).expect("base64");
    assert_eq!(bytes, records[1]);
}

/// A Map whose iterations wait (so they run as parked futures, not inline)
/// and each return most of a payload is dead-lettered with
/// States.DataLimitExceeded once its results cannot fit, and the records
/// around it run: the live driver stops gathering as the engine's does.
#[test]
fn a_parked_maps_results_past_the_payload_limit_dead_letter_its_record_only() {
    let machine = r#"{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":4,
      "ItemProcessor":{"StartAt":"Pause","States":{
        "Pause":{"Type":"Wait","Seconds":0,"Next":"Copy"},
        "Copy":{"Type":"Pass","Parameters":{"s.$":"$$.Execution.Input.big"},"End":true}}},
      "ResultSelector":{"n.$":"States.ArrayLength($)"},"End":true}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Express).expect("valid"));
    let big = "x".repeat(100_000);
    let record = |n: usize| format!(r#"{{"items":{:?},"big":"{big}"}}"#, vec![0; n]).into_bytes();
    let records = [record(2), record(3000), record(1)];
    let source = Replay::new(3, move |seq| records[seq as usize].clone()).partitions(1);
    let watch = Arc::new(PipelineWatch::new(program.states.len(), 1));
    let spec = PipelineSpec { shards: 1, watch: Some(watch.clone()), ..PipelineSpec::new("t", program.clone()) };
    let ran = run_to_end(spec, source, Arc::new(NoDedup)).expect("run");
    let copy = program.states.iter().position(|s| &*s.name == "Copy").expect("state");
    let copies = watch.counts()[copy][StateEvent::Entered as usize];
    // 2 + 1 for the neighbours; the big one stops within its concurrency
    // of the third result, not after 3,000.
    assert!(copies <= 3 + 3 + 4, "{copies} iterations ran");
    assert_eq!(ran.results, vec![r#"{"n":2}"#.to_string(), r#"{"n":1}"#.to_string()]);
    assert_eq!(ran.dead_letters.len(), 1);
    let dead: serde_json::Value = serde_json::from_str(&ran.dead_letters[0]).expect("json");
    assert_eq!(dead["error"], "States.DataLimitExceeded", "{dead}");
}

/// A pipeline's `max_work_per_execution` is each execution's work budget:
/// a record whose JSONata sorts 20,000 numbers (~40,000 steps) runs under
/// the default and is dead-lettered as timed out under a budget of 10,000
/// steps, while a record doing little still runs.
#[test]
fn the_pipelines_work_budget_times_out_a_record_past_it() {
    let machine = r#"{"QueryLanguage":"JSONata","StartAt":"Sort","States":{"Sort":{"Type":"Pass",
      "Output":"{% $count($sort([1..$states.input.n])) %}","End":true}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Express).expect("valid"));
    let records = [br#"{"n":20000}"#.to_vec(), br#"{"n":10}"#.to_vec()];
    let run = |spec: PipelineSpec| {
        let records = records.clone();
        let source = Replay::new(2, move |seq| records[seq as usize].clone()).partitions(1);
        run_to_end(spec, source, Arc::new(NoDedup)).expect("run")
    };
    let ran = run(PipelineSpec::new("t", program.clone()));
    assert_eq!((ran.results, ran.dead_letters.len()), (vec!["20000".to_string(), "10".to_string()], 0));
    let ran = run(PipelineSpec { max_work_per_execution: 10_000, ..PipelineSpec::new("t", program) });
    assert_eq!(ran.results, vec!["10".to_string()]);
    assert_eq!(ran.dead_letters.len(), 1, "{:?}", ran.dead_letters);
    let dead: serde_json::Value = serde_json::from_str(&ran.dead_letters[0]).expect("json");
    assert_eq!(dead["error"], "States.Timeout", "{dead}");
}

/// A dead letter always fits a sink: a failed execution's input and a cause
/// of up to 256 KiB each (numbers rendered longer than they arrived, control
/// characters escaped six-fold) made envelopes past SQS's 256 KiB and
/// Kafka's 1 MB, which the sink refused — and a refused dead letter stops
/// the pipeline on that record at every restart. A cause is cut at AWS's
/// 32,768 characters; an input that does not fit is left out, its size kept
/// and its coordinates there to find it; a small one is kept whole.
#[test]
fn a_dead_letter_stays_within_what_a_sink_takes() {
    use expressway_runtime::MAX_DEAD_LETTER_BYTES;
    let machine = r#"{"QueryLanguage":"JSONata","StartAt":"F","States":{"F":{"Type":"Fail",
      "Error":"{% $exists($states.input.e) ? $states.input.e : 'Invalid' %}",
      "Cause":"{% $pad('', $states.input.n, '\u0001') %}"}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Express).expect("valid"));
    let numbers = vec!["1e15"; 52_000].join(",");
    let records = [
        format!(r#"{{"n":40000,"pad":[{numbers}]}}"#).into_bytes(),
        br#"{"n":3}"#.to_vec(),
        format!(r#"{{"n":10,"pad":"{}"}}"#, "\\\\".repeat(150_000)).into_bytes(),
        // An error of 150,000 characters, and a cause still past the bound
        // once escaped after the input is left out.
        format!(r#"{{"n":40000,"e":"{}"}}"#, "E".repeat(150_000)).into_bytes(),
    ];
    let source = Replay::new(4, move |seq| records[seq as usize].clone()).partitions(1);
    let ran = run_to_end(PipelineSpec::new("t", program), source, Arc::new(NoDedup)).expect("run");
    assert_eq!(ran.dead_letters.len(), 4);
    for line in &ran.dead_letters {
        assert!(line.len() <= MAX_DEAD_LETTER_BYTES, "a dead letter of {} bytes", line.len());
    }
    let dead: Vec<serde_json::Value> = ran.dead_letters.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(dead[0]["cause"].as_str().map(|c| c.chars().count()), Some(32_768));
    assert_eq!((dead[0]["causeTruncated"].as_bool(), dead[0]["inputOmitted"].as_bool()), (Some(true), Some(true)));
    assert!(dead[0]["inputBytes"].as_u64() > Some(200_000), "{}", dead[0]["inputBytes"]);
    assert!(dead[0]["source"].is_string());
    assert_eq!(dead[1]["input"], serde_json::json!({"n": 3}), "a small record is kept whole");
    assert!(dead[1].get("causeTruncated").is_none() && dead[1].get("inputOmitted").is_none());
    assert_eq!(
        dead[2]["inputOmitted"].as_bool(),
        Some(true),
        "a record past the payload limit, its 300,000 backslashes 600,000 escaped"
    );
    assert_eq!(dead[3]["error"].as_str().map(str::len), Some(256), "AWS's 256 characters of an error");
    assert_eq!(dead[3]["causeTruncated"].as_bool(), Some(true));
}

/// A sink that refuses ([`Refused`]) lines over `max` bytes or holding
/// `poison`: an in-memory stand-in for a broker's own per-record refusals
/// (the real ones, Kafka's `message.max.bytes` and SQS's characters, are in
/// `connectors/expressway/tests/kafka.rs` and `aws.rs`); here it also refuses
/// a dead letter, which no broker here can be made to do for one record.
struct Refusing {
    lines: expressway_runtime::testing::MemorySink,
    max: usize,
    poison: &'static str,
}

impl expressway_runtime::Sink for Refusing {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        if line.len() > self.max || String::from_utf8_lossy(line).contains(self.poison) {
            return Err(expressway_runtime::Refused::error(format!("{} bytes refused", line.len())));
        }
        self.lines.write(line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A result the results sink refuses becomes its record's dead letter
/// (`Expressway.SinkRejected`, the result kept); a dead letter the
/// dead-letter sink refuses is written as its error alone; the records
/// around them run. A refusal had stopped the pipeline, and it comes back
/// with its record at every restart.
#[test]
fn a_record_whose_result_or_dead_letter_a_sink_refuses_is_dead_lettered_and_the_pipeline_goes_on() {
    use expressway_runtime::testing::{MemorySink, records_of};
    let machine = r#"{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.fail","IsPresent":true,
      "Next":"F"}],"Default":"P"},"P":{"Type":"Pass","End":true},"F":{"Type":"Fail","Error":"Invalid","CausePath":"$.cause"}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Express).expect("valid"));
    let big_cause = "x".repeat(2000);
    let records = records_of(vec![
        r#"{"i":0}"#.into(),
        r#"{"i":1,"poison":"refuse-me"}"#.into(),
        format!(r#"{{"i":2,"fail":true,"cause":"{big_cause}"}}"#),
        r#"{"i":3}"#.into(),
    ]);
    let (results, dead) = (MemorySink::default(), MemorySink::default());
    let stats = Arc::new(expressway_runtime::Stats::default());
    expressway_runtime::run(
        PipelineSpec { shards: 1, ..PipelineSpec::new("t", program) },
        Box::new(records.partitions(1)),
        Box::new(Refusing { lines: results.clone(), max: 10_000, poison: "refuse-me" }),
        Box::new(Refusing { lines: dead.clone(), max: 1_000, poison: "never" }),
        Arc::new(NoDedup),
        stats.clone(),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .expect("the pipeline runs to its end");
    assert_eq!(results.lines(), [r#"{"i":0}"#, r#"{"i":3}"#]);
    let dead: Vec<serde_json::Value> = dead.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0]["error"], "Expressway.SinkRejected");
    assert_eq!(dead[0]["source"], "memory:offset=1", "where the record came from");
    assert_eq!(dead[0]["cause"], "the results sink refused this record's result: 28 bytes refused");
    assert_eq!(dead[0]["output"], r#"{"i":1,"poison":"refuse-me"}"#);
    assert_eq!(dead[1]["error"], "Expressway.SinkRejected");
    let cause = dead[1]["cause"].as_str().unwrap_or_default();
    assert!(cause.starts_with("the dead-letter sink refused this record's dead letter: "), "{cause}");
    assert!(dead[1]["outputBytes"].as_u64() > Some(2000) && dead[1].get("output").is_none(), "{}", dead[1]);
    assert_eq!(dead[1]["outputOmitted"].as_bool(), Some(true));
    assert_eq!(dead[1]["source"], "memory:offset=2");
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(count(&stats.dead_letters), 2);
    // Record 1 succeeded and only its result was refused: it is told apart
    // from record 2, which failed, by the refusal count.
    assert_eq!((count(&stats.succeeded), count(&stats.failed), count(&stats.sink_refusals)), (3, 1, 1));
}
