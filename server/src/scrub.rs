//! Memory that is scrubbed when freed.
//!
//! Submitted source must not outlive its request in memory. Dropping a `String` only hands
//! its bytes back to the allocator, which keeps them until the block is reused. So every
//! heap block is zeroed before it is released: on `dealloc`, on a moving `realloc` (the old
//! block) and on a shrinking one (the released tail). A `realloc` that fits in the block the
//! inner allocator already gave (its usable size, [`UsableSize`]) stays where it is; any
//! other is allocate, copy, scrub, free, because the inner allocator's own `realloc` may move
//! a block and release the old one unscrubbed. tree-sitter's C allocations (trees, lexer
//! buffers, parse stacks) are on a heap of their own, scrubbed the same way
//! ([`volatile_grammars::alloc::route_tree_sitter_to_own_heap`]).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use volatile_grammars::scrub::scrub;

/// An allocator that can say how many bytes a block it returned really has, so that a
/// `realloc` within them needs neither a move nor a copy.
pub trait UsableSize: GlobalAlloc {
    /// The usable size of `ptr`, a live block allocated with `layout`; `None` when unknown.
    ///
    /// # Safety
    /// `ptr` must be a live block returned by this allocator for `layout`.
    unsafe fn usable_size(&self, ptr: *mut u8, layout: Layout) -> Option<usize>;
}

impl UsableSize for System {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe fn usable_size(&self, ptr: *mut u8, _layout: Layout) -> Option<usize> {
        // `System` allocates with `malloc`, `calloc` or `posix_memalign` on glibc; all of
        // them answer `malloc_usable_size`.
        // SAFETY: `ptr` is a live block of the C allocator (the caller's contract).
        Some(unsafe { libc::malloc_usable_size(ptr.cast()) })
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    unsafe fn usable_size(&self, _ptr: *mut u8, _layout: Layout) -> Option<usize> {
        None
    }
}

/// The free memory at the top of a heap that glibc keeps rather than hands back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 20;

/// Blocks from this size up get a mapping of their own, unmapped when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Has the C allocator hand freed memory back to the system as it goes, not keep it for
/// later. glibc's default threshold for returning the free top of a heap starts at
/// 128 KiB but rises with every large block freed (to twice its size, up to 64 MiB), and
/// a scan frees a large syntax tree per file: heaps then keep the high-water mark of
/// every thread. A fixed threshold turns that adjustment off; on the Java corpus it took
/// a scan's peak from 63 to 55 MB at no measurable cost in time (`benches/README.md`).
///
/// Fixing it also fixes the size from which a block gets a mapping of its own, which
/// glibc would otherwise raise the same way, at its default of 128 KiB: every larger
/// block (regex compilation's, a file's flat tree) was then mapped, faulted in page by
/// page and unmapped again, which tripled the system time of compiling 1,000 rules. At
/// 1 MiB that cost is down by a third; higher thresholds cut it further but keep more
/// freed memory in the heaps (at 32 MiB the Python example scan peaked at 94 MB, against
/// 79 MB at 1 MiB and 76 MB at 128 KiB). Large flat trees keep their own mappings, whose
/// pages are resident only as they are written.
///
/// Call once at start; elsewhere than glibc it does nothing.
pub fn return_freed_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets tuning parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

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

// SAFETY: every method forwards to the inner allocator with the same layouts it was given
// (or that it returned), and only writes inside blocks it still owns. An in-place `realloc`
// returns the same block only when its usable size, as the inner allocator reports it,
// holds the new size.
unsafe impl<A: UsableSize> GlobalAlloc for ScrubbingAllocator<A> {
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
        // SAFETY: `ptr` is live for `layout` (the caller's contract).
        let usable = unsafe { self.inner.usable_size(ptr, layout) };
        if usable.is_some_and(|usable| new_size <= usable) {
            if new_size < old_size {
                // SAFETY: the tail is inside the block, which stays ours; it is released
                // from the caller's view, so it is scrubbed now (a later `dealloc` only
                // knows `new_size`).
                unsafe { scrub(ptr.add(new_size), old_size - new_size) };
            }
            return ptr;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: realloc by copy; both blocks are live during the copy, and the old one is
        // scrubbed before it is released.
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

    impl UsableSize for Recording {
        unsafe fn usable_size(&self, ptr: *mut u8, layout: Layout) -> Option<usize> {
            unsafe { System.usable_size(ptr, layout) }
        }
    }

    fn layout(size: usize) -> Layout {
        let Ok(layout) = Layout::from_size_align(size, 8) else {
            panic!("layout of {size} bytes")
        };
        layout
    }

    fn recording() -> ScrubbingAllocator<Recording> {
        ScrubbingAllocator::new(Recording {
            released_dirty: Mutex::new(Vec::new()),
        })
    }

    fn dirty_releases(a: &ScrubbingAllocator<Recording>) -> Vec<usize> {
        a.inner
            .released_dirty
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    #[test]
    fn blocks_are_zero_when_released_by_dealloc_and_moving_realloc() {
        let a = recording();
        unsafe {
            let p = a.alloc(layout(64));
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xAB, 64);
            // Grow past the usable size: the block moves, the old one is released scrubbed.
            let q = a.realloc(p, layout(64), 4096);
            assert!(!q.is_null());
            assert_eq!(*q.add(63), 0xAB, "contents are kept");
            std::ptr::write_bytes(q, 0xCD, 4096);
            a.dealloc(q, layout(4096));
        }
        let dirty = dirty_releases(&a);
        assert!(
            dirty.is_empty(),
            "blocks released with data in them: {dirty:?}"
        );
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn an_in_place_shrink_scrubs_the_released_tail() {
        let a = recording();
        unsafe {
            let p = a.alloc(layout(256));
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 0xEF, 256);
            let q = a.realloc(p, layout(256), 40);
            assert_eq!(q, p, "a shrink stays in its block");
            assert_eq!(*q.add(39), 0xEF, "the kept prefix is intact");
            let tail = std::slice::from_raw_parts(q.add(40), 256 - 40);
            assert!(tail.iter().all(|&b| b == 0), "the released tail is zeroed");
            // Grow back within the usable size: no move, no copy.
            let usable = a.inner.usable_size(q, layout(40)).unwrap_or(0);
            assert!(usable >= 256, "glibc keeps the block's size: {usable}");
            let r = a.realloc(q, layout(40), 200);
            assert_eq!(r, q, "a grow within the usable size stays in its block");
            std::ptr::write_bytes(r, 0x11, 200);
            a.dealloc(r, layout(200));
        }
        let dirty = dirty_releases(&a);
        assert!(
            dirty.is_empty(),
            "blocks released with data in them: {dirty:?}"
        );
    }
}
