//! A source and a sink in memory, shared by the executor's tests, the
//! benchmarks and the load examples, so none of them writes its own.

use crate::api::{Coordinates, DedupStore, Origin, Place, Polled, Record, RecordId, Sink, Source, SourceError};
use crate::spec::{PipelineSpec, RunError, Stats};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Yields `count` records made by `payload(seq)`, the `seq`th on partition
/// `seq % partitions`, at most `batch` a poll; remembers which were
/// completed.
pub struct Replay<F: FnMut(u64) -> Vec<u8>> {
    payload: F,
    count: u64,
    next: u64,
    partitions: u64,
    batch: usize,
    completed: Arc<Mutex<Vec<RecordId>>>,
    origin: Origin,
}

impl<F: FnMut(u64) -> Vec<u8>> Replay<F> {
    pub fn new(count: u64, payload: F) -> Self {
        Replay {
            payload,
            count,
            next: 0,
            partitions: 64,
            batch: 1024,
            completed: Arc::default(),
            origin: Origin::intern("memory"),
        }
    }

    pub fn partitions(mut self, partitions: u64) -> Self {
        self.partitions = partitions.max(1);
        self
    }

    /// The ids of completed records, in completion order.
    pub fn completed(&self) -> Arc<Mutex<Vec<RecordId>>> {
        self.completed.clone()
    }
}

/// One record per payload, in order, each on its own partition.
pub fn records_of(payloads: Vec<String>) -> Replay<impl FnMut(u64) -> Vec<u8>> {
    let count = payloads.len() as u64;
    let partitions = count.max(1);
    Replay::new(count, move |seq| payloads[seq as usize].clone().into_bytes()).partitions(partitions)
}

impl<F: FnMut(u64) -> Vec<u8> + Send> Source for Replay<F> {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError> {
        if self.next >= self.count {
            return Ok(Polled::Finished);
        }
        let n = (max.min(self.batch) as u64).min(self.count - self.next);
        let records = (self.next..self.next + n)
            .map(|id| Record {
                id,
                partition: (id % self.partitions) as u32,
                payload: (self.payload)(id),
                coordinates: Coordinates::new(self.origin, Place::Offset(id)),
                key: None,
                oversized: None,
            })
            .collect();
        self.next += n;
        Ok(Polled::Records(records))
    }

    fn complete(&mut self, id: RecordId) {
        self.completed.lock().unwrap_or_else(|p| p.into_inner()).push(id);
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Keeps every line written; clones share the lines.
#[derive(Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<String>>>);

impl MemorySink {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Sink for MemorySink {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(String::from_utf8_lossy(line).into_owned());
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a pipeline run to its end in memory wrote and counted.
pub struct Ran {
    pub results: Vec<String>,
    pub dead_letters: Vec<String>,
    pub stats: Arc<Stats>,
}

/// Run `spec` over `source` until the source is finished, into memory sinks.
pub fn run_to_end(
    spec: PipelineSpec,
    source: impl Source + 'static,
    dedup: Arc<dyn DedupStore>,
) -> Result<Ran, RunError> {
    let (results, dead_letters) = (MemorySink::default(), MemorySink::default());
    let stats = Arc::new(Stats::default());
    crate::run(
        spec,
        Box::new(source),
        Box::new(results.clone()),
        Box::new(dead_letters.clone()),
        dedup,
        stats.clone(),
        Arc::new(AtomicBool::new(false)),
    )?;
    Ok(Ran { results: results.lines(), dead_letters: dead_letters.lines(), stats })
}
