//! A sink writer: a thread that writes its shards' results and dead
//! letters, makes them durable, marks their idempotency keys complete and
//! only then acknowledges each record to the source reader that read it.

use crate::api::{DedupStore, RecordId, Refused, Sink};
use crate::executor::{Done, Output, ReaderAcks};
use crate::metrics::metric;
use crate::spec::Stats;
use crossbeam_channel::Receiver;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the sink writer still works after the drain deadline, to make
/// durable what the shards finished by then.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// An error of the results sink, saying so.
fn results(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("results: {e}"))
}

/// An error of the dead-letter sink, saying so.
fn dead_letters_sink(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("dead letters: {e}"))
}

/// Write one record's result; one the results sink refuses ([`Refused`]:
/// too large for it, content it cannot carry) becomes that record's dead
/// letter, returned, and the pipeline goes on.
fn write_result(
    sink: &mut dyn Sink,
    dead: &mut dyn Sink,
    d: &Done,
    line: &[u8],
    pipeline: &str,
) -> std::io::Result<Option<Vec<u8>>> {
    let key = d.key.as_deref();
    match sink.write_keyed(key, line) {
        Ok(()) => Ok(None),
        Err(e) => {
            let Some(refused) = Refused::of(&e) else { return Err(results(e)) };
            tracing::warn!(pipeline, reason = %refused, "the results sink refused a result: dead-lettered");
            let cause = format!("the results sink refused this record's result: {refused}");
            let letter = crate::outcome::refusal_letter(pipeline, &d.coordinates, &cause, line, true);
            Ok(Some(write_dead_letter(dead, d, &letter, pipeline)?.unwrap_or(letter)))
        }
    }
}

/// Write one dead letter. One the sink refuses is written again without the
/// record's key (a key can be what made it too large), then as its error
/// alone, returned: a refused dead letter must not stop the pipeline on its
/// record for good.
fn write_dead_letter(dead: &mut dyn Sink, d: &Done, line: &[u8], pipeline: &str) -> std::io::Result<Option<Vec<u8>>> {
    let key = d.key.as_deref();
    let refused = match dead.write_keyed(key, line) {
        Ok(()) => return Ok(None),
        Err(e) => match Refused::of(&e) {
            Some(r) => r.to_string(),
            None => return Err(dead_letters_sink(e)),
        },
    };
    if key.is_some() {
        match dead.write_keyed(None, line) {
            Ok(()) => return Ok(None),
            Err(e) if Refused::of(&e).is_none() => return Err(dead_letters_sink(e)),
            Err(_) => {}
        }
    }
    tracing::warn!(pipeline, reason = %refused, "the dead-letter sink refused a dead letter: written without its record");
    let cause = format!("the dead-letter sink refused this record's dead letter: {refused}");
    let letter = crate::outcome::refusal_letter(pipeline, &d.coordinates, &cause, line, false);
    dead.write_keyed(None, &letter).map_err(dead_letters_sink)?;
    Ok(Some(letter))
}

/// Give back the dedup claims of records whose results will never be
/// durable here (the sink failed, or the drain deadline and its grace
/// passed): those not yet durable and those still queued for this writer, in
/// one call, so their records, delivered again, run at once. A shard whose
/// batch finds the channel closed after this gives its own back.
fn give_back_unwritten<'d>(
    dedup: &dyn DedupStore,
    pipeline: &str,
    unwritten: impl Iterator<Item = &'d Done>,
    rx: &Receiver<Vec<Done>>,
) {
    let queued: Vec<Vec<Done>> = rx.try_iter().collect();
    let mut keys: Vec<&str> = unwritten.filter_map(|d| d.dedup_key.as_deref()).collect();
    keys.extend(queued.iter().flatten().filter_map(|d| d.dedup_key.as_deref()));
    crate::admission::give_back(dedup, pipeline, &keys);
}

