//! Balancing on a hash of a request key (the URI, a URL parameter, a header, a cookie):
//! requests with the same key go to the same server while the server set is stable, which
//! keeps a cache behind ringlb warm (HAProxy's `balance uri|url_param|hdr`).
//!
//! The proxy extracts the key and hashes it with [`key_hash`]; this file maps the hash to a
//! server, on the ring (`chash.rs`, the default) or map-based: the hash modulo the total weight
//! of the eligible servers, walked in server order. A request without the key (no such
//! parameter, header or cookie) is balanced round robin, as HAProxy does.

use std::sync::Arc;

use super::chash::{Consistent, Ring};
use super::{Candidate, Eligible, HashBalance, HashMethod, RoundRobin};

/// Stable 64-bit hash of a key: FNV-1a over its bytes, then SplitMix64's finaliser so that
/// keys differing in one byte land far apart on the ring. Fixed, unseeded: every worker,
/// process and reload agrees.
pub fn key_hash(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let h = bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    super::source::mix(h)
}

#[derive(Clone, Debug)]
pub struct Hash {
    method: Method,
    /// Requests without the key.
    fallback: RoundRobin,
}

#[derive(Clone, Debug)]
enum Method {
    Consistent(Consistent),
    MapBased,
}

impl Hash {
    pub fn new(h: &HashBalance, servers: usize, ring: Option<Arc<Ring>>) -> Hash {
        let method = match h.method {
            HashMethod::MapBased => Method::MapBased,
            HashMethod::Consistent => {
                let ring = ring.unwrap_or_else(|| {
                    let names: Vec<String> = (0..servers).map(|i| i.to_string()).collect();
                    let list: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
                    Arc::new(Ring::new(&list))
                });
                Method::Consistent(Consistent::new(ring, h.factor))
            }
        };
        Hash {
            method,
            fallback: RoundRobin::new(servers),
        }
    }

    pub(super) fn pick(
        &mut self,
        servers: &[Candidate],
        eligible: &Eligible,
        key: Option<u64>,
    ) -> Option<usize> {
        let chosen = match (key, &mut self.method) {
            (None, _) => None,
            (Some(k), Method::Consistent(c)) => c.pick(servers, eligible, k),
            (Some(k), Method::MapBased) => map_based(servers, eligible, k),
        };
        chosen.or_else(|| self.fallback.pick(servers, eligible))
    }
}

/// The server at `key mod total weight` along the eligible servers in order.
fn map_based(servers: &[Candidate], eligible: &Eligible, key: u64) -> Option<usize> {
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
    let mut at = key % total;
    for (i, c) in allowed() {
        let w = u64::from(c.weight);
        if at < w {
            return Some(i);
        }
        at -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{down, ip, up};
    use super::super::{Balance, Balancer, HashBalance, HashKey, HashMethod, Pick};
    use super::key_hash;

    fn map_based() -> Balance {
        Balance::Hash(HashBalance {
            key: HashKey::Path,
            method: HashMethod::MapBased,
            factor: 0,
            uri_len: 0,
            uri_depth: 0,
        })
    }

    fn pick(b: &mut Balancer, servers: &[super::Candidate], key: Option<u64>) -> usize {
        match b.pick_keyed(servers, ip(1), key, None) {
            Pick::Server(i) => i,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn key_hash_is_fixed() {
        // pinned: a change here would move every key of every deployment
        assert_eq!(
            key_hash(b""),
            super::super::source::mix(0xcbf2_9ce4_8422_2325)
        );
        assert_ne!(key_hash(b"/a"), key_hash(b"/b"));
        assert_eq!(key_hash(b"/index.html"), key_hash(b"/index.html"));
    }

    #[test]
    fn map_based_is_sticky_and_follows_weights() {
        let mut b = Balancer::new(&map_based(), 3);
        let servers = [up(1), up(2), up(1)];
        let mut count = [0u32; 3];
        for k in 0..8000u32 {
            let h = key_hash(&k.to_le_bytes());
            let first = pick(&mut b, &servers, Some(h));
            assert_eq!(pick(&mut b, &servers, Some(h)), first);
            count[first] += 1;
        }
        assert!((3700..=4300).contains(&count[1]), "{count:?}");
    }

    #[test]
    fn map_based_skips_servers_that_cannot_take_the_request() {
        let mut b = Balancer::new(&map_based(), 3);
        let servers = [up(1), down(1), up(1)];
        for k in 0..500u32 {
            assert_ne!(pick(&mut b, &servers, Some(key_hash(&k.to_le_bytes()))), 1);
        }
    }

    #[test]
    fn without_a_key_requests_go_round_robin() {
        for method in [HashMethod::MapBased, HashMethod::Consistent] {
            let algo = Balance::Hash(HashBalance {
                key: HashKey::Header("x-user".into()),
                method,
                factor: 0,
                uri_len: 0,
                uri_depth: 0,
            });
            let mut b = Balancer::new(&algo, 3);
            let servers = [up(1), up(1), up(1)];
            let got: Vec<usize> = (0..6).map(|_| pick(&mut b, &servers, None)).collect();
            assert_eq!(got, [0, 1, 2, 0, 1, 2]);
        }
    }
}
