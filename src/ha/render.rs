//! `[ha]` → keepalived.conf. Pure: the caller supplies everything that comes from the host
//! (its name, where the ringlb binary and config live), so the same input renders the same text.
//!
//! Choices made here, each also explained in a comment of the rendered file:
//! - One `vrrp_instance` named `ringlb`, tracking one `vrrp_script` (`chk_ringlb`) with weight 0:
//!   a failing check puts the instance in FAULT, which gives the addresses up at once (the
//!   peer sees a priority-0 advertisement and takes over after its skew time, well under a
//!   second) instead of waiting for three missed advertisements.
//! - `nopreempt` when the initial state is BACKUP (the default): a host coming back does not
//!   take the addresses back, so each failure moves them once, not twice. `state = "MASTER"`
//!   asks for the opposite (this host is preferred and preempts); keepalived ignores
//!   `nopreempt` with an initial MASTER state, so it is not written then.
//! - VRRPv2 with whole-second advertisements; a sub-second `advert_int` or IPv6 addresses need
//!   VRRPv3 (centisecond intervals), which has no authentication.
//! - keepalived runs track scripts at whole-second intervals: a shorter `check_interval` is
//!   rounded up to 1 s.
//! - `[ha.active_active]` adds a second instance, `ringlb_peer`, led by the peer: both hosts
//!   carry traffic (DNS round robin over both sets of addresses) and each set moves to the
//!   survivor. Both instances preempt (no `nopreempt`), so a host coming back takes its own
//!   addresses back and the load is spread again.
//! - `[ha.lvs]` makes this host an IPVS director ([`super::render_lvs`]): the instance moves
//!   the addresses between directors, and tracks no ringlb (none serves on a director).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

use crate::config::{Ha, VirtualIp, VrrpState};

/// Name of the VRRP instance and prefix of the script, as they appear in keepalived's logs.
pub const INSTANCE: &str = "ringlb";
/// Name of the `[ha.active_active]` instance: the one the peer leads.
pub const PEER_INSTANCE: &str = "ringlb_peer";
/// Name of the track script.
pub const SCRIPT: &str = "chk_ringlb";
/// Consecutive check results needed to go down (fall) or up (rise).
pub const FALL: u32 = 2;
pub const RISE: u32 = 2;
/// keepalived's own deadline for one check, in seconds: one more than ringlb's
/// (`check::CHECK_TIMEOUT`), so the reason ringlb prints is what ends a slow check.
pub const SCRIPT_TIMEOUT_SECS: u64 = 3;
/// Longest VRRPv3 advertisement interval (a 12-bit count of centiseconds).
const MAX_V3_CENTIS: u128 = 4095;

/// What the rendered file needs to know about the host it is for.
#[derive(Debug, Clone)]
pub struct RenderOptions<'a> {
    /// `global_defs router_id`: names this host in keepalived's logs and alerts.
    pub router_name: &'a str,
    /// The ringlb binary keepalived runs for the check and notify scripts.
    pub binary: &'a Path,
    /// The ringlb config the check reads its `[global] admin_socket` from.
    pub config: &'a Path,
    /// Account keepalived runs the scripts as: it must be allowed to connect to the admin
    /// socket (mode 0600, owned by the account ringlb runs as).
    pub script_user: &'a str,
    /// Where `ringlb ha notify` also appends each transition (besides syslog).
    pub notify_log: Option<&'a Path>,
}

/// Why `[ha]` cannot be rendered; the text says what to change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RenderError {
    #[error(
        "advert_int {0:?} is not a whole number of seconds, which needs VRRPv3, and VRRPv3 has \
         no authentication: remove auth_pass or use whole seconds"
    )]
    SubSecondWithAuth(Duration),
    #[error("IPv6 virtual addresses need VRRPv3, which has no authentication: remove auth_pass")]
    Ipv6WithAuth,
    #[error(
        "advert_int {0:?} is not a whole number of seconds, which needs VRRPv3, whose interval \
         is 0.01 s to 40.95 s: use whole seconds or a value in that range"
    )]
    V3Interval(Duration),
    #[error(
        "{what} {addr} is not of the same address family as virtual_ips: VRRP runs over the \
         family of the addresses it moves"
    )]
    FamilyMismatch { what: &'static str, addr: IpAddr },
    #[error(
        "{what} {value:?} cannot be written into keepalived.conf: use only letters, digits and \
         . _ - / + : @ % , (no spaces, quotes, '#' or '!')"
    )]
    Unquotable { what: &'static str, value: String },
    #[error(
        "auth_pass has characters keepalived.conf cannot carry: use letters, digits and . _ - / + : @ % ,"
    )]
    AuthPassChars,
    #[error("[ha] virtual_ips is empty")]
    NoAddresses,
    #[error(
        "{0} is in both [ha] virtual_ips and [ha.active_active] virtual_ips: each address \
         belongs to one instance"
    )]
    SharedAddress(IpAddr),
    #[error(
        "[ha.lvs] with IPv6 addresses: the direct-routing tier is rendered for IPv4 only \
         (its real servers must not answer neighbour solicitations for the VIP)"
    )]
    LvsIpv6,
}

