//! The table: slots allocated once, shared by every worker through an `Arc`, every field an
//! atomic. A hit takes no lock and reads at most two buckets of tags.
//!
//! **Layout.** The slots form buckets of [`BUCKET`] slots, in two halves; a key's keyed hash
//! picks one bucket in each half (two choices, "d-left": a new client goes to the bucket with
//! more free slots, the left one on a tie, which keeps the fullest bucket close to the mean).
//! The tags of a bucket are kept apart from the slots' counters, in 128 aligned bytes (two
//! cache lines), so a lookup compares 16 tags before it touches one entry. `size` entries get
//! [`SLOTS_PER_ENTRY`] slots (4/3, rounded up to whole buckets): measured over 64 hash seeds
//! and more per size, no bucket overflowed before 116 % of `size` distinct clients were in, so
//! a table holds all of its `size` clients before it must push out a live one.
//!
//! **Capacity.** At most `size` slots are ever taken. Once they are, a new client takes the
//! least recently seen entry without an open connection among the 32 slots of its two buckets
//! (an expired one is the least recently seen); if all have connections open it is not tracked
//! (counted: `full`). Least recently seen is approximated within the two buckets (as a CLOCK
//! cache does), because an exact LRU over all workers needs a shared list, hence a lock per
//! request.
//!
//! **Concurrency.** A slot's tag says what it holds: [`EMPTY`], [`BUSY`] (being written by the
//! thread that claimed it, for a few nanoseconds), or a key's tag (its keyed hash with bit 1
//! set). A lookup reads the tags of the key's left bucket, then of its right one: a slot with
//! its tag and key is its entry; `BUSY` slots are passed over, without waiting. A miss takes
//! the insert lock of the key's left bucket (one flag per left bucket: every thread that could
//! make an entry for this key takes the same one), looks again in both buckets, and only then
//! makes the entry, so two workers seeing a new client at once make one entry, not two: the
//! second finds the first's entry when it gets the lock. The slot itself is claimed with one
//! compare-and-swap of its tag to `BUSY` (a slot of a right bucket may be contended by keys of
//! other locks), the key and cleared counters are written, then the tag published
//! (`Release`). The lock holder only stores a few words, which cannot fail, so a waiter spins,
//! then yields the CPU until the lock is free; hits never wait.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::window::Window;
use super::{Counter, Key, KeyKind, Sample, Spec, KEY_BYTES, RATES};

/// Slots of a bucket: its tags are 128 bytes, two cache lines.
pub const BUCKET: usize = 16;
/// Slots allocated for each entry of `size` (numerator, denominator): the headroom that lets
/// two-choice buckets hold `size` clients before one overflows.
pub const SLOTS_PER_ENTRY: (u64, u64) = (4, 3);
/// A free slot.
pub const EMPTY: u64 = 0;
/// A slot being written.
pub const BUSY: u64 = 1;
/// How many times a waiter re-reads an insert lock before it yields the CPU between reads.
const LOCK_SPINS: u32 = 1000;
/// Compare-and-swaps a new entry may lose to other threads before the client goes untracked.
const CLAIM_TRIES: usize = 4;

const KEY_WORDS: usize = KEY_BYTES / 8;

/// The tags of one bucket, on their own cache lines.
#[derive(Debug, Default)]
#[repr(C, align(64))]
struct Tags([AtomicU64; BUCKET]);

/// One entry's key and counters (its tag is in its bucket's [`Tags`]): 128 bytes, two cache
/// lines.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct Slot {
    key: [AtomicU64; KEY_WORDS],
    /// Milliseconds since the table's origin when the client was last seen.
    seen: AtomicU64,
    conn_cur: AtomicU64,
    rates: [Window; RATES],
}

/// Memory of one slot, its tag included.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>() + std::mem::size_of::<AtomicU64>();

impl Slot {
    fn key_is(&self, k: &[u64; KEY_WORDS]) -> bool {
        self.key
            .iter()
            .zip(k)
            .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
    }

