//! A shard's timers: a heap of deadlines on the shard's [`Clock`], and the
//! [`Sleep`] future that waits on one. Single-threaded: the shard fires due
//! timers between turns.

use crate::clock::Clock;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

struct TimerEntry {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A shard's timers: a heap of deadlines and the wakers waiting on them.
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Reverse<TimerEntry>>>,
    seq: Cell<u64>,
    clock: Arc<dyn Clock>,
}

impl Timers {
    pub fn new(clock: Arc<dyn Clock>) -> Timers {
        Timers { heap: RefCell::default(), seq: Cell::new(0), clock }
    }

    fn add(&self, at: Instant, waker: Waker) {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.heap.borrow_mut().push(Reverse(TimerEntry { at, seq, waker }));
    }

    /// The earliest deadline still waited on.
    pub fn next(&self) -> Option<Instant> {
        self.heap.borrow().peek().map(|e| e.0.at)
    }

    /// Wake everything due by now.
    pub fn fire_due(&self) {
        let now = self.clock.now();
        loop {
            let entry = {
                let mut heap = self.heap.borrow_mut();
                match heap.peek() {
                    Some(e) if e.0.at <= now => heap.pop(),
                    _ => None,
                }
            };
            match entry {
                Some(Reverse(e)) => e.waker.wake(),
                None => return,
            }
        }
    }
}

pub(crate) struct Sleep<'a> {
    timers: &'a Timers,
    at: Instant,
    registered: bool,
}

impl<'a> Sleep<'a> {
    pub fn new(timers: &'a Timers, at: Instant) -> Sleep<'a> {
        Sleep { timers, at, registered: false }
    }
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.timers.clock.now() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            self.timers.add(self.at, cx.waker().clone());
        }
        Poll::Pending
    }
}
