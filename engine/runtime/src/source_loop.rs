//! A source loop, one per source reader: polls records up to its share of
//! the in-flight cap, routes them to shards by the ordering contract, takes
//! acknowledgements back and commits its source's low watermark on the
//! commit interval and at the end.

use crate::api::{Lag, Polled, Record, Source};
use crate::executor::{AckBatch, Intake};
use crate::metrics::metric;
use crate::spec::{PipelineSpec, RecordOrdering, RunError, Stats};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One source reader's place in the executor.
pub(crate) struct Reader<'a> {
    /// Its index: its batches carry it, so its records' acknowledgements
    /// come back to it.
    pub index: u16,
    pub shards: &'a [Sender<Intake>],
    pub acks: &'a Receiver<AckBatch>,
    /// Records it may have unacknowledged at once.
    pub cap: usize,
    /// Set when any reader fails: the others drain and stop too.
    pub failed: &'a AtomicBool,
}

pub(crate) fn source_loop(
    spec: &PipelineSpec,
    source: &mut dyn Source,
    reader: &Reader<'_>,
    shutdown: &AtomicBool,
    stats: &Stats,
) -> Result<(), RunError> {
    let (ack_rx, cap) = (reader.acks, reader.cap);
    let mut in_flight = 0usize;
    let mut in_flight_share =
        InFlightShare { gauge: metrics::gauge!(metric::IN_FLIGHT, "pipeline" => spec.name.clone()), reported: 0 };
    let mut finished = false;
    let mut last_commit = Instant::now();
    let mut draining_since: Option<Instant> = None;
    let mut router = Router::new(spec.ordering, reader.shards.len());
    let throttled = metrics::counter!(metric::THROTTLED, "pipeline" => spec.name.clone());
    let commits = metrics::counter!(metric::COMMITS, "pipeline" => spec.name.clone());
    let read =
        metrics::counter!(metric::RECORDS_READ, "pipeline" => spec.name.clone(), "reader" => reader.index.to_string());
    fn acknowledge(source: &mut dyn Source, batch: AckBatch, in_flight: &mut usize) -> Result<(), RunError> {
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
        in_flight_share.report(in_flight);
        if last_commit.elapsed() >= spec.commit_interval {
            source.commit().map_err(RunError::Source)?;
            commits.increment(1);
            if let Some(lag) = source.lag() {
                // The pipeline's lag is its readers' together.
                stats.lag.set_reader(reader.index as usize, lag);
                match stats.lag.get() {
                    Some(Lag::Bytes(n)) => {
                        metrics::gauge!(metric::LAG_BYTES, "pipeline" => spec.name.clone()).set(n as f64)
                    }
                    Some(Lag::Records(n)) => {
                        metrics::gauge!(metric::LAG_RECORDS, "pipeline" => spec.name.clone()).set(n as f64)
                    }
                    None => {}
                }
            }
            last_commit = Instant::now();
        }
        let stopping = shutdown.load(Ordering::Relaxed) || reader.failed.load(Ordering::Relaxed);
        if stopping && draining_since.is_none() {
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
                Err(RecvTimeoutError::Disconnected) => return Err(writers_gone()),
            }
            continue;
        }
        if in_flight >= cap {
            throttled.increment(1);
            match ack_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(batch) => acknowledge(source, batch, &mut in_flight)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(writers_gone()),
            }
            continue;
        }
        match source.poll(cap - in_flight).map_err(RunError::Source)? {
            Polled::Records(records) => {
                in_flight += records.len();
                read.increment(records.len() as u64);
                // A full shard queue blocks here: backpressure, not loss.
                for (shard, batch) in router.route(records).into_iter().enumerate() {
                    let intake = Intake { reader: reader.index, records: batch };
                    if !intake.records.is_empty() && reader.shards[shard].send(intake).is_err() {
                        return Err(RunError::Sink("a shard stopped unexpectedly".into()));
                    }
                }
            }
            Polled::Idle => match ack_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(batch) => acknowledge(source, batch, &mut in_flight)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(writers_gone()),
            },
            Polled::Finished => finished = true,
        }
    }
}

/// The sink writers hold the acknowledgements' senders until the shards
/// end, which is after the readers: gone sooner, they stopped abnormally
/// (a panic), and a reader going on would spin on the closed channel and
/// count records that are never written.
fn writers_gone() -> RunError {
    RunError::Sink("the sink writers stopped unexpectedly".into())
}

/// A reader's part of the pipeline's in-flight gauge, which every reader
/// adds its own count to; taken back when the reader stops.
struct InFlightShare {
    gauge: metrics::Gauge,
    reported: usize,
}

impl InFlightShare {
    fn report(&mut self, in_flight: usize) {
        if in_flight != self.reported {
            self.gauge.increment(in_flight as f64 - self.reported as f64);
            self.reported = in_flight;
        }
    }
}

