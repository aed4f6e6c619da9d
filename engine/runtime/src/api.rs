//! What the outside implements: where records come from ([`Source`]), where
//! results and dead letters go ([`Sink`]) and which idempotency keys were
//! seen ([`DedupStore`]). Task states have their own door, [`crate::tasks`].

use std::sync::Arc;
use std::time::Duration;

/// Opaque to the executor: the source's own handle on a record.
pub type RecordId = u64;

#[derive(Debug, Clone)]
pub struct Record {
    pub id: RecordId,
    /// Records of one partition are started in order on one shard.
    pub partition: u32,
    pub payload: Vec<u8>,
    /// Where the record came from, for dead letters (`file:in.jsonl:offset=42`).
    pub coordinates: Coordinates,
    /// The record's key (a Kafka message key), carried to its result.
    pub key: Option<Vec<u8>>,
    /// The size of a payload the source did not read because it was larger
    /// than the input limit (`payload` is then empty): the record becomes a
    /// `States.DataLimitExceeded` dead letter without ever being in memory.
    pub oversized: Option<u64>,
}

/// Where a record came from: its source's name and its place in it, put
/// into words only when something is written about the record (a dead
/// letter, a log line, a source-id key). Formatting the text for every
/// record cost the source loop a formatting and an allocation per record,
/// most of them never read; this is a number and a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinates {
    pub origin: Origin,
    pub place: Place,
}

/// A record's place within its [`Coordinates::origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Written `:offset=N` (a byte offset, a Kafka offset).
    Offset(u64),
    /// Written `:line=N`.
    Line(u64),
    /// Written `:ID` (an SQS message id).
    Id(Box<str>),
}

/// A source's name (`file:in.jsonl`, `kafka:readings:3`, `stdin`),
/// interned: records carry its number. A shared `Arc` would have cost two
/// atomic updates of one counter per record, on the source loop and on the
/// shard that drops the record, a cache line bouncing between cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin(u32);

/// Every origin named so far: one entry per distinct name (a file, a
/// topic's partition, a queue), so it stays as small as the sources.
static ORIGINS: std::sync::Mutex<Vec<Arc<str>>> = std::sync::Mutex::new(Vec::new());

impl Origin {
    /// The origin named `name`, the same number for the same name.
    pub fn intern(name: &str) -> Origin {
        let mut names = ORIGINS.lock().unwrap_or_else(|p| p.into_inner());
        let at = match names.iter().position(|n| &**n == name) {
            Some(at) => at,
            None => {
                names.push(Arc::from(name));
                names.len() - 1
            }
        };
        Origin(at as u32)
    }

    /// `f` of this origin's name, read from the thread's own copy of the
    /// names (they never change once interned): a shard writing a source-id
    /// key per record takes no lock and touches no shared counter.
    pub fn with_name<T>(self, f: impl FnOnce(&str) -> T) -> T {
        thread_local! {
            static NAMES: std::cell::RefCell<Vec<Arc<str>>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        NAMES.with(|names| {
            if names.borrow().len() <= self.0 as usize {
                let all = ORIGINS.lock().unwrap_or_else(|p| p.into_inner());
                *names.borrow_mut() = all.clone();
            }
            f(names.borrow().get(self.0 as usize).map_or("unknown", |n| n))
        })
    }
}

impl Coordinates {
    pub fn new(origin: Origin, place: Place) -> Coordinates {
        Coordinates { origin, place }
    }
}

impl std::fmt::Display for Coordinates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.origin.with_name(|origin| match &self.place {
            Place::Offset(n) => write!(f, "{origin}:offset={n}"),
            Place::Line(n) => write!(f, "{origin}:line={n}"),
            Place::Id(id) => write!(f, "{origin}:{id}"),
        })
    }
}

pub enum Polled {
    Records(Vec<Record>),
    /// Nothing now; poll again later.
    Idle,
    /// The source is exhausted (a file read to its end without `follow`).
    Finished,
}

#[derive(Debug)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where records come from. Called from one thread only.
pub trait Source: Send {
    fn poll(&mut self, max: usize) -> Result<Polled, SourceError>;
    /// The record's result or dead letter is durably written.
    fn complete(&mut self, id: RecordId);
    /// Persist progress up to the low watermark of completed records, so a
    /// restart re-delivers whatever was not complete and skips nothing.
    fn commit(&mut self) -> Result<(), SourceError>;
    /// How far behind the source's end the reader is.
    fn lag(&self) -> Option<Lag> {
        None
    }
    /// For sources that must see completions while their own thread is
    /// blocked (a Kafka rebalance callback draining revoked partitions).
    fn completion_hook(&self) -> Option<CompletionHook> {
        None
    }
}

/// How far a source's reader is behind its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// Bytes of a file not yet read.
    Bytes(u64),
    /// Records of a partitioned log (or messages of a queue) not yet read.
    Records(u64),
}

/// Called from the sink writer with the ids of records whose results are
/// durable, before they are acknowledged to the source loop.
pub type CompletionHook = Arc<dyn Fn(&[RecordId]) + Send + Sync>;

/// A sink's permanent refusal of one record: too large for it, or content
/// it cannot carry. The sink writer dead-letters that record
/// (`Expressway.SinkRejected`) and goes on, where any other sink error (an
/// outage) stops the pipeline with its records unacknowledged: a refusal
/// would come back at every restart and stop it for good. A sink returns it
/// only when it wrote nothing of the record.
#[derive(Debug)]
pub struct Refused(pub String);

