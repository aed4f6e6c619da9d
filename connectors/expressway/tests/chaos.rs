//! Chaos: the servers a pipeline depends on crash or restart mid-stream,
//! and its results disk fills up. Every test accounts for every input:
//! distinct ids among the results, plus dead letters, are the inputs, and
//! the duplicates (at-least-once re-runs) stay under a stated bound.
//!
//! Each test starts its own servers (Redis, tansu on S3, ministack) on
//! ports of its own, with state under a temporary directory, and the
//! guards stop them even when it fails: the suite's shared services are
//! never touched. The binaries are the ones `deploy/dev/services.sh
//! install` puts in place; a missing one fails the test.

mod support;

use expressway_connectors::kafka::send_when_queued;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// `{"id": "r<i>", ...}` in, `{"id": "r<i>", "seen": true}` out.
const ECHO: &str = r#"{"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "Parameters": {"id.$": "$.id", "seen": true}, "End": true}}}"#;

/// ECHO after a one-second Wait: with 512 records in flight the pipeline
/// runs at most 512 records a second, so the broker dies mid-stream.
const HOLD_THEN_ECHO: &str = r#"{"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 1, "Next": "Echo"},
    "Echo": {"Type": "Pass", "Parameters": {"id.$": "$.id", "seen": true}, "End": true}}}"#;

fn input_line(i: usize) -> String {
    format!("{{\"id\": \"r{i}\", \"payload\": \"{}\"}}\n", "x".repeat(32))
}

fn append(path: &Path, ids: std::ops::Range<usize>) {
    use std::io::Write;
    let text: String = ids.map(input_line).collect();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("input");
    f.write_all(text.as_bytes()).expect("append input");
}

/// Results plus dead letters account for every one of `n` inputs `r0..`,
/// with at most `max_duplicates` extra results. Returns the duplicates.
fn assert_accounted(
    what: &str,
    n: usize,
    results: &[serde_json::Value],
    dead: &[serde_json::Value],
    max_duplicates: usize,
) -> usize {
    let counts = id_counts(results);
    let dead_ids: HashMap<String, usize> = dead.iter().map(|d| (id_of(&d["input"]["id"]), 1)).collect();
    let missing: Vec<String> =
        (0..n).map(|i| format!("r{i}")).filter(|id| !counts.contains_key(id) && !dead_ids.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {n} inputs have neither a result nor a dead letter, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let strangers: Vec<&String> = counts
        .keys()
        .filter(|id| id.strip_prefix('r').and_then(|i| i.parse::<usize>().ok()).is_none_or(|i| i >= n))
        .collect();
    assert!(strangers.is_empty(), "{what}: results for ids that were never input: {strangers:?}");
    let duplicates = results.len() - counts.len();
    eprintln!(
        "{what}: {n} inputs, {} distinct results, {} dead letters, {duplicates} duplicates",
        counts.len(),
        dead.len()
    );
    assert!(
        duplicates <= max_duplicates,
        "{what}: {duplicates} duplicate results, more than the bound of {max_duplicates}"
    );
    duplicates
}

// ---------------------------------------------------------------- Kafka

fn produce(brokers: &str, topic: &str, ids: std::ops::Range<usize>) {
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "20").create().expect("producer");
    for i in ids {
        let (key, payload) = (format!("r{i}"), input_line(i));
        send_when_queued(&producer, BaseRecord::<String, str>::to(topic).key(&key).payload(payload.trim_end()))
            .expect("produce");
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
}

/// `topic` from its start: read until `want` distinct ids are there (or
/// `deadline`), then until nothing more arrived for `settle`.
fn read_topic(brokers: &str, topic: &str, want: usize, deadline: Duration, settle: Duration) -> Vec<serde_json::Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", unique()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let start = Instant::now();
    let mut out = Vec::new();
    let mut distinct = std::collections::HashSet::new();
    let mut quiet_since = Instant::now();
    while start.elapsed() < deadline && (distinct.len() < want || quiet_since.elapsed() < settle) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON in the topic");
            // A result's id, or the id of a dead letter's input.
            distinct.insert(if v["id"].is_null() { id_of(&v["input"]["id"]) } else { id_of(&v["id"]) });
            out.push(v);
            quiet_since = Instant::now();
        }
    }
    out
}

#[test]
fn kafka_broker_killed_and_restarted_mid_stream_loses_no_record() {
    const N: usize = 4_000;
    let dir = work_dir("chaos-kafka");
    let s3 = ministack(&dir.join("ministack"), false);
    let mut broker = tansu_on_s3(&dir, &s3, "tansu");
    let brokers = format!("127.0.0.1:{}", broker.port);
    let (input, output, dead) = ("chaos-in", "chaos-out", "chaos-dead");
    for t in [input, output, dead] {
        create_topic(&brokers, t, 4);
    }
    produce(&brokers, input, 0..N);

    std::fs::write(dir.join("machine.asl.json"), HOLD_THEN_ECHO).expect("machine");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: chaos-kafka
    state_machine: machine.asl.json
    source:
      type: kafka
      brokers: "{brokers}"
      group: chaos
      topics: [{input}]
      properties: {{ "fetch.wait.max.ms": "20" }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: {output}, key: $.id }}
    dead_letter: {{ type: kafka, brokers: "{brokers}", topic: {dead} }}
