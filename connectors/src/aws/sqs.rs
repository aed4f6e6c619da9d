//! SQS: a source (long-polling receivers, batched deletes once a record's
//! result is written, visibility extended while it runs, FIFO groups one
//! message at a time), a sink (`SendMessageBatch`) and the
//! `arn:aws:states:::sqs:sendMessage` task.

use super::Aws;
use super::errors::{SQS, describe, failure};
use super::response::with_metadata;
use crate::result_key::ResultKey;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::RequestId;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use dashmap::DashMap;
use expressway_engine::{TaskOutcome, Value};
use expressway_runtime::{
    Coordinates, Lag, Origin, Place, Polled, Record, RecordId, Refused, Sink, Source, SourceError,
};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub mod metric {
    pub const RECEIVED: &str = "expressway_sqs_messages_received_total";
    pub const DELETED: &str = "expressway_sqs_messages_deleted_total";
    pub const DELETE_ERRORS: &str = "expressway_sqs_delete_errors_total";
    pub const EXTENDED: &str = "expressway_sqs_visibility_extended_total";
    pub const SENT: &str = "expressway_sqs_messages_sent_total";
}

/// SQS's own limits on one batch call.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

pub struct SqsSourceConfig<'a> {
    pub queue_url: &'a str,
    pub pollers: usize,
    pub visibility_timeout: Duration,
    pub wait_time: Duration,
}

struct InFlight {
    receipt: String,
    extended_at: Instant,
}

/// A received message on its way to the runtime.
struct Received {
    record: Record,
    group: Option<String>,
}

pub struct SqsSource {
    aws: Arc<Aws>,
    client: Client,
    queue_url: String,
    received: mpsc::Receiver<Received>,
    in_flight: Arc<DashMap<RecordId, InFlight>>,
    deletes: mpsc::UnboundedSender<String>,
    deletes_pending: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// The pollers and the visibility extender, stopped before what is in
    /// flight is made visible again (see `Drop`).
    receiving: Vec<tokio::task::JoinHandle<()>>,
    lag: Arc<AtomicU64>,
    // FIFO: one message per group runs at a time, the rest wait here in order.
    fifo: bool,
    busy_groups: HashSet<String>,
    held: HashMap<String, VecDeque<Record>>,
    group_of: HashMap<RecordId, String>,
    ready: VecDeque<Record>,
}

