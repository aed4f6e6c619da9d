//! End-to-end latency and memory of `expressway run` on Kafka, at a fixed
//! input rate:
//!
//!     KAFKA_BROKERS=127.0.0.1:9392 cargo run --release -p expressway-benches --example kafka_latency -- \
//!         pass-chain 100000 [SECONDS]
//!
//! Starts the `expressway` binary (`EXPRESSWAY_BIN`, else
//! `target/release/expressway`) on a Kafka → machine → Kafka pipeline
//! (`SHARDS`, default 2; `PARTITIONS`, default 4; sink `linger` from
//! `LINGER`, default 5ms; source `properties` from `SOURCE_PROPERTIES`,
//! default `"fetch.wait.max.ms": "5"`), produces RATE records a second for SECONDS (default
//! 10), each stamped with the wall-clock time it was handed to the producer,
//! reads the results back from the output topic and reports the latency
//! percentiles from send to result readable, then the process's resident
//! memory (current and peak). Both reference machines copy their input into
//! their output, so the stamp comes back with the result.
//!
//! First, in the same run and at the same rate, the broker's own floor: a
//! raw consume → produce passthrough (a thread of this process) with the
//! settings Expressway's source and sink use (`fetch.wait.max.ms` 5, the
//! default of `SOURCE_PROPERTIES`, which the floor does not read; an
//! idempotent `acks=all` producer with the same `LINGER`), measured the
//! same way on its own topics. The report ends
//! with what Expressway adds to each percentile. `FLOOR=0` skips it.

use expressway_connectors::kafka::{ensure_topic, send_when_queued};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const STAMP: &[u8] = b"\"sentAtMicros\":";

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The machine's input with the send time as its first field.
fn stamped(input: &str, micros: u64) -> String {
    format!("{{\"sentAtMicros\":{micros},{}", input.trim().trim_start_matches('{'))
}