/// keepalived.conf for `ha`, commented.
pub fn render(ha: &Ha, opts: &RenderOptions<'_>) -> Result<String, RenderError> {
    let first = ha.virtual_ips.first().ok_or(RenderError::NoAddresses)?;
    let v6 = first.addr.is_ipv6();
    let family_of = |what: &'static str, addr: IpAddr| {
        if addr.is_ipv6() == v6 {
            Ok(())
        } else {
            Err(RenderError::FamilyMismatch { what, addr })
        }
    };
    if let Some(src) = ha.unicast_src {
        family_of("unicast_src", src)?;
    }
    for p in &ha.peers {
        family_of("peers", *p)?;
    }
    if let Some(aa) = &ha.active_active {
        for v in &aa.virtual_ips {
            family_of("[ha.active_active] virtual_ips", v.addr)?;
            if ha.virtual_ips.iter().any(|o| o.addr == v.addr) {
                return Err(RenderError::SharedAddress(v.addr));
            }
        }
    }
    if let Some(lvs) = &ha.lvs {
        if v6 {
            return Err(RenderError::LvsIpv6);
        }
        for r in &lvs.real_servers {
            family_of("[ha.lvs] real_servers", *r)?;
        }
    }
    let advert = advert(ha.advert_int)?;
    let v3 = v6 || advert.v3;
    if ha.auth_pass.is_some() {
        if v6 {
            return Err(RenderError::Ipv6WithAuth);
        }
        if advert.v3 {
            return Err(RenderError::SubSecondWithAuth(ha.advert_int));
        }
    }
    let router_name = word("router name", opts.router_name)?;
    let script_user = word("script user", opts.script_user)?;
    let binary = path("ringlb binary", opts.binary)?;
    let config = path("ringlb config", opts.config)?;
    let notify_log = opts.notify_log.map(|p| path("notify log", p)).transpose()?;
    let interface = word("interface", &ha.interface)?;
    let check_secs = whole_seconds_up(ha.check_interval);
    if let Some(lvs) = &ha.lvs {
        let p = &lvs.check_path;
        let ok = p.starts_with('/')
            && p.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '#' | '!'));
        if !ok {
            return Err(RenderError::Unquotable {
                what: "[ha.lvs] check_path",
                value: p.clone(),
            });
        }
    }

    let auth_pass = match &ha.auth_pass {
        Some(p) if !p.chars().all(plain) => return Err(RenderError::AuthPassChars),
        other => other.as_deref(),
    };
    let mut notify = format!("{binary} ha notify");
    if let Some(log) = notify_log {
        // Writing into a String cannot fail.
        let _ = write!(notify, " --log {log}");
    }
    let track = ha.lvs.is_none();

    let mut o = String::new();
    let mut line = |s: &str| {
        o.push_str(s);
        o.push('\n');
    };
    line("# keepalived.conf written by `ringlb ha render` from the [ha] section of");
    line(&format!(
        "# {config}. Edit that section and render again rather than this file."
    ));
    line("# Syntax: keepalived.conf(5).");
    line("");
    line("global_defs {");
    line("    # Names this host in keepalived's log lines and alerts.");
    line(&format!("    router_id {router_name}"));
    line("    # Refuse to run a script that a non-root account could replace.");
    line("    enable_script_security");
    line(
        "    # The check talks to ringlb's admin socket (mode 0600): run it as the socket's owner.",
    );
    line(&format!("    script_user {script_user}"));
    line("}");
    line("");
    if track {
        line(
            "# Is ringlb serving? `ringlb ha check` asks the running process for `status` over its",
        );
        line("# admin socket and fails within 2 s (one line on stderr says why) if it does not answer OK.");
        line(&format!("vrrp_script {SCRIPT} {{"));
        line(&format!("    script \"{binary} ha check -c {config}\""));
        if ha.check_interval.as_nanos() == u128::from(check_secs) * 1_000_000_000 {
            line("    # [ha] check_interval.");
        } else {
            line(&format!(
                "    # [ha] check_interval ({:?}) rounded up: keepalived runs scripts at whole seconds.",
                ha.check_interval
            ));
        }
        line(&format!("    interval {check_secs}"));
        line("    # keepalived's own deadline for one check (ringlb's is 2 s).");
        line(&format!("    timeout {SCRIPT_TIMEOUT_SECS}"));
        line(&format!(
            "    # {FALL} failures in a row take the addresses away, {RISE} successes make this host"
        ));
        line("    # eligible again: one lost answer does not move them.");
        line(&format!("    fall {FALL}"));
        line(&format!("    rise {RISE}"));
        line("    # Weight 0: a failed check means FAULT (give the addresses up now), not a lower");
        line("    # priority that might still win an election.");
        line("    weight 0");
        line("}");
        line("");
    } else {
        line("# [ha.lvs]: this host is an IPVS director; no ringlb serves here, so the VRRP");
        line("# instance tracks no script: the addresses move when this director stops or dies.");
        line("");
    }
    let common = Common {
        interface,
        advert: &advert.text,
        v3,
        v6,
        unicast_src: ha.unicast_src,
        peers: &ha.peers,
        auth_pass,
        track,
        notify: &notify,
    };
    let own = Instance {
        name: INSTANCE,
        router_id: ha.router_id,
        priority: ha.priority,
        virtual_ips: &ha.virtual_ips,
        role: match (&ha.active_active, ha.state) {
            (Some(_), VrrpState::Master) => Role::LeadMaster,
            (Some(_), VrrpState::Backup) => Role::Lead,
            (None, VrrpState::Master) => Role::Master,
            (None, VrrpState::Backup) => Role::Backup,
        },
    };
    instance(&mut line, &common, &own);
    if let Some(aa) = &ha.active_active {
        line("");
        line("# [ha.active_active]: the peer's instance. The peer leads it (its [ha] priority is");
        line("# higher); this host takes these addresses when the peer fails and gives them back");
        line("# when it returns, so both hosts carry traffic (DNS round robin over both sets).");
        let peer = Instance {
            name: PEER_INSTANCE,
            router_id: aa.router_id,
            priority: aa.priority,
            virtual_ips: &aa.virtual_ips,
            role: Role::Follow,
        };
        instance(&mut line, &common, &peer);
    }
    if let Some(lvs) = &ha.lvs {
        let mut addrs: Vec<IpAddr> = ha.virtual_ips.iter().map(|v| v.addr).collect();
        if let Some(aa) = &ha.active_active {
            addrs.extend(aa.virtual_ips.iter().map(|v| v.addr));
        }
        super::render_lvs::render(&mut line, lvs, &addrs, check_secs, ha.check_interval);
    }
    Ok(o)
}

