//! What the web console shows of a running pipeline beyond its [`Stats`]:
//! per-state counts and the most recent failed and dead-lettered
//! executions.
//!
//! The counts are kept per shard: each shard's executions run on its own
//! thread and add to its own cells (an uncontended relaxed atomic add per
//! state event, no lock, no allocation); a reader sums the shards. Edge
//! counts (transitions between states) live in a few slots per state, each
//! claimed by the first transition to a target. The failure ring takes a
//! lock, but only when an execution fails.
//!
//! [`Stats`]: crate::Stats

use expressway_engine::program::StateId;
use expressway_engine::vm::{Observer, StateEvent, StateObserver};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Failed and dead-lettered executions kept, the most recent.
pub const RECENT_FAILURES: usize = 50;
/// Bytes of a kept execution's input (as JSON), error and cause; the rest
/// is cut.
pub const MAX_KEPT_INPUT_BYTES: usize = 4096;
pub const MAX_KEPT_TEXT_BYTES: usize = 1024;

/// Distinct transitions counted per state: a state's `Next`, its catchers'
/// and a Choice's branches. A Choice with more targets leaves the rest
/// uncounted (the states' own counts are still exact).
pub const EDGE_SLOTS: usize = 16;

/// Per-state event counts, indexed by `state * StateEvent::COUNT + event`,
/// and edge counts in [`EDGE_SLOTS`] slots per state.
struct ShardCounts {
    cells: Box<[AtomicU64]>,
    edges: Box<[EdgeSlot]>,
}

/// One counted transition from a state: `key` is 0 while the slot is free,
/// else `to * 2 + caught + 1`. Only the shard's own thread writes.
#[derive(Default)]
struct EdgeSlot {
    key: AtomicU32,
    count: AtomicU64,
}

fn edge_key(event: StateEvent, to: StateId) -> Option<u32> {
    to.checked_mul(2)?.checked_add(1 + u32::from(event == StateEvent::Caught))
}

impl StateObserver for ShardCounts {
    #[inline]
    fn observe(&self, state: StateId, event: StateEvent) {
        if let Some(cell) = self.cells.get(state as usize * StateEvent::COUNT + event as usize) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn transition(&self, from: StateId, event: StateEvent, to: StateId) {
        let (Some(key), Some(slots)) =
            (edge_key(event, to), self.edges.get(from as usize * EDGE_SLOTS..(from as usize + 1) * EDGE_SLOTS))
        else {
            return;
        };
        for slot in slots {
            match slot.key.load(Ordering::Relaxed) {
                k if k == key => {}
                0 => slot.key.store(key, Ordering::Release),
                _ => continue,
            }
            slot.count.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// A transition and how often it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeCount {
    pub from: StateId,
    pub to: StateId,
    /// Along a catcher (else a `Next` or a Choice's branch).
    pub caught: bool,
    pub count: u64,
}

/// A failed, timed-out or dead-lettered execution, as kept for display.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedExecution {
    /// Increases by one per kept failure, so a reader can tell new ones.
    pub seq: u64,
    pub at_ms: i64,
    /// The execution's name, empty when it never started (a rejected record).
    pub name: String,
    /// The record's source coordinates.
    pub source: String,
    pub error: String,
    pub cause: String,
    /// The input as JSON (or the record's text), cut at
    /// [`MAX_KEPT_INPUT_BYTES`].
    pub input: String,
    pub input_cut: bool,
    /// The state events it went through (empty when it never started).
    pub path: Vec<(StateId, StateEvent)>,
}

/// One pipeline's per-state counts and recent failures.
pub struct PipelineWatch {
    states: usize,
    shards: Vec<Arc<ShardCounts>>,
    failures: Mutex<(u64, VecDeque<FailedExecution>)>,
}

impl PipelineWatch {
    /// For a program of `states` states run on `shards` shards.
    pub fn new(states: usize, shards: usize) -> PipelineWatch {
        let shard = || {
            Arc::new(ShardCounts {
                cells: (0..states * StateEvent::COUNT).map(|_| AtomicU64::new(0)).collect(),
                edges: (0..states * EDGE_SLOTS).map(|_| EdgeSlot::default()).collect(),
            })
        };
        PipelineWatch {
            states,
            shards: (0..shards.max(1)).map(|_| shard()).collect(),
            failures: Mutex::new((0, VecDeque::with_capacity(RECENT_FAILURES))),
        }
    }

    /// The observer shard `shard`'s executions report to.
    pub fn observer(&self, shard: usize) -> Observer {
        Observer(self.shards[shard % self.shards.len()].clone())
    }

    /// Counts per state (by compiled state index), in [`StateEvent::ALL`]
    /// order, all shards together.
    pub fn counts(&self) -> Vec<[u64; StateEvent::COUNT]> {
        let mut out = vec![[0u64; StateEvent::COUNT]; self.states];
        for shard in &self.shards {
            for (state, counts) in out.iter_mut().enumerate() {
                for (e, n) in counts.iter_mut().enumerate() {
                    *n += shard.cells[state * StateEvent::COUNT + e].load(Ordering::Relaxed);
                }
            }
        }
        out
    }

    /// The transitions taken so far, all shards together, by `from`, then `to`.
    pub fn edges(&self) -> Vec<EdgeCount> {
        let mut sums: std::collections::BTreeMap<(StateId, StateId, bool), u64> = Default::default();
        for shard in &self.shards {
            for (i, slot) in shard.edges.iter().enumerate() {
                let key = slot.key.load(Ordering::Acquire);
                if key == 0 {
                    continue;
                }
                let (from, to, caught) = ((i / EDGE_SLOTS) as StateId, (key - 1) / 2, (key - 1) % 2 == 1);
                *sums.entry((from, to, caught)).or_default() += slot.count.load(Ordering::Relaxed);
            }
        }
        sums.into_iter().map(|((from, to, caught), count)| EdgeCount { from, to, caught, count }).collect()
    }

    /// Keep a failure, dropping the oldest beyond [`RECENT_FAILURES`].
    pub fn keep_failure(&self, mut failure: FailedExecution) {
        cut(&mut failure.error, MAX_KEPT_TEXT_BYTES);
        cut(&mut failure.cause, MAX_KEPT_TEXT_BYTES);
        failure.input_cut |= cut(&mut failure.input, MAX_KEPT_INPUT_BYTES);
        let mut kept = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        kept.0 += 1;
        failure.seq = kept.0;
        if kept.1.len() == RECENT_FAILURES {
            kept.1.pop_front();
        }
        kept.1.push_back(failure);
    }

    /// The kept failures, oldest first.
    pub fn failures(&self) -> Vec<FailedExecution> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).1.iter().cloned().collect()
    }
}