runtime: {{ shards: 2, max_in_flight_per_shard: 256, drain_timeout: 20s, commit_interval: 200ms }}
"#
        ),
    )
    .expect("config");
    let run = Run::start(&cfg, dir.join("run.log"));

    // A quarter through, the broker dies; it is back after five seconds.
    let started = Instant::now();
    let quarter = read_topic(&brokers, output, N / 4, Duration::from_secs(120), Duration::ZERO);
    assert!(quarter.len() >= N / 4, "the pipeline made progress before the crash: {}", run.log_text());
    broker.kill();
    std::thread::sleep(Duration::from_secs(5));
    broker.restart();

    let results = read_topic(&brokers, output, N, Duration::from_secs(180), Duration::from_secs(3));
    let dead_letters = read_topic(&brokers, dead, 0, Duration::from_secs(10), Duration::from_secs(3));
    let took = started.elapsed();
    let (status, log) = run.stop();
    assert!(status.success(), "expressway run failed after the broker came back: {log}");
    // Redone after the restart, at most: the records in flight (2 x 256)
    // and those completed since the last commit (200 ms at <= 512/s) run
    // again; the producer resends what the broker stored but did not
    // acknowledge before it died (no more than was in flight).
    assert!(quarter.len() < N, "the broker was killed before the pipeline finished");
    let duplicates = assert_accounted("kafka broker restart", N, &results, &dead_letters, 2 * (2 * 256) + 128);
    assert!(dead_letters.is_empty(), "an outage is no reason to dead-letter: {:?}", &dead_letters[..1]);
    eprintln!("kafka broker restart: all {N} accounted for in {took:?}, {duplicates} duplicates");
}

// ---------------------------------------------------------------- Redis

/// A following file pipeline whose dedup store is `redis_port`'s Redis.
fn file_pipeline(dir: &Path, extra: &str) -> PathBuf {
    std::fs::write(dir.join("machine.asl.json"), ECHO).expect("machine");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: chaos-file
    state_machine: machine.asl.json
    source: {{ type: file, path: input.jsonl, follow: true }}
    sink: {{ type: file, path: results.jsonl }}
    dead_letter: {{ type: file, path: dead.jsonl }}
    idempotency: {{ key: "$.id" }}
{extra}runtime: {{ shards: 2, max_in_flight_per_shard: 256, drain_timeout: 20s, commit_interval: 100ms }}
"#
        ),
    )
    .expect("config");
    cfg
}

fn checkpoint(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("input.jsonl.checkpoint"))
        .ok()
        .and_then(|t| t.lines().next()?.parse().ok())
        .unwrap_or(0)
}

