//! The config walker: spanned TOML tree → [`Config`], collecting every problem.
//!
//! Order of work, so that cross-section rules see resolved values:
//! `[global]` (frontend maxconn is capped by it) → `[defaults]` → backends → frontends →
//! cross-references (default_backend exists, modes agree, binds unique).
//!
//! Precedence for every setting: the section's own value > `[defaults]` > [`defaults`] constant.
//! An invalid value is reported and replaced by its default so the walk can go on; the result is
//! then thrown away by [`Cx::finish`], so a replaced value never reaches a running worker.
//!
//! Server addresses given as `host:port` are resolved here, once, with the system resolver (as
//! HAProxy does at startup); everything else in this file is pure.

mod acme;
mod backend;
mod balance;
mod global;
mod h2;
mod ha_tier;
mod health;
mod routing;
mod rules;
mod server_tls;
mod stats;
pub(super) mod tls;
mod track;
mod walk;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::defaults as def;
use super::{Config, ConnectionMode, Diagnostic, Frontend, Global, Mode, Origin, Timeouts};
use backend::{parse_backend, BackendDraft, BACKEND};
use routing::RouteDraft;
use walk::{check_name, suggest, Cx, Schema, Table};

// ---- schemas: the keys each table accepts ----------------------------------------------------

const ROOT: Schema = Schema {
    known: &[
        "global", "log", "stats", "ha", "acme", "defaults", "frontend", "backend",
    ],
    elsewhere: &[],
    names: false,
};

const BACKEND_HINT: &str = "this is a backend setting: set it in [backend.NAME] or [defaults]";
const SERVER_HINT: &str = "servers belong to a backend: add a [[backend.NAME.server]] section";

const DEFAULTS: Schema = Schema {
    known: &[
        "mode",
        "balance",
        "hash_type",
        "hash_balance_factor",
        "retries",
        "redispatch",
        "maxconn",
        "forwardfor",
        "connection",
        "timeout",
        "log",
        "dontlognull",
    ],
    elsewhere: &[
        (
            "bind",
            "each frontend has its own bind: set it in [frontend.NAME]",
        ),
        (
            "default_backend",
            "each frontend has its own default_backend: set it in [frontend.NAME]",
        ),
        ("server", SERVER_HINT),
    ],
    names: false,
};

const FRONTEND: Schema = Schema {
    known: &[
        "bind",
        "mode",
        "default_backend",
        "maxconn",
        "forwardfor",
        "connection",
        "timeout",
        "log",
        "dontlognull",
        "upgrade",
        "acl",
        "route",
        "stats",
        "tls",
        "accept_proxy",
        "accept_proxy_from",
        "defer_accept",
        "request_rule",
        "response_rule",
        "errorfile",
        "track",
        "connection_rule",
        "h2",
    ],
    elsewhere: &[
        ("balance", BACKEND_HINT),
        ("send_proxy", BACKEND_HINT),
        ("check", BACKEND_HINT),
        ("cookie", BACKEND_HINT),
        ("retries", BACKEND_HINT),
        ("redispatch", BACKEND_HINT),
        ("server", SERVER_HINT),
    ],
    names: false,
};

const BACKEND_TIMEOUT_HINT: &str =
    "this is a backend timeout: set it in [backend.NAME.timeout] or [defaults.timeout]";
const FRONTEND_TIMEOUT_HINT: &str =
    "this is a frontend timeout: set it in [frontend.NAME.timeout] or [defaults.timeout]";

const TIMEOUT_ALL: Schema = Schema {
    known: &[
        "connect",
        "client",
        "server",
        "http_request",
        "http_keep_alive",
        "queue",
        "tunnel",
    ],
    elsewhere: &[],
    names: false,
};

const TIMEOUT_FRONTEND: Schema = Schema {
    known: &["client", "http_request", "http_keep_alive", "tunnel"],
    elsewhere: &[
        ("connect", BACKEND_TIMEOUT_HINT),
        ("server", BACKEND_TIMEOUT_HINT),
        ("queue", BACKEND_TIMEOUT_HINT),
    ],
    names: false,
};

const TIMEOUT_BACKEND: Schema = Schema {
    known: &["connect", "server", "queue", "tunnel"],
    elsewhere: &[
        ("client", FRONTEND_TIMEOUT_HINT),
        ("http_request", FRONTEND_TIMEOUT_HINT),
        ("http_keep_alive", FRONTEND_TIMEOUT_HINT),
    ],
    names: false,
};

