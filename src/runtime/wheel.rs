//! The hierarchical timer wheel under [`super::timer`]: O(1) insert and cancel, and the
//! next expiration from six 64-bit masks, where a `BTreeMap` paid O(log n) node walks and
//! rebalancing three times per request (the idle wait, the server's and the client's timeout).
//!
//! Deadlines are nanoseconds on the timers' clock, placed by tick (2^20 ns, about 1.05 ms),
//! rounded up: an entry fires in the first [`Wheel::fire`] whose tick is at or after its
//! deadline's, so never early and at most a tick late. Six levels of 64 slots: level `l`
//! holds deadlines whose tick first differs from the wheel's position (`elapsed`) in bits
//! `6l..6l+6`, one slot per 64^l ticks. When a level above 0 reaches a slot, its entries are
//! placed again, lower, by their exact deadline (the kernel's and tokio's timer wheels work
//! this way). Deadlines more than 2^36 ticks (about 2.2 years) ahead wait in the top level
//! and are placed again each time it comes round.
//!
//! Entries live in one `Vec`, freed ones on a free list, so an entry is 24 bytes and its key
//! a `u32`; each slot is a doubly linked list through the entries. An entry that fired stays
//! its owner's (the `Sleep` that armed it) until [`Wheel::remove`], so a key is never reused
//! under an owner that still holds it.

const TICK_SHIFT: u32 = 20;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;
/// How many ticks ahead of the wheel's position a deadline is placed by its own tick.
const MAX_AHEAD: u64 = 1 << (SLOT_BITS * LEVELS as u32);
/// No entry (end of a list, empty slot).
pub(crate) const NONE: u32 = u32::MAX;
/// `Entry::list` of an entry not queued: it fired, or was never placed again.
const FIRED: u32 = u32::MAX;
/// `Entry::list` of a free entry.
const FREE: u32 = u32::MAX - 1;

#[derive(Clone, Copy)]
struct Entry {
    /// The deadline, nanoseconds on the timers' clock.
    at: u64,
    /// Whom to wake (the timer layer's index).
    who: u32,
    /// The slot list holding it (`level * 64 + slot`), or [`FIRED`], or [`FREE`].
    list: u32,
    prev: u32,
    /// Next in its slot list, or in the free list.
    next: u32,
}

pub(crate) struct Wheel {
    entries: Vec<Entry>,
    /// First free entry.
    free: u32,
    /// First entry of each slot list.
    heads: [u32; LEVELS * SLOTS],
    /// Which slots of each level hold entries.
    occupied: [u64; LEVELS],
    /// The tick every expiration up to which has been processed.
    elapsed: u64,
}

impl Default for Wheel {
    fn default() -> Self {
        Wheel {
            entries: Vec::new(),
            free: NONE,
            heads: [NONE; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            elapsed: 0,
        }
    }
}

/// The tick of deadline `at` (rounded up).
fn tick_of(at: u64) -> u64 {
    (at >> TICK_SHIFT) + u64::from(at & ((1 << TICK_SHIFT) - 1) != 0)
}

/// The level for a deadline at tick `when` seen from tick `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = ((elapsed ^ when) | (SLOTS as u64 - 1)).min(MAX_AHEAD - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

/// The next slot to process: its level, slot and the tick it is due at.
struct Expiration {
    level: usize,
    slot: usize,
    tick: u64,
}

impl Wheel {
    /// Queues a new entry waking `who` at `at`; returns its key.
    pub(crate) fn insert(&mut self, at: u64, who: u32) -> u32 {
        let e = Entry {
            at,
            who,
            list: FIRED,
            prev: NONE,
            next: NONE,
        };
        let key = match self.entries.get_mut(self.free as usize) {
            Some(slot) => {
                let key = self.free;
                self.free = slot.next;
                *slot = e;
                key
            }
            None => {
                let key = u32::try_from(self.entries.len()).unwrap_or(NONE);
                if key == NONE || key == FREE {
                    // Four billion timers: none more (it would wake nobody, never panic).
                    return NONE;
                }
                self.entries.push(e);
                key
            }
        };
        self.link(key);
        key
    }

