//! Poison records: hostile inputs among good ones. For each, the pipeline
//! keeps running, the hostile record becomes one dead letter with an error
//! and a cause, and every good record around it gets its result.
//!
//! The file pipeline runs within a 4 GiB address space, so a runaway
//! allocation fails there (and this test with it) instead of exhausting the
//! machine. One test feeds them all through a Kafka topic, on a tansu
//! broker of its own.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;
use support::*;

/// Routes on `kind`: good records (no kind) are echoed; each hostile kind
/// takes a path that would, unguarded, recurse, allocate or loop away.
const MACHINE: &str = r#"{
  "QueryLanguage": "JSONata",
  "StartAt": "Route",
  "States": {
    "Route": {"Type": "Choice", "Choices": [
      {"Condition": "{% $states.input.kind = 'eval' %}", "Next": "Eval"},
      {"Condition": "{% $states.input.kind = 'pad' %}", "Next": "Pad"},
      {"Condition": "{% $states.input.kind = 'double-expression' %}", "Next": "DoubleInOneExpression"},
      {"Condition": "{% $states.input.kind = 'double-states' %}", "Next": "Double"},
      {"Condition": "{% $states.input.kind = 'deepen' %}", "Next": "Deepen"},
      {"Condition": "{% $states.input.kind = 'http' %}", "Next": "Http"}
    ], "Default": "Echo"},
    "Echo": {"Type": "Pass", "Output": {"id": "{% $states.input.id %}", "ok": true}, "End": true},
    "Eval": {"Type": "Pass", "Output": {"id": "{% $states.input.id %}", "v": "{% $eval($states.input.expr) %}"}, "End": true},
    "Pad": {"Type": "Pass", "Output": {"id": "{% $states.input.id %}", "v": "{% $pad('x', $states.input.width) %}"}, "End": true},
    "DoubleInOneExpression": {"Type": "Pass",
      "Output": {"id": "{% $states.input.id %}", "v": "{% $reduce([1..64], function($s, $i) { $s & $s }, 'ab') %}"}, "End": true},
    "Double": {"Type": "Pass",
      "Output": {"id": "{% $states.input.id %}", "kind": "double-states", "n": "{% $states.input.n + 1 %}", "s": "{% $states.input.s & $states.input.s %}"},
      "Next": "DoubleAgain"},
    "DoubleAgain": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n < 64 %}", "Next": "Double"}], "Default": "Echo"},
    "Deepen": {"Type": "Pass",
      "Output": {"id": "{% $states.input.id %}", "kind": "deepen", "n": "{% $states.input.n + 1 %}", "v": "{% {'w': $states.input.v} %}"},
      "Next": "DeepenAgain"},
    "DeepenAgain": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n < 100000 %}", "Next": "Deepen"}], "Default": "Echo"},
    "Http": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
      "Arguments": {"ApiEndpoint": "{% $states.input.url %}", "Method": "GET"}, "End": true}
  }
}"#;

/// Good records on either side of the hostile one.
const GOOD: usize = 20;

fn good(i: usize) -> Vec<u8> {
    format!("{{\"id\": \"g{i}\"}}").into_bytes()
}

