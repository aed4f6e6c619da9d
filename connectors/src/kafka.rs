//! The `kafka` source and sink, on rdkafka's bundled librdkafka.
//!
//! Source: a consumer group member with `cooperative-sticky` assignment and
//! `enable.auto.offset.store=false`. Each assigned partition keeps the
//! offsets of its records in flight; its low watermark is the first offset
//! not yet complete (or the next to read). `commit` commits those
//! watermarks; a revoked partition is first drained — its records in flight
//! finish, up to [`REVOKE_DRAIN`] — then its watermark is committed, and
//! everything on close. Completions reach the partition state straight from
//! the sink writer (the completion hook), so a drain can wait inside the
//! rebalance callback. A restart or a new owner resumes at the watermark:
//! nothing is skipped, only the in-flight window can run twice.
//!
//! Sink: an idempotent producer (`acks=all`) and pipelined: `end_batch`
//! closes a batch and returns its ticket, delivery callbacks count its
//! messages down, and `durable` reports the last batch the broker confirmed
//! whole, so the runtime acknowledges a source record only after its result
//! is in Kafka while later batches are already being written. `flush` waits
//! for every message written so far.

use crate::in_flight::InFlight;
use expressway_runtime::{Coordinates, Lag, Origin, Place, Polled, Record, RecordId, Sink, Source, SourceError};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Partitioner, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a revoked partition's records in flight may take to finish
/// before its watermark is committed anyway (they then run again on the new
/// owner). Well below the default 45 s session timeout.
pub const REVOKE_DRAIN: Duration = Duration::from_secs(10);

/// A record id: the partition's slot, the slot's assignment epoch (a slot
/// reused by a later assignment never takes a stale completion), the offset.
fn record_id(slot: u16, epoch: u8, offset: i64) -> RecordId {
    ((slot as u64 & 0xFFF) << 52) | ((epoch as u64) << 44) | (offset as u64 & 0xFFF_FFFF_FFFF)
}

fn split_id(id: RecordId) -> (usize, u8, i64) {
    ((id >> 52) as usize, (id >> 44) as u8, (id & 0xFFF_FFFF_FFFF) as i64)
}

/// librdkafka properties the runtime sets itself and a user may not override.
const OWNED_CONSUMER_KEYS: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "partition.assignment.strategy",
];
const OWNED_PRODUCER_KEYS: &[&str] = &["bootstrap.servers", "enable.idempotence", "acks"];

fn refuse_owned(properties: &BTreeMap<String, String>, owned: &[&str]) -> Result<(), String> {
    let taken: Vec<&str> = properties.keys().map(String::as_str).filter(|k| owned.contains(k)).collect();
    if taken.is_empty() {
        Ok(())
    } else {
        Err(format!("these librdkafka properties are set by Expressway and cannot be overridden: {}", taken.join(", ")))
    }
}

/// Offsets in flight and the next offset to read, per partition.
#[derive(Default)]
struct PartitionState {
    in_flight: InFlight,
    /// Of those, read by the `poll` now running and not yet handed out: a
    /// revoke during that `poll` cannot wait for them (they would never
    /// complete); they are dropped from its batch instead.
    unhanded: usize,
    next: i64,
    epoch: u8,
    /// `kafka:<topic>:<partition>`, shared by the partition's records.
    origin: Option<Origin>,
}

impl PartitionState {
    fn watermark(&self) -> i64 {
        // Offsets read are never negative.
        self.in_flight.first().map_or(self.next, |o| o as i64)
    }
}

#[derive(Default)]
struct Tracker {
    /// Assigned partitions' slots, by topic then partition (looked up by
    /// `&str`, with no allocation per record).
    slots: HashMap<String, HashMap<i32, u16>>,
    states: Vec<Option<((String, i32), PartitionState)>>,
    /// The epoch each slot was last assigned with.
    epochs: Vec<u8>,
    /// Watermarks of revoked partitions, to commit once.
    revoked: Vec<((String, i32), i64)>,
}

