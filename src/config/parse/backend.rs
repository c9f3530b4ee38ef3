//! `[backend.NAME]` and its `[[backend.NAME.server]]` sections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use super::server_tls;
use super::walk::{check_name, Cx, Schema, Table};
use super::{health, parse_timeouts, Defaults, Section, MODES, TIMEOUT_BACKEND};
use crate::config::defaults as def;
use crate::config::Origin;
use crate::config::{Backend, Mode, ProxyVersion, Server};

/// `send_proxy` values of a backend.
const PROXY_VERSIONS: &[(&str, ProxyVersion)] =
    &[("v1", ProxyVersion::V1), ("v2", ProxyVersion::V2)];

/// `send_proxy` values of a server: a version, or "none" to turn the backend's off.
const SERVER_PROXY_VERSIONS: &[(&str, Option<ProxyVersion>)] = &[
    ("v1", Some(ProxyVersion::V1)),
    ("v2", Some(ProxyVersion::V2)),
    ("none", None),
];

const FRONTEND_HINT: &str = "this is a frontend setting: set it in [frontend.NAME] or [defaults]";

pub(super) const BACKEND: Schema = Schema {
    known: &[
        "mode",
        "balance",
        "hash_type",
        "hash_balance_factor",
        "slowstart",
        "maxqueue",
        "retries",
        "redispatch",
        "timeout",
        "server",
        "check",
        "passive",
        "cookie",
        "send_proxy",
        "acl",
        "request_rule",
        "response_rule",
        "errorfile",
        "tls",
    ],
    elsewhere: &[
        ("bind", FRONTEND_HINT),
        ("accept_proxy", FRONTEND_HINT),
        ("default_backend", FRONTEND_HINT),
        ("forwardfor", FRONTEND_HINT),
        ("connection", FRONTEND_HINT),
        (
            "maxconn",
            "a backend has no maxconn: limit each server (maxconn in [[backend.NAME.server]]) \
             or each frontend",
        ),
    ],
    names: false,
};

const SERVER: Schema = Schema {
    known: &[
        "name",
        "address",
        "weight",
        "maxconn",
        "backup",
        "cookie",
        "check",
        "inter",
        "fastinter",
        "downinter",
        "rise",
        "fall",
        "send_proxy",
        "check_send_proxy",
        "tls",
        "slowstart",
        "maxqueue",
    ],
    elsewhere: &[(
        "port",
        "put the port in the address: address = \"10.0.0.11:80\"",
    )],
    names: false,
};

pub(super) struct BackendDraft {
    pub(super) backend: Backend,
    /// `None` when the section's `mode` was invalid: mode checks against it are skipped rather
    /// than reported twice.
    pub(super) mode: Option<Mode>,
}

