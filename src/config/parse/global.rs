//! `[global]`, `[log]` and `[ha]`: process-wide settings.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use toml::de::DeValue;

use super::walk::{self, expect_int, Cx, Schema, Table, Value};
use crate::config::defaults as def;
use crate::config::{
    Facility, Global, Ha, HaSync, Log, LogLevel, LogTarget, StateFile, Tune, VirtualIp, VrrpState,
    Workers,
};

pub(super) const GLOBAL: Schema = Schema {
    known: &[
        "workers",
        "maxconn",
        "grace",
        "spread_checks",
        "user",
        "group",
        "admin_socket",
        "keep_bind_capability",
        "state_file",
        "tune_multishot_recv",
        "tune_per_worker_counters",
        "tune_ring_fd",
        "tune_direct_descriptors",
        "tune_loop_clock",
        "tune_multishot_accept",
        "tune_zero_copy_send",
        "tune_zero_copy_min",
        "tune_batch_wait_us",
    ],
    elsewhere: &[("log", "logging has its own section: write [log]")],
    names: false,
};

const LOG: Schema = Schema {
    known: &[
        "target",
        "facility",
        "level",
        "anonymize_ip",
        "ipv4_mask",
        "ipv6_mask",
        "queue",
    ],
    elsewhere: &[(
        "dontlognull",
        "this is a frontend setting: set it in [frontend.NAME] or [defaults]",
    )],
    names: false,
};

const HA: Schema = Schema {
    known: &[
        "interface",
        "virtual_ips",
        "router_id",
        "priority",
        "state",
        "unicast_src",
        "peers",
        "auth_pass",
        "advert_int",
        "check_interval",
        "sync",
        "active_active",
        "lvs",
    ],
    elsewhere: &[],
    names: false,
};

const HA_SYNC: Schema = Schema {
    known: &[
        "peer",
        "port",
        "identity",
        "known_hosts",
        "config",
        "binary",
    ],
    elsewhere: &[],
    names: false,
};

const FACILITIES: &[(&str, Facility)] = &[
    ("kern", Facility::Kern),
    ("user", Facility::User),
    ("mail", Facility::Mail),
    ("daemon", Facility::Daemon),
    ("auth", Facility::Auth),
    ("syslog", Facility::Syslog),
    ("lpr", Facility::Lpr),
    ("news", Facility::News),
    ("uucp", Facility::Uucp),
    ("cron", Facility::Cron),
    ("authpriv", Facility::Authpriv),
    ("ftp", Facility::Ftp),
    ("local0", Facility::Local0),
    ("local1", Facility::Local1),
    ("local2", Facility::Local2),
    ("local3", Facility::Local3),
    ("local4", Facility::Local4),
    ("local5", Facility::Local5),
    ("local6", Facility::Local6),
    ("local7", Facility::Local7),
];

const LEVELS: &[(&str, LogLevel)] = &[
    ("emerg", LogLevel::Emerg),
    ("alert", LogLevel::Alert),
    ("crit", LogLevel::Crit),
    ("err", LogLevel::Err),
    ("warning", LogLevel::Warning),
    ("notice", LogLevel::Notice),
    ("info", LogLevel::Info),
    ("debug", LogLevel::Debug),
];

const STATES: &[(&str, VrrpState)] =
    &[("MASTER", VrrpState::Master), ("BACKUP", VrrpState::Backup)];