/// Cut `text` to at most `max` bytes on a character boundary; whether it cut.
fn cut(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(n: usize) -> FailedExecution {
        FailedExecution {
            seq: 0,
            at_ms: 0,
            name: format!("e{n}"),
            source: String::new(),
            error: "E".into(),
            cause: "é".repeat(MAX_KEPT_TEXT_BYTES),
            input: "x".repeat(MAX_KEPT_INPUT_BYTES + 1),
            input_cut: false,
            path: Vec::new(),
        }
    }

    #[test]
    fn shards_count_apart_and_are_summed_on_read() {
        let watch = PipelineWatch::new(3, 2);
        let (a, b) = (watch.observer(0), watch.observer(1));
        a.0.observe(2, StateEvent::Entered);
        b.0.observe(2, StateEvent::Entered);
        b.0.observe(2, StateEvent::Caught);
        a.0.observe(7, StateEvent::Entered); // beyond the program: ignored
        let counts = watch.counts();
        assert_eq!(counts[2], [2, 0, 0, 0, 1]);
        assert_eq!(counts[0], [0; StateEvent::COUNT]);
    }

    #[test]
    fn edges_are_counted_by_target_and_kind_and_summed_over_shards() {
        let watch = PipelineWatch::new(3, 2);
        let (a, b) = (watch.observer(0), watch.observer(1));
        a.0.transition(0, StateEvent::Succeeded, 1);
        a.0.transition(0, StateEvent::Succeeded, 1);
        b.0.transition(0, StateEvent::Succeeded, 1);
        b.0.transition(0, StateEvent::Caught, 1); // a catcher to the same target: its own edge
        a.0.transition(0, StateEvent::Succeeded, 2);
        a.0.transition(9, StateEvent::Succeeded, 1); // beyond the program: ignored
        let edge = |to, caught, count| EdgeCount { from: 0, to, caught, count };
        assert_eq!(watch.edges(), [edge(1, false, 3), edge(1, true, 1), edge(2, false, 1)]);
    }

    #[test]
    fn a_state_with_more_targets_than_slots_counts_the_first_ones() {
        let watch = PipelineWatch::new(EDGE_SLOTS + 4, 1);
        let o = watch.observer(0);
        for to in 0..EDGE_SLOTS as u32 + 4 {
            o.0.transition(0, StateEvent::Succeeded, to);
        }
        o.0.transition(0, StateEvent::Succeeded, 0);
        let edges = watch.edges();
        assert_eq!(edges.len(), EDGE_SLOTS);
        assert_eq!(edges[0], EdgeCount { from: 0, to: 0, caught: false, count: 2 });
    }

    #[test]
    fn the_failure_ring_keeps_the_most_recent_ones_bounded() {
        let watch = PipelineWatch::new(1, 1);
        for n in 0..RECENT_FAILURES + 5 {
            watch.keep_failure(failure(n));
        }
        let kept = watch.failures();
        assert_eq!(kept.len(), RECENT_FAILURES);
        assert_eq!(kept[0].name, "e5");
        assert_eq!(kept.last().map(|f| f.seq), Some((RECENT_FAILURES + 5) as u64));
        assert!(kept[0].input_cut && kept[0].input.len() == MAX_KEPT_INPUT_BYTES);
        assert!(kept[0].cause.len() <= MAX_KEPT_TEXT_BYTES && kept[0].cause.chars().all(|c| c == 'é'));
    }
}
