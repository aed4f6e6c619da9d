//! The sharded, at-least-once executor: records in from a [`Source`],
//! executions on shard threads, results and dead letters out through
//! [`Sink`]s, and a record acknowledged only once what it produced is
//! durably written.
//!
//! Threads and the data between them:
//!
//! ```text
//!  source loop ──(batches, by partition)──▶ shard 0..N ──(batches)──▶ sink writer
//!       ▲                                                                  │
//!       └──────────── completions (after the sinks are flushed) ───────────┘
//! ```
//!
//! No lock or shared map sits on the per-record path: a partition always
//! goes to the same shard, shards own their work, and the only shared state
//! is the dedup store (concurrent by contract) and relaxed counters. The
//! source loop admits at most `max_in_flight` unacknowledged records per
//! shard, so memory stays flat under any backlog.

use crate::driver::{ExecutionResult, NoTasks, RunOptions, Status};
use crate::jsonpath::JsonPath;
use crate::live::{self, Live, Reactor, Timers};
use crate::program::Program;
use crate::tasks::TaskService;
use crate::value::{self, Object, Value};
use crate::vm::{ExecutionInfo, Resume};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Metric names, mirroring CloudWatch's AWS/States where one exists. Labels
/// are bounded: the pipeline, an ASL error name — never an execution id.
pub mod metric {
    pub const STARTED: &str = "expressway_executions_started_total";
    pub const SUCCEEDED: &str = "expressway_executions_succeeded_total";
    pub const FAILED: &str = "expressway_executions_failed_total";
    pub const TIMED_OUT: &str = "expressway_executions_timed_out_total";
    pub const THROTTLED: &str = "expressway_executions_throttled_total";
    pub const DURATION: &str = "expressway_execution_duration_seconds";
    pub const DEDUP_HITS: &str = "expressway_dedup_hits_total";
    pub const DEAD_LETTERS: &str = "expressway_dead_letters_total";
    pub const MALFORMED: &str = "expressway_malformed_records_total";
    pub const IN_FLIGHT: &str = "expressway_records_in_flight";
    pub const SINK_ERRORS: &str = "expressway_sink_errors_total";
    pub const COMMITS: &str = "expressway_source_commits_total";
    pub const TRANSITIONS: &str = "expressway_state_transitions_total";
    pub const LAG_BYTES: &str = "expressway_source_lag_bytes";
    pub const LAG_RECORDS: &str = "expressway_source_lag_records";

    /// Register descriptions once, for the exporter's HELP lines.
    pub fn describe() {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_counter!(STARTED, "Executions started");
        describe_counter!(SUCCEEDED, "Executions that succeeded");
        describe_counter!(FAILED, "Executions that failed, by ASL error name");
        describe_counter!(TIMED_OUT, "Executions that timed out");
        describe_counter!(THROTTLED, "Records held back because the in-flight cap was reached");
        describe_histogram!(DURATION, metrics::Unit::Seconds, "Wall-clock time of an execution");
        describe_counter!(DEDUP_HITS, "Records skipped because their idempotency key was running or complete");
        describe_counter!(DEAD_LETTERS, "Records written to the dead-letter sink");
        describe_counter!(MALFORMED, "Records that were not JSON or were too large");
        describe_gauge!(IN_FLIGHT, "Records admitted and not yet acknowledged");
        describe_counter!(SINK_ERRORS, "Failed writes or flushes of a sink");
        describe_counter!(COMMITS, "Source progress commits");
        describe_counter!(TRANSITIONS, "States entered, by state type");
        describe_gauge!(LAG_BYTES, metrics::Unit::Bytes, "Bytes of input not yet read (file sources)");
        describe_gauge!(LAG_RECORDS, "Records not yet read (partitioned sources)");
    }
}

/// Per-shard metric handles, resolved once so the per-record cost is an
/// atomic add.
struct ShardMetrics {
    started: metrics::Counter,
    succeeded: metrics::Counter,
    timed_out: metrics::Counter,
    duration: metrics::Histogram,
    dedup_hits: metrics::Counter,
    malformed: metrics::Counter,
    entered: [metrics::Counter; 8],
}

