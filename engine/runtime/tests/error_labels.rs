//! Metric labels from error names stay bounded: names come from records and
//! remote services, and each distinct label is a series kept for ever (a
//! probe grew a process by 500 MB with 2,000 distinct 200 KB error names).

use expressway_runtime::metrics::{MAX_ERROR_LABEL_CHARS, MAX_ERROR_LABELS, OTHER_ERROR_LABEL, error_label};

#[test]
fn error_labels_are_bounded_in_number_and_length() {
    assert_eq!(error_label("States.TaskFailed"), "States.TaskFailed");
    assert_eq!(error_label(&"E".repeat(MAX_ERROR_LABEL_CHARS)), "E".repeat(MAX_ERROR_LABEL_CHARS));
    assert_eq!(error_label(&"E".repeat(MAX_ERROR_LABEL_CHARS + 1)), OTHER_ERROR_LABEL, "too long");
    let labels: Vec<String> = (0..3 * MAX_ERROR_LABELS).map(|i| error_label(&format!("Custom.Error{i}"))).collect();
    let own = labels.iter().enumerate().filter(|(i, l)| **l == format!("Custom.Error{i}")).count();
    // One name (not an ASL error) was admitted above; the rest of the room went to the first comers.
    assert_eq!(own, MAX_ERROR_LABELS - 1);
    assert!(labels[MAX_ERROR_LABELS..].iter().all(|l| l == OTHER_ERROR_LABEL));
    assert_eq!(error_label("States.TaskFailed"), "States.TaskFailed", "an admitted name keeps its label");
    // ASL's own errors are never crowded out by names that came first.
    assert_eq!(error_label("States.Timeout"), "States.Timeout");
    assert_eq!(error_label("States.NotAnAslError"), OTHER_ERROR_LABEL);
    assert_eq!(error_label("Custom.Error0"), "Custom.Error0");
}