/// Run the file pipeline over good records, `hostile`, good records; the
/// dead letter of the hostile record once everything else is checked.
fn survives(name: &str, hostile: &[u8], extra_config: &str) -> Value {
    let dir = work_dir(&format!("poison-{name}"));
    std::fs::write(dir.join("machine.asl.json"), MACHINE).expect("machine");
    let mut input = Vec::new();
    let mut hostile_offset = 0;
    for i in 0..2 * GOOD {
        if i == GOOD {
            hostile_offset = input.len();
            input.extend_from_slice(hostile);
            input.push(b'\n');
        }
        input.extend_from_slice(&good(i));
        input.push(b'\n');
    }
    std::fs::write(dir.join("input.jsonl"), &input).expect("input");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: poison
    state_machine: machine.asl.json
    source: {{ type: file, path: input.jsonl }}
    sink: {{ type: file, path: results.jsonl }}
    dead_letter: {{ type: file, path: dead.jsonl }}
    idempotency: {{ key: "$.id" }}
runtime: {{ shards: 2, drain_timeout: 10s }}
{extra_config}"#
        ),
    )
    .expect("config");
    let (status, log) = Run::start_limited(&cfg, dir.join("run.log"), 4).wait_within(Duration::from_secs(120));
    assert!(status.success(), "{name}: the pipeline did not survive the hostile record ({status}): {}", tail(&log));
    let results = id_counts(&lines(&dir.join("results.jsonl")));
    let missing: Vec<usize> = (0..2 * GOOD).filter(|i| results.get(&format!("g{i}")) != Some(&1)).collect();
    assert!(missing.is_empty(), "{name}: good records without exactly one result: {missing:?}: {}", tail(&log));
    let dead = lines(&dir.join("dead.jsonl"));
    assert_eq!(dead.len(), 1, "{name}: one dead letter, for the hostile record: {}", tail(&format!("{dead:?}")));
    let letter = dead.into_iter().next().expect("one dead letter");
    let source = letter["source"].as_str().unwrap_or_default();
    assert!(
        source.ends_with(&format!(":offset={hostile_offset}")),
        "{name}: the dead letter is the hostile record's: {source}"
    );
    for field in ["error", "cause"] {
        assert!(
            letter[field].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: the dead letter has no {field}: {}",
            tail(&letter.to_string())
        );
    }
    eprintln!("{name}: dead-lettered with {}: {}", letter["error"], tail(letter["cause"].as_str().unwrap_or_default()));
    letter
}

/// The end of a long text (a log, a dead letter with a 10 MB input).
fn tail(text: &str) -> String {
    let start = text.len().saturating_sub(2000);
    let mut at = start;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    text[at..].to_string()
}

fn deep_brackets(depth: usize) -> Vec<u8> {
    let mut line = vec![b'['; depth];
    line.extend(std::iter::repeat_n(b']', depth));
    line
}

#[test]
fn json_nested_100k_deep_is_dead_lettered() {
    let letter = survives("deep-json", &deep_brackets(100_000), "");
    assert_eq!(letter["error"], "Expressway.MalformedRecord");
}

#[test]
fn a_10_mb_line_is_dead_lettered() {
    let line = format!("{{\"id\": \"big\", \"blob\": \"{}\"}}", "y".repeat(10 << 20));
    let letter = survives("10mb-line", line.as_bytes(), "");
    assert_eq!(letter["error"], "States.DataLimitExceeded");
}

#[test]
fn invalid_utf8_is_dead_lettered_with_its_exact_bytes() {
    let line = b"{\"id\": \"bad-\xff\xfe-utf8\"}";
    let letter = survives("invalid-utf8", line, "");
    assert_eq!(letter["error"], "Expressway.MalformedRecord");
    assert!(letter["inputBase64"].is_string(), "the bytes are kept for a replay: {letter}");
}

#[test]
fn eval_of_a_deeply_nested_expression_is_dead_lettered() {
    let expr = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let record = serde_json::json!({"id": "eval", "kind": "eval", "expr": expr});
    survives("eval-deep", record.to_string().as_bytes(), "");
}