impl ShardMetrics {
    fn new(pipeline: &str) -> ShardMetrics {
        let p = pipeline.to_string();
        ShardMetrics {
            started: metrics::counter!(metric::STARTED, "pipeline" => p.clone()),
            succeeded: metrics::counter!(metric::SUCCEEDED, "pipeline" => p.clone()),
            timed_out: metrics::counter!(metric::TIMED_OUT, "pipeline" => p.clone()),
            duration: metrics::histogram!(metric::DURATION, "pipeline" => p.clone()),
            dedup_hits: metrics::counter!(metric::DEDUP_HITS, "pipeline" => p.clone()),
            malformed: metrics::counter!(metric::MALFORMED, "pipeline" => p.clone()),
            entered: crate::asl::StateType::ALL
                .map(|t| metrics::counter!(metric::TRANSITIONS, "pipeline" => p.clone(), "state_type" => t.as_str())),
        }
    }
}

/// Opaque to the executor: the source's own handle on a record.
pub type RecordId = u64;

#[derive(Debug, Clone)]
pub struct Record {
    pub id: RecordId,
    /// Records of one partition are started in order on one shard.
    pub partition: u32,
    pub payload: Vec<u8>,
    /// Where the record came from, for dead letters (`file:in.jsonl:offset=42`).
    pub coordinates: String,
    /// The record's key (a Kafka message key), carried to its result.
    pub key: Option<Vec<u8>>,
}

pub enum Polled {
    Records(Vec<Record>),
    /// Nothing now; poll again later.
    Idle,
    /// The source is exhausted (a file read to its end without `follow`).
    Finished,
}

#[derive(Debug)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where records come from. Called from one thread only.
pub trait Source: Send {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError>;
    /// The record's result or dead letter is durably written.
    fn complete(&mut self, id: RecordId);
    /// Persist progress up to the low watermark of completed records, so a
    /// restart re-delivers whatever was not complete and skips nothing.
    fn commit(&mut self) -> Result<(), SourceError>;
    /// How far behind the source's end the reader is, and in what unit
    /// (`bytes` for a file, `records` for a partitioned log).
    fn lag(&self) -> Option<(u64, &'static str)> {
        None
    }
    /// For sources that must see completions while their own thread is
    /// blocked (a Kafka rebalance callback draining revoked partitions).
    fn completion_hook(&self) -> Option<CompletionHook> {
        None
    }
}

/// Called from the sink writer with the ids of records whose results are
/// durable, before they are acknowledged to the source loop.
pub type CompletionHook = Arc<dyn Fn(&[RecordId]) + Send + Sync>;

/// Where results and dead letters go: one JSON document a call.
pub trait Sink: Send {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()>;
    /// Write with the input record's key; sinks without keys ignore it.
    fn write_keyed(&mut self, _key: Option<&[u8]>, line: &[u8]) -> std::io::Result<()> {
        self.write(line)
    }
    /// Make everything written so far durable.
    fn flush(&mut self) -> std::io::Result<()>;
    /// End a batch; returns its ticket. Synchronous sinks flush here (and
    /// every ticket is then durable); pipelined ones start making it durable.
    fn end_batch(&mut self) -> std::io::Result<u64> {
        self.flush().map(|()| 0)
    }
    /// The highest ticket whose batch (and every earlier one) is durable,
    /// waiting up to `wait` for progress.
    fn durable(&mut self, _wait: Duration) -> std::io::Result<u64> {
        Ok(u64::MAX)
    }
}

/// Idempotency keys of executions in flight or completed.
///
/// `begin` claims a key: `false` means it is complete or already running,
/// and the record is acknowledged without running. Skipping a twin that is
/// still in flight is safe for at-least-once: the twin holds the source's
/// watermark at or below its own position until its result is written, so
/// a crash re-delivers it.
pub trait DedupStore: Send + Sync {
    fn begin(&self, key: &str) -> bool;
    /// The execution's result or dead letter is durably written.
    fn complete(&self, key: &str);
    /// Several at once (a flushed sink batch); stores that talk to a server
    /// send them in one round trip.
    fn complete_many(&self, keys: &[&str]) {
        keys.iter().for_each(|k| self.complete(k));
    }
}

