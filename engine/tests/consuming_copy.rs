//! The flat copy that frees tree-sitter's tree as it goes
//! ([`SyntaxTree::from_ts_consuming`]): every byte of the tree is freed, and a large file's
//! two trees are never whole in memory at once, and a visitor's panic leaks nothing.
//!
//! One test in its own binary: it counts the bytes of a global allocator and reads the
//! process's peak resident memory, which other tests running beside it would disturb.
//! tree-sitter's allocations are routed through that allocator, as the binary routes them
//! through its scrubbing one; glibc only (`malloc_usable_size`, `malloc_trim`).
#![cfg(all(target_os = "linux", target_env = "gnu"))]
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use volatile_engine::tree::{SyntaxTree, parse_ts};
use volatile_grammars::Lang;
use volatile_grammars::alloc::{release_free_memory, route_tree_sitter_to_global_allocator};

/// The system allocator, counting the usable bytes of the live blocks.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

fn usable(ptr: *mut u8) -> usize {
    // SAFETY: `ptr` is a live block of `System`, which allocates with the C allocator.
    unsafe { libc::malloc_usable_size(ptr.cast()) }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(usable(ptr), Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(usable(ptr), Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(usable(ptr), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = usable(ptr);
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_sub(before, Ordering::SeqCst);
            LIVE.fetch_add(usable(moved), Ordering::SeqCst);
        }
        moved
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field));
    let value = line.and_then(|l| l.split_whitespace().nth(1));
    match value.and_then(|v| v.parse().ok()) {
        Some(kib) => kib,
        None => panic!("no {field} in /proc/self/status"),
    }
}

/// A megabyte of JavaScript: its tree takes about 70 MB, its flat copy about 17 MB.
fn large_source() -> String {
    let unit = "function f$(a, b) { if (a.x && b[0]) { return g(a, [1, 2, 3], {k: `t${b}`}); } \
                else { const c = a.map((v) => v * 2).filter(Boolean); return c.length; } }\n";
    (0..7_000)
        .map(|i| unit.replace('$', &i.to_string()))
        .collect()
}

#[test]
fn the_consuming_copy_frees_the_whole_tree_and_never_holds_both() {
    // SAFETY: before anything is parsed; `Counting` is `System` underneath, which takes
    // a block's usable size on release.
    route_tree_sitter_to_global_allocator();
    // As the binary sets it (`scrub::return_freed_memory_promptly`): large blocks get
    // their own mapping, so the flat copy's pages are only resident once written.
    // SAFETY: sets a tuning parameter.
    unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20) };
    let source = large_source();
    let lang = Lang::JavaScript;

    // A first parse and copy sizes the parser's own buffers, which outlive a parse.
    let reference = match parse_ts(lang, &source, None) {
        Ok(tree) => SyntaxTree::from_ts(lang, &source, &tree),
        Err(e) => panic!("parse: {e:?}"),
    };
    let flat_bytes = reference.len() * 24;
    release_free_memory();
    let before_parse = LIVE.load(Ordering::SeqCst);

    let Ok(tree) = parse_ts(lang, &source, None) else {
        panic!("parse")
    };
    let tree_bytes = LIVE.load(Ordering::SeqCst) - before_parse;
    assert!(
        tree_bytes > 2 * flat_bytes,
        "the tree ({tree_bytes} B) is the larger of the two ({flat_bytes} B)"
    );

    release_free_memory();
    let resident_before = status_kib("VmRSS:") * 1024;
    // Reset the peak resident size to the current one (Linux 4.0+).
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        panic!("cannot reset the peak resident size: {e}");
    }
    let copy = SyntaxTree::from_ts_consuming(lang, &source, tree, Some(release_free_memory));
    let peak_during = status_kib("VmHWM:") * 1024;
    let Some(copy) = copy else {
        panic!("the consuming copy disagreed with tree-sitter's count")
    };
    assert!(
        copy == reference,
        "the same tree as the copy that keeps the tree"
    );

    // Every byte of the tree is freed: only the flat copy remains.
    let after = LIVE.load(Ordering::SeqCst) - before_parse;
    assert!(
        after <= flat_bytes + 64 * 1024,
        "after the copy {after} B are live, the flat copy is {flat_bytes} B"
    );
    drop(copy);
    assert!(LIVE.load(Ordering::SeqCst) <= before_parse + 64 * 1024);

    // The copy grew while the tree shrank: the peak stayed well under both trees whole.
    let growth = peak_during.saturating_sub(resident_before);
    assert!(
        growth < flat_bytes / 2,
        "resident memory grew by {growth} B during the copy; the flat copy is {flat_bytes} B"
    );

    // A visitor's panic stops the visits, not the copy: the tree is still freed whole,
    // and the panic goes on once the copy has returned.
    let Ok(tree) = parse_ts(lang, &source, None) else {
        panic!("parse")
    };
    let wanted = vec![true; lang.ts_language().node_kind_count()];
    let mut visited = 0usize;
    // The default hook would print a backtrace, whose symbol tables stay in memory.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SyntaxTree::from_ts_consuming_visiting(
            lang,
            &source,
            tree,
            &wanted,
            &mut |_| {
                visited += 1;
                if visited == 1_000 {
                    panic!("the visitor gives up");
                }
            },
            None,
        )
        .map(|copy| copy.len())
    }));
    std::panic::set_hook(hook);
    assert!(outcome.is_err(), "the visitor's panic reaches the caller");
    drop(outcome);
    assert_eq!(visited, 1_000, "no visit after the panic");
    let live = LIVE.load(Ordering::SeqCst);
    assert!(
        live <= before_parse + 64 * 1024,
        "the tree is freed all the same: {} B more live than before it was parsed",
        live.saturating_sub(before_parse)
    );
}
