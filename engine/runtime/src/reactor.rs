//! A shard's parked executions: a slab of futures, one waker per slot that
//! queues the slot when woken, and the queue the shard polls. No async
//! runtime: the shard thread is the executor. A poll that panics ends that
//! execution alone, with the panic's message ([`crate::panics`]).

use crate::live::Boxed;
use crate::panics::{Panicked, isolate};
use crossbeam_channel::{Receiver, Sender, unbounded};
use expressway_engine::driver::ExecutionResult;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Wakes a parked execution by queueing its slot for the shard to poll.
struct SlotWaker {
    slot: usize,
    queue: Sender<usize>,
}

impl std::task::Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.queue.send(self.slot);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.queue.send(self.slot);
    }
}

/// An execution's end: its result, or the panic that ended it.
pub(crate) type Ended = Result<ExecutionResult, Panicked>;

/// The executions a shard has parked, each with what the shard needs to
/// finish it (`T`), and the queue of those woken since.
pub(crate) struct Reactor<'a, T> {
    slots: Vec<Option<(Boxed<'a, ExecutionResult>, T)>>,
    wakers: Vec<Waker>,
    free: Vec<usize>,
    parked: usize,
    queue: Sender<usize>,
    pub woken: Receiver<usize>,
}

impl<'a, T> Reactor<'a, T> {
    pub fn new() -> Self {
        let (queue, woken) = unbounded();
        Reactor { slots: Vec::new(), wakers: Vec::new(), free: Vec::new(), parked: 0, queue, woken }
    }

    pub fn is_empty(&self) -> bool {
        self.parked == 0
    }

    /// Poll `execution` once; park it unless it is already done.
    pub fn spawn(&mut self, mut execution: Boxed<'a, ExecutionResult>, meta: T) -> Option<(Ended, T)> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.wakers
                    .push(Waker::from(Arc::new(SlotWaker { slot: self.slots.len() - 1, queue: self.queue.clone() })));
                self.slots.len() - 1
            }
        };
        let mut cx = Context::from_waker(&self.wakers[slot]);
        match isolate(|| execution.as_mut().poll(&mut cx)) {
            Ok(Poll::Pending) => {
                self.slots[slot] = Some((execution, meta));
                self.parked += 1;
                None
            }
            Ok(Poll::Ready(result)) => {
                self.free.push(slot);
                Some((Ok(result), meta))
            }
            Err(panicked) => {
                discard(execution);
                self.free.push(slot);
                Some((Err(panicked), meta))
            }
        }
    }

    /// Poll a woken slot; a stale or repeated wake finds nothing to do.
    pub fn poll(&mut self, slot: usize) -> Option<(Ended, T)> {
        let (execution, _) = self.slots.get_mut(slot)?.as_mut()?;
        let mut cx = Context::from_waker(&self.wakers[slot]);
        let ended = match isolate(|| execution.as_mut().poll(&mut cx)) {
            Ok(Poll::Pending) => return None,
            Ok(Poll::Ready(result)) => Ok(result),
            Err(panicked) => Err(panicked),
        };
        let (execution, meta) = self.slots[slot].take()?;
        if ended.is_err() {
            discard(execution);
        }
        self.free.push(slot);
        self.parked -= 1;
        Some((ended, meta))
    }
}

impl<T> Reactor<'_, T> {
    /// Drop every parked execution and give back what each was parked with
    /// (past the drain deadline: a shard gives back their dedup claims; the
    /// records are never acknowledged).
    pub fn drain(&mut self) -> Vec<T> {
        self.parked = 0;
        self.free.clear();
        let metas = self.slots.drain(..).flatten().map(|(execution, meta)| {
            discard(execution);
            meta
        });
        metas.collect()
    }
}

/// Drop an execution whose poll panicked: its state may be half updated, so
/// its destructors may panic too, and that must not end the shard either.
fn discard(execution: Boxed<'_, ExecutionResult>) {
    let _ = isolate(move || drop(execution));
}
