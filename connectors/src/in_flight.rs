//! The offsets a source has handed out and not yet seen completed, and their
//! low watermark: the first offset a restart must read again.
//!
//! Offsets arrive in ascending order (a file's bytes, a Kafka partition's
//! records) and complete in any order. An ordered set paid a node allocation
//! and a rebalancing per record on the source loop; this is a queue of
//! `(offset, done)` in arrival order: a push, a binary search to mark one
//! done, and pops from the front as the watermark moves.

use std::collections::VecDeque;

/// Done entries tolerated behind the front before they are swept out.
const COMPACT_SLACK: usize = 1024;

#[derive(Debug, Default)]
pub struct InFlight {
    offsets: VecDeque<(u64, bool)>,
    /// Entries not yet done.
    pending: usize,
}

impl InFlight {
    /// Note `offset` as handed out. One out of order (not expected from the
    /// sources, which read forward) is placed where it belongs; one already
    /// in flight is not counted twice. `false` when it was already in flight
    /// (and not done): its earlier copy holds it.
    pub fn insert(&mut self, offset: u64) -> bool {
        match self.offsets.back() {
            Some(&(last, _)) if last >= offset => {
                let at = self.offsets.partition_point(|&(o, _)| o < offset);
                match self.offsets.get_mut(at) {
                    Some(entry) if entry.0 == offset => {
                        // Handed out again (a consumer that went back): in
                        // flight until this copy completes too.
                        if entry.1 {
                            entry.1 = false;
                            self.pending += 1;
                            return true;
                        }
                        return false;
                    }
                    _ => self.offsets.insert(at, (offset, false)),
                }
            }
            _ => self.offsets.push_back((offset, false)),
        }
        self.pending += 1;
        true
    }

    /// Note `offset` as complete; an offset not in flight is ignored.
    pub fn complete(&mut self, offset: u64) {
        let at = self.offsets.partition_point(|&(o, _)| o < offset);
        if let Some(entry) = self.offsets.get_mut(at).filter(|e| e.0 == offset && !e.1) {
            entry.1 = true;
            self.pending -= 1;
        }
        while self.offsets.front().is_some_and(|&(_, done)| done) {
            self.offsets.pop_front();
        }
        // Behind one long-running record (a Wait, a slow task) the source
        // reads on, and done entries would pile up after it: drop them once
        // they outnumber the pending ones, so the queue stays within twice
        // the in-flight cap. Dropping done entries never moves the front.
        if self.offsets.len() > 2 * self.pending + COMPACT_SLACK {
            self.offsets.retain(|&(_, done)| !done);
        }
    }

    /// The first offset not yet complete.
    pub fn first(&self) -> Option<u64> {
        // The front is never done: `complete` pops done entries off it.
        self.offsets.front().map(|&(o, _)| o)
    }

    /// Offsets handed out and not yet complete.
    pub fn len(&self) -> usize {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_is_the_first_offset_not_complete_whatever_the_completion_order() {
        let mut f = InFlight::default();
        assert_eq!(f.first(), None);
        for o in [10, 20, 30, 40] {
            f.insert(o);
        }
        assert_eq!((f.first(), f.len()), (Some(10), 4));
        f.complete(30);
        f.complete(20);
        assert_eq!((f.first(), f.len()), (Some(10), 2), "completions after the front keep it");
        f.complete(10);
        assert_eq!((f.first(), f.len()), (Some(40), 1), "the front moves past every done offset");
        f.complete(99);
        f.complete(30);
        assert_eq!((f.first(), f.len()), (Some(40), 1), "unknown and repeated completions change nothing");
        f.complete(40);
        assert_eq!((f.first(), f.len(), f.is_empty()), (None, 0, true));
    }

    #[test]
    fn done_entries_behind_a_long_running_record_do_not_pile_up() {
        let mut f = InFlight::default();
        f.insert(0);
        for o in 1..1_000_000 {
            f.insert(o);
            f.complete(o);
            assert!(f.offsets.len() <= 2 * f.len() + COMPACT_SLACK + 1, "{} entries at {o}", f.offsets.len());
        }
        assert_eq!((f.first(), f.len()), (Some(0), 1), "the watermark waits for the record still running");
        f.complete(0);
        assert_eq!((f.first(), f.len()), (None, 0));
    }

    #[test]
    fn an_offset_handed_out_again_after_it_completed_is_in_flight_again() {
        let mut f = InFlight::default();
        for o in [3, 4, 5] {
            f.insert(o);
        }
        f.complete(4);
        assert!(f.insert(4), "done, then handed out again: in flight anew");
        assert!(!f.insert(5), "still in flight");
        assert_eq!((f.first(), f.len()), (Some(3), 3));
        f.complete(3);
        assert_eq!((f.first(), f.len()), (Some(4), 2), "the second copy of 4 holds the watermark");
        f.complete(4);
        f.complete(5);
        assert!(f.is_empty());
    }

    #[test]
    fn an_offset_out_of_order_or_twice_keeps_the_queue_sorted_and_counted_once() {
        let mut f = InFlight::default();
        for o in [5, 9, 7, 9, 1] {
            f.insert(o);
        }
        assert_eq!((f.first(), f.len()), (Some(1), 4));
        for o in [1, 5, 7] {
            f.complete(o);
        }
        assert_eq!((f.first(), f.len()), (Some(9), 1));
    }
}
