//! Kafka → Expressway → Kafka against a raw consume → produce passthrough,
//! on the same broker in the same run.
//!
//!     KAFKA_BROKERS=127.0.0.1:9392 cargo run --release -p expressway-benches --example kafka -- [N]
//!
//! For each reference machine it fills a fresh 4-partition topic with N
//! copies of the machine's input, then times (from the first record to the
//! last result acknowledged by the broker) a passthrough that consumes and
//! re-produces every record, and `expressway`'s runtime with the Kafka source
//! and sink running the machine on 2 shards. `SHARDS` and `PARTITIONS` change
//! the shard and partition counts (the multi-core runs), `SINK_WRITERS` the
//! sink writer threads (a producer each; 1 by default), `CONSUMERS` the
//! source readers (a consumer of the group each; 1 by default), `ORDERING`
//! (`partition`, `key` or `none`) the ordering contract, `MACHINES` the
//! folder the reference machines are read from, `FETCH_WAIT_MS` both
//! consumers' `fetch.wait.max.ms`; `ONLY=<machine>` runs one machine and
//! `SKIP_PASSTHROUGH=1` only Expressway (for profiling one side);
//! `DEDUP=redis` (with `REDIS_URL`) runs Expressway with the Redis dedup
//! store, each record keyed by its source coordinates. With several
//! consumers (or `JOIN_FIRST=1`) Expressway's input is produced only after
//! its group formed (`JOIN_WAIT_MS`, 10 s), so the producer runs alongside.

