//! Kafka end to end against a real Kafka-protocol broker (tansu, which
//! `deploy/dev/services.sh` installs and starts; CI runs it).

use expressway_connectors::kafka::{ensure_topic, send_when_queued};
use rdkafka::Offset;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
mod support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS is not set: run deploy/dev/test.sh, which starts a Kafka-protocol broker and sets it")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// Produce `(key, payload)` messages.
fn produce(brokers: &str, topic: &str, messages: impl Iterator<Item = (String, String)>) {
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().expect("producer");
    for (k, p) in messages {
        send_when_queued(&producer, BaseRecord::<String, String>::to(topic).key(&k).payload(&p)).expect("produce");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// Write a pipeline config reading `input` in `group` into `output`.
fn pipeline(dir: &std::path::Path, brokers: &str, group: &str, input: &str, output: &str, extra: &str) -> PathBuf {
    pipeline_sinking(dir, brokers, group, input, output, "", extra)
}

/// [`pipeline`] whose results sink has `sink_extra` fields too.
fn pipeline_sinking(
    dir: &std::path::Path,
    brokers: &str,
    group: &str,
    input: &str,
    output: &str,
    sink_extra: &str,
    extra: &str,
) -> PathBuf {
    let machine = repo().join("benches/machines/iot-fanout.asl.json");
    let cfg = dir.join(format!("pipeline-{}.yaml", unique()));
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: kafka-test
    state_machine: {machine}
    source: {{ type: kafka, brokers: "{brokers}", group: "{group}", topics: ["{input}"] }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: "{output}"{sink_extra} }}
    dead_letter: {{ type: kafka, brokers: "{brokers}", topic: "{output}-dead" }}
{extra}runtime: {{ shards: 2, max_in_flight_per_shard: 256, drain_timeout: 20s, commit_interval: 200ms }}
"#,
            machine = machine.display()
        ),
    )
    .expect("config");
    cfg
}

fn start(cfg: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["run", "--config", cfg.to_str().expect("utf-8 path")])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start expressway run")
}

/// Fresh input and output topics (4 partitions), a group name and a work
/// directory for one test.
struct Setup {
    brokers: String,
    tag: String,
    input: String,
    output: String,
    group: String,
    dir: PathBuf,
}

fn setup(name: &str) -> Setup {
    setup_with(name, 4)
}

fn setup_with(name: &str, partitions: i32) -> Setup {
    let brokers = brokers();
    let tag = unique();
    let (input, output, group) = (format!("{name}-in-{tag}"), format!("{name}-out-{tag}"), format!("{name}-{tag}"));
    for t in [&input, &output] {
        ensure_topic(&brokers, t, partitions).expect("create topic");
    }
    let dir = std::env::temp_dir().join(format!("expressway-kafka-{name}-{tag}"));
    std::fs::create_dir_all(&dir).expect("dir");
    Setup { brokers, tag, input, output, group, dir }
}

/// `n` fan-out inputs, device ids `sensor-0` to `sensor-{n-1}`, keyed by them.
fn readings(n: usize) -> impl Iterator<Item = (String, String)> {
    readings_of(0..n)
}

/// The fan-out inputs of devices `sensor-{first}` up to `sensor-{end-1}`.
fn readings_of(devices: std::ops::Range<usize>) -> impl Iterator<Item = (String, String)> {
    let template = std::fs::read_to_string(repo().join("benches/machines/iot-fanout.input.json")).expect("input");
    devices.map(move |i| (format!("sensor-{i}"), template.replace("sensor-0042", &format!("sensor-{i}"))))
}

fn device(result: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(result).expect("results are JSON");
    v["deviceId"].as_str().expect("deviceId").to_string()
}

/// A consumer of `topic` from its start, in a group of its own.
fn reader(brokers: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", unique()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// Read `topic` until `want` distinct devices have a result, or `deadline`.
fn consume_distinct(brokers: &str, topic: &str, want: usize, deadline: Duration) -> (usize, HashSet<String>) {
    let consumer = reader(brokers, topic);
    let start = Instant::now();
    let (mut total, mut seen) = (0, HashSet::new());
    while seen.len() < want && start.elapsed() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            total += 1;
            seen.insert(device(m.payload().unwrap_or_default()));
        }
    }
    // Whatever else is there already (duplicates land after the last new one).
    while let Some(Ok(m)) = consumer.poll(Duration::from_millis(1500)) {
        total += 1;
        seen.insert(device(m.payload().unwrap_or_default()));
    }
    (total, seen)
}

