//! A dead letter carries what replaying the record needs: its bytes exactly,
//! as text when they are UTF-8 and in base64 when they are not.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::testing::{Replay, run_to_end};
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