impl SqsSource {
    pub fn open(aws: Arc<Aws>, config: &SqsSourceConfig) -> Result<SqsSource, String> {
        let client = aws.sqs();
        let queue_url = config.queue_url.to_string();
        let fifo = queue_url.ends_with(".fifo");
        // Fail at start, not in the pollers, if the queue is not there.
        aws.handle()
            .block_on(
                client
                    .get_queue_attributes()
                    .queue_url(&queue_url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send(),
            )
            .map_err(|e| format!("SQS queue {queue_url}: {}", describe(SQS, &e).1))?;
        let (tx, received) = mpsc::channel(config.pollers.max(1) * BATCH_ENTRIES * 2);
        let in_flight: Arc<DashMap<RecordId, InFlight>> = Arc::new(DashMap::new());
        let stop = Arc::new(AtomicBool::new(false));
        let next_id = Arc::new(AtomicU64::new(0));
        let name = queue_url.rsplit('/').next().unwrap_or_default().to_string();
        let visibility = config.visibility_timeout.max(Duration::from_secs(2));
        let mut receiving = Vec::with_capacity(config.pollers.max(1) + 1);
        for _ in 0..config.pollers.max(1) {
            let poller = Poller {
                client: client.clone(),
                queue_url: queue_url.clone(),
                queue_name: name.clone(),
                origin: Origin::intern(&format!("sqs:{name}")),
                wait: config.wait_time,
                visibility,
                in_flight: in_flight.clone(),
                next_id: next_id.clone(),
                stop: stop.clone(),
                fifo,
            };
            receiving.push(aws.handle().spawn(poller.run(tx.clone())));
        }
        let (deletes, delete_rx) = mpsc::unbounded_channel();
        let deletes_pending = Arc::new(AtomicUsize::new(0));
        aws.handle().spawn(delete_batches(client.clone(), queue_url.clone(), delete_rx, deletes_pending.clone()));
        let lag = Arc::new(AtomicU64::new(0));
        receiving.push(aws.handle().spawn(extend_visibility(
            client.clone(),
            queue_url.clone(),
            visibility,
            in_flight.clone(),
            stop.clone(),
            lag.clone(),
        )));
        Ok(SqsSource {
            aws,
            client,
            queue_url,
            received,
            in_flight,
            deletes,
            deletes_pending,
            stop,
            receiving,
            lag,
            fifo,
            busy_groups: HashSet::new(),
            held: HashMap::new(),
            group_of: HashMap::new(),
            ready: VecDeque::new(),
        })
    }

    fn admit(&mut self, r: Received, out: &mut Vec<Record>) {
        match r.group {
            Some(group) if self.fifo => {
                self.group_of.insert(r.record.id, group.clone());
                if self.busy_groups.contains(&group) {
                    self.held.entry(group).or_default().push_back(r.record);
                } else {
                    self.busy_groups.insert(group);
                    out.push(r.record);
                }
            }
            _ => out.push(r.record),
        }
    }
}

impl Source for SqsSource {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        let mut out: Vec<Record> = Vec::new();
        while out.len() < max {
            match self.ready.pop_front() {
                Some(r) => out.push(r),
                None => break,
            }
        }
        while out.len() < max {
            match self.received.try_recv() {
                Ok(r) => self.admit(r, &mut out),
                Err(_) => break,
            }
        }
        Ok(if out.is_empty() { Polled::Idle } else { Polled::Records(out) })
    }

    fn complete(&mut self, id: RecordId) {
        if let Some((_, m)) = self.in_flight.remove(&id) {
            self.deletes_pending.fetch_add(1, Ordering::SeqCst);
            let _ = self.deletes.send(m.receipt);
        }
        if let Some(group) = self.group_of.remove(&id) {
            match self.held.get_mut(&group).and_then(VecDeque::pop_front) {
                Some(next) => self.ready.push_back(next),
                None => {
                    self.held.remove(&group);
                    self.busy_groups.remove(&group);
                }
            }
        }
    }

    /// Deletes go out in batches as records complete; nothing is left to
    /// persist here.
    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }

    fn lag(&self) -> Option<Lag> {
        Some(Lag::Records(self.lag.load(Ordering::Relaxed)))
    }
}