impl Tracker {
    fn find(&self, topic: &str, partition: i32) -> Option<u16> {
        self.slots.get(topic).and_then(|p| p.get(&partition)).copied()
    }

    fn slot(&mut self, topic: &str, partition: i32) -> u16 {
        if let Some(s) = self.find(topic, partition) {
            return s;
        }
        let slot = match self.states.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.states.push(None);
                self.epochs.push(0);
                self.states.len() - 1
            }
        };
        self.epochs[slot] = self.epochs[slot].wrapping_add(1);
        let state = PartitionState {
            epoch: self.epochs[slot],
            origin: Some(Origin::intern(&format!("kafka:{topic}:{partition}"))),
            ..PartitionState::default()
        };
        self.states[slot] = Some(((topic.to_string(), partition), state));
        self.slots.entry(topic.to_string()).or_default().insert(partition, slot as u16);
        slot as u16
    }

    fn revoke(&mut self, topic: &str, partition: i32) {
        if let Some(slot) = self.slots.get_mut(topic).and_then(|p| p.remove(&partition))
            && let Some((key, state)) = self.states[slot as usize].take()
        {
            // Only offsets read from this partition are worth committing.
            if state.next > 0 || !state.in_flight.is_empty() {
                self.revoked.push((key, state.watermark()));
            }
        }
    }

    /// A record's result is durable: it no longer holds its partition back.
    fn complete(&mut self, id: RecordId) {
        let (slot, epoch, offset) = split_id(id);
        // A partition revoked since has already committed its watermark, and
        // a slot assigned again since belongs to another partition.
        if let Some(Some((_, state))) = self.states.get_mut(slot)
            && state.epoch == epoch
        {
            state.in_flight.complete(offset as u64);
        }
    }

    /// Note a record read by the `poll` now running: in flight, not yet
    /// handed out. Its slot, the slot's epoch and the partition's origin.
    ///
    /// `None` for an offset already in flight (read twice by one poll, or
    /// again while the record an earlier poll handed out runs: a consumer
    /// that went back): it is not handed out again. One record per in-flight
    /// offset keeps `handed_out` exact (a second copy would be neither
    /// counted nor waited for by a revoke, and the first copy's completion
    /// would move the watermark past the second while it runs) and runs a
    /// record once for one read. An offset read again after it completed is
    /// in flight anew and handed out.
    fn read(&mut self, topic: &str, partition: i32, offset: i64) -> Option<(u16, u8, Option<Origin>)> {
        let slot = self.slot(topic, partition);
        let (mut epoch, mut origin) = (0, None);
        if let Some((_, state)) = self.states[slot as usize].as_mut() {
            state.next = offset + 1;
            if !state.in_flight.insert(offset as u64) {
                return None;
            }
            state.unhanded += 1;
            epoch = state.epoch;
            origin = state.origin;
        }
        Some((slot, epoch, origin))
    }

    /// Records of the partition handed out and not yet complete: what a
    /// revoke waits for.
    fn handed_out(&self, topic: &str, partition: i32) -> usize {
        match self.find(topic, partition) {
            Some(slot) => {
                self.states[slot as usize].as_ref().map_or(0, |(_, s)| s.in_flight.len().saturating_sub(s.unhanded))
            }
            None => 0,
        }
    }

    /// The end of a `poll`: its records are handed out, but those of a
    /// partition revoked meanwhile (their slot's state gone or reassigned)
    /// are dropped: the revoke committed a watermark at or below them, so
    /// the partition's next owner reads them.
    fn hand_out(&mut self, records: &mut Vec<Record>) {
        for (_, state) in self.states.iter_mut().flatten() {
            state.unhanded = 0;
        }
        records.retain(|r| {
            let (slot, epoch, _) = split_id(r.id);
            self.states.get(slot).and_then(Option::as_ref).is_some_and(|(_, s)| s.epoch == epoch)
        });
    }

    fn watermarks(&mut self) -> Vec<((String, i32), i64)> {
        let mut out = std::mem::take(&mut self.revoked);
        out.extend(self.states.iter().flatten().filter(|(_, s)| s.next > 0).map(|(k, s)| (k.clone(), s.watermark())));
        out
    }
}