/// Which executions are logged (as an Express workflow's CloudWatch logging).
/// Events go through `tracing`, target `expressway::execution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionLogLevel {
    /// Every execution, when it ends.
    All,
    /// Executions that failed or timed out.
    Error,
    /// Executions that failed or timed out (no state-level events exist yet to
    /// tell ERROR from FATAL).
    Fatal,
    #[default]
    Off,
}

/// A store that remembers nothing: every record runs (benchmarks, tests,
/// pipelines without an idempotency key never call it).
pub struct NoDedup;

impl DedupStore for NoDedup {
    fn begin(&self, _key: &str) -> bool {
        true
    }
    fn complete(&self, _key: &str) {}
}

/// How a record's idempotency key is found.
#[derive(Debug, Clone)]
pub enum KeySpec {
    None,
    Path(JsonPath),
    SourceId,
}

pub struct PipelineSpec {
    pub name: String,
    pub program: Arc<Program>,
    pub state_machine_name: String,
    pub express: bool,
    pub key: KeySpec,
    pub shards: usize,
    pub max_in_flight_per_shard: usize,
    pub max_payload_bytes: usize,
    pub drain_timeout: Duration,
    pub commit_interval: Duration,
    pub log_level: ExecutionLogLevel,
    pub log_execution_data: bool,
    /// Performs the machine's Task states.
    pub tasks: Arc<dyn TaskService>,
}

/// Counters a run reports; shared with whoever prints or exports them.
#[derive(Debug, Default)]
pub struct Stats {
    pub executions: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
    pub duplicates: AtomicU64,
    pub malformed: AtomicU64,
    pub oversized: AtomicU64,
    pub dead_letters: AtomicU64,
    /// Records whose result or dead letter is durable and that were handed
    /// back to the source as complete.
    pub acknowledged: AtomicU64,
}

impl Stats {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub enum RunError {
    Source(SourceError),
    Sink(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Source(e) => write!(f, "source: {e}"),
            RunError::Sink(e) => write!(f, "sink: {e}"),
        }
    }
}

/// What a shard hands the sink writer for one record.
struct Done {
    id: RecordId,
    dedup_key: Option<String>,
    output: Output,
    /// The input record's key, written with the result or dead letter.
    key: Option<Vec<u8>>,
}

enum Output {
    Result(Vec<u8>),
    DeadLetter(Vec<u8>),
    /// A duplicate: nothing to write, but it completes in order with the rest.
    Skip,
}

/// Batches a channel between two stages holds before its sender blocks.
const QUEUED_BATCHES: usize = 16;

/// Run a pipeline until its source is finished or `shutdown` is set, then
/// drain (up to the drain timeout), commit and return.
pub fn run(
    spec: PipelineSpec,
    mut source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    dead_letter: Box<dyn Sink>,
    dedup: Arc<dyn DedupStore>,
    stats: Arc<Stats>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let shards = spec.shards.max(1);
    let cap = spec.max_in_flight_per_shard.max(1);
    let spec = Arc::new(spec);
    // Records and results travel in batches: one channel operation (and at
    // most one wake-up) per batch, not per record. The in-flight cap, not
    // these bounds, is what limits memory.
    let (done_tx, done_rx) = bounded::<Vec<Done>>(QUEUED_BATCHES * shards);
    let (ack_tx, ack_rx) = unbounded::<Result<Vec<RecordId>, String>>();

    let mut shard_txs = Vec::with_capacity(shards);
    let mut handles = Vec::with_capacity(shards + 1);
    for shard in 0..shards {
        let (tx, rx) = bounded::<Vec<Record>>(QUEUED_BATCHES);
        shard_txs.push(tx);
        let (spec, dedup, stats, done_tx) = (spec.clone(), dedup.clone(), stats.clone(), done_tx.clone());
        handles.push(std::thread::Builder::new().name(format!("shard-{shard}")).spawn(move || {
            shard_loop(&spec, shard, rx, done_tx, dedup.as_ref(), &stats);
        }));
    }
    drop(done_tx);
    {
        let (dedup, stats, name) = (dedup.clone(), stats.clone(), spec.name.clone());
        let hook = source.completion_hook();
        handles.push(
            std::thread::Builder::new()
                .name("sink-writer".into())
                .spawn(move || sink_loop(done_rx, sink, dead_letter, dedup.as_ref(), &stats, ack_tx, hook, &name)),
        );
    }

    let result = source_loop(&spec, source.as_mut(), &shard_txs, &ack_rx, &shutdown, cap * shards);
    drop(shard_txs);
    // Shards and the sink writer end once their inputs close; what they
    // completed is acknowledged below before the final commit.
    for h in handles.into_iter().flatten() {
        let _ = h.join();
    }
    let mut sink_error = None;
    while let Ok(batch) = ack_rx.try_recv() {
        match batch {
            Ok(ids) => ids.into_iter().for_each(|id| source.complete(id)),
            Err(e) => sink_error = Some(e),
        }
    }
    source.commit().map_err(RunError::Source)?;
    if let Some(e) = sink_error {
        return Err(RunError::Sink(e));
    }
    result
}

