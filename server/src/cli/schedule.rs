//! Handing files to the worker threads: largest first, within a byte budget.
//!
//! A scan's wall time is at least its largest file's time, and a large file taken last
//! leaves the other threads idle while it is parsed; so the largest files start first
//! (longest processing time first). But a syntax tree costs 25-40 times its source in
//! memory, so two of the largest files in flight at once set the peak. Files are
//! therefore taken within a budget of source bytes in flight: the largest file plus
//! [`SLACK_PER_THREAD`] for each other thread. A thread takes the largest waiting file
//! that fits; when none fits it waits for a file to finish (a file always starts when
//! nothing else is in flight, so every file runs).

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, PoisonError};

/// Source bytes in flight allowed per thread beyond the largest file.
pub const SLACK_PER_THREAD: u64 = 1024 * 1024;

/// The byte budget for `threads` threads whose largest file has `largest` bytes.
fn budget(largest: u64, threads: usize) -> u64 {
    largest.saturating_add(SLACK_PER_THREAD.saturating_mul(threads.saturating_sub(1) as u64))
}

/// The items not yet started and the bytes in flight.
struct Queue<T> {
    items: Vec<Option<T>>,
    /// (size, index) of the items not yet started, taken from the largest down.
    waiting: BTreeSet<(u64, usize)>,
    in_flight: u64,
}

/// Runs `work` on every item, given with its size in bytes, on the threads of `pool`,
/// largest first, within the budget of the module's documentation. Returns the results
/// in the order of `items`.
pub fn run<T, R>(
    pool: &rayon::ThreadPool,
    items: Vec<(T, u64)>,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let largest = items.iter().map(|(_, size)| *size).max().unwrap_or(0);
    let limit = budget(largest, pool.current_num_threads());
    run_within(pool, items, limit, work)
}

/// [`run`] with the sizes of the items in flight kept within `limit` (an item still
/// starts when nothing else is in flight).
fn run_within<T, R>(
    pool: &rayon::ThreadPool,
    items: Vec<(T, u64)>,
    limit: u64,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let count = items.len();
    let (items, sizes): (Vec<T>, Vec<u64>) = items.into_iter().unzip();
    let queue = Mutex::new(Queue {
        waiting: sizes.into_iter().zip(0..).collect(),
        items: items.into_iter().map(Some).collect(),
        in_flight: 0,
    });
    let finished = Condvar::new();

    // Takes the next item for a thread, waiting while nothing fits; `None` when all have
    // been taken.
    let next = || -> Option<(usize, u64, T)> {
        let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if q.waiting.is_empty() {
                return None;
            }
            let room = limit.saturating_sub(q.in_flight);
            let pick = if q.in_flight == 0 {
                q.waiting.last().copied()
            } else {
                q.waiting.range(..=(room, usize::MAX)).next_back().copied()
            };
            if let Some((bytes, index)) = pick {
                q.waiting.remove(&(bytes, index));
                // Each index is in `waiting` once, so its item is still there.
                if let Some(item) = q.items[index].take() {
                    q.in_flight += bytes;
                    return Some((index, bytes, item));
                }
                continue;
            }
            q = finished.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    };
    // Gives the bytes back when the item is done, even by a panic: otherwise the other
    // threads would wait for them forever.
    struct Release<'a, T> {
        queue: &'a Mutex<Queue<T>>,
        finished: &'a Condvar,
        bytes: u64,
    }
    impl<T> Drop for Release<'_, T> {
        fn drop(&mut self) {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.in_flight -= self.bytes;
            self.finished.notify_all();
        }
    }

    let per_thread: Vec<Vec<(usize, R)>> = pool.broadcast(|_| {
        let mut out = Vec::new();
        while let Some((index, bytes, item)) = next() {
            let _release = Release {
                queue: &queue,
                finished: &finished,
                bytes,
            };
            out.push((index, work(item)));
        }
        out
    });

    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for (index, result) in per_thread.into_iter().flatten() {
        results[index] = Some(result);
    }
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            Ok(pool) => pool,
            Err(e) => panic!("thread pool: {e}"),
        }
    }

    /// Items that are their own sizes.
    fn sized(items: &[u64]) -> Vec<(u64, u64)> {
        items.iter().map(|&s| (s, s)).collect()
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u64> = (0..500).map(|i| (i * 7919) % 1000).collect();
        let out = run_within(&pool(3), sized(&items), 2000, |s| s * 2);
        assert_eq!(out, items.iter().map(|s| s * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_single_thread_takes_the_largest_first() {
        let order = Mutex::new(Vec::new());
        run_within(&pool(1), sized(&[3, 9, 1, 7]), 9, |s| lock(&order).push(s));
        assert_eq!(*lock(&order), vec![9, 7, 3, 1]);
    }

    #[test]
    fn bytes_in_flight_stay_within_the_budget() {
        // Sizes from 1 to 50, budget 60: never two of the large ones at once, but
        // every item runs, including those larger than the room left.
        let items: Vec<u64> = (1..=50).collect();
        let in_flight = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        let out = run_within(&pool(4), sized(&items), 60, |s| {
            let now = in_flight.fetch_add(s, Ordering::SeqCst) + s;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_micros(200));
            in_flight.fetch_sub(s, Ordering::SeqCst);
            s
        });
        assert_eq!(out.len(), 50);
        assert!(peak.load(Ordering::SeqCst) <= 60, "peak {peak:?}");
    }

    #[test]
    fn an_item_over_the_budget_runs_alone() {
        let in_flight = AtomicU64::new(0);
        let alone = Mutex::new(Vec::new());
        run_within(&pool(2), sized(&[100, 5, 5, 5]), 10, |s| {
            in_flight.fetch_add(s, Ordering::SeqCst);
            if s == 100 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                lock(&alone).push(in_flight.load(Ordering::SeqCst));
            }
            in_flight.fetch_sub(s, Ordering::SeqCst);
        });
        assert_eq!(*lock(&alone), vec![100]);
    }

    #[test]
    fn the_budget_grows_with_threads() {
        assert_eq!(budget(10, 1), 10);
        assert_eq!(budget(10, 3), 10 + 2 * SLACK_PER_THREAD);
        assert_eq!(budget(u64::MAX, 4), u64::MAX);
    }
}
