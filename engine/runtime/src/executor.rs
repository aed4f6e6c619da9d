//! The sharded, at-least-once executor: records in from a [`Source`],
//! executions on shard threads, results and dead letters out through
//! [`Sink`]s, and a record acknowledged only once what it produced is
//! durably written.
//!
//! Threads and the data between them:
//!
//! ```text
//!  source loop ──(batches, routed)──▶ shard 0..N ──(batches)──▶ sink writer 0..W
//!       ▲                                                              │
//!       └──────── acknowledgements (after the sinks are durable) ──────┘
//! ```
//!
//! Shard `s` hands its results to writer `s % W`, so a shard's results are
//! written in the order it finished them whatever `W` is; each writer has
//! its own sinks ([`SinkWriter`]) and acknowledges on its own.
//!
//! The source loop routes records by the ordering contract (a partition's,
//! or a key's, records to one shard, or every shard in turn; see
//! `RecordOrdering`) and shards own their work; what they share is the dedup
//! store (concurrent by contract) and relaxed counters. The source loop admits at most `max_in_flight_per_shard` ×
//! shards unacknowledged records, so memory stays flat under any backlog.

use crate::api::{DedupStore, Record, RecordId, Sink, Source};
use crate::spec::{PipelineSpec, RunError, Stats};
use crate::{shard, sink_loop, source_loop};
use crossbeam_channel::{bounded, unbounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a shard hands the sink writer for one record.
pub(crate) struct Done {
    pub id: RecordId,
    pub dedup_key: Option<String>,
    pub output: Output,
    /// The input record's key, written with the result or dead letter.
    pub key: Option<Vec<u8>>,
}

pub(crate) enum Output {
    Result(Vec<u8>),
    DeadLetter(Vec<u8>),
    /// A duplicate: nothing to write, but it completes in order with the rest.
    Skip,
}

/// Batches a channel between two stages holds before its sender blocks.
const QUEUED_BATCHES: usize = 16;

/// The sinks one sink writer thread writes to: its own results and
/// dead-letter sinks (a Kafka producer each, say), so writers share nothing.
pub struct SinkWriter {
    pub results: Box<dyn Sink>,
    pub dead_letters: Box<dyn Sink>,
}

/// Run a pipeline with one sink writer (see [`run_with_writers`]).
pub fn run(
    spec: PipelineSpec,
    source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    dead_letter: Box<dyn Sink>,
    dedup: Arc<dyn DedupStore>,
    stats: Arc<Stats>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let writer = SinkWriter { results: sink, dead_letters: dead_letter };
    run_with_writers(spec, source, vec![writer], dedup, stats, shutdown)
}

/// Run a pipeline until its source is finished or `shutdown` is set, then
/// drain, commit and return. After `shutdown` the whole drain is bounded by
/// the drain timeout (plus the sink writer's grace): executions still parked
/// then (a long Wait, a slow task) are abandoned, and only what finished
/// before is acknowledged and committed. Each of `writers` (at least one; at
/// most one per shard is used) is a sink writer thread.
pub fn run_with_writers(
    spec: PipelineSpec,
    mut source: Box<dyn Source>,
    mut writers: Vec<SinkWriter>,
    dedup: Arc<dyn DedupStore>,
    stats: Arc<Stats>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let shards = spec.shards.max(1);
    if writers.is_empty() {
        return Err(RunError::Sink("a pipeline needs at least one sink writer".into()));
    }
    writers.truncate(shards);
    let cap = spec.max_in_flight_per_shard.max(1);
    let spec = Arc::new(spec);
    // Records and results travel in batches: one channel operation (and at
    // most one wake-up) per batch, not per record. The in-flight cap, not
    // these bounds, is what limits memory. Acknowledgements need no bound of
    // their own: they are at most the records in flight.
    let shards_per_writer = shards.div_ceil(writers.len());
    let (done_txs, done_rxs): (Vec<_>, Vec<_>) =
        writers.iter().map(|_| bounded::<Vec<Done>>(QUEUED_BATCHES * shards_per_writer)).unzip();
    let (ack_tx, ack_rx) = unbounded::<Result<Vec<RecordId>, String>>();
    // Set once the source loop is done (drained, past the drain deadline, or
    // failed): shards then drop what is still parked instead of running it.
    let abandon = Arc::new(AtomicBool::new(false));

    let mut shard_txs = Vec::with_capacity(shards);
    let mut handles = Vec::with_capacity(shards + writers.len());
    for shard in 0..shards {
        let (tx, rx) = bounded::<Vec<Record>>(QUEUED_BATCHES);
        shard_txs.push(tx);
        let done_tx = done_txs[shard % done_txs.len()].clone();
        let (spec, dedup, stats) = (spec.clone(), dedup.clone(), stats.clone());
        let abandon = abandon.clone();
        handles.push(std::thread::Builder::new().name(format!("shard-{shard}")).spawn(move || {
            shard::shard_loop(&spec, shard, rx, done_tx, dedup.as_ref(), &stats, &abandon);
        }));
    }
    drop(done_txs);
    let hook = source.completion_hook();
    for (w, (writer, done_rx)) in writers.into_iter().zip(done_rxs).enumerate() {
        let (dedup, stats, name, abandon) = (dedup.clone(), stats.clone(), spec.name.clone(), abandon.clone());
        let (ack_tx, hook) = (ack_tx.clone(), hook.clone());
        let SinkWriter { results, dead_letters } = writer;
        handles.push(std::thread::Builder::new().name(format!("sink-writer-{w}")).spawn(move || {
            sink_loop::sink_loop(done_rx, results, dead_letters, dedup.as_ref(), &stats, ack_tx, hook, &name, &abandon)
        }));
    }
    drop(ack_tx);

    let result = source_loop::source_loop(&spec, source.as_mut(), &shard_txs, &ack_rx, &shutdown, cap * shards, &stats);
    // In flight now means past the drain deadline (or a failed source or
    // sink): whatever is still parked is abandoned, not waited for.
    abandon.store(true, Ordering::Relaxed);
    drop(shard_txs);
    // Shards and the sink writer end once their inputs close; what they
    // completed is acknowledged below before the final commit, and nothing
    // else is: an abandoned record runs again after a restart.
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
