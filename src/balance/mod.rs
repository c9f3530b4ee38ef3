//! Server selection: which server of a backend gets the next request or connection.
//!
//! This room is pure: no I/O, no clock, no threads. It imports only std: nothing else in ringlb.
//! It owns the algorithm names ([`Balance`]); `config` parses `balance = "…"` into them and
//! re-exports the type as `config::Balance`. A worker keeps one [`Balancer`] per backend and, for every
//! pick, describes the backend's servers as a slice of [`Candidate`]s (same order, same length
//! as the backend's server list, every time).
//!
//! Every algorithm sees the same *eligible set*, computed by [`Eligible`]:
//! 1. a server is *usable* when it is up and its weight is not 0 (weight 0 drains a server:
//!    it keeps its sessions in flight but gets no new ones);
//! 2. if any non-backup server is usable, the eligible tier is the usable non-backup servers;
//!    otherwise it is the usable backup servers, all of them, balanced like normal servers;
//! 3. an empty tier gives [`Pick::NoServer`]; a tier whose every server is at its `maxconn`
//!    (`has_room == false`) gives [`Pick::Full`] and the caller queues;
//! 4. the `exclude` server (the one that just failed, on redispatch) is dropped from the set
//!    unless it is the only server of the tier with room.
//!
//! Invariants: `pick` never panics whatever the slice looks like (servers appearing, vanishing,
//! a slice longer or shorter than at construction) and allocates only when the slice grows.
//! The returned index is always `< servers.len()` and names a server of the eligible set.
//!
//! | file | algorithm |
//! |------|-----------|
//! | `roundrobin.rs` | smooth weighted round robin |
//! | `leastconn.rs` | fewest in flight relative to weight |
//! | `source.rs` | client address, weighted rendezvous hashing |
//! | `hash.rs` | a request key (URI, URL parameter, header, cookie): map-based or on the ring |
//! | `chash.rs` | the consistent hash ring, with bounded load (`hash_balance_factor`) |
//! | `random.rs` | power of N random choices over in-flight requests |
//!
//! Weights: the caller passes weights multiplied by [`WEIGHT_SCALE`], so that a ramping weight
//! (slow start) has steps finer than one configured unit; every algorithm depends only on the
//! ratios of weights, so the scale changes no choice.

mod chash;
mod hash;
mod leastconn;
mod random;
mod roundrobin;
mod source;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use chash::Ring;
pub use hash::key_hash;
pub use leastconn::LeastConn;
pub use random::Random;
pub use roundrobin::RoundRobin;
pub use source::{client_hash, Source};

/// Factor between a configured weight and the weight a [`Candidate`] carries: weight 1 ramps
/// in 16 steps during slow start (HAProxy scales weights by the same 16).
pub const WEIGHT_SCALE: u32 = 16;

/// A backend's balancing algorithm, as `balance = "…"` names it. It lives here, with the
/// algorithms, and `config` parses into it (config sits above this room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Fewest requests in flight (counted across workers), ties broken round robin.
    LeastConn,
    /// Hash of the client address: a client sticks to a server while the server set is stable.
    Source,
    /// Hash of a request key; requests without the key are balanced round robin.
    Hash(HashBalance),
    /// Power of `draws` random choices: `draws` servers drawn by weight, the least loaded wins.
    Random { draws: u32 },
}

/// What a hashing backend hashes, and how keys map to servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashBalance {
    pub key: HashKey,
    pub method: HashMethod,
    /// Bounded load, percent of the average in flight a server may carry (consistent hashing
    /// only); 0 = no bound. 150 lets a server take half again its share before keys spill
    /// over to the next server on the ring.
    pub factor: u32,
    /// `uri` keys only: hash at most this many bytes of the path; 0 = all (HAProxy's `len`).
    pub uri_len: u32,
    /// `uri` keys only: hash at most this many directory levels, one per `/`; 0 = all
    /// (HAProxy's `depth`).
    pub uri_depth: u32,
}

/// The part of a request a hashing backend hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The path, without the query string (`balance = "uri"`).
    Path,
    /// The path and the query string (`balance = "uri whole"`).
    Uri,
    /// The value of a query-string parameter (`url_param(NAME)`).
    UrlParam(String),
    /// The value of a request header, first occurrence (`hdr(NAME)`, name in lower case).
    Header(String),
    /// The value of a request cookie (`cookie(NAME)`).
    Cookie(String),
}

