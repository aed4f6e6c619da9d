//! `expressway run` end to end, against real files and real processes:
//! quickstart, dedup, dead letters, a `kill -9` mid-run followed by a
//! restart, and a SIGTERM drain.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_expressway"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("expressway-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The offset a file source's checkpoint resumes from (its first line).
fn offset_in(checkpoint: &str) -> u64 {
    checkpoint.lines().next().and_then(|l| l.parse().ok()).expect("a checkpoint starts with its offset")
}

/// Every complete line of a JSON-lines file (a crash may leave a torn tail,
/// which the sink cuts off when it reopens the file).
fn lines(p: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let mut parts: Vec<&str> = text.split('\n').collect();
    parts.pop();
    parts.into_iter().map(|l| serde_json::from_str(l).expect("every written line is JSON")).collect()
}

/// A pipeline over `input` with the echo machine, its outputs in `dir`.
fn write_config(dir: &Path, machine: &str, follow: bool, extra: &str) -> PathBuf {
    std::fs::write(dir.join("machine.asl.json"), machine).expect("machine");
    let cfg = format!(
        r#"
pipelines:
  - name: test
    state_machine: machine.asl.json
    source: {{ type: file, path: input.jsonl, follow: {follow} }}
    sink: {{ type: file, path: results.jsonl }}
    dead_letter: {{ type: file, path: dead.jsonl }}
    idempotency: {{ key: "$.id" }}
runtime: {{ shards: 2, max_in_flight_per_shard: 256, drain_timeout: 10s{extra} }}
"#
    );
    let p = dir.join("pipeline.yaml");
    std::fs::write(&p, cfg).expect("config");
    p
}

const ECHO: &str = r#"{"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "Parameters": {"id.$": "$.id", "seen": true}, "End": true}}}"#;

fn write_input(dir: &Path, n: usize) {
    let mut text = String::with_capacity(n * 40);
    for i in 0..n {
        text.push_str(&format!("{{\"id\": \"r{i}\", \"payload\": \"{}\"}}\n", "x".repeat(16)));
    }
    std::fs::write(dir.join("input.jsonl"), text).expect("input");
}

#[test]
fn quickstart_runs_end_to_end() {
    let out = temp_dir("quickstart");
    let run = bin()
        .args(["run", "--config", repo().join("config/examples/quickstart.yaml").to_str().unwrap(), "--from-start"])
        .env("QUICKSTART_OUT", &out)
        .output()
        .expect("run quickstart");
    let summary = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{summary}");
    assert!(summary.contains("600 executions (600 succeeded"), "{summary}");
    assert!(summary.contains("18 duplicates skipped"), "{summary}");
    let results = lines(&out.join("results.jsonl"));
    assert_eq!(results.len(), 600);
    let batches: HashSet<&str> = results.iter().filter_map(|r| r["batchId"].as_str()).collect();
    assert_eq!(batches.len(), 600, "every batch exactly once");
    let temperature = results.iter().find(|r| r["reading"]["kind"] == "temperature").expect("a temperature batch");
    assert_eq!(temperature["classified"].as_array().map(Vec::len), Some(10));
    let dead = lines(&out.join("dead-letters.jsonl"));
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter()
            .all(|d| d["error"] == "Expressway.MalformedRecord" && d["source"].as_str().unwrap().contains("offset="))
    );
}

