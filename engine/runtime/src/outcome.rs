//! What a finished execution becomes: counted, logged, and rendered as a
//! result line or a dead letter.

use crate::admission::Started;
use crate::api::Coordinates;
use crate::executor::Output;
use crate::metrics::{ShardMetrics, metric};
use crate::spec::{ExecutionLogLevel, PipelineSpec, Stats};
use crate::watch::{FailedExecution, MAX_KEPT_INPUT_BYTES};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use expressway_engine::driver::{ExecutionResult, Status};
use expressway_engine::program::StateId;
use expressway_engine::value::{Object, Value};
use expressway_engine::vm::StateEvent;
use std::sync::atomic::Ordering;

/// Count a finished execution and render what it writes.
pub(crate) fn conclude(
    spec: &PipelineSpec,
    stats: &Stats,
    m: &ShardMetrics,
    started: &Started,
    result: &ExecutionResult,
) -> Output {
    m.count_ended(spec.clock.now().saturating_duration_since(started.began).as_secs_f64(), &result.entered_by_type);
    log_execution(spec, &started.name, &started.record.coordinates, result, &started.input);
    match result.status {
        Status::Succeeded => {
            m.count_succeeded();
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
                let error = crate::metrics::error_label(result.error.as_deref().unwrap_or_default());
                metrics::counter!(metric::FAILED, "pipeline" => spec.name.clone(), "error" => error).increment(1);
            }
            let error = result.error.as_deref().unwrap_or("");
            let cause = result.cause.as_deref().unwrap_or("");
            let coordinates = &started.record.coordinates;
            keep_failure(spec, &started.name, coordinates, None, error, cause, Some(&started.input), &result.path);
            render_dead_letter(spec, coordinates, None, error, cause, Some(&started.input))
        }
    }
}

fn log_execution(spec: &PipelineSpec, name: &str, source: &Coordinates, r: &ExecutionResult, input: &Value) {
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
            tracing::error!(target: "expressway::execution", pipeline = %spec.name, execution = name, source = %source, status, error, cause, input);
        } else {
            tracing::info!(target: "expressway::execution", pipeline = %spec.name, execution = name, source = %source, status, input, output);
        }
    } else if failed {
        tracing::error!(target: "expressway::execution", pipeline = %spec.name, execution = name, source = %source, status, error);
    } else {
        tracing::info!(target: "expressway::execution", pipeline = %spec.name, execution = name, source = %source, status);
    }
}

/// A dead letter for a record that never ran (or whose execution panicked),
/// kept for the console too.
pub(crate) fn dead_letter(
    spec: &PipelineSpec,
    coordinates: &Coordinates,
    payload: Option<&[u8]>,
    error: &str,
    cause: &str,
    input: Option<&Value>,
) -> Output {
    keep_failure(spec, "", coordinates, payload, error, cause, input, &[]);
    render_dead_letter(spec, coordinates, payload, error, cause, input)
}

