//! The `memory` dedup store: a concurrent map of claimed and completed
//! idempotency keys with a time to live and a hard bound on its size.

use dashmap::DashMap;
use expressway_runtime::DedupStore;
use std::time::{Duration, Instant};

/// When a key was claimed or completed; both keep twins out for the TTL.
#[derive(Debug, Clone, Copy)]
struct Entry {
    since: Instant,
}

pub struct MemoryDedup {
    completed: DashMap<String, Entry>,
    ttl: Duration,
    capacity: usize,
}

impl MemoryDedup {
    pub fn new(ttl: Duration, capacity: usize) -> MemoryDedup {
        MemoryDedup { completed: DashMap::new(), ttl, capacity: capacity.max(1) }
    }

    pub fn len(&self) -> usize {
        self.completed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.completed.is_empty()
    }
}

impl MemoryDedup {
    fn live(&self, e: &Entry) -> bool {
        e.since.elapsed() < self.ttl
    }

    /// Make room for one more key; `false` when the store is full of live keys.
    fn room(&self) -> bool {
        if self.completed.len() < self.capacity {
            return true;
        }
        self.completed.retain(|_, e| e.since.elapsed() < self.ttl);
        self.completed.len() < self.capacity
    }
}

impl DedupStore for MemoryDedup {
    fn begin(&self, key: &str) -> bool {
        if let Some(e) = self.completed.get(key)
            && self.live(&e)
        {
            return false;
        }
        // When full of live keys the record still runs, unremembered: a
        // redelivery would run again (at-least-once holds, memory is bounded).
        if self.room() {
            let now = Instant::now();
            let mut claimed = true;
            self.completed
                .entry(key.to_string())
                .and_modify(|e| {
                    if e.since.elapsed() < self.ttl {
                        claimed = false;
                    } else {
                        *e = Entry { since: now };
                    }
                })
                .or_insert(Entry { since: now });
            return claimed;
        }
        true
    }

    fn complete(&self, key: &str) {
        if let Some(mut e) = self.completed.get_mut(key) {
            *e = Entry { since: Instant::now() };
        } else if self.room() {
            self.completed.insert(key.to_string(), Entry { since: Instant::now() });
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
        assert!(d.begin("a"), "first claim runs");
        assert!(!d.begin("a"), "a twin in flight is skipped");
        d.complete("a");
        assert!(!d.begin("a"), "a completed key is skipped");
        assert!(d.begin("b"));
        assert!(d.begin("c"), "full of live keys: runs, unremembered");
        assert!(d.begin("c"));
        assert_eq!(d.len(), 2);
        let short = MemoryDedup::new(Duration::from_millis(1), 10);
        assert!(short.begin("x"));
        short.complete("x");
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.begin("x"), "expired keys run again");
    }
}
