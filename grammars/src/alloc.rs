//! Where tree-sitter's C allocations go.
//!
//! tree-sitter makes about one heap block per syntax node and frees them all again with the
//! tree: a parse is, in good part, `malloc` and `free`. The binary gives it a heap of its
//! own, [mimalloc](https://github.com/microsoft/mimalloc), whose thread-local free lists
//! serve that pattern with a fraction of glibc's work (glibc's `malloc`, `free` and
//! `malloc_consolidate` were 10% of a TypeScript scan's samples): see
//! [`route_tree_sitter_to_own_heap`]. Every block is zeroed before it goes back, as the
//! binary's scrubbing global allocator does for Rust's blocks: parse trees, lexer buffers
//! and parse stacks hold or point into submitted source.
//!
//! [`route_tree_sitter_to_global_allocator`] sends them through the Rust global allocator
//! instead, for a process that must see every block (the engine's tests count them). C's
//! `free` gets no size:
//!
//! - on glibc, the block's size is asked of the C library (`malloc_usable_size`), and the
//!   whole usable block is handed to `dealloc`. This needs a global allocator that takes,
//!   for a block, any size from the one requested to the usable size, as the system
//!   allocator does there (it calls `free`, which ignores the size) and the scrubbing
//!   allocator around it does (it scrubs the size it is given, and asks the same usable
//!   size before growing a block in place). This saves a header on each block: 15% of a
//!   tree's memory;
//! - elsewhere each block carries a 16-byte header holding its size.
//!
//! The grammars' external scanners (`scanner.c` of TypeScript/TSX, JavaScript and Python;
//! Java has none) allocate with libc directly. They hold scanner state — Python's
//! indentation stack and delimiter stack, template-string and JSX nesting flags — as small
//! integer arrays serialised into tree-sitter's state, never source text.
#![allow(unsafe_code)]

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
use headed::{ts_calloc, ts_free, ts_malloc, ts_realloc};
#[cfg(all(target_os = "linux", target_env = "gnu"))]
use sized_by_libc::{ts_calloc, ts_free, ts_malloc, ts_realloc};

/// Blocks whose size the C library knows (glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sized_by_libc {
    use std::alloc::Layout;
    use std::ffi::c_void;

    /// `malloc`'s alignment is 16 on the 64-bit targets; asking for 8 keeps the system
    /// allocator on plain `malloc` (it uses `posix_memalign` when the alignment exceeds the
    /// size), whose blocks `malloc_usable_size` and `free` accept.
    const ALIGN: usize = 8;

    fn layout(size: usize) -> Option<Layout> {
        Layout::from_size_align(size.max(ALIGN), ALIGN).ok()
    }

    /// The usable size of a live block of `ts_malloc`, `ts_calloc` or `ts_realloc`.
    unsafe fn usable(ptr: *mut c_void) -> usize {
        // SAFETY: `ptr` is a live `malloc` block (the caller's contract).
        unsafe { libc::malloc_usable_size(ptr) }
    }

    pub(super) unsafe extern "C" fn ts_malloc(size: usize) -> *mut c_void {
        let Some(layout) = layout(size) else {
            return std::ptr::null_mut();
        };
        // SAFETY: a non-zero size.
        unsafe { std::alloc::alloc(layout).cast() }
    }

    pub(super) unsafe extern "C" fn ts_calloc(count: usize, size: usize) -> *mut c_void {
        let Some(layout) = count.checked_mul(size).and_then(layout) else {
            return std::ptr::null_mut();
        };
        // SAFETY: a non-zero size.
        unsafe { std::alloc::alloc_zeroed(layout).cast() }
    }

    pub(super) unsafe extern "C" fn ts_free(ptr: *mut c_void) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: `ptr` is a live block of these functions, so of `malloc`; its usable
        // size is within what the global allocator accepts (see the module's
        // documentation), and the scrubbing allocator zeroes all of it.
        unsafe {
            if let Some(layout) = layout(usable(ptr)) {
                std::alloc::dealloc(ptr.cast(), layout);
            }
        }
    }

    pub(super) unsafe extern "C" fn ts_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        if ptr.is_null() {
            // SAFETY: realloc(NULL, n) is malloc(n).
            return unsafe { ts_malloc(size) };
        }
        // SAFETY: as in `ts_free`; the global allocator's `realloc` keeps the prefix and
        // (when scrubbing) zeroes whatever it releases.
        unsafe {
            let Some(old) = layout(usable(ptr)) else {
                return std::ptr::null_mut();
            };
            std::alloc::realloc(ptr.cast(), old, size.max(ALIGN)).cast()
        }
    }
}

