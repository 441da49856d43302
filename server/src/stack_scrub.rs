//! Stack memory that is scrubbed once a request's work is done.
//!
//! Heap blocks are zeroed when freed ([`crate::scrub`]), but a thread's stack keeps whatever
//! its deepest frames wrote until later frames happen to overwrite it: bytes of a parsed
//! file or of an inline rule can stay there after the request has been answered. The CPU
//! pool's threads have 16 MiB stacks, of which a request touches some part.
//!
//! [`scrub_stack_below`] clears what lies below the calling frame: the nearest
//! [`NEAR`] bytes by writing zeros (a frame of that size of its own), and everything from
//! there down to the stack's end by handing the pages back to the kernel
//! (`madvise(MADV_DONTNEED)`), which gives zero-filled pages when they are touched again. So
//! the cost is a system call plus a page fault for each page the next request uses again,
//! whatever the depth the last request reached. Where pages cannot be handed back (memory
//! locked with `--lock-memory`), they are zeroed in place: up to the stack's whole size.
//!
//! Memory below the stack pointer belongs to no frame. The function that clears it runs
//! beneath the frames it leaves alone (its own and its callers'), and the x86-64 red zone
//! (128 bytes below the stack pointer, which a leaf function may use) lies inside the part
//! zeroed by writing.
#![allow(unsafe_code)]

/// Bytes just below the caller's frame that are zeroed by writing rather than handed back.
pub const NEAR: usize = 32 * 1024;

/// Clears this thread's stack below the caller's frame: see the module's documentation.
/// Does nothing where the stack's bounds are unknown (other than Linux with glibc).
pub fn scrub_stack_below() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    linux::scrub_stack_below();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::mem::MaybeUninit;

    use super::NEAR;

    thread_local! {
        /// The lowest usable address of this thread's stack (above its guard page); 0 until
        /// asked, 1 when it cannot be known.
        static LOW: Cell<usize> = const { Cell::new(0) };
    }

    /// The lowest usable address of the calling thread's stack.
    fn stack_low() -> Option<usize> {
        let known = LOW.with(Cell::get);
        if known > 1 {
            return Some(known);
        }
        if known == 1 {
            return None;
        }
        let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
        let mut addr: *mut c_void = std::ptr::null_mut();
        let mut size = 0usize;
        // SAFETY: `pthread_getattr_np` initialises `attr` when it returns 0, and only then is
        // it read and destroyed.
        let low = unsafe {
            if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
                None
            } else {
                let got = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
                libc::pthread_attr_destroy(attr.as_mut_ptr());
                (got == 0 && !addr.is_null()).then_some(addr as usize)
            }
        };
        LOW.with(|l| l.set(low.unwrap_or(1)));
        low
    }

    fn page_size() -> usize {
        // SAFETY: `sysconf` reads a constant of the system.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .unwrap_or(4096)
    }

    /// A frame of `NEAR` zeros, right below its caller's; returns the lowest address it
    /// zeroed.
    #[inline(never)]
    fn zero_near() -> usize {
        let mut zeros = [0u8; NEAR];
        // The zeros must be written, though nothing reads them.
        std::hint::black_box(&mut zeros);
        zeros.as_ptr() as usize
    }

    /// Clears the stack from its end up to `zeroed`, the lowest address `zero_near` wrote.
    #[inline(never)]
    fn clear_far(zeroed: usize) {
        let Some(low) = stack_low() else { return };
        let page = page_size();
        // Page-aligned: from the stack's end up to the first page boundary at or above
        // `zeroed`. What lies between `zeroed` and that boundary was written by `zero_near`
        // (no frame holds it any more) and is `NEAR` minus at most a page below this frame;
        // rounding down instead would leave up to a page unscrubbed below `zeroed`.
        let start = low.next_multiple_of(page);
        let end = zeroed.next_multiple_of(page);
        if end <= start {
            return;
        }
        // SAFETY: `start..end` lies inside this thread's stack, below every live frame
        // (this one included) and below the red zone: memory no Rust object owns. Handing
        // it back leaves it zero-filled on the next touch; zeroing it writes where no frame
        // reads.
        unsafe {
            if libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) != 0 {
                std::ptr::write_bytes(start as *mut u8, 0, end - start);
                std::hint::black_box(start);
            }
        }
    }

    pub(super) fn scrub_stack_below() {
        let zeroed = zero_near();
        clear_far(zeroed);
    }

    #[cfg(test)]
    mod tests {
        use std::os::unix::fs::FileExt;

        /// Writes `canary` into a stack buffer `depth` frames down and returns its address.
        #[inline(never)]
        fn leave_on_stack(canary: &[u8; 32], depth: usize) -> usize {
            if depth > 0 {
                let mut pad = [0u8; 4096];
                std::hint::black_box(&mut pad);
                return leave_on_stack(canary, depth - 1);
            }
            let mut buffer = *canary;
            std::hint::black_box(&mut buffer);
            buffer.as_ptr() as usize
        }

        /// The 32 bytes at `address` of this process, read as a file (reading dead stack
        /// memory through a pointer would not be defined).
        fn read_own(address: usize) -> [u8; 32] {
            let mut out = [0u8; 32];
            let mem = std::fs::File::open("/proc/self/mem");
            let read = mem.and_then(|m| m.read_exact_at(&mut out, address as u64));
            if let Err(e) = read {
                panic!("reading /proc/self/mem: {e}");
            }
            out
        }

        fn in_thread(depth: usize, scrub: bool) -> ([u8; 32], [u8; 32]) {
            let canary = *b"VOLATILE-STACK-CANARY-0123456789";
            let run = move || {
                let address = leave_on_stack(&canary, depth);
                if scrub {
                    super::scrub_stack_below();
                }
                (canary, read_own(address))
            };
            let thread = std::thread::Builder::new()
                .stack_size(16 * 1024 * 1024)
                .spawn(run);
            match thread.map(|t| t.join()) {
                Ok(Ok(out)) => out,
                _ => panic!("the test thread failed"),
            }
        }

        #[test]
        fn what_a_deep_frame_left_is_there_until_scrubbed() {
            // The control: unscrubbed, the bytes are still there, so the test can fail.
            let (canary, left) = in_thread(8, false);
            assert_eq!(left, canary);
            // Near the caller (written over; the frames that read it may have written
            // there since) and far below it (handed back: zero-filled).
            let (canary, left) = in_thread(2, true);
            assert_ne!(left, canary, "near");
            for depth in [8, 300] {
                let (_, left) = in_thread(depth, true);
                assert_eq!(left, [0u8; 32], "depth {depth}");
            }
        }

        #[test]
        fn the_stack_still_works_after_a_scrub() {
            let run = || {
                super::scrub_stack_below();
                // Frames reach the handed-back pages again, which come back zero-filled.
                let deep = leave_on_stack(&[7u8; 32], 500);
                super::scrub_stack_below();
                deep
            };
            let thread = std::thread::Builder::new()
                .stack_size(16 * 1024 * 1024)
                .spawn(run);
            assert!(matches!(thread.map(|t| t.join()), Ok(Ok(a)) if a > 0));
        }
    }
}
