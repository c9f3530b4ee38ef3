//! Power of N random choices (HAProxy's `balance random(N)`, default 2): draw `draws` servers
//! at random, each with probability proportional to its weight, and send the request to the
//! one with the fewest requests in flight relative to its weight (leastconn's measure). Two
//! draws already keep the most loaded server close to the average (Mitzenmacher, "The Power of
//! Two Choices in Randomized Load Balancing") while costing a constant number of reads of the
//! shared in-flight counters; one draw is plain weighted random.
//!
//! The generator is SplitMix64, per balancer (so per worker): no shared state, no lock. Workers
//! seed it differently ([`super::Balancer::seed`]) so that they do not draw in step.

use super::{Candidate, Eligible};

#[derive(Clone, Debug)]
pub struct Random {
    draws: u32,
    state: u64,
}

impl Random {
    pub fn new(draws: u32) -> Self {
        Random {
            draws: draws.max(1),
            state: 0x853c_49e6_748f_ea9b,
        }
    }

    pub fn seed(&mut self, seed: u64) {
        self.state = seed;
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        super::source::mix(self.state)
    }

    pub(super) fn pick(&mut self, servers: &[Candidate], eligible: &Eligible) -> Option<usize> {
        let allowed = || {
            servers
                .iter()
                .enumerate()
                .filter(|(i, c)| eligible.allows(*i, c))
        };
        let total: u64 = allowed().map(|(_, c)| u64::from(c.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut best: Option<(usize, &Candidate)> = None;
        for _ in 0..self.draws {
            let mut at = self.next() % total;
            let drawn = allowed().find(|(_, c)| {
                let w = u64::from(c.weight);
                if at < w {
                    true
                } else {
                    at -= w;
                    false
                }
            });
            if let Some((i, c)) = drawn {
                if best.is_none_or(|(_, b)| lighter(c, b)) {
                    best = Some((i, c));
                }
            }
        }
        best.map(|(i, _)| i)
    }
}

/// `a` carries less than `b` relative to weight (weights are non-zero for eligible servers).
fn lighter(a: &Candidate, b: &Candidate) -> bool {
    u64::from(a.inflight) * u64::from(b.weight) < u64::from(b.inflight) * u64::from(a.weight)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ip, up};
    use super::super::{Balance, Balancer, Candidate, Pick};

    fn pick(b: &mut Balancer, servers: &[Candidate]) -> usize {
        match b.pick(servers, ip(1), None) {
            Pick::Server(i) => i,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn busy(inflight: u32) -> Candidate {
        Candidate { inflight, ..up(1) }
    }

    #[test]
    fn two_choices_avoid_the_loaded_server() {
        // one loaded server of two: it wins only when both draws fall on it (1 in 4)
        let mut b = Balancer::new(&Balance::Random { draws: 2 }, 2);
        let servers = [busy(50), busy(0)];
        let loaded = (0..4000).filter(|_| pick(&mut b, &servers) == 0).count();
        assert!((800..=1200).contains(&loaded), "{loaded}");
        // one draw ignores load: half and half
        let mut b = Balancer::new(&Balance::Random { draws: 1 }, 2);
        let loaded = (0..4000).filter(|_| pick(&mut b, &servers) == 0).count();
        assert!((1800..=2200).contains(&loaded), "{loaded}");
    }

    #[test]
    fn two_choices_keep_the_maximum_near_the_average() {
        // requests that finish in random order: the spread between servers stays small with
        // two draws, and grows with one
        let spread = |draws: u32| {
            let mut b = Balancer::new(&Balance::Random { draws }, 10);
            let mut servers: Vec<Candidate> = (0..10).map(|_| busy(0)).collect();
            let mut worst = 0;
            for step in 0..20_000u64 {
                let i = pick(&mut b, &servers);
                servers[i].inflight += 1;
                if step >= 200 {
                    // a finish on a server chosen by load-independent rotation
                    let j = (step as usize * 7) % 10;
                    if servers[j].inflight > 0 {
                        servers[j].inflight -= 1;
                    } else if let Some(k) = servers.iter().position(|c| c.inflight > 0) {
                        servers[k].inflight -= 1;
                    }
                }
                let max = servers.iter().map(|c| c.inflight).max().unwrap();
                let min = servers.iter().map(|c| c.inflight).min().unwrap();
                worst = worst.max(max - min);
            }
            worst
        };
        let (two, one) = (spread(2), spread(1));
        eprintln!("max - min: two draws {two}, one draw {one}");
        assert!(two <= 12, "two draws: max - min reached {two}");
        assert!(two * 2 <= one, "two draws {two}, one draw {one}");
    }

    #[test]
    fn draws_follow_weights() {
        let mut b = Balancer::new(&Balance::Random { draws: 1 }, 2);
        let servers = [up(3), up(1)];
        let heavy = (0..4000).filter(|_| pick(&mut b, &servers) == 0).count();
        assert!((2850..=3150).contains(&heavy), "{heavy}");
    }

    #[test]
    fn seeds_change_the_sequence() {
        let servers = [up(1), up(1), up(1), up(1)];
        let mut a = Balancer::new(&Balance::Random { draws: 2 }, 4);
        let mut b = Balancer::new(&Balance::Random { draws: 2 }, 4);
        b.seed(42);
        let sa: Vec<usize> = (0..32).map(|_| pick(&mut a, &servers)).collect();
        let sb: Vec<usize> = (0..32).map(|_| pick(&mut b, &servers)).collect();
        assert_ne!(sa, sb);
    }
}