fn source_loop(
    spec: &PipelineSpec,
    source: &mut dyn Source,
    shard_txs: &[Sender<Vec<Record>>],
    ack_rx: &Receiver<Result<Vec<RecordId>, String>>,
    shutdown: &AtomicBool,
    cap: usize,
) -> Result<(), RunError> {
    let mut in_flight = 0usize;
    let mut finished = false;
    let mut last_commit = Instant::now();
    let mut draining_since: Option<Instant> = None;
    let in_flight_gauge = metrics::gauge!(metric::IN_FLIGHT, "pipeline" => spec.name.clone());
    let throttled = metrics::counter!(metric::THROTTLED, "pipeline" => spec.name.clone());
    let commits = metrics::counter!(metric::COMMITS, "pipeline" => spec.name.clone());
    fn acknowledge(
        source: &mut dyn Source,
        batch: Result<Vec<RecordId>, String>,
        in_flight: &mut usize,
    ) -> Result<(), RunError> {
        match batch {
            Ok(ids) => {
                *in_flight -= ids.len();
                ids.into_iter().for_each(|id| source.complete(id));
                Ok(())
            }
            Err(e) => Err(RunError::Sink(e)),
        }
    }
    loop {
        while let Ok(batch) = ack_rx.try_recv() {
            acknowledge(source, batch, &mut in_flight)?;
        }
        in_flight_gauge.set(in_flight as f64);
        if last_commit.elapsed() >= spec.commit_interval {
            source.commit().map_err(RunError::Source)?;
            commits.increment(1);
            match source.lag() {
                Some((n, "bytes")) => metrics::gauge!(metric::LAG_BYTES, "pipeline" => spec.name.clone()).set(n as f64),
                Some((n, _)) => metrics::gauge!(metric::LAG_RECORDS, "pipeline" => spec.name.clone()).set(n as f64),
                None => {}
            }
            last_commit = Instant::now();
        }
        if shutdown.load(Ordering::Relaxed) && draining_since.is_none() {
            draining_since = Some(Instant::now());
        }
        let stop_intake = finished || draining_since.is_some();
        if stop_intake {
            let deadline_passed = draining_since.is_some_and(|t| t.elapsed() >= spec.drain_timeout);
            if in_flight == 0 || deadline_passed {
                return Ok(());
            }
            match ack_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(batch) => acknowledge(source, batch, &mut in_flight)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            continue;
        }
        if in_flight >= cap {
            throttled.increment(1);
            if let Ok(batch) = ack_rx.recv_timeout(Duration::from_millis(20)) {
                acknowledge(source, batch, &mut in_flight)?;
            }
            continue;
        }
        match source.poll(cap - in_flight).map_err(RunError::Source)? {
            Polled::Records(records) => {
                in_flight += records.len();
                // A full shard queue blocks here: backpressure, not loss.
                for (shard, batch) in route(records, shard_txs.len()).into_iter().enumerate() {
                    if !batch.is_empty() && shard_txs[shard].send(batch).is_err() {
                        return Err(RunError::Sink("a shard stopped unexpectedly".into()));
                    }
                }
            }
            Polled::Idle => {
                if let Ok(batch) = ack_rx.recv_timeout(Duration::from_millis(20)) {
                    acknowledge(source, batch, &mut in_flight)?;
                }
            }
            Polled::Finished => finished = true,
        }
    }
}