    /// The deadline and whom entry `key` wakes, and whether it is queued (not fired yet);
    /// `None` for a key that is free.
    pub(crate) fn get(&self, key: u32) -> Option<(u64, u32, bool)> {
        let e = self.entries.get(key as usize)?;
        match e.list {
            FREE => None,
            FIRED => Some((e.at, e.who, false)),
            _ => Some((e.at, e.who, true)),
        }
    }

    /// Makes entry `key` wake `who`; queues it again if it fired.
    pub(crate) fn rearm(&mut self, key: u32, who: u32) {
        let Some(e) = self.entries.get_mut(key as usize) else {
            return;
        };
        if e.list == FREE {
            return;
        }
        e.who = who;
        if e.list == FIRED {
            self.link(key);
        }
    }

    /// Frees entry `key`, taking it out of its slot if queued; returns whom it woke (`None`
    /// for a free key or one that fired: whoever it named was handed to `fire`'s callback).
    pub(crate) fn remove(&mut self, key: u32) -> Option<u32> {
        let e = *self.entries.get(key as usize)?;
        if e.list == FREE {
            return None;
        }
        let queued = e.list != FIRED;
        if queued {
            self.unlink(key);
        }
        if let Some(slot) = self.entries.get_mut(key as usize) {
            slot.list = FREE;
            slot.who = NONE;
            slot.prev = NONE;
            slot.next = self.free;
            self.free = key;
        }
        queued.then_some(e.who)
    }

    /// Fires every entry due at `now` (nanoseconds): `due` gets whom each wakes. Returns how
    /// many fired.
    pub(crate) fn fire(&mut self, now: u64, mut due: impl FnMut(u32)) -> usize {
        let now = now >> TICK_SHIFT;
        let mut fired = 0;
        while let Some(x) = self.next_expiration() {
            if x.tick > now {
                break;
            }
            self.elapsed = x.tick;
            let list = x.level * SLOTS + x.slot;
            let mut key = self.heads.get(list).copied().unwrap_or(NONE);
            if let Some(h) = self.heads.get_mut(list) {
                *h = NONE;
            }
            if let Some(o) = self.occupied.get_mut(x.level) {
                *o &= !(1u64 << x.slot);
            }
            while let Some(e) = self.entries.get_mut(key as usize) {
                let next = e.next;
                if tick_of(e.at) <= x.tick {
                    let who = e.who;
                    e.list = FIRED;
                    e.who = NONE;
                    e.prev = NONE;
                    e.next = NONE;
                    due(who);
                    fired += 1;
                } else {
                    self.link(key);
                }
                key = next;
            }
        }
        // Nothing is due up to `now`: every entry still queued lies in a slot after it.
        self.elapsed = self.elapsed.max(now);
        fired
    }

    /// The time (nanoseconds) of the next expiration: a tick at or after the earliest
    /// deadline's, or, for far deadlines, the time their slot is due to be placed lower.
    pub(crate) fn next_due(&self) -> Option<u64> {
        self.next_expiration()
            .map(|x| x.tick.saturating_mul(1 << TICK_SHIFT))
    }

    /// Whether no entry is queued.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.occupied.iter().all(|&o| o == 0)
    }