/// What both instances share.
struct Common<'a> {
    interface: &'a str,
    advert: &'a str,
    v3: bool,
    v6: bool,
    unicast_src: Option<IpAddr>,
    peers: &'a [IpAddr],
    auth_pass: Option<&'a str>,
    /// Track `chk_ringlb` (not on an IPVS director).
    track: bool,
    notify: &'a str,
}

struct Instance<'a> {
    name: &'a str,
    router_id: u8,
    priority: u8,
    virtual_ips: &'a [VirtualIp],
    role: Role,
}

/// How an instance starts and whether it preempts.
#[derive(Clone, Copy)]
enum Role {
    /// One pair, `state = "MASTER"`: preferred, preempts.
    Master,
    /// One pair, `state = "BACKUP"`: elected, never preempts.
    Backup,
    /// Active-active, the instance this host leads, `state = "BACKUP"`: elected, preempts.
    Lead,
    /// Active-active, the instance this host leads, `state = "MASTER"`.
    LeadMaster,
    /// Active-active, the peer's instance.
    Follow,
}

fn instance(line: &mut impl FnMut(&str), c: &Common<'_>, i: &Instance<'_>) {
    let interface = c.interface;
    line(&format!("vrrp_instance {} {{", i.name));
    match i.role {
        Role::Master | Role::LeadMaster => {
            line("    # [ha] state = \"MASTER\": take the addresses at start and preempt a");
            line("    # lower-priority holder when this host comes back (a second, short move).");
            line("    state MASTER");
        }
        Role::Backup => {
            line(
                "    # Start as BACKUP; the election gives the addresses to the highest priority.",
            );
            line("    state BACKUP");
            line("    # A host coming back does not take the addresses back from a working peer:");
            line("    # each failure moves them once, not twice (connections through a move are lost).");
            line("    nopreempt");
        }
        Role::Lead => {
            line(
                "    # Start as BACKUP; the election gives the addresses to the highest priority.",
            );
            line(
                "    # No nopreempt: active-active, this host takes its own addresses back when it",
            );
            line("    # returns, so the load is spread over both hosts again.");
            line("    state BACKUP");
        }
        Role::Follow => {
            line("    # BACKUP: the peer leads this instance with a higher priority and preempts.");
            line("    state BACKUP");
        }
    }
    line("    # Where VRRP advertisements go and the virtual addresses are added.");
    line(&format!("    interface {interface}"));
    match i.role {
        Role::Follow => line("    # [ha.active_active] router_id: the peer's [ha] router_id."),
        _ => line("    # [ha] router_id: the same on both hosts, unique on the network segment."),
    }
    line(&format!("    virtual_router_id {}", i.router_id));
    line("    # The highest priority alive holds the addresses.");
    line(&format!("    priority {}", i.priority));
    if c.v3 {
        line(if c.v6 {
            "    # IPv6 addresses: VRRPv3."
        } else {
            "    # A sub-second advertisement interval needs VRRPv3 (centisecond intervals)."
        });
        line("    version 3");
    }
    line("    # Seconds between advertisements; the peer takes over after three missed ones");
    line("    # (plus up to one interval of skew) if this host disappears without a word.");
    line(&format!("    advert_int {}", c.advert));
    if !c.peers.is_empty() {
        line("    # Unicast VRRP to the peer(s): many hosting networks drop multicast.");
        if let Some(src) = c.unicast_src {
            line(&format!("    unicast_src_ip {src}"));
        }
        line("    unicast_peer {");
        for p in c.peers {
            line(&format!("        {p}"));
        }
        line("    }");
    } else {
        line("    # No [ha] peers: multicast VRRP (224.0.0.18 / ff02::12) on the interface.");
    }
    if let Some(pass) = c.auth_pass {
        line(
            "    # [ha] auth_pass: keeps a misconfigured neighbour out; it travels in clear text.",
        );
        line("    authentication {");
        line("        auth_type PASS");
        line(&format!("        auth_pass {pass}"));
        line("    }");
    }
    line("    # Added on this interface while this host is MASTER. Frontends bound to 0.0.0.0 /");
    line("    # [::] serve them as soon as they arrive; binding a virtual address itself needs");
    line("    # net.ipv4.ip_nonlocal_bind=1 on both hosts.");
    line("    virtual_ipaddress {");
    for v in i.virtual_ips {
        line(&format!("        {}/{} dev {interface}", v.addr, v.prefix));
    }
    line("    }");
    if c.track {
        line("    # FAULT while ringlb does not answer.");
        line("    track_script {");
        line(&format!("        {SCRIPT}"));
        line("    }");
    }
    line("    # Each transition (MASTER, BACKUP, FAULT, STOP) is logged as `ringlb-ha` in syslog;");
    line("    # keepalived appends: INSTANCE <name> <state> <priority>.");
    line(&format!("    notify \"{}\"", c.notify));
    line("}");
}