fn stamp_of(payload: &[u8]) -> Option<u64> {
    let at = payload.windows(STAMP.len()).position(|w| w == STAMP)? + STAMP.len();
    let digits: Vec<u8> = payload[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// VmRSS and VmHWM of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn send(producer: &BaseProducer, topic: &str, payload: &str) {
    send_when_queued(producer, BaseRecord::<(), str>::to(topic).payload(payload)).expect("produce");
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let brokers = std::env::var("KAFKA_BROKERS").expect("KAFKA_BROKERS (deploy/dev/services.sh start)");
    let mut args = std::env::args().skip(1);
    let machine = args.next().unwrap_or_else(|| "pass-chain".into());
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("EXPRESSWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../target/release/expressway"));
    let definition = root.join(format!("machines/{machine}.asl.json"));
    let input = std::fs::read_to_string(root.join(format!("machines/{machine}.input.json"))).expect("input");
    let partitions: i32 = env_or("PARTITIONS", "4").parse().expect("PARTITIONS");
    let tag = now_micros();
    let (topic_in, topic_out, topic_dead) =
        (format!("lat-in-{tag}"), format!("lat-out-{tag}"), format!("lat-dead-{tag}"));
    for t in [&topic_in, &topic_out, &topic_dead] {
        ensure_topic(&brokers, t, partitions).expect("topic");
    }
    let work = std::env::temp_dir().join(format!("kafka-latency-{tag}"));
    std::fs::create_dir_all(&work).expect("work dir");
    let config = work.join("pipeline.yaml");
    std::fs::write(
        &config,
        format!(
            r#"pipelines:
  - name: latency
    state_machine: {definition}
    source: {{ type: kafka, brokers: "{brokers}", group: "lat-{tag}", topics: ["{topic_in}"], properties: {{ {props} }} }}
    sink: {{ type: kafka, brokers: "{brokers}", topic: "{topic_out}", linger: {linger} }}
    dead_letter: {{ type: kafka, brokers: "{brokers}", topic: "{topic_dead}" }}
runtime: {{ shards: {shards}, max_in_flight_per_shard: 16384, commit_interval: 1s }}
"#,
            definition = definition.display(),
            linger = env_or("LINGER", "5ms"),
            shards = env_or("SHARDS", "2"),
            // tansu holds a fetch for its whole max wait even when records
            // arrive meanwhile (Kafka answers at once): keep it short.
            props = env_or("SOURCE_PROPERTIES", r#""fetch.wait.max.ms": "5""#),
        ),
    )
    .expect("config");
    // The floor first, while nothing else runs.
    let floor = if env_or("FLOOR", "1") == "0" {
        None
    } else {
        Some(passthrough_latencies(&brokers, partitions, &input, rate, seconds, tag))
    };
    let mut child = std::process::Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(work.join("expressway.log")).expect("log"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));

    let (latencies, offered) = measure(&brokers, &topic_in, &topic_out, &input, rate, seconds, &work);
    let (rss, peak) = memory_kib(child.id());
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let total = rate * seconds;
    if let Some((floor, floor_offered)) = &floor {
        println!("broker floor (raw passthrough): offered {floor_offered:.0}/s; {}", summary(floor, total));
    }
    println!(
        "{machine}: offered {offered:.0}/s for {seconds} s; {}; expressway RSS {} MiB (peak {} MiB)",
        summary(&latencies, total),
        rss / 1024,
        peak / 1024,
    );
    if let Some((floor, _)) = &floor {
        let added = |p| percentile(&latencies, p) - percentile(floor, p);
        println!(
            "{machine}: expressway adds p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms to the broker floor",
            added(0.50),
            added(0.90),
            added(0.99)
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Send RATE stamped records a second for SECONDS into `topic_in` and time
/// each result's arrival on `topic_out`: the latencies (µs, sorted) and the
/// rate offered.
fn measure(
    brokers: &str,
    topic_in: &str,
    topic_out: &str,
    input: &str,
    rate: u64,
    seconds: u64,
    work: &std::path::Path,
) -> (Vec<u64>, f64) {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("lat-reader-{topic_out}"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("reader");
    reader.subscribe(&[topic_out]).expect("subscribe");
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "1").create().expect("producer");

    // Warm up until a result comes back: both consumer groups have joined.
    let warmup = Instant::now();
    'warm: loop {
        assert!(warmup.elapsed() < Duration::from_secs(60), "no result within 60 s: see {}", work.display());
        send(&producer, topic_in, &stamped(input, 0));
        producer.poll(Duration::ZERO);
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            if let Some(Ok(_)) = reader.poll(Duration::from_millis(50)) {
                break 'warm;
            }
        }
    }
    // Drain the rest of the warm-up results.
    while reader.poll(Duration::from_millis(500)).is_some() {}

    let total = rate * seconds;
    let reading = std::thread::spawn(move || {
        let mut latencies = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + Duration::from_secs(seconds + 60);
        while (latencies.len() as u64) < total && Instant::now() < deadline {
            if let Some(Ok(m)) = reader.poll(Duration::from_millis(100))
                && let Some(sent) = m.payload().and_then(stamp_of).filter(|s| *s > 0)
            {
                latencies.push(now_micros().saturating_sub(sent));
            }
        }
        latencies
    });
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due.min(total) {
            send(&producer, topic_in, &stamped(input, now_micros()));
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_micros(500));
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    producer.flush(Duration::from_secs(60)).expect("flush");
    let mut latencies = reading.join().expect("reader");
    latencies.sort_unstable();
    (latencies, offered)
}

/// `LINGER` (`5ms`, `1s`) in milliseconds, for rdkafka's `linger.ms`.
fn linger_ms(text: &str) -> u64 {
    let parsed = match text.strip_suffix("ms") {
        Some(ms) => ms.parse().ok(),
        None => text.strip_suffix('s').and_then(|s| s.parse::<u64>().ok()).map(|s| s * 1000),
    };
    parsed.unwrap_or_else(|| panic!("LINGER '{text}': give milliseconds (5ms) or seconds (1s)"))
}

fn summary(latencies: &[u64], total: u64) -> String {
    format!(
        "{} of {total} results; latency ms p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        latencies.len(),
        percentile(latencies, 0.50),
        percentile(latencies, 0.90),
        percentile(latencies, 0.99),
        percentile(latencies, 1.0),
    )
}

/// The broker's floor: the same measurement through a raw consume →
/// produce loop configured as Expressway's source and sink are.
fn passthrough_latencies(
    brokers: &str,
    partitions: i32,
    input: &str,
    rate: u64,
    seconds: u64,
    tag: u64,
) -> (Vec<u64>, f64) {
    let (topic_in, topic_out) = (format!("floor-in-{tag}"), format!("floor-out-{tag}"));
    for t in [&topic_in, &topic_out] {
        ensure_topic(brokers, t, partitions).expect("topic");
    }
    if std::env::var_os("SOURCE_PROPERTIES").is_some() {
        eprintln!("note: the floor keeps fetch.wait.max.ms at 5; SOURCE_PROPERTIES applies to Expressway only");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("floor-{tag}"))
        .set("enable.auto.commit", "false")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .create()
        .expect("passthrough consumer");
    consumer.subscribe(&[&topic_in]).expect("subscribe");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", linger_ms(&env_or("LINGER", "5ms")).to_string())
        .create()
        .expect("passthrough producer");
    let forwarding = {
        let (stop, topic_out) = (stop.clone(), topic_out.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(5)) {
                    let payload = m.payload().unwrap_or_default();
                    send_when_queued(&producer, BaseRecord::<(), [u8]>::to(&topic_out).payload(payload))
                        .expect("produce");
                }
                producer.poll(Duration::ZERO);
            }
            let _ = producer.flush(Duration::from_secs(10));
        })
    };
    let work = std::env::temp_dir();
    let measured = measure(brokers, &topic_in, &topic_out, input, rate, seconds, &work);
    stop.store(true, Ordering::Relaxed);
    let _ = forwarding.join();
    measured
}