const MODES: &[(&str, Mode)] = &[("http", Mode::Http), ("tcp", Mode::Tcp)];
const CONNECTIONS: &[(&str, ConnectionMode)] = &[
    ("keep-alive", ConnectionMode::KeepAlive),
    ("server-close", ConnectionMode::ServerClose),
    ("close", ConnectionMode::Close),
];

/// Parses and validates a whole config. `file` is only used in diagnostics. Server host names
/// are resolved with the system resolver ([`system_resolver`]).
pub fn parse_str(text: &str, file: &str) -> Result<Config, Vec<Diagnostic>> {
    parse_str_with(text, file, &system_resolver)
}

/// The system resolver: the first address `getaddrinfo` returns for `HOST:PORT`.
pub fn system_resolver(host_port: &str) -> std::io::Result<Option<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().map(|mut it| it.next())
}

/// Like [`parse_str`], with server host names resolved by `resolve` instead of the system
/// resolver, so tests and the fuzzer never touch the network.
pub fn parse_str_with(
    text: &str,
    file: &str,
    resolve: crate::config::Resolver<'_>,
) -> Result<Config, Vec<Diagnostic>> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => return Err(vec![syntax_error(file, text, &e)]),
    };
    let mut cx = Cx::new(file, text, resolve);
    let root = Table::root(&mut cx, doc.get_ref(), &ROOT);

    let global = global::parse_global(&mut cx, &root);
    let log = global::parse_log(&mut cx, &root);
    let stats = stats::listener(&mut cx, &root);
    let ha = global::parse_ha(&mut cx, &root);
    let acme = acme::parse_acme(&mut cx, &root);
    let defaults = parse_defaults(&mut cx, &root);
    let backends: Vec<BackendDraft> = named_sections(&mut cx, &root, "backend", &BACKEND)
        .into_iter()
        .map(|s| parse_backend(&mut cx, s, &defaults))
        .collect();
    let frontends: Vec<FrontendDraft> = named_sections(&mut cx, &root, "frontend", &FRONTEND)
        .into_iter()
        .map(|s| parse_frontend(&mut cx, s, &defaults, &global))
        .collect();

    if frontends.is_empty() && root.get("frontend").is_none() {
        cx.file_error(
            "no frontend defined",
            "add a [frontend.NAME] section with bind and default_backend",
        );
    }
    check_binds(&mut cx, &frontends, stats.as_ref());
    check_backend_refs(&mut cx, &frontends, &backends);
    let fronts: Vec<&Frontend> = frontends.iter().map(|f| &f.frontend).collect();
    acme::check(&mut cx, acme.as_ref(), &fronts);

    cx.finish(Config {
        global,
        log,
        stats: stats.map(|(s, _)| s),
        ha,
        acme,
        frontends: frontends.into_iter().map(|f| f.frontend).collect(),
        backends: backends.into_iter().map(|b| b.backend).collect(),
    })
}

/// A TOML syntax error: one diagnostic, since later errors are often echoes of the first.
fn syntax_error(file: &str, text: &str, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim();
    match e.span() {
        Some(span) if message == "duplicate key" => {
            let key = text.get(span.clone()).unwrap_or("");
            Diagnostic::at(file, text, span.start, format!("duplicate key `{key}`"))
                .with_help("each key and each [table] may appear only once per table")
        }
        Some(span) => Diagnostic::at(file, text, span.start, format!("invalid TOML: {message}")),
        None => Diagnostic::file(file, format!("invalid TOML: {message}")),
    }
}

// ---- sections --------------------------------------------------------------------------------

/// One `[KIND.NAME]` section, its name validated.
struct Section<'t, 'i> {
    name: String,
    /// The name in the header: anchor for "frontend www has no …" errors.
    name_span: Range<usize>,
    table: Table<'t, 'i>,
}