/// Read `topic` until `want` messages arrived or `deadline` passed: keys and payloads.
fn consume(brokers: &str, topic: &str, want: usize, deadline: Duration) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer = reader(brokers, topic);
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < want && start.elapsed() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push((m.key().unwrap_or_default().to_vec(), m.payload().unwrap_or_default().to_vec()));
        }
    }
    out
}

/// Also through two consumers of the group in one process (`consumers: 2`),
/// each on its own source reader with its share of the partitions: half the
/// input is there before they join (whichever joins first may start on it
/// alone and then hand partitions over), half comes once both hold
/// partitions, so both read some. With an idempotency key (the memory
/// store, shared by both consumers), allowed with several consumers since
/// a twin of a running execution is held rather than skipped (that rule's
/// own test is in `engine/runtime/tests/idempotency.rs`; here twins are rare).
#[test]
fn a_topic_runs_through_the_fan_out_machine_into_an_output_topic_exactly_once_each() {
    const N: usize = 100_000;
    let brokers = brokers();
    let tag = unique();
    let (input, output, dead, group) =
        (format!("in-{tag}"), format!("out-{tag}"), format!("dead-{tag}"), format!("expressway-{tag}"));
    for t in [&input, &output, &dead] {
        ensure_topic(&brokers, t, 4).expect("create topic");
    }
    produce(&brokers, &input, readings_of(0..N / 2));
    let dir = std::env::temp_dir().join(format!("expressway-kafka-{tag}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let machine = repo().join("benches/machines/iot-fanout.asl.json");
    let cfg = dir.join("pipeline.yaml");
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").to_string();
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: kafka-e2e
    state_machine: {machine}
    source: {{ type: kafka, brokers: "{brokers}", group: "{group}", topics: ["{input}"], consumers: 2 }}
    idempotency: {{ key: "$.deviceId" }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: "{output}" }}
    dead_letter: {{ type: kafka, brokers: "{brokers}", topic: "{dead}" }}
runtime: {{ shards: 2, drain_timeout: 20s, commit_interval: 200ms }}
metrics: {{ address: "{addr}" }}
"#,
            machine = machine.display()
        ),
    )
    .expect("config");
    let run = Command::new(env!("CARGO_BIN_EXE_expressway"))
        .args(["run", "--config", cfg.to_str().expect("utf-8 path")])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start expressway run");
    let assigned = "expressway_kafka_rebalances_total{kind=\"assign\"}";
    let both = support::wait_for(Duration::from_secs(90), || metric(&addr, assigned) >= 2.0);
    assert!(both, "both consumers were assigned partitions");
    produce(&brokers, &input, readings_of(N / 2..N));

    let results = consume(&brokers, &output, N, Duration::from_secs(240));
    let read_by = |reader: u32| {
        metric(&addr, &format!("expressway_source_records_total{{pipeline=\"kafka-e2e\",reader=\"{reader}\"}}"))
    };
    let (read_0, read_1) = (read_by(0), read_by(1));
    assert!(read_0 > 0.0 && read_1 > 0.0, "each consumer read records: {read_0} and {read_1}");
    assert!(read_0 + read_1 >= N as f64, "{read_0} + {read_1} records read");
    // If the first consumer started alone and then gave partitions up, its
    // revoke waited only for records handed out (always checked in the
    // two-member test below, where it happens every time).
    assert_eq!(metric(&addr, "expressway_kafka_revoke_drain_timeouts_total"), 0.0, "no revoke waited out its drain");
    // Give the last commit interval a moment, then stop as Kubernetes does.
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill").args(["-TERM", &run.id().to_string()]).status();
    let out = run.wait_with_output().expect("expressway run ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "expressway run failed: {stderr}");

    assert_eq!(results.len(), N, "one result per input ({stderr})");
    let devices: HashSet<String> = results
        .iter()
        .map(|(key, r)| {
            let v: serde_json::Value = serde_json::from_slice(r).expect("results are JSON");
            assert_eq!(v["classified"].as_array().map(Vec::len), Some(10), "{v}");
            let device = v["deviceId"].as_str().expect("deviceId").to_string();
            assert_eq!(key.as_slice(), device.as_bytes(), "the result keeps its input's key");
            device
        })
        .collect();
    assert_eq!(devices.len(), N, "every input has exactly one result");
    assert!(consume(&brokers, &dead, 1, Duration::from_secs(3)).is_empty(), "no dead letters");

    // The group's committed offsets reached the end of every partition: on
    // a fresh topic offsets run from 0, so the committed offsets add up to
    // the number of messages. (tansu's ListOffsets answers stale high
    // watermarks under load, so they are not the yardstick here.)
    let checker: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", &brokers).set("group.id", &group).create().expect("consumer");
    let mut total = 0i64;
    for p in 0..4 {
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition(&input, p);
        let committed = checker.committed_offsets(tpl, Duration::from_secs(10)).expect("committed");
        let offset = committed.find_partition(&input, p).map(|e| e.offset());
        // Drop the list before the consumer (rdkafka hangs otherwise).
        drop(committed);
        match offset {
            Some(Offset::Offset(o)) => total += o,
            other => panic!("partition {p} has no committed offset: {other:?}"),
        }
    }
    assert_eq!(total, N as i64, "committed offsets cover every message");
}