    fn next_expiration(&self) -> Option<Expiration> {
        // Lower levels hold earlier deadlines: the first occupied one has the next expiration.
        let (level, &occupied) = self.occupied.iter().enumerate().find(|(_, &o)| o != 0)?;
        let shift = SLOT_BITS * level as u32;
        let slot_range = 1u64 << shift;
        let level_range = slot_range << SLOT_BITS;
        let now_slot = ((self.elapsed >> shift) % SLOTS as u64) as u32;
        let slot = (occupied.rotate_right(now_slot).trailing_zeros() + now_slot) % SLOTS as u32;
        let level_start = self.elapsed & !(level_range - 1);
        let mut tick = level_start + u64::from(slot) * slot_range;
        if tick <= self.elapsed {
            // The top level wrapped round (a deadline placed more than a turn ahead).
            tick += level_range;
        }
        Some(Expiration {
            level,
            slot: slot as usize,
            tick,
        })
    }

    /// Puts entry `key` in the slot its deadline falls in, seen from `elapsed`.
    fn link(&mut self, key: u32) {
        let Some(e) = self.entries.get(key as usize) else {
            return;
        };
        // Due at the next tick at the earliest (a slot at the wheel's position would wait a
        // whole turn), and placed no further than the wheel reaches.
        let when = tick_of(e.at)
            .max(self.elapsed + 1)
            .min(self.elapsed + MAX_AHEAD - 1);
        let level = level_for(self.elapsed, when);
        let slot = ((when >> (SLOT_BITS * level as u32)) % SLOTS as u64) as usize;
        let list = level * SLOTS + slot;
        let head = self.heads.get(list).copied().unwrap_or(NONE);
        if let Some(e) = self.entries.get_mut(key as usize) {
            e.list = list as u32;
            e.prev = NONE;
            e.next = head;
        }
        if let Some(h) = self.entries.get_mut(head as usize) {
            h.prev = key;
        }
        if let Some(h) = self.heads.get_mut(list) {
            *h = key;
        }
        if let Some(o) = self.occupied.get_mut(level) {
            *o |= 1u64 << slot;
        }
    }

    /// Takes queued entry `key` out of its slot list.
    fn unlink(&mut self, key: u32) {
        let Some(&e) = self.entries.get(key as usize) else {
            return;
        };
        let list = e.list as usize;
        match self.entries.get_mut(e.prev as usize) {
            Some(p) => p.next = e.next,
            None => {
                if let Some(h) = self.heads.get_mut(list) {
                    *h = e.next;
                }
            }
        }
        if let Some(n) = self.entries.get_mut(e.next as usize) {
            n.prev = e.prev;
        }
        if self.heads.get(list) == Some(&NONE) {
            if let Some(o) = self.occupied.get_mut(list / SLOTS) {
                *o &= !(1u64 << (list % SLOTS));
            }
        }
        if let Some(x) = self.entries.get_mut(key as usize) {
            x.list = FIRED;
            x.prev = NONE;
            x.next = NONE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Fires at `now` and returns whom, sorted.
    fn fire(w: &mut Wheel, now: u64) -> Vec<u32> {
        let mut got = Vec::new();
        w.fire(now, |who| got.push(who));
        got.sort();
        got
    }

    /// Steps the clock by `step` up to `until`, firing at each step; returns (time, who) of
    /// each firing.
    fn run(w: &mut Wheel, from: u64, until: u64, step: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        let mut now = from;
        while now <= until {
            w.fire(now, |who| out.push((now, who)));
            now += step;
        }
        out
    }

    #[test]
    fn an_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    /// Entries fire in deadline order, each at the first step at or after its deadline and
    /// less than a tick plus a step after it.
    #[test]
    fn entries_fire_in_order_never_early() {
        let mut w = Wheel::default();
        // Deadlines across levels 0 to 3, inserted out of order.
        let deadlines: Vec<u64> = vec![
            250 * MS,
            3 * MS,
            70 * MS,
            4_500 * MS,
            MS + 1,
            70 * MS + 500_000,
            300_000 * MS,
            5 * MS,
        ];
        for (who, &at) in deadlines.iter().enumerate() {
            w.insert(at, who as u32);
        }
        let step = 100_000; // 0.1 ms
        let got = run(&mut w, 0, 301_000 * MS, step);
        assert_eq!(got.len(), deadlines.len());
        let mut last = 0;
        for &(t, who) in &got {
            let at = deadlines[who as usize];
            assert!(t >= at, "entry {who} due at {at} fired early at {t}");
            assert!(
                t < at + (1 << TICK_SHIFT) + step,
                "entry {who} due at {at} fired late at {t}"
            );
            assert!(t >= last);
            last = t;
        }
        let order: Vec<u32> = got.iter().map(|&(_, w)| w).collect();
        assert_eq!(order, vec![4, 1, 7, 2, 5, 0, 3, 6]);
        assert!(w.is_empty());
        assert_eq!(w.next_due(), None);
    }

    /// A removed entry never fires; its key is reused by the next insert; the others still
    /// fire.
    #[test]
    fn removed_entries_never_fire() {
        let mut w = Wheel::default();
        let a = w.insert(10 * MS, 1);
        let b = w.insert(10 * MS, 2);
        let c = w.insert(10 * MS, 3);
        let far = w.insert(100_000 * MS, 4);
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.remove(far), Some(4));
        assert_eq!(w.remove(b), None, "a second removal is a no-op");
        assert_eq!(fire(&mut w, 9 * MS), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 12 * MS), vec![1, 3]);
        assert!(w.is_empty());
        // Fired entries stay their owners' until removed.
        assert_eq!(w.get(a), Some((10 * MS, NONE, false)));
        assert_eq!(w.remove(a), None);
        assert_eq!(w.remove(c), None);
        let d = w.insert(20 * MS, 5);
        assert!([a, b, c, far].contains(&d), "a free key is reused");
        assert_eq!(fire(&mut w, 21 * MS), vec![5]);
        // Removing the middle and the head of one slot's list keeps the rest linked.
        let keys: Vec<u32> = (0..5).map(|i| w.insert(30 * MS, 10 + i)).collect();
        w.remove(keys[2]);
        w.remove(keys[4]);
        assert_eq!(fire(&mut w, 31 * MS), vec![10, 11, 13]);
    }

