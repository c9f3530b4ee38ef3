//! Consistent hashing on a ring, with bounded load.
//!
//! **The ring.** Every server owns points on a 64-bit circle: `POINTS` for the heaviest server
//! of the backend and proportionally fewer for lighter ones (at least one). A point's position
//! is a hash of the server's *name* and the point's rank, so the ring does not depend on the
//! order of the servers in the configuration, and adding or removing a server adds or removes
//! only its own points. A key goes to the server owning the first point at or after the key's
//! hash, walking clockwise. The ring is built once per snapshot and shared by every worker.
//!
//! **Health and weight without rebuilding.** Points of servers that may not take the request
//! (down, drained, full, excluded) are skipped on the walk, which is the same as removing them:
//! only that server's keys move, each to the next server on the ring, and they come back
//! with it. A server whose weight is below its configured weight (slow start, an operator's
//! weight) uses only its first points in rank order, `points × weight / configured`, so the
//! keys it owns at a lower weight are a subset of those it owns at a higher one (HAProxy's
//! `lb_chash.c` adds and removes a server's nodes the same way). A weight above the configured
//! one counts as the configured one: the ring has no more points for it.
//!
//! **Bounded load** (`hash_balance_factor`, from "Consistent Hashing with Bounded Loads",
//! Mirrokni et al.; HAProxy's `chash_server_is_eligible`): with factor `f` percent, a server
//! takes a request only while its in-flight count is below
//! `ceil((total in flight + 1) × f / 100 × weight / total weight)`; otherwise the walk goes on
//! to the next server. The `+ 1` counts the request being placed, so the caps add up to more
//! than the load and some server always has room. After every pick no server carries more than
//! `f / 100` times the average (rounded up).

use std::sync::Arc;

use super::{Candidate, Eligible, WEIGHT_SCALE};

/// Points of the heaviest server: enough that each server's share of the circle is within a
/// few percent of its weight's share (the spread shrinks as `1 / sqrt(POINTS)`).
const POINTS: u32 = 160;

/// One server's point on the circle.
#[derive(Clone, Copy, Debug)]
struct Point {
    pos: u64,
    server: u32,
    /// Order of this point among its server's points; a server at a lower weight uses the
    /// points of low rank only.
    rank: u32,
}

/// The ring of one backend, built once per snapshot.
#[derive(Debug)]
pub struct Ring {
    /// Sorted by position.
    points: Vec<Point>,
    /// Per server index: (points on the ring, configured weight).
    servers: Vec<(u32, u32)>,
}

impl Ring {
    /// Builds the ring of `servers`, given as `(name, configured weight)` in backend order.
    pub fn new(servers: &[(&str, u32)]) -> Ring {
        let heaviest = servers.iter().map(|s| s.1).max().unwrap_or(1).max(1);
        let mut points = Vec::new();
        let mut own = Vec::with_capacity(servers.len());
        for (i, (name, weight)) in servers.iter().enumerate() {
            let n = (u64::from(POINTS) * u64::from(*weight)).div_ceil(u64::from(heaviest));
            let n = u32::try_from(n).unwrap_or(POINTS).max(1);
            let id = super::key_hash(name.as_bytes());
            for rank in 0..n {
                points.push(Point {
                    pos: super::source::mix(id ^ super::source::mix(u64::from(rank))),
                    server: u32::try_from(i).unwrap_or(u32::MAX),
                    rank,
                });
            }
            own.push((n, *weight));
        }
        points.sort_unstable_by_key(|p| (p.pos, p.server));
        Ring {
            points,
            servers: own,
        }
    }

    /// Points in use by a server whose weight in force is `weight` (scaled).
    fn active(&self, server: usize, weight: u32) -> u32 {
        let Some(&(n, configured)) = self.servers.get(server) else {
            return 0;
        };
        let full = u64::from(configured.max(1)) * u64::from(WEIGHT_SCALE);
        let w = u64::from(weight).min(full);
        u32::try_from((u64::from(n) * w).div_ceil(full)).unwrap_or(n)
    }
}

/// Per-worker state of a consistent-hashing pick: the shared ring and scratch space.
#[derive(Clone, Debug)]
pub struct Consistent {
    ring: Arc<Ring>,
    /// Per server: points in use and load cap of the current pick (reused, grows only).
    scratch: Vec<(u32, u64)>,
    /// Bounded load in percent; 0 = off.
    factor: u32,
}