/// Blocks that carry their size in a header.
#[cfg_attr(all(target_os = "linux", target_env = "gnu"), allow(dead_code))]
mod headed {
    use std::alloc::Layout;
    use std::ffi::c_void;

    const HEADER: usize = 16;

    fn c_layout(size: usize) -> Option<Layout> {
        Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
    }

    /// A block of `size` bytes after a header holding `size`, zeroed when `zeroed`.
    fn allocate(size: usize, zeroed: bool) -> *mut c_void {
        let Some(layout) = c_layout(size) else {
            return std::ptr::null_mut();
        };
        // SAFETY: a fresh block of `size + HEADER` (non-zero) bytes; the size goes in its
        // header, which is aligned for a `usize`.
        unsafe {
            let block = if zeroed {
                std::alloc::alloc_zeroed(layout)
            } else {
                std::alloc::alloc(layout)
            };
            if block.is_null() {
                return std::ptr::null_mut();
            }
            block.cast::<usize>().write(size);
            block.add(HEADER).cast()
        }
    }

    pub(super) unsafe extern "C" fn ts_malloc(size: usize) -> *mut c_void {
        allocate(size, false)
    }

    pub(super) unsafe extern "C" fn ts_calloc(count: usize, size: usize) -> *mut c_void {
        match count.checked_mul(size) {
            Some(total) => allocate(total, true),
            None => std::ptr::null_mut(),
        }
    }

    pub(super) unsafe extern "C" fn ts_free(ptr: *mut c_void) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: `ptr` came from `ts_malloc`/`ts_calloc`/`ts_realloc`, so its header holds
        // the size it was allocated with; dealloc (through the global scrubbing allocator)
        // zeroes the whole block.
        unsafe {
            let block = ptr.cast::<u8>().sub(HEADER);
            let size = block.cast::<usize>().read();
            if let Some(layout) = c_layout(size) {
                std::alloc::dealloc(block, layout);
            }
        }
    }

    pub(super) unsafe extern "C" fn ts_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        if ptr.is_null() {
            // SAFETY: realloc(NULL, n) is malloc(n).
            return unsafe { ts_malloc(size) };
        }
        let Some(new_layout) = c_layout(size) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `ptr` came from one of these functions, so its header holds the size it was
        // allocated with and the block starts `HEADER` bytes before it. The global allocator's
        // `realloc` keeps the prefix (and, when scrubbing, zeroes whatever it releases); the
        // header is rewritten with the new size.
        unsafe {
            let block = ptr.cast::<u8>().sub(HEADER);
            let old_size = block.cast::<usize>().read();
            let Some(old_layout) = c_layout(old_size) else {
                return std::ptr::null_mut();
            };
            let moved = std::alloc::realloc(block, old_layout, new_layout.size());
            if moved.is_null() {
                return std::ptr::null_mut();
            }
            moved.cast::<usize>().write(size);
            moved.add(HEADER).cast()
        }
    }
}