/// Completed idempotency keys the Redis store holds: members of its sets
/// (one per time bucket and key part).
fn redis_completed_keys(port: u16) -> Option<usize> {
    let count =
        "local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do n = n + redis.call('SCARD', k) end return n";
    let out = Command::new("redis-cli").args(["-p", &port.to_string(), "EVAL", count, "0"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn redis_dedup_store_crashing_mid_stream_skips_no_record_and_dedups_again_after_restart() {
    const PHASE: usize = 3_000;
    let dir = work_dir("chaos-redis");
    let mut redis = redis(&dir);
    let cfg = file_pipeline(
        &dir,
        &format!(
            "    dedup: {{ type: redis, url: \"redis://127.0.0.1:{}/\", ttl: 10m, key_prefix: \"chaos:\" }}\n",
            redis.port
        ),
    );
    let input = dir.join("input.jsonl");
    let results = dir.join("results.jsonl");
    append(&input, 0..PHASE);
    let mut run = Run::start(&cfg, dir.join("run.log"));
    assert!(wait_for(Duration::from_secs(120), || count_lines(&results) >= PHASE), "phase 1: {}", run.log_text());

    // Redis dies; records keep coming. Unable to ask whether a key
    // completed, the pipeline must run the record (or wait), never skip it.
    redis.kill();
    append(&input, PHASE..2 * PHASE);
    let during = wait_for(Duration::from_secs(60), || count_lines(&results) >= 2 * PHASE);
    assert!(run.running(), "the pipeline died with Redis: {}", run.log_text());
    redis.restart();
    append(&input, 2 * PHASE..3 * PHASE);
    assert!(
        wait_for(Duration::from_secs(120), || id_counts(&lines(&results)).len() >= 3 * PHASE),
        "not every record ran after Redis came back: {}",
        run.log_text()
    );

    // Dedup works again: once the third phase's keys are in the restarted
    // Redis, redeliveries of them are skipped.
    assert!(
        wait_for(Duration::from_secs(60), || redis_completed_keys(redis.port).is_some_and(|k| k >= PHASE)),
        "the restarted Redis did not get the completed keys (it has {:?})",
        redis_completed_keys(redis.port)
    );
    append(&input, 2 * PHASE..2 * PHASE + 100);
    let end = std::fs::metadata(&input).expect("input").len();
    assert!(wait_for(Duration::from_secs(60), || checkpoint(&dir) == end), "the redeliveries were not acknowledged");
    let (status, log) = run.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("100 duplicates skipped"), "redeliveries after the restart ran again: {log}");
    let all = lines(&results);
    assert_accounted("redis restart", 3 * PHASE, &all, &lines(&dir.join("dead.jsonl")), 0);
    eprintln!("redis restart: results kept flowing while Redis was down: {during}");
}

/// A Redis that stops answering (SIGSTOP: its socket open, nothing read)
/// slows the pipeline but does not stop it, and SIGTERM still drains it
/// within its drain time-out: each request to Redis waits two seconds at
/// most, then the record runs. The shards' reads had waited for ever, and
/// the process with them after SIGTERM.
#[test]
fn a_redis_that_stops_answering_neither_hangs_the_pipeline_nor_its_shutdown() {
    let dir = work_dir("chaos-redis-stopped");
    let redis = redis(&dir);
    let cfg = file_pipeline(
        &dir,
        &format!(
            "    dedup: {{ type: redis, url: \"redis://127.0.0.1:{}/\", ttl: 10m, key_prefix: \"stopped:\" }}\n",
            redis.port
        ),
    );
    let (input, results) = (dir.join("input.jsonl"), dir.join("results.jsonl"));
    append(&input, 0..100);
    let run = Run::start(&cfg, dir.join("run.log"));
    assert!(wait_for(Duration::from_secs(60), || count_lines(&results) >= 100), "{}", run.log_text());
    let stopped = Command::new("kill").args(["-STOP", &redis.pid().to_string()]).status().expect("kill");
    assert!(stopped.success());
    append(&input, 100..200);
    let ran = wait_for(Duration::from_secs(60), || count_lines(&results) >= 200);
    let began = Instant::now();
    let (status, log) = run.stop();
    let took = began.elapsed();
    let _ = Command::new("kill").args(["-CONT", &redis.pid().to_string()]).status();
    assert!(ran, "records stopped with Redis: {} of 200 ran\n{log}", count_lines(&results));
    assert!(status.success(), "{log}");
    assert!(took < Duration::from_secs(30), "the drain waited {took:?} on a stopped Redis");
    assert_accounted("redis stopped", 200, &lines(&results), &lines(&dir.join("dead.jsonl")), 0);
}

// ---------------------------------------------------------------- SQS

fn sqs_client(rt: &tokio::runtime::Runtime, port: u16) -> aws_sdk_sqs::Client {
    let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "chaos");
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .load(),
    );
    aws_sdk_sqs::Client::new(&config)
}

#[test]
fn ministack_restarted_under_an_sqs_source_loses_no_message() {
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
    const N: usize = 1_500;
    let dir = work_dir("chaos-sqs");
    let mut aws = ministack(&dir.join("ministack"), true);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let sqs = sqs_client(&rt, aws.port);
    let queue = rt.block_on(sqs.create_queue().queue_name("chaos").send()).expect("CreateQueue");
    let queue_url = queue.queue_url().expect("queue url").to_string();
    for chunk in (0..N).collect::<Vec<_>>().chunks(10) {
        let entries = chunk
            .iter()
            .map(|i| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(input_line(*i).trim_end())
                    .build()
                    .expect("entry")
            })
            .collect();
        let sent = rt
            .block_on(sqs.send_message_batch().queue_url(&queue_url).set_entries(Some(entries)).send())
            .expect("SendMessageBatch");
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }

    std::fs::write(dir.join("machine.asl.json"), ECHO).expect("machine");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: chaos-sqs
    state_machine: machine.asl.json
    source: {{ type: sqs, queue_url: "{queue_url}", visibility_timeout: 10s, wait_time: 1s }}
    sink: {{ type: file, path: results.jsonl }}
    dead_letter: {{ type: file, path: dead.jsonl }}
    idempotency: {{ key: source_id }}
