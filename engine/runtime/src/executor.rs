//! The sharded, at-least-once executor: records in from [`Source`]s,
//! executions on shard threads, results and dead letters out through
//! [`Sink`]s, and a record acknowledged only once what it produced is
//! durably written.
//!
//! Threads and the data between them:
//!
//! ```text
//!  source reader 0..R ──(batches, routed)──▶ shard 0..N ──(batches)──▶ sink writer 0..W
//!       ▲                                                                      │
//!       └──────────── acknowledgements (after the sinks are durable) ──────────┘
//! ```
//!
//! Each source reader runs a source loop over its own [`Source`] (a Kafka
//! consumer of the group each, say) and routes to every shard; a batch
//! carries its reader's index, so each record's acknowledgement goes back to
//! the reader that read it, whatever shard and writer it passed through.
//! Shard `s` hands its results to writer `s % W`, so a shard's results are
//! written in the order it finished them whatever `W` is; each writer has
//! its own sinks ([`SinkWriter`]) and acknowledges on its own.
//!
//! A reader routes records by the ordering contract (a partition's, or a
//! key's, records to one shard, or every shard in turn; see
//! `RecordOrdering`) and shards own their work; what they share is the dedup
//! store (concurrent by contract) and relaxed counters. The readers together
//! admit at most `max_in_flight_per_shard` × shards unacknowledged records
//! (an equal share each), so memory stays flat under any backlog.

use crate::api::{CompletionHook, DedupStore, Record, RecordId, Sink, Source, SourceError};
use crate::source_loop::{Reader, source_loop};
use crate::spec::{PipelineSpec, RunError, Stats};
use crate::{shard, sink_loop};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A batch of records one source reader routed to one shard.
pub(crate) struct Intake {
    pub reader: u16,
    pub records: Vec<Record>,
}

/// Records a sink writer made durable, for one reader; or why it stopped.
pub(crate) type AckBatch = Result<Vec<RecordId>, String>;

/// Where a sink writer sends one reader's acknowledgements: its channel,
/// and its source's completion hook, if any. Sink writers hold one per
/// reader, by reader index.
#[derive(Clone)]
pub(crate) struct ReaderAcks {
    pub to: Sender<AckBatch>,
    pub hook: Option<CompletionHook>,
}

/// Sets the readers' `failed` flag if dropped while its reader unwinds, so a
/// panicking reader stops the others (which drain) instead of leaving them
/// running with nothing to end them.
struct FailOnPanic<'a>(&'a AtomicBool);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Source readers a pipeline may have: a thread and a Kafka consumer each.
pub const MAX_SOURCE_READERS: usize = 64;

/// What a shard hands the sink writer for one record.
pub(crate) struct Done {
    pub id: RecordId,
    pub dedup_key: Option<String>,
    pub output: Output,
    /// The input record's key, written with the result or dead letter.
    pub key: Option<Vec<u8>>,
    /// The source reader that read it, which takes its acknowledgement.
    pub reader: u16,
    /// Where it came from, for a dead letter the sink writer makes of it.
    pub coordinates: crate::api::Coordinates,
}

pub(crate) enum Output {
    Result(Vec<u8>),
    DeadLetter(Vec<u8>),
    /// A result the results sink refused ([`crate::api::Refused`]): the dead
    /// letter written instead. The execution succeeded, so it is counted as
    /// succeeded and as a dead letter, and as a sink refusal, which says why.
    Refused(Vec<u8>),
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

/// Run a pipeline with one source reader and one sink writer (see
/// [`run_parallel`]).
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
    run_parallel(spec, vec![source], vec![writer], dedup, stats, shutdown)
}