use expressway_connectors::kafka::{KafkaSink, KafkaSource, KafkaSourceConfig, ensure_topic, send_when_queued};
use expressway_connectors::redis_dedup::RedisDedup;
use expressway_connectors::stdio::NullSink;
use expressway_engine::{WorkflowType, compile_text};
use expressway_runtime::{DedupStore, KeySpec, NoDedup, PipelineSpec, RecordOrdering, SinkWriter, Source, Stats};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn produce(brokers: &str, topic: &str, payload: &str, n: usize) {
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().expect("producer");
    for i in 0..n {
        let key = i.to_string();
        send_when_queued(&producer, BaseRecord::to(topic).payload(payload).key(&key)).expect("produce");
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
}

/// Consume every record of `input` and produce it to `output`: the floor
/// any Kafka-to-Kafka processor stands on.
fn passthrough(brokers: &str, input: &str, output: &str, n: usize) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("passthrough-{input}"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait())
        .create()
        .expect("consumer");
    consumer.subscribe(&[input]).expect("subscribe");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut started = None;
    let mut seen = 0;
    while seen < n {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else { continue };
        started.get_or_insert_with(Instant::now);
        let payload = m.payload().unwrap_or_default();
        // Queue-full waits as Expressway's Kafka sink does, so both sides
        // pay the same for a full local queue.
        send_when_queued(&producer, BaseRecord::<(), [u8]>::to(output).payload(payload)).expect("produce");
        seen += 1;
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    n as f64 / started.map_or(1.0, |s| s.elapsed().as_secs_f64())
}

/// Expressway's rate, and the executions it ran beyond `n` (records run
/// again after a rebalance). `fill`, if any, produces the input once the
/// group has had `JOIN_WAIT_MS` to form: with several consumers a backlog
/// present from the start is first read by whichever joins first, and what
/// it is still running when the group rebalances runs again.
fn expressway(
    brokers: &str,
    machine: &str,
    input: &str,
    output: &str,
    n: usize,
    fill: Option<&(dyn Fn() + Sync)>,
) -> (f64, u64) {
    let dedup: Option<Arc<dyn DedupStore>> = (std::env::var("DEDUP").as_deref() == Ok("redis")).then(|| {
        let url = std::env::var("REDIS_URL").expect("REDIS_URL (target/services.env) for DEDUP=redis");
        let store = RedisDedup::connect(&url, Duration::from_secs(120), &format!("bench-{input}:")).expect("redis");
        Arc::new(store) as Arc<dyn DedupStore>
    });
    let program = compile_text(machine, WorkflowType::Express).expect("machine compiles");
    let spec = PipelineSpec {
        shards: env_count("SHARDS", 2),
        ordering: match std::env::var("ORDERING").as_deref() {
            Ok("key") => RecordOrdering::Key,
            Ok("none") => RecordOrdering::None,
            _ => RecordOrdering::Partition,
        },
        max_in_flight_per_shard: 16 * 1024,
        drain_timeout: Duration::from_secs(10),
        key: if dedup.is_some() { KeySpec::SourceId } else { KeySpec::None },
        ..PipelineSpec::new("bench", Arc::new(program))
    };
    let dedup: Arc<dyn DedupStore> = match dedup {
        Some(store) => store,
        None => Arc::new(NoDedup),
    };
    let props = BTreeMap::from([("fetch.wait.max.ms".to_string(), fetch_wait())]);
    let topics = [input.to_string()];
    let group = format!("expressway-{input}");
    // `CONSUMERS` source readers, each a member of the group.
    let sources: Vec<Box<dyn Source>> = (0..env_count("CONSUMERS", 1))
        .map(|_| {
            let source = KafkaSource::open(&KafkaSourceConfig {
                brokers,
                group: &group,
                topics: &topics,
                instance_id: None,
                properties: &props,
                max_record_bytes: expressway_engine::vm::MAX_PAYLOAD_BYTES,
            })
            .expect("source");
            Box::new(source) as Box<dyn Source>
        })
        .collect();
    // `SINK_WRITERS` sink writer threads, each with its own producer.
    let writers = (0..env_count("SINK_WRITERS", 1))
        .map(|_| SinkWriter {
            results: Box::new(
                KafkaSink::open(brokers, output, Duration::from_millis(5), &BTreeMap::new()).expect("sink"),
            ),
            dead_letters: Box::new(NullSink),
        })
        .collect();
    let stats = Arc::new(Stats::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let (stats2, shutdown2) = (stats.clone(), shutdown.clone());
    let runner =
        std::thread::spawn(move || expressway_runtime::run_parallel(spec, sources, writers, dedup, stats2, shutdown2));
    let mut started = None;
    std::thread::scope(|scope| {
        // The producer runs on its own thread, so the clock starts at the
        // first execution, not when the input is all written.
        if let Some(fill) = fill {
            std::thread::sleep(Duration::from_millis(env_count("JOIN_WAIT_MS", 10_000) as u64));
            scope.spawn(fill);
        }
        // Timed like the passthrough: from the first record to the last result
        // confirmed by the broker (and handed back to the source as complete).
        // Leaving the group afterwards is not part of it.
        loop {
            if stats.executions.load(Ordering::Relaxed) > 0 {
                started.get_or_insert_with(Instant::now);
            }
            if stats.acknowledged.load(Ordering::Relaxed) as usize >= n {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let elapsed = started.map_or(1.0, |s: Instant| s.elapsed().as_secs_f64());
    shutdown.store(true, Ordering::Relaxed);
    let _ = runner.join();
    (n as f64 / elapsed, (stats.executions.load(Ordering::Relaxed) as usize).saturating_sub(n) as u64)
}

/// How long the broker may hold a fetch with no new data (librdkafka's
/// default is 500 ms). Both consumers use the same.
fn fetch_wait() -> String {
    std::env::var("FETCH_WAIT_MS").unwrap_or_else(|_| "500".into())
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let brokers = std::env::var("KAFKA_BROKERS").expect("KAFKA_BROKERS (deploy/dev/services.sh start)");
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let root = std::env::var_os("MACHINES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("machines"));
    let partitions = env_count("PARTITIONS", 4) as i32;
    let tag = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let only = std::env::var("ONLY").ok();
    let skip_passthrough = std::env::var_os("SKIP_PASSTHROUGH").is_some();
    for name in ["pass-chain", "iot-fanout"].into_iter().filter(|n| only.as_deref().is_none_or(|o| o == *n)) {
        let machine = std::fs::read_to_string(root.join(format!("{name}.asl.json"))).expect("machine");
        let input = std::fs::read_to_string(root.join(format!("{name}.input.json"))).expect("input");
        let input = input.trim();
        let t = format!("bench-{name}-{tag}");
        for topic in [&t, &format!("{t}-pass"), &format!("{t}-out")] {
            ensure_topic(&brokers, topic, partitions).expect("topic");
        }
        produce(&brokers, &t, input, n);
        let raw = if skip_passthrough { f64::NAN } else { passthrough(&brokers, &t, &format!("{t}-pass"), n) };
        // `JOIN_FIRST=1` (the default with several consumers): Expressway
        // reads a topic filled only once its consumers have joined.
        let join_first = std::env::var_os("JOIN_FIRST").is_some() || env_count("CONSUMERS", 1) > 1;
        let late = format!("{t}-late");
        let (ours, again) = if join_first {
            ensure_topic(&brokers, &late, partitions).expect("topic");
            let fill = || produce(&brokers, &late, input, n);
            expressway(&brokers, &machine, &late, &format!("{t}-out"), n, Some(&fill))
        } else {
            expressway(&brokers, &machine, &t, &format!("{t}-out"), n, None)
        };
        println!(
            "{name}: {n} records; passthrough {raw:.0}/s; expressway {ours:.0} executions/s ({:.2}x the passthrough; \
             {again} run again)",
            ours / raw
        );
    }
}
