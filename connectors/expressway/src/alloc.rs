//! The process's allocator: mimalloc (small, per-thread free lists) behind a
//! per-thread counter, so `bench` can report allocations per execution. JSON
//! values allocate per node; the system allocator spent a third of an
//! execution in malloc/free.

use std::alloc::{GlobalAlloc, Layout};

pub struct CountingAlloc;

thread_local! {
    /// Allocations made by this thread. Per thread, not one shared atomic:
    /// shards allocate on every core, and a counter they all add to would
    /// bounce its cache line between them on every allocation. (A `const`
    /// `Cell` needs no allocation and no destructor, so the allocator may
    /// touch it.)
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: a thread being torn down has no counter left.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

pub fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.try_with(std::cell::Cell::get).unwrap_or(0)
}

// Every call goes to `mimalloc::MiMalloc` unchanged, which honours the
// layout's alignment (its aligned entry points take mimalloc's fast path
// when a free block already has the alignment). An earlier shortcut called
// `mi_malloc` for alignments up to 16, but mimalloc only promises that for
// some size classes (a 24-byte block is 8-aligned), so it is gone.
//
// SAFETY: each method forwards its caller's contract to `MiMalloc`'s method
// of the same name; counting touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `MiMalloc`.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}