pub(super) fn parse_backend(cx: &mut Cx<'_>, s: Section<'_, '_>, d: &Defaults) -> BackendDraft {
    let t = &s.table;
    let timeouts = parse_timeouts(cx, t, &TIMEOUT_BACKEND, d.timeouts, Origin::Section);
    let check = health::parse_check(cx, t, timeouts.connect);
    let cookie = health::parse_cookie(cx, t);
    let tls = server_tls::draft(cx, t);
    let own_mode = t.enum_of(cx, "mode", "mode", MODES);
    let mode_ok = own_mode.is_some() || (t.get("mode").is_none() && d.mode_ok);
    let mode = own_mode.or(d.mode).unwrap_or(def::MODE);

    let send_proxy = t.enum_of(cx, "send_proxy", "PROXY protocol version", PROXY_VERSIONS);
    let own_balance = super::balance::draft(cx, t);
    let balance = super::balance::resolve(cx, t, own_balance, &d.balance);
    let slowstart = slowstart(cx, t).unwrap_or(Duration::ZERO);
    let maxqueue = t.u32(cx, "maxqueue", 0..=def::MAX_MAXCONN).unwrap_or(0);
    let mut servers = Vec::new();
    match t.array_of_tables(cx, "server", &SERVER) {
        Some(tables) => {
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut cookies: HashMap<String, String> = HashMap::new();
            for st in &tables {
                let Some((server, name_span)) = parse_server(
                    cx,
                    st,
                    &FromBackend {
                        check: check.as_ref(),
                        cookie: cookie.is_some(),
                        tls: tls.as_ref(),
                        send_proxy,
                        slowstart,
                    },
                ) else {
                    continue;
                };
                if let Some(first) = seen.get(&server.name) {
                    let line = cx.line_of(*first);
                    cx.error_help(
                        &name_span,
                        format!("duplicate server name \"{}\" in backend \"{}\"", server.name, s.name),
                        format!("the first \"{}\" is at line {line}; server names must be unique within a backend", server.name),
                    );
                } else {
                    seen.insert(server.name.clone(), name_span.start);
                }
                if cookie.is_some() {
                    let span = st.get("cookie").map_or(name_span.clone(), |v| v.span());
                    match cookies.get(&server.cookie) {
                        Some(first) => cx.error_help(
                            &span,
                            format!(
                                "servers \"{first}\" and \"{}\" have the same cookie value \"{}\"",
                                server.name, server.cookie
                            ),
                            "each server needs its own value for persistence to work",
                        ),
                        None => {
                            cookies.insert(server.cookie.clone(), server.name.clone());
                        }
                    }
                }
                servers.push(server);
            }
            if tables.is_empty() {
                let span = t.get("server").map_or(s.name_span.clone(), |v| v.span());
                cx.error_help(
                    &span,
                    format!("backend \"{}\" has no server", s.name),
                    format!(
                        "add a [[backend.{}.server]] section with name and address",
                        s.name
                    ),
                );
            }
        }
        None if t.lacks("server") => cx.error_help(
            &s.name_span,
            format!("backend \"{}\" has no server", s.name),
            format!(
                "add a [[backend.{}.server]] section with name and address",
                s.name
            ),
        ),
        None => {}
    }

    health::check_backend(cx, &s, cookie.is_some(), mode_ok.then_some(mode));
    let acls = super::routing::parse_backend_acls(cx, t, &s.name, mode_ok.then_some(mode));
    let acl_names: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    let owner = super::rules::Owner {
        kind: "backend",
        name: &s.name,
        mode: mode_ok.then_some(mode),
        acls: &acl_names,
    };
    let (request_rules, response_rules) = super::rules::parse_rules(cx, t, &owner);
    let errorfiles = super::rules::parse_errorfiles(cx, t, mode_ok.then_some(mode));
    drop(acl_names);
    let backend = Backend {
        name: s.name,
        mode,
        balance,
        retries: t
            .u32(cx, "retries", 0..=def::MAX_RETRIES)
            .or(d.retries)
            .unwrap_or(def::RETRIES),
        redispatch: t
            .bool(cx, "redispatch")
            .or(d.redispatch)
            .unwrap_or(def::REDISPATCH),
        timeouts,
        servers,
        check: check.map(|c| c.check),
        passive: health::parse_passive(cx, t),
        cookie,
        acls,
        request_rules,
        response_rules,
        errorfiles,
        maxqueue,
    };
    BackendDraft {
        backend,
        mode: mode_ok.then_some(mode),
    }
}

/// What a server takes from its backend.
#[derive(Clone, Copy)]
struct FromBackend<'a> {
    check: Option<&'a health::CheckDraft>,
    /// The backend has cookie persistence.
    cookie: bool,
    tls: Option<&'a server_tls::TlsDraft>,
    send_proxy: Option<ProxyVersion>,
    /// The backend's `slowstart`, for servers without their own.
    slowstart: Duration,
}

