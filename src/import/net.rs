//! Addresses and the lines built on them: `bind`, `server`, `default-server`.
//!
//! HAProxy writes IPv6 without brackets and takes the last `:` as the port separator
//! (`:::80`); ringlb wants `[::]:80`. `*:80` and `:80` mean every IPv4 address.

use std::net::{IpAddr, Ipv4Addr};

use super::lex;
use super::model::{Noted, ServerOpts, ServerSpec};

/// The most ports one `bind` range may expand to.
const MAX_RANGE: u32 = 64;

/// `IP:PORT` as ringlb writes it (IPv6 in brackets).
pub(super) fn join(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Removes HAProxy's family prefixes that ringlb does not need.
fn strip_family(a: &str) -> Result<&str, String> {
    for p in [
        "ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@", "udp@", "udp4@", "udp6@",
    ] {
        if let Some(rest) = a.strip_prefix(p) {
            return Ok(rest);
        }
    }
    if a.starts_with('/') || a.contains('@') {
        return Err(format!(
            "\"{a}\": ringlb listens and connects on TCP/IP addresses only"
        ));
    }
    Ok(a)
}

/// Splits `HOST:PORT` at the last colon; `[v6]:port` accepted too.
fn split_port(a: &str) -> Option<(&str, &str)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    a.rsplit_once(':')
}

/// A log target `IP[:PORT]` (HAProxy: the port is optional, 514 by default).
pub(super) fn log_host(a: &str) -> Result<(IpAddr, Option<u16>), String> {
    let a = strip_family(a)?;
    // A bare address (IPv6 too: `::1:514` is itself an IPv6 address) has no port.
    if let Ok(ip) = a.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let (host, port) = split_port(a).ok_or_else(|| format!("invalid log target \"{a}\""))?;
    let ip = host
        .parse::<IpAddr>()
        .map_err(|_| format!("log target \"{a}\": ringlb logs to IP addresses only"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("invalid port in log target \"{a}\""))?;
    Ok((ip, Some(port)))
}

/// The addresses of one bind word: `*:80`, `:80`, `10.0.0.1:80`, `:::443`, `:8000-8003`,
/// or several of those separated by commas.
pub(super) fn bind_addrs(word: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for a in word.split(',').filter(|a| !a.is_empty()) {
        let a = strip_family(a)?;
        let (host, ports) = split_port(a)
            .ok_or_else(|| format!("\"{a}\" has no port; ringlb listens on IP:PORT addresses"))?;
        let ip: IpAddr = match host {
            "" | "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            h => h.parse().map_err(|_| {
                format!("\"{h}\": ringlb binds IP addresses only, not host or interface names")
            })?,
        };
        let (lo, hi) = match ports.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (ports, ports),
        };
        let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
            return Err(format!("invalid port \"{ports}\" in \"{a}\""));
        };
        if lo == 0 || hi < lo || u32::from(hi - lo) >= MAX_RANGE {
            return Err(format!(
                "port range \"{ports}\" is empty or longer than {MAX_RANGE} ports"
            ));
        }
        out.extend((lo..=hi).map(|p| join(ip, p)));
    }
    if out.is_empty() {
        return Err("bind needs an address".into());
    }
    Ok(out)
}

/// What a plain `bind` line says besides its addresses.
pub(super) struct PlainBind {
    /// `accept-proxy`.
    pub(super) accept_proxy: bool,
    /// `proto h2`: h2 with prior knowledge.
    pub(super) h2: bool,
}

/// `bind ADDR… [options]` without `ssl` (see `tls::bind`). `accept-proxy` and `proto h2` are
/// returned, `defer-accept` is the caller's; other options are reported; the listener is kept.
pub(super) fn bind(
    args: &[String],
    binds: &mut Vec<Noted<String>>,
    partial: &mut Vec<String>,
) -> Result<PlainBind, String> {
    let addr = args.first().ok_or("bind needs an address")?;
    let all = args.get(1..).unwrap_or_default();
    let accept_proxy = all.iter().any(|o| o == "accept-proxy");
    let h2 = all
        .windows(2)
        .any(|w| matches!(w, [p, v] if p == "proto" && v == "h2"));
    let mut opts: Vec<&str> = Vec::new();
    let mut words = all.iter().map(String::as_str).peekable();
    while let Some(o) = words.next() {
        match o {
            "accept-proxy" => {}
            // The caller's, for the frontend (`defer_accept`).
            "defer-accept" => {}
            "proto" if words.peek() == Some(&"h2") => {
                words.next();
            }
            _ => opts.push(o),
        }
    }
    let addrs = bind_addrs(addr)?;
    let note = if opts.is_empty() {
        None
    } else {
        partial.push(format!(
            "bind options not translated: {} (ringlb has no per-listener options)",
            opts.join(" ")
        ));
        Some(format!("bind options dropped: {}", opts.join(" ")))
    };
    binds.extend(addrs.into_iter().map(|v| Noted {
        v,
        note: note.clone(),
    }));
    Ok(PlainBind { accept_proxy, h2 })
}