/// The partition states and a signal for each completion.
#[derive(Default)]
struct Progress {
    tracker: Mutex<Tracker>,
    completed: Condvar,
}

/// Sees rebalances: a revoked partition is drained and its watermark
/// committed before it goes to another member. Reads librdkafka's
/// statistics for the lag.
struct SourceContext {
    progress: Arc<Progress>,
    /// Total consumer lag (records) at the last statistics report.
    lag: Arc<std::sync::atomic::AtomicI64>,
}

fn lock(t: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A partition's lag as this consumer should report it: only while it
/// fetches the partition. librdkafka keeps reporting a revoked partition
/// (stopped, with its last lag), which another consumer of this process or
/// another process now reports: counted twice otherwise. `-1` (the
/// internal partition) and an unknown lag count for nothing.
fn owned_lag(partition: i32, fetch_state: &str, consumer_lag: i64) -> Option<i64> {
    let fetching = !matches!(fetch_state, "none" | "stopping" | "stopped");
    (partition >= 0 && consumer_lag >= 0 && fetching).then_some(consumer_lag)
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut total = 0;
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                let Some(lag) = owned_lag(partition, &p.fetch_state, p.consumer_lag) else { continue };
                total += lag;
                metrics::gauge!("expressway_kafka_consumer_lag", "topic" => topic.clone(), "partition" => partition.to_string())
                    .set(lag as f64);
            }
        }
        self.lag.store(total, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let deadline = Instant::now() + REVOKE_DRAIN;
            let mut tracker = lock(&self.progress.tracker);
            loop {
                let left: usize = tpl.elements().iter().map(|e| tracker.handed_out(e.topic(), e.partition())).sum();
                let now = Instant::now();
                if left == 0 {
                    break;
                }
                if now >= deadline {
                    tracing::warn!(
                        records = left,
                        "revoked partitions not drained in time; they run again on their new owner"
                    );
                    metrics::counter!("expressway_kafka_revoke_drain_timeouts_total").increment(1);
                    break;
                }
                tracker = match self.progress.completed.wait_timeout(tracker, deadline - now) {
                    Ok((t, _)) => t,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
            for e in tpl.elements() {
                tracker.revoke(e.topic(), e.partition());
                // Its new owner reports its lag from now on.
                metrics::gauge!("expressway_kafka_consumer_lag", "topic" => e.topic().to_string(), "partition" => e.partition().to_string())
                    .set(0.0);
            }
            let marks = tracker.watermarks();
            drop(tracker);
            commit_marks(consumer, &marks, CommitMode::Sync);
            metrics::counter!("expressway_kafka_rebalances_total", "kind" => "revoke").increment(1);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Counted when partitions were assigned: a cooperative rebalance
        // also hands a joining member an empty assignment first.
        if let Rebalance::Assign(tpl) = rebalance
            && tpl.count() > 0
        {
            metrics::counter!("expressway_kafka_rebalances_total", "kind" => "assign").increment(1);
        }
    }
}

fn commit_marks<C: ConsumerContext>(consumer: &BaseConsumer<C>, marks: &[((String, i32), i64)], mode: CommitMode) {
    if marks.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in marks {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    match consumer.commit(&tpl, mode) {
        Ok(()) => metrics::counter!("expressway_kafka_commits_total").increment(1),
        Err(e) => tracing::warn!(error = %e, "kafka offset commit failed"),
    }
}

pub struct KafkaSourceConfig<'a> {
    pub brokers: &'a str,
    pub group: &'a str,
    pub topics: &'a [String],
    pub instance_id: Option<&'a str>,
    pub properties: &'a BTreeMap<String, String>,
    /// Messages larger than an execution takes are not copied (see [`copied_within`]).
    pub max_record_bytes: usize,
}

pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    progress: Arc<Progress>,
    lag: Arc<std::sync::atomic::AtomicI64>,
    max_record_bytes: usize,
}