#[test]
fn failures_malformed_and_oversized_records_go_to_the_dead_letter_sink() {
    let dir = temp_dir("dead");
    let fail = r#"{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Y"}], "Default": "F"},
        "Y": {"Type": "Succeed"}, "F": {"Type": "Fail", "Error": "Rejected", "Cause": "not ok"}}}"#;
    let big = format!("{{\"id\": \"big\", \"ok\": true, \"blob\": \"{}\"}}", "y".repeat(300 * 1024));
    let input = format!(
        "{{\"id\": \"a\", \"ok\": true}}\n{{\"id\": \"b\", \"ok\": false}}\nnot json\n{big}\n{{\"ok\": true}}\n"
    );
    std::fs::write(dir.join("input.jsonl"), input).unwrap();
    let cfg = write_config(&dir, fail, false, "");
    let run = bin().args(["run", "--config", cfg.to_str().unwrap()]).output().expect("run");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(lines(&dir.join("results.jsonl")).len(), 1);
    let dead = lines(&dir.join("dead.jsonl"));
    let errors: HashSet<&str> = dead.iter().map(|d| d["error"].as_str().unwrap()).collect();
    assert_eq!(
        errors,
        HashSet::from([
            "Rejected",
            "Expressway.MalformedRecord",
            "States.DataLimitExceeded",
            "Expressway.MissingIdempotencyKey"
        ])
    );
    let rejected = dead.iter().find(|d| d["error"] == "Rejected").unwrap();
    assert_eq!(
        (rejected["cause"].as_str(), &rejected["input"]),
        (Some("not ok"), &serde_json::json!({"id": "b", "ok": false}))
    );
}

#[test]
fn a_kill_9_mid_run_then_a_restart_loses_no_record() {
    kill_9_then_restart("crash", "");
}

/// Records dealt to the shards in turn finish out of the file's order; the
/// checkpoint is still the oldest incomplete line, so the same holds.
#[test]
fn a_kill_9_mid_run_then_a_restart_loses_no_record_without_ordering() {
    kill_9_then_restart("crash-unordered", ", ordering: none");
}

fn kill_9_then_restart(name: &str, runtime: &str) {
    let dir = temp_dir(name);
    let n = 200_000;
    write_input(&dir, n);
    // Byte offset of every input line, to know which ones a restart re-reads.
    let text = std::fs::read_to_string(dir.join("input.jsonl")).unwrap();
    let mut offset_of = std::collections::HashMap::new();
    let mut at = 0u64;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        offset_of.insert(v["id"].as_str().unwrap().to_string(), at);
        at += line.len() as u64 + 1;
    }
    // follow: true keeps the process alive until it is killed.
    let cfg = write_config(&dir, ECHO, true, &format!(", commit_interval: 20ms{runtime}"));
    let mut child =
        bin().args(["run", "--config", cfg.to_str().unwrap()]).stderr(Stdio::null()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let written = std::fs::metadata(dir.join("results.jsonl")).map(|m| m.len()).unwrap_or(0);
        if written > 300_000 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill -9"); // SIGKILL: no drain, no final commit
    child.wait().expect("reap");
    let before = lines(&dir.join("results.jsonl"));
    assert!(!before.is_empty() && before.len() < n, "killed mid-run ({} of {n} written)", before.len());
    let checkpoint: u64 =
        std::fs::read_to_string(dir.join("input.jsonl.checkpoint")).map(|t| offset_in(&t)).unwrap_or(0);
    // Results already written for lines at or after the checkpoint will be
    // produced again: that, and only that, is the re-run window.
    let window = before.iter().filter(|r| offset_of[r["id"].as_str().unwrap()] >= checkpoint).count();

    let cfg = write_config(&dir, ECHO, false, runtime);
    let run = bin().args(["run", "--config", cfg.to_str().unwrap()]).output().expect("restart");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let results = lines(&dir.join("results.jsonl"));
    let ids: HashSet<&str> = results.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), n, "every input has a result");
    assert_eq!(results.len() - n, window, "duplicates are exactly the re-runs of the uncommitted window");
    // Nothing before the checkpoint ran twice.
    let mut seen = HashSet::new();
    for r in &results {
        let id = r["id"].as_str().unwrap();
        if !seen.insert(id) {
            assert!(offset_of[id] >= checkpoint, "{id} ran twice but was before the checkpoint");
        }
    }
    assert!(lines(&dir.join("dead.jsonl")).is_empty());
}