/// The `[KIND.NAME]` sections in file order. A section with an invalid name is reported and
/// still walked, so its own errors are found in the same run.
fn named_sections<'t, 'i>(
    cx: &mut Cx<'_>,
    root: &Table<'t, 'i>,
    kind: &str,
    schema: &Schema,
) -> Vec<Section<'t, 'i>> {
    let Some(value) = root.get(kind) else {
        return Vec::new();
    };
    if let DeValue::Array(_) = value.get_ref() {
        cx.error_help(
            &value.span(),
            format!("expected named [{kind}.NAME] sections, found an array"),
            format!("write [{kind}.NAME] (single brackets, with a name)"),
        );
        return Vec::new();
    }
    let Some(all) = root.table(cx, kind, &Schema::NAMES) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, name_span, value) in all.entries() {
        check_name(cx, kind, name, &name_span);
        if let Some(table) = Table::new(cx, format!("{kind}.{name}"), name, value, schema) {
            out.push(Section {
                name: name.to_owned(),
                name_span,
                table,
            });
        }
    }
    if out.is_empty() && all.entries().is_empty() {
        let span = root.key_span(kind).unwrap_or(all.span.clone());
        cx.error_help(
            &span,
            format!("[{kind}] has no named section"),
            format!("write [{kind}.NAME]"),
        );
    }
    out
}

/// `[defaults]`: values for settings a frontend or backend leaves out.
struct Defaults {
    mode: Option<Mode>,
    /// False when `[defaults] mode` was given but invalid: sections inheriting it skip the
    /// frontend/backend mode comparison instead of reporting a mismatch nobody wrote.
    mode_ok: bool,
    balance: balance::BalanceDraft,
    retries: Option<u32>,
    redispatch: Option<bool>,
    maxconn: Option<u32>,
    forwardfor: Option<bool>,
    connection: Option<ConnectionMode>,
    log: Option<bool>,
    dontlognull: Option<bool>,
    /// Already layered over the constants.
    timeouts: Timeouts,
}

fn parse_defaults(cx: &mut Cx<'_>, root: &Table<'_, '_>) -> Defaults {
    let Some(t) = root.table(cx, "defaults", &DEFAULTS) else {
        return Defaults {
            mode: None,
            mode_ok: true,
            balance: balance::BalanceDraft::default(),
            retries: None,
            redispatch: None,
            maxconn: None,
            forwardfor: None,
            connection: None,
            log: None,
            dontlognull: None,
            timeouts: def::TIMEOUTS,
        };
    };
    let mode = t.enum_of(cx, "mode", "mode", MODES);
    Defaults {
        mode,
        mode_ok: mode.is_some() || t.get("mode").is_none(),
        balance: balance::draft(cx, &t),
        retries: t.u32(cx, "retries", 0..=def::MAX_RETRIES),
        redispatch: t.bool(cx, "redispatch"),
        maxconn: t.u32(cx, "maxconn", 1..=def::MAX_MAXCONN),
        forwardfor: t.bool(cx, "forwardfor"),
        connection: t.enum_of(cx, "connection", "connection mode", CONNECTIONS),
        log: t.bool(cx, "log"),
        dontlognull: t.bool(cx, "dontlognull"),
        timeouts: parse_timeouts(cx, &t, &TIMEOUT_ALL, def::TIMEOUTS, Origin::Defaults),
    }
}

/// Layers the `timeout` sub-table of `t` (keys allowed by `schema`) over `base`; a value
/// written there comes from `origin`.
fn parse_timeouts(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    schema: &Schema,
    base: Timeouts,
    origin: Origin,
) -> Timeouts {
    let mut out = base;
    let Some(tt) = t.table(cx, "timeout", schema) else {
        return out;
    };
    for key in schema.known {
        let Some(d) = tt.duration(cx, key, false) else {
            continue;
        };
        if let Some(field) = timeout_field(&mut out, key) {
            *field = d;
        }
        if *key == "tunnel" {
            out.tunnel_origin = origin;
        }
    }
    out
}

fn timeout_field<'a>(t: &'a mut Timeouts, key: &str) -> Option<&'a mut Duration> {
    Some(match key {
        "connect" => &mut t.connect,
        "client" => &mut t.client,
        "server" => &mut t.server,
        "http_request" => &mut t.http_request,
        "http_keep_alive" => &mut t.http_keep_alive,
        "queue" => &mut t.queue,
        "tunnel" => &mut t.tunnel,
        _ => return None,
    })
}

// ---- frontends -------------------------------------------------------------------------------

struct FrontendDraft {
    frontend: Frontend,
    /// `None` when the section's `mode` was invalid (see [`BackendDraft::mode`]).
    mode: Option<Mode>,
    /// Span of each entry of `binds`, same order.
    bind_spans: Vec<Range<usize>>,
    /// Span of the `default_backend` value, when present and a string.
    backend_span: Option<Range<usize>>,
    /// The routes, with the span of each `backend` value.
    routes: Vec<RouteDraft>,
}

