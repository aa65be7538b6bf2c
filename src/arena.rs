//! The allocator: a bump arena in front of the system allocator.
//!
//! A probe makes about sixty small allocations and exits. musl's allocator
//! spends ~500 instructions on each malloc/free pair, a third of a whole
//! probe; bumping a pointer costs a few. The arena lives in .bss (no bytes on
//! disk, only touched pages in memory). Freeing the newest block rolls the
//! pointer back; other frees are dropped. When the arena is full (a long
//! `--wait`), allocations go to the system allocator, so memory stays bounded
//! by the arena plus what the system allocator holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

const SIZE: usize = 128 * 1024;

/// Aligned as malloc's blocks are, and no more: page alignment put `used`
/// alone in the page after the arena (two faults, read then written).
#[repr(C, align(16))]
struct Space(UnsafeCell<[u8; SIZE]>);

/// `used` first, so that it shares a page with the arena's first blocks.
#[repr(C)]
pub struct Arena {
    /// Bytes of the arena handed out, from its start.
    used: AtomicUsize,
    space: Space,
}

// SAFETY: `used` is only advanced or rolled back atomically, so no two callers
// are handed overlapping bytes.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Arena {
        Arena { used: AtomicUsize::new(0), space: Space(UnsafeCell::new([0; SIZE])) }
    }

    fn base(&self) -> usize {
        self.space.0.get() as usize
    }

    fn owns(&self, p: *mut u8) -> bool {
        (self.base()..self.base() + SIZE).contains(&(p as usize))
    }

    /// Moves the end of the arena from `from` to `to` (offsets), if nobody
    /// else moved it first.
    fn bump(&self, from: usize, to: usize) -> bool {
        self.used.compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

// SAFETY: every block handed out lies inside `space`, is aligned as asked,
// and is never handed out again while it is live: the end of the arena only
// moves back over the newest block, when that block is freed or shrinks.
// Blocks the arena cannot hold come from, and go back to, the system allocator.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.base();
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let start = (base + used).next_multiple_of(layout.align()) - base;
            let end = start + layout.size();
            if end > SIZE {
                // SAFETY: forwarded with the caller's layout.
                return unsafe { System.alloc(layout) };
            }
            match self.used.compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return (base + start) as *mut u8,
                Err(now) => used = now,
            }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if self.owns(p) {
            let start = p as usize - self.base();
            self.bump(start + layout.size(), start);
        } else {
            // SAFETY: not ours, so the system allocator's.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(p) {
            // SAFETY: not ours, so the system allocator's.
            return unsafe { System.realloc(p, layout, new_size) };
        }
        let start = p as usize - self.base();
        // The newest block grows or shrinks in place.
        if start + new_size <= SIZE && self.bump(start + layout.size(), start + new_size) {
            return p;
        }
        if new_size <= layout.size() {
            return p;
        }
        // SAFETY: a valid layout (same alignment, size checked by the caller).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: new_layout is valid and non-zero-sized (new_size > layout.size()).
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both blocks hold at least layout.size() bytes and do not overlap.
            unsafe { ptr::copy_nonoverlapping(p, q, layout.size()) };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_rollback_growth_and_overflow() {
        let a = Box::leak(Box::new(Arena::new()));
        // SAFETY: every pointer passed back is one this arena handed out, with
        // the layout it was allocated with; reads stay inside each block.
        unsafe {
            let l8 = Layout::from_size_align(8, 8).unwrap();
            let p = a.alloc(l8);
            assert!(a.owns(p) && p as usize % 8 == 0);
            let q = a.alloc(Layout::from_size_align(3, 1).unwrap());
            assert_eq!(q as usize, p as usize + 8);
            // The newest block grows in place; an older one moves, keeping its bytes.
            assert_eq!(a.realloc(q, Layout::from_size_align(3, 1).unwrap(), 100), q);
            p.write_bytes(7, 8);
            let p2 = a.realloc(p, l8, 64);
            assert!(p2 != p && *p2.add(7) == 7);
            // Freeing the newest block gives its bytes back.
            let used = a.used.load(Ordering::Relaxed);
            a.dealloc(p2, Layout::from_size_align(64, 8).unwrap());
            assert!(a.used.load(Ordering::Relaxed) < used);
            // Past the arena, the system allocator takes over.
            let big = Layout::from_size_align(SIZE, 16).unwrap();
            let s = a.alloc(big);
            assert!(!s.is_null() && !a.owns(s));
            s.write_bytes(1, SIZE);
            a.dealloc(s, big);
            let aligned = a.alloc(Layout::from_size_align(16, 4096).unwrap());
            assert_eq!(aligned as usize % 4096, 0);
        }
    }
}
