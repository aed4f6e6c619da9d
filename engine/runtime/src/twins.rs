//! Records held because a twin (a record with the same idempotency key) is
//! still running.
//!
//! Such a record is neither run nor acknowledged until the twin is done:
//! acknowledging it at once would let its source commit past it while the
//! twin may never finish — the twin read by another consumer of the group,
//! or before a revoke whose drain gave up on it. A shard asks the store
//! about its held keys again, all that are due in one call, backing off
//! from a few milliseconds (a twin in this process is done as soon as its
//! sink batch is durable) to a second (a claim held by another replica).
//! Held records count against the source's in-flight cap like running ones:
//! their number is bounded.

use crate::admission::{Admission, Checked, answered, judge};
use crate::api::{DedupStore, Record};
use crate::executor::Output;
use crate::metrics::ShardMetrics;
use crate::panics::{Panicked, isolate};
use crate::spec::Stats;
use std::time::{Duration, Instant};

/// The first wait before a held key is asked about again; doubled each
/// time the twin is still running, up to [`LAST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(2);
const LAST_WAIT: Duration = Duration::from_secs(1);

struct Held {
    record: Record,
    reader: u16,
    admission: Admission,
    due: Instant,
    wait: Duration,
}

pub(crate) struct Twins {
    held: Vec<Held>,
    /// The pipeline's count of held records, which every shard adds to.
    gauge: metrics::Gauge,
}

impl Twins {
    pub fn new(gauge: metrics::Gauge) -> Twins {
        Twins { held: Vec::new(), gauge }
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Hold a record whose key's execution is running elsewhere.
    pub fn hold(&mut self, record: Record, reader: u16, admission: Admission, now: Instant) {
        self.held.push(Held { record, reader, admission, due: now + FIRST_WAIT, wait: FIRST_WAIT });
        self.gauge.increment(1.0);
    }

    /// When the next held key is due to be asked about again.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.iter().map(|h| h.due).min()
    }

    /// Ask the store about the keys due by `now`, in one call: a done twin
    /// makes its record a skip, a lapsed claim (the twin was lost) makes it
    /// run; still-running ones wait longer. A store that panics leaves its
    /// records to `on_panic`, as a claim of a fresh batch would.
    pub fn recheck(
        &mut self,
        now: Instant,
        dedup: &dyn DedupStore,
        stats: &Stats,
        m: &ShardMetrics,
        on_panic: impl Fn(&Record, &Admission, &Panicked) -> Output,
    ) -> Vec<(Record, u16, Checked)> {
        if self.held.iter().all(|h| h.due > now) {
            return Vec::new();
        }
        let (due, waiting): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| h.due <= now);
        self.held = waiting;
        let keys: Vec<&str> = due.iter().map(|h| h.admission.dedup_key.as_deref().unwrap_or_default()).collect();
        let claims = isolate(|| dedup.begin_many(&keys));
        drop(keys);
        let mut ready = Vec::new();
        match claims {
            Ok(claims) => {
                for (h, claim) in due.into_iter().zip(answered(claims)) {
                    let Held { record, reader, admission, wait, .. } = h;
                    match judge(claim, admission, stats, m) {
                        Checked::Twin(admission) => {
                            let wait = (wait * 2).min(LAST_WAIT);
                            self.held.push(Held { record, reader, admission, due: now + wait, wait });
                        }
                        checked => ready.push((record, reader, checked)),
                    }
                }
            }
            Err(panicked) => {
                // The keys may be claimed: completed with the dead letters.
                for h in due {
                    let output = on_panic(&h.record, &h.admission, &panicked);
                    let dedup_key = h.admission.dedup_key.unwrap_or_default();
                    ready.push((h.record, h.reader, Checked::Failed { output, dedup_key }));
                }
            }
        }
        self.gauge.decrement(ready.len() as f64);
        ready
    }

    /// Let go of every held record, unacknowledged (past the drain
    /// deadline): each is delivered again after a restart. Returns how many.
    pub fn drop_all(&mut self) -> usize {
        let held = std::mem::take(&mut self.held).len();
        self.gauge.decrement(held as f64);
        held
    }
}
