//! Least connections, weighted.
//!
//! The eligible server with the lowest `(inflight + 1) / weight` wins: the load it would carry
//! after taking this request, relative to its weight (HAProxy's `leastconn` orders servers the
//! same way). The `+ 1` makes weights count when servers are idle: with weights 3 and 1 and
//! nothing in flight, the weight-3 server takes the first three requests. Ratios are compared
//! by cross-multiplication in `u64`, no floats, no rounding.
//!
//! Ties are broken by scanning from a rotating start index (one past the last winner), so
//! servers with equal load share new requests in turn instead of the first one taking them all
//! while `inflight` counts lag (they are shared across workers and updated after the pick).

use super::{Candidate, Eligible};

#[derive(Clone, Debug, Default)]
pub struct LeastConn {
    /// Index where the next scan starts; one past the previous winner.
    next: usize,
}

impl LeastConn {
    pub fn new() -> Self {
        LeastConn { next: 0 }
    }

    pub(super) fn pick(&mut self, servers: &[Candidate], eligible: &Eligible) -> Option<usize> {
        let n = servers.len();
        if n == 0 {
            return None;
        }
        let start = self.next % n;
        let mut best: Option<(usize, &Candidate)> = None;
        for i in (start..n).chain(0..start) {
            let Some(c) = servers.get(i) else { continue };
            if !eligible.allows(i, c) {
                continue;
            }
            if best.is_none_or(|(_, b)| lighter(c, b)) {
                best = Some((i, c));
            }
        }
        let (winner, _) = best?;
        self.next = winner + 1;
        Some(winner)
    }
}

/// Whether `a` would be strictly less loaded than `b` after taking one more request.
/// Weights are non-zero here: weight-0 servers are not eligible.
fn lighter(a: &Candidate, b: &Candidate) -> bool {
    let load_a = (u64::from(a.inflight) + 1) * u64::from(b.weight);
    let load_b = (u64::from(b.inflight) + 1) * u64::from(a.weight);
    load_a < load_b
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{full, ip, up};
    use super::super::{Balancer, Candidate, Pick};
    use crate::balance::Balance;

    fn busy(weight: u32, inflight: u32) -> Candidate {
        Candidate {
            inflight,
            ..up(weight)
        }
    }

    fn pick(b: &mut Balancer, servers: &[Candidate]) -> usize {
        match b.pick(servers, ip(1), None) {
            Pick::Server(i) => i,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn prefers_the_idle_server() {
        let mut b = Balancer::new(&Balance::LeastConn, 3);
        let servers = [busy(1, 4), busy(1, 0), busy(1, 2)];
        for _ in 0..10 {
            assert_eq!(pick(&mut b, &servers), 1);
        }
    }

    #[test]
    fn load_is_relative_to_weight() {
        let mut b = Balancer::new(&Balance::LeastConn, 2);
        // 5 in flight on weight 10 (0.6 after +1) beats 1 on weight 1 (2.0)
        assert_eq!(pick(&mut b, &[busy(10, 5), busy(1, 1)]), 0);
        // 29 on weight 10 (3.0) loses to 1 on weight 1 (2.0)
        assert_eq!(pick(&mut b, &[busy(10, 29), busy(1, 1)]), 1);
    }

    #[test]
    fn equal_servers_take_turns() {
        let mut b = Balancer::new(&Balance::LeastConn, 3);
        let servers = [busy(2, 3), busy(2, 3), busy(2, 3)];
        let got: Vec<usize> = (0..6).map(|_| pick(&mut b, &servers)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
        // only the tied servers rotate; the loaded one is never chosen
        let servers = [busy(1, 1), busy(1, 9), busy(1, 1)];
        let got: Vec<usize> = (0..4).map(|_| pick(&mut b, &servers)).collect();
        assert!(!got.contains(&1));
        assert!(got.contains(&0) && got.contains(&2));
    }

    #[test]
    fn spreads_load_by_weight_when_inflight_is_tracked() {
        // simulate requests that never finish: inflight grows with every pick
        let mut b = Balancer::new(&Balance::LeastConn, 2);
        let mut servers = [up(3), up(1)];
        let mut count = [0usize; 2];
        for _ in 0..400 {
            let i = pick(&mut b, &servers);
            count[i] += 1;
            servers[i].inflight += 1;
        }
        assert_eq!(count, [300, 100]);
    }

    #[test]
    fn skips_full_servers_even_when_idle() {
        let mut b = Balancer::new(&Balance::LeastConn, 2);
        let idle_but_full = full(1);
        assert_eq!(pick(&mut b, &[idle_but_full, busy(1, 50)]), 1);
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let mut b = Balancer::new(&Balance::LeastConn, 2);
        let servers = [busy(u32::MAX, u32::MAX), busy(u32::MAX, u32::MAX - 1)];
        assert_eq!(pick(&mut b, &servers), 1);
    }
}
