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

/// Alignments `mi_malloc` gives without being asked, for blocks at least
/// that large: mimalloc's `MI_MAX_ALIGN_SIZE`.
const MI_MAX_ALIGN: usize = 16;

/// Whether `mi_malloc(size)` is already aligned to `align`. This is
/// mimalloc's own rule (`mi_malloc_is_naturally_aligned` in
/// `alloc-aligned.c`, which its aligned entry points rely on): small blocks
/// come in multiples of 16 bytes on 64-bit targets and pages start aligned to
/// their block size, so any block is aligned to every power of two up to 16
/// that does not exceed its size. A block smaller than the alignment (an
/// 8-byte request aligned to 16) is not, and goes the aligned way.
fn naturally_aligned(size: usize, align: usize) -> bool {
    align <= MI_MAX_ALIGN && align <= size
}

// SAFETY: `alloc` and `realloc` call `mi_malloc`/`mi_realloc` only where
// `naturally_aligned` says the block meets the layout's alignment, and
// `MiMalloc` (mimalloc's aligned entry points) otherwise; every pointer comes
// from mimalloc, so `mi_free` frees any of them. Counting touches only a
// thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        if naturally_aligned(layout.size(), layout.align()) {
            // SAFETY: mimalloc aligns a block of this size to this alignment.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: every pointer this allocator returns came from mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        if naturally_aligned(new_size, layout.align()) {
            // SAFETY: `ptr` came from mimalloc; a block kept in place keeps
            // its alignment and a new one of `new_size` is naturally aligned.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to a few pages and every alignment the fast path takes
    /// (and a few it does not), fresh and grown, comes back aligned.
    #[test]
    fn every_block_meets_its_layouts_alignment() {
        let alloc = CountingAlloc;
        for align in [1, 2, 4, 8, 16, 32, 64] {
            for size in (1..=1024).chain((1025..=20_000).step_by(97)) {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: non-zero size; freed below with the same layout.
                let p = unsafe { alloc.alloc(layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "alloc size {size} align {align}");
                // SAFETY: `p` is live with `layout`; the new size is non-zero.
                let q = unsafe { alloc.realloc(p, layout, size * 3 + 5) };
                assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                let grown = Layout::from_size_align(size * 3 + 5, align).expect("layout");
                // SAFETY: `q` is live with `grown`.
                unsafe { alloc.dealloc(q, grown) };
            }
        }
    }
}