/// Has both heaps hand the free memory they hold back to the system now: tree-sitter's own
/// (mimalloc purges its free pages at once, whatever their delay) and the C library's
/// (glibc's `malloc_trim`: whole free pages anywhere in its heaps, not only at their tops;
/// nothing elsewhere). For freeing a large tree piece by piece while its copy grows (see
/// the engine's flat tree), which would otherwise leave the freed pages resident.
pub extern "C" fn release_free_memory() {
    // SAFETY: collects this thread's mimalloc heap and purges the free pages of every
    // arena (`force`); takes no pointer.
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory; it takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What becomes of a tree-sitter block's bytes when it is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// Zeroed first: submitted source does not linger in freed memory.
    Scrubbed,
    /// Left as they are (only to measure what scrubbing costs).
    AsIs,
}

/// Gives tree-sitter's allocations a mimalloc heap of their own, its blocks zeroed when
/// freed unless `freed` says otherwise. Call once at start, before anything is parsed.
///
/// mimalloc is tuned for a scanner's footprint: pages are committed when first used,
/// transparent huge pages are not asked for, and free pages wait a second before they are
/// handed back (`purge_delay`), so that the next file's parse finds them still mapped;
/// a large tree's pages are handed back at once as its copy frees them
/// ([`release_free_memory`]). With mimalloc's defaults a scan of the Java corpus peaked at
/// 69 MB, with these at 43 MB (`benches/README.md`).
pub fn route_tree_sitter_to_own_heap(freed: Freed) {
    own_heap::tune();
    let allocator = match freed {
        Freed::Scrubbed => tree_sitter::Allocator {
            malloc: own_heap::ts_malloc,
            calloc: own_heap::ts_calloc,
            realloc: own_heap::ts_realloc_scrubbed,
            free: own_heap::ts_free_scrubbed,
        },
        Freed::AsIs => tree_sitter::Allocator {
            malloc: own_heap::ts_malloc,
            calloc: own_heap::ts_calloc,
            realloc: own_heap::ts_realloc,
            free: own_heap::ts_free,
        },
    };
    // SAFETY: called before any tree-sitter object exists, so no block of another
    // allocator is ever freed by these functions.
    unsafe { tree_sitter::set_allocator(Some(allocator)) };
}

/// tree-sitter's blocks on a mimalloc heap.
mod own_heap {
    use std::ffi::c_void;

    use libmimalloc_sys as mi;

    use crate::scrub::scrub;

    // mimalloc's option numbers (`mi_option_t` of the mimalloc 3 bundled by
    // `libmimalloc-sys` 0.1.49, whose version is pinned); the test `options_are_the_named_ones`
    // holds them to their documented defaults.
    pub(super) const PURGE_DELAY: mi::mi_option_t = 15;
    pub(super) const PAGE_COMMIT_ON_DEMAND: mi::mi_option_t = 40;
    pub(super) const ALLOW_THP: mi::mi_option_t = 43;

    pub(super) fn tune() {
        // SAFETY: sets options; called before the heap serves any block.
        unsafe {
            // mimalloc's default, set so that another default does not change it unseen.
            mi::mi_option_set(PURGE_DELAY, 1000);
            mi::mi_option_set(PAGE_COMMIT_ON_DEMAND, 1);
            mi::mi_option_set(ALLOW_THP, 0);
        }
    }

    pub(super) unsafe extern "C" fn ts_malloc(size: usize) -> *mut c_void {
        // SAFETY: any size; null when out of memory, as tree-sitter expects.
        unsafe { mi::mi_malloc(size) }
    }

    pub(super) unsafe extern "C" fn ts_calloc(count: usize, size: usize) -> *mut c_void {
        // SAFETY: mimalloc checks `count * size` for overflow.
        unsafe { mi::mi_calloc(count, size) }
    }

    pub(super) unsafe extern "C" fn ts_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: `ptr` is null or a live block of this heap (tree-sitter's contract).
        unsafe { mi::mi_realloc(ptr, size) }
    }

    pub(super) unsafe extern "C" fn ts_free(ptr: *mut c_void) {
        // SAFETY: as in `ts_realloc`; `mi_free` takes null.
        unsafe { mi::mi_free(ptr) }
    }