impl Drop for SqsSource {
    /// Stop receiving, let the pending deletes finish, and make what was
    /// received but not completed visible again at once, so another
    /// consumer takes it without waiting out the visibility timeout.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A poller waits in a long poll of up to 20 s: left to run, it would
        // take the messages made visible below, as SQS hands them to the
        // first open request, and hold them for the visibility timeout.
        // Cancelled, its open request goes; the messages of a reply it had
        // are all in `in_flight` before it hands any out. The extender would lengthen what is reset.
        let receiving = std::mem::take(&mut self.receiving);
        receiving.iter().for_each(tokio::task::JoinHandle::abort);
        let _ = self.aws.handle().block_on(async {
            tokio::time::timeout(Duration::from_secs(1), futures_util::future::join_all(receiving)).await
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.deletes_pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let receipts: Vec<String> = self.in_flight.iter().map(|e| e.receipt.clone()).collect();
        self.in_flight.clear();
        let (client, queue_url) = (self.client.clone(), self.queue_url.clone());
        let _ = self.aws.handle().block_on(async move {
            tokio::time::timeout(Duration::from_secs(5), change_visibility(&client, &queue_url, &receipts, 0)).await
        });
    }
}

struct Poller {
    client: Client,
    queue_url: String,
    queue_name: String,
    /// `sqs:<queue>`, shared by the queue's records.
    origin: Origin,
    wait: Duration,
    visibility: Duration,
    in_flight: Arc<DashMap<RecordId, InFlight>>,
    next_id: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    fifo: bool,
}

impl Poller {
    async fn run(self, tx: mpsc::Sender<Received>) {
        let received = metrics::counter!(metric::RECEIVED, "queue" => self.queue_name.clone());
        while !self.stop.load(Ordering::Relaxed) {
            let reply = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(BATCH_ENTRIES as i32)
                .wait_time_seconds(self.wait.as_secs().min(20) as i32)
                .visibility_timeout(self.visibility.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await;
            let messages = match reply {
                Ok(r) => r.messages.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(queue = %self.queue_url, error = %describe(SQS, &e).1, "ReceiveMessage failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            received.increment(messages.len() as u64);
            // Every message of the reply is in flight (extended, made visible
            // again at a stop) before the first waits for room in the channel:
            // a poller cancelled in that wait loses none.
            let mut batch = Vec::with_capacity(messages.len());
            for m in messages {
                let (Some(receipt), Some(message_id)) = (m.receipt_handle, m.message_id) else { continue };
                let attributes = m.attributes.unwrap_or_default();
                let group = attributes.get(&MessageSystemAttributeName::MessageGroupId).cloned();
                // The idempotency key: MessageId, or on FIFO queues the
                // deduplication id (stable when a producer retries a send).
                let identity = match attributes.get(&MessageSystemAttributeName::MessageDeduplicationId) {
                    Some(d) if self.fifo => d.clone(),
                    _ => message_id.clone(),
                };
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                self.in_flight.insert(id, InFlight { receipt, extended_at: Instant::now() });
                let partition = match &group {
                    Some(g) => crate::fnv::fnv1a32(g.as_bytes()),
                    None => id as u32,
                };
                let record = Record {
                    id,
                    partition,
                    payload: m.body.unwrap_or_default().into_bytes(),
                    coordinates: Coordinates::new(self.origin, Place::Id(identity.into_boxed_str())),
                    key: group.as_ref().map(|g| g.clone().into_bytes()),
                    oversized: None,
                };
                batch.push(Received { record, group });
            }
            for r in batch {
                if tx.send(r).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn delete_batches(
    client: Client,
    queue_url: String,
    mut rx: mpsc::UnboundedReceiver<String>,
    pending: Arc<AtomicUsize>,
) {
    let name = queue_url.rsplit('/').next().unwrap_or_default().to_string();
    let deleted = metrics::counter!(metric::DELETED, "queue" => name.clone());
    let errors = metrics::counter!(metric::DELETE_ERRORS, "queue" => name);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_ENTRIES {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().ok()
            })
            .collect();
        match client.delete_message_batch().queue_url(&queue_url).set_entries(Some(entries)).send().await {
            Ok(out) => {
                deleted.increment(out.successful().len() as u64);
                if !out.failed().is_empty() {
                    // Not lost: the message becomes visible again and re-runs
                    // (the dedup store skips it if its key completed).
                    errors.increment(out.failed().len() as u64);
                    tracing::warn!(queue = %queue_url, failed = out.failed().len(), "DeleteMessageBatch entries failed");
                }
            }
            Err(e) => {
                errors.increment(batch.len() as u64);
                tracing::warn!(queue = %queue_url, error = %describe(SQS, &e).1, "DeleteMessageBatch failed");
            }
        }
        pending.fetch_sub(batch.len(), Ordering::SeqCst);
    }
}

/// Keep running messages invisible: at half the visibility timeout, extend
/// it by a whole timeout. Also samples the queue's backlog for the lag gauge.
async fn extend_visibility(
    client: Client,
    queue_url: String,
    visibility: Duration,
    in_flight: Arc<DashMap<RecordId, InFlight>>,
    stop: Arc<AtomicBool>,
    lag: Arc<AtomicU64>,
) {
    let name = queue_url.rsplit('/').next().unwrap_or_default().to_string();
    let extended = metrics::counter!(metric::EXTENDED, "queue" => name);
    let tick = (visibility / 4).max(Duration::from_millis(500));
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(tick).await;
        let now = Instant::now();
        let due: Vec<String> = in_flight
            .iter_mut()
            .filter(|e| now.duration_since(e.extended_at) >= visibility / 2)
            .map(|mut e| {
                e.extended_at = now;
                e.receipt.clone()
            })
            .collect();
        if !due.is_empty() {
            change_visibility(&client, &queue_url, &due, visibility.as_secs() as i32).await;
            extended.increment(due.len() as u64);
        }
        if let Ok(out) = client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            && let Some(n) = out.attributes().and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        {
            lag.store(n.parse().unwrap_or(0), Ordering::Relaxed);
        }
    }
}

async fn change_visibility(client: &Client, queue_url: &str, receipts: &[String], seconds: i32) {
    for chunk in receipts.chunks(BATCH_ENTRIES) {
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .visibility_timeout(seconds)
                    .build()
                    .ok()
            })
            .collect();
        match client.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
            Err(e) => {
                tracing::warn!(queue = %queue_url, error = %describe(SQS, &e).1, "ChangeMessageVisibilityBatch failed");
            }
            // A batch succeeds with entries that failed (a receipt handle
            // expired): those keep the visibility they had.
            Ok(out) if !out.failed().is_empty() => {
                let first = &out.failed()[0];
                tracing::warn!(
                    queue = %queue_url,
                    failed = out.failed().len(),
                    code = %first.code(),
                    message = first.message().unwrap_or_default(),
                    "ChangeMessageVisibilityBatch refused some messages"
                );
            }
            Ok(_) => {}
        }
    }
}

/// Results or dead letters as messages of a queue. On a FIFO queue the
/// `MessageGroupId` comes from `message_group_id` (a path into the result),
/// else from the input record's key (an SQS FIFO source's group), else one
/// group for all; the deduplication id is this sink's own per message (a
/// retried send reuses it). Not the body's: distinct records with the same
/// result in one group were kept once by SQS and the others lost, their
/// sources deleted.
pub struct SqsSink {
    aws: Arc<Aws>,
    client: Client,
    queue_url: String,
    fifo: bool,
    group_path: Option<ResultKey>,
    buffer: Vec<Outgoing>,
    sent: metrics::Counter,
    /// Unique to this sink (random, per process), so that its messages'
    /// deduplication ids never meet another's.
    nonce: u64,
    written: u64,
    /// The queue's `MaximumMessageSize`, read at the first write.
    max_message_bytes: Option<usize>,
}

/// SQS's message size limit of old, taken when the queue's own cannot be
/// read: results and dead letters are at most this long.
const CLASSIC_MAX_MESSAGE_BYTES: usize = 256 * 1024;

struct Outgoing {
    body: String,
    group: Option<String>,
    /// On a FIFO queue, the message's deduplication id.
    dedup: Option<String>,
}

impl SqsSink {
    pub fn open(aws: Arc<Aws>, queue_url: &str, message_group_id: Option<&str>) -> Result<SqsSink, String> {
        let group_path = message_group_id.map(|p| ResultKey::parse(p, "message_group_id")).transpose()?;
        let name = queue_url.rsplit('/').next().unwrap_or_default().to_string();
        Ok(SqsSink {
            client: aws.sqs(),
            aws,
            queue_url: queue_url.to_string(),
            fifo: queue_url.ends_with(".fifo"),
            group_path,
            buffer: Vec::new(),
            sent: metrics::counter!(metric::SENT, "queue" => name),
            nonce: {
                use std::hash::{BuildHasher, Hasher};
                // Keyed from the OS's randomness, once per process.
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u128(
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
                );
                h.write_u32(std::process::id());
                h.finish()
            },
            written: 0,
            max_message_bytes: None,
        })
    }

