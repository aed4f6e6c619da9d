//! The `memory` dedup store: a concurrent map of claimed and completed
//! idempotency keys with a time to live and a hard bound on its size. A
//! claimed key's twin is `Running` (held until it is done), a completed
//! key's `Done` (skipped).
//!
//! Shards claim keys side by side: the map is sharded (dashmap), its size is
//! an atomic beside it (`DashMap::len` would lock every shard on each
//! claim), and a full store is swept only when an entry can have expired,
//! so a store full of live keys costs a claim one failed reservation, not a
//! scan of the map.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as Slot;
use expressway_runtime::{Claim, DedupStore};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// When a key was claimed or completed; both keep twins out for the TTL.
#[derive(Debug, Clone, Copy)]
struct Entry {
    since: Instant,
    done: bool,
}

impl Entry {
    fn claimed() -> Entry {
        Entry { since: Instant::now(), done: false }
    }
    fn done() -> Entry {
        Entry { since: Instant::now(), done: true }
    }
    /// What a twin of this live entry's key is told.
    fn twin(&self) -> Claim {
        if self.done { Claim::Done } else { Claim::Running }
    }
}

pub struct MemoryDedup {
    keys: DashMap<String, Entry>,
    /// Entries in `keys` plus reservations about to become one; never more
    /// than `capacity`.
    count: AtomicUsize,
    ttl: Duration,
    capacity: usize,
    born: Instant,
    /// Nanoseconds after `born` before which no entry can expire: a full
    /// store is not swept again before then.
    next_sweep: AtomicU64,
    sweeps: AtomicU64,
}

impl MemoryDedup {
    pub fn new(ttl: Duration, capacity: usize) -> MemoryDedup {
        MemoryDedup {
            keys: DashMap::new(),
            count: AtomicUsize::new(0),
            ttl,
            capacity: capacity.max(1),
            born: Instant::now(),
            next_sweep: AtomicU64::new(0),
            sweeps: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How often a full store was scanned for expired keys.
    pub fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::Relaxed)
    }

    fn live(&self, e: &Entry) -> bool {
        e.since.elapsed() < self.ttl
    }

    fn nanos_since_born(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.born).as_nanos().min(u64::MAX as u128) as u64
    }

    /// Reserve room for one more key; `false` when the store is full of
    /// live keys. A reservation not used is given back with `unreserve`.
    fn reserve(&self) -> bool {
        for _ in 0..2 {
            if self.count.fetch_add(1, Ordering::AcqRel) < self.capacity {
                return true;
            }
            self.unreserve();
            if !self.sweep() {
                return false;
            }
        }
        false
    }

    fn unreserve(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }

    /// Drop expired keys, unless none can have expired since the last sweep;
    /// `true` if it swept.
    fn sweep(&self) -> bool {
        if self.nanos_since_born(Instant::now()) < self.next_sweep.load(Ordering::Acquire) {
            return false;
        }
        self.sweeps.fetch_add(1, Ordering::Relaxed);
        let mut oldest: Option<Instant> = None;
        let mut removed = 0usize;
        self.keys.retain(|_, e| {
            let live = e.since.elapsed() < self.ttl;
            if live {
                oldest = Some(oldest.map_or(e.since, |o| o.min(e.since)));
            } else {
                removed += 1;
            }
            live
        });
        self.count.fetch_sub(removed, Ordering::AcqRel);
        // Entries only get younger (a completion refreshes one): none expires
        // before the oldest survivor does.
        let next = oldest.map_or(0, |o| o.checked_add(self.ttl).map_or(u64::MAX, |at| self.nanos_since_born(at)));
        self.next_sweep.store(next, Ordering::Release);
        true
    }
}

impl DedupStore for MemoryDedup {
    fn begin(&self, key: &str) -> Claim {
        if let Some(e) = self.keys.get(key)
            && self.live(&e)
        {
            return e.twin();
        }
        // When full of live keys the record still runs, unremembered: a
        // redelivery would run again (at-least-once holds, memory is bounded).
        if !self.reserve() {
            return Claim::Run;
        }
        match self.keys.entry(key.to_string()) {
            Slot::Occupied(mut e) => {
                self.unreserve();
                if self.live(e.get()) {
                    return e.get().twin();
                }
                e.insert(Entry::claimed());
            }
            Slot::Vacant(v) => {
                v.insert(Entry::claimed());
            }
        }
        Claim::Run
    }

