//! The executor's metric names and the per-shard handles resolved from them.
//! It reports through the `metrics` facade only; the binary decides whether
//! a Prometheus recorder exists.

use crate::spec::Stats;
use expressway_engine::asl::StateType;
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

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
    pub const TWINS_HELD: &str = "expressway_dedup_twins_held";
    pub const DEAD_LETTERS: &str = "expressway_dead_letters_total";
    pub const MALFORMED: &str = "expressway_malformed_records_total";
    pub const IN_FLIGHT: &str = "expressway_records_in_flight";
    pub const SINK_ERRORS: &str = "expressway_sink_errors_total";
    pub const SINK_REFUSALS: &str = "expressway_sink_refusals_total";
    pub const COMMITS: &str = "expressway_source_commits_total";
    /// Labelled by source reader (`0`..): bounded by `MAX_SOURCE_READERS`.
    pub const RECORDS_READ: &str = "expressway_source_records_total";
    pub const TRANSITIONS: &str = "expressway_state_transitions_total";
    pub const LAG_BYTES: &str = "expressway_source_lag_bytes";
    pub const LAG_RECORDS: &str = "expressway_source_lag_records";
    pub const INTERNAL_ERRORS: &str = "expressway_internal_errors_total";
    pub const ABANDONED: &str = "expressway_executions_abandoned_total";

    /// Register descriptions once, for the exporter's HELP lines.
    pub fn describe() {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_counter!(STARTED, "Executions started");
        describe_counter!(SUCCEEDED, "Executions that succeeded");
        describe_counter!(FAILED, "Executions that failed, by ASL error name");
        describe_counter!(TIMED_OUT, "Executions that timed out");
        describe_counter!(THROTTLED, "Records held back because the in-flight cap was reached");
        describe_histogram!(DURATION, metrics::Unit::Seconds, "Wall-clock time of an execution");
        describe_counter!(DEDUP_HITS, "Records skipped because their idempotency key's execution was done");
        describe_gauge!(TWINS_HELD, "Records held, unacknowledged, while an execution with their idempotency key runs");
        describe_counter!(DEAD_LETTERS, "Records written to the dead-letter sink");
        describe_counter!(MALFORMED, "Records that were not JSON or were too large");
        describe_gauge!(IN_FLIGHT, "Records admitted and not yet acknowledged");
        describe_counter!(SINK_ERRORS, "Failed writes or flushes of a sink");
        describe_counter!(
            SINK_REFUSALS,
            "Results of succeeded executions the results sink refused, dead-lettered instead (each also a dead letter)"
        );
        describe_counter!(COMMITS, "Source progress commits");
        describe_counter!(RECORDS_READ, "Records read from the source, by source reader");
        describe_counter!(TRANSITIONS, "States entered, by state type");
        describe_gauge!(LAG_BYTES, metrics::Unit::Bytes, "Bytes of input not yet read (file sources)");
        describe_gauge!(LAG_RECORDS, "Records not yet read (partitioned sources)");
        describe_counter!(INTERNAL_ERRORS, "Executions ended by a panic (dead-lettered as Expressway.InternalError)");
        describe_counter!(
            ABANDONED,
            "Executions still running at the drain deadline, left to run again after a restart"
        );
    }
}

/// Distinct `error` label values a process reports at most.
pub const MAX_ERROR_LABELS: usize = 100;
/// The longest error name reported as itself (AWS's limit on an error name).
pub const MAX_ERROR_LABEL_CHARS: usize = 256;
/// The label of every error name past those bounds.
pub const OTHER_ERROR_LABEL: &str = "(other)";

/// The `error` label of a failure named `error`. Error names come from
/// records and remote services (a Fail state's `ErrorPath`, a function's
/// `errorType`), and every distinct label is a series the exporter keeps and
/// renders for ever: ASL's `States.*` errors and the first
/// [`MAX_ERROR_LABELS`] other names are their own labels, any later or
/// longer one is [`OTHER_ERROR_LABEL`]. Failures are
/// the rare path, where a lock is affordable.
pub fn error_label(error: &str) -> String {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    // ASL's own errors are always themselves, whatever names came first.
    if error.starts_with("States.") && expressway_engine::errors::ErrorName::parse(error).is_some() {
        return error.to_string();
    }
    if error.chars().nth(MAX_ERROR_LABEL_CHARS).is_some() {
        return OTHER_ERROR_LABEL.to_string();
    }
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if seen.iter().any(|e| e == error) {
        return error.to_string();
    }
    if seen.len() < MAX_ERROR_LABELS {
        seen.push(error.to_string());
        return error.to_string();
    }
    OTHER_ERROR_LABEL.to_string()
}

