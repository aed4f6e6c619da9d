//! Record admission: size check, parse and idempotency key per record, the
//! dedup claim per batch, before an execution starts.

use crate::api::{Claim, DedupStore, PendingClaims, Record};
use crate::executor::Output;
use crate::input;
use crate::metrics::ShardMetrics;
use crate::outcome::dead_letter;
use crate::spec::{ExecutionLogLevel, KeySpec, PipelineSpec, Stats};
use expressway_engine::bounds::Measure;
use expressway_engine::value::Value;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A record after its checks: an execution to run once its key is claimed,
/// settled without one (a dead letter, a skipped duplicate), or the twin of
/// an execution still running, held until that one is done.
pub(crate) enum Checked {
    Run(Admission),
    Settled(Output),
    Twin(Admission),
    /// Dead-lettered after the store was asked about its key (the store
    /// panicked): the key may be claimed, so it is completed with the dead
    /// letter, which releases any twin held for it.
    Failed {
        output: Output,
        dedup_key: String,
    },
}

impl Checked {
    /// The key whose claim this record may hold, for a record dropped before
    /// its execution ends (past the drain deadline): one told to run holds
    /// its key's claim, and one dead-lettered by a store that panicked may.
    /// A twin or a settled record holds none.
    pub(crate) fn claimed_key(self) -> Option<String> {
        match self {
            Checked::Run(Admission { dedup_key, .. }) => dedup_key,
            Checked::Failed { dedup_key, .. } => Some(dedup_key),
            Checked::Settled(_) | Checked::Twin(_) => None,
        }
        .filter(|key| !key.is_empty())
    }
}

/// What an admitted record starts its execution with.
pub(crate) struct Admission {
    pub dedup_key: Option<String>,
    pub input: Value,
    /// An upper bound on `input`'s measure, from its parse.
    pub input_bound: Option<Measure>,
    pub name: String,
}

/// Check, parse and key a record. Its key is claimed afterwards, with the
/// rest of its batch ([`send_claims`]), so a store on a server is asked once
/// per batch.
pub(crate) fn check(spec: &PipelineSpec, record: &Record, stats: &Stats, m: &ShardMetrics) -> Checked {
    // A source that dropped an oversized payload unread still reports its size.
    let parsed = match record.oversized {
        Some(size) => Err(input::too_large(size, spec.max_payload_bytes)),
        None => input::parse_bounded(&record.payload, spec.max_payload_bytes),
    };
    let (input, input_bound) = match parsed {
        Ok((v, bound)) => (v, Some(bound)),
        Err(rejected) => {
            let counter = if rejected.oversized { &stats.oversized } else { &stats.malformed };
            counter.fetch_add(1, Ordering::Relaxed);
            m.malformed.increment(1);
            let payload = record.oversized.is_none().then_some(record.payload.as_slice());
            let output = dead_letter(spec, &record.coordinates, payload, rejected.error, &rejected.cause, None);
            return Checked::Settled(output);
        }
    };
    let key = match &spec.key {
        KeySpec::None => None,
        KeySpec::SourceId => Some(record.coordinates.to_string()),
        // The key is the selected value's JSON text, so values of different
        // types never share a key (`1` and `"1"`, `true` and `"true"`). A null
        // is no key: records without one would all be one record.
        KeySpec::Path(p) => match p.select(&input) {
            Ok(v) if !matches!(v, Value::Null) => Some(stored_key(v.to_json())),
            _ => {
                let cause = format!("the idempotency key '{p}' is missing from the record or is null");
                let error = "Expressway.MissingIdempotencyKey";
                let output = dead_letter(spec, &record.coordinates, None, error, &cause, Some(&input));
                return Checked::Settled(output);
            }
        },
    };
    Checked::Run(Admission { dedup_key: key, input, input_bound, name: String::new() })
}

/// A batch's claims, sent to the store and not yet answered.
pub(crate) struct Claiming<'s> {
    /// Which of the batch's records were asked about, in order.
    keyed: Vec<usize>,
    pending: PendingClaims<'s>,
}

/// Send the claims of a batch's checked records' keys to the store in one
/// call, without waiting for the answers ([`settle_claims`] takes them).
/// Records without a key are not asked about.
pub(crate) fn send_claims<'s>(checked: &[Checked], dedup: &'s dyn DedupStore) -> Option<Claiming<'s>> {
    let keyed: Vec<usize> = (0..checked.len())
        .filter(|&i| matches!(&checked[i], Checked::Run(Admission { dedup_key: Some(_), .. })))
        .collect();
    if keyed.is_empty() {
        return None;
    }
    let keys: Vec<&str> = keyed
        .iter()
        .filter_map(|&i| match &checked[i] {
            Checked::Run(a) => a.dedup_key.as_deref(),
            Checked::Settled(_) | Checked::Twin(_) | Checked::Failed { .. } => None,
        })
        .collect();
    let pending = dedup.send_claims(&keys);
    Some(Claiming { keyed, pending })
}

