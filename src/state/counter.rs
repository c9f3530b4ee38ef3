//! Counters every request adds to, kept per worker and summed when read.
//!
//! A [`Counter`] is an index into per-thread tables: each worker thread (bound with
//! [`bind_worker`]) adds into a table only it writes — a plain load and store, no locked
//! instruction, on cache lines no other core writes — and a reader sums the counter over every
//! table. Counters of one worker sit side by side, so a request's five to eight increments
//! touch one or two lines of that worker's own, where shared atomics bounced every line
//! between cores. Threads that are not workers (health checks, the control thread), workers
//! beyond [`WORKER_TABLES`], and every thread when `tune_per_worker_counters` is off, add into
//! one shared table with atomic adds.
//!
//! Tables grow in chunks that are made once and never moved (`OnceLock`), so a reader never
//! waits and never sees a torn chunk. A counter freed (its frontend or server left the
//! config) goes back to a free list with its cells zeroed.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Workers with a table of their own; more share the shared table.
pub const WORKER_TABLES: usize = 128;
/// The table of every other writer.
const SHARED: usize = WORKER_TABLES;
const TABLES: usize = WORKER_TABLES + 1;
/// Counters per chunk (4 KiB of cells).
const CHUNK: usize = 512;
/// Chunks per table: at most 512 × 512 = 262,144 counters in a process.
const CHUNKS: usize = 512;

type Chunk = [AtomicU64; CHUNK];

struct Tables {
    /// Chunk `c` of table `t` is `chunks[c][t]`: a reader summing one counter over every
    /// table reads one short row.
    chunks: [[OnceLock<Box<Chunk>>; TABLES]; CHUNKS],
    /// Counter ids handed out so far.
    next: AtomicU32,
    /// Ids of counters dropped, their cells zeroed.
    free: Mutex<Vec<u32>>,
}

static TABLE: Tables = Tables {
    chunks: [const { [const { OnceLock::new() }; TABLES] }; CHUNKS],
    next: AtomicU32::new(0),
    free: Mutex::new(Vec::new()),
};

thread_local! {
    /// The table this thread adds into.
    static MINE: Cell<usize> = const { Cell::new(SHARED) };
}

/// Makes this thread worker `id`'s writer: with `per_worker`, it adds into a table only it
/// writes (worker ids are unique among the live threads of a process); without, into the
/// shared one. Called again whenever the setting may have changed; counts already made stay.
pub fn bind_worker(id: usize, per_worker: bool) {
    let t = if per_worker && id < WORKER_TABLES {
        id
    } else {
        SHARED
    };
    MINE.with(|m| m.set(t));
}

/// The chunk `c` of table `t`, made if it does not exist yet.
fn chunk(t: usize, c: usize) -> Option<&'static Chunk> {
    let slot = TABLE.chunks.get(c)?.get(t)?;
    Some(slot.get_or_init(|| Box::new([const { AtomicU64::new(0) }; CHUNK])))
}

/// A chunk of table `t` if it exists (readers never make one).
fn existing(t: usize, c: usize) -> Option<&'static Chunk> {
    TABLE.chunks.get(c)?.get(t)?.get().map(|b| &**b)
}

/// A counter summed over the workers' tables. Reads are exact once the writers are quiet,
/// and never lower than an earlier read.
#[derive(Debug)]
pub struct Counter {
    id: u32,
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

impl Counter {
    pub fn new() -> Counter {
        let reused = TABLE.free.lock().ok().and_then(|mut f| f.pop());
        let id = reused.unwrap_or_else(|| TABLE.next.fetch_add(1, Ordering::Relaxed));
        Counter { id }
    }

    fn place(&self) -> (usize, usize) {
        (self.id as usize / CHUNK, self.id as usize % CHUNK)
    }

    /// Adds `n` in this thread's table.
    pub fn add(&self, n: u64) {
        let (c, i) = self.place();
        let t = MINE.with(Cell::get);
        let Some(cell) = chunk(t, c).and_then(|ch| ch.get(i)) else {
            return;
        };
        if t == SHARED {
            cell.fetch_add(n, Ordering::Relaxed);
        } else {
            // Only this thread writes this table: a plain read-modify-write is exact.
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        }
    }

    /// The sum over every table.
    pub fn get(&self) -> u64 {
        let (c, i) = self.place();
        (0..TABLES)
            .filter_map(|t| existing(t, c).and_then(|ch| ch.get(i)))
            .map(|cell| cell.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        // Nobody adds any more (its owner is gone): zero it for the next user.
        let (c, i) = self.place();
        for t in 0..TABLES {
            if let Some(cell) = existing(t, c).and_then(|ch| ch.get(i)) {
                cell.store(0, Ordering::Relaxed);
            }
        }
        if let Ok(mut f) = TABLE.free.lock() {
            f.push(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_worker_and_shared_adds_sum_exactly() {
        let a = std::sync::Arc::new(Counter::new());
        let threads: Vec<_> = (0..6)
            .map(|k| {
                let a = a.clone();
                std::thread::spawn(move || {
                    // Workers 0–3 in tables of their own, two more threads in the shared one.
                    if k < 4 {
                        bind_worker(WORKER_TABLES - 1 - k, true);
                    }
                    for _ in 0..100_000 {
                        a.add(1);
                    }
                    a.add(5);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(a.get(), 6 * 100_005);
    }

    #[test]
    fn a_freed_counter_comes_back_zeroed() {
        let a = Counter::new();
        a.add(7);
        let id = a.id;
        drop(a);
        let mut got = Vec::new();
        // Another thread's counters may take it first; look among a few.
        for _ in 0..64 {
            let b = Counter::new();
            if b.id == id {
                assert_eq!(b.get(), 0);
                return;
            }
            got.push(b);
        }
    }
}
