//! The source loop: polls records up to the in-flight cap, routes them to
//! shards by partition, takes acknowledgements back and commits the source's
//! low watermark on the commit interval and at the end.

use crate::api::{Lag, Polled, Record, RecordId, Source};
use crate::metrics::metric;
use crate::spec::{PipelineSpec, RunError, Stats};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) fn source_loop(
    spec: &PipelineSpec,
    source: &mut dyn Source,
    shard_txs: &[Sender<Vec<Record>>],
    ack_rx: &Receiver<Result<Vec<RecordId>, String>>,
    shutdown: &AtomicBool,
    cap: usize,
    stats: &Stats,
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
            let lag = source.lag();
            match lag {
                Some(Lag::Bytes(n)) => {
                    metrics::gauge!(metric::LAG_BYTES, "pipeline" => spec.name.clone()).set(n as f64)
                }
                Some(Lag::Records(n)) => {
                    metrics::gauge!(metric::LAG_RECORDS, "pipeline" => spec.name.clone()).set(n as f64)
                }
                None => {}
            }
            if let Some(lag) = lag {
                stats.lag.set(lag);
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
