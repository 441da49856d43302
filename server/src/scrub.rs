//! Memory that is scrubbed when freed.
//!
//! Submitted source must not outlive its request in memory. Dropping a `String` only hands
//! its bytes back to the allocator, which keeps them until the block is reused. So every
//! heap block is zeroed before it is released: on `dealloc`, on a moving `realloc` (the old
//! block) and on a shrinking one (the released tail): a `realloc` is always allocate,
//! copy, scrub, free, so no block is ever released unscrubbed. tree-sitter's C allocations
//! (trees, lexer buffers, parse stacks) reach the same allocator through
//! [`volatile_grammars::alloc::route_tree_sitter_to_global_allocator`].
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// A [`GlobalAlloc`] that zeroes every block it releases, around an inner allocator.
pub struct ScrubbingAllocator<A = System> {
    inner: A,
}

impl ScrubbingAllocator<System> {
    /// Scrubbing around the system allocator.
    pub const fn system() -> Self {
        ScrubbingAllocator { inner: System }
    }
}

impl<A> ScrubbingAllocator<A> {
    /// Scrubbing around `inner`.
    pub const fn new(inner: A) -> Self {
        ScrubbingAllocator { inner }
    }
}

/// Zeroes `len` bytes at `ptr` in a way the optimiser may not remove.
///
/// # Safety
/// `ptr..ptr+len` must be writable memory this code owns.
unsafe fn scrub(ptr: *mut u8, len: usize) {
    // SAFETY: the caller owns the range; volatile writes are not elided even though the
    // memory is about to be freed.
    unsafe {
        for i in 0..len / 8 {
            std::ptr::write_volatile(ptr.cast::<u64>().add(i), 0);
        }
        for i in (len / 8) * 8..len {
            std::ptr::write_volatile(ptr.add(i), 0);
        }
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

// SAFETY: every method forwards to the inner allocator with the same layouts it was given
// (or that it returned), and only writes inside blocks it still owns.
unsafe impl<A: GlobalAlloc> GlobalAlloc for ScrubbingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes until the dealloc below.
        unsafe {
            scrub(ptr, layout.size());
            self.inner.dealloc(ptr, layout);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        // Never let the inner allocator move a block without scrubbing the old one:
        // allocate, copy, scrub, free.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: standard realloc-by-copy; both blocks are live during the copy.
        unsafe {
            let new = self.inner.alloc(new_layout);
            if new.is_null() {
                return new;
            }
            std::ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
            scrub(ptr, old_size);
            self.inner.dealloc(ptr, layout);
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An inner allocator that records whether each block was all zeros when released.
    struct Recording {
        released_dirty: Mutex<Vec<usize>>,
    }

    unsafe impl GlobalAlloc for Recording {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if bytes.iter().any(|&b| b != 0)
                && let Ok(mut dirty) = self.released_dirty.lock()
            {
                dirty.push(layout.size());
            }
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[test]
    fn blocks_are_zero_when_released_by_dealloc_and_realloc() {
        let a = ScrubbingAllocator::new(Recording {
            released_dirty: Mutex::new(Vec::new()),
        });
        let Ok(layout) = Layout::from_size_align(64, 8) else {
            panic!("layout")
        };
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xAB, 64);
            // Grow (moves): the old block must be released scrubbed.
            let q = a.realloc(p, layout, 4096);
            assert!(!q.is_null());
            assert_eq!(*q.add(63), 0xAB, "contents are kept");
            let Ok(big) = Layout::from_size_align(4096, 8) else {
                panic!("layout")
            };
            std::ptr::write_bytes(q, 0xCD, 4096);
            // Shrink: the tail and the old block are scrubbed.
            let r = a.realloc(q, big, 16);
            assert_eq!(*r.add(15), 0xCD);
            let Ok(small) = Layout::from_size_align(16, 8) else {
                panic!("layout")
            };
            a.dealloc(r, small);
        }
        let dirty = a
            .inner
            .released_dirty
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        assert!(
            dirty.is_empty(),
            "blocks released with data in them: {dirty:?}"
        );
    }
}