#[test]
fn sigterm_drains_commits_and_exits_zero() {
    let dir = temp_dir("sigterm");
    write_input(&dir, 20_000);
    let cfg = write_config(&dir, ECHO, true, "");
    let child = bin().args(["run", "--config", cfg.to_str().unwrap()]).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines(&dir.join("results.jsonl")).len() < 20_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Everything was acknowledged: the checkpoint is at the end of the input.
    let checkpoint = offset_in(&std::fs::read_to_string(dir.join("input.jsonl.checkpoint")).unwrap());
    assert_eq!(checkpoint, std::fs::metadata(dir.join("input.jsonl")).unwrap().len());
    // A restart finds nothing left to do.
    let again = write_config(&dir, ECHO, false, "");
    let run = bin().args(["run", "--config", again.to_str().unwrap()]).output().expect("restart");
    assert!(String::from_utf8_lossy(&run.stderr).contains(": 0 executions"));
    assert_eq!(lines(&dir.join("results.jsonl")).len(), 20_000);
}

/// Log rotation under a following pipeline, each way `logrotate` does it,
/// and once while the pipeline is down: every record of every file runs
/// (before, a renamed file was read for ever and the new one never, and a
/// restart skipped the new file's first bytes; then lines the writer
/// appended to the renamed file after the follow moved on were lost).
#[test]
fn a_following_pipeline_reads_every_record_across_log_rotations() {
    let dir = temp_dir("rotation");
    let input = dir.join("input.jsonl");
    let batch = |from: usize, to: usize| -> String {
        (from..to).map(|i| format!("{{\"id\": \"r{i}\", \"payload\": \"{}\"}}\n", "x".repeat(i % 7))).collect()
    };
    let append = |text: &str| OpenOptions::new().append(true).open(&input).unwrap().write_all(text.as_bytes()).unwrap();
    let wait_for_results = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines(&dir.join("results.jsonl")).len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let stop = |child: std::process::Child| {
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::write(&input, batch(0, 100)).unwrap();
    let cfg = write_config(&dir, ECHO, true, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("follow: true }", "follow: true, rotate_wait: 1s }");
    std::fs::write(&cfg, text).unwrap();
    let spawn =
        || bin().args(["run", "--config", cfg.to_str().unwrap()]).stderr(Stdio::piped()).spawn().expect("spawn");
    let child = spawn();
    wait_for_results(100);
    // rename, then a new file under the name; the writer appends to the
    // renamed file a moment later, before it reopens the name (the follow
    // has seen the new file by then: it looks every 10 ms)
    let renamed = dir.join("input.jsonl.1");
    std::fs::rename(&input, &renamed).unwrap();
    std::fs::write(&input, batch(120, 150)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    OpenOptions::new().append(true).open(&renamed).unwrap().write_all(batch(100, 120).as_bytes()).unwrap();
    wait_for_results(150);
    // copytruncate, written past the old position before the pipeline looks
    std::fs::write(&input, batch(150, 230)).unwrap();
    wait_for_results(230);
    append(&batch(230, 240));
    wait_for_results(240);
    let log = stop(child);
    assert!(log.contains("reading it from its start"), "each rotation is logged: {log}");
    // Rotated while the pipeline was down.
    std::fs::rename(&input, dir.join("input.jsonl.2")).unwrap();
    std::fs::write(&input, batch(240, 300)).unwrap();
    let child = spawn();
    wait_for_results(300);
    stop(child);
    let ids: std::collections::BTreeSet<String> =
        lines(&dir.join("results.jsonl")).iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let expected: std::collections::BTreeSet<String> = (0..300).map(|i| format!("r{i}")).collect();
    assert_eq!(ids, expected, "every record of every file ran");
    assert!(lines(&dir.join("dead.jsonl")).is_empty(), "no line was read from the middle");
}

/// A pipeline whose tasks are all HTTP calls reads no AWS region or
/// credentials from the instance metadata service: outside AWS that lookup
/// only waited and printed warnings.
#[test]
fn an_http_only_pipeline_does_not_ask_the_instance_metadata_service() {
    let dir = temp_dir("http-only");
    write_input(&dir, 1);
    let machine = r#"{"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint": "http://127.0.0.1:9/x", "Method": "GET"}, "End": true}}}"#;
    let cfg = write_config(&dir, machine, false, "");
    let out = bin()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("run");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && log.contains("pipeline test: 1 executions"), "{log}");
    assert!(!log.contains("IMDS") && !log.contains("no AWS region"), "{log}");
    let dead = lines(&dir.join("dead.jsonl"));
    assert_eq!(dead[0]["error"], "States.Permissions", "the call itself was still made and refused: {dead:?}");
}

#[test]
fn validate_config_checks_every_example_and_reports_all_problems() {
    for example in std::fs::read_dir(repo().join("config/examples")).unwrap() {
        let p = example.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("yaml") {
            let out = bin().args(["validate", "--config", p.to_str().unwrap()]).output().unwrap();
            assert!(out.status.success(), "{}: {}", p.display(), String::from_utf8_lossy(&out.stdout));
        }
    }
    let dir = temp_dir("badcfg");
    std::fs::write(
        dir.join("machine.asl.json"),
        r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        "pipelines:\n  - name: x\n    state_machine: machine.asl.json\n    source: { type: file, path: missing.jsonl }\n    sink: { type: null }\n    dead_letter: { type: null }\n    idempotency: { key: id }\n",
    )
    .unwrap();
    let out = bin().args(["validate", "--config", dir.join("bad.yaml").to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text.contains("missing.jsonl") && text.contains("MISSING_STATE") && text.contains("idempotency.key"),
        "{text}"
    );
}

/// The API's `mock_config` is found beside the configuration, from any
/// directory, and `validate --config` says when it cannot be read: it had
/// been read from the working directory, and only when `serve` started.
#[test]
fn validate_config_reads_the_apis_mock_config_beside_the_configuration() {
    let dir = temp_dir("mockcfg");
    std::fs::create_dir_all(dir.join("cfg")).unwrap();
    std::fs::write(dir.join("mocks.json"), r#"{"StateMachines": {}, "MockedResponses": {}}"#).unwrap();
    let good = dir.join("cfg/good.yaml");
    std::fs::write(&good, "api: { mock_config: ../mocks.json }\n").unwrap();
    let out = bin().args(["validate", "--config", good.to_str().unwrap()]).current_dir("/").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    for (name, mock) in [("missing", "../none.json"), ("bad", "../cfg/good.yaml")] {
        let cfg = dir.join(format!("cfg/{name}.yaml"));
        std::fs::write(&cfg, format!("api: {{ mock_config: {mock} }}\n")).unwrap();
        let out = bin().args(["validate", "--config", cfg.to_str().unwrap()]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains("api.mock_config"), "{text}");
    }
}

/// Needs the Redis that `deploy/dev/test.sh` (and CI) starts.
fn redis_url() -> String {
    std::env::var("REDIS_URL").expect("REDIS_URL is not set: run deploy/dev/test.sh, which starts Redis and sets it")
}

#[test]
fn redis_dedup_skips_completed_executions_across_restarts() {
    let dir = temp_dir("redis");
    let mut input = String::new();
    for i in 0..100 {
        input.push_str(&format!("{{\"id\": \"r{i}\"}}\n"));
        if i % 10 == 0 {
            input.push_str(&format!("{{\"id\": \"r{i}\"}}\n")); // a redelivery
        }
    }
    std::fs::write(dir.join("input.jsonl"), input).unwrap();
    let prefix = format!(
        "test:{}:{}:",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let cfg = write_config(&dir, ECHO, false, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "    idempotency: { key: \"$.id\" }\n",
        &format!("    idempotency: {{ key: \"$.id\" }}\n    dedup: {{ type: redis, url: \"{}\", ttl: 10m, key_prefix: \"{prefix}\" }}\n", redis_url()),
    );
    std::fs::write(&cfg, text).unwrap();

    let first = bin().args(["run", "--config", cfg.to_str().unwrap()]).output().expect("run");
    let summary = String::from_utf8_lossy(&first.stderr);
    assert!(summary.contains("100 executions") && summary.contains("10 duplicates skipped"), "{summary}");

    // A new process has an empty memory: only Redis remembers.
    let second = bin().args(["run", "--config", cfg.to_str().unwrap(), "--from-start"]).output().expect("rerun");
    let summary = String::from_utf8_lossy(&second.stderr);
    assert!(summary.contains(": 0 executions") && summary.contains("110 duplicates skipped"), "{summary}");
    assert_eq!(lines(&dir.join("results.jsonl")).len(), 100);
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn metrics_health_and_readiness_are_served() {
    let dir = temp_dir("metrics");
    write_input(&dir, 1_000);
    std::fs::write(dir.join("input.jsonl"), {
        let mut t = std::fs::read_to_string(dir.join("input.jsonl")).unwrap();
        t.push_str("not json\n{\"id\": \"r0\"}\n");
        t
    })
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = write_config(&dir, ECHO, true, "");
    let text = std::fs::read_to_string(&cfg).unwrap() + &format!("metrics: {{ address: \"{addr}\" }}\n");
    std::fs::write(&cfg, text).unwrap();
    let child = bin().args(["run", "--config", cfg.to_str().unwrap()]).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut scraped = String::new();
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(&addr).is_ok() {
            let (code, body) = http_get(&addr, "/metrics");
            // The dead letter and the duplicate may come after the last success.
            let done = [
                "expressway_executions_succeeded_total{pipeline=\"test\"} 1000",
                "expressway_dead_letters_total{pipeline=\"test\"} 1",
                "expressway_dedup_hits_total{pipeline=\"test\"} 1",
            ]
            .iter()
            .all(|m| body.contains(m));
            if code == 200 && done {
                scraped = body;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(scraped.contains("expressway_executions_started_total{pipeline=\"test\"} 1000"), "{scraped}");
    assert!(scraped.contains("expressway_dedup_hits_total{pipeline=\"test\"} 1"), "{scraped}");
    assert!(scraped.contains("expressway_malformed_records_total{pipeline=\"test\"} 1"), "{scraped}");
    assert!(scraped.contains("expressway_dead_letters_total{pipeline=\"test\"} 1"), "{scraped}");
    assert!(
        scraped.contains("expressway_execution_duration_seconds_bucket{pipeline=\"test\",le=\"0.001\"}"),
        "{scraped}"
    );
    // The standard process series, read at the scrape, and the build's identity.
    for series in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(scraped.lines().any(|l| l.starts_with(series)), "no {series}in {scraped}");
    }
    let version = format!("expressway_build_info{{version=\"{}\",commit=\"", env!("CARGO_PKG_VERSION"));
    assert!(scraped.lines().any(|l| l.starts_with(&version) && l.ends_with("\"} 1")), "{scraped}");
    assert!(scraped.contains("expressway_records_in_flight{pipeline=\"test\"}"), "{scraped}");
    assert!(
        scraped.contains("expressway_state_transitions_total{pipeline=\"test\",state_type=\"Pass\"} 1000"),
        "{scraped}"
    );
    assert!(!scraped.contains("execution_name") && !scraped.contains("r999"), "labels stay bounded");
    assert_eq!(http_get(&addr, "/healthz").0, 200);
    assert_eq!(http_get(&addr, "/readyz").0, 200);
    assert_eq!(http_get(&addr, "/nope").0, 404);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn execution_logging_follows_the_level() {
    let dir = temp_dir("logging");
    let machine = r#"{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Y"}], "Default": "F"},
        "Y": {"Type": "Succeed"}, "F": {"Type": "Fail", "Error": "Rejected", "Cause": "not ok"}}}"#;
    std::fs::write(dir.join("input.jsonl"), "{\"id\": \"good\", \"ok\": true}\n{\"id\": \"bad\", \"ok\": false}\n")
        .unwrap();
    let cfg = write_config(&dir, machine, false, "");
    for (level, data, expect_good, expect_bad) in
        [("ERROR", false, false, true), ("ALL", true, true, true), ("OFF", false, false, false)]
    {
        let text = std::fs::read_to_string(&cfg).unwrap();
        let base: String = text.lines().filter(|l| !l.starts_with("    logging:")).map(|l| format!("{l}\n")).collect();
        let text = base.replacen(
            "runtime:",
            &format!("    logging: {{ level: {level}, include_execution_data: {data} }}\nruntime:"),
            1,
        );
        std::fs::write(&cfg, text).unwrap();
        let out = bin().args(["run", "--config", cfg.to_str().unwrap(), "--from-start"]).output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("expressway::execution")).collect();
        assert_eq!(lines.iter().any(|l| l.contains("SUCCEEDED")), expect_good, "{level}: {log}");
        assert_eq!(
            lines.iter().any(|l| l.contains("error=\"Rejected\"") || l.contains("error=Rejected")),
            expect_bad,
            "{level}: {log}"
        );
        assert_eq!(
            lines.iter().any(|l| l.contains("not ok")),
            data && expect_bad,
            "{level}: cause only with execution data: {log}"
        );
    }
}

/// `exec` and `run` read a record through the same function: the same bad
/// record gets the same error and cause from both.
#[test]
fn exec_and_run_reject_a_bad_record_with_the_same_error() {
    let dir = temp_dir("same-error");
    let big = format!("{{\"id\": \"big\", \"blob\": \"{}\"}}", "y".repeat(300 * 1024)).into_bytes();
    let records: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", b"{\"id\": \"t\", ".to_vec()),
        ("latin1", b"{\"id\": \"caf\xe9\"}".to_vec()),
        ("oversized", big),
    ];
    let mut input = Vec::new();
    for (_, r) in &records {
        input.extend_from_slice(r);
        input.push(b'\n');
    }
    std::fs::write(dir.join("input.jsonl"), input).unwrap();
    let cfg = write_config(&dir, ECHO, false, "");
    let run = bin().args(["run", "--config", cfg.to_str().unwrap()]).output().expect("run");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // The shards finish in any order: a dead letter is found by its line's offset.
    let mut dead = lines(&dir.join("dead.jsonl"));
    let offset = |d: &serde_json::Value| d["source"].as_str().and_then(|s| s.rsplit('=').next()?.parse::<u64>().ok());
    dead.sort_by_key(offset);
    assert_eq!(dead.len(), records.len());
    for ((name, record), letter) in records.iter().zip(&dead) {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, record).unwrap();
        let definition = dir.join("machine.asl.json");
        let exec = bin()
            .args(["exec", "--definition", definition.to_str().unwrap(), "--input", path.to_str().unwrap()])
            .output()
            .expect("exec");
        let stderr = String::from_utf8_lossy(&exec.stderr);
        let (error, cause) = (letter["error"].as_str().unwrap(), letter["cause"].as_str().unwrap());
        assert_eq!(exec.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{error}: {cause}")), "{name}: exec said {stderr}, run said {letter}");
    }
    assert_eq!(
        dead.iter().map(|d| d["error"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["Expressway.MalformedRecord", "Expressway.MalformedRecord", "States.DataLimitExceeded"]
    );
    assert!(dead[1]["cause"].as_str().unwrap().contains("not UTF-8"), "{}", dead[1]);
    assert!(dead[2].get("input").is_none(), "an oversized line is never read whole: {}", dead[2]);
}

/// A pipeline that would read its own output is refused by `validate` and
/// by `run`, however the path is spelled.
#[test]
fn a_sink_writing_the_source_file_is_refused() {
    let dir = temp_dir("own-output");
    std::fs::write(dir.join("machine.asl.json"), ECHO).unwrap();
    std::fs::write(dir.join("input.jsonl"), "{\"id\": \"a\"}\n").unwrap();
    let cfg = dir.join("loop.yaml");
    std::fs::write(
        &cfg,
        "pipelines:\n  - name: loop\n    state_machine: machine.asl.json\n    source: { type: file, path: input.jsonl }\n    sink: { type: file, path: ./sub/../input.jsonl }\n    dead_letter: { type: null }\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let validate = bin().args(["validate", "--config", cfg.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&validate.stdout);
    assert_eq!(validate.status.code(), Some(2), "{text}");
    assert!(
        text.contains("pipelines[0] (loop).sink.path") && text.contains("must not write the file it reads"),
        "{text}"
    );
    let run = bin().args(["run", "--config", cfg.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{text}");
    assert!(text.contains("must not write the file it reads"), "{text}");
    assert_eq!(std::fs::read_to_string(dir.join("input.jsonl")).unwrap(), "{\"id\": \"a\"}\n", "nothing was written");
}

/// Results and dead letters in one file, however spelled and whichever
/// pipelines write them, are refused; two pipelines merging their results
/// into one file are not.
#[test]
fn results_and_dead_letters_in_one_file_are_refused_across_pipelines() {
    let dir = temp_dir("mixed-sinks");
    std::fs::write(dir.join("machine.asl.json"), ECHO).unwrap();
    std::fs::write(dir.join("input.jsonl"), "{\"id\": \"a\"}\n").unwrap();
    let pipeline = |name: &str, sink: &str, dead: &str| {
        format!(
            "  - name: {name}\n    state_machine: machine.asl.json\n    source: {{ type: file, path: input.jsonl, checkpoint: {name}.cp }}\n    sink: {{ type: file, path: {sink} }}\n    dead_letter: {{ type: file, path: {dead} }}\n"
        )
    };
    let validate = |name: &str, pipelines: &[String]| {
        let cfg = dir.join(name);
        std::fs::write(&cfg, format!("pipelines:\n{}", pipelines.concat())).unwrap();
        let out = bin().args(["validate", "--config", cfg.to_str().unwrap()]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = validate("own.yaml", &[pipeline("own", "out.jsonl", "./out.jsonl")]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("pipelines[0] (own).dead_letter.path") && text.contains("this pipeline's sink"), "{text}");
    let (code, text) =
        validate("across.yaml", &[pipeline("a", "a.jsonl", "dl.jsonl"), pipeline("b", "dl.jsonl", "b-dl.jsonl")]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("pipelines[0] (a).dead_letter.path") && text.contains("pipelines[1]'s sink"), "{text}");
    let (code, text) =
        validate("merged.yaml", &[pipeline("a", "all.jsonl", "dl.jsonl"), pipeline("b", "./all.jsonl", "dl.jsonl")]);
    assert_eq!(code, Some(0), "results merged, dead letters merged: {text}");
}

/// A checkpoint past the end of its file (the file was truncated or
/// replaced) stops the run with both named, instead of reading nothing.
#[test]
fn a_checkpoint_past_the_end_of_the_input_stops_the_run() {
    let dir = temp_dir("stale-checkpoint");
    write_input(&dir, 3);
    std::fs::write(dir.join("input.jsonl.checkpoint"), "1000000\n").unwrap();
    let cfg = write_config(&dir, ECHO, false, "");
    let run = bin().args(["run", "--config", cfg.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{text}");
    assert!(
        text.contains("input.jsonl.checkpoint") && text.contains("byte 1000000") && text.contains("past the end"),
        "{text}"
    );
}

/// A pipeline whose threads cannot all start (a pids limit; here the user's
/// process limit, which binds every user but root, so the run is nobody's)
/// stops with an error naming it. Before, it ran on without a sink writer:
/// its records counted as succeeded, nothing written, exit 0 (found by an
/// adversarial probe).
#[test]
fn a_pipeline_whose_threads_cannot_start_stops_with_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if !root {
        eprintln!(
            "SKIPPED a_pipeline_whose_threads_cannot_start_stops_with_an_error: it runs the binary as nobody, which needs root"
        );
        return;
    }
    let dir = temp_dir("threads");
    write_input(&dir, 3);
    let cfg = write_config(&dir, ECHO, false, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("shards: 2", "shards: 64");
    std::fs::write(&cfg, text).unwrap();
    let binary = dir.join("expressway");
    std::fs::copy(env!("CARGO_BIN_EXE_expressway"), &binary).unwrap();
    for p in [&dir, &binary] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::set_permissions(entry.unwrap().path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let script = format!("ulimit -u 40 && cd {} && exec ./expressway run --config pipeline.yaml", dir.display());
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "bash", "-c", &script])
        .output()
        .expect("setpriv (util-linux)");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a run that wrote nothing must not end well: {log}");
    assert!(log.contains("starting the pipeline's shard and sink-writer threads"), "{log}");
}
