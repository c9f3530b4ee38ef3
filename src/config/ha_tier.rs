//! `[ha.active_active]` and `[ha.lvs]`: what `ringlb ha render` needs beyond one VRRP pair.

use std::net::IpAddr;

use super::VirtualIp;

/// `[ha.active_active]`: the peer's VRRP instance. `[ha]` is the instance this host leads
/// (high priority), this one the instance the peer leads and this host takes over when the
/// peer fails, so both hosts carry traffic (DNS round robin over both sets of addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveActive {
    pub virtual_ips: Vec<VirtualIp>,
    /// The peer's instance's virtual router id; differs from `[ha] router_id`.
    pub router_id: u8,
    /// This host's priority in the peer's instance; below `[ha] priority`.
    pub priority: u8,
}

/// `[ha.lvs]`: keepalived's IPVS `virtual_server`s for the `[ha]` addresses, forwarding by
/// direct routing to ringlb hosts (`real_servers`), each checked with an HTTP GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lvs {
    /// TCP ports balanced on each virtual address.
    pub ports: Vec<u16>,
    /// The ringlb hosts, by their own addresses on the director's segment.
    pub real_servers: Vec<IpAddr>,
    pub scheduler: LvsScheduler,
    /// Path of the HTTP GET sent to each real server; it must answer 200.
    pub check_path: String,
    /// Port of that GET on the real server's own address (default: the first of `ports`).
    pub check_port: u16,
}

/// IPVS schedulers (`ipvsadm -s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LvsScheduler {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnection,
    WeightedLeastConnection,
    SourceHashing,
    MaglevHashing,
}

impl LvsScheduler {
    /// The name keepalived and ipvsadm use.
    pub fn name(self) -> &'static str {
        match self {
            LvsScheduler::RoundRobin => "rr",
            LvsScheduler::WeightedRoundRobin => "wrr",
            LvsScheduler::LeastConnection => "lc",
            LvsScheduler::WeightedLeastConnection => "wlc",
            LvsScheduler::SourceHashing => "sh",
            LvsScheduler::MaglevHashing => "mh",
        }
    }
}