pub(super) fn parse_global(cx: &mut Cx<'_>, root: &Table<'_, '_>) -> Global {
    let mut global = Global {
        workers: def::WORKERS,
        maxconn: def::GLOBAL_MAXCONN,
        grace: def::GRACE,
        spread_checks: def::SPREAD_CHECKS,
        user: None,
        group: None,
        admin_socket: None,
        keep_bind_capability: def::KEEP_BIND_CAPABILITY,
        state_file: StateFile::Default,
        tune: Tune::default(),
    };
    let Some(t) = root.table(cx, "global", &GLOBAL) else {
        return global;
    };
    if let Some(v) = t.get("workers") {
        global.workers = parse_workers(cx, v).unwrap_or(def::WORKERS);
    }
    global.maxconn = t
        .u32(cx, "maxconn", 1..=def::MAX_MAXCONN)
        .unwrap_or(def::GLOBAL_MAXCONN);
    global.grace = t.duration(cx, "grace", true).unwrap_or(def::GRACE);
    global.spread_checks = t
        .u32(cx, "spread_checks", 0..=u32::from(def::MAX_SPREAD_CHECKS))
        .and_then(|n| u8::try_from(n).ok())
        .unwrap_or(def::SPREAD_CHECKS);
    global.user = account(cx, &t, "user");
    global.group = account(cx, &t, "group");
    if let Some((path, span)) = t.str(cx, "admin_socket") {
        global.admin_socket = unix_path(cx, "admin_socket", path, &span);
    }
    global.keep_bind_capability = t
        .bool(cx, "keep_bind_capability")
        .unwrap_or(def::KEEP_BIND_CAPABILITY);
    if let Some((path, span)) = t.str(cx, "state_file") {
        global.state_file = state_file(cx, path, &span);
    }
    let on = Tune::default();
    global.tune = Tune {
        ring_fd: t.bool(cx, "tune_ring_fd").unwrap_or(on.ring_fd),
        direct_descriptors: t
            .bool(cx, "tune_direct_descriptors")
            .unwrap_or(on.direct_descriptors),
        loop_clock: t.bool(cx, "tune_loop_clock").unwrap_or(on.loop_clock),
        multishot_recv: t
            .bool(cx, "tune_multishot_recv")
            .unwrap_or(on.multishot_recv),
        per_worker_counters: t
            .bool(cx, "tune_per_worker_counters")
            .unwrap_or(on.per_worker_counters),
        multishot_accept: t
            .bool(cx, "tune_multishot_accept")
            .unwrap_or(on.multishot_accept),
        zero_copy_send: t
            .bool(cx, "tune_zero_copy_send")
            .unwrap_or(on.zero_copy_send),
        zero_copy_min: t
            .get("tune_zero_copy_min")
            .and_then(|v| zero_copy_min(cx, v))
            .unwrap_or(on.zero_copy_min),
        batch_wait_us: t
            .u32(cx, "tune_batch_wait_us", 0..=def::MAX_BATCH_WAIT_US)
            .unwrap_or(on.batch_wait_us),
    };
    global
}

const SIZE_HELP: &str = "write a number of bytes (16384) or a size with a unit k or m \
     (\"16k\" = 16 KiB), between 1k and 32k";

/// `tune_zero_copy_min`: bytes, as an integer or a string with a `k`/`m` unit (KiB, MiB).
fn zero_copy_min(cx: &mut Cx<'_>, v: &Value<'_>) -> Option<u32> {
    let key = "tune_zero_copy_min";
    let n = match v.get_ref() {
        DeValue::String(s) => match parse_size(s) {
            Some(n) => n,
            None => {
                cx.error_help(
                    &v.span(),
                    format!("invalid size \"{s}\" for `{key}`"),
                    SIZE_HELP,
                );
                return None;
            }
        },
        _ => expect_int(cx, key, v)?,
    };
    match u32::try_from(n) {
        Ok(n) if (def::MIN_ZERO_COPY_MIN..=def::MAX_ZERO_COPY_MIN).contains(&n) => Some(n),
        _ => {
            cx.error_help(
                &v.span(),
                format!("`{key}` must be between 1k and 32k, found {n} bytes"),
                SIZE_HELP,
            );
            None
        }
    }
}

/// A size: digits, then an optional `k` (KiB) or `m` (MiB), case-insensitive.
fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (s.get(..i)?, 1024),
        (i, 'm' | 'M') => (s.get(..i)?, 1024 * 1024),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(unit)
}

/// `state_file = "/absolute/path"` or `"none"`.
fn state_file(cx: &mut Cx<'_>, path: &str, span: &Range<usize>) -> StateFile {
    if path == "none" {
        return StateFile::Off;
    }
    if !path.starts_with('/') || path.ends_with('/') || path.contains('\0') {
        cx.error_help(
            span,
            format!("`state_file` must be an absolute file path or \"none\", found \"{path}\""),
            "e.g. state_file = \"/var/lib/ringlb/state\"",
        );
        return StateFile::Default;
    }
    StateFile::Path(PathBuf::from(path))
}

/// A user or group name, or a numeric id.
fn account(cx: &mut Cx<'_>, t: &Table<'_, '_>, key: &str) -> Option<String> {
    let (name, span) = t.str(cx, key)?;
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        cx.error_help(
            &span,
            format!("invalid {key} name \"{name}\""),
            "expected a system account name (letters, digits, '_', '-', '.'; at most 32) \
             or a numeric id",
        );
        return None;
    }
    Some(name.to_owned())
}

