//! What a pipeline is made of (its [`PipelineSpec`]), what it reports
//! ([`Stats`]) and how it can fail ([`RunError`]).

use crate::api::{Lag, SourceError};
use crate::clock::Clock;
use crate::tasks::TaskService;
use expressway_engine::jsonpath::JsonPath;
use expressway_engine::program::Program;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Which executions are logged (as an Express workflow's CloudWatch logging).
/// Events go through `tracing`, target `expressway::execution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
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
    /// The work each execution may do ([`RunOptions::max_work`]).
    ///
    /// [`RunOptions::max_work`]: expressway_engine::driver::RunOptions::max_work
    pub max_work_per_execution: u64,
    /// From a shutdown request to the end of the run, at most (plus the sink
    /// writer's grace to make durable what finished by then): executions
    /// still parked then are abandoned and not acknowledged.
    pub drain_timeout: Duration,
    pub commit_interval: Duration,
    /// Which records share a shard, and so start in their source's order.
    pub ordering: RecordOrdering,
    pub log_level: ExecutionLogLevel,
    pub log_execution_data: bool,
    /// Performs the machine's Task states.
    pub tasks: Arc<dyn TaskService>,
    /// Time for the shards' timers and the executions' timestamps.
    pub clock: Arc<dyn Clock>,
    /// Per-state counts and recent failures, kept when the console is on.
    pub watch: Option<Arc<crate::watch::PipelineWatch>>,
}

impl PipelineSpec {
    /// A pipeline of `program` with the runtime's defaults: one shard, 1,024
    /// records in flight, AWS's 256 KiB input limit, no idempotency key, no
    /// task service, the system clock. Set other fields with `..`.
    pub fn new(name: &str, program: Arc<Program>) -> PipelineSpec {
        PipelineSpec {
            name: name.into(),
            program,
            state_machine_name: name.into(),
            express: true,
            key: KeySpec::None,
            shards: 1,
            max_in_flight_per_shard: 1024,
            max_payload_bytes: expressway_engine::vm::MAX_PAYLOAD_BYTES,
            max_work_per_execution: expressway_engine::vm::WORK_PER_EXECUTION,
            drain_timeout: Duration::from_secs(25),
            commit_interval: Duration::from_secs(1),
            ordering: RecordOrdering::Partition,
            log_level: ExecutionLogLevel::Off,
            log_execution_data: false,
            tasks: Arc::new(crate::tasks::NoTaskService),
            clock: Arc::new(crate::clock::SystemClock),
            watch: None,
        }
    }
}

/// Which records must start in order: they go to one shard, in the order
/// the source gave them. Commits never depend on it (every source commits
/// the low watermark of its acknowledged records), so each choice keeps
/// at-least-once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordOrdering {
    /// A partition's records share a shard (`partition % shards`): a source
    /// with P partitions uses at most P shards.
    #[default]
    Partition,
    /// A key's records share a shard (a hash of the key); records without a
    /// key follow their partition.
    Key,
    /// Records are dealt to the shards in turn.
    None,
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
    /// Results the results sink refused (too large for it, content it cannot
    /// carry), each dead-lettered instead: counted among the succeeded
    /// executions and the dead letters too.
    pub sink_refusals: AtomicU64,
    /// Executions ended by a panic (each also a dead letter).
    pub internal_errors: AtomicU64,
    /// Executions still parked when the drain deadline passed: dropped
    /// unacknowledged, so they run again after a restart.
    pub abandoned: AtomicU64,
    /// Records whose result or dead letter is durable and that were handed
    /// back to the source as complete.
    pub acknowledged: AtomicU64,
    /// The source's lag at its last commit (the console shows it; Prometheus
    /// reads the gauge).
    pub lag: LastLag,
}

/// A source's last reported [`Lag`], readable from other threads: its
/// readers' last reports together.
#[derive(Debug, Default)]
pub struct LastLag {
    /// 0: never reported; 1: bytes; 2: records.
    unit: AtomicU8,
    amount: AtomicU64,
    /// Each reader's last report (readers report on their own commits).
    readers: Mutex<Vec<u64>>,
}

impl LastLag {
    /// Reader `reader` reports the lag of its own part of the source.
    pub fn set_reader(&self, reader: usize, lag: Lag) {
        let (unit, amount) = match lag {
            Lag::Bytes(n) => (1, n),
            Lag::Records(n) => (2, n),
        };
        let total = {
            let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if readers.len() <= reader {
                readers.resize(reader + 1, 0);
            }
            readers[reader] = amount;
            readers.iter().fold(0u64, |sum, n| sum.saturating_add(*n))
        };
        self.amount.store(total, Ordering::Relaxed);
        self.unit.store(unit, Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<Lag> {
        let amount = self.amount.load(Ordering::Relaxed);
        match self.unit.load(Ordering::Relaxed) {
            1 => Some(Lag::Bytes(amount)),
            2 => Some(Lag::Records(amount)),
            _ => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipelines_lag_is_its_readers_last_reports_together() {
        let lag = LastLag::default();
        assert_eq!(lag.get(), None, "nothing reported yet");
        lag.set_reader(1, Lag::Records(7));
        lag.set_reader(0, Lag::Records(5));
        assert_eq!(lag.get(), Some(Lag::Records(12)));
        // A reader's new report replaces its old one only.
        lag.set_reader(1, Lag::Records(0));
        assert_eq!(lag.get(), Some(Lag::Records(5)));
        lag.set_reader(0, Lag::Records(2));
        assert_eq!(lag.get(), Some(Lag::Records(2)), "reader 0's report replaced too");
        lag.set_reader(2, Lag::Records(u64::MAX));
        assert_eq!(lag.get(), Some(Lag::Records(u64::MAX)), "the sum saturates");
    }
}