    async fn send_chunk(client: &Client, queue_url: &str, fifo: bool, chunk: &[Outgoing]) -> std::io::Result<()> {
        let mut todo: Vec<usize> = (0..chunk.len()).collect();
        for attempt in 0..3 {
            let entries: Vec<SendMessageBatchRequestEntry> = todo
                .iter()
                .filter_map(|&i| {
                    let m = &chunk[i];
                    let mut e = SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(&m.body);
                    if fifo {
                        let group = m.group.clone().unwrap_or_else(|| "expressway".into());
                        e = e.message_group_id(group).set_message_deduplication_id(m.dedup.clone());
                    }
                    e.build().ok()
                })
                .collect();
            let out = client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| std::io::Error::other(describe(SQS, &e).1))?;
            let failed: Vec<usize> = out.failed().iter().filter_map(|f| f.id().parse().ok()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            if out.failed().iter().any(|f| f.sender_fault()) || attempt == 2 {
                let f = &out.failed()[0];
                return Err(std::io::Error::other(format!(
                    "SendMessageBatch to {queue_url}: {} entries failed, first: {}: {}",
                    failed.len(),
                    f.code(),
                    f.message().unwrap_or("")
                )));
            }
            todo = failed;
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        Ok(())
    }
}

/// SQS refuses U+FFFE and U+FFFF in a message (`InvalidMessageContents`),
/// which JSON allows: the whole batch failed, and the pipeline stopped on
/// that record at every restart. In the JSON text of a result or dead letter
/// they can only stand inside strings, where `\ufffe` and `\uffff` say the
/// same.
fn sqs_safe(body: String) -> String {
    if !body.contains(['\u{fffe}', '\u{ffff}']) {
        return body;
    }
    body.replace('\u{fffe}', "\\ufffe").replace('\u{ffff}', "\\uffff")
}

impl SqsSink {
    /// The queue's `MaximumMessageSize` (1 KiB to 1 MiB; 256 KiB when it
    /// cannot be read), asked once.
    fn max_message_bytes(&mut self) -> usize {
        if let Some(max) = self.max_message_bytes {
            return max;
        }
        let asked = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::MaximumMessageSize);
        match self.aws.handle().block_on(asked.send()) {
            Ok(out) => {
                let max = out
                    .attributes()
                    .and_then(|a| a.get(&QueueAttributeName::MaximumMessageSize))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(CLASSIC_MAX_MESSAGE_BYTES);
                *self.max_message_bytes.insert(max)
            }
            // Asked again at the next write: a passing failure does not fix it.
            Err(e) => {
                tracing::warn!(queue = %self.queue_url, error = %describe(SQS, &e).1, "MaximumMessageSize not read: taking 256 KiB");
                CLASSIC_MAX_MESSAGE_BYTES
            }
        }
    }
}

impl Sink for SqsSink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.write_keyed(None, line)
    }

