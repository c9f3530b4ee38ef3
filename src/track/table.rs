//! The table: `size` slots allocated once, shared by every worker through an `Arc`, every
//! field an atomic. No lock anywhere: a lookup reads at most [`PROBE`] slots.
//!
//! A slot's `tag` says what it holds: [`EMPTY`], [`BUSY`] (being written by the thread that
//! claimed it, for a few nanoseconds), or a key's tag (its keyed hash with bit 1 set). A
//! client is looked up in the probe window starting at `hash % size`: a slot with its tag and
//! key is its entry. A new client takes the first empty slot of its window, else the least
//! recently seen slot without an open connection (an expired one if there is one): the claim
//! is one compare-and-swap of the tag to `BUSY`, so two threads never take one slot; the key
//! and cleared counters are written, then the tag published (`Release`). A thread that meets a
//! `BUSY` slot in its window waits for it, so two workers seeing a new client at once find one
//! entry, not two: it spins, then yields the CPU until the tag is published. The writer only
//! stores a few words, which cannot fail, so the wait ends; a bounded wait let a waiter whose
//! writer was preempted mid-claim make a second entry for the same client, splitting its
//! counts between the two.
//!
//! Least recently seen is approximated within the probe window (as a CLOCK cache does),
//! because an exact LRU over all workers needs a shared list, hence a lock per request.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::window::Window;
use super::{Counter, Key, KeyKind, Sample, Spec, KEY_BYTES, RATES};

/// Slots a lookup reads at most.
pub const PROBE: usize = 8;
/// A free slot.
pub const EMPTY: u64 = 0;
/// A slot being written.
pub const BUSY: u64 = 1;
/// How many times a lookup re-reads a `BUSY` slot before it yields the CPU between reads.
const BUSY_SPINS: u32 = 1000;

const KEY_WORDS: usize = KEY_BYTES / 8;

/// One entry.
#[derive(Debug, Default)]
pub struct Slot {
    tag: AtomicU64,
    key: [AtomicU64; KEY_WORDS],
    /// Milliseconds since the table's origin when the client was last seen.
    seen: AtomicU64,
    conn_cur: AtomicU64,
    rates: [Window; RATES],
}

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
    /// Memory the table holds (its slots).
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
    slots: Box<[Slot]>,
    hasher: RandomState,
    origin: Instant,
    evictions: AtomicU64,
    full: AtomicU64,
    denials: AtomicU64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Table {
    /// An empty table of `spec.size` slots (at least one), its clock starting at `origin`.
    pub fn new(spec: &Spec, origin: Instant) -> Table {
        let n = spec.size.max(1) as usize;
        let slots: Box<[Slot]> = (0..n).map(|_| Slot::default()).collect();
        let mut periods_ms = [1000; RATES];
        for (p, d) in periods_ms.iter_mut().zip(spec.periods) {
            *p = ms(d).max(1);
        }
        Table {
            spec: spec.clone(),
            periods_ms,
            expire_ms: ms(spec.expire).max(1),
            slots,
            hasher: RandomState::new(),
            origin,
            evictions: AtomicU64::new(0),
            full: AtomicU64::new(0),
            denials: AtomicU64::new(0),
        }
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
        for s in old.slots.iter() {
            let tag = s.tag.load(Ordering::Acquire);
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

    fn tag_of(&self, k: &Key) -> u64 {
        (self.hasher.hash_one(k.0) | 2) & !1
    }

    fn slot(&self, h: Handle) -> Option<&Slot> {
        self.slots
            .get(h.slot as usize)
            .filter(|s| s.tag.load(Ordering::Acquire) == h.tag)
    }

    /// The entry of `key`, made if it has none, marked seen at `now`. `None` when every slot
    /// of its window has a connection open (counted: `full`).
    pub fn find(&self, key: &Key, now: u64) -> Option<Handle> {
        let mut words = [0u64; KEY_WORDS];
        for (w, chunk) in words.iter_mut().zip(key.0.chunks(8)) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            *w = u64::from_ne_bytes(b);
        }
        let tag = self.tag_of(key);
        let n = self.slots.len();
        let start = (tag % n as u64) as usize;
        let window = PROBE.min(n);
        // Two tries: a claim can lose its race to another thread's.
        for _ in 0..2 {
            let mut free: Option<(usize, u64)> = None;
            let mut oldest: Option<(usize, u64, u64)> = None;
            for i in 0..window {
                let at = (start + i) % n;
                let Some(s) = self.slots.get(at) else {
                    continue;
                };
                let mut t = s.tag.load(Ordering::Acquire);
                let mut spins = 0;
                while t == BUSY {
                    if spins < BUSY_SPINS {
                        std::hint::spin_loop();
                        spins += 1;
                    } else {
                        // The writer was preempted: let it run.
                        std::thread::yield_now();
                    }
                    t = s.tag.load(Ordering::Acquire);
                }
                if t == tag && s.key_is(&words) {
                    s.seen.fetch_max(now, Ordering::Relaxed);
                    return Some(Handle {
                        slot: at as u32,
                        tag,
                    });
                }
                if t == EMPTY {
                    free = free.or(Some((at, t)));
                } else if t != BUSY && s.conn_cur.load(Ordering::Relaxed) == 0 {
                    let seen = s.seen.load(Ordering::Relaxed);
                    if oldest.is_none_or(|(_, _, o)| seen < o) {
                        oldest = Some((at, t, seen));
                    }
                }
            }
            let Some((at, old)) = free.or(oldest.map(|(a, t, _)| (a, t))) else {
                break;
            };
            let Some(s) = self.slots.get(at) else { break };
            if s.tag
                .compare_exchange(old, BUSY, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
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
            s.tag.store(tag, Ordering::Release);
            return Some(Handle {
                slot: at as u32,
                tag,
            });
        }
        self.full.fetch_add(1, Ordering::Relaxed);
        None
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

    /// Memory held by the slots.
    pub fn bytes(&self) -> u64 {
        (self.slots.len() * std::mem::size_of::<Slot>()) as u64
    }

    /// Counts live entries (reads every slot: for stats, not the request path).
    pub fn stats(&self, now: u64) -> TableStats {
        let entries = self
            .slots
            .iter()
            .filter(|s| s.tag.load(Ordering::Acquire) > BUSY && s.live(now, self.expire_ms))
            .count() as u64;
        TableStats {
            size: self.slots.len() as u64,
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
            .slots
            .iter()
            .filter(|s| s.tag.load(Ordering::Acquire) > BUSY && s.live(now, self.expire_ms))
            .map(|s| EntryView {
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