/// Split a poll's records by shard (a partition always maps to the same
/// one), keeping their order.
fn route(records: Vec<Record>, shards: usize) -> Vec<Vec<Record>> {
    if shards == 1 {
        return vec![records];
    }
    let mut out: Vec<Vec<Record>> = (0..shards).map(|_| Vec::with_capacity(records.len() / shards + 1)).collect();
    for r in records {
        out[r.partition as usize % shards].push(r);
    }
    out
}

/// A record whose execution has started: what finishing it needs.
struct Started {
    record: Record,
    dedup_key: Option<String>,
    input: Value,
    name: String,
    began: Instant,
}

fn shard_loop(
    spec: &PipelineSpec,
    shard: usize,
    rx: Receiver<Vec<Record>>,
    done: Sender<Vec<Done>>,
    dedup: &dyn DedupStore,
    stats: &Stats,
) {
    let base_info = ExecutionInfo {
        state_machine_name: spec.state_machine_name.as_str().into(),
        state_machine_id: format!("arn:aws:states:local:000000000000:stateMachine:{}", spec.state_machine_name).into(),
        role_arn: "arn:aws:iam::000000000000:role/expressway".into(),
        express: spec.express,
        ..ExecutionInfo::default()
    };
    let opts = RunOptions {
        max_duration_ms: spec.express.then_some(crate::driver::EXPRESS_MAX_DURATION_MS),
        ..RunOptions::default()
    };
    let m = ShardMetrics::new(&spec.name);
    let timers = Timers::default();
    let live = Live {
        program: &spec.program,
        tasks: spec.tasks.as_ref(),
        timers: &timers,
        max_transitions: opts.max_transitions,
    };
    // Machines without tasks, waits or retries never wait on anything: they
    // run to their end inline, on the virtual clock, with no future at all.
    let suspends = spec.program.suspends();
    let mut reactor: Reactor<'_, Started> = Reactor::new();
    // Its own handle on the wake queue, so a woken slot is polled as it is
    // taken off the queue (no list of them per turn).
    let woken = reactor.woken.clone();
    let mut seq: u64 = 0;
    let mut scratch = Vec::with_capacity(4096);
    // Results of this turn, handed to the sink writer in one send before the
    // shard waits for anything.
    let mut finished: Vec<Done> = Vec::new();
    let finish = |(result, started): (ExecutionResult, Started)| {
        let output = conclude(spec, stats, &m, &started, &result);
        let Started { record, dedup_key, .. } = started;
        Done { id: record.id, dedup_key, output, key: record.key }
    };
    let hand_over = |finished: &mut Vec<Done>| finished.is_empty() || done.send(std::mem::take(finished)).is_ok();
    let mut open = true;
    while open || !reactor.is_empty() {
        if !hand_over(&mut finished) {
            return;
        }
        let batch = if reactor.is_empty() {
            match rx.recv() {
                Ok(batch) => Some(batch),
                Err(_) => {
                    open = false;
                    None
                }
            }
        } else {
            timers.fire_due();
            while let Ok(slot) = woken.try_recv() {
                if let Some(f) = reactor.poll(slot) {
                    finished.push(finish(f));
                }
            }
            if !hand_over(&mut finished) {
                return;
            }
            let wait =
                timers.next().map_or(IDLE_POLL, |at| at.saturating_duration_since(Instant::now()).min(IDLE_POLL));
            if open {
                crossbeam_channel::select! {
                    recv(rx) -> r => match r {
                        Ok(batch) => Some(batch),
                        Err(_) => { open = false; None }
                    },
                    recv(woken) -> slot => {
                        if let Ok(slot) = slot && let Some(f) = reactor.poll(slot) {
                            finished.push(finish(f));
                        }
                        None
                    },
                    default(wait) => None,
                }
            } else {
                if let Ok(slot) = woken.recv_timeout(wait)
                    && let Some(f) = reactor.poll(slot)
                {
                    finished.push(finish(f));
                }
                None
            }
        };
        for record in batch.into_iter().flatten() {
            seq += 1;
            let started = match prepare(spec, record, &mut scratch, dedup, stats, &m, shard, seq) {
                Admitted::Run(started) => started,
                Admitted::Settled(record, output) => {
                    finished.push(Done { id: record.id, dedup_key: None, output, key: record.key });
                    continue;
                }
            };
            let info = Arc::new(ExecutionInfo {
                execution_id: execution_id(spec, &started.name),
                execution_name: started.name.clone(),
                start_time_ms: crate::time::now_ms(),
                ..base_info.clone()
            });
            if suspends {
                let (mut frame, mut shared, deadline) =
                    crate::driver::begin(&spec.program, info, started.input.clone(), &opts);
                let first = spec.program.resume(&mut frame, &mut shared, Resume::Start);
                let execution = Box::pin(live::execute(&live, frame, shared, first, deadline));
                if let Some(f) = reactor.spawn(execution, started) {
                    finished.push(finish(f));
                }
            } else {
                let result = crate::driver::execute(&spec.program, info, started.input.clone(), &mut NoTasks, &opts);
                finished.push(finish((result, started)));
            }
        }
    }
    hand_over(&mut finished);
}