/// Keep a failure for the console, when it watches this pipeline.
#[allow(clippy::too_many_arguments)]
fn keep_failure(
    spec: &PipelineSpec,
    name: &str,
    coordinates: &Coordinates,
    payload: Option<&[u8]>,
    error: &str,
    cause: &str,
    input: Option<&Value>,
    path: &[(StateId, StateEvent)],
) {
    let Some(watch) = &spec.watch else { return };
    let input_text = match (input, payload) {
        (Some(v), _) => {
            // The JSON text past the kept bytes is never rendered.
            let mut text = Vec::with_capacity(256);
            v.write_json(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        }
        (None, Some(p)) => String::from_utf8_lossy(&p[..p.len().min(MAX_KEPT_INPUT_BYTES + 1)]).into_owned(),
        (None, None) => String::new(),
    };
    watch.keep_failure(FailedExecution {
        seq: 0,
        at_ms: spec.clock.wall_ms(),
        name: name.to_string(),
        source: coordinates.to_string(),
        error: error.to_string(),
        cause: cause.to_string(),
        // Cut to its bound (on a character boundary) by the watch.
        input: input_text,
        input_cut: false,
        path: path.to_vec(),
    });
}

/// The most text a dead letter takes: SQS's classic message limit, and under
/// Kafka's 1 MB default. A sink that refused a dead letter would stop the
/// pipeline on that record for good (each restart reads it again), so every
/// dead letter is bounded whatever the record, its error and its cause
/// ([`letter`]).
pub const MAX_DEAD_LETTER_BYTES: usize = 256 * 1024;

/// AWS's bounds on an execution's error and cause, in characters.
const MAX_ERROR_CHARS: usize = 256;
const MAX_CAUSE_CHARS: usize = 32_768;

/// The error of a record whose result or dead letter a sink refused.
pub const SINK_REJECTED: &str = "Expressway.SinkRejected";

/// What a dead letter carries of its record, while it fits.
struct Carried {
    /// `input`, `inputBase64` or `output`.
    field: &'static str,
    value: Value,
    /// Its size as the record had it, written when it is left out (`None`:
    /// the size of `value`'s text, found only then).
    bytes: Option<usize>,
    /// `false`: left out whatever its size.
    keep: bool,
}

/// `s` cut to its first `max` characters, and whether it was cut.
fn first_chars(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    match s.char_indices().nth(max) {
        Some((cut, _)) => (&s[..cut], true),
        None => (s, false),
    }
}

/// A dead letter's text, within [`MAX_DEAD_LETTER_BYTES`]: `head` (where the
/// record came from), `error` and `cause` cut at AWS's 256 and 32,768
/// characters (`causeTruncated`), and `carried` — left out when the letter
/// would not fit with it (`inputOmitted`/`outputOmitted` and its size in
/// `…Bytes`; the coordinates find the record). A cause that still does not
/// fit once escaped (six bytes a control character) is cut further.
fn letter(head: Object, error: &str, cause: &str, carried: Option<Carried>) -> Vec<u8> {
    let mut o = head;
    o.insert("error", Value::from(first_chars(error, MAX_ERROR_CHARS).0));
    let (mut cause_chars, mut cut) = (MAX_CAUSE_CHARS, false);
    let mut line = Vec::with_capacity(256);
    loop {
        let (kept_cause, was_cut) = first_chars(cause, cause_chars);
        cut |= was_cut;
        let mut letter = o.clone();
        letter.insert("cause", Value::from(kept_cause));
        if cut {
            letter.insert("causeTruncated", Value::Bool(true));
        }
        if let Some(c) = &carried {
            if c.keep {
                let mut with = letter.clone();
                with.insert(c.field, c.value.clone());
                line.clear();
                Value::object(with).write_json(&mut line);
                if line.len() <= MAX_DEAD_LETTER_BYTES {
                    return line;
                }
            }
            let (omitted, bytes) =
                if c.field == "output" { ("outputOmitted", "outputBytes") } else { ("inputOmitted", "inputBytes") };
            letter.insert(omitted, Value::Bool(true));
            let size = c.bytes.unwrap_or_else(|| c.value.to_string().len());
            letter.insert(bytes, Value::from(size as u64));
        }
        line.clear();
        Value::object(letter).write_json(&mut line);
        if line.len() <= MAX_DEAD_LETTER_BYTES || cause_chars == 0 {
            return line;
        }
        // Each character of the cause takes at most six bytes: a bound
        // that fits the rest, reached in a few turns.
        cause_chars = (cause_chars / 2).min(MAX_DEAD_LETTER_BYTES / 12);
        cut = true;
    }
}

/// The dead letter of a record whose result or dead letter a sink refused
/// ([`crate::Refused`]): its pipeline and source, [`SINK_REJECTED`] with
/// `cause`, and the refused `output` as text while it fits (else its size),
/// so that the record's work is not lost.
pub(crate) fn refusal_letter(
    pipeline: &str,
    coordinates: &Coordinates,
    cause: &str,
    output: &[u8],
    keep_output: bool,
) -> Vec<u8> {
    let mut head = Object::with_capacity(8);
    head.insert("pipeline", Value::from(pipeline));
    head.insert("source", Value::from(coordinates.to_string()));
    // A refused dead letter is left out: it may be what the sink cannot take.
    let value = if keep_output { Value::from(String::from_utf8_lossy(output).as_ref()) } else { Value::Null };
    let carried = Carried { field: "output", value, bytes: Some(output.len()), keep: keep_output };
    letter(head, SINK_REJECTED, cause, Some(carried))
}

/// A dead letter carries everything needed to replay or diagnose a record,
/// within [`MAX_DEAD_LETTER_BYTES`].
fn render_dead_letter(
    spec: &PipelineSpec,
    coordinates: &Coordinates,
    payload: Option<&[u8]>,
    error: &str,
    cause: &str,
    input: Option<&Value>,
) -> Output {
    let mut head = Object::with_capacity(9);
    head.insert("pipeline", Value::from(spec.name.as_str()));
    head.insert("stateMachine", Value::from(spec.state_machine_name.as_str()));
    head.insert("source", Value::from(coordinates.to_string()));
    let carried = match (input, payload.map(|p| (p, std::str::from_utf8(p)))) {
        (Some(v), _) => Some(Carried { field: "input", value: v.clone(), bytes: None, keep: true }),
        (None, Some((bytes, Ok(text)))) => {
            Some(Carried { field: "input", value: Value::from(text), bytes: Some(bytes.len()), keep: true })
        }
        // Text would replace the bytes that are not UTF-8: keep them all, so
        // the record can be replayed exactly.
        (None, Some((bytes, Err(_)))) => {
            let value = Value::from(BASE64_STANDARD.encode(bytes));
            Some(Carried { field: "inputBase64", value, bytes: Some(bytes.len()), keep: true })
        }
        // The source never read it (too large): its coordinates find it.
        (None, None) => None,
    };
    Output::DeadLetter(letter(head, error, cause, carried))
}
