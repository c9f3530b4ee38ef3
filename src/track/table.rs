//! The table: slots allocated once, shared by every worker through an `Arc`, every field an
//! atomic. A hit takes no lock and reads at most two buckets of tags. The slots and tags are
//! zeroed memory the kernel backs page by page as entries are written ([`Zeroed`]): an
//! all-zero slot is empty, so nothing is written when the table is made.
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
use crate::system::zeroed::Zeroed;

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
/// Where a slot keeps when its client was last seen (milliseconds since the table's origin).
const SEEN: usize = KEY_WORDS;
/// Where a slot keeps its open connections (low 32 bits) and its generation (high 32 bits,
/// one more each time the slot is given to a client).
const CONNS: usize = KEY_WORDS + 1;
/// Where a slot's rate windows start, two words each.
const RATE_WORDS: usize = KEY_WORDS + 2;
/// Words of a slot: 128 bytes, two cache lines.
const SLOT_WORDS: usize = RATE_WORDS + 2 * RATES;
const COUNT_MASK: u64 = 0xffff_ffff;

/// The tags of one bucket: 128 bytes, two cache lines.
type Tags = [AtomicU64; BUCKET];

/// One entry's key, last-seen time, open connections and rate windows (its tag is in its
/// bucket's [`Tags`]), as words the kernel gives as zeros: an all-zero slot is empty.
type SlotWords = [AtomicU64; SLOT_WORDS];

const _: () =
    assert!(std::mem::size_of::<Tags>() == 128 && std::mem::size_of::<SlotWords>() == 128);

/// Memory of one slot, its tag included.
pub const SLOT_BYTES: usize = std::mem::size_of::<SlotWords>() + std::mem::size_of::<AtomicU64>();

/// One entry: a view of its slot's words.
#[derive(Debug, Clone, Copy)]
struct Slot<'a>(&'a SlotWords);

impl<'a> Slot<'a> {
    fn seen(self) -> &'a AtomicU64 {
        &self.0[SEEN]
    }

    fn conns(self) -> &'a AtomicU64 {
        &self.0[CONNS]
    }

    /// Open connections.
    fn conn_cur(self) -> u64 {
        self.conns().load(Ordering::Relaxed) & COUNT_MASK
    }

    /// The slot's generation: which of the clients it was given to a handle counts for.
    fn generation(self) -> u32 {
        (self.conns().load(Ordering::Relaxed) >> 32) as u32
    }

    fn key_words(self) -> impl Iterator<Item = &'a AtomicU64> {
        self.0.iter().take(KEY_WORDS)
    }

    fn rates(self) -> impl Iterator<Item = Window<'a>> {
        self.0
            .get(RATE_WORDS..)
            .unwrap_or_default()
            .chunks_exact(2)
            .filter_map(Window::of)
    }

    fn rate(self, i: usize) -> Option<Window<'a>> {
        self.rates().nth(i)
    }

    fn key_is(self, k: &[u64; KEY_WORDS]) -> bool {
        self.key_words()
            .zip(k)
            .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
    }

    fn key(self) -> Key {
        let mut out = [0u8; KEY_BYTES];
        for (chunk, w) in out.chunks_mut(8).zip(self.key_words()) {
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
    fn live(self, now: u64, expire: u64) -> bool {
        self.conn_cur() > 0 || now.saturating_sub(self.seen().load(Ordering::Relaxed)) < expire
    }

    /// Gives the slot to a new client (its claimer holds it `BUSY`): the key, no connection
    /// and the next generation, no events, seen `now`. Returns the generation.
    fn fill(self, key: &[u64; KEY_WORDS], now: u64) -> u32 {
        for (k, w) in self.key_words().zip(key) {
            k.store(*w, Ordering::Relaxed);
        }
        let generation = self.generation().wrapping_add(1);
        self.conns()
            .store(u64::from(generation) << 32, Ordering::Relaxed);
        for r in self.rates() {
            r.clear();
        }
        self.seen().store(now, Ordering::Relaxed);
        generation
    }

    /// Adds `delta` (+1 or −1) to the open connections while the slot is still in
    /// `generation`: a handle whose slot went to another client since never counts there.
    fn count_conn(self, generation: u32, up: bool) {
        let _ = self
            .conns()
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                if (v >> 32) as u32 != generation {
                    return None;
                }
                let n = v & COUNT_MASK;
                let n = if up {
                    (n + 1).min(COUNT_MASK)
                } else {
                    n.checked_sub(1)?
                };
                Some(v & !COUNT_MASK | n)
            });
    }
}