impl KafkaSource {
    pub fn open(c: &KafkaSourceConfig<'_>) -> Result<KafkaSource, String> {
        refuse_owned(c.properties, OWNED_CONSUMER_KEYS)?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", c.brokers)
            .set("group.id", c.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "5000")
            .set_log_level(RDKafkaLogLevel::Warning);
        if let Some(id) = c.instance_id {
            config.set("group.instance.id", id);
        }
        for (k, v) in c.properties {
            config.set(k, v);
        }
        let progress = Arc::new(Progress::default());
        let lag = Arc::new(std::sync::atomic::AtomicI64::new(-1));
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext { progress: progress.clone(), lag: lag.clone() })
            .map_err(|e| format!("creating the Kafka consumer: {e}"))?;
        let topics: Vec<&str> = c.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| format!("subscribing to {topics:?}: {e}"))?;
        Ok(KafkaSource { consumer, progress, lag, max_record_bytes: c.max_record_bytes })
    }
}

/// A message's payload and key as a record carries them. A part larger
/// than an execution takes (`max` bytes) is not copied: a payload past it
/// becomes a `States.DataLimitExceeded` dead letter that gives its size, as
/// a file source's oversized line does (its key kept, to find the record
/// by), and so does a key past it (its own size), so a topic of huge
/// messages holds no more memory in flight than one of records that fit.
fn copied_within(payload: Option<&[u8]>, key: Option<&[u8]>, max: usize) -> (Vec<u8>, Option<Vec<u8>>, Option<u64>) {
    let payload = payload.unwrap_or_default();
    match key {
        Some(key) if key.len() > max => (Vec::new(), None, Some(key.len() as u64)),
        _ if payload.len() > max => (Vec::new(), key.map(<[u8]>::to_vec), Some(payload.len() as u64)),
        _ => (payload.to_vec(), key.map(<[u8]>::to_vec), None),
    }
}

/// A partition's place on the executor: records of one partition share a shard.
fn partition_key(topic: &str, partition: i32) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for b in topic.as_bytes() {
        h = (h ^ *b as u32).wrapping_mul(16_777_619);
    }
    h ^ partition as u32
}

impl Source for KafkaSource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let mut records = Vec::new();
        let mut timeout = Duration::from_millis(100);
        while records.len() < max.min(4096) {
            let Some(result) = self.consumer.poll(timeout) else { break };
            timeout = Duration::ZERO;
            let m = match result {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "kafka consumer error");
                    break;
                }
            };
            let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
            let Some((slot, epoch, origin)) = lock(&self.progress.tracker).read(topic, partition, offset) else {
                continue;
            };
            let (payload, key, oversized) = copied_within(m.payload(), m.key(), self.max_record_bytes);
            records.push(Record {
                id: record_id(slot, epoch, offset),
                partition: partition_key(topic, partition),
                payload,
                coordinates: Coordinates::new(
                    origin.unwrap_or_else(|| Origin::intern(&format!("kafka:{topic}:{partition}"))),
                    Place::Offset(offset as u64),
                ),
                key,
                oversized,
            });
        }
        lock(&self.progress.tracker).hand_out(&mut records);
        metrics::counter!("expressway_kafka_records_consumed_total").increment(records.len() as u64);
        Ok(if records.is_empty() { Polled::Idle } else { Polled::Records(records) })
    }

    /// Already done by the completion hook, from the sink writer.
    fn complete(&mut self, _id: RecordId) {}

    fn completion_hook(&self) -> Option<expressway_runtime::CompletionHook> {
        let progress = self.progress.clone();
        Some(Arc::new(move |ids: &[RecordId]| {
            let mut tracker = lock(&progress.tracker);
            ids.iter().for_each(|id| tracker.complete(*id));
            drop(tracker);
            progress.completed.notify_all();
        }))
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        let marks = lock(&self.progress.tracker).watermarks();
        commit_marks(&self.consumer, &marks, CommitMode::Async);
        Ok(())
    }

    fn lag(&self) -> Option<Lag> {
        let lag = self.lag.load(std::sync::atomic::Ordering::Relaxed);
        (lag >= 0).then_some(Lag::Records(lag as u64))
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        // Commit what is complete, then leave the group at once so the
        // partitions move without waiting for the session timeout.
        let marks = lock(&self.progress.tracker).watermarks();
        commit_marks(&self.consumer, &marks, CommitMode::Sync);
        self.consumer.unsubscribe();
    }
}