/// `ordering: key` on a one-partition topic and four shards: each key's
/// records run and are written in the partition's order (that the keys
/// spread over the shards is `source_loop`'s unit tests'). Also through two
/// sink writers, each with its own producer: a key's shard writes through
/// one of them, so its order holds.
#[test]
fn per_key_ordering_keeps_each_keys_order_across_shards() {
    const N: usize = 20_000;
    // Not a multiple of the shards: dealing records in turn would split a key.
    const KEYS: usize = 10;
    let Setup { brokers, input, output, group, dir, .. } = setup_with("keyed", 1);
    let machine = dir.join("sequence.asl.json");
    std::fs::write(
        &machine,
        r#"{"StartAt": "Tag", "States": {"Tag": {"Type": "Pass", "Parameters": {"device.$": "$.device", "seq.$": "$.seq"}, "End": true}}}"#,
    )
    .expect("machine");
    let cfg = dir.join("keyed.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"
pipelines:
  - name: keyed
    state_machine: {machine}
    source: {{ type: kafka, brokers: "{brokers}", group: "{group}", topics: ["{input}"] }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: "{output}" }}
    dead_letter: {{ type: kafka, brokers: "{brokers}", topic: "{output}-dead" }}
runtime: {{ shards: 4, ordering: key, sink_writers: 2, max_in_flight_per_shard: 256, drain_timeout: 20s, commit_interval: 200ms }}
"#,
            machine = machine.display()
        ),
    )
    .expect("config");
    let device = |i: usize| format!("device-{}", i % KEYS);
    produce(&brokers, &input, (0..N).map(|i| (device(i), format!(r#"{{"device": "{}", "seq": {i}}}"#, device(i)))));
    let run = start(&cfg);
    let results = consume(&brokers, &output, N, Duration::from_secs(120));
    // Two writer threads ran (`runtime.sink_writers: 2`), named by the executor.
    let writers = std::fs::read_dir(format!("/proc/{}/task", run.id()))
        .expect("the run's threads")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("sink-writer-"))
        .count();
    assert_eq!(writers, 2, "sink writer threads");
    let _ = Command::new("kill").args(["-TERM", &run.id().to_string()]).status();
    let out = run.wait_with_output().expect("run ends");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(results.len(), N, "every record has one result");
    let mut last: HashMap<String, i64> = HashMap::new();
    for (key, payload) in &results {
        let v: serde_json::Value = serde_json::from_slice(payload).expect("results are JSON");
        let (device, seq) = (v["device"].as_str().expect("device").to_string(), v["seq"].as_i64().expect("seq"));
        assert_eq!(key, device.as_bytes(), "the result carries its record's key");
        let before = last.insert(device.clone(), seq).unwrap_or(-1);
        assert!(seq > before, "{device}: {seq} written after {before}");
    }
    assert_eq!(last.len(), KEYS);
}

#[test]
fn kill_9_mid_stream_then_restart_loses_nothing_and_redis_skips_completed_reruns() {
    const N: usize = 40_000;
    let Setup { brokers, tag, input, output, group, dir } = setup("crash");
    produce(&brokers, &input, readings(N));
    let redis = std::env::var("REDIS_URL").expect("REDIS_URL is not set: run deploy/dev/test.sh");
    let dedup = format!(
        "    idempotency: {{ key: \"$.deviceId\" }}\n    dedup: {{ type: redis, url: \"{redis}\", ttl: 10m, key_prefix: \"crash-{tag}:\" }}\n"
    );
    let cfg = pipeline(&dir, &brokers, &group, &input, &output, &dedup);

    // Run until about a third is done, then kill -9 at full speed.
    let mut first = start(&cfg);
    let (_, seen) = consume_distinct(&brokers, &output, N / 3, Duration::from_secs(120));
    assert!(seen.len() >= N / 3, "the first run made progress");
    first.kill().expect("kill -9");
    let _ = first.wait();

    let second = start(&cfg);
    let (total, seen) = consume_distinct(&brokers, &output, N, Duration::from_secs(240));
    let _ = Command::new("kill").args(["-TERM", &second.id().to_string()]).status();
    let out = second.wait_with_output().expect("second run ends");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert_eq!(seen.len(), N, "every input has a result after the crash");
    let duplicates = total - N;
    eprintln!("kill -9 test: {duplicates} duplicate results (re-runs of the in-flight window); second run: {summary}");
    // Only the in-flight window at the crash can run twice: 2 shards x 256.
    assert!(duplicates <= 2 * 256 + 64, "{duplicates} duplicates is more than the in-flight window");
    assert!(summary.contains("duplicates skipped"), "{summary}");
}

#[test]
fn a_member_stopped_with_sigterm_hands_its_partitions_over_without_loss() {
    const N: usize = 40_000;
    let Setup { brokers, input, output, group, dir, .. } = setup("rebalance");
    let cfg = pipeline(&dir, &brokers, &group, &input, &output, "");
    let a = start(&cfg);
    let b = start(&cfg);
    // Both members join before the data arrives, then half of it is done.
    std::thread::sleep(Duration::from_secs(8));
    produce(&brokers, &input, readings(N));
    let (_, seen) = consume_distinct(&brokers, &output, N / 4, Duration::from_secs(120));
    assert!(seen.len() >= N / 4);
    let stopped_at = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &a.id().to_string()]).status();
    let out_a = a.wait_with_output().expect("member a ends");
    assert!(out_a.status.success(), "{}", String::from_utf8_lossy(&out_a.stderr));
    let (total, seen) = consume_distinct(&brokers, &output, N, Duration::from_secs(240));
    let took = stopped_at.elapsed();
    let _ = Command::new("kill").args(["-TERM", &b.id().to_string()]).status();
    let out_b = b.wait_with_output().expect("member b ends");
    assert!(out_b.status.success(), "{}", String::from_utf8_lossy(&out_b.stderr));
    assert_eq!(seen.len(), N, "no input lost in the handover");
    eprintln!("rebalance test: all {N} done {took:?} after the SIGTERM; {} duplicate results", total - N);
    // The session timeout is 45 s: the survivor took over well before it.
    assert!(took < Duration::from_secs(40), "handover took {took:?}");
}