/// How long a shard with parked executions waits for a record or a wake
/// before it checks its timers again.
const IDLE_POLL: Duration = Duration::from_millis(50);

fn execution_id(spec: &PipelineSpec, name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("arn:aws:states:local:000000000000:express:{}:{name}", spec.state_machine_name)
    }
}

/// A record after its checks: an execution to run, or settled without one
/// (a dead letter, or a duplicate to skip).
enum Admitted {
    Run(Started),
    Settled(Record, Output),
}

/// Check, parse, key and dedup a record.
#[allow(clippy::too_many_arguments)]
fn prepare(
    spec: &PipelineSpec,
    record: Record,
    scratch: &mut Vec<u8>,
    dedup: &dyn DedupStore,
    stats: &Stats,
    m: &ShardMetrics,
    shard: usize,
    seq: u64,
) -> Admitted {
    if record.payload.len() > spec.max_payload_bytes {
        stats.oversized.fetch_add(1, Ordering::Relaxed);
        m.malformed.increment(1);
        let cause = format!(
            "The input of {} bytes exceeds the maximum of {} bytes for an execution input",
            record.payload.len(),
            spec.max_payload_bytes
        );
        let output = dead_letter(spec, &record.coordinates, &record.payload, "States.DataLimitExceeded", &cause, None);
        return Admitted::Settled(record, output);
    }
    // simd-json parses in place; a reused scratch copy keeps the record's own
    // bytes intact for a dead letter without an allocation per record.
    scratch.clear();
    scratch.extend_from_slice(&record.payload);
    let input = match value::from_slice_mut(scratch) {
        Ok(v) => v,
        Err(e) => {
            stats.malformed.fetch_add(1, Ordering::Relaxed);
            m.malformed.increment(1);
            let cause = format!("the record is not valid JSON: {e}");
            let output =
                dead_letter(spec, &record.coordinates, &record.payload, "Expressway.MalformedRecord", &cause, None);
            return Admitted::Settled(record, output);
        }
    };
    let key = match &spec.key {
        KeySpec::None => None,
        KeySpec::SourceId => Some(record.coordinates.clone()),
        KeySpec::Path(p) => match p.select(&input) {
            Ok(Value::String(s)) => Some(s.to_string()),
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_json()),
            _ => {
                let cause =
                    format!("the idempotency key '{p}' is missing from the record or is not a string or number");
                let error = "Expressway.MissingIdempotencyKey";
                let output = dead_letter(spec, &record.coordinates, &record.payload, error, &cause, Some(&input));
                return Admitted::Settled(record, output);
            }
        },
    };
    if let Some(k) = &key
        && !dedup.begin(k)
    {
        stats.duplicates.fetch_add(1, Ordering::Relaxed);
        m.dedup_hits.increment(1);
        return Admitted::Settled(record, Output::Skip);
    }
    // Names are only read through `$$` and execution logs: don't format two
    // strings per record for machines that use neither.
    let named = spec.program.uses_context || spec.log_level != ExecutionLogLevel::Off;
    let name = if named { format!("{}-{shard}-{seq}", spec.name) } else { String::new() };
    stats.executions.fetch_add(1, Ordering::Relaxed);
    m.started.increment(1);
    Admitted::Run(Started { record, dedup_key: key, input, name, began: Instant::now() })
}