/// Deliveries are counted per batch (the runtime's `end_batch`), not
/// tracked per message: the message's opaque is its batch number, so a
/// write costs no allocation and no map insert.
#[derive(Default)]
struct DeliveryState {
    /// Open and unconfirmed batches, oldest first; `batches[0]` is number `first`.
    batches: std::collections::VecDeque<Batch>,
    first: usize,
    failed: Vec<String>,
}

struct Batch {
    /// Sequence number of its first message.
    start: u64,
    /// Messages written and not yet confirmed; written ones are added when
    /// the batch closes (`next - start`), so it may dip below zero before.
    outstanding: i64,
    /// When its first message was written (produce latency is measured
    /// from here).
    opened: Instant,
    closed: bool,
}

impl DeliveryState {
    /// Open a batch whose first message has sequence number `start`.
    fn open_batch(&mut self, start: u64) -> usize {
        self.batches.push_back(Batch { start, outstanding: 0, opened: Instant::now(), closed: false });
        self.first + self.batches.len() - 1
    }

    /// The open batch ends before sequence number `next`.
    fn close_batch(&mut self, next: u64) {
        if let Some(b) = self.batches.back_mut().filter(|b| !b.closed) {
            b.outstanding += next.saturating_sub(b.start) as i64;
            b.closed = true;
        }
    }

    fn confirmed(&mut self, batch: usize) -> Option<Instant> {
        let b = self.batches.get_mut(batch.checked_sub(self.first)?)?;
        b.outstanding -= 1;
        Some(b.opened)
    }

    /// Every message below the returned sequence number is in Kafka.
    fn durable(&mut self, next: u64) -> u64 {
        while self.batches.front().is_some_and(|b| b.closed && b.outstanding == 0) {
            self.batches.pop_front();
            self.first += 1;
        }
        self.batches.front().map_or(next, |b| b.start)
    }
}

#[derive(Default)]
struct Deliveries {
    state: Mutex<DeliveryState>,
}

impl Deliveries {
    fn lock(&self) -> MutexGuard<'_, DeliveryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct SinkContext {
    deliveries: Arc<Deliveries>,
    latency: metrics::Histogram,
}

impl ClientContext for SinkContext {}

impl ProducerContext for SinkContext {
    /// The message's batch number.
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, batch: usize) {
        let mut state = self.deliveries.lock();
        match result {
            Ok(_) => {
                if let Some(opened) = state.confirmed(batch) {
                    self.latency.record(opened.elapsed().as_secs_f64());
                }
            }
            Err((e, _)) => {
                metrics::counter!("expressway_kafka_produce_errors_total").increment(1);
                state.failed.push(e.to_string());
            }
        }
    }
}

pub struct KafkaSink {
    producer: BaseProducer<SinkContext>,
    topic: String,
    deliveries: Arc<Deliveries>,
    /// Sequence number of the next message written.
    next: u64,
    /// The open batch's number.
    open: Option<usize>,
    /// The message key from the result; else the input record's key.
    key_path: Option<crate::result_key::ResultKey>,
}