/// How a key hash maps to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashMethod {
    /// The hash ring: a server going away moves only its own keys.
    Consistent,
    /// Hash modulo the total weight of the eligible servers: even, but a change in the set
    /// moves most keys.
    MapBased,
}

impl Balance {
    /// Whether a server's weight may change while it runs (slow start): every algorithm but
    /// map-based hashing, whose keys would all move at each step (HAProxy's static
    /// algorithms ignore slow start the same way).
    pub fn dynamic(&self) -> bool {
        !matches!(
            self,
            Balance::Hash(HashBalance {
                method: HashMethod::MapBased,
                ..
            })
        )
    }

    /// The ring a consistent-hashing backend needs; `servers` are `(name, configured weight)`.
    pub fn ring(&self, servers: &[(&str, u32)]) -> Option<Arc<Ring>> {
        match self {
            Balance::Hash(HashBalance {
                method: HashMethod::Consistent,
                ..
            }) => Some(Arc::new(Ring::new(servers))),
            _ => None,
        }
    }
}

/// The name as `balance = "…"` writes it.
impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Balance::RoundRobin => f.write_str("roundrobin"),
            Balance::LeastConn => f.write_str("leastconn"),
            Balance::Source => f.write_str("source"),
            Balance::Random { draws } => write!(f, "random({draws})"),
            Balance::Hash(h) => {
                match &h.key {
                    HashKey::Path => f.write_str("uri")?,
                    HashKey::Uri => f.write_str("uri whole")?,
                    HashKey::UrlParam(n) => return write!(f, "url_param({n})"),
                    HashKey::Header(n) => return write!(f, "hdr({n})"),
                    HashKey::Cookie(n) => return write!(f, "cookie({n})"),
                }
                if h.uri_len != 0 {
                    write!(f, " len {}", h.uri_len)?;
                }
                if h.uri_depth != 0 {
                    write!(f, " depth {}", h.uri_depth)?;
                }
                Ok(())
            }
        }
    }
}

/// What the balancer needs to know about one server at the moment of a pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Share of traffic relative to the other servers of the backend; 0 drains the server.
    pub weight: u32,
    /// Health: a down server never receives traffic.
    pub up: bool,
    /// Backup servers receive traffic only while no normal server is up.
    pub backup: bool,
    /// Requests (http) or connections (tcp) in flight to this server; leastconn's load metric.
    pub inflight: u32,
    /// False when the server is at its `maxconn`: it is eligible but cannot take more now.
    pub has_room: bool,
}

/// Outcome of a pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Index into the candidate slice.
    Server(usize),
    /// All usable servers are at maxconn: the caller queues the request.
    Full,
    /// No server is up: the caller answers 503 (http) or closes (tcp).
    NoServer,
}

/// One backend's balancing state, dispatched over the configured algorithm.
#[derive(Clone, Debug)]
pub struct Balancer {
    algo: Algo,
}

#[derive(Clone, Debug)]
enum Algo {
    RoundRobin(RoundRobin),
    LeastConn(LeastConn),
    Source(Source),
    Hash(hash::Hash),
    Random(Random),
}

impl Balancer {
    /// A balancer for a backend of `servers` servers (a sizing hint: `pick` accepts any length).
    /// A consistent-hashing backend without a `ring` builds one naming servers by index;
    /// workers pass the ring the snapshot built from server names ([`Balance::ring`]).
    pub fn new(algo: &Balance, servers: usize) -> Self {
        Self::with_ring(algo, servers, None)
    }

    /// Like [`Balancer::new`], sharing a ring built once for the backend.
    pub fn with_ring(algo: &Balance, servers: usize, ring: Option<Arc<Ring>>) -> Self {
        let algo = match algo {
            Balance::RoundRobin => Algo::RoundRobin(RoundRobin::new(servers)),
            Balance::LeastConn => Algo::LeastConn(LeastConn::new()),
            Balance::Source => Algo::Source(Source),
            Balance::Random { draws } => Algo::Random(Random::new(*draws)),
            Balance::Hash(h) => Algo::Hash(hash::Hash::new(h, servers, ring)),
        };
        Balancer { algo }
    }

    /// Seeds the random draws (`random`); workers seed theirs differently so that they do not
    /// draw in step. Other algorithms ignore it.
    pub fn seed(&mut self, seed: u64) {
        if let Algo::Random(r) = &mut self.algo {
            r.seed(seed);
        }
    }