/// The value of the series `series` (name and labels, as exported) on the
/// metrics page at `addr`; 0 while it is absent.
fn metric(addr: &str, series: &str) -> f64 {
    support::scrape(addr)
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Executions a member ran, from its summary line
/// (`pipeline kafka-test: 123 executions (…`).
fn executions_in(summary: &str) -> usize {
    summary
        .lines()
        .find_map(|l| l.split_once("pipeline kafka-test: ")?.1.split_once(" executions")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in: {summary}"))
}

/// Produce fan-out inputs `sensor-0`, `sensor-1`, … in small paced chunks
/// (a stream, not a backlog) until `stop` is set; how many it produced.
fn stream_until(brokers: &str, topic: &str, stop: &std::sync::atomic::AtomicBool) -> usize {
    const CHUNK: usize = 100;
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().expect("producer");
    let mut sent = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for (k, p) in readings_of(sent..sent + CHUNK) {
            send_when_queued(&producer, BaseRecord::<String, String>::to(topic).key(&k).payload(&p)).expect("produce");
        }
        sent += CHUNK;
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(50));
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    sent
}

/// Several processes in one consumer group are how a pipeline scales past
/// one machine: two members on an 8-partition topic fed by a steady stream,
/// the second joining while the first is busy and the first leaving
/// (SIGTERM) while the stream goes on. No input is lost, duplicates stay
/// within one in-flight window per membership change, and both members ran
/// executions. Throughput is not asserted (see `benches/README.md`).
#[test]
fn two_members_share_a_topic_and_a_join_and_a_leave_mid_stream_lose_nothing() {
    // The config's in-flight cap: 2 shards x 256 records a member.
    const WINDOW: usize = 2 * 256;
    let Setup { brokers, input, output, group, dir, .. } = setup_with("group", 8);
    let member = |name: &str| {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
        let cfg = pipeline(&dir, &brokers, &group, &input, &output, "");
        let text = std::fs::read_to_string(&cfg).expect("config") + &format!("metrics: {{ address: \"{addr}\" }}\n");
        std::fs::write(&cfg, text).expect("config");
        (support::Run::start(&cfg, dir.join(format!("{name}.log"))), addr.to_string())
    };
    let assigned = "expressway_kafka_rebalances_total{kind=\"assign\"}";
    let started = "expressway_executions_started_total{pipeline=\"kafka-test\"}";
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let (brokers, input, stop) = (brokers.clone(), input.clone(), stop.clone());
        std::thread::spawn(move || stream_until(&brokers, &input, &stop))
    };

    // Member a alone, busy with the stream.
    let (a, a_metrics) = member("a");
    let busy = support::wait_for(Duration::from_secs(90), || metric(&a_metrics, started) >= 1_000.0);
    assert!(busy, "member a made progress: {}", a.log_text());

    // Member b joins mid-stream and, once the group is rebalanced, gets part
    // of the stream.
    let (b, b_metrics) = member("b");
    let joined = support::wait_for(Duration::from_secs(90), || metric(&b_metrics, assigned) >= 1.0);
    assert!(joined, "member b got partitions: {}", b.log_text());
    let b_worked = support::wait_for(Duration::from_secs(90), || metric(&b_metrics, started) >= 1_000.0);
    assert!(b_worked, "member b ran executions: {}", b.log_text());
    // a gave partitions up while busy, and its revoke drained in time. (A
    // paced stream rarely has a poll's batch half read when the revoke
    // comes: `kafka::tests` guards that case.)
    let revoked = metric(&a_metrics, "expressway_kafka_rebalances_total{kind=\"revoke\"}");
    assert!(revoked >= 1.0, "member a gave partitions up");
    assert_eq!(metric(&a_metrics, "expressway_kafka_revoke_drain_timeouts_total"), 0.0, "a's revoke drained in time");

    // Member a leaves mid-stream; b takes its partitions over.
    let (a_status, a_log) = a.stop();
    assert!(a_status.success(), "{a_log}");
    let before = metric(&b_metrics, started);
    let took_over = support::wait_for(Duration::from_secs(90), || metric(&b_metrics, started) >= before + 1_000.0);
    assert!(took_over, "member b went on alone: {}", b.log_text());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = stream.join().expect("producer");
    let (total, seen) = consume_distinct(&brokers, &output, n, Duration::from_secs(150));
    let (b_status, b_log) = b.stop();
    assert!(b_status.success(), "{b_log}");

    assert_eq!(seen.len(), n, "every input has a result");
    let duplicates = total - n;
    let (ran_a, ran_b) = (executions_in(&a_log), executions_in(&b_log));
    eprintln!("consumer group: {n} inputs, a ran {ran_a}, b ran {ran_b}, {duplicates} duplicate results");
    assert!(ran_a > 0 && ran_b > 0, "both members did work: a {ran_a}, b {ran_b}");
    assert!(ran_a + ran_b >= n, "every input ran: a {ran_a} + b {ran_b}");
    // Two membership changes, each re-running at most the in-flight window
    // of the member that gave partitions up.
    assert!(duplicates <= 2 * WINDOW, "{duplicates} duplicate results");
    assert!(ran_a + ran_b - n <= 2 * WINDOW, "{} executions re-ran", ran_a + ran_b - n);
}