impl KafkaSink {
    pub fn open(
        brokers: &str,
        topic: &str,
        linger: Duration,
        properties: &BTreeMap<String, String>,
    ) -> Result<KafkaSink, String> {
        refuse_owned(properties, OWNED_PRODUCER_KEYS)?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger.as_millis().to_string())
            .set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in properties {
            config.set(k, v);
        }
        let deliveries = Arc::new(Deliveries::default());
        let latency = metrics::histogram!("expressway_kafka_produce_latency_seconds", "topic" => topic.to_string());
        let producer = config
            .create_with_context(SinkContext { deliveries: deliveries.clone(), latency })
            .map_err(|e| format!("creating the Kafka producer: {e}"))?;
        Ok(KafkaSink { producer, topic: topic.to_string(), deliveries, next: 0, open: None, key_path: None })
    }

    /// Key each message by a value of its result (`$.deviceId`) instead of
    /// the input record's key; a result without it keeps the record's key.
    pub fn with_key_path(mut self, path: &str) -> Result<KafkaSink, String> {
        self.key_path = Some(crate::result_key::ResultKey::parse(path, "key")?);
        Ok(self)
    }

    fn check_failures(&self) -> std::io::Result<()> {
        let state = self.deliveries.lock();
        match state.failed.first() {
            None => Ok(()),
            Some(first) => {
                Err(std::io::Error::other(format!("{} kafka deliveries failed: {first}", state.failed.len())))
            }
        }
    }
}

impl Sink for KafkaSink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.write_keyed(None, line)
    }

    /// The result keeps its input's key, so it lands in the matching
    /// partition of the output topic.
    fn write_keyed(&mut self, key: Option<&[u8]>, line: &[u8]) -> std::io::Result<()> {
        let picked = self.key_path.as_ref().and_then(|p| p.pick(line));
        let key = picked.as_deref().map(str::as_bytes).or(key);
        let batch = match self.open {
            Some(batch) => batch,
            None => *self.open.insert(self.deliveries.lock().open_batch(self.next)),
        };
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(&self.topic, batch).payload(line);
        if let Some(key) = key {
            record = record.key(key);
        }
        match send_when_queued(&self.producer, record) {
            // Counted once queued: a refused message is not waited for.
            Ok(()) => {
                self.next += 1;
                Ok(())
            }
            // Past `message.max.bytes` with its key: this record only.
            Err(e) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge) => {
                Err(expressway_runtime::Refused::error(format!("kafka produce: {e}")))
            }
            Err(e) => Err(std::io::Error::other(format!("kafka produce: {e}"))),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.producer.flush(Duration::from_secs(30)).map_err(|e| std::io::Error::other(format!("kafka flush: {e}")))?;
        self.check_failures()
    }

    /// A batch's ticket: the number of messages written by its end.
    fn end_batch(&mut self) -> std::io::Result<u64> {
        if self.open.take().is_some() {
            self.deliveries.lock().close_batch(self.next);
        }
        self.producer.poll(Duration::ZERO);
        Ok(self.next)
    }

    /// Every message below the first unconfirmed one is in Kafka.
    fn durable(&mut self, wait: Duration) -> std::io::Result<u64> {
        self.producer.poll(wait);
        self.check_failures()?;
        let next = self.next;
        Ok(self.deliveries.lock().durable(next))
    }
}

/// Send `record`; while the producer's local queue is full, serve delivery
/// reports and try again. Any other error is returned.
pub fn send_when_queued<K, P, C, Part>(
    producer: &BaseProducer<C, Part>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
) -> KafkaResult<()>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, back)) if is_queue_full(&e) => {
                producer.poll(Duration::from_millis(10));
                record = back;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

fn is_queue_full(e: &rdkafka::error::KafkaError) -> bool {
    matches!(e.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull))
}