impl Consistent {
    pub fn new(ring: Arc<Ring>, factor: u32) -> Self {
        Consistent {
            ring,
            scratch: Vec::new(),
            factor,
        }
    }

    /// The server for key hash `key`, or `None` when no point of an eligible server is found
    /// (a slice longer than the ring); the caller then balances without the key.
    pub(super) fn pick(
        &mut self,
        servers: &[Candidate],
        eligible: &Eligible,
        key: u64,
    ) -> Option<usize> {
        let (mut load, mut weight) = (0u64, 0u64);
        for (i, c) in servers.iter().enumerate() {
            if eligible.allows(i, c) {
                load += u64::from(c.inflight);
                weight += u64::from(c.weight);
            }
        }
        self.scratch.clear();
        for (i, c) in servers.iter().enumerate() {
            let active = self.ring.active(i, c.weight);
            let cap = if self.factor == 0 || weight == 0 {
                u64::MAX
            } else {
                // ceil((load + 1) × factor × w / (100 × W)), in u128: no overflow
                let num = u128::from(load + 1) * u128::from(self.factor) * u128::from(c.weight);
                let den = u128::from(weight) * 100;
                u64::try_from(num.div_ceil(den)).unwrap_or(u64::MAX)
            };
            self.scratch.push((active, cap));
        }
        let points = &self.ring.points;
        let start = points.partition_point(|p| p.pos < key);
        for p in points.iter().skip(start).chain(points.iter().take(start)) {
            let i = p.server as usize;
            let (Some(c), Some(&(active, cap))) = (servers.get(i), self.scratch.get(i)) else {
                continue;
            };
            if p.rank < active && eligible.allows(i, c) && u64::from(c.inflight) < cap {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ip, up};
    use super::super::{
        key_hash, Balance, Balancer, Candidate, HashBalance, HashKey, HashMethod, Pick,
        WEIGHT_SCALE,
    };
    use super::Ring;
    use std::sync::Arc;

    fn consistent(factor: u32) -> Balance {
        Balance::Hash(HashBalance {
            key: HashKey::Path,
            method: HashMethod::Consistent,
            factor,
            uri_len: 0,
            uri_depth: 0,
        })
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("web{i}")).collect()
    }

    fn balancer(names: &[String], factor: u32) -> Balancer {
        let list: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        let algo = consistent(factor);
        let ring = algo.ring(&list);
        Balancer::with_ring(&algo, names.len(), ring)
    }

    fn scaled(n: usize) -> Vec<Candidate> {
        (0..n).map(|_| up(WEIGHT_SCALE)).collect()
    }

    fn owner(b: &mut Balancer, servers: &[Candidate], key: u64) -> usize {
        match b.pick_keyed(servers, ip(1), Some(key), None) {
            Pick::Server(i) => i,
            other => panic!("unexpected {other:?}"),
        }
    }

    const KEYS: u64 = 10_000;

    fn key(k: u64) -> u64 {
        key_hash(format!("/object/{k}").as_bytes())
    }

    #[test]
    fn adding_a_server_moves_about_one_nth_of_the_keys_and_only_to_it() {
        for n in [4usize, 10] {
            let before_names = names(n);
            let after_names = names(n + 1);
            let mut before = balancer(&before_names, 0);
            let mut after = balancer(&after_names, 0);
            let (sb, sa) = (scaled(n), scaled(n + 1));
            let mut moved = 0u64;
            for k in 0..KEYS {
                let (x, y) = (
                    owner(&mut before, &sb, key(k)),
                    owner(&mut after, &sa, key(k)),
                );
                if x != y {
                    assert_eq!(y, n, "key {k} moved between two old servers");
                    moved += 1;
                }
            }
            let share = moved as f64 / KEYS as f64;
            let ideal = 1.0 / (n + 1) as f64;
            eprintln!(
                "{n} → {} servers: {share:.4} of {KEYS} keys moved (1/N = {ideal:.4})",
                n + 1
            );
            assert!(
                share <= ideal + 0.05,
                "n={n}: {share} of keys moved, ideal {ideal}"
            );
            assert!(
                share >= ideal - 0.05,
                "n={n}: the new server got only {share}"
            );
        }
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let n = 10;
        let all = names(n);
        // removed from the configuration: a ring built without it
        let mut without: Vec<String> = all.clone();
        without.remove(3);
        let mut full = balancer(&all, 0);
        let mut less = balancer(&without, 0);
        let (sf, sl) = (scaled(n), scaled(n - 1));
        // and down in place: the same ring, its points skipped
        let mut down = scaled(n);
        down[3].up = false;
        let mut moved = 0u64;
        for k in 0..KEYS {
            let x = owner(&mut full, &sf, key(k));
            let name_after = &without[owner(&mut less, &sl, key(k))];
            let y = owner(&mut full, &down, key(k));
            if x == 3 {
                moved += 1;
                assert_ne!(y, 3);
            } else {
                assert_eq!(&all[x], name_after, "key {k} moved off a remaining server");
                assert_eq!(x, y, "key {k} moved off a healthy server");
            }
            // in place, the moved keys land where they would without the server
            assert_eq!(&all[y], name_after);
        }
        let share = moved as f64 / KEYS as f64;
        eprintln!(
            "{n} → {} servers: {share:.4} of {KEYS} keys moved (1/N = {:.4})",
            n - 1,
            1.0 / n as f64
        );
        assert!(share <= 1.0 / n as f64 + 0.05, "{share} of keys moved");
    }

    #[test]
    fn shares_follow_weights() {
        let ring = Arc::new(Ring::new(&[("a", 1), ("b", 3)]));
        let mut b = Balancer::with_ring(&consistent(0), 2, Some(ring));
        let servers = [up(WEIGHT_SCALE), up(3 * WEIGHT_SCALE)];
        let mut count = [0u64; 2];
        for k in 0..KEYS {
            count[owner(&mut b, &servers, key(k))] += 1;
        }
        let share = count[1] as f64 / KEYS as f64;
        assert!((0.70..=0.80).contains(&share), "{count:?}");
    }

    #[test]
    fn a_lower_weight_owns_a_subset_of_its_keys() {
        let list = names(4);
        let mut b = balancer(&list, 0);
        let full = scaled(4);
        let mut half = scaled(4);
        half[0].weight = WEIGHT_SCALE / 2;
        let (mut at_full, mut at_half) = (0, 0);
        for k in 0..KEYS {
            let x = owner(&mut b, &full, key(k));
            let y = owner(&mut b, &half, key(k));
            if y == 0 {
                assert_eq!(x, 0, "key {k} came to the ramping server from another");
                at_half += 1;
            }
            if x == 0 {
                at_full += 1;
            }
        }
        assert!(
            at_half * 10 > at_full * 3 && at_half * 10 < at_full * 7,
            "{at_half} of {at_full}"
        );
    }

    #[test]
    fn bounded_load_keeps_every_server_under_factor_times_the_average() {
        for factor in [125u32, 150, 200] {
            let list = names(5);
            let mut b = balancer(&list, factor);
            let mut servers = scaled(5);
            // the worst case for plain consistent hashing: one hot key, requests that stay
            let hot = key(7);
            for placed in 1..=500u64 {
                let i = owner(&mut b, &servers, hot);
                servers[i].inflight += 1;
                let max = servers.iter().map(|c| u64::from(c.inflight)).max().unwrap();
                let bound = (placed * u64::from(factor)).div_ceil(100 * 5);
                assert!(
                    max <= bound,
                    "factor {factor}: {max} > {bound} after {placed}"
                );
            }
            let max = servers.iter().map(|c| c.inflight).max().unwrap();
            eprintln!(
                "factor {factor}: one hot key, 500 in flight on 5 servers, max {max} (average 100)"
            );
            // and a mix of keys with requests finishing stays bounded too
            for k in 0..5000u64 {
                let i = owner(&mut b, &servers, key(k % 37));
                servers[i].inflight += 1;
                let j = (k as usize * 7) % 5;
                servers[j].inflight = servers[j].inflight.saturating_sub(1);
                let total: u64 = servers.iter().map(|c| u64::from(c.inflight)).sum();
                let max = servers.iter().map(|c| u64::from(c.inflight)).max().unwrap();
                // one finish may come after the pick: allow the request placed just now
                assert!(max <= ((total + 1) * u64::from(factor)).div_ceil(500) + 1);
            }
        }
    }

    #[test]
    fn without_a_bound_a_hot_key_stays_on_one_server() {
        let list = names(5);
        let mut b = balancer(&list, 0);
        let mut servers = scaled(5);
        let first = owner(&mut b, &servers, key(7));
        for _ in 0..50 {
            let i = owner(&mut b, &servers, key(7));
            assert_eq!(i, first);
            servers[i].inflight += 1;
        }
    }
}
