//! Source-address affinity by weighted rendezvous (highest-random-weight) hashing.
//!
//! **Client hash.** The client address is hashed with 64-bit FNV-1a over its bytes (4 for IPv4,
//! 16 for IPv6; an IPv4-mapped IPv6 address hashes as the IPv4 address, so a dual-stack
//! listener and an IPv4 listener agree). FNV-1a is a fixed function with no random seed, unlike
//! std's `RandomState`, so every worker thread, every process and every reload or binary
//! upgrade sends a client to the same server as long as the server set is the same.
//!
//! **Server choice.** For each eligible server `i` the pair (client hash, `i`) is mixed into a
//! uniform number `u` in (0, 1) and the server scores `weight / -ln(u)`; the highest score wins.
//! This is the weighted form of rendezvous hashing: a server's chance of winning is exactly
//! `weight / total weight`, and since each server's score depends only on the client and that
//! server, removing a server (down, full, excluded) moves only the clients for which it was the
//! winner; everyone else keeps their server. When it comes back its clients return to it.
//!
//! Servers are identified by their index in the backend's server list, so reordering servers in
//! the configuration reshuffles clients; adding a server at the end moves only the clients the
//! new server wins (about `its weight / total weight` of them).

use std::net::IpAddr;

use super::{Candidate, Eligible};

/// Stateless: the choice depends only on the client and the eligible set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Source;

impl Source {
    pub(super) fn pick(
        &self,
        servers: &[Candidate],
        eligible: &Eligible,
        client: IpAddr,
    ) -> Option<usize> {
        let key = client_hash(client);
        let mut best: Option<(usize, f64)> = None;
        for (i, c) in servers.iter().enumerate() {
            if !eligible.allows(i, c) {
                continue;
            }
            let score = score(key, i, c.weight);
            // strict `>`: on an (astronomically unlikely) exact tie the lower index wins
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// Stable 64-bit FNV-1a hash of a client address (see the module documentation).
pub fn client_hash(client: IpAddr) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let fold = |bytes: &[u8]| {
        bytes
            .iter()
            .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
    };
    match client {
        IpAddr::V4(v4) => fold(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => fold(&v4.octets()),
            None => fold(&v6.octets()),
        },
    }
}

/// SplitMix64's finaliser: spreads every input bit over the whole output.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Rendezvous score of server `index` for client hash `key`: `weight / -ln(u)`.
fn score(key: u64, index: usize, weight: u32) -> f64 {
    let h = mix(key ^ mix(index as u64));
    // 53 random bits, shifted by half a step: u is strictly inside (0, 1), so -ln(u) > 0
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(weight) / -u.ln()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{down, up};
    use super::super::{Balancer, Candidate, Pick};
    use super::client_hash;
    use crate::balance::Balance;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn client(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
    }

    fn pick(b: &mut Balancer, servers: &[Candidate], ip: IpAddr) -> usize {
        match b.pick(servers, ip, None) {
            Pick::Server(i) => i,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn hash_is_fixed_across_runs() {
        // pinned values: a change here would move every client of every deployment
        assert_eq!(
            client_hash(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            0x6c0b_1539_76ee_1fad
        );
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(
            client_hash(mapped),
            client_hash(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
        );
        assert_ne!(
            client_hash(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            client_hash(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
    }

    #[test]
    fn sticky_per_client_and_across_balancers() {
        let servers = [up(1), up(1), up(1), up(1)];
        let mut a = Balancer::new(&Balance::Source, 4);
        let mut b = Balancer::new(&Balance::Source, 4);
        for n in 0..200 {
            let first = pick(&mut a, &servers, client(n));
            for _ in 0..3 {
                assert_eq!(pick(&mut a, &servers, client(n)), first);
            }
            // another worker's balancer agrees
            assert_eq!(pick(&mut b, &servers, client(n)), first);
        }
    }

    #[test]
    fn only_the_downed_servers_clients_move() {
        let mut b = Balancer::new(&Balance::Source, 4);
        let all = [up(1), up(2), up(1), up(1)];
        let one_down = [up(1), down(2), up(1), up(1)];
        let mut moved = 0;
        for n in 0..2000 {
            let before = pick(&mut b, &all, client(n));
            let after = pick(&mut b, &one_down, client(n));
            if before == 1 {
                assert_ne!(after, 1);
                moved += 1;
            } else {
                assert_eq!(after, before, "client {n} moved off a healthy server");
            }
            // and it comes back when the server does
            assert_eq!(pick(&mut b, &all, client(n)), before);
        }
        // server 1 holds 2/5 of the weight
        assert!((700..=900).contains(&moved), "{moved}");
    }

    #[test]
    fn spread_follows_weights() {
        let mut b = Balancer::new(&Balance::Source, 3);
        let servers = [up(3), up(1), up(0)];
        let mut count = [0u32; 3];
        for n in 0..8000 {
            count[pick(&mut b, &servers, client(n))] += 1;
        }
        assert_eq!(count[2], 0);
        assert!((5700..=6300).contains(&count[0]), "{count:?}");
    }

    #[test]
    fn excluded_server_sends_the_client_to_its_second_choice() {
        let mut b = Balancer::new(&Balance::Source, 3);
        let servers = [up(1), up(1), up(1)];
        let ip = client(42);
        let first = pick(&mut b, &servers, ip);
        let second = match b.pick(&servers, ip, Some(first)) {
            Pick::Server(i) => i,
            other => panic!("unexpected {other:?}"),
        };
        assert_ne!(second, first);
        // the same as if the first choice were down
        let mut without = servers;
        without[first].up = false;
        assert_eq!(pick(&mut b, &without, ip), second);
    }
}