    fn complete(&self, key: &str) {
        if let Some(mut e) = self.keys.get_mut(key) {
            *e = Entry::done();
            return;
        }
        if self.reserve() {
            match self.keys.entry(key.to_string()) {
                Slot::Occupied(mut e) => {
                    self.unreserve();
                    e.insert(Entry::done());
                }
                Slot::Vacant(v) => {
                    v.insert(Entry::done());
                }
            }
        }
    }

    /// Forget the claims (never a completed key): the keys' records,
    /// delivered again, run. Every claim here is this process's own.
    fn release_many(&self, keys: &[&str]) {
        for key in keys {
            if self.keys.remove_if(*key, |_, e| !e.done).is_some() {
                self.unreserve();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_once_until_ttl_and_stays_bounded() {
        let d = MemoryDedup::new(Duration::from_secs(60), 2);
        assert!(d.is_empty());
        assert_eq!(d.begin("a"), Claim::Run, "first claim runs");
        assert_eq!(d.begin("a"), Claim::Running, "a twin in flight is held, not skipped");
        d.complete("a");
        assert_eq!(d.begin("a"), Claim::Done, "a completed key is skipped");
        assert_eq!(d.begin("b"), Claim::Run);
        assert_eq!(d.begin("c"), Claim::Run, "full of live keys: runs, unremembered");
        assert_eq!(d.begin("c"), Claim::Run);
        assert_eq!(d.len(), 2);
        let short = MemoryDedup::new(Duration::from_millis(1), 10);
        assert_eq!(short.begin("x"), Claim::Run);
        short.complete("x");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.begin("x"), Claim::Run, "expired keys run again");
        assert_eq!(short.begin("y"), Claim::Run);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.begin("y"), Claim::Run, "a claim older than the TTL lapses: its twin runs");
    }

    #[test]
    fn a_released_claim_runs_again_and_a_completed_key_is_never_released() {
        let d = MemoryDedup::new(Duration::from_secs(3600), 3);
        assert_eq!(d.begin_many(&["abandoned", "done"]), [Claim::Run, Claim::Run]);
        d.complete("done");
        d.release_many(&["abandoned", "done", "never-claimed"]);
        assert_eq!(d.len(), 1, "only the completed key is left");
        assert_eq!(d.begin("done"), Claim::Done, "a completed key stays completed");
        assert_eq!(d.begin("abandoned"), Claim::Run, "the claim given back is taken again at once");
        // The bound counts the released entry out: "x" still fits.
        assert_eq!(d.begin("x"), Claim::Run);
        assert_eq!(d.len(), 3);
        assert_eq!(d.begin("x"), Claim::Running, "remembered, not past the bound");
    }

    #[test]
    fn a_store_full_of_live_keys_is_not_scanned_per_claim() {
        let d = MemoryDedup::new(Duration::from_secs(3600), 100);
        for i in 0..100 {
            assert_eq!(d.begin(&format!("live-{i}")), Claim::Run);
        }
        for i in 0..10_000 {
            assert_eq!(d.begin(&format!("overflow-{i}")), Claim::Run, "full: runs, unremembered");
        }
        assert_eq!(d.len(), 100);
        assert_eq!(d.sweeps(), 1, "no key can expire before the oldest one's TTL: one sweep, not one per claim");
        assert_eq!(d.begin("live-5"), Claim::Running, "the remembered keys are still twins");
    }

    #[test]
    fn shards_claiming_side_by_side_claim_each_key_once_and_respect_the_bound() {
        let d = std::sync::Arc::new(MemoryDedup::new(Duration::from_secs(3600), 5_000));
        let claimed: usize = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let d = d.clone();
                    // Every thread claims the same 4,000 keys: each is won once.
                    s.spawn(move || (0..4_000).filter(|i| d.begin(&format!("k{i}")) == Claim::Run).count())
                })
                .collect();
            threads.into_iter().map(|t| t.join().expect("thread")).sum()
        });
        assert_eq!(claimed, 4_000);
        assert_eq!(d.len(), 4_000);
        std::thread::scope(|s| {
            for t in 0..4 {
                let d = d.clone();
                s.spawn(move || (0..1_000).for_each(|i| d.complete(&format!("t{t}-{i}"))));
            }
        });
        assert_eq!(d.len(), 5_000, "completions beyond the bound are not remembered");
    }
}