fn parse_frontend(
    cx: &mut Cx<'_>,
    s: Section<'_, '_>,
    d: &Defaults,
    global: &Global,
) -> FrontendDraft {
    let t = &s.table;
    let own_mode = t.enum_of(cx, "mode", "mode", MODES);
    let mode_ok = own_mode.is_some() || (t.get("mode").is_none() && d.mode_ok);
    let mode = own_mode.or(d.mode).unwrap_or(def::MODE);

    let mut binds = Vec::new();
    let mut bind_spans = Vec::new();
    match t.strings(cx, "bind") {
        Some(list) if list.is_empty() => {
            let span = t.get("bind").map_or(s.name_span.clone(), |v| v.span());
            cx.error_help(
                &span,
                format!("frontend \"{}\" has an empty `bind` list", s.name),
                "add at least one address: bind = \"0.0.0.0:80\"",
            );
        }
        Some(list) => {
            for (text, span) in list {
                if let Some(addr) = bind_address(cx, text, &span) {
                    binds.push(addr);
                    bind_spans.push(span);
                }
            }
        }
        None if t.lacks("bind") && t.get("tls").is_none() => cx.error_help(
            &s.name_span,
            format!("frontend \"{}\" has no `bind`", s.name),
            "add bind = \"0.0.0.0:80\" (or a list of addresses)",
        ),
        None => {}
    }
    let accept_proxy = t.bool(cx, "accept_proxy").unwrap_or(false);
    let tls = tls::frontend_tls(cx, t, mode, accept_proxy);

    let accepts = accept_proxy || tls.as_ref().is_some_and(|(t, _)| t.accept_proxy);
    let accept_proxy_from = proxy_sources(cx, t, &s.name, accepts);
    let tls = tls.map(|(tls, spans)| {
        bind_spans.extend(spans);
        tls
    });

    let mut backend_span = None;
    let default_backend = match t.str(cx, "default_backend") {
        Some((name, span)) => {
            backend_span = Some(span);
            name.to_owned()
        }
        None if !t.lacks("default_backend") => String::new(),
        None => {
            cx.error_help(
                &s.name_span,
                format!("frontend \"{}\" has no `default_backend`", s.name),
                "add default_backend = \"NAME\" naming a [backend.NAME] section",
            );
            String::new()
        }
    };

    // An explicit maxconn above the global cap could never be reached: say so rather than
    // silently lowering it. Defaults are capped silently, they apply to every frontend.
    let cap = global.maxconn;
    let maxconn = match t.u32(cx, "maxconn", 1..=def::MAX_MAXCONN) {
        Some(n) if n > cap => {
            let span = t.get("maxconn").map_or(s.name_span.clone(), |v| v.span());
            cx.error_help(
                &span,
                format!("frontend maxconn {n} exceeds [global] maxconn {cap}"),
                "raise maxconn in [global] or lower this one",
            );
            cap
        }
        Some(n) => n,
        None => d.maxconn.unwrap_or(def::FRONTEND_MAXCONN).min(cap),
    };

    let (acls, routes) = routing::parse_routing(cx, t, &s.name, mode_ok.then_some(mode));
    let acl_names: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    let owner = rules::Owner {
        kind: "frontend",
        name: &s.name,
        mode: mode_ok.then_some(mode),
        acls: &acl_names,
    };
    let (request_rules, response_rules) = rules::parse_rules(cx, t, &owner);
    let errorfiles = rules::parse_errorfiles(cx, t, mode_ok.then_some(mode));
    let track = track::parse_track(cx, t, &s.name, mode_ok.then_some(mode));
    let connection_rules = track::parse_connection_rules(
        cx,
        t,
        (&s.name, mode_ok.then_some(mode)),
        &acls,
        track.as_ref(),
    );
    if t.get("track").is_none() {
        untracked_counters(cx, t, &s.name, &acls, (&request_rules, &response_rules));
    }
    for r in &routes {
        if track::guard_tracks(&r.route.guard, &acls) {
            let span = t.key_span("route").unwrap_or(s.name_span.clone());
            cx.error_help(
                &span,
                format!(
                    "a route of frontend \"{}\" tests a tracking counter (sc_*)",
                    s.name
                ),
                "routes pick backends; test counters in [[frontend.NAME.request_rule]]s \
                 (deny, return, tarpit)",
            );
        }
    }
    let stats = stats::frontend_stats(cx, t);
    if stats.is_some() && mode_ok && mode == Mode::Tcp {
        let span = t.key_span("stats").unwrap_or(s.name_span.clone());
        cx.error_help(
            &span,
            format!(
                "frontend \"{}\" is in tcp mode: a stats page needs http",
                s.name
            ),
            "serve stats from an http frontend or from a top-level [stats] listener",
        );
    }
    let frontend = Frontend {
        name: s.name,
        binds,
        mode,
        default_backend,
        maxconn,
        timeouts: parse_timeouts(cx, t, &TIMEOUT_FRONTEND, d.timeouts, Origin::Section),
        forwardfor: t
            .bool(cx, "forwardfor")
            .or(d.forwardfor)
            .unwrap_or(def::FORWARDFOR),
        connection: t
            .enum_of(cx, "connection", "connection mode", CONNECTIONS)
            .or(d.connection)
            .unwrap_or(def::CONNECTION),
        log: t.bool(cx, "log").or(d.log).unwrap_or(def::FRONTEND_LOG),
        dontlognull: t
            .bool(cx, "dontlognull")
            .or(d.dontlognull)
            .unwrap_or(def::DONTLOGNULL),
        upgrade: upgrade_protocols(cx, t),
        acls,
        routes: routes.iter().map(|r| r.route.clone()).collect(),
        accept_proxy,
        stats,
        tls,
        accept_proxy_from,
        defer_accept: t.bool(cx, "defer_accept").unwrap_or(mode == Mode::Http),
        request_rules,
        response_rules,
        errorfiles,
        track,
        connection_rules,
        h2: h2::frontend_h2(cx, t, mode),
    };
    FrontendDraft {
        frontend,
        mode: mode_ok.then_some(mode),
        bind_spans,
        backend_span,
        routes,
    }
}

