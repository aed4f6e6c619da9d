//! What a finished execution becomes: counted, logged, and rendered as a
//! result line or a dead letter.

use crate::admission::Started;
use crate::executor::Output;
use crate::metrics::{ShardMetrics, metric};
use crate::spec::{ExecutionLogLevel, PipelineSpec, Stats};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use expressway_engine::driver::{ExecutionResult, Status};
use expressway_engine::value::{Object, Value};
use std::sync::atomic::Ordering;

/// Count a finished execution and render what it writes.
pub(crate) fn conclude(
    spec: &PipelineSpec,
    stats: &Stats,
    m: &ShardMetrics,
    started: &Started,
    result: &ExecutionResult,
) -> Output {
    m.duration.record(spec.clock.now().saturating_duration_since(started.began).as_secs_f64());
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
            dead_letter(spec, &started.record.coordinates, None, error, cause, Some(&started.input))
        }
    }
}

fn log_execution(spec: &PipelineSpec, name: &str, source: &str, r: &ExecutionResult, input: &Value) {
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
pub(crate) fn dead_letter(
    spec: &PipelineSpec,
    coordinates: &str,
    payload: Option<&[u8]>,
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
    match (input, payload.map(|p| (p, std::str::from_utf8(p)))) {
        (Some(v), _) => o.insert("input", v.clone()),
        (None, Some((_, Ok(text)))) => o.insert("input", Value::from(text)),
        // Text would replace the bytes that are not UTF-8: keep them all, so
        // the record can be replayed exactly.
        (None, Some((bytes, Err(_)))) => o.insert("inputBase64", Value::from(BASE64_STANDARD.encode(bytes))),
        // The source never read it (too large): its coordinates find it.
        (None, None) => {}
    };
    let mut line = Vec::with_capacity(256);
    Value::object(o).write_json(&mut line);
    Output::DeadLetter(line)
}