#[test]
fn pad_to_a_width_of_1e10_is_dead_lettered() {
    survives("pad-1e10", br#"{"id": "pad", "kind": "pad", "width": 1e10}"#, "");
}

#[test]
fn a_string_doubled_64_times_in_one_expression_is_dead_lettered() {
    survives("double-expression", br#"{"id": "double", "kind": "double-expression"}"#, "");
}

#[test]
fn a_string_doubled_by_a_choice_loop_is_dead_lettered() {
    let letter = survives("double-states", br#"{"id": "double", "kind": "double-states", "n": 0, "s": "ab"}"#, "");
    assert_eq!(letter["error"], "States.DataLimitExceeded");
}

#[test]
fn a_value_deepened_by_a_choice_loop_is_dead_lettered() {
    survives("deepen", br#"{"id": "deep", "kind": "deepen", "n": 0, "v": 0}"#, "");
}

#[test]
fn dedup_keys_1_and_string_1_are_different_records() {
    let dir = work_dir("poison-key-types");
    std::fs::write(dir.join("machine.asl.json"), MACHINE).expect("machine");
    std::fs::write(dir.join("input.jsonl"), "{\"id\": 1}\n{\"id\": \"1\"}\n{\"id\": 1}\n{\"id\": \"1\"}\n")
        .expect("input");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        r#"
pipelines:
  - name: keys
    state_machine: machine.asl.json
    source: { type: file, path: input.jsonl }
    sink: { type: file, path: results.jsonl }
    dead_letter: { type: file, path: dead.jsonl }
    idempotency: { key: "$.id" }
runtime: { shards: 1 }
"#,
    )
    .expect("config");
    let (status, log) = Run::start(&cfg, dir.join("run.log")).wait_within(Duration::from_secs(60));
    assert!(status.success(), "{log}");
    let results = lines(&dir.join("results.jsonl"));
    let ids: Vec<&Value> = results.iter().map(|r| &r["id"]).collect();
    // The number 1 and the string "1" are two keys; the second of each is
    // a redelivery, skipped.
    assert_eq!(results.len(), 2, "{ids:?}: {log}");
    assert!(ids.contains(&&serde_json::json!(1)) && ids.contains(&&serde_json::json!("1")), "{ids:?}");
    assert!(log.contains("2 duplicates skipped"), "{log}");
}

/// A local HTTP server answering every request with a 1.5 GB body, streamed
/// until the client hangs up.
fn huge_http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                const SIZE: u64 = 1_500_000_000;
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {SIZE}\r\n\r\n");
                if conn.write_all(head.as_bytes()).is_err() || conn.write_all(b"\"").is_err() {
                    return;
                }
                let chunk = vec![b'a'; 1 << 16];
                let mut sent = 1u64;
                while sent < SIZE {
                    let n = (SIZE - sent).min(chunk.len() as u64) as usize;
                    if conn.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    sent += n as u64;
                }
            });
        }
    });
    port
}

#[test]
fn an_http_task_answered_with_1_5_gb_is_dead_lettered() {
    let port = huge_http_server();
    let url = format!("http://127.0.0.1:{port}/");
    let record = serde_json::json!({"id": "http", "kind": "http", "url": format!("{url}huge")});
    let config = format!("http: {{ allowed_endpoints: [\"{url}\"], timeout: 60s }}\n");
    survives("http-1.5gb", record.to_string().as_bytes(), &config);
}

// ---------------------------------------------------------------- Kafka