    /// Zeroes the whole usable block (all tree-sitter may have written), then frees it.
    pub(super) unsafe extern "C" fn ts_free_scrubbed(ptr: *mut c_void) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: a live block of this heap, owned by the caller until freed here.
        unsafe {
            scrub(ptr.cast(), mi::mi_usable_size(ptr));
            mi::mi_free(ptr);
        }
    }

    /// A block that already holds `size` stays where it is (a shrunk tail is zeroed when
    /// the block is freed, which zeroes its usable size); any other is allocated anew,
    /// copied, and the old one zeroed and freed: mimalloc's own `realloc` would free it
    /// unzeroed.
    pub(super) unsafe extern "C" fn ts_realloc_scrubbed(
        ptr: *mut c_void,
        size: usize,
    ) -> *mut c_void {
        if ptr.is_null() {
            // SAFETY: realloc(NULL, n) is malloc(n).
            return unsafe { ts_malloc(size) };
        }
        // SAFETY: `ptr` is a live block of this heap; the copy reads its usable bytes,
        // which fit the new block (it is larger), and the old block is released once.
        unsafe {
            let usable = mi::mi_usable_size(ptr);
            if size <= usable {
                return ptr;
            }
            let moved = mi::mi_malloc(size);
            if moved.is_null() {
                return moved;
            }
            std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), moved.cast::<u8>(), usable);
            ts_free_scrubbed(ptr);
            moved
        }
    }
}