    /// Deadlines a long way ahead (past the wheel's reach, and the largest there is) wait
    /// without firing, and a far one fires at its time.
    #[test]
    fn far_deadlines() {
        let mut w = Wheel::default();
        let year = 365 * 24 * 3_600 * 1_000 * MS;
        w.insert(3 * year, 1);
        w.insert(u64::MAX, 2);
        w.insert(40 * 24 * 3_600 * 1_000 * MS, 3); // 40 days: level 5
        assert_eq!(
            fire(&mut w, 39 * 24 * 3_600 * 1_000 * MS),
            Vec::<u32>::new()
        );
        assert_eq!(fire(&mut w, 40 * 24 * 3_600 * 1_000 * MS + 2 * MS), vec![3]);
        // Past the wheel's reach: placed again as it turns, never early.
        assert_eq!(fire(&mut w, 2 * year + 1), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 3 * year - 1), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 3 * year + 2 * MS), vec![1]);
        // The largest deadline is past the clock's last tick: it waits, never fires.
        assert!(w.next_due().is_some());
        assert_eq!(fire(&mut w, u64::MAX), Vec::<u32>::new());
    }

    /// A wheel not fired for a while (a worker preempted, or busy) fires everything that came
    /// due meanwhile at once, and places the later ones correctly.
    #[test]
    fn deadlines_reached_late_fire_at_once() {
        let mut w = Wheel::default();
        for i in 0..200u32 {
            w.insert(u64::from(i) * 7 * MS + 1, i);
        }
        // Everything due by 700 ms (i ≤ 99), from every level, in one call.
        let got = fire(&mut w, 700 * MS);
        assert_eq!(got, (0..100).collect::<Vec<u32>>());
        // An entry inserted now with a deadline already passed (by ticks) fires next time.
        w.insert(650 * MS, 999);
        assert_eq!(w.next_due(), Some(tick_of(700 * MS + 1) << TICK_SHIFT));
        let got = fire(&mut w, 702 * MS);
        assert_eq!(got, vec![100, 999]);
        let rest = run(&mut w, 702 * MS, 2_000 * MS, MS);
        assert_eq!(rest.len(), 99);
        for (t, who) in rest {
            assert!(t > u64::from(who) * 7 * MS);
        }
    }

    /// The next expiration is never after the earliest deadline, and a wheel with only far
    /// entries wakes to place them lower, not every tick.
    #[test]
    fn next_due_is_never_after_the_earliest_deadline() {
        let mut w = Wheel::default();
        w.insert(120_000 * MS, 1);
        let first = w.next_due().unwrap();
        assert!(first <= 120_000 * MS);
        assert!(
            first > 100 * MS,
            "a far entry does not wake the loop every tick"
        );
        w.insert(5 * MS, 2);
        let next = w.next_due().unwrap();
        assert!((5 * MS..6 * MS + MS / 10).contains(&next));
        assert_eq!(fire(&mut w, next), vec![2]);
        // Walking expirations up to the far deadline fires it exactly once, at its time.
        let mut wakes = 0;
        let mut got = Vec::new();
        while let Some(t) = w.next_due() {
            wakes += 1;
            w.fire(t, |who| got.push((t, who)));
        }
        assert_eq!(got.len(), 1);
        assert!(got[0].0 >= 120_000 * MS && got[0].0 < 120_000 * MS + 2 * MS);
        assert!(wakes <= 6, "{wakes} wake-ups to place one entry");
    }

    /// A fired entry armed again (its owner polled before its deadline on a fresher clock)
    /// is queued again with the new waker.
    #[test]
    fn a_fired_entry_can_be_armed_again() {
        let mut w = Wheel::default();
        let k = w.insert(10 * MS, 1);
        assert_eq!(fire(&mut w, 11 * MS), vec![1]);
        w.rearm(k, 7);
        assert_eq!(w.get(k), Some((10 * MS, 7, true)));
        assert_eq!(fire(&mut w, 12 * MS), vec![7]);
        // Re-arming a queued entry only changes whom it wakes.
        let k2 = w.insert(20 * MS, 2);
        w.rearm(k2, 3);
        assert_eq!(fire(&mut w, 25 * MS), vec![3]);
    }

    /// Many entries inserted and removed in random order: each fires once, never before its
    /// deadline and by the tick after it; a removed one never.
    #[test]
    fn churn_keeps_the_lists_consistent() {
        let mut w = Wheel::default();
        let mut rng = fastrand::Rng::with_seed(7);
        // who -> (key, deadline)
        let mut live: std::collections::HashMap<u32, (u32, u64)> = Default::default();
        let mut now = 0;
        for i in 0..20_000u32 {
            if !live.is_empty() && rng.bool() {
                let who = *live.keys().nth(rng.usize(..live.len())).unwrap();
                let (key, _) = live.remove(&who).unwrap();
                assert_eq!(w.remove(key), Some(who));
            } else {
                let at = now + rng.u64(1..200_000) * 100_000;
                live.insert(i, (w.insert(at, i), at));
            }
            if i % 100 == 0 {
                now += rng.u64(0..50) * MS;
                let mut fired = Vec::new();
                w.fire(now, |who| fired.push(who));
                for who in fired {
                    let (key, at) = live.remove(&who).expect("fired once, while live");
                    assert!(at <= now, "{who} due at {at} fired early at {now}");
                    assert_eq!(w.remove(key), None);
                }
                for (who, &(_, at)) in &live {
                    assert!(
                        at + (1 << TICK_SHIFT) > now,
                        "{who} due at {at} not fired at {now}"
                    );
                }
            }
        }
        let mut fired = 0;
        w.fire(u64::MAX - 1, |_| fired += 1);
        assert_eq!(fired, live.len());
        assert!(w.is_empty());
    }
}
