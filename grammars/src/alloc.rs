//! tree-sitter's C allocations routed through the Rust global allocator.
//!
//! The binary installs a scrubbing global allocator; routing tree-sitter's `malloc`/`free`
//! through it means parse trees, lexer buffers and parse stacks — which hold or point
//! into submitted source — are zeroed when freed too. C's `free` gets no size, so each
//! block carries a 16-byte header holding it.
//!
//! The grammars' external scanners (`scanner.c` of TypeScript/TSX, JavaScript and Python;
//! Java has none) allocate with libc directly. They hold scanner state — Python's
//! indentation stack and delimiter stack, template-string and JSX nesting flags — as small
//! integer arrays serialised into tree-sitter's state, never source text.
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::ffi::c_void;

const HEADER: usize = 16;

fn c_layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

unsafe extern "C" fn ts_malloc(size: usize) -> *mut c_void {
    let Some(layout) = c_layout(size) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a fresh block of `size + HEADER` bytes; the size goes in its header.
    unsafe {
        let block = std::alloc::alloc(layout);
        if block.is_null() {
            return std::ptr::null_mut();
        }
        block.cast::<usize>().write(size);
        block.add(HEADER).cast()
    }
}

unsafe extern "C" fn ts_calloc(count: usize, size: usize) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else {
        return std::ptr::null_mut();
    };
    let Some(layout) = c_layout(total) else {
        return std::ptr::null_mut();
    };
    // SAFETY: as in `ts_malloc`, zeroed.
    unsafe {
        let block = std::alloc::alloc_zeroed(layout);
        if block.is_null() {
            return std::ptr::null_mut();
        }
        block.cast::<usize>().write(total);
        block.add(HEADER).cast()
    }
}

unsafe extern "C" fn ts_free(ptr: *mut c_void) {
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

unsafe extern "C" fn ts_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
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

/// Routes tree-sitter's allocations through the Rust global allocator (and so through
/// scrubbing). Call once at start, before anything is parsed.
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
    use super::*;

    #[test]
    fn blocks_round_trip_with_their_size() {
        unsafe {
            let p = ts_calloc(4, 8).cast::<u8>();
            assert!(!p.is_null());
            assert!((0..32).all(|i| *p.add(i) == 0));
            std::ptr::write_bytes(p, 7, 32);
            let q = ts_realloc(p.cast(), 1000).cast::<u8>();
            assert_eq!(*q.add(31), 7);
            ts_free(q.cast());
            ts_free(std::ptr::null_mut());
            let fresh = ts_realloc(std::ptr::null_mut(), 8);
            assert!(!fresh.is_null());
            ts_free(fresh);
        }
    }
}