/// Per-shard metric handles, resolved once. The per-record counts (started,
/// succeeded, durations, transitions) are kept by the shard and added once
/// per turn ([`ShardMetrics::flush`]): added per record, every shard wrote
/// the same shared counters, and their cache lines went back and forth
/// between the cores.
pub(crate) struct ShardMetrics {
    started: metrics::Counter,
    succeeded: metrics::Counter,
    pub timed_out: metrics::Counter,
    duration: metrics::Histogram,
    pub dedup_hits: metrics::Counter,
    pub twins_held: metrics::Gauge,
    pub malformed: metrics::Counter,
    pub internal_errors: metrics::Counter,
    entered: [metrics::Counter; 8],
    turn: Turn,
}

/// What this shard counted since its last [`ShardMetrics::flush`].
#[derive(Default)]
struct Turn {
    started: Cell<u64>,
    succeeded: Cell<u64>,
    entered: [Cell<u64>; 8],
    durations: RefCell<Vec<f64>>,
}

impl ShardMetrics {
    pub(crate) fn new(pipeline: &str) -> ShardMetrics {
        let p = pipeline.to_string();
        ShardMetrics {
            started: metrics::counter!(metric::STARTED, "pipeline" => p.clone()),
            succeeded: metrics::counter!(metric::SUCCEEDED, "pipeline" => p.clone()),
            timed_out: metrics::counter!(metric::TIMED_OUT, "pipeline" => p.clone()),
            duration: metrics::histogram!(metric::DURATION, "pipeline" => p.clone()),
            dedup_hits: metrics::counter!(metric::DEDUP_HITS, "pipeline" => p.clone()),
            twins_held: metrics::gauge!(metric::TWINS_HELD, "pipeline" => p.clone()),
            malformed: metrics::counter!(metric::MALFORMED, "pipeline" => p.clone()),
            internal_errors: metrics::counter!(metric::INTERNAL_ERRORS, "pipeline" => p.clone()),
            entered: StateType::ALL
                .map(|t| metrics::counter!(metric::TRANSITIONS, "pipeline" => p.clone(), "state_type" => t.as_str())),
            turn: Turn::default(),
        }
    }

    pub(crate) fn count_started(&self) {
        bump(&self.turn.started, 1);
    }

    /// A finished execution: how long it ran and the states it entered.
    pub(crate) fn count_ended(&self, seconds: f64, entered_by_type: &[u32; 8]) {
        self.turn.durations.borrow_mut().push(seconds);
        for (count, n) in self.turn.entered.iter().zip(entered_by_type) {
            bump(count, u64::from(*n));
        }
    }

    pub(crate) fn count_succeeded(&self) {
        bump(&self.turn.succeeded, 1);
    }

    /// Add this turn's counts to the shared counters and to `stats`. Done
    /// before the shard hands results on or waits: whoever reads `stats`
    /// after a record is acknowledged finds it counted.
    pub(crate) fn flush(&self, stats: &Stats) {
        let turn = &self.turn;
        let started = turn.started.take();
        if started > 0 {
            stats.executions.fetch_add(started, Ordering::Relaxed);
            self.started.increment(started);
        }
        let succeeded = turn.succeeded.take();
        if succeeded > 0 {
            stats.succeeded.fetch_add(succeeded, Ordering::Relaxed);
            self.succeeded.increment(succeeded);
        }
        for (counter, count) in self.entered.iter().zip(&turn.entered) {
            let n = count.take();
            if n > 0 {
                counter.increment(n);
            }
        }
        let mut durations = turn.durations.borrow_mut();
        for seconds in durations.drain(..) {
            self.duration.record(seconds);
        }
    }
}

fn bump(count: &Cell<u64>, by: u64) {
    count.set(count.get() + by);
}