/// A server address: `IP:PORT` or `HOST:PORT`, as ringlb writes it.
fn server_addr(a: &str) -> Result<String, String> {
    let a = strip_family(a)?;
    if let Ok(ip) = a.parse::<IpAddr>() {
        if !ip.is_ipv6() {
            return Err(format!(
                "\"{a}\" has no port: HAProxy then uses the port the client connected to; \
                 ringlb needs one"
            ));
        }
    }
    let (host, port) = split_port(a).ok_or_else(|| {
        format!(
            "\"{a}\" has no port: HAProxy then uses the port the client connected to; ringlb \
             needs one"
        )
    })?;
    if port.starts_with('+') || port.starts_with('-') {
        return Err(format!(
            "\"{a}\": port offsets from the client's port have no ringlb equivalent"
        ));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("invalid port in \"{a}\""))?;
    if host.is_empty() {
        return Err(format!("\"{a}\" has no host"));
    }
    Ok(match host.parse::<IpAddr>() {
        Ok(ip) => join(ip, port),
        Err(_) => format!("{host}:{port}"),
    })
}

/// Server options that take an argument, so that reporting them skips the argument too.
const OPTS_WITH_ARG: &[&str] = &[
    "addr",
    "port",
    "agent-port",
    "agent-inter",
    "agent-addr",
    "agent-send",
    "agent-check",
    "ca-file",
    "crl-file",
    "crt",
    "ciphers",
    "ciphersuites",
    "sni",
    "verifyhost",
    "verify",
    "alpn",
    "check-alpn",
    "check-sni",
    "proto",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "observe",
    "error-limit",
    "resolvers",
    "resolve-prefer",
    "resolve-net",
    "resolve-opts",
    "init-addr",
    "minconn",
    "track",
    "source",
    "id",
    "redir",
    "pool-max-conn",
    "pool-purge-delay",
    "pool-low-conn",
    "max-reuse",
    "namespace",
    "tcp-ut",
    "ssl-min-ver",
    "ssl-max-ver",
    "proxy-v2-options",
    "set-proxy-v2-tlv-fmt",
    "usesrc",
    "log-proto",
    "shard",
    "hash-key",
    "guid",
    "ws",
];

fn time_opt(words: &[String], i: usize, what: &str) -> Result<u64, String> {
    let t = words
        .get(i)
        .and_then(|w| lex::parse_time(w))
        .ok_or_else(|| format!("`{what}` needs a time"))?;
    if t == 0 {
        return Err(format!("`{what} 0` is not an interval"));
    }
    Ok(t.min(lex::MAX_US))
}

fn num_opt(words: &[String], i: usize, what: &str) -> Result<u32, String> {
    words
        .get(i)
        .and_then(|w| w.parse::<u32>().ok())
        .ok_or_else(|| format!("`{what}` needs a number"))
}