/// Routes tree-sitter's allocations through the Rust global allocator (and so through
/// whatever it does when a block is freed). Call once at start, before anything is parsed.
pub fn route_tree_sitter_to_global_allocator() {
    // SAFETY: called before any tree-sitter object exists, so no block allocated by libc
    // is ever freed by `ts_free`.
    unsafe {
        tree_sitter::set_allocator(Some(tree_sitter::Allocator {
            malloc: ts_malloc,
            calloc: ts_calloc,
            realloc: ts_realloc,
            free: ts_free,
        }))
    };
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;
    use std::ffi::c_void;

    /// The system allocator, recording the size each block is released with on this
    /// thread (what a scrubbing allocator would zero).
    struct Recording;

    thread_local! {
        static RELEASED: Cell<usize> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Recording {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _ = RELEASED.try_with(|r| r.set(layout.size()));
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static RECORDING: Recording = Recording;

    type Fns = (
        unsafe extern "C" fn(usize) -> *mut c_void,
        unsafe extern "C" fn(usize, usize) -> *mut c_void,
        unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
        unsafe extern "C" fn(*mut c_void),
    );

    fn round_trip((malloc, calloc, realloc, free): Fns) {
        unsafe {
            let p = calloc(4, 8).cast::<u8>();
            assert!(!p.is_null());
            assert_eq!(p as usize % 16, 0, "C alignment");
            assert!((0..32).all(|i| *p.add(i) == 0));
            std::ptr::write_bytes(p, 7, 32);
            let q = realloc(p.cast(), 1000).cast::<u8>();
            assert!((0..32).all(|i| *q.add(i) == 7));
            std::ptr::write_bytes(q, 7, 1000);
            let r = realloc(q.cast(), 10).cast::<u8>();
            assert!((0..10).all(|i| *r.add(i) == 7));
            free(r.cast());
            free(std::ptr::null_mut());
            let fresh = realloc(std::ptr::null_mut(), 8);
            assert!(!fresh.is_null());
            free(fresh);
            let zero = malloc(0);
            assert!(!zero.is_null());
            free(zero);
        }
    }

    #[test]
    fn blocks_round_trip_with_their_size() {
        round_trip((
            super::ts_malloc,
            super::ts_calloc,
            super::ts_realloc,
            super::ts_free,
        ));
        use super::headed as h;
        round_trip((h::ts_malloc, h::ts_calloc, h::ts_realloc, h::ts_free));
    }

    #[test]
    fn own_heap_blocks_round_trip() {
        use super::own_heap as o;
        round_trip((o::ts_malloc, o::ts_calloc, o::ts_realloc, o::ts_free));
        round_trip((
            o::ts_malloc,
            o::ts_calloc,
            o::ts_realloc_scrubbed,
            o::ts_free_scrubbed,
        ));
    }

    /// Growing within the usable block keeps it in place; growing past it moves the bytes.
    #[test]
    fn own_heap_scrubbed_realloc_keeps_what_fits_in_place() {
        use super::own_heap as o;
        unsafe {
            let p = o::ts_malloc(20);
            let usable = libmimalloc_sys::mi_usable_size(p);
            std::ptr::write_bytes(p.cast::<u8>(), 9, usable);
            assert_eq!(o::ts_realloc_scrubbed(p, usable), p);
            let q = o::ts_realloc_scrubbed(p, usable + 1).cast::<u8>();
            assert!((0..usable).all(|i| *q.add(i) == 9));
            o::ts_free_scrubbed(q.cast());
        }
    }

    /// The option numbers are the ones their names say: each has its documented default
    /// until `tune` sets it. A mimalloc whose options were renumbered fails here.
    #[test]
    fn options_are_the_named_ones() {
        use super::own_heap as o;
        use libmimalloc_sys::mi_option_get;
        let get = |option| unsafe { mi_option_get(option) };
        let environment = std::env::vars().any(|(k, _)| k.starts_with("MIMALLOC_"));
        if !environment {
            assert_eq!(get(o::PURGE_DELAY), 1000, "purge_delay");
            assert_eq!(get(o::PAGE_COMMIT_ON_DEMAND), 0, "page_commit_on_demand");
            assert_eq!(get(o::ALLOW_THP), 1, "allow_thp");
        }
        o::tune();
        assert_eq!(get(o::PURGE_DELAY), 1000);
        assert_eq!(get(o::PAGE_COMMIT_ON_DEMAND), 1);
        assert_eq!(get(o::ALLOW_THP), 0);
    }

    /// Resident memory of this process, from `/proc/self/statm`.
    #[cfg(target_os = "linux")]
    fn resident_bytes() -> usize {
        let statm = match std::fs::read_to_string("/proc/self/statm") {
            Ok(statm) => statm,
            Err(e) => panic!("/proc/self/statm: {e}"),
        };
        let Some(Ok(pages)) = statm.split_whitespace().nth(1).map(str::parse::<usize>) else {
            panic!("/proc/self/statm: {statm}")
        };
        // SAFETY: sysconf takes no pointer.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        pages * page
    }

    /// Free pages wait a second before mimalloc purges them, but `release_free_memory`
    /// hands them back at once: what a large tree's consuming copy relies on.
    #[cfg(target_os = "linux")]
    #[test]
    fn release_hands_free_pages_back_at_once() {
        use super::own_heap as o;
        const BLOCK: usize = 16 << 10;
        const TOTAL: usize = 96 << 20;
        o::tune();
        unsafe {
            let blocks: Vec<*mut c_void> = (0..TOTAL / BLOCK)
                .map(|_| {
                    let p = o::ts_malloc(BLOCK);
                    assert!(!p.is_null());
                    std::ptr::write_bytes(p.cast::<u8>(), 1, BLOCK);
                    p
                })
                .collect();
            let touched = resident_bytes();
            for p in blocks {
                o::ts_free_scrubbed(p);
            }
            super::release_free_memory();
            let released = resident_bytes();
            assert!(
                released + (64 << 20) <= touched,
                "resident {touched} bytes with the blocks, {released} after release"
            );
        }
    }

    /// A block is released whole, so a scrubbing allocator zeroes every byte tree-sitter
    /// could have written.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn blocks_are_released_with_their_usable_size() {
        for size in [1, 24, 100, 5000, 1 << 20] {
            unsafe {
                let p = super::ts_malloc(size);
                let usable = libc::malloc_usable_size(p);
                assert!(usable >= size);
                super::ts_free(p);
                assert_eq!(RELEASED.with(Cell::get), usable, "{size}");
            }
        }
    }
}