impl Drop for InFlightShare {
    fn drop(&mut self) {
        self.report(0);
    }
}

/// Splits a poll's records by shard as the ordering contract says,
/// keeping their order within each shard.
struct Router {
    ordering: RecordOrdering,
    shards: usize,
    /// The shard the next record goes to under `RecordOrdering::None`.
    turn: usize,
}

impl Router {
    fn new(ordering: RecordOrdering, shards: usize) -> Router {
        Router { ordering, shards: shards.max(1), turn: 0 }
    }

    fn shard_of(&mut self, r: &Record) -> usize {
        match (self.ordering, &r.key) {
            (RecordOrdering::None, _) => {
                let shard = self.turn;
                self.turn = (shard + 1) % self.shards;
                shard
            }
            (RecordOrdering::Key, Some(key)) => fnv1a(key) as usize % self.shards,
            (RecordOrdering::Key, None) | (RecordOrdering::Partition, _) => r.partition as usize % self.shards,
        }
    }

    fn route(&mut self, records: Vec<Record>) -> Vec<Vec<Record>> {
        if self.shards == 1 {
            return vec![records];
        }
        let per_shard = records.len() / self.shards + 1;
        let mut out: Vec<Vec<Record>> = (0..self.shards).map(|_| Vec::with_capacity(per_shard)).collect();
        for r in records {
            let shard = self.shard_of(&r);
            out[shard].push(r);
        }
        out
    }
}

/// FNV-1a: a key's shard must not change between runs or processes (std's
/// hasher is seeded per process).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2_166_136_261u32, |h, b| (h ^ *b as u32).wrapping_mul(16_777_619))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Coordinates, Origin, Place};

    fn record(id: u64, partition: u32, key: Option<&str>) -> Record {
        Record {
            id,
            partition,
            payload: Vec::new(),
            coordinates: Coordinates::new(Origin::intern("test"), Place::Offset(id)),
            key: key.map(|k| k.as_bytes().to_vec()),
            oversized: None,
        }
    }

    fn ids(batches: &[Vec<Record>]) -> Vec<Vec<u64>> {
        batches.iter().map(|b| b.iter().map(|r| r.id).collect()).collect()
    }

    #[test]
    fn partition_ordering_keeps_a_partition_on_one_shard() {
        let mut router = Router::new(RecordOrdering::Partition, 4);
        // One hot partition, many keys: one shard does everything.
        let records = (0..8).map(|i| record(i, 5, Some(&format!("device-{i}")))).collect();
        assert_eq!(ids(&router.route(records)), [vec![], vec![0, 1, 2, 3, 4, 5, 6, 7], vec![], vec![]]);
    }

    #[test]
    fn key_ordering_spreads_one_partition_and_keeps_each_key_in_order() {
        let mut router = Router::new(RecordOrdering::Key, 4);
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let records: Vec<Record> = (0..64).map(|i| record(i, 5, Some(keys[i as usize % keys.len()]))).collect();
        let batches = router.route(records);
        assert!(batches.iter().filter(|b| !b.is_empty()).count() > 1, "one partition feeds several shards");
        for key in keys {
            let holders: Vec<usize> =
                (0..4).filter(|&s| batches[s].iter().any(|r| r.key.as_deref() == Some(key.as_bytes()))).collect();
            assert_eq!(holders.len(), 1, "key {key} is on one shard");
            let seq: Vec<u64> =
                batches[holders[0]].iter().filter(|r| r.key.as_deref() == Some(key.as_bytes())).map(|r| r.id).collect();
            assert!(seq.windows(2).all(|w| w[0] < w[1]), "key {key} keeps its order: {seq:?}");
        }
        // The same key goes to the same shard on the next poll too.
        let again = router.route(vec![record(100, 0, Some("a"))]);
        let first = batches.iter().position(|b| b.iter().any(|r| r.key.as_deref() == Some(b"a")));
        assert_eq!(again.iter().position(|b| !b.is_empty()), first);
        // Without a key, a record follows its partition.
        let keyless = router.route(vec![record(200, 6, None)]);
        assert_eq!(ids(&keyless), [vec![], vec![], vec![200], vec![]]);
    }

    #[test]
    fn no_ordering_deals_records_to_every_shard_in_turn() {
        let mut router = Router::new(RecordOrdering::None, 3);
        let records = (0..7).map(|i| record(i, 0, None)).collect();
        assert_eq!(ids(&router.route(records)), [vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
        // The turn goes on across polls, so small polls spread too.
        let one = router.route(vec![record(7, 0, None)]);
        assert_eq!(ids(&one), [vec![], vec![7], vec![]]);
    }
}
