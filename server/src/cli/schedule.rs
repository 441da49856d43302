//! Handing files to the worker threads: largest first, within a byte budget.
//!
//! A scan's wall time is at least its largest file's time, and a large file taken last
//! leaves the other threads idle while it is parsed; so the largest files start first
//! (longest processing time first). But a syntax tree costs 25-40 times its source in
//! memory, so two of the largest files in flight at once set the peak. Files are
//! therefore taken within a budget of source bytes in flight: the largest file plus a
//! slack for each other thread. A thread takes the largest waiting file that fits; when
//! none fits it waits for a file to finish (a file always starts when nothing else is in
//! flight, so every file runs).
//!
//! The slack is the size above which files hold at most a `1/threads` share of the bytes
//! ([`slack`]): while one thread works through those large files, one at a time, the
//! others have at least as much work in the smaller ones, so nobody waits, and the memory
//! in flight is one large tree plus a small one per other thread. A tree of uniformly
//! large files gets a large slack, and all threads keep busy; a typical repository, whose
//! bytes are mostly in small files, gets [`MIN_SLACK`].

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, PoisonError};

/// The least slack per thread: the files of a typical repository's bulk.
pub const MIN_SLACK: u64 = 64 * 1024;

/// The source bytes in flight allowed per thread beyond the largest file: the size above
/// which files hold at most `1/threads` of all bytes, and at least [`MIN_SLACK`].
fn slack(sizes: &[u64], threads: usize) -> u64 {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let share = sizes.iter().sum::<u64>() / threads.max(1) as u64;
    let mut above = 0u64;
    let mut cut = 0;
    for &size in &sizes {
        above += size;
        if above > share {
            cut = size;
            break;
        }
    }
    cut.max(MIN_SLACK)
}

/// The byte budget for `threads` threads whose largest file has `largest` bytes.
fn budget(largest: u64, slack: u64, threads: usize) -> u64 {
    largest.saturating_add(slack.saturating_mul(threads.saturating_sub(1) as u64))
}

/// The items not yet started and the bytes in flight.
struct Queue<T> {
    items: Vec<Option<T>>,
    /// (size, index) of the items not yet started, taken from the largest down.
    waiting: BTreeSet<(u64, usize)>,
    in_flight: u64,
}

/// Folds every item, given with its size in bytes, into an accumulator of the thread of
/// `pool` that takes it, largest first, within the budget of the module's documentation.
/// Returns the threads' accumulators: the caller merges them, so no result per item is
/// ever held, only what the fold keeps.
pub fn fold<T, A>(
    pool: &rayon::ThreadPool,
    items: Vec<(T, u64)>,
    init: impl Fn() -> A + Sync,
    fold: impl Fn(&mut A, T) + Sync,
) -> Vec<A>
where
    T: Send,
    A: Send,
{
    let sizes: Vec<u64> = items.iter().map(|(_, size)| *size).collect();
    let threads = pool.current_num_threads();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let limit = budget(largest, slack(&sizes, threads), threads);
    fold_within(pool, items, limit, init, fold)
}

/// [`fold`] with the sizes of the items in flight kept within `limit` (an item still
/// starts when nothing else is in flight).
fn fold_within<T, A>(
    pool: &rayon::ThreadPool,
    items: Vec<(T, u64)>,
    limit: u64,
    init: impl Fn() -> A + Sync,
    fold: impl Fn(&mut A, T) + Sync,
) -> Vec<A>
where
    T: Send,
    A: Send,
{
    let (items, sizes): (Vec<T>, Vec<u64>) = items.into_iter().unzip();
    let queue = Mutex::new(Queue {
        waiting: sizes.into_iter().zip(0..).collect(),
        items: items.into_iter().map(Some).collect(),
        in_flight: 0,
    });
    let finished = Condvar::new();

    // Takes the next item for a thread, waiting while nothing fits; `None` when all have
    // been taken.
    let next = || -> Option<(u64, T)> {
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
                    return Some((bytes, item));
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

    pool.broadcast(|_| {
        let mut acc = init();
        while let Some((bytes, item)) = next() {
            let _release = Release {
                queue: &queue,
                finished: &finished,
                bytes,
            };
            fold(&mut acc, item);
        }
        acc
    })
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

    /// Runs `work` on every item through [`fold_within`], collecting what it returns.
    fn run_within<R: Send>(
        pool: &rayon::ThreadPool,
        items: Vec<(u64, u64)>,
        limit: u64,
        work: impl Fn(u64) -> R + Sync,
    ) -> Vec<R> {
        fold_within(pool, items, limit, Vec::new, |acc, item| {
            acc.push(work(item))
        })
        .into_iter()
        .flatten()
        .collect()
    }

    #[test]
    fn every_item_is_folded_once_into_one_of_the_threads() {
        let items: Vec<u64> = (0..500).map(|i| (i * 7919) % 1000).collect();
        let accs = fold_within(&pool(3), sized(&items), 2000, Vec::new, |acc, s| {
            acc.push(s)
        });
        assert!(accs.len() == 3, "one accumulator per thread");
        let mut folded: Vec<u64> = accs.into_iter().flatten().collect();
        folded.sort_unstable();
        let mut expected = items.clone();
        expected.sort_unstable();
        assert_eq!(folded, expected);
    }

    #[test]
    fn a_single_thread_takes_the_largest_first() {
        let order = run_within(&pool(1), sized(&[3, 9, 1, 7]), 9, |s| s);
        assert_eq!(order, vec![9, 7, 3, 1]);
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
        assert_eq!(budget(10, 4, 1), 10);
        assert_eq!(budget(10, 4, 3), 10 + 2 * 4);
        assert_eq!(budget(u64::MAX, 4, 4), u64::MAX);
    }

    const K: u64 = 1024;

    /// A repository whose bytes are mostly in small files: the large ones run one at a
    /// time beside the least slack.
    #[test]
    fn small_files_bulk_gets_the_least_slack() {
        let mut sizes = vec![8 * K; 1000];
        sizes.extend([900 * K, 700 * K, 300 * K]);
        assert_eq!(slack(&sizes, 2), MIN_SLACK);
    }

    /// Files above the slack hold at most a thread's share of the bytes.
    #[test]
    fn large_files_hold_at_most_one_share_above_the_slack() {
        let sizes: Vec<u64> = (1..=400).map(|i| i * 3 * K).collect();
        let total: u64 = sizes.iter().sum();
        for threads in [2, 3, 4, 8] {
            let s = slack(&sizes, threads);
            let above: u64 = sizes.iter().filter(|&&x| x > s).sum();
            assert!(
                above <= total / threads as u64,
                "{threads}: {above} above {s}"
            );
            // And the slack is no larger than it needs to be: one more file would exceed
            // the share.
            let at: u64 = sizes.iter().filter(|&&x| x >= s).sum();
            assert!(at > total / threads as u64, "{threads}");
        }
    }

    /// Uniformly large files: the slack is their size, so every thread keeps a file.
    #[test]
    fn uniformly_large_files_keep_every_thread_busy() {
        let sizes = vec![500 * K; 40];
        let s = slack(&sizes, 4);
        assert_eq!(s, 500 * K);
        assert!(budget(500 * K, s, 4) >= 4 * 500 * K);
        assert_eq!(slack(&[], 4), MIN_SLACK);
        assert_eq!(slack(&[10], 0), MIN_SLACK);
    }
}
