//! Snapshot tests for `Program::disassemble()`: the listing of each reference
//! machine and of a few small definitions is compared with a checked-in text
//! file under `tests/snapshots/`. A compiler change that alters the bytecode
//! shows up here as a diff; if it is intended, rewrite the snapshots with
//! `UPDATE_SNAPSHOTS=1 cargo test -p expressway-engine --test disassembler`
//! and review them like code.

use expressway_engine::{WorkflowType, compile_text};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn snapshot_dir() -> PathBuf {
    manifest_dir().join("tests/snapshots")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1")
}

/// The disassembly of definition text, or the validator's diagnostics.
fn disassemble(name: &str, text: &str) -> String {
    match compile_text(text, WorkflowType::Express) {
        Ok(program) => program.disassemble(),
        Err(diags) => {
            let listed: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("{name} does not compile:\n{}", listed.join("\n"))
        }
    }
}

/// Compares `actual` with the snapshot `file` (or rewrites it when updating);
/// returns a readable report on mismatch.
fn check(file: &str, actual: &str) -> Result<(), String> {
    let path = snapshot_dir().join(file);
    if updating() {
        std::fs::create_dir_all(snapshot_dir()).expect("create tests/snapshots");
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return Ok(());
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return Err(format!("{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)", path.display())),
    };
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{} differs from the disassembly (- snapshot, + now; UPDATE_SNAPSHOTS=1 rewrites it):\n{}",
        path.display(),
        line_diff(&expected, actual)
    ))
}

/// A line diff (longest common subsequence) showing changed lines with two
/// lines of context; enough for listings of a few hundred lines.
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    if old.ends_with('\n') != new.ends_with('\n') {
        lines.push(('!', "(the texts differ in their final newline)"));
    }
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = lines.iter().enumerate().filter(|(_, (t, _))| *t != ' ').map(|(n, _)| n).collect();
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (n, (tag, line)) in lines.iter().enumerate() {
        let near = changed.iter().any(|&c| c.abs_diff(n) <= CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|l| l + 1 != n) {
            out.push_str("  ...\n");
        }
        out.push_str(&format!("{tag} {line}\n"));
        last_shown = Some(n);
    }
    out
}

fn assert_all(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every `benches/machines/*.asl.json`, snapshot `bench-<name>.txt`.
#[test]
fn reference_machines() {
    let dir = manifest_dir().join("../benches/machines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".asl.json")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no reference machines in {}", dir.display());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 file name");
        let stem = name.strip_suffix(".asl.json").expect("filtered above");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if let Err(e) = check(&format!("bench-{stem}.txt"), &disassemble(name, &text)) {
            failures.push(e);
        }
    }
    assert_all(failures);
}

/// Small definitions, one per feature the compiler lowers differently.
fn small_definitions() -> Vec<(&'static str, Value)> {
    vec![
        (
            "choice",
            json!({
                "StartAt": "Route",
                "States": {
                    "Route": {
                        "Type": "Choice",
                        "Choices": [
                            {"Not": {"Variable": "$.kind", "StringMatches": "test-*"}, "Next": "Big"},
                            {"Or": [
                                {"Variable": "$.n", "NumericLessThanPath": "$.limit"},
                                {"Variable": "$.at", "TimestampGreaterThan": "2024-01-01T00:00:00Z"}
                            ], "Next": "Small"}
                        ],
                        "Default": "Other"
                    },
                    "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
                    "Small": {"Type": "Wait", "Seconds": 5, "Next": "Other"},
                    "Other": {"Type": "Succeed"}
                }
            }),
        ),
        (
            "retry-catch",
            json!({
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work",
                        "Parameters": {"id.$": "$.id", "fixed": 1},
                        "ResultSelector": {"body.$": "$.Payload"},
                        "ResultPath": "$.result",
                        "TimeoutSeconds": 30,
                        "Retry": [
                            {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 2, "MaxAttempts": 5, "BackoffRate": 1.5},
                            {"ErrorEquals": ["States.ALL"], "JitterStrategy": "FULL"}
                        ],
                        "Catch": [
                            {"ErrorEquals": ["Custom.Error"], "ResultPath": "$.error", "Next": "Recover"},
                            {"ErrorEquals": ["States.ALL"], "Next": "Failed"}
                        ],
                        "Next": "Done"
                    },
                    "Recover": {"Type": "Pass", "OutputPath": "$.error", "Next": "Done"},
                    "Failed": {"Type": "Fail", "Error": "Broken", "CausePath": "$.Cause"},
                    "Done": {"Type": "Succeed"}
                }
            }),
        ),
        (
            "map",
            json!({
                "StartAt": "Each",
                "States": {
                    "Each": {
                        "Type": "Map",
                        "ItemsPath": "$.items",
                        "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                        "MaxConcurrency": 4,
                        "ToleratedFailurePercentage": 10,
                        "ItemProcessor": {
                            "StartAt": "Double",
                            "States": {
                                "Double": {
                                    "Type": "Pass",
                                    "Parameters": {"v.$": "States.MathAdd($.item, $.item)"},
                                    "End": true
                                }
                            }
                        },
                        "ResultPath": "$.doubled",
                        "End": true
                    }
                }
            }),
        ),
        (
            "parallel",
            json!({
                "StartAt": "Both",
                "States": {
                    "Both": {
                        "Type": "Parallel",
                        "Branches": [
                            {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "Result": 1, "End": true}}},
                            {"StartAt": "Right", "States": {
                                "Right": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "RightDone"},
                                "RightDone": {"Type": "Succeed"}
                            }}
                        ],
                        "ResultSelector": {"left.$": "$[0]", "right.$": "$[1]"},
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}],
                        "Next": "Done"
                    },
                    "Oops": {"Type": "Fail", "Error": "ParallelFailed"},
                    "Done": {"Type": "Succeed"}
                }
            }),
        ),
        (
            "jsonata",
            json!({
                "QueryLanguage": "JSONata",
                "StartAt": "Prepare",
                "States": {
                    "Prepare": {
                        "Type": "Pass",
                        "Assign": {"total": "{% $sum($states.input.values) %}"},
                        "Output": {"count": "{% $count($states.input.values) %}"},
                        "Next": "Decide"
                    },
                    "Decide": {
                        "Type": "Choice",
                        "Choices": [{"Condition": "{% $total > 10 %}", "Next": "Call"}],
                        "Default": "Done"
                    },
                    "Call": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Arguments": {"FunctionName": "f", "Payload": {"total": "{% $total %}"}},
                        "Output": "{% $states.result.Payload %}",
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}", "Next": "Done"}],
                        "Next": "Done"
                    },
                    "Done": {"Type": "Succeed"}
                }
            }),
        ),
    ]
}

#[test]
fn small_definitions_cover_each_state_type() {
    let mut failures = Vec::new();
    for (name, definition) in small_definitions() {
        let text = serde_json::to_string_pretty(&definition).expect("serialize");
        if let Err(e) = check(&format!("{name}.txt"), &disassemble(name, &text)) {
            failures.push(e);
        }
    }
    assert_all(failures);
}

#[test]
fn line_diff_marks_changed_lines_with_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\n";
    let new = "a\nb\nc\nD\ne\nf\ng\n";
    assert_eq!(line_diff(old, new), "  b\n  c\n- d\n+ D\n  e\n  f\n");
}