/// An absolute path that fits a Unix socket address.
fn unix_path(cx: &mut Cx<'_>, key: &str, path: &str, span: &Range<usize>) -> Option<PathBuf> {
    if !path.starts_with('/') {
        cx.error_help(
            span,
            format!("`{key}` must be an absolute path, found \"{path}\""),
            "write the full path, e.g. \"/run/ringlb/admin.sock\"",
        );
        return None;
    }
    if path.len() > def::MAX_UNIX_PATH || path.contains('\0') {
        cx.error_help(
            span,
            format!("`{key}` path is too long ({} bytes)", path.len()),
            format!(
                "a Unix socket path has at most {} bytes",
                def::MAX_UNIX_PATH
            ),
        );
        return None;
    }
    Some(PathBuf::from(path))
}

/// `workers = "auto"` or `workers = N` with 1 ≤ N ≤ MAX_WORKERS.
fn parse_workers(cx: &mut Cx<'_>, v: &Value<'_>) -> Option<Workers> {
    let max = def::MAX_WORKERS;
    match v.get_ref() {
        DeValue::String(s) if s == "auto" => Some(Workers::Auto),
        DeValue::Integer(_) => {
            let n = expect_int(cx, "workers", v)?;
            match usize::try_from(n) {
                Ok(n) if (1..=max).contains(&n) => Some(Workers::Count(n)),
                _ => {
                    let msg = format!("`workers` must be between 1 and {max}, found {n}");
                    cx.error_help(&v.span(), msg, "or write workers = \"auto\": one per CPU");
                    None
                }
            }
        }
        other => {
            let msg = format!(
                "expected \"auto\" or an integer for `workers`, found {}",
                walk::kind(other)
            );
            match other {
                DeValue::String(s) if s.parse::<u64>().is_ok() => {
                    cx.error_help(&v.span(), msg, format!("remove the quotes: workers = {s}"));
                }
                _ => cx.error(&v.span(), msg),
            }
            None
        }
    }
}

// ---- [log] -----------------------------------------------------------------------------------

pub(super) fn parse_log(cx: &mut Cx<'_>, root: &Table<'_, '_>) -> Log {
    let mut log = Log {
        target: LogTarget::Stdout,
        facility: def::LOG_FACILITY,
        level: def::LOG_LEVEL,
        anonymize_ip: def::ANONYMIZE_IP,
        ipv4_mask: def::IPV4_MASK,
        ipv6_mask: def::IPV6_MASK,
        queue: def::LOG_QUEUE,
    };
    let Some(t) = root.table(cx, "log", &LOG) else {
        return log;
    };
    if let Some((text, span)) = t.str(cx, "target") {
        log.target = log_target(cx, text, &span).unwrap_or(LogTarget::Stdout);
    }
    log.facility = t
        .enum_of(cx, "facility", "syslog facility", FACILITIES)
        .unwrap_or(def::LOG_FACILITY);
    log.level = t
        .enum_of(cx, "level", "log level", LEVELS)
        .unwrap_or(def::LOG_LEVEL);
    log.anonymize_ip = t.bool(cx, "anonymize_ip").unwrap_or(def::ANONYMIZE_IP);
    log.ipv4_mask = small(t.u32(cx, "ipv4_mask", 0..=32)).unwrap_or(def::IPV4_MASK);
    log.ipv6_mask = small(t.u32(cx, "ipv6_mask", 0..=128)).unwrap_or(def::IPV6_MASK);
    log.queue = t
        .u32(cx, "queue", 1..=def::MAX_LOG_QUEUE)
        .unwrap_or(def::LOG_QUEUE);
    log
}

fn small(n: Option<u32>) -> Option<u8> {
    n.and_then(|n| u8::try_from(n).ok())
}

const LOG_TARGET_HELP: &str =
    "expected \"stdout\", \"udp://IP[:PORT]\" (port 514 by default) or \"unix:///PATH\"";

/// `stdout`, `udp://IP[:PORT]` or `unix:///absolute/path`.
fn log_target(cx: &mut Cx<'_>, text: &str, span: &Range<usize>) -> Option<LogTarget> {
    if text == "stdout" {
        return Some(LogTarget::Stdout);
    }
    if let Some(path) = text.strip_prefix("unix://") {
        return unix_path(cx, "target", path, span).map(LogTarget::Unix);
    }
    if let Some(addr) = text.strip_prefix("udp://") {
        let parsed = addr.parse::<SocketAddr>().ok().or_else(|| {
            let bare = addr.trim_start_matches('[').trim_end_matches(']');
            bare.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, def::SYSLOG_PORT))
        });
        if let Some(a) = parsed.filter(|a| a.port() != 0) {
            return Some(LogTarget::Udp(a));
        }
        cx.error_help(
            span,
            format!("invalid syslog address \"{addr}\" in log target"),
            "expected an IP literal and an optional port: \"udp://127.0.0.1:514\", \
             \"udp://[::1]\"",
        );
        return None;
    }
    cx.error_help(
        span,
        format!("invalid log target \"{text}\""),
        LOG_TARGET_HELP,
    );
    None
}