impl Refused {
    /// The refusal as a sink's error.
    pub fn error(why: impl Into<String>) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, Refused(why.into()))
    }

    /// The refusal `e` carries, if it is one.
    pub fn of(e: &std::io::Error) -> Option<&Refused> {
        e.get_ref()?.downcast_ref::<Refused>()
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Where results and dead letters go: one JSON document a call.
pub trait Sink: Send {
    fn write(&mut self, line: &[u8]) -> std::io::Result<()>;
    /// Write with the input record's key; sinks without keys ignore it.
    fn write_keyed(&mut self, _key: Option<&[u8]>, line: &[u8]) -> std::io::Result<()> {
        self.write(line)
    }
    /// Make everything written so far durable.
    fn flush(&mut self) -> std::io::Result<()>;
    /// End a batch; returns its ticket. Synchronous sinks flush here (and
    /// every ticket is then durable); pipelined ones start making it durable.
    fn end_batch(&mut self) -> std::io::Result<u64> {
        self.flush().map(|()| 0)
    }
    /// The highest ticket whose batch (and every earlier one) is durable,
    /// waiting up to `wait` for progress.
    fn durable(&mut self, _wait: Duration) -> std::io::Result<u64> {
        Ok(u64::MAX)
    }
}

/// What a dedup store answers about an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Claimed for this record: run it.
    Run,
    /// Its execution's result or dead letter is durable: the record is
    /// acknowledged without running.
    Done,
    /// A twin is still running. The record is held, unacknowledged, and
    /// asked about again until the twin is done (or its claim lapses and the
    /// record runs): acknowledging it now would be safe only if the twin held
    /// this record's source position, which a twin read by another consumer,
    /// or by an earlier owner of the partition, does not.
    Running,
}

/// Claims sent to a dedup store, answered by [`PendingClaims::answers`].
/// A shard that drops a batch unstarted (past the drain deadline) still
/// takes its answers, to give back the claims it was granted
/// ([`DedupStore::release_many`]).
pub struct PendingClaims<'s>(Box<dyn FnOnce() -> Vec<Claim> + 's>);

impl<'s> PendingClaims<'s> {
    pub fn new(answers: impl FnOnce() -> Vec<Claim> + 's) -> PendingClaims<'s> {
        PendingClaims(Box::new(answers))
    }

    /// Wait for the answers: one per key sent, in order.
    pub fn answers(self) -> Vec<Claim> {
        (self.0)()
    }
}

/// Idempotency keys of executions in flight or completed.
pub trait DedupStore: Send + Sync {
    fn begin(&self, key: &str) -> Claim;
    /// Claim a shard's batch of keys at once, in order: one answer per key,
    /// as `begin` would give them one after another (a key repeated within
    /// the batch is claimed by its first occurrence; the others are
    /// `Running` twins). Stores that talk to a server ask in one round trip
    /// per batch, not one per record.
    fn begin_many(&self, keys: &[&str]) -> Vec<Claim> {
        keys.iter().map(|k| self.begin(k)).collect()
    }
    /// Send a batch's claims without waiting for the answers, which the
    /// returned [`PendingClaims`] collects (as `begin_many` gives them). A
    /// shard sends its next batch's claims before it runs the current one,
    /// so a store on a server answers while the shard works. Stores that
    /// answer at once answer here.
    fn send_claims<'s>(&'s self, keys: &[&str]) -> PendingClaims<'s> {
        let claims = self.begin_many(keys);
        PendingClaims::new(move || claims)
    }
    /// The execution's result or dead letter is durably written.
    fn complete(&self, key: &str);
    /// Several at once (a flushed sink batch); stores that talk to a server
    /// send them in one round trip.
    fn complete_many(&self, keys: &[&str]) {
        keys.iter().for_each(|k| self.complete(k));
    }
    /// Give back claims this process took whose executions end without a
    /// result (abandoned at the drain deadline, or never started), so that
    /// their records, delivered again, run at once rather than after the
    /// claims lapse. Only a key still holding this store's own un-completed
    /// claim is released: never a completed key, never another process's
    /// claim. Called past the drain deadline: one attempt, bounded to a
    /// couple of seconds, failures logged (the claims then lapse as after a
    /// crash). Stores whose claims cannot outlive the process may do nothing.
    fn release_many(&self, _keys: &[&str]) {}
}

/// A store that remembers nothing: every record runs (benchmarks, tests,
/// pipelines without an idempotency key never call it).
pub struct NoDedup;

impl DedupStore for NoDedup {
    fn begin(&self, _key: &str) -> Claim {
        Claim::Run
    }
    fn complete(&self, _key: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_written_from_their_interned_origin() {
        let file = Origin::intern("file:in.jsonl");
        assert_eq!(Origin::intern("file:in.jsonl"), file, "one number per name");
        assert_ne!(Origin::intern("kafka:readings:3"), file);
        assert_eq!(Coordinates::new(file, Place::Offset(42)).to_string(), "file:in.jsonl:offset=42");
        assert_eq!(Coordinates::new(Origin::intern("stdin"), Place::Line(7)).to_string(), "stdin:line=7");
        let sqs = Coordinates::new(Origin::intern("sqs:orders"), Place::Id("m-1".into()));
        assert_eq!(sqs.to_string(), "sqs:orders:m-1");
        // Another thread, whose copy of the names starts empty, reads them too.
        let later = Origin::intern("kafka:later:0");
        let text = std::thread::spawn(move || Coordinates::new(later, Place::Offset(1)).to_string());
        assert_eq!(text.join().expect("thread").as_str(), "kafka:later:0:offset=1");
    }
}