    fn write_keyed(&mut self, key: Option<&[u8]>, line: &[u8]) -> std::io::Result<()> {
        let body = sqs_safe(String::from_utf8_lossy(line).into_owned());
        // A message over the queue's limit would fail its whole batch, and
        // the pipeline with it: refused here, it is this record's alone.
        let max = self.max_message_bytes();
        if body.len() > max {
            return Err(Refused::error(format!(
                "SQS: a message of {} bytes is over the MaximumMessageSize of {} ({max} bytes)",
                body.len(),
                self.queue_url
            )));
        }
        let group = if !self.fifo {
            None
        } else if let Some(path) = &self.group_path {
            path.pick(line)
        } else {
            key.map(|k| String::from_utf8_lossy(k).into_owned())
        };
        // SQS takes 1 to 128 printable ASCII characters: any other group
        // would fail the whole batch.
        if let Some(g) = &group
            && (g.is_empty() || g.len() > 128 || !g.bytes().all(|b| b.is_ascii_graphic()))
        {
            let shown: String = g.chars().take(64).collect();
            return Err(Refused::error(format!(
                "SQS: the MessageGroupId {shown:?} is not 1 to 128 printable ASCII characters"
            )));
        }
        let dedup = self.fifo.then(|| {
            self.written += 1;
            format!("{:016x}-{}", self.nonce, self.written)
        });
        self.buffer.push(Outgoing { body, group, dedup });
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        let mut chunks: Vec<&[Outgoing]> = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (i, m) in buffer.iter().enumerate() {
            if i - start == BATCH_ENTRIES || (bytes + m.body.len() > BATCH_BYTES && i > start) {
                chunks.push(&buffer[start..i]);
                (start, bytes) = (i, 0);
            }
            bytes += m.body.len();
        }
        chunks.push(&buffer[start..]);
        let (client, queue_url, fifo) = (&self.client, self.queue_url.as_str(), self.fifo);
        // FIFO order within a group holds only if its chunks go one by one.
        let result = self.aws.handle().block_on(async {
            if fifo {
                for c in &chunks {
                    Self::send_chunk(client, queue_url, fifo, c).await?;
                }
                Ok(())
            } else {
                let sends = chunks.iter().map(|c| Self::send_chunk(client, queue_url, fifo, c));
                futures_util::future::try_join_all(sends).await.map(|_| ())
            }
        });
        if result.is_ok() {
            self.sent.increment(buffer.len() as u64);
        }
        result
    }
}