    /// Chooses a server for a request from `client`.
    ///
    /// `exclude`: a server to avoid (redispatch after a failure) unless it is the only one.
    pub fn pick(&mut self, servers: &[Candidate], client: IpAddr, exclude: Option<usize>) -> Pick {
        self.pick_keyed(servers, client, None, exclude)
    }

    /// Like [`Balancer::pick`], for a request whose hashing key hashes to `key` ([`key_hash`];
    /// `None` when the request lacks the key, or the backend does not hash).
    pub fn pick_keyed(
        &mut self,
        servers: &[Candidate],
        client: IpAddr,
        key: Option<u64>,
        exclude: Option<usize>,
    ) -> Pick {
        let eligible = match Eligible::compute(servers, exclude) {
            Ok(eligible) => eligible,
            Err(outcome) => return outcome,
        };
        let chosen = match &mut self.algo {
            Algo::RoundRobin(rr) => rr.pick(servers, &eligible),
            Algo::LeastConn(lc) => lc.pick(servers, &eligible),
            Algo::Source(src) => src.pick(servers, &eligible, client),
            Algo::Hash(h) => h.pick(servers, &eligible, key),
            Algo::Random(r) => r.pick(servers, &eligible),
        };
        // `Eligible::compute` returned Ok, so the set is not empty and every algorithm finds a
        // server; `NoServer` here would be a bug in an algorithm, answered safely.
        match chosen {
            Some(index) => Pick::Server(index),
            None => Pick::NoServer,
        }
    }
}

/// The eligible set of one pick, described without allocating: a predicate over indices.
#[derive(Clone, Copy, Debug)]
pub struct Eligible {
    /// Whether the tier in use is the backup tier (no normal server usable).
    backup_tier: bool,
    /// The server to skip, already cleared when it is the only one with room.
    exclude: Option<usize>,
}

impl Eligible {
    /// Computes the tier, or the outcome when no server can be chosen.
    fn compute(servers: &[Candidate], exclude: Option<usize>) -> Result<Self, Pick> {
        let backup_tier = !servers.iter().any(|c| usable(c) && !c.backup);
        let in_tier = |c: &Candidate| usable(c) && c.backup == backup_tier;
        let mut tier = 0usize;
        let mut with_room = 0usize;
        for c in servers.iter().filter(|c| in_tier(c)) {
            tier += 1;
            if c.has_room {
                with_room += 1;
            }
        }
        if tier == 0 {
            return Err(Pick::NoServer);
        }
        if with_room == 0 {
            return Err(Pick::Full);
        }
        let exclude = exclude.filter(|&x| {
            servers
                .get(x)
                .is_some_and(|c| in_tier(c) && c.has_room && with_room > 1)
        });
        Ok(Eligible {
            backup_tier,
            exclude,
        })
    }

    /// Whether server `index` may be chosen by this pick.
    pub fn allows(&self, index: usize, c: &Candidate) -> bool {
        usable(c) && c.backup == self.backup_tier && c.has_room && self.exclude != Some(index)
    }
}

