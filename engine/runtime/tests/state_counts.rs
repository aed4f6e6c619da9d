//! A watched pipeline counts each state's events across its shards, inline
//! and parked executions alike, and keeps its failures with their paths
//! (what the web console draws).

use expressway_engine::vm::StateEvent;
use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{Replay, run_to_end};
use expressway_runtime::watch::PipelineWatch;
use expressway_runtime::{NoDedup, PipelineSpec};
use std::sync::Arc;

const RECORDS: u64 = 200;

fn machine(wait: bool) -> String {
    let good = if wait { r#""Pause":{"Type":"Wait","Seconds":0,"Next":"Done"},"# } else { "" };
    let after_choice = if wait { "Pause" } else { "Done" };
    format!(
        r#"{{"StartAt":"Route","States":{{
        "Route":{{"Type":"Choice","Choices":[{{"Variable":"$.bad","BooleanEquals":true,"Next":"Broken"}}],"Default":"{after_choice}"}},
        {good}
        "Broken":{{"Type":"Fail","Error":"Bad","Cause":"a bad record"}},
        "Done":{{"Type":"Pass","End":true}}}}}}"#
    )
}

fn run_watched(wait: bool) {
    let program = Arc::new(compile_text(&machine(wait), WorkflowType::Express).expect("valid"));
    let watch = Arc::new(PipelineWatch::new(program.states.len(), 2));
    let spec = PipelineSpec { shards: 2, watch: Some(watch.clone()), ..PipelineSpec::new("watched", program.clone()) };
    // Every tenth record is bad; the last one is not JSON at all.
    let source = Replay::new(RECORDS + 1, |seq| match seq {
        RECORDS => b"{not json".to_vec(),
        s => format!(r#"{{"seq":{s},"bad":{}}}"#, s % 10 == 0).into_bytes(),
    })
    .partitions(4);
    let ran = run_to_end(spec, source, Arc::new(NoDedup)).expect("run");
    let bad = RECORDS / 10;
    assert_eq!(ran.dead_letters.len() as u64, bad + 1);

    let counts = watch.counts();
    let of = |name: &str, event: StateEvent| {
        let state = program.states.iter().position(|s| &*s.name == name).expect("state");
        counts[state][event as usize]
    };
    assert_eq!(of("Route", StateEvent::Entered), RECORDS);
    assert_eq!(of("Route", StateEvent::Succeeded), RECORDS);
    assert_eq!(of("Broken", StateEvent::Entered), bad);
    assert_eq!(of("Broken", StateEvent::Failed), bad);
    assert_eq!(of("Done", StateEvent::Entered), RECORDS - bad);
    assert_eq!(of("Done", StateEvent::Succeeded), RECORDS - bad);
    if wait {
        assert_eq!(of("Pause", StateEvent::Succeeded), RECORDS - bad);
    }
    let retried_or_caught: u64 =
        counts.iter().map(|c| c[StateEvent::Retried as usize] + c[StateEvent::Caught as usize]).sum();
    assert_eq!(retried_or_caught, 0);

    let failures = watch.failures();
    assert_eq!(failures.len() as u64, bad + 1);
    let failed = failures.iter().find(|f| f.error == "Bad").expect("a failed execution");
    assert!(failed.input.contains(r#""bad":true"#), "{failed:?}");
    assert_eq!(failed.cause, "a bad record");
    let path: Vec<String> =
        failed.path.iter().map(|(s, e)| format!("{} {}", program.states[*s as usize].name, e.as_str())).collect();
    assert_eq!(path, ["Route entered", "Route succeeded", "Broken entered", "Broken failed"]);
    let rejected = failures.iter().find(|f| f.error == "Expressway.MalformedRecord").expect("the malformed record");
    assert!(rejected.path.is_empty() && rejected.input == "{not json", "{rejected:?}");
}

#[test]
fn inline_executions_are_counted_per_state_on_every_shard() {
    run_watched(false);
}

#[test]
fn parked_executions_are_counted_per_state_too() {
    run_watched(true);
}