/// A result the results sink refuses (past its `message.max.bytes` with
/// the record's 20 KB key) becomes that record's dead letter
/// (`Expressway.SinkRejected`, the result kept in it), and the records
/// around it run. Any sink error had stopped the pipeline, and a refusal
/// comes back with its record at every restart: stopped for good.
#[test]
fn a_result_the_sink_refuses_is_dead_lettered_and_the_stream_goes_on() {
    let s = setup_with("refused", 1);
    let dead = format!("{}-dead", s.output);
    ensure_topic(&s.brokers, &dead, 1).expect("create topic");
    let mut messages: Vec<(String, String)> = readings(5).collect();
    messages[2].0 = "k".repeat(20_000);
    produce(&s.brokers, &s.input, messages.into_iter());
    let sink_extra = r#", properties: { "message.max.bytes": "4000" }"#;
    let cfg = pipeline_sinking(&s.dir, &s.brokers, &s.group, &s.input, &s.output, sink_extra, "");
    let mut child = start(&cfg);
    let results = consume(&s.brokers, &s.output, 4, Duration::from_secs(120));
    let letters = consume(&s.brokers, &dead, 1, Duration::from_secs(30));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let mut devices: Vec<String> = results.iter().map(|(_, v)| device(v)).collect();
    devices.sort();
    assert_eq!(devices, ["sensor-0", "sensor-1", "sensor-3", "sensor-4"]);
    assert_eq!(letters.len(), 1);
    let letter: serde_json::Value = serde_json::from_slice(&letters[0].1).expect("a dead letter is JSON");
    assert_eq!(letter["error"], "Expressway.SinkRejected", "{letter}");
    let cause = letter["cause"].as_str().unwrap_or_default();
    assert!(cause.starts_with("the results sink refused this record's result: kafka produce:"), "{cause}");
    let kept = letter["output"].as_str().expect("the result is kept");
    assert_eq!(device(kept.as_bytes()), "sensor-2");
}