/// `slowstart`: a duration from 0 to an hour.
fn slowstart(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Option<Duration> {
    let d = t.duration(cx, "slowstart", true)?;
    if d > def::MAX_SLOWSTART {
        if let Some(v) = t.get("slowstart") {
            cx.error_help(
                &v.span(),
                format!("slowstart of {}s is too long", d.as_secs()),
                "a server ramps up over seconds or minutes; at most 1h",
            );
        }
    }
    Some(d.min(def::MAX_SLOWSTART))
}

/// One `[[backend.X.server]]`; `None` only when it has no usable name (nothing to check
/// uniqueness against). Also returns the span of the name for duplicate reports.
fn parse_server(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    from: &FromBackend<'_>,
) -> Option<(Server, Range<usize>)> {
    let FromBackend {
        check,
        cookie: has_cookie,
        tls: backend_tls,
        send_proxy: backend_proxy,
        slowstart: backend_slowstart,
    } = *from;
    let mut host = None;
    let address = match t.str(cx, "address") {
        Some((text, span)) => {
            host = server_tls::host_of(text);
            server_address(cx, text, &span)
        }
        None if !t.lacks("address") => None,
        None => {
            cx.error_help(
                &t.span,
                format!("{} has no `address`", t.shown()),
                "add address = \"IP:PORT\" or \"HOST:PORT\"",
            );
            None
        }
    };
    let weight = t.u32(cx, "weight", def::MIN_WEIGHT..=def::MAX_WEIGHT);
    let maxconn = t.u32(cx, "maxconn", 0..=def::MAX_MAXCONN);
    let backup = t.bool(cx, "backup");
    let send_proxy = t
        .enum_of(
            cx,
            "send_proxy",
            "PROXY protocol version",
            SERVER_PROXY_VERSIONS,
        )
        .unwrap_or(backend_proxy);
    let mut server_check = health::server_check(cx, t, check);
    if let Some(c) = server_check.as_mut() {
        // A check that sends a header sends the server's version (v1 when it has none); a
        // server sent headers has them on checks too unless told otherwise (as in HAProxy).
        let wanted = t
            .bool(cx, "check_send_proxy")
            .or(check.and_then(|d| d.send_proxy))
            .unwrap_or(send_proxy.is_some());
        c.send_proxy = wanted.then(|| send_proxy.unwrap_or(ProxyVersion::V1));
    }
    let cookie = health::server_cookie(cx, t, has_cookie);
    let own_tls = server_tls::draft(cx, t);

    let Some((name, name_span)) = t.str(cx, "name") else {
        if t.lacks("name") {
            cx.error_help(
                &t.span,
                format!("{} has no `name`", t.shown()),
                "add name = \"NAME\"; it appears in logs, stats and the Server response header",
            );
        }
        return None;
    };
    check_name(cx, "server", name, &name_span);
    let server = Server {
        name: name.to_owned(),
        // An unresolved address is already reported; the placeholder never leaves this module.
        address: address.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        weight: weight.unwrap_or(def::WEIGHT),
        maxconn: maxconn.unwrap_or(def::SERVER_MAXCONN),
        backup: backup.unwrap_or(def::BACKUP),
        cookie: cookie.map_or_else(|| name.to_owned(), |(c, _)| c),
        check: server_check,
        tls: server_tls::resolve(backend_tls, own_tls.as_ref(), host),
        send_proxy,
        slowstart: self::slowstart(cx, t).unwrap_or(backend_slowstart),
        maxqueue: t.u32(cx, "maxqueue", 0..=def::MAX_MAXCONN).unwrap_or(0),
    };
    Some((server, name_span))
}

/// `IP:PORT`, or `HOST:PORT` resolved now (first address returned by the system resolver).
fn server_address(cx: &mut Cx<'_>, text: &str, span: &Range<usize>) -> Option<SocketAddr> {
    let addr = match text.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            let port_ok = text
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                cx.error_help(
                    span,
                    format!("invalid server address \"{text}\""),
                    "expected IP:PORT or HOST:PORT, IPv6 in brackets: \"10.0.0.11:80\", \
                     \"[2001:db8::1]:80\", \"web1.internal:8080\"",
                );
                return None;
            }
            match (cx.resolve)(text) {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    cx.error_help(
                        span,
                        format!("server address \"{text}\" resolves to no address"),
                        "check the name or use an IP address",
                    );
                    return None;
                }
                Err(e) => {
                    cx.error_help(
                        span,
                        format!("cannot resolve server address \"{text}\": {e}"),
                        "check the name or use an IP address; names are resolved once, at load",
                    );
                    return None;
                }
            }
        }
    };
    if addr.port() == 0 {
        cx.error(span, format!("server address \"{text}\" has port 0"));
        return None;
    }
    Some(addr)
}