/// Create a topic if it is missing (tests and the quickstart).
pub fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> KafkaResult<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in block_on(admin.create_topics([&topic], &opts))? {
        match result {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                tracing::warn!(topic = %name, error = %code, "creating the topic failed");
                return Err(rdkafka::error::KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}

/// The admin API is async; its future completes on librdkafka's own
/// thread, so polling it with a no-op waker is enough.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_for_a_revoked_partition_never_touches_the_slots_next_owner() {
        let mut t = Tracker::default();
        let slot = t.slot("a", 0);
        let epoch = t.states[slot as usize].as_ref().map(|(_, s)| s.epoch).unwrap_or_default();
        if let Some((_, s)) = t.states[slot as usize].as_mut() {
            s.in_flight.insert(7);
            s.next = 8;
        }
        let stale = record_id(slot, epoch, 7);
        t.revoke("a", 0);
        assert_eq!(t.watermarks(), vec![(("a".to_string(), 0), 7)]);
        // Partition b takes the same slot and reads its own offset 7.
        let reused = t.slot("b", 3);
        assert_eq!(reused, slot);
        if let Some((_, s)) = t.states[reused as usize].as_mut() {
            s.in_flight.insert(7);
            s.next = 8;
        }
        t.complete(stale);
        assert_eq!(t.handed_out("b", 3), 1, "a's late completion must not complete b's offset 7");
        let fresh = record_id(reused, t.states[reused as usize].as_ref().map(|(_, s)| s.epoch).unwrap_or_default(), 7);
        t.complete(fresh);
        assert_eq!(t.handed_out("b", 3), 0);
        assert_eq!(split_id(record_id(4095, 255, (1 << 44) - 1)), (4095, 255, (1 << 44) - 1));
    }

    /// A message past the bound, by its payload or by its key, is carried
    /// as its size alone; one within it whole.
    #[test]
    fn a_message_larger_than_an_execution_takes_is_not_copied() {
        let fits = copied_within(Some(b"{}"), Some(b"k"), 4);
        assert_eq!(fits, (b"{}".to_vec(), Some(b"k".to_vec()), None));
        assert_eq!(copied_within(None, None, 4), (Vec::new(), None, None), "a tombstone is an empty record");
        let big_payload = copied_within(Some(b"[1,2]"), Some(b"k"), 4);
        assert_eq!(big_payload, (Vec::new(), Some(b"k".to_vec()), Some(5)), "the key is kept to find the record by");
        assert_eq!(copied_within(Some(b"{}"), Some(b"kkkkk"), 4), (Vec::new(), None, Some(5)));
    }

    fn record_at(t: &mut Tracker, topic: &str, partition: i32, offset: i64) -> Record {
        read_at(t, topic, partition, offset).expect("a record not in flight yet")
    }

    /// What `KafkaSource::poll` makes of a message: a record, or nothing
    /// for an offset already in flight.
    fn read_at(t: &mut Tracker, topic: &str, partition: i32, offset: i64) -> Option<Record> {
        let (slot, epoch, _) = t.read(topic, partition, offset)?;
        Some(Record {
            id: record_id(slot, epoch, offset),
            partition: partition_key(topic, partition),
            payload: Vec::new(),
            coordinates: Coordinates::new(Origin::intern("kafka:test"), Place::Offset(offset as u64)),
            key: None,
            oversized: None,
        })
    }

    /// One `poll` reading these offsets of partition a:0, handed out.
    fn poll_of(t: &mut Tracker, offsets: &[i64]) -> Vec<Record> {
        let mut batch: Vec<Record> = offsets.iter().filter_map(|&o| read_at(t, "a", 0, o)).collect();
        t.hand_out(&mut batch);
        batch
    }

    fn offsets(batch: &[Record]) -> Vec<i64> {
        batch.iter().map(|r| split_id(r.id).2).collect()
    }

    /// A message read again while its offset is in flight (twice in one
    /// poll, or again after an earlier poll handed it out: a consumer that
    /// went back after a seek or a fetch error) is not handed out again: one
    /// record per in-flight offset, so a revoke waits for every record
    /// handed out and the watermark never passes one still running. An
    /// offset read again after it completed is handed out again.
    #[test]
    fn an_offset_already_in_flight_is_not_handed_out_again() {
        let mut t = Tracker::default();
        let first = poll_of(&mut t, &[10, 11, 10]);
        assert_eq!(offsets(&first), [10, 11], "a message read twice in one poll is handed out once");
        assert_eq!(t.handed_out("a", 0), 2);
        // The next poll reads 11 again (still running) and 12, then, inside
        // a later poll, a revoke counts what it must wait for.
        let second = poll_of(&mut t, &[11, 12]);
        assert_eq!(offsets(&second), [12], "11 is running: not handed out a second time");
        let during = read_at(&mut t, "a", 0, 13).expect("13 is new");
        assert_eq!(t.handed_out("a", 0), 3, "10, 11 and 12 are handed out; 13 is the poll's own");
        for r in first.iter().chain(&second) {
            t.complete(r.id);
        }
        assert_eq!(t.handed_out("a", 0), 0, "every record handed out completed: nothing left running");
        let mut rest = vec![during];
        t.hand_out(&mut rest);
        assert_eq!(t.handed_out("a", 0), 1);
        assert_eq!(t.watermarks(), vec![(("a".to_string(), 0), 13)]);
        // 11 again, after it completed: a new delivery, handed out.
        assert_eq!(offsets(&poll_of(&mut t, &[11])), [11]);
        assert_eq!(t.handed_out("a", 0), 2);
    }

    #[test]
    fn lag_counts_only_partitions_being_fetched() {
        assert_eq!(owned_lag(3, "active", 12), Some(12));
        assert_eq!(owned_lag(3, "offset-query", 12), Some(12));
        for not_ours in ["none", "stopping", "stopped"] {
            assert_eq!(owned_lag(3, not_ours, 12), None, "{not_ours}: revoked, another member reports it");
        }
        assert_eq!(owned_lag(-1, "active", 12), None, "the internal partition");
        assert_eq!(owned_lag(3, "active", -1), None, "unknown");
    }

    /// A revoke inside a `poll` (librdkafka calls the rebalance callback from
    /// `consumer.poll`) waits only for records handed out before: the ones
    /// this `poll` read cannot complete while it runs. They are dropped from
    /// its batch, and the watermark committed for them is at or below them.
    #[test]
    fn a_revoke_during_a_poll_waits_only_for_records_handed_out_and_drops_the_polls_own() {
        let mut t = Tracker::default();
        let mut earlier = vec![record_at(&mut t, "a", 0, 10)];
        t.hand_out(&mut earlier);
        assert_eq!(t.handed_out("a", 0), 1);
        // The next poll reads a:0 at 11 and 12 and b:1 at 5, then a:0 is revoked.
        let mut batch =
            vec![record_at(&mut t, "a", 0, 11), record_at(&mut t, "b", 1, 5), record_at(&mut t, "a", 0, 12)];
        assert_eq!(t.handed_out("a", 0), 1, "only offset 10 is waited for");
        assert_eq!(t.handed_out("b", 1), 0);
        t.complete(earlier[0].id);
        assert_eq!(t.handed_out("a", 0), 0, "the revoke may go on");
        t.revoke("a", 0);
        assert_eq!(t.watermarks(), vec![(("a".to_string(), 0), 11), (("b".to_string(), 1), 5)]);
        t.hand_out(&mut batch);
        let kept: Vec<u64> = batch.iter().map(|r| split_id(r.id).2 as u64).collect();
        assert_eq!(kept, [5], "a:0's records go to its next owner; b:1's stays");
        assert_eq!(t.handed_out("b", 1), 1, "handed out now");
    }

    #[test]
    fn a_batch_is_durable_only_once_every_message_of_it_and_before_it_is_confirmed() {
        let mut d = DeliveryState::default();
        let first = d.open_batch(0);
        // A confirmation may arrive before its batch is closed.
        d.confirmed(first);
        d.close_batch(2);
        let second = d.open_batch(2);
        d.close_batch(5);
        assert_eq!(d.durable(5), 0, "one message of the first batch is unconfirmed");
        for _ in 0..3 {
            d.confirmed(second);
        }
        assert_eq!(d.durable(5), 0, "the second batch is confirmed but the first is not");
        d.confirmed(first);
        assert_eq!(d.durable(5), 5);
        let third = d.open_batch(5);
        assert_eq!(d.durable(6), 5, "an open batch is never durable");
        d.confirmed(third);
        d.close_batch(6);
        assert_eq!(d.durable(6), 6);
        assert!(d.confirmed(first).is_none(), "a stale batch number is ignored");
    }
}