/// Counters tested (`sc_*`) by a frontend without `[frontend.X.track]`: reported once, at the
/// rules or ACLs that test them.
fn untracked_counters(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    name: &str,
    acls: &[crate::route::Acl],
    rules: (&[crate::config::RuleDef], &[crate::config::RuleDef]),
) {
    let in_rules = |list: &[crate::config::RuleDef]| {
        list.iter()
            .any(|r| track::guard_tracks(&r.rule.guard, acls))
    };
    let at = if in_rules(rules.0) {
        t.key_span("request_rule")
    } else if in_rules(rules.1) {
        t.key_span("response_rule")
    } else if acls
        .iter()
        .any(|a| a.criteria.iter().any(crate::route::Criterion::tracks))
    {
        t.key_span("acl")
    } else {
        None
    };
    if let Some(span) = at {
        cx.error_help(
            &span,
            format!("frontend \"{name}\" tests tracking counters (sc_*) but tracks no client"),
            format!("add [frontend.{name}.track] (key = \"src\", size, expire)"),
        );
    }
}

/// `accept_proxy_from = ["10.0.0.0/8", …]`: the peers allowed to send a PROXY header.
fn proxy_sources(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    name: &str,
    accepts: bool,
) -> Vec<crate::route::Cidr> {
    let mut out = Vec::new();
    for (text, span) in t.strings(cx, "accept_proxy_from").unwrap_or_default() {
        match crate::route::Cidr::parse(text) {
            Some(c) => out.push(c),
            None => cx.error_help(
                &span,
                format!("invalid address block \"{text}\" in accept_proxy_from of frontend \"{name}\""),
                "expected an address or ADDRESS/BITS: \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"",
            ),
        }
    }
    if let (Some(span), false) = (t.key_span("accept_proxy_from"), accepts) {
        cx.error_help(
            &span,
            format!("frontend \"{name}\" sets accept_proxy_from but accepts no PROXY header"),
            "add accept_proxy = true (or remove accept_proxy_from)",
        );
    }
    out
}