// ---- [ha] ------------------------------------------------------------------------------------

pub(super) fn parse_ha(cx: &mut Cx<'_>, root: &Table<'_, '_>) -> Option<Ha> {
    let t = root.table(cx, "ha", &HA)?;
    let interface = match t.str(cx, "interface") {
        Some((name, span)) => {
            let ok = !name.is_empty()
                && name.len() <= def::MAX_INTERFACE_NAME
                && !name.contains(['/', ':'])
                && !name.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                cx.error_help(
                    &span,
                    format!("invalid interface name \"{name}\""),
                    format!(
                        "a Linux interface name has 1 to {} characters, no '/', ':' or spaces",
                        def::MAX_INTERFACE_NAME
                    ),
                );
            }
            name.to_owned()
        }
        None => {
            if t.lacks("interface") {
                missing(
                    cx,
                    &t,
                    "interface",
                    "add interface = \"eth0\": where VRRP runs",
                );
            }
            String::new()
        }
    };

    let mut virtual_ips = Vec::new();
    match t.strings(cx, "virtual_ips") {
        Some(list) if list.is_empty() => cx.error_help(
            &t.get("virtual_ips").map_or(t.span.clone(), |v| v.span()),
            "`virtual_ips` is empty",
            "list the addresses the pair moves, e.g. [\"192.0.2.100/24\"]",
        ),
        Some(list) => {
            for (text, span) in &list {
                if let Some(v) = virtual_ip(cx, text, span) {
                    virtual_ips.push((v, span.clone()));
                }
            }
        }
        None if t.lacks("virtual_ips") => missing(
            cx,
            &t,
            "virtual_ips",
            "add virtual_ips = [\"192.0.2.100/24\"]",
        ),
        None => {}
    }
    if let Some(((first, _), rest)) = virtual_ips.split_first() {
        if let Some((_, span)) = rest
            .iter()
            .find(|(v, _)| v.addr.is_ipv4() != first.addr.is_ipv4())
        {
            cx.error_help(
                span,
                "`virtual_ips` mixes IPv4 and IPv6 addresses",
                "a VRRP instance carries one address family; run one pair per family",
            );
        }
    }

    let router_id = match t.u32(cx, "router_id", 1..=255) {
        Some(n) => u8::try_from(n).unwrap_or(1),
        None => {
            if t.lacks("router_id") {
                missing(
                    cx,
                    &t,
                    "router_id",
                    "add router_id = N (1-255), the same on both hosts and unique on the network",
                );
            }
            1
        }
    };
    let priority = small(t.u32(cx, "priority", 1..=254)).unwrap_or(def::HA_PRIORITY);
    let state = t
        .enum_of(cx, "state", "VRRP state", STATES)
        .unwrap_or(def::HA_STATE);
    let unicast_src = t
        .str(cx, "unicast_src")
        .and_then(|(s, span)| ip(cx, "unicast_src", s, &span));
    let mut peers = Vec::new();
    for (s, span) in t.strings(cx, "peers").unwrap_or_default() {
        if let Some(addr) = ip(cx, "peers", s, &span) {
            peers.push(addr);
        }
    }
    if unicast_src.is_some() && peers.is_empty() && t.get("peers").is_none() {
        let span = t.get("unicast_src").map_or(t.span.clone(), |v| v.span());
        cx.error_help(
            &span,
            "`unicast_src` without `peers`",
            "unicast VRRP needs the other host's address: add peers = [\"IP\"], or remove \
             unicast_src for multicast VRRP",
        );
    }
    let auth_pass = t.str(cx, "auth_pass").and_then(|(p, span)| {
        if p.is_empty() || p.len() > def::HA_MAX_AUTH_PASS || !p.is_ascii() {
            cx.error_help(
                &span,
                format!(
                    "`auth_pass` must have 1 to {} ASCII characters",
                    def::HA_MAX_AUTH_PASS
                ),
                "VRRP PASS authentication carries 8 bytes; longer passwords are cut by \
                 keepalived, so both hosts could disagree",
            );
            return None;
        }
        Some(p.to_owned())
    });
    let advert_int = bounded(cx, &t, "advert_int", def::HA_ADVERT_INT);
    let check_interval = bounded(cx, &t, "check_interval", def::HA_CHECK_INTERVAL);
    Some(Ha {
        interface,
        virtual_ips: virtual_ips.into_iter().map(|(v, _)| v).collect(),
        router_id,
        priority,
        state,
        unicast_src,
        peers,
        auth_pass,
        advert_int,
        check_interval,
        sync: t
            .table(cx, "sync", &HA_SYNC)
            .and_then(|s| parse_sync(cx, &s)),
        active_active: super::ha_tier::parse_active_active(cx, &t, router_id, priority),
        lvs: super::ha_tier::parse_lvs(cx, &t),
    })
}