/// Run a pipeline until its sources are finished or `shutdown` is set (or
/// one source fails), then drain, commit and return. After `shutdown` the
/// whole drain is bounded by the drain timeout (plus the sink writer's
/// grace): executions still parked then (a long Wait, a slow task) are
/// abandoned, and only what finished before is acknowledged and committed.
/// Each of `sources` (1 to [`MAX_SOURCE_READERS`]) is read by a source
/// reader thread of its own (the first on the calling thread); each of
/// `writers` (at least one; at most one per shard is used) is a sink writer
/// thread. Readers share the in-flight cap equally, whatever part of the
/// source each holds. A source's error (or a reader's panic) stops every
/// reader; the error returned is a final commit's, else a sink's, else the
/// lowest-numbered failed reader's.
pub fn run_parallel(
    spec: PipelineSpec,
    mut sources: Vec<Box<dyn Source>>,
    mut writers: Vec<SinkWriter>,
    dedup: Arc<dyn DedupStore>,
    stats: Arc<Stats>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let shards = spec.shards.max(1);
    if sources.is_empty() || sources.len() > MAX_SOURCE_READERS {
        return Err(RunError::Source(SourceError(format!(
            "a pipeline needs from 1 to {MAX_SOURCE_READERS} source readers, not {}",
            sources.len()
        ))));
    }
    if writers.is_empty() {
        return Err(RunError::Sink("a pipeline needs at least one sink writer".into()));
    }
    writers.truncate(shards);
    let cap = (spec.max_in_flight_per_shard.max(1) * shards).div_ceil(sources.len());
    let spec = Arc::new(spec);
    // Records and results travel in batches: one channel operation (and at
    // most one wake-up) per batch, not per record. The in-flight cap, not
    // these bounds, is what limits memory. Acknowledgements need no bound of
    // their own: they are at most the records in flight.
    let shards_per_writer = shards.div_ceil(writers.len());
    let (done_txs, done_rxs): (Vec<_>, Vec<_>) =
        writers.iter().map(|_| bounded::<Vec<Done>>(QUEUED_BATCHES * shards_per_writer)).unzip();
    let (ack_txs, ack_rxs): (Vec<_>, Vec<_>) = sources.iter().map(|_| unbounded::<AckBatch>()).unzip();
    let acknowledgements: Vec<ReaderAcks> =
        ack_txs.into_iter().zip(&sources).map(|(to, s)| ReaderAcks { to, hook: s.completion_hook() }).collect();
    // Set once the source loops are done (drained, past the drain deadline,
    // or failed): shards then drop what is still parked instead of running it.
    let abandon = Arc::new(AtomicBool::new(false));

    let mut shard_txs = Vec::with_capacity(shards);
    let mut handles = Vec::with_capacity(shards + writers.len());
    for shard in 0..shards {
        let (tx, rx) = bounded::<Intake>(QUEUED_BATCHES * sources.len());
        shard_txs.push(tx);
        let done_tx = done_txs[shard % done_txs.len()].clone();
        let (spec, dedup, stats) = (spec.clone(), dedup.clone(), stats.clone());
        let abandon = abandon.clone();
        handles.push(std::thread::Builder::new().name(format!("shard-{shard}")).spawn(move || {
            shard::shard_loop(&spec, shard, rx, done_tx, dedup.as_ref(), &stats, &abandon);
        }));
    }
    drop(done_txs);
    for (w, (writer, done_rx)) in writers.into_iter().zip(done_rxs).enumerate() {
        let (dedup, stats, name, abandon) = (dedup.clone(), stats.clone(), spec.name.clone(), abandon.clone());
        let acks = acknowledgements.clone();
        let SinkWriter { results, dead_letters } = writer;
        handles.push(std::thread::Builder::new().name(format!("sink-writer-{w}")).spawn(move || {
            sink_loop::sink_loop(done_rx, results, dead_letters, dedup.as_ref(), &stats, acks, &name, &abandon)
        }));
    }
    drop(acknowledgements);
    // A shard or sink writer that could not start (a pids limit, memory):
    // stop before reading. Going on, its records were counted and never
    // written, and a run ended 0 with an empty sink.
    let not_started = handles.iter().find_map(|h| h.as_ref().err().map(|e| e.to_string()));
    if let Some(e) = not_started {
        abandon.store(true, Ordering::Relaxed);
        drop(shard_txs);
        for h in handles.into_iter().flatten() {
            let _ = h.join();
        }
        return Err(RunError::Sink(format!("starting the pipeline's shard and sink-writer threads: {e}")));
    }

    let failed = AtomicBool::new(false);
    let read = |index: usize, source: &mut Box<dyn Source>, acks: &Receiver<AckBatch>| {
        let _stops_the_others_if_it_panics = FailOnPanic(&failed);
        let reader = Reader { index: index as u16, shards: &shard_txs, acks, cap, failed: &failed };
        let result = source_loop(&spec, source.as_mut(), &reader, &shutdown, &stats);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        result
    };
    let results: Vec<Result<(), RunError>> = std::thread::scope(|scope| {
        let mut readers = sources.iter_mut().zip(&ack_rxs).enumerate();
        let first = readers.next();
        let others: Vec<_> = readers
            .map(|(i, (source, acks))| {
                std::thread::Builder::new()
                    .name(format!("source-reader-{i}"))
                    .spawn_scoped(scope, move || read(i, source, acks))
            })
            .collect();
        // A reader that could not start stops the others before they begin.
        if others.iter().any(Result::is_err) {
            failed.store(true, Ordering::Relaxed);
        }
        let mut results: Vec<Result<(), RunError>> =
            first.map(|(i, (source, acks))| read(i, source, acks)).into_iter().collect();
        for other in others {
            results.push(match other {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(RunError::Source(SourceError("a source reader panicked".into())))),
                Err(e) => Err(RunError::Source(SourceError(format!("starting a source reader: {e}")))),
            });
        }
        results
    });
    // In flight now means past the drain deadline (or a failed source or
    // sink): whatever is still parked is abandoned, not waited for.
    abandon.store(true, Ordering::Relaxed);
    drop(shard_txs);
    // Shards and the sink writers end once their inputs close; what they
    // completed is acknowledged below before the final commit, and nothing
    // else is: an abandoned record runs again after a restart.
    for h in handles.into_iter().flatten() {
        let _ = h.join();
    }
    let mut sink_error = None;
    let mut commit_error = None;
    for (source, acks) in sources.iter_mut().zip(&ack_rxs) {
        while let Ok(batch) = acks.try_recv() {
            match batch {
                Ok(ids) => ids.into_iter().for_each(|id| source.complete(id)),
                Err(e) => sink_error = Some(e),
            }
        }
        if let Err(e) = source.commit() {
            commit_error.get_or_insert(e);
        }
    }
    if let Some(e) = commit_error {
        return Err(RunError::Source(e));
    }
    if let Some(e) = sink_error {
        return Err(RunError::Sink(e));
    }
    results.into_iter().collect()
}