/// Count a finished execution and render what it writes.
fn conclude(
    spec: &PipelineSpec,
    stats: &Stats,
    m: &ShardMetrics,
    started: &Started,
    result: &ExecutionResult,
) -> Output {
    m.duration.record(started.began.elapsed().as_secs_f64());
    for (counter, n) in m.entered.iter().zip(result.entered_by_type) {
        if n > 0 {
            counter.increment(n as u64);
        }
    }
    log_execution(spec, &started.name, &started.record.coordinates, result, &started.input);
    match result.status {
        Status::Succeeded => {
            stats.succeeded.fetch_add(1, Ordering::Relaxed);
            m.succeeded.increment(1);
            let mut line = Vec::with_capacity(256);
            match &result.output {
                Some(o) => o.write_json(&mut line),
                None => line.extend_from_slice(b"null"),
            }
            Output::Result(line)
        }
        status => {
            if status == Status::TimedOut {
                stats.timed_out.fetch_add(1, Ordering::Relaxed);
                m.timed_out.increment(1);
            } else {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                // Failures are the rare path: the label lookup is affordable.
                let error = result.error.clone().unwrap_or_default();
                metrics::counter!(metric::FAILED, "pipeline" => spec.name.clone(), "error" => error).increment(1);
            }
            let error = result.error.as_deref().unwrap_or("");
            let cause = result.cause.as_deref().unwrap_or("");
            dead_letter(spec, &started.record.coordinates, &started.record.payload, error, cause, Some(&started.input))
        }
    }
}

fn log_execution(spec: &PipelineSpec, name: &str, source: &str, r: &crate::driver::ExecutionResult, input: &Value) {
    let failed = r.status != Status::Succeeded;
    let wanted = match spec.log_level {
        ExecutionLogLevel::Off => false,
        ExecutionLogLevel::All => true,
        ExecutionLogLevel::Error | ExecutionLogLevel::Fatal => failed,
    };
    if !wanted {
        return;
    }
    let status = match r.status {
        Status::Succeeded => "SUCCEEDED",
        Status::Failed => "FAILED",
        Status::TimedOut => "TIMED_OUT",
    };
    let error = r.error.as_deref().unwrap_or("");
    if spec.log_execution_data {
        let output = r.output.as_ref().map(Value::to_json).unwrap_or_default();
        let cause = r.cause.as_deref().unwrap_or("");
        let input = input.to_json();
        if failed {
            tracing::error!(target: "expressway::execution", pipeline = %spec.name, execution = name, source, status, error, cause, input);
        } else {
            tracing::info!(target: "expressway::execution", pipeline = %spec.name, execution = name, source, status, input, output);
        }
    } else if failed {
        tracing::error!(target: "expressway::execution", pipeline = %spec.name, execution = name, source, status, error);
    } else {
        tracing::info!(target: "expressway::execution", pipeline = %spec.name, execution = name, source, status);
    }
}

/// A dead letter carries everything needed to replay or diagnose a record.
fn dead_letter(
    spec: &PipelineSpec,
    coordinates: &str,
    payload: &[u8],
    error: &str,
    cause: &str,
    input: Option<&Value>,
) -> Output {
    let mut o = Object::with_capacity(6);
    o.insert("pipeline", Value::from(spec.name.as_str()));
    o.insert("stateMachine", Value::from(spec.state_machine_name.as_str()));
    o.insert("source", Value::from(coordinates));
    o.insert("error", Value::from(error));
    o.insert("cause", Value::from(cause));
    let input = match input {
        Some(v) => v.clone(),
        None => Value::from(String::from_utf8_lossy(payload).into_owned()),
    };
    o.insert("input", input);
    let mut line = Vec::with_capacity(256);
    Value::object(o).write_json(&mut line);
    Output::DeadLetter(line)
}