/// Wait for a batch's claims: a record whose key is done becomes a skip,
/// one whose key is running (earlier in this batch too) a twin.
pub(crate) fn settle_claims(checked: &mut [Checked], claiming: Claiming<'_>, stats: &Stats, m: &ShardMetrics) {
    let Claiming { keyed, pending } = claiming;
    for (&i, claim) in keyed.iter().zip(answered(pending.answers())) {
        if claim != Claim::Run
            && let Checked::Run(admission) = std::mem::replace(&mut checked[i], Checked::Settled(Output::Skip))
        {
            checked[i] = judge(claim, admission, stats, m);
        }
    }
}

/// The keys a batch never started holds claims on: its claims' answers are
/// waited for (already sent, they are on their way; a claim given back
/// before its own put lands would stay taken) and the keys told `Run` are
/// returned. Nothing is counted: the records are not acknowledged. A store
/// that panics answering leaves every key asked, which a store releases
/// only where its own claim holds it.
pub(crate) fn claimed_keys(mut checked: Vec<Checked>, claiming: Option<Claiming<'_>>) -> Vec<String> {
    if let Some(Claiming { keyed, pending }) = claiming
        && let Ok(claims) = crate::panics::isolate(|| pending.answers())
    {
        for (&i, claim) in keyed.iter().zip(answered(claims)) {
            if claim != Claim::Run {
                checked[i] = Checked::Settled(Output::Skip);
            }
        }
    }
    checked.into_iter().filter_map(Checked::claimed_key).collect()
}

/// Give the claims of records dropped unfinished back to the store, in one
/// call (which the store bounds in time: the drain deadline has passed). A
/// store that panics leaves them to lapse, as after a crash.
pub(crate) fn give_back(dedup: &dyn DedupStore, pipeline: &str, keys: &[&str]) {
    if keys.is_empty() {
        return;
    }
    if let Err(panicked) = crate::panics::isolate(|| dedup.release_many(keys)) {
        tracing::warn!(pipeline, cause = %panicked.cause(), "giving back dedup claims failed; they lapse as after a crash");
    } else {
        tracing::info!(pipeline, keys = keys.len(), "dedup claims of unfinished records given back");
    }
}

/// A store's answers, then `Run` for every key it left unanswered: a
/// duplicate at worst, never a record acknowledged without running.
pub(crate) fn answered(claims: Vec<Claim>) -> impl Iterator<Item = Claim> {
    claims.into_iter().chain(std::iter::repeat(Claim::Run))
}

/// What a claim's answer makes of an admitted record: run it, skip it as
/// the duplicate of a done execution (counted), or hold it as a twin.
pub(crate) fn judge(claim: Claim, admission: Admission, stats: &Stats, m: &ShardMetrics) -> Checked {
    match claim {
        Claim::Run => Checked::Run(admission),
        Claim::Done => {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
            m.dedup_hits.increment(1);
            Checked::Settled(Output::Skip)
        }
        Claim::Running => Checked::Twin(admission),
    }
}

/// Count an execution as started (in the shard's turn) and name it. Names are only read through
/// `$$` and execution logs: machines that use neither get none.
pub(crate) fn admit(spec: &PipelineSpec, admission: &mut Admission, m: &ShardMetrics, shard: usize, seq: u64) {
    let named = spec.program.uses_context || spec.log_level != ExecutionLogLevel::Off;
    if named {
        admission.name = format!("{}-{shard}-{seq}", spec.name);
    }
    m.count_started();
}

/// A record whose execution has started: what finishing it needs.
pub(crate) struct Started {
    pub record: Record,
    /// The source reader that read it.
    pub reader: u16,
    pub dedup_key: Option<String>,
    pub input: Value,
    pub input_bound: Option<Measure>,
    pub name: String,
    pub began: Instant,
}

impl Started {
    /// The execution's input, with its bound.
    pub fn execution_input(&self) -> expressway_engine::Input {
        expressway_engine::Input { value: self.input.clone(), bound: self.input_bound }
    }
}

/// Key text longer than this is stored as its digest.
pub(crate) const KEY_BYTES_KEPT: usize = 128;

/// A key as the dedup store keeps it: its JSON text, or past
/// [`KEY_BYTES_KEPT`] bytes `sha256:` and the text's SHA-256 in hex, so a
/// store holds at most ~128 bytes a key whatever the record (a key path
/// selecting a 200 KB value held 200 KB per record in the memory store and
/// failed DynamoDB's 2 KB key limit). No JSON text starts with `s`, so a
/// digest never equals a kept key.
pub(crate) fn stored_key(text: String) -> String {
    use sha2::{Digest, Sha256};
    if text.len() <= KEY_BYTES_KEPT {
        return text;
    }
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}
