//! A record whose wait no clock can hold ends its execution at the
//! deadline (States.Timeout, dead-lettered) instead of parking it for ever:
//! `SecondsPath: 2^63 - 1` had wrapped the deadline check and slept ~292
//! million years, holding the pipeline's checkpoint behind it.

use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{records_of, run_to_end};
use expressway_runtime::{NoDedup, PipelineSpec};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_wait_past_any_clock_is_dead_lettered_and_the_pipeline_ends() {
    let machine = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}"#;
    let program = Arc::new(compile_text(machine, WorkflowType::Express).expect("valid"));
    let records = ["{\"s\":9223372036854775807}", "{\"s\":4611686018427387904}", "{\"s\":0}"];
    let source = records_of(records.iter().map(|r| r.to_string()).collect());
    let completed = source.completed();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_to_end(PipelineSpec::new("waits", program), source, Arc::new(NoDedup)));
    });
    let ran = rx.recv_timeout(Duration::from_secs(60)).expect("the pipeline ends").expect("ran");
    assert_eq!(ran.results.len(), 1, "{:?}", ran.results);
    assert_eq!(ran.dead_letters.len(), 2, "{:?}", ran.dead_letters);
    for line in &ran.dead_letters {
        let dead: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(dead["error"], "States.Timeout", "{line}");
    }
    assert_eq!(completed.lock().expect("completed").len(), 3, "every record is concluded");
}
