//! How `…Path` fields coerce the values they read, as AWS does: which
//! strings and fractions count, and the `States.Runtime` cause otherwise.

mod support;

use expressway_engine::Status;
use serde_json::{Value, json};
use support::{Res, run};

fn map_with(field: &str, value: Value) -> Res {
    let def = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", field: "$.v", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}
    }}});
    run(def, json!({"items": [1, 2], "v": value}))
}

fn runtime_cause(r: &Res) -> String {
    assert_eq!(r.status, Status::Failed, "{r:?}");
    assert_eq!(r.error.as_deref(), Some("States.Runtime"), "{r:?}");
    r.cause.clone().unwrap_or_default()
}

/// MaxConcurrencyPath reads an integer, a string holding one, or a number
/// with a fraction (truncated); a negative one is refused with its own cause.
#[test]
fn max_concurrency_path() {
    for ok in [json!(1), json!("2"), json!(1.5), json!(0)] {
        let r = map_with("MaxConcurrencyPath", ok.clone());
        assert_eq!(r.status, Status::Succeeded, "{ok}: {r:?}");
        assert_eq!(r.output, Some(json!([1, 2])));
    }
    let cause = runtime_cause(&map_with("MaxConcurrencyPath", json!(-1)));
    assert!(cause.ends_with("Expected non-negative integer for MaxConcurrency, got '-1' instead."), "{cause}");
    let cause = runtime_cause(&map_with("MaxConcurrencyPath", json!("1.5")));
    assert!(
        cause.ends_with("The MaxConcurrencyPath field refers to value \"1.5\" which is not a valid integer: $.v"),
        "{cause}"
    );
    let cause = runtime_cause(&map_with("MaxConcurrencyPath", json!({})));
    assert!(cause.ends_with("refers to value \"{}\" which is not a valid integer: $.v"), "{cause}");
}

/// ToleratedFailureCountPath: an integer or a string holding one; a
/// fraction is not an integer, a negative count is refused.
#[test]
fn tolerated_failure_count_path() {
    for ok in [json!(1), json!("1"), json!(0)] {
        assert_eq!(map_with("ToleratedFailureCountPath", ok.clone()).status, Status::Succeeded, "{ok}");
    }
    let cause = runtime_cause(&map_with("ToleratedFailureCountPath", json!(1.5)));
    assert!(cause.ends_with("refers to value \"1.5\" which is not a valid integer: $.v"), "{cause}");
    let cause = runtime_cause(&map_with("ToleratedFailureCountPath", json!("NoNumber")));
    assert!(cause.ends_with("refers to value \"NoNumber\" which is not a valid integer: $.v"), "{cause}");
    let cause = runtime_cause(&map_with("ToleratedFailureCountPath", json!("-1")));
    assert!(cause.ends_with("ToleratedFailureCount cannot be negative."), "{cause}");
}

/// ToleratedFailurePercentagePath: any number from 0 to 100, or a string
/// holding an integer; a string with a fraction is not read as a float.
#[test]
fn tolerated_failure_percentage_path() {
    for ok in [json!(1.1), json!("50"), json!(100)] {
        assert_eq!(map_with("ToleratedFailurePercentagePath", ok.clone()).status, Status::Succeeded, "{ok}");
    }
    let cause = runtime_cause(&map_with("ToleratedFailurePercentagePath", json!("1.1")));
    assert!(cause.ends_with("refers to value \"1.1\" which is not a valid float: $.v"), "{cause}");
    let cause = runtime_cause(&map_with("ToleratedFailurePercentagePath", json!("101")));
    assert!(cause.ends_with("ToleratedFailurePercentage must be between 0 and 100."), "{cause}");
}