    fn key(&self) -> Key {
        let mut out = [0u8; KEY_BYTES];
        for (chunk, w) in out.chunks_mut(8).zip(&self.key) {
            for (d, s) in chunk
                .iter_mut()
                .zip(w.load(Ordering::Relaxed).to_ne_bytes())
            {
                *d = s;
            }
        }
        Key(out)
    }

    /// Still an entry at `now`: a connection is open or it was seen within `expire`.
    fn live(&self, now: u64, expire: u64) -> bool {
        self.conn_cur.load(Ordering::Relaxed) > 0
            || now.saturating_sub(self.seen.load(Ordering::Relaxed)) < expire
    }
}

/// A client's entry, as found: its slot and the tag it had (an entry taken over by another
/// client since has another tag, and the handle no longer counts there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    slot: u32,
    tag: u64,
}

/// Figures of a table for the stats page, Prometheus and `show table`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub size: u64,
    pub entries: u64,
    /// Memory the table holds (its slots and their tags).
    pub bytes: u64,
    /// Entries pushed out before they expired, to make room for a new client.
    pub evictions: u64,
    /// Clients not tracked because every slot of their window had a connection open.
    pub full: u64,
    /// Requests answered (deny, return, tarpit) by a rule that tests a counter.
    pub denials: u64,
}

/// One entry for `show table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    pub key: String,
    /// Milliseconds since it was last seen.
    pub idle_ms: u64,
    pub sample: Sample,
}

#[derive(Debug)]
pub struct Table {
    spec: Spec,
    periods_ms: [u64; RATES],
    expire_ms: u64,
    /// Most slots ever taken: the configured `size`.
    cap: u64,
    /// Buckets in each half.
    half: usize,
    /// The tags, one [`Tags`] per bucket: the left half, then the right.
    tags: Box<[Tags]>,
    /// The entries, `BUCKET` per bucket, in the order of `tags`.
    slots: Box<[Slot]>,
    /// One insert lock per left bucket.
    locks: Box<[AtomicBool]>,
    /// Slots taken so far (never more than `cap`; a slot is never given back, an expired
    /// entry is taken over).
    used: AtomicU64,
    hasher: RandomState,
    origin: Instant,
    evictions: AtomicU64,
    full: AtomicU64,
    denials: AtomicU64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The buckets of each half for `size` entries: `size × 4/3` slots, rounded up to whole
/// buckets in both halves.
fn half_buckets(size: u32) -> usize {
    let (num, den) = SLOTS_PER_ENTRY;
    let slots = (u64::from(size.max(1)) * num).div_ceil(den);
    usize::try_from(slots.div_ceil(2 * BUCKET as u64)).unwrap_or(1)
}

/// Holds a left bucket's insert lock; frees it when dropped.
struct InsertLock<'a>(&'a AtomicBool);

impl<'a> InsertLock<'a> {
    fn take(flag: &'a AtomicBool) -> InsertLock<'a> {
        let mut spins = 0;
        while flag
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            if spins < LOCK_SPINS {
                std::hint::spin_loop();
                spins += 1;
            } else {
                // The holder was preempted: let it run.
                std::thread::yield_now();
            }
        }
        InsertLock(flag)
    }
}

impl Drop for InsertLock<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Table {
    /// An empty table for `spec.size` entries (at least one), its clock starting at `origin`.
    pub fn new(spec: &Spec, origin: Instant) -> Table {
        let half = half_buckets(spec.size);
        let tags: Box<[Tags]> = (0..2 * half).map(|_| Tags::default()).collect();
        let slots: Box<[Slot]> = (0..2 * half * BUCKET).map(|_| Slot::default()).collect();
        let locks: Box<[AtomicBool]> = (0..half).map(|_| AtomicBool::new(false)).collect();
        let mut periods_ms = [1000; RATES];
        for (p, d) in periods_ms.iter_mut().zip(spec.periods) {
            *p = ms(d).max(1);
        }
        Table {
            spec: spec.clone(),
            periods_ms,
            expire_ms: ms(spec.expire).max(1),
            cap: u64::from(spec.size.max(1)),
            half,
            tags,
            slots,
            locks,
            used: AtomicU64::new(0),
            hasher: RandomState::new(),
            origin,
            evictions: AtomicU64::new(0),
            full: AtomicU64::new(0),
            denials: AtomicU64::new(0),
        }
    }