/// Writes results and dead letters in arrival order, in batches; once a
/// batch is durable in both sinks, marks its keys complete and acknowledges
/// its records. A pipelined sink (Kafka) makes batches durable while the
/// next ones are written; others are durable when `end_batch` returns.
#[allow(clippy::too_many_arguments)]
fn sink_loop(
    rx: Receiver<Vec<Done>>,
    mut sink: Box<dyn Sink>,
    mut dead: Box<dyn Sink>,
    dedup: &dyn DedupStore,
    stats: &Stats,
    acks: Sender<Result<Vec<RecordId>, String>>,
    hook: Option<CompletionHook>,
    pipeline: &str,
) {
    const BATCH: usize = 16 * 1024;
    /// Batches written but not yet durable, at most.
    const PENDING: usize = 8;
    struct Pending {
        done: Vec<Done>,
        sink_ticket: u64,
        dead_ticket: u64,
    }
    let dead_letters = metrics::counter!(metric::DEAD_LETTERS, "pipeline" => pipeline.to_string());
    let sink_errors = metrics::counter!(metric::SINK_ERRORS, "pipeline" => pipeline.to_string());
    let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    let mut open = true;
    while open || !pending.is_empty() {
        // Take a batch: wait for one only when nothing is pending.
        let mut batch: Vec<Done> = Vec::new();
        if open {
            let first = if pending.is_empty() {
                rx.recv().ok()
            } else {
                match rx.recv_timeout(Duration::from_millis(1)) {
                    Ok(d) => Some(d),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        open = false;
                        None
                    }
                }
            };
            match first {
                Some(d) => batch = d,
                None if pending.is_empty() => open = false,
                None => {}
            }
            while !batch.is_empty() && batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(mut d) => batch.append(&mut d),
                    Err(_) => break,
                }
            }
        }
        let step = (|| -> std::io::Result<()> {
            if !batch.is_empty() {
                for d in &batch {
                    let key = d.key.as_deref();
                    match &d.output {
                        Output::Result(line) => sink.write_keyed(key, line)?,
                        Output::DeadLetter(line) => dead.write_keyed(key, line)?,
                        Output::Skip => {}
                    }
                }
                let sink_ticket = sink.end_batch()?;
                let dead_ticket = dead.end_batch()?;
                pending.push_back(Pending { done: std::mem::take(&mut batch), sink_ticket, dead_ticket });
            }
            // Block for durability only when the pipeline is full or ending.
            let wait = if pending.len() >= PENDING || (!open && !pending.is_empty()) {
                Duration::from_millis(10)
            } else {
                Duration::ZERO
            };
            let (s, d) = (sink.durable(wait)?, dead.durable(Duration::ZERO)?);
            while pending.front().is_some_and(|p| p.sink_ticket <= s && p.dead_ticket <= d) {
                let Some(p) = pending.pop_front() else { break };
                // A dead-lettered execution is complete too: a redelivery
                // must not run it (and dead-letter it) again.
                let keys: Vec<&str> = p.done.iter().filter_map(|d| d.dedup_key.as_deref()).collect();
                if !keys.is_empty() {
                    dedup.complete_many(&keys);
                }
                let mut ids = Vec::with_capacity(p.done.len());
                for d in p.done {
                    if let Output::DeadLetter(_) = d.output {
                        stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                        dead_letters.increment(1);
                    }
                    ids.push(d.id);
                }
                if let Some(hook) = &hook {
                    hook(&ids);
                }
                stats.acknowledged.fetch_add(ids.len() as u64, Ordering::Relaxed);
                if acks.send(Ok(ids)).is_err() {
                    return Err(std::io::Error::other("the source loop stopped"));
                }
            }
            Ok(())
        })();
        if let Err(e) = step {
            sink_errors.increment(1);
            // Nothing not yet acknowledged is: it is re-delivered.
            let _ = acks.send(Err(e.to_string()));
            return;
        }
    }
}
