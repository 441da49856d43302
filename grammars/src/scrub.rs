//! Zeroing memory that is about to be released.
//!
//! Submitted source must not outlive its request in memory, so every heap block is zeroed
//! before it is released: Rust's blocks by the binary's scrubbing global allocator,
//! tree-sitter's by [`crate::alloc`].
#![allow(unsafe_code)]

/// Zeroes `len` bytes at `ptr` in a way the optimiser may not remove.
///
/// Most released blocks are small (tree nodes, strings, vector buffers), where a call to
/// `memset` costs more than the zeroing itself: up to 64 bytes are zeroed inline with two to
/// four overlapping unaligned stores; larger blocks go to `write_bytes`, the C library's
/// vectorised `memset`. `black_box` on the pointer makes the zeroed bytes observable as far
/// as the optimiser knows, so the stores are not elided as dead even though the block is
/// freed right after.
///
/// # Safety
/// `ptr..ptr+len` must be writable memory this code owns.
#[inline]
pub unsafe fn scrub(ptr: *mut u8, len: usize) {
    // SAFETY: every store below lies inside `ptr..ptr+len`, which the caller owns; the
    // overlapping pairs start at 0 and end at `len`.
    unsafe {
        match len {
            0 => {}
            1..4 => {
                for i in 0..len {
                    ptr.add(i).write(0);
                }
            }
            4..8 => {
                ptr.cast::<u32>().write_unaligned(0);
                ptr.add(len - 4).cast::<u32>().write_unaligned(0);
            }
            8..16 => {
                ptr.cast::<u64>().write_unaligned(0);
                ptr.add(len - 8).cast::<u64>().write_unaligned(0);
            }
            16..32 => {
                ptr.cast::<u128>().write_unaligned(0);
                ptr.add(len - 16).cast::<u128>().write_unaligned(0);
            }
            32..=64 => {
                ptr.cast::<u128>().write_unaligned(0);
                ptr.add(16).cast::<u128>().write_unaligned(0);
                ptr.add(len - 32).cast::<u128>().write_unaligned(0);
                ptr.add(len - 16).cast::<u128>().write_unaligned(0);
            }
            _ => std::ptr::write_bytes(ptr, 0, len),
        }
    }
    std::hint::black_box(ptr);
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrub_zeroes_exactly_the_range_at_every_small_size() {
        for len in 0..=200usize {
            let mut buffer = vec![0xA5u8; len + 32];
            unsafe { scrub(buffer.as_mut_ptr().add(16), len) };
            assert!(buffer[..16].iter().all(|&b| b == 0xA5), "before, len {len}");
            assert!(
                buffer[16..16 + len].iter().all(|&b| b == 0),
                "inside, len {len}"
            );
            assert!(
                buffer[16 + len..].iter().all(|&b| b == 0xA5),
                "after, len {len}"
            );
        }
    }
}
