//! Smooth weighted round robin, as nginx does it.
//!
//! Every server carries a `current` score. On each pick every eligible server's score grows by
//! its weight, the highest score wins (lowest index on ties) and the winner's score drops by the
//! total weight of the eligible set. Over any run of `total weight` consecutive picks on a stable
//! set, each server is chosen exactly `weight` times, and heavy servers are interleaved with
//! light ones instead of being chosen in bursts (weights 5,1,1 give `a a b a c a a`).
//!
//! A server that is not eligible for a pick (down, full, excluded) has its score reset to 0, so
//! it rejoins without a stale credit or debt; the score it had is handed to the winner of that
//! pick. The scores of all servers therefore always sum to 0, which is the condition under which
//! smooth round robin keeps every score within `±total weight` and the proportions exact over
//! the long run whatever the churn. Right after the set changes the order may differ from the
//! fresh-start sequence for a cycle or so.

use super::{Candidate, Eligible};

#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    /// Score per server index; grows to the slice length on demand.
    current: Vec<i64>,
}

impl RoundRobin {
    pub fn new(servers: usize) -> Self {
        RoundRobin {
            current: vec![0; servers],
        }
    }

    pub(super) fn pick(&mut self, servers: &[Candidate], eligible: &Eligible) -> Option<usize> {
        if self.current.len() < servers.len() {
            self.current.resize(servers.len(), 0);
        }
        let mut total: i64 = 0;
        // Scores taken from servers leaving the set, handed to the winner so that the scores of
        // all servers keep summing to 0.
        let mut carry: i64 = 0;
        // (index, score) of the highest score so far; strict `>` keeps the lowest index on ties.
        let mut best: Option<(usize, i64)> = None;
        for (i, (c, score)) in servers.iter().zip(self.current.iter_mut()).enumerate() {
            if !eligible.allows(i, c) {
                carry += *score;
                *score = 0;
                continue;
            }
            let weight = i64::from(c.weight);
            *score += weight;
            total += weight;
            if best.is_none_or(|(_, top)| *score > top) {
                best = Some((i, *score));
            }
        }
        let (winner, _) = best?;
        if let Some(score) = self.current.get_mut(winner) {
            *score += carry - total;
        }
        Some(winner)
    }
}
#[cfg(test)]
mod tests {
    use super::super::testutil::{down, full, ip, up};
    use super::super::{Balancer, Candidate, Pick};
    use crate::balance::Balance;

    fn run(b: &mut Balancer, servers: &[Candidate], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| match b.pick(servers, ip(1), None) {
                Pick::Server(i) => i,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn exact_smooth_sequence() {
        let mut b = Balancer::new(&Balance::RoundRobin, 3);
        let servers = [up(5), up(1), up(1)];
        // nginx's documented sequence for weights 5,1,1, repeated every 7 picks
        let cycle = [0, 0, 1, 0, 2, 0, 0];
        let got = run(&mut b, &servers, 21);
        let want: Vec<usize> = cycle.iter().copied().cycle().take(21).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn equal_weights_alternate() {
        let mut b = Balancer::new(&Balance::RoundRobin, 3);
        let got = run(&mut b, &[up(1), up(1), up(1)], 9);
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn weights_three_to_one_over_400_picks() {
        let mut b = Balancer::new(&Balance::RoundRobin, 2);
        let servers = [up(3), up(1)];
        let got = run(&mut b, &servers, 400);
        assert_eq!(got.iter().filter(|&&i| i == 0).count(), 300);
        assert_eq!(got.iter().filter(|&&i| i == 1).count(), 100);
        // exact in every cycle of 4, not only overall
        for cycle in got.chunks(4) {
            assert_eq!(cycle.iter().filter(|&&i| i == 1).count(), 1, "{cycle:?}");
        }
    }

    #[test]
    fn down_server_leaves_and_rejoins_cleanly() {
        let count = |v: &[usize], i: usize| v.iter().filter(|&&x| x == i).count();
        let mut b = Balancer::new(&Balance::RoundRobin, 3);
        let all = [up(2), up(1), up(1)];
        run(&mut b, &all, 5);
        let one_down = [up(2), down(1), up(1)];
        let got = run(&mut b, &one_down, 30);
        assert_eq!(count(&got, 1), 0);
        // the set changed mid-cycle: the first cycle may be off by one, never more
        assert!(count(&got, 0).abs_diff(20) <= 1, "{got:?}");
        let got = run(&mut b, &all, 400);
        assert!(count(&got, 0).abs_diff(200) <= 1, "{got:?}");
        assert!(count(&got, 1).abs_diff(100) <= 1, "{got:?}");
        // once settled, every cycle of 4 is exact again
        for cycle in got[8..].chunks_exact(4) {
            assert_eq!(count(cycle, 0), 2, "{cycle:?}");
        }
    }

    #[test]
    fn scores_stay_bounded_under_churn() {
        let mut b = Balancer::new(&Balance::RoundRobin, 4);
        let sets = [
            [up(7), up(1), up(3), up(2)],
            [full(7), up(1), down(3), up(2)],
            [up(7), down(1), up(3), full(2)],
        ];
        for round in 0..3000 {
            let set = &sets[round % 3];
            let _ = b.pick(set, ip(1), Some(round % 4));
        }
        if let Balancer {
            algo: super::super::Algo::RoundRobin(rr),
        } = &b
        {
            assert!(
                rr.current.iter().all(|s| s.abs() <= 2 * 13),
                "{:?}",
                rr.current
            );
        } else {
            panic!("not round robin");
        }
    }
}