/// `arn:aws:states:::sqs:sendMessage`: `QueueUrl`, `MessageBody` (JSON is
/// sent as its text), `DelaySeconds`, `MessageGroupId`,
/// `MessageDeduplicationId`, `MessageAttributes`.
pub async fn send_message(client: &Client, params: &Value) -> TaskOutcome {
    let Some(queue_url) = params.get("QueueUrl").and_then(Value::as_str) else {
        return TaskOutcome::Failed {
            error: "States.Runtime".into(),
            cause: Some("The sqs:sendMessage parameters must contain a string 'QueueUrl'".into()),
        };
    };
    let body = match params.get("MessageBody") {
        Some(Value::String(s)) => s.to_string(),
        Some(other) => other.to_json(),
        None => String::new(),
    };
    let mut call = client.send_message().queue_url(queue_url).message_body(body);
    // Given as a number or, as AWS's JSON binding takes it, a number's text.
    match params.get("DelaySeconds") {
        None | Some(Value::Null) => {}
        Some(d) => match d.as_i64().or_else(|| d.as_str().and_then(|t| t.trim().parse().ok())) {
            Some(d) => call = call.delay_seconds(d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
            None => {
                return TaskOutcome::Failed {
                    error: "States.Runtime".into(),
                    cause: Some(format!("The sqs:sendMessage parameter 'DelaySeconds' must be an integer, not {d}")),
                };
            }
        },
    }
    if let Some(g) = params.get("MessageGroupId").and_then(Value::as_str) {
        call = call.message_group_id(g);
    }
    if let Some(d) = params.get("MessageDeduplicationId").and_then(Value::as_str) {
        call = call.message_deduplication_id(d);
    }
    let attributes = match super::message_attributes(params) {
        Ok(a) => a,
        Err(cause) => return TaskOutcome::Failed { error: "SQS.AmazonSQSException".into(), cause: Some(cause) },
    };
    for a in attributes {
        let value = MessageAttributeValue::builder()
            .data_type(a.data_type)
            .set_string_value(a.string_value)
            .set_binary_value(a.binary_value.map(aws_sdk_sqs::primitives::Blob::new));
        if let Ok(v) = value.build() {
            call = call.message_attributes(a.name, v);
        }
    }
    match call.send().await {
        Ok(out) => {
            let mut result = with_metadata(out.request_id().unwrap_or_default(), "text/xml");
            result.insert("MD5OfMessageBody".into(), json!(out.md5_of_message_body()));
            result.insert("MessageId".into(), json!(out.message_id()));
            if let Some(md5) = out.md5_of_message_attributes() {
                result.insert("MD5OfMessageAttributes".into(), json!(md5));
            }
            if let Some(seq) = out.sequence_number() {
                result.insert("SequenceNumber".into(), json!(seq));
            }
            TaskOutcome::Succeeded(Value::from(serde_json::Value::Object(result)))
        }
        Err(e) => failure(SQS, &e),
    }
}