aws: {{ endpoint_url: "http://127.0.0.1:{port}", region: us-east-1 }}
runtime: {{ shards: 2, max_in_flight_per_shard: 64, drain_timeout: 20s, commit_interval: 200ms }}
"#,
            port = aws.port
        ),
    )
    .expect("config");
    let env = [("AWS_ACCESS_KEY_ID", "test".to_string()), ("AWS_SECRET_ACCESS_KEY", "test".to_string())];
    let run = Run::start_with(&cfg, dir.join("run.log"), &env);
    let results = dir.join("results.jsonl");
    assert!(
        wait_for(Duration::from_secs(120), || count_lines(&results) >= N / 3),
        "before the restart: {}",
        run.log_text()
    );

    // A graceful restart: ministack saves its queues at SIGTERM and loads them at start.
    aws.stop();
    assert!(dir.join("ministack/state/sqs.json").exists(), "ministack saved no SQS state: {}", aws.log_tail());
    aws.restart();
    let all_done = wait_for(Duration::from_secs(180), || id_counts(&lines(&results)).len() >= N);
    let (status, log) = run.stop();
    assert!(all_done, "not every message ran after the restart: {log}");
    assert!(status.success(), "{log}");
    // At most the messages received but not yet deleted at the restart run
    // again: the in-flight window (2 x 64) and the pollers' batches (4 x 10).
    assert_accounted("ministack restart", N, &lines(&results), &lines(&dir.join("dead.jsonl")), 2 * 64 + 4 * 10);
}

// ---------------------------------------------------------------- disk full

/// A tmpfs of `size` mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "this test fills a small tmpfs and needs to mount one (root, CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let out =
            Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).output().expect("remount");
        assert!(out.status.success(), "remount: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn results_disk_full_stops_the_pipeline_naming_the_sink_and_commits_nothing_unwritten() {
    const N: usize = 30_000;
    let dir = work_dir("chaos-disk");
    let full = Tmpfs::mount(&dir.join("out"), "256k");
    std::fs::write(dir.join("machine.asl.json"), ECHO).expect("machine");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        r#"
pipelines:
  - name: chaos-disk
    state_machine: machine.asl.json
    source: { type: file, path: input.jsonl }
    sink: { type: file, path: out/results.jsonl }
    dead_letter: { type: file, path: dead.jsonl }
runtime: { shards: 2, max_in_flight_per_shard: 256, drain_timeout: 10s, commit_interval: 20ms }
"#,
    )
    .expect("config");
    let input = dir.join("input.jsonl");
    append(&input, 0..N);
    let results = dir.join("out/results.jsonl");

    let (status, log) = Run::start(&cfg, dir.join("run-full.log")).wait();
    assert!(!status.success(), "a full results disk must stop the pipeline: {log}");
    let path = results.display().to_string();
    assert!(
        log.contains("results") && log.contains(&path) && log.contains("No space left on device"),
        "the error names the results sink, its path and the cause: {log}"
    );
    // Nothing was acknowledged past what the results file holds: every
    // input before the checkpoint has its result there.
    let written = id_counts(&lines(&results));
    assert!(!written.is_empty() && written.len() < N, "the disk filled mid-run ({} of {N} written)", written.len());
    let committed = checkpoint(&dir);
    let text = std::fs::read_to_string(&input).expect("input");
    let mut offset = 0u64;
    let mut rerun_window = 0;
    for (i, line) in text.lines().enumerate() {
        let id = format!("r{i}");
        if offset < committed {
            assert!(
                written.contains_key(&id),
                "{id} (offset {offset}) is committed ({committed}) but its result was never written"
            );
        } else if written.contains_key(&id) {
            rerun_window += 1;
        }
        offset += line.len() as u64 + 1;
    }

    // With room again, a restart finishes the rest.
    full.resize("64m");
    let (status, log) = Run::start(&cfg, dir.join("run-room.log")).wait();
    assert!(status.success(), "{log}");
    // Re-run: exactly the results written past the last commit.
    let duplicates = assert_accounted("disk full", N, &lines(&results), &lines(&dir.join("dead.jsonl")), rerun_window);
    assert_eq!(duplicates, rerun_window, "the duplicates are the results written past the commit");
}

#[test]
fn a_results_sink_on_dev_full_fails_with_the_path_and_commits_nothing() {
    let dir = work_dir("chaos-devfull");
    std::fs::write(dir.join("machine.asl.json"), ECHO).expect("machine");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        r#"
pipelines:
  - name: chaos-devfull
    state_machine: machine.asl.json
    source: { type: file, path: input.jsonl }
    sink: { type: file, path: /dev/full }
    dead_letter: { type: file, path: dead.jsonl }
runtime: { shards: 1, commit_interval: 10ms }
"#,
    )
    .expect("config");
    append(&dir.join("input.jsonl"), 0..100);
    let (status, log) = Run::start(&cfg, dir.join("run.log")).wait();
    assert!(!status.success(), "{log}");
    assert!(log.contains("results: writing /dev/full: No space left on device"), "{log}");
    assert_eq!(checkpoint(&dir), 0, "nothing was written, so nothing is committed");
}