/// `upgrade`: the protocol names a request may switch to (default: websocket). Names are
/// tokens; `h2c` is refused (ringlb never forwards it: the server would then speak HTTP/2 to
/// a client that asked ringlb, not it).
fn upgrade_protocols(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Vec<String> {
    let Some(list) = t.strings(cx, "upgrade") else {
        return def::UPGRADE.iter().map(|&p| p.to_owned()).collect();
    };
    let mut out = Vec::new();
    for (name, span) in list {
        let lower = name.to_ascii_lowercase();
        if lower == "h2c" {
            cx.error_help(
                &span,
                "ringlb never forwards an upgrade to h2c",
                "remove \"h2c\"; HTTP/2 to servers is not supported",
            );
        } else if lower.is_empty() || !lower.bytes().all(is_token_byte) {
            cx.error_help(
                &span,
                format!("invalid protocol name \"{name}\""),
                "write the protocol name of an Upgrade header, e.g. \"websocket\"",
            );
        } else if !out.contains(&lower) {
            out.push(lower);
        }
    }
    out
}

/// A byte of an HTTP token (RFC 9110 §5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A listening address: an IP literal and a port (ringlb binds before it could resolve names).
fn bind_address(cx: &mut Cx<'_>, text: &str, span: &Range<usize>) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let help = if !text.contains(':') {
        format!("add a port: \"{text}:80\"")
    } else if text.matches(':').count() > 1 && !text.starts_with('[') {
        "put IPv6 addresses in brackets: \"[::]:80\"".to_owned()
    } else {
        "expected IP:PORT with an IP literal, e.g. \"0.0.0.0:80\", \"127.0.0.1:8080\", \
         \"[::]:443\""
            .to_owned()
    };
    cx.error_help(span, format!("invalid bind address \"{text}\""), help);
    None
}

// ---- cross-references ------------------------------------------------------------------------

/// No address may be bound twice (the second bind would fail at startup with EADDRINUSE).
/// Port 0 asks the kernel for a free port, so it never collides.
fn check_binds(
    cx: &mut Cx<'_>,
    frontends: &[FrontendDraft],
    stats: Option<&(super::StatsListener, Option<Range<usize>>)>,
) {
    let mut binds: Vec<(SocketAddr, String, &Range<usize>)> = Vec::new();
    for f in frontends {
        let tls_binds = f.frontend.tls.iter().flat_map(|t| t.binds.iter());
        for (addr, span) in f.frontend.binds.iter().chain(tls_binds).zip(&f.bind_spans) {
            binds.push((*addr, format!("frontend \"{}\"", f.frontend.name), span));
        }
    }
    if let Some((listener, Some(span))) = stats {
        binds.push((listener.bind, "[stats]".to_owned(), span));
    }
    binds.sort_by_key(|(_, _, span)| span.start);
    let mut seen: HashMap<SocketAddr, (&str, usize)> = HashMap::new();
    for (addr, owner, span) in &binds {
        if addr.port() == 0 {
            continue;
        }
        match seen.get(addr) {
            Some((first_owner, first)) => {
                let line = cx.line_of(*first);
                cx.error_help(
                    span,
                    format!("bind address {addr} is already used by {first_owner}"),
                    format!("first bound at line {line}; each address may be bound once"),
                );
            }
            None => {
                seen.insert(*addr, (owner.as_str(), span.start));
            }
        }
    }
}

/// Every backend a frontend names (`default_backend`, each route's `backend`) exists and
/// speaks the frontend's mode.
fn check_backend_refs(cx: &mut Cx<'_>, frontends: &[FrontendDraft], backends: &[BackendDraft]) {
    let names: Vec<&str> = backends.iter().map(|b| b.backend.name.as_str()).collect();
    for f in frontends {
        let refs = f
            .backend_span
            .iter()
            .map(|span| (f.frontend.default_backend.as_str(), span))
            .chain(f.routes.iter().filter_map(|r| {
                r.backend_span
                    .as_ref()
                    .map(|span| (r.route.backend.as_str(), span))
            }));
        for (wanted, span) in refs {
            let Some(b) = backends.iter().find(|b| b.backend.name == wanted) else {
                let help = match suggest(wanted, names.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None if names.is_empty() => {
                        format!("no backend is defined; add [backend.{wanted}]")
                    }
                    None => format!("defined backends: {}", names.join(", ")),
                };
                cx.error_help(span, format!("unknown backend \"{wanted}\""), help);
                continue;
            };
            if let (Some(fm), Some(bm)) = (f.mode, b.mode) {
                if fm != bm {
                    cx.error_help(
                        span,
                        format!(
                            "frontend \"{}\" is in {} mode but backend \"{}\" is in {} mode",
                            f.frontend.name,
                            mode_name(fm),
                            wanted,
                            mode_name(bm)
                        ),
                        "a frontend and its backend must use the same mode",
                    );
                }
            }
        }
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    }
}

#[cfg(test)]
mod ops_tests;

#[cfg(test)]
mod structure_tests;

#[cfg(test)]
mod routing_tests;