#[test]
fn a_kafka_pipeline_dead_letters_each_hostile_record_and_runs_the_good_ones() {
    use expressway_connectors::kafka::send_when_queued;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let dir = work_dir("poison-kafka");
    let broker = tansu_in_memory(&dir);
    let brokers = format!("127.0.0.1:{}", broker.port);
    let tag = unique();
    let (input, output, dead) = (format!("poison-in-{tag}"), format!("poison-out-{tag}"), format!("poison-dead-{tag}"));
    // One partition: offsets follow the order of production.
    create_topic(&brokers, &input, 1);
    for t in [&output, &dead] {
        create_topic(&brokers, t, 1);
    }
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("deep-json", deep_brackets(100_000)),
        ("2mb-record", format!("{{\"id\": \"big\", \"blob\": \"{}\"}}", "y".repeat(2 << 20)).into_bytes()),
        ("invalid-utf8", b"{\"id\": \"bad-\xff\xfe-utf8\"}".to_vec()),
        (
            "eval-deep",
            serde_json::json!({"id": "eval", "kind": "eval", "expr": format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000))})
                .to_string()
                .into_bytes(),
        ),
        ("pad-1e10", br#"{"id": "pad", "kind": "pad", "width": 1e10}"#.to_vec()),
        ("double-expression", br#"{"id": "double", "kind": "double-expression"}"#.to_vec()),
        ("double-states", br#"{"id": "double", "kind": "double-states", "n": 0, "s": "ab"}"#.to_vec()),
        ("deepen", br#"{"id": "deep", "kind": "deepen", "n": 0, "v": 0}"#.to_vec()),
    ];
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("message.max.bytes", "4000000")
        .create()
        .expect("producer");
    let mut offsets = std::collections::HashMap::new();
    let mut offset = 0i64;
    let mut next_good = 0;
    let send = |payload: &[u8]| {
        send_when_queued(&producer, BaseRecord::<str, [u8]>::to(&input).payload(payload)).expect("produce");
        producer.flush(Duration::from_secs(30)).expect("flush");
    };
    for (name, record) in &hostile {
        for _ in 0..5 {
            send(&good(next_good));
            next_good += 1;
            offset += 1;
        }
        send(record.as_slice());
        offsets.insert(offset, *name);
        offset += 1;
    }
    for _ in 0..5 {
        send(&good(next_good));
        next_good += 1;
    }

    std::fs::write(dir.join("machine.asl.json"), MACHINE).expect("machine");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: poison-kafka
    state_machine: machine.asl.json
    source: {{ type: kafka, brokers: "{brokers}", group: "poison-{tag}", topics: ["{input}"], properties: {{ "fetch.wait.max.ms": "20" }} }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: "{output}" }}
    dead_letter: {{ type: kafka, brokers: "{brokers}", topic: "{dead}", properties: {{ "message.max.bytes": "20000000" }} }}
runtime: {{ shards: 2, drain_timeout: 10s }}
"#
        ),
    )
    .expect("config");
    let mut run = Run::start_limited(&cfg, dir.join("run.log"), 4);

    // Read until `want` arrived; if the pipeline died, only what is there.
    let read = |topic: &str, want: usize, run: &mut Run| -> Vec<Value> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("reader-{}", unique()))
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        while out.len() < want && start.elapsed() < Duration::from_secs(120) {
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => out.push(serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON")),
                _ if !run.running() && start.elapsed() > Duration::from_secs(5) => break,
                _ => {}
            }
        }
        out
    };
    let results = read(&output, next_good, &mut run);
    let letters = read(&dead, hostile.len(), &mut run);
    assert!(
        run.running(),
        "the pipeline died ({} of {} good results, {} of {} dead letters): {}",
        results.len(),
        next_good,
        letters.len(),
        hostile.len(),
        tail(&run.log_text())
    );
    let (status, log) = run.stop();
    assert!(status.success(), "{}", tail(&log));

    let ids = id_counts(&results);
    let missing: Vec<usize> = (0..next_good).filter(|i| ids.get(&format!("g{i}")) != Some(&1)).collect();
    assert!(missing.is_empty(), "good records without exactly one result: {missing:?}: {}", tail(&log));
    let mut lettered = Vec::new();
    for letter in &letters {
        let source = letter["source"].as_str().unwrap_or_default();
        let at: i64 = source.rsplit("offset=").next().and_then(|o| o.parse().ok()).unwrap_or(-1);
        let name = offsets.get(&at).unwrap_or_else(|| panic!("a dead letter for no hostile record: {source}"));
        assert!(
            letter["error"].as_str().is_some_and(|s| !s.is_empty())
                && letter["cause"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: a dead letter without error or cause: {}",
            tail(&letter.to_string())
        );
        eprintln!("kafka {name}: {}", letter["error"]);
        lettered.push(*name);
    }
    lettered.sort();
    let mut expected: Vec<&str> = hostile.iter().map(|(n, _)| *n).collect();
    expected.sort();
    assert_eq!(lettered, expected, "one dead letter per hostile record");
}