/// Applies `server` / `default-server` options to `opts`; options ringlb has no equivalent
/// for are returned (joined) for the report.
pub(super) fn server_opts(words: &[String], opts: &mut ServerOpts) -> Result<Vec<String>, String> {
    let mut other = Vec::new();
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let mut step = 1;
        match w.as_str() {
            "check" => opts.check = true,
            "no-check" => opts.check = false,
            "backup" => opts.backup = true,
            "no-backup" => opts.backup = false,
            "disabled" => opts.disabled = true,
            "ssl" => opts.ssl = true,
            "verify" | "ca-file" | "sni" | "crt" => {
                let v = words
                    .get(i + 1)
                    .ok_or_else(|| format!("`{w}` needs a value"))?;
                match w.as_str() {
                    "verify" => opts.verify = Some(super::tls::verify_word(v)?),
                    "ca-file" => opts.ca_file = Some(v.clone()),
                    "crt" => opts.crt = Some(v.clone()),
                    _ => {
                        opts.sni = Some(
                            match v.strip_prefix("str(").and_then(|r| r.strip_suffix(')')) {
                                Some(name) if !name.is_empty() => Ok(name.to_owned()),
                                _ => Err(v.clone()),
                            },
                        )
                    }
                }
                step = 2;
            }
            "no-ssl" => opts.ssl = false,
            "send-proxy" => opts.send_proxy = Some("v1"),
            "send-proxy-v2" => opts.send_proxy = Some("v2"),
            "no-send-proxy" | "no-send-proxy-v2" => opts.send_proxy = None,
            "check-send-proxy" => opts.check_send_proxy = true,
            "enabled" => opts.disabled = false,
            "inter" => (opts.inter, step) = (Some(time_opt(words, i + 1, w)?), 2),
            "fastinter" => (opts.fastinter, step) = (Some(time_opt(words, i + 1, w)?), 2),
            "downinter" => (opts.downinter, step) = (Some(time_opt(words, i + 1, w)?), 2),
            "rise" => (opts.rise, step) = (Some(num_opt(words, i + 1, w)?.clamp(1, 1000)), 2),
            "fall" => (opts.fall, step) = (Some(num_opt(words, i + 1, w)?.clamp(1, 1000)), 2),
            "weight" => (opts.weight, step) = (Some(num_opt(words, i + 1, w)?.min(256)), 2),
            "maxconn" => (opts.maxconn, step) = (Some(num_opt(words, i + 1, w)?), 2),
            "slowstart" => {
                // `slowstart 0` is HAProxy's "no slow start".
                let t = words.get(i + 1).and_then(|t| lex::parse_time(t));
                let t = t.ok_or_else(|| format!("`{w}` needs a time"))?;
                (opts.slowstart, step) = (Some(t.min(lex::MAX_US)), 2);
            }
            "maxqueue" => (opts.maxqueue, step) = (Some(num_opt(words, i + 1, w)?), 2),
            "cookie" => {
                let v = words.get(i + 1).ok_or("`cookie` needs a value")?;
                opts.cookie = Some(v.clone());
                step = 2;
            }
            o if OPTS_WITH_ARG.contains(&o) => {
                other.push(format!(
                    "{o} {}",
                    words.get(i + 1).map_or("", String::as_str)
                ));
                step = 2;
            }
            o => other.push(o.to_owned()),
        }
        i += step;
    }
    Ok(other)
}

/// The characters of an HAProxy name, each one a ringlb name may not hold (`:` and the like)
/// as `_`.
pub(super) fn name_chars(n: &str) -> impl Iterator<Item = char> + '_ {
    n.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '_'
        }
    })
}

/// A ringlb name from an HAProxy one (HAProxy also allows `:`).
pub(super) fn name(n: &str) -> String {
    let mut out: String = name_chars(n).take(64).collect();
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// `server NAME ADDR [options]`, starting from the section's `default-server` options.
pub(super) fn server(
    args: &[String],
    defaults: &ServerOpts,
    line: usize,
    partial: &mut Vec<String>,
) -> Result<ServerSpec, String> {
    let (Some(raw_name), Some(addr)) = (args.first(), args.get(1)) else {
        return Err("server needs a name and an address".into());
    };
    let address = server_addr(addr)?;
    let mut opts = defaults.clone();
    let other = server_opts(args.get(2..).unwrap_or_default(), &mut opts)?;
    let mut notes = Vec::new();
    if let Some(Err(expr)) = opts.sni.as_ref().filter(|_| opts.ssl) {
        partial.push(format!(
            "sni {expr}: ringlb sends one fixed name per server (`sni str(NAME)`); the server \
             keeps TLS without it, so the name sent and verified is its host name (none for an \
             IP address)"
        ));
    }
    let tls_only: Vec<&str> = [
        ("verify", opts.verify.is_some()),
        ("ca-file", opts.ca_file.is_some()),
        ("sni", opts.sni.is_some()),
        ("crt", opts.crt.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set && !opts.ssl)
    .map(|(k, _)| *k)
    .collect();
    if !tls_only.is_empty() {
        notes.push(format!(
            "{} without ssl: ignored, as HAProxy ignores it",
            tls_only.join(", ")
        ));
    }
    if !other.is_empty() {
        partial.push(format!(
            "server options not translated: {} (no ringlb equivalent)",
            other.join(", ")
        ));
        notes.push(format!("options dropped: {}", other.join(", ")));
    }
    let name = name(raw_name);
    if name != *raw_name {
        notes.push(format!("renamed from \"{raw_name}\" (ringlb name rules)"));
    }
    if opts.weight == Some(0) {
        partial
            .push("weight 0: ringlb weights are 1–256; the server is left out (commented)".into());
    }
    if opts.disabled {
        partial.push(
            "disabled: ringlb has no server that starts in maintenance; the server is left out \
             (commented), use `ringlb admin` to drain servers at run time"
                .into(),
        );
    }
    Ok(ServerSpec {
        line,
        name,
        address,
        opts,
        notes,
    })
}
