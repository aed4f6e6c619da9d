//! The `expressway` binary's contract: one JSON object on stdout and the
//! documented exit codes (0 succeeded, 1 failed or timed out, 2 invalid).

use serde::Deserialize as _;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_expressway"))
}

fn temp(name: &str, v: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("expressway-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).expect("write");
    p
}

fn machines() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/machines")
}

fn run(args: &[&str]) -> (i32, Value) {
    let out = bin().args(args).output().expect("run expressway");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    (out.status.code().unwrap_or(-1), serde_json::from_str(last).unwrap_or(Value::Null))
}

#[test]
fn exec_succeeds_on_the_reference_machine() {
    let m = machines();
    let (code, out) = run(&[
        "exec",
        "--definition",
        m.join("iot-fanout.asl.json").to_str().unwrap(),
        "--input",
        m.join("iot-fanout.input.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(out["status"], "SUCCEEDED");
    assert_eq!(out["output"]["classified"].as_array().map(Vec::len), Some(10));
    assert_eq!(out["output"]["classified"][9], json!({"key": "sensor-0042#9", "value": 87, "level": "ALERT"}));
}

#[test]
fn exec_reports_failure_and_invalid_definitions_with_exit_codes() {
    let fail =
        temp("fail.json", &json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}}));
    let input = temp("in.json", &json!({}));
    let (code, out) = run(&["exec", "--definition", fail.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    assert_eq!((code, out), (1, json!({"status": "FAILED", "error": "E", "cause": "C"})));

    let bad = temp("bad.json", &json!({"StartAt": "X", "States": {}}));
    let (code, out) = run(&["exec", "--definition", bad.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(out["status"], "INVALID_DEFINITION");
}

#[test]
fn exec_reads_stdin_and_answers_tasks_from_a_mock_config_file() {
    let def = temp(
        "task.json",
        &json!({"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
            "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2}], "End": true}}}),
    );
    let mocks = temp(
        "mocks.json",
        &json!({"StateMachines": {"M": {"TestCases": {"Flaky": {"Call": "R"}}}},
                "MockedResponses": {"R": {"0": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "x"}}, "1": {"Return": {"ok": true}}}}}),
    );
    let mut child = bin()
        .args([
            "exec",
            "--definition",
            def.to_str().unwrap(),
            "--input",
            "-",
            "--mocks",
            mocks.to_str().unwrap(),
            "--test-case",
            "Flaky",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"{\"n\": 1}").expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v, json!({"status": "SUCCEEDED", "output": {"ok": true}}));
}

/// A reader that goes away before the result is written (`exec … | head`)
/// is no failure: `exec` had panicked on the broken pipe (exit 101).
#[test]
fn exec_into_a_closed_pipe_exits_without_a_panic() {
    let m = machines();
    let mut child = bin()
        .args(["exec", "--definition", m.join("pass-chain.asl.json").to_str().unwrap(), "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader is gone before the execution can start.
    drop(child.stdout.take());
    child.stdin.take().expect("stdin").write_all(b"{}").expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn validate_lists_every_diagnostic_as_json() {
    let def = temp(
        "invalid.json",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere", "Extra": 1}}}),
    );
    let (code, out) = run(&["validate", def.to_str().unwrap(), "--json"]);
    assert_eq!(code, 2);
    let codes: Vec<&str> = out["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"UNKNOWN_FIELD") && codes.contains(&"MISSING_STATE"), "{codes:?}");
    let (code, out) = run(&["validate", machines().join("pass-chain.asl.json").to_str().unwrap(), "--json"]);
    assert_eq!((code, out), (0, json!({"status": "VALID"})));
}

#[test]
fn validate_disassembles_the_program() {
    let out = bin()
        .args(["validate", machines().join("iot-fanout.asl.json").to_str().unwrap(), "--disassemble"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("choose") && text.contains("map") && text.contains("goto"), "{text}");
}

/// The Kubernetes manifest's pipeline is a valid configuration.
#[test]
fn the_kubernetes_manifest_holds_a_valid_pipeline() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s/expressway.yaml");
    let text = std::fs::read_to_string(path).expect("manifest");
    let config_map: serde_norway::Value = serde_norway::Deserializer::from_str(&text)
        .next()
        .map(|d| serde_norway::Value::deserialize(d).expect("the first document parses"))
        .expect("a first document");
    let data = &config_map["data"];
    let dir = std::env::temp_dir().join(format!("expressway-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let machine = dir.join("iot-fanout.asl.json");
    std::fs::write(&machine, data["iot-fanout.asl.json"].as_str().expect("machine")).expect("write");
    let pipeline = data["pipeline.yaml"]
        .as_str()
        .expect("pipeline")
        .replace("/etc/expressway/iot-fanout.asl.json", machine.to_str().expect("utf-8"));
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(&cfg, pipeline).expect("write");
    let out = bin()
        .args(["validate", "--config", cfg.to_str().expect("utf-8")])
        .env("KAFKA_BROKERS", "kafka:9092")
        .env("REDIS_URL", "redis://redis:6379/")
        .env("POD_NAME", "expressway-0")
        .output()
        .expect("validate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Validation and compilation stay linear in the number of states (a
/// transition is resolved through a map, not a scan of the states) and never
/// recurse per state: huge definitions validate, here and on a test thread's
/// 2 MiB stack. Nothing is timed; the before/after measure is in the commit
/// that fixed the quadratic lookup.
#[test]
fn validate_takes_huge_and_deep_definitions() {
    let n = 20_000;
    let mut chain = serde_json::Map::new();
    for i in 0..n {
        let next = if i + 1 < n {
            json!({"Type": "Pass", "Next": format!("S{}", i + 1)})
        } else {
            json!({"Type": "Pass", "End": true})
        };
        chain.insert(format!("S{i}"), next);
    }
    let chain = json!({"StartAt": "S0", "States": chain});
    let choice_of = |n: usize| {
        let mut choice = serde_json::Map::new();
        let branches: Vec<Value> =
            (0..n).map(|i| json!({"Variable": "$.x", "NumericEquals": i, "Next": format!("T{i}")})).collect();
        choice.insert("C".into(), json!({"Type": "Choice", "Choices": branches, "Default": "T0"}));
        for i in 0..n {
            choice.insert(format!("T{i}"), json!({"Type": "Succeed"}));
        }
        json!({"StartAt": "C", "States": choice})
    };
    // 10,000 rules: as many as fit AWS's 1,048,576 characters (20,000 do
    // not, and are refused unread).
    let (rules, choice) = (10_000, choice_of(10_000));
    let over = temp("huge-choice-over-the-limit.json", &choice_of(n));
    let (code, out) = run(&["validate", over.to_str().unwrap(), "--json"]);
    assert_eq!(code, 2);
    assert!(out["diagnostics"][0]["message"].as_str().unwrap_or("").contains("longer than AWS's limit"), "{out}");
    // Each Parallel is four levels of JSON; the definition reader's nesting
    // limit (128) allows 31 of them around a Pass.
    let nested = |depth: usize| {
        let mut m = json!({"StartAt": "L", "States": {"L": {"Type": "Pass", "End": true}}});
        for i in 0..depth {
            m = json!({"StartAt": format!("P{i}"), "States": {format!("P{i}"): {"Type": "Parallel", "Branches": [m], "End": true}}});
        }
        m
    };
    for (name, definition, states) in
        [("chain", &chain, n), ("choice", &choice, rules + 1), ("parallel", &nested(31), 32)]
    {
        let path = temp(&format!("huge-{name}.json"), definition);
        let out = bin().args(["validate", path.to_str().unwrap()]).output().expect("validate");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {text}");
        assert!(text.contains(&format!("valid ({states} states")), "{name}: {text}");
    }
    let too_deep = temp("huge-parallel-too-deep.json", &nested(32));
    let (code, out) = run(&["validate", too_deep.to_str().unwrap(), "--json"]);
    assert_eq!(code, 2);
    assert!(out["diagnostics"][0]["message"].as_str().unwrap_or("").contains("recursion limit exceeded"), "{out}");
    // In process, on a thread with the test harness's default stack.
    let text = chain.to_string();
    let compiled = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            expressway_engine::compile_text(&text, expressway_engine::WorkflowType::Express).map(|p| p.states.len())
        })
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(compiled.ok(), Some(n));
}

#[test]
fn version_names_the_git_commit() {
    let out = bin().arg("--version").output().expect("run expressway --version");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = format!("expressway {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = text.trim().strip_prefix(&expected).and_then(|rest| rest.strip_suffix(')')).unwrap_or("");
    // This test runs from a git checkout (the container build passes EXPRESSWAY_GIT_COMMIT instead).
    assert!(commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
}

#[test]
fn graph_draws_the_reference_machine_and_rejects_an_invalid_one() {
    let def = machines().join("iot-fanout.asl.json");
    let out = bin().args(["graph", def.to_str().unwrap(), "--format", "mermaid"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("flowchart TD\n"), "{text}");
    for state in ["CheckBatch", "FanOut", "Label", "Classify", "Alert", "Normal", "Ignored", "Done"] {
        assert!(text.contains(&format!("\"{state}")), "{state} missing from\n{text}");
    }
    let svg = bin().args(["graph", def.to_str().unwrap()]).output().expect("run");
    assert_eq!(svg.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&svg.stdout).matches(" data-state=\"").count(), 8, "SVG is the default");

    let bad = temp("graph-bad.json", &json!({"StartAt": "X", "States": {}}));
    let out = bin().args(["graph", bad.to_str().unwrap(), "--format", "dot"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty() && String::from_utf8_lossy(&out.stderr).contains("problem(s)"));
}