/// `[ha.sync]`: peer (required), port, identity (required), known_hosts, config, binary.
fn parse_sync(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Option<HaSync> {
    let peer = match t.str(cx, "peer") {
        Some((p, span)) => {
            let ok = !p.is_empty()
                && !p.starts_with('-')
                && p.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '.' | '-' | '_' | '@' | ':' | '[' | ']')
                });
            if !ok {
                cx.error_help(
                    &span,
                    format!("invalid ssh destination \"{p}\" in `peer`"),
                    "expected [USER@]HOST, e.g. \"root@192.0.2.12\"",
                );
            }
            ok.then(|| p.to_owned())
        }
        None => {
            if t.lacks("peer") {
                missing(
                    cx,
                    t,
                    "peer",
                    "add peer = \"root@192.0.2.12\": the other host, as ssh reaches it",
                );
            }
            None
        }
    };
    let port = t
        .u32(cx, "port", 1..=65535)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(def::HA_SYNC_PORT);
    let path = |cx: &mut Cx<'_>, key: &str| -> Option<PathBuf> {
        let (p, span) = t.str(cx, key)?;
        if !p.starts_with('/') {
            cx.error_help(
                &span,
                format!("`{key}` must be an absolute path, found \"{p}\""),
                "write the full path, e.g. \"/etc/ringlb/ha_sync_key\"",
            );
            return None;
        }
        Some(PathBuf::from(p))
    };
    let identity = path(cx, "identity");
    let known_hosts = path(cx, "known_hosts");
    let config = path(cx, "config");
    let binary = path(cx, "binary").unwrap_or_else(|| PathBuf::from(def::HA_SYNC_BINARY));
    if identity.is_none() && t.lacks("identity") {
        missing(
            cx,
            t,
            "identity",
            "add identity = \"/etc/ringlb/ha_sync_key\": the private key ssh logs in with",
        );
    }
    Some(HaSync {
        peer: peer?,
        port,
        identity: identity?,
        known_hosts,
        config,
        binary,
    })
}

pub(super) fn missing(cx: &mut Cx<'_>, t: &Table<'_, '_>, key: &str, help: &str) {
    cx.error_help(&t.span, format!("{} has no `{key}`", t.shown()), help);
}

/// A VRRP interval: > 0 and at most [`def::HA_MAX_ADVERT_INT`].
fn bounded(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    key: &str,
    default: std::time::Duration,
) -> std::time::Duration {
    match t.duration(cx, key, false) {
        Some(d) if d > def::HA_MAX_ADVERT_INT => {
            let span = t.get(key).map_or(t.span.clone(), |v| v.span());
            cx.error(&span, format!("`{key}` must be at most 255s"));
            default
        }
        Some(d) => d,
        None => default,
    }
}

pub(super) fn ip(cx: &mut Cx<'_>, key: &str, text: &str, span: &Range<usize>) -> Option<IpAddr> {
    match text.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            cx.error_help(
                span,
                format!("invalid IP address \"{text}\" in `{key}`"),
                "expected an IP literal without port, e.g. \"192.0.2.12\" or \"2001:db8::12\"",
            );
            None
        }
    }
}

/// `ADDR/PREFIX`; a bare address gets /32 or /128.
pub(super) fn virtual_ip(cx: &mut Cx<'_>, text: &str, span: &Range<usize>) -> Option<VirtualIp> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let parsed = addr.parse::<IpAddr>().ok().and_then(|addr| {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(VirtualIp { addr, prefix })
    });
    if parsed.is_none() {
        cx.error_help(
            span,
            format!("invalid virtual IP \"{text}\""),
            "expected ADDRESS/PREFIX, e.g. \"192.0.2.100/24\" or \"2001:db8::100/64\"",
        );
    }
    parsed
}