/// A message larger than an execution takes — by its payload or by its key
/// — is dead-lettered as `States.DataLimitExceeded` with its size, without
/// being copied or run, and the records around it run. A huge key had been
/// carried whole, into memory and onto its result.
#[test]
fn a_message_larger_than_an_execution_takes_is_dead_lettered_by_its_size() {
    let s = setup_with("oversized", 1);
    let dead = format!("{}-dead", s.output);
    ensure_topic(&s.brokers, &dead, 1).expect("create topic");
    let mut messages: Vec<(String, String)> = readings(4).collect();
    let padding = "p".repeat(300_000);
    messages[1].1 = format!(r#"{{"deviceId":"sensor-1","padding":"{padding}"}}"#);
    messages[2].0 = "k".repeat(300_000);
    // The size a dead letter gives: the part past the limit's.
    let sizes = [(1, messages[1].1.len(), true), (2, messages[2].0.len(), false)];
    produce(&s.brokers, &s.input, messages.into_iter());
    let cfg = pipeline(&s.dir, &s.brokers, &s.group, &s.input, &s.output, "");
    let mut child = start(&cfg);
    let results = consume(&s.brokers, &s.output, 2, Duration::from_secs(120));
    let letters = consume(&s.brokers, &dead, 2, Duration::from_secs(30));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let mut devices: Vec<String> = results.iter().map(|(_, v)| device(v)).collect();
    devices.sort();
    assert_eq!(devices, ["sensor-0", "sensor-3"]);
    assert_eq!(letters.len(), 2);
    for ((key, letter), (offset, bytes, keeps_key)) in letters.iter().zip(sizes) {
        let letter: serde_json::Value = serde_json::from_slice(letter).expect("a dead letter is JSON");
        assert_eq!(letter["error"], "States.DataLimitExceeded", "{letter}");
        assert!(letter["source"].as_str().is_some_and(|s| s.ends_with(&format!(":offset={offset}"))), "{letter}");
        let cause = letter["cause"].as_str().unwrap_or_default();
        assert!(cause.contains(&format!("The input of {bytes} bytes exceeds")), "{cause}");
        // A key that fits is kept, to find the record by; one past the limit is not carried.
        assert_eq!(!key.is_empty(), keeps_key, "offset {offset}");
    }
}