/// Writes results and dead letters in arrival order, in batches; once a
/// batch is durable in both sinks, marks its keys complete and acknowledges
/// its records. A pipelined sink (Kafka) makes batches durable while the
/// next ones are written; others are durable when `end_batch` returns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sink_loop(
    rx: Receiver<Vec<Done>>,
    mut sink: Box<dyn Sink>,
    mut dead: Box<dyn Sink>,
    dedup: &dyn DedupStore,
    stats: &Stats,
    acks: Vec<ReaderAcks>,
    pipeline: &str,
    abandon: &AtomicBool,
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
    let sink_refusals = metrics::counter!(metric::SINK_REFUSALS, "pipeline" => pipeline.to_string());
    let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
    let mut open = true;
    let mut abandoned_at: Option<Instant> = None;
    while open || !pending.is_empty() {
        // Past the drain deadline, a sink that cannot make its last batches
        // durable within the grace must not hold the process: they stay
        // unacknowledged and are produced again after a restart.
        if abandon.load(Ordering::Relaxed) && abandoned_at.get_or_insert_with(Instant::now).elapsed() > DRAIN_GRACE {
            tracing::warn!(
                pipeline,
                batches = pending.len(),
                "drain timeout: batches not yet durable are not acknowledged"
            );
            give_back_unwritten(dedup, pipeline, pending.iter().flat_map(|p| &p.done), &rx);
            return;
        }
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
                for d in &mut batch {
                    let instead = match &d.output {
                        Output::Result(line) => {
                            write_result(&mut *sink, &mut *dead, d, line, pipeline)?.map(Output::Refused)
                        }
                        Output::DeadLetter(line) | Output::Refused(line) => {
                            write_dead_letter(&mut *dead, d, line, pipeline)?.map(Output::DeadLetter)
                        }
                        Output::Skip => None,
                    };
                    if let Some(output) = instead {
                        d.output = output;
                    }
                }
                let sink_ticket = sink.end_batch().map_err(results)?;
                let dead_ticket = dead.end_batch().map_err(dead_letters_sink)?;
                pending.push_back(Pending { done: std::mem::take(&mut batch), sink_ticket, dead_ticket });
            }
            // Block for durability only when the pipeline is full or ending.
            let wait = if pending.len() >= PENDING || (!open && !pending.is_empty()) {
                Duration::from_millis(10)
            } else {
                Duration::ZERO
            };
            let (s, d) =
                (sink.durable(wait).map_err(results)?, dead.durable(Duration::ZERO).map_err(dead_letters_sink)?);
            while pending.front().is_some_and(|p| p.sink_ticket <= s && p.dead_ticket <= d) {
                let Some(p) = pending.pop_front() else { break };
                // A dead-lettered execution is complete too: a redelivery
                // must not run it (and dead-letter it) again.
                let keys: Vec<&str> = p.done.iter().filter_map(|d| d.dedup_key.as_deref()).collect();
                if !keys.is_empty() {
                    dedup.complete_many(&keys);
                }
                // Each record's id goes back to the reader that read it.
                let mut ids: Vec<Vec<RecordId>> = vec![Vec::new(); acks.len()];
                if let [only] = ids.as_mut_slice() {
                    only.reserve(p.done.len());
                }
                for d in p.done {
                    match d.output {
                        Output::DeadLetter(_) => {
                            stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                            dead_letters.increment(1);
                        }
                        Output::Refused(_) => {
                            stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                            dead_letters.increment(1);
                            stats.sink_refusals.fetch_add(1, Ordering::Relaxed);
                            sink_refusals.increment(1);
                        }
                        Output::Result(_) | Output::Skip => {}
                    }
                    debug_assert!((d.reader as usize) < ids.len(), "a record from an unknown reader");
                    if let Some(reader) = ids.get_mut(d.reader as usize) {
                        reader.push(d.id);
                    }
                }
                for (ids, reader) in ids.into_iter().zip(&acks) {
                    if ids.is_empty() {
                        continue;
                    }
                    if let Some(hook) = &reader.hook {
                        hook(&ids);
                    }
                    stats.acknowledged.fetch_add(ids.len() as u64, Ordering::Relaxed);
                    if reader.to.send(Ok(ids)).is_err() {
                        return Err(std::io::Error::other("the source loop stopped"));
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = step {
            sink_errors.increment(1);
            // Nothing not yet acknowledged is: it is re-delivered.
            for reader in &acks {
                let _ = reader.to.send(Err(e.to_string()));
            }
            give_back_unwritten(dedup, pipeline, pending.iter().flat_map(|p| &p.done).chain(&batch), &rx);
            return;
        }
    }
}