/// A client's entry, as found: its slot and the tag it had (an entry taken over by another
/// client since has another tag, and the handle no longer counts there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    slot: u32,
    /// The slot's generation when it was found.
    generation: u32,
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
    tags: Zeroed<Tags>,
    /// The entries, `BUCKET` per bucket, in the order of `tags`.
    slots: Zeroed<SlotWords>,
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
        let tags = Zeroed::new(2 * half);
        let slots = Zeroed::new(2 * half * BUCKET);
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
    fn all(&self) -> impl Iterator<Item = (&AtomicU64, Slot<'_>)> {
        self.tags.iter().flatten().zip(self.slots.iter().map(Slot))
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
            n.seen()
                .store(s.seen().load(Ordering::Relaxed), Ordering::Relaxed);
            for ((nw, ow), (np, op)) in n
                .rates()
                .zip(s.rates())
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
    fn slot(&self, h: Handle) -> Option<Slot<'_>> {
        let i = h.slot as usize;
        let tag = self.tags.get(i / BUCKET)?.get(i % BUCKET)?;
        (tag.load(Ordering::Acquire) == h.tag)
            .then(|| self.slots.get(i).map(Slot))
            .flatten()
    }

    /// The slot of `tag` and `key` in bucket `b`, if there is one (`BUSY` slots are passed
    /// over: an entry being made for this key is found under the insert lock).
    fn lookup(&self, b: usize, tag: u64, key: &[u64; KEY_WORDS]) -> Option<usize> {
        let tags = self.tags.get(b)?;
        for (i, t) in tags.iter().enumerate() {
            if t.load(Ordering::Acquire) == tag {
                let at = b * BUCKET + i;
                if self.slots.get(at).is_some_and(|s| Slot(s).key_is(key)) {
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
            let s = Slot(self.slots.get(at)?);
            s.seen().fetch_max(now, Ordering::Relaxed);
            Some(Handle {
                slot: at as u32,
                generation: s.generation(),
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
                self.tags.get(at / BUCKET).and_then(|b| b.get(at % BUCKET)),
                self.slots.get(at).map(Slot),
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
            let generation = s.fill(&words, now);
            t.store(tag, Ordering::Release);
            return Some(Handle {
                slot: at as u32,
                generation,
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
                tags.iter()
                    .filter(|t| t.load(Ordering::Relaxed) == EMPTY)
                    .count()
            };
            let (b, tags) = if free(l) >= free(r) {
                (left, l)
            } else {
                (right, r)
            };
            if let Some(i) = tags.iter().position(|t| t.load(Ordering::Relaxed) == EMPTY) {
                return Some((b * BUCKET + i, EMPTY));
            }
        }
        let mut oldest: Option<(usize, u64, u64)> = None;
        for (b, tags) in [(left, l), (right, r)] {
            for (i, t) in tags.iter().enumerate() {
                let at = b * BUCKET + i;
                let t = t.load(Ordering::Acquire);
                let Some(s) = self.slots.get(at).filter(|_| t > BUSY).map(Slot) else {
                    continue;
                };
                if s.conn_cur() == 0 {
                    let seen = s.seen().load(Ordering::Relaxed);
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

    fn add(&self, s: Slot<'_>, c: Counter, now: u64, n: u64) {
        if let (Some(i), true) = (c.rate(), n > 0) {
            if let (Some(w), Some(p)) = (s.rate(i), self.periods_ms.get(i)) {
                w.add(now, *p, n);
            }
        }
    }

    /// A connection of the client opens.
    pub fn conn_open(&self, h: Handle, now: u64) {
        if let Some(s) = self.slot(h) {
            s.count_conn(h.generation, true);
            self.add(s, Counter::ConnRate, now, 1);
        }
    }

    /// A connection counted by [`Table::conn_open`] closes.
    pub fn conn_close(&self, h: Handle, now: u64) {
        if let Some(s) = self.slot(h) {
            s.count_conn(h.generation, false);
            s.seen().fetch_max(now, Ordering::Relaxed);
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
            s.seen().fetch_max(now, Ordering::Relaxed);
        }
    }

    fn sample_of(&self, s: Slot<'_>, now: u64) -> Sample {
        let mut out = Sample::default();
        let mut v = out.0.iter_mut();
        if let Some(c) = v.next() {
            *c = s.conn_cur();
        }
        for ((o, w), p) in v.zip(s.rates()).zip(&self.periods_ms) {
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
                idle_ms: now.saturating_sub(s.seen().load(Ordering::Relaxed)),
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