fn usable(c: &Candidate) -> bool {
    c.up && c.weight > 0
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::Candidate;
    use std::net::{IpAddr, Ipv4Addr};

    /// An up, normal, idle server with room.
    pub fn up(weight: u32) -> Candidate {
        Candidate {
            weight,
            up: true,
            backup: false,
            inflight: 0,
            has_room: true,
        }
    }

    pub fn down(weight: u32) -> Candidate {
        Candidate {
            up: false,
            ..up(weight)
        }
    }

    pub fn backup(weight: u32) -> Candidate {
        Candidate {
            backup: true,
            ..up(weight)
        }
    }

    pub fn full(weight: u32) -> Candidate {
        Candidate {
            has_room: false,
            ..up(weight)
        }
    }

    pub fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{backup, down, full, ip, up};
    use super::*;

    fn all() -> Vec<Balance> {
        let hash = |key, method, factor| {
            Balance::Hash(HashBalance {
                key,
                method,
                factor,
                uri_len: 0,
                uri_depth: 0,
            })
        };
        vec![
            Balance::RoundRobin,
            Balance::LeastConn,
            Balance::Source,
            Balance::Random { draws: 2 },
            Balance::Random { draws: 1 },
            hash(HashKey::Path, HashMethod::Consistent, 0),
            hash(HashKey::Path, HashMethod::Consistent, 125),
            hash(HashKey::Path, HashMethod::MapBased, 0),
        ]
    }

    /// Whether the algorithm follows the request key or the client (not every server of a
    /// set is reached by one client).
    fn keyed(algo: &Balance) -> bool {
        matches!(algo, Balance::Source | Balance::Hash(_))
    }

    fn picks(algo: &Balance, servers: &[Candidate], n: usize) -> Vec<Pick> {
        let mut b = Balancer::new(algo, servers.len());
        (0..n)
            .map(|i| b.pick_keyed(servers, ip(i as u8), Some(key_hash(&i.to_le_bytes())), None))
            .collect()
    }

    #[test]
    fn no_server_when_all_down_or_empty() {
        for algo in &all() {
            let mut b = Balancer::new(algo, 2);
            assert_eq!(b.pick(&[], ip(1), None), Pick::NoServer);
            assert_eq!(b.pick(&[down(1), down(1)], ip(1), None), Pick::NoServer);
            // weight 0 drains: such a server is not usable
            assert_eq!(b.pick(&[up(0)], ip(1), None), Pick::NoServer);
        }
    }

    #[test]
    fn full_when_every_eligible_server_is_at_maxconn() {
        for algo in &all() {
            let mut b = Balancer::new(algo, 3);
            assert_eq!(
                b.pick(&[full(1), down(1), full(2)], ip(1), None),
                Pick::Full
            );
            // a backup with room does not rescue a full normal tier: the tier is up, it queues
            assert_eq!(b.pick(&[full(1), backup(1)], ip(1), None), Pick::Full);
        }
    }

    #[test]
    fn backup_only_when_every_normal_server_is_down() {
        for algo in &all() {
            let servers = [up(1), backup(1), down(1), backup(1)];
            assert!(picks(algo, &servers, 50)
                .iter()
                .all(|p| *p == Pick::Server(0)));
            let servers = [down(1), backup(1), down(1), backup(1)];
            let got = picks(algo, &servers, 200);
            assert!(got
                .iter()
                .all(|p| matches!(p, Pick::Server(1) | Pick::Server(3))));
            if !keyed(algo) {
                // every backup shares the load, not just the first one
                assert!(got.contains(&Pick::Server(1)) && got.contains(&Pick::Server(3)));
            }
        }
    }

    #[test]
    fn drained_normal_servers_let_backups_in() {
        for algo in &all() {
            let servers = [up(0), backup(1)];
            assert!(picks(algo, &servers, 10)
                .iter()
                .all(|p| *p == Pick::Server(1)));
        }
    }

    #[test]
    fn exclude_avoids_the_failed_server_unless_it_is_the_only_one() {
        for algo in &all() {
            let mut b = Balancer::new(algo, 3);
            let servers = [up(1), up(1), up(1)];
            for i in 0..60u8 {
                let ex = usize::from(i % 3);
                let got = b.pick_keyed(&servers, ip(i), Some(u64::from(i) * 7919), Some(ex));
                assert!(
                    matches!(got, Pick::Server(s) if s != ex),
                    "{algo:?} {got:?}"
                );
            }
            // the only server with room is picked even when excluded
            let servers = [full(1), up(1), down(1)];
            assert_eq!(b.pick(&servers, ip(1), Some(1)), Pick::Server(1));
            // an out-of-range or ineligible exclude is ignored
            assert_eq!(b.pick(&servers, ip(1), Some(9)), Pick::Server(1));
            assert_eq!(b.pick(&servers, ip(1), Some(2)), Pick::Server(1));
        }
    }

    #[test]
    fn never_panics_when_the_slice_changes_length() {
        for algo in &all() {
            let mut b = Balancer::new(algo, 2);
            let sets: [&[Candidate]; 4] = [
                &[up(1), up(2)],
                &[up(1), up(2), up(3), up(4), up(5)],
                &[up(7)],
                &[],
            ];
            for _ in 0..5 {
                for set in sets {
                    match b.pick(set, ip(3), Some(4)) {
                        Pick::Server(i) => assert!(i < set.len()),
                        Pick::NoServer => assert!(set.is_empty()),
                        Pick::Full => panic!("no full server in {set:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn full_servers_are_skipped_while_others_have_room() {
        for algo in &all() {
            let servers = [full(5), up(1), full(5)];
            assert!(picks(algo, &servers, 20)
                .iter()
                .all(|p| *p == Pick::Server(1)));
        }
    }
}