    /// The same table without the `size` cap: every free slot may be taken (to measure how
    /// full the buckets get before one overflows).
    #[cfg(test)]
    pub(super) fn uncapped(mut self) -> Table {
        self.cap = u64::MAX;
        self
    }

    /// Every slot with its tag word.
    fn all(&self) -> impl Iterator<Item = (&AtomicU64, &Slot)> {
        self.tags
            .iter()
            .flat_map(|t| t.0.iter())
            .zip(self.slots.iter())
    }

    /// A table for `spec` that keeps what `old` knew: `old` itself when nothing but the
    /// expiry changed, else a new table holding `old`'s live entries (their rates kept where
    /// the period is the same; open connections are not carried: they end on `old`). `None`
    /// when the key changed: a new table.
    pub fn carry(old: &std::sync::Arc<Table>, spec: &Spec, now: Instant) -> Option<Table> {
        if old.spec.key != spec.key {
            return None;
        }
        let t = Table::new(spec, old.origin);
        let at = old.ms(now);
        for (tag, s) in old.all() {
            let tag = tag.load(Ordering::Acquire);
            if tag == EMPTY || tag == BUSY || !s.live(at, old.expire_ms) {
                continue;
            }
            let Some(h) = t.find(&s.key(), at) else {
                continue;
            };
            let Some(n) = t.slot(h) else { continue };
            n.seen
                .store(s.seen.load(Ordering::Relaxed), Ordering::Relaxed);
            for ((nw, ow), (np, op)) in n
                .rates
                .iter()
                .zip(&s.rates)
                .zip(t.periods_ms.iter().zip(&old.periods_ms))
            {
                if np == op {
                    nw.set_raw(ow.raw());
                }
            }
        }
        Some(t)
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// `now` as this table counts time.
    pub fn ms(&self, now: Instant) -> u64 {
        ms(now.saturating_duration_since(self.origin))
    }

    /// The key's tag (bit 0 clear, bit 1 set: never `EMPTY` nor `BUSY`) and its left and right
    /// buckets, from one keyed hash: the low and high halves of the hash, each scaled to the
    /// half's buckets (multiply and shift, no division).
    fn place(&self, k: &Key) -> (u64, usize, usize) {
        let h = self.hasher.hash_one(k.0);
        let half = self.half as u64;
        let left = ((h & 0xffff_ffff) * half) >> 32;
        let right = half + (((h >> 32) * half) >> 32);
        ((h | 2) & !1, left as usize, right as usize)
    }

    /// The slot of `h` while it still holds the handle's client.
    fn slot(&self, h: Handle) -> Option<&Slot> {
        let i = h.slot as usize;
        let tag = self.tags.get(i / BUCKET)?.0.get(i % BUCKET)?;
        (tag.load(Ordering::Acquire) == h.tag)
            .then(|| self.slots.get(i))
            .flatten()
    }

    /// The slot of `tag` and `key` in bucket `b`, if there is one (`BUSY` slots are passed
    /// over: an entry being made for this key is found under the insert lock).
    fn lookup(&self, b: usize, tag: u64, key: &[u64; KEY_WORDS]) -> Option<usize> {
        let tags = self.tags.get(b)?;
        for (i, t) in tags.0.iter().enumerate() {
            if t.load(Ordering::Acquire) == tag {
                let at = b * BUCKET + i;
                if self.slots.get(at).is_some_and(|s| s.key_is(key)) {
                    return Some(at);
                }
            }
        }
        None
    }

    /// The entry of `key`, made if it has none, marked seen at `now`. `None` when it has none
    /// and every slot of its two buckets has a connection open (counted: `full`).
    pub fn find(&self, key: &Key, now: u64) -> Option<Handle> {
        let mut words = [0u64; KEY_WORDS];
        for (w, chunk) in words.iter_mut().zip(key.0.chunks(8)) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            *w = u64::from_ne_bytes(b);
        }
        let (tag, left, right) = self.place(key);
        let hit = |at: usize| {
            let s = self.slots.get(at)?;
            s.seen.fetch_max(now, Ordering::Relaxed);
            Some(Handle {
                slot: at as u32,
                tag,
            })
        };
        if let Some(at) = self
            .lookup(left, tag, &words)
            .or_else(|| self.lookup(right, tag, &words))
        {
            return hit(at);
        }
        let _lock = InsertLock::take(self.locks.get(left)?);
        // Another thread may have made the entry between the lookup and the lock.
        if let Some(at) = self
            .lookup(left, tag, &words)
            .or_else(|| self.lookup(right, tag, &words))
        {
            return hit(at);
        }
        for _ in 0..CLAIM_TRIES {
            let Some((at, old)) = self.victim(left, right) else {
                break;
            };
            let (Some(t), Some(s)) = (
                self.tags
                    .get(at / BUCKET)
                    .and_then(|b| b.0.get(at % BUCKET)),
                self.slots.get(at),
            ) else {
                break;
            };
            if old == EMPTY && !self.reserve() {
                continue;
            }
            if t.compare_exchange(old, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                if old == EMPTY {
                    self.used.fetch_sub(1, Ordering::Relaxed);
                }
                continue;
            }
            if old != EMPTY && s.live(now, self.expire_ms) {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
            for (k, w) in s.key.iter().zip(words) {
                k.store(w, Ordering::Relaxed);
            }
            s.conn_cur.store(0, Ordering::Relaxed);
            for r in &s.rates {
                r.clear();
            }
            s.seen.store(now, Ordering::Relaxed);
            t.store(tag, Ordering::Release);
            return Some(Handle {
                slot: at as u32,
                tag,
            });
        }
        self.full.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Takes one of the `cap` slots; false when all are taken.
    fn reserve(&self) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                (u < self.cap).then_some(u + 1)
            })
            .is_ok()
    }

    /// The slot a new client of buckets `left` and `right` takes, with its tag as read: while
    /// fewer than `cap` slots are taken, the first free slot of the bucket with more free slots
    /// (the left one on a tie), found from the tags alone; else, or when both buckets are
    /// full, the least recently seen entry without an open connection of both buckets.
    fn victim(&self, left: usize, right: usize) -> Option<(usize, u64)> {
        let (l, r) = (self.tags.get(left)?, self.tags.get(right)?);
        if self.used.load(Ordering::Relaxed) < self.cap {
            let free = |tags: &Tags| {
                tags.0
                    .iter()
                    .filter(|t| t.load(Ordering::Relaxed) == EMPTY)
                    .count()
            };
            let (b, tags) = if free(l) >= free(r) {
                (left, l)
            } else {
                (right, r)
            };
            if let Some(i) = tags
                .0
                .iter()
                .position(|t| t.load(Ordering::Relaxed) == EMPTY)
            {
                return Some((b * BUCKET + i, EMPTY));
            }
        }
        let mut oldest: Option<(usize, u64, u64)> = None;
        for (b, tags) in [(left, l), (right, r)] {
            for (i, t) in tags.0.iter().enumerate() {
                let at = b * BUCKET + i;
                let t = t.load(Ordering::Acquire);
                let Some(s) = self.slots.get(at).filter(|_| t > BUSY) else {
                    continue;
                };
                if s.conn_cur.load(Ordering::Relaxed) == 0 {
                    let seen = s.seen.load(Ordering::Relaxed);
                    if oldest.is_none_or(|(_, _, o)| seen < o) {
                        oldest = Some((at, t, seen));
                    }
                }
            }
        }
        oldest.map(|(at, t, _)| (at, t))
    }

    /// Whether `h` is still its client's entry.
    pub fn holds(&self, h: Handle) -> bool {
        self.slot(h).is_some()
    }

    fn add(&self, s: &Slot, c: Counter, now: u64, n: u64) {
        if let (Some(i), true) = (c.rate(), n > 0) {
            if let (Some(w), Some(p)) = (s.rates.get(i), self.periods_ms.get(i)) {
                w.add(now, *p, n);
            }
        }
    }

    /// A connection of the client opens.
    pub fn conn_open(&self, h: Handle, now: u64) {
        if let Some(s) = self.slot(h) {
            s.conn_cur.fetch_add(1, Ordering::Relaxed);
            self.add(s, Counter::ConnRate, now, 1);
        }
    }

    /// A connection counted by [`Table::conn_open`] closes.
    pub fn conn_close(&self, h: Handle, now: u64) {
        if let Some(s) = self.slot(h) {
            let _ = s
                .conn_cur
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
            s.seen.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// A request of the client (counted before its rules are evaluated, as HAProxy does).
    pub fn request(&self, h: Handle, now: u64) {
        if let Some(s) = self.slot(h) {
            self.add(s, Counter::ReqRate, now, 1);
        }
    }

    /// A finished exchange: its status and the bytes each way.
    pub fn exchange(&self, h: Handle, now: u64, status: u16, bytes: (u64, u64)) {
        if let Some(s) = self.slot(h) {
            if super::is_client_error(status) {
                self.add(s, Counter::ErrRate, now, 1);
            }
            self.add(s, Counter::BytesInRate, now, bytes.0);
            self.add(s, Counter::BytesOutRate, now, bytes.1);
            s.seen.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn sample_of(&self, s: &Slot, now: u64) -> Sample {
        let mut out = Sample::default();
        let mut v = out.0.iter_mut();
        if let Some(c) = v.next() {
            *c = s.conn_cur.load(Ordering::Relaxed);
        }
        for ((o, w), p) in v.zip(&s.rates).zip(&self.periods_ms) {
            *o = w.rate(now, *p);
        }
        out
    }

    /// The client's values at `now` (zeros if its entry went).
    pub fn sample(&self, h: Handle, now: u64) -> Sample {
        self.slot(h)
            .map(|s| self.sample_of(s, now))
            .unwrap_or_default()
    }

    /// A rule that tests a counter answered a request.
    pub fn denied(&self) {
        self.denials.fetch_add(1, Ordering::Relaxed);
    }

    /// Live entries pushed out so far (one load: [`Table::stats`] reads every slot).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Slots allocated (`size` × 4/3, in whole buckets).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Memory held by the slots and their tags.
    pub fn bytes(&self) -> u64 {
        (self.slots.len() * SLOT_BYTES) as u64
    }

    /// Counts live entries (reads every slot: for stats, not the request path).
    pub fn stats(&self, now: u64) -> TableStats {
        let entries = self
            .all()
            .filter(|(t, s)| t.load(Ordering::Acquire) > BUSY && s.live(now, self.expire_ms))
            .count() as u64;
        TableStats {
            size: self.cap,
            entries,
            bytes: self.bytes(),
            evictions: self.evictions.load(Ordering::Relaxed),
            full: self.full.load(Ordering::Relaxed),
            denials: self.denials.load(Ordering::Relaxed),
        }
    }

    /// Live entries, most active first (by request rate), at most `limit`.
    pub fn entries(&self, now: u64, limit: usize) -> Vec<EntryView> {
        let mut out: Vec<EntryView> = self
            .all()
            .filter(|(t, s)| t.load(Ordering::Acquire) > BUSY && s.live(now, self.expire_ms))
            .map(|(_, s)| EntryView {
                key: s.key().shown(&self.spec.key),
                idle_ms: now.saturating_sub(s.seen.load(Ordering::Relaxed)),
                sample: self.sample_of(s, now),
            })
            .collect();
        out.sort_by(|a, b| {
            b.sample
                .get(Counter::ReqRate)
                .cmp(&a.sample.get(Counter::ReqRate))
                .then(
                    b.sample
                        .get(Counter::ConnCur)
                        .cmp(&a.sample.get(Counter::ConnCur)),
                )
                .then(a.key.cmp(&b.key))
        });
        out.truncate(limit);
        out
    }

    /// What the table's clients are known by.
    pub fn key_kind(&self) -> &KeyKind {
        &self.spec.key
    }
}