/// The advertisement interval as keepalived reads it, and whether it needs VRRPv3.
struct Advert {
    text: String,
    v3: bool,
}

fn advert(d: Duration) -> Result<Advert, RenderError> {
    if d.subsec_nanos() == 0 && d.as_secs() >= 1 {
        return Ok(Advert {
            text: d.as_secs().to_string(),
            v3: false,
        });
    }
    let centis = d.as_nanos().div_ceil(10_000_000);
    if centis == 0 || centis > MAX_V3_CENTIS {
        return Err(RenderError::V3Interval(d));
    }
    Ok(Advert {
        text: format!("{}.{:02}", centis / 100, centis % 100),
        v3: true,
    })
}

/// Whole seconds, rounded up, at least 1.
fn whole_seconds_up(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// Characters keepalived reads back unchanged inside or outside quotes, and that split into
/// the same words when it turns a script line into arguments.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+' | ':' | '@' | '%' | ',')
}

fn word<'a>(what: &'static str, value: &'a str) -> Result<&'a str, RenderError> {
    if !value.is_empty() && value.chars().all(plain) {
        Ok(value)
    } else {
        Err(RenderError::Unquotable {
            what,
            value: value.to_owned(),
        })
    }
}

fn path<'a>(what: &'static str, p: &'a Path) -> Result<&'a str, RenderError> {
    let s = p.to_str().ok_or_else(|| RenderError::Unquotable {
        what,
        value: p.display().to_string(),
    })?;
    word(what, s)
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
