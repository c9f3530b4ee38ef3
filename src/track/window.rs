//! A rate over a sliding window, as HAProxy's `freq_ctr`: the count of the current period and
//! that of the previous one, the rate being `current + previous × (time left in the period /
//! period)`. Shared by every worker: the current count and its period number live in one
//! `AtomicU64`, so an increment is one compare-and-swap and no increment is ever lost; the
//! previous count is written by the thread whose swap started the new period.
//!
//! Layout of `cur`: the period number (low [`EPOCH_BITS`] bits of `now / period`) in the top
//! bits, the count in the low [`COUNT_BITS`] bits (saturating: 1 TiB per period).

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits of the period number kept: 2^24 periods of at least one second is half a year before
/// an untouched counter could look current again (an entry expires long before).
pub const EPOCH_BITS: u32 = 24;
/// Bits of the count.
pub const COUNT_BITS: u32 = 64 - EPOCH_BITS;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;

fn pack(epoch: u64, count: u64) -> u64 {
    (epoch & EPOCH_MASK) << COUNT_BITS | count.min(COUNT_MAX)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> COUNT_BITS, v & COUNT_MAX)
}

fn epoch(now_ms: u64, period_ms: u64) -> u64 {
    (now_ms / period_ms.max(1)) & EPOCH_MASK
}

/// One rate counter: a view of its two words in a table's slot.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    cur: &'a AtomicU64,
    prev: &'a AtomicU64,
}

impl<'a> Window<'a> {
    /// The counter kept in `words` (the current count with its period, then the previous
    /// count); `None` unless there are exactly two.
    pub fn of(words: &'a [AtomicU64]) -> Option<Window<'a>> {
        match words {
            [cur, prev] => Some(Window { cur, prev }),
            _ => None,
        }
    }

    /// Counts `n` at `now_ms`.
    pub fn add(self, now_ms: u64, period_ms: u64, n: u64) {
        let e = epoch(now_ms, period_ms);
        let mut old = self.cur.load(Ordering::Relaxed);
        loop {
            let (oe, oc) = unpack(old);
            let new = if oe == e {
                pack(e, oc.saturating_add(n))
            } else {
                pack(e, n)
            };
            match self
                .cur
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if oe != e {
                        // This swap started period `e`: what was current is now previous,
                        // if it was the period just before.
                        let p = if (oe + 1) & EPOCH_MASK == e { oc } else { 0 };
                        self.prev.store(p, Ordering::Release);
                    }
                    return;
                }
                Err(now) => old = now,
            }
        }
    }

    /// The rate at `now_ms`: events over the last `period_ms`, the previous period weighted
    /// by the part of it still inside the window.
    pub fn rate(self, now_ms: u64, period_ms: u64) -> u64 {
        let period_ms = period_ms.max(1);
        let e = epoch(now_ms, period_ms);
        let (oe, oc) = unpack(self.cur.load(Ordering::Acquire));
        let (cur, prev) = if oe == e {
            (oc, self.prev.load(Ordering::Acquire))
        } else if (oe + 1) & EPOCH_MASK == e {
            (0, oc)
        } else {
            (0, 0)
        };
        let left = period_ms - now_ms % period_ms;
        let weighted = (u128::from(prev) * u128::from(left) / u128::from(period_ms)) as u64;
        cur.saturating_add(weighted)
    }

    /// Back to nothing (a slot taken for a new client).
    pub fn clear(self) {
        self.cur.store(0, Ordering::Relaxed);
        self.prev.store(0, Ordering::Relaxed);
    }

    /// The raw words, to carry a counter into a resized table.
    pub fn raw(self) -> (u64, u64) {
        (
            self.cur.load(Ordering::Relaxed),
            self.prev.load(Ordering::Relaxed),
        )
    }

    pub fn set_raw(self, (cur, prev): (u64, u64)) {
        self.cur.store(cur, Ordering::Relaxed);
        self.prev.store(prev, Ordering::Relaxed);
    }
}
