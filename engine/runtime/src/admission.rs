//! Record admission: size check, parse, idempotency key and dedup claim,
//! before an execution starts.

use crate::api::{DedupStore, Record};
use crate::executor::Output;
use crate::input;
use crate::metrics::ShardMetrics;
use crate::outcome::dead_letter;
use crate::spec::{ExecutionLogLevel, KeySpec, PipelineSpec, Stats};
use expressway_engine::value::Value;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A record after its checks: an execution to run, or settled without one
/// (a dead letter, or a duplicate to skip).
pub(crate) enum Admitted {
    Run(Admission),
    Settled(Output),
}

/// What an admitted record starts its execution with.
pub(crate) struct Admission {
    pub dedup_key: Option<String>,
    pub input: Value,
    pub name: String,
}

/// Check, parse, key and dedup a record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare(
    spec: &PipelineSpec,
    record: &Record,
    scratch: &mut Vec<u8>,
    dedup: &dyn DedupStore,
    stats: &Stats,
    m: &ShardMetrics,
    shard: usize,
    seq: u64,
) -> Admitted {
    // A source that dropped an oversized payload unread still reports its size.
    let parsed = match record.oversized {
        Some(size) => Err(input::too_large(size, spec.max_payload_bytes)),
        None => input::parse(&record.payload, spec.max_payload_bytes, scratch),
    };
    let input = match parsed {
        Ok(v) => v,
        Err(rejected) => {
            let counter = if rejected.oversized { &stats.oversized } else { &stats.malformed };
            counter.fetch_add(1, Ordering::Relaxed);
            m.malformed.increment(1);
            let payload = record.oversized.is_none().then_some(record.payload.as_slice());
            let output = dead_letter(spec, &record.coordinates, payload, rejected.error, &rejected.cause, None);
            return Admitted::Settled(output);
        }
    };
    let key = match &spec.key {
        KeySpec::None => None,
        KeySpec::SourceId => Some(record.coordinates.clone()),
        // The key is the selected value's JSON text, so values of different
        // types never share a key (`1` and `"1"`, `true` and `"true"`). A null
        // is no key: records without one would all be one record.
        KeySpec::Path(p) => match p.select(&input) {
            Ok(v) if !matches!(v, Value::Null) => Some(v.to_json()),
            _ => {
                let cause = format!("the idempotency key '{p}' is missing from the record or is null");
                let error = "Expressway.MissingIdempotencyKey";
                let output = dead_letter(spec, &record.coordinates, None, error, &cause, Some(&input));
                return Admitted::Settled(output);
            }
        },
    };
    if let Some(k) = &key
        && !dedup.begin(k)
    {
        stats.duplicates.fetch_add(1, Ordering::Relaxed);
        m.dedup_hits.increment(1);
        return Admitted::Settled(Output::Skip);
    }
    // Names are only read through `$$` and execution logs: don't format two
    // strings per record for machines that use neither.
    let named = spec.program.uses_context || spec.log_level != ExecutionLogLevel::Off;
    let name = if named { format!("{}-{shard}-{seq}", spec.name) } else { String::new() };
    stats.executions.fetch_add(1, Ordering::Relaxed);
    m.started.increment(1);
    Admitted::Run(Admission { dedup_key: key, input, name })
}

/// A record whose execution has started: what finishing it needs.
pub(crate) struct Started {
    pub record: Record,
    pub dedup_key: Option<String>,
    pub input: Value,
    pub name: String,
    pub began: Instant,
}
