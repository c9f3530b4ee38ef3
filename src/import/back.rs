//! Backends: `[backend.X]`, its check, cookie and servers.
//!
//! HAProxy checks only servers with `check`; ringlb checks every server of a backend with a
//! `check` table unless the server says `check = false`, so that is written for the others.
//! Check intervals shared by all checked servers go in the table, the rest stay per server.

use super::emit::{self, dur, table, Baseline, Out};
use super::front::{placeholder_name, Plans};
use super::lex::{key, quote};
use super::model::{Global, Kind, Mode, Model, Proxy, ServerOpts, ServerSpec, Timeout};
use super::Skipped;

/// Where the placeholder server points: a port nothing listens on, so connections are refused
/// and ringlb answers 503, as HAProxy does for a backend without servers.
const NOWHERE: &str = "127.0.0.1:1";

pub(super) fn write(
    out: &mut Out,
    model: &Model,
    plans: &Plans<'_>,
    base: &Baseline,
    skipped: &mut Vec<Skipped>,
) {
    let mut seen = std::collections::HashSet::new();
    for p in model.proxies.iter().filter(|p| p.kind.has_back()) {
        if !seen.insert(p.name.as_str()) {
            continue;
        }
        let stats_listener = plans
            .stats_listener
            .as_ref()
            .is_some_and(|s| s.name == p.name && p.kind == super::model::Kind::Listen);
        if stats_listener {
            continue;
        }
        let usable = p.servers.iter().any(usable);
        if !usable && !plans.referenced.contains(&p.name) {
            if p.kind == super::model::Kind::Backend {
                out.header(&format!(
                    "# backend {} has no server ringlb can use and no frontend uses it: left out",
                    p.name.escape_debug()
                ));
            }
            continue;
        }
        backend(out, p, base, &model.global, skipped);
    }
    for m in &plans.placeholders {
        placeholder(out, *m, base);
    }
}

fn usable(s: &ServerSpec) -> bool {
    !s.opts.disabled && s.opts.weight != Some(0)
}

/// The value every checked server has, if they agree.
fn common<T: PartialEq + Copy>(
    servers: &[&ServerSpec],
    f: impl Fn(&ServerOpts) -> Option<T>,
) -> Option<T> {
    let first = f(&servers.first()?.opts)?;
    servers
        .iter()
        .all(|s| f(&s.opts) == Some(first))
        .then_some(first)
}

/// A check setting of a server: its key and how to read it.
type Field<T> = (&'static str, fn(&ServerOpts) -> Option<T>);

const INTERVALS: [Field<u64>; 3] = [
    ("inter", |o| o.inter),
    ("fastinter", |o| o.fastinter),
    ("downinter", |o| o.downinter),
];
const COUNTS: [Field<u32>; 2] = [("rise", |o| o.rise), ("fall", |o| o.fall)];

fn backend(out: &mut Out, p: &Proxy, base: &Baseline, global: &Global, skipped: &mut Vec<Skipped>) {
    let s = &p.s;
    let v = emit::back_vals(s);
    let name = out.proxy_header("backend", p);
    if v.mode != base.back.mode {
        out.mode(v.mode, s);
    }
    if emit::show(&v.balance, &base.back.balance) {
        out.kv("balance", quote(&v.balance.v), v.balance.note.as_deref());
    }
    super::hashing::write(out, &v.balance.v, s);
    if v.retries != base.back.retries {
        out.kv("retries", v.retries.to_string(), None);
    }
    if emit::show(&v.redispatch, &base.back.redispatch) {
        out.kv(
            "redispatch",
            v.redispatch.v.to_string(),
            v.redispatch.note.as_deref(),
        );
    }
    emit::timeouts(out, &v.timeouts, base, !base.written);

    let servers: Vec<&ServerSpec> = p.servers.iter().filter(|s| usable(s)).collect();
    let checked: Vec<&ServerSpec> = servers.iter().copied().filter(|s| s.opts.check).collect();
    if checked.is_empty() {
        if s.httpchk.is_some() && p.kind != super::model::Kind::Frontend {
            out.comment(
                "option httpchk but no server has `check`: nothing is checked, as in HAProxy",
            );
        }
    } else {
        out.header(&table("backend", &name, Some("check")));
        if let Some(chk) = &s.httpchk {
            if let Some(n) = &chk.note {
                out.comment(n);
            }
            out.kv("type", quote("http"), None);
            if chk.v.method != "GET" {
                out.kv("method", quote(&chk.v.method), None);
            }
            if chk.v.path != "/" {
                out.kv("path", quote(&chk.v.path), None);
            }
            if let Some(h) = &chk.v.host {
                out.kv("host", quote(h), None);
            }
            if let Some(e) = &s.expect {
                let codes: Vec<String> =
                    e.v.iter()
                        .map(|(lo, hi)| {
                            if lo == hi {
                                lo.to_string()
                            } else {
                                quote(&format!("{lo}-{hi}"))
                            }
                        })
                        .collect();
                out.kv(
                    "expect_status",
                    format!("[{}]", codes.join(", ")),
                    e.note.as_deref(),
                );
            }
        } else {
            if s.expect.is_some() {
                out.comment("http-check expect without option httpchk: a tcp check, as in HAProxy");
            }
            out.kv("type", quote("tcp"), None);
        }
        for (k, f) in INTERVALS {
            if let Some(t) = common(&checked, f) {
                out.kv(k, dur(t), None);
            }
        }
        for (k, f) in COUNTS {
            if let Some(n) = common(&checked, f) {
                out.kv(k, n.to_string(), None);
            }
        }
        if let Some(t) = s.timeout(Timeout::Check) {
            out.kv(
                "timeout",
                dur(t.v),
                Some("timeout check: ringlb applies it to the whole check, connect included"),
            );
        }
    }

    let cookie = s.cookie.as_ref().filter(|_| v.mode == Mode::Http);
    if let Some(c) = cookie {
        out.header(&table("backend", &name, Some("cookie")));
        if let Some(n) = &c.note {
            out.comment(n);
        }
        let c = &c.v;
        out.kv("name", quote(&c.name), None);
        if c.mode != "insert" {
            out.kv("mode", quote(c.mode), None);
        }
        for (k, on) in [
            ("indirect", c.indirect),
            ("nocache", c.nocache),
            ("httponly", c.httponly),
            ("secure", c.secure),
        ] {
            if on {
                out.kv(k, "true", None);
            }
        }
        if let Some(d) = &c.domain {
            out.kv("domain", quote(d), None);
        }
        if let Some(t) = c.maxidle {
            out.kv("maxidle", dur(t), None);
        }
        if let Some(t) = c.maxlife {
            out.kv("maxlife", dur(t), None);
        }
    } else if s.cookie.is_some() {
        out.comment("cookie dropped: persistence needs http mode (HAProxy ignores it in tcp)");
    }

    if p.kind == Kind::Backend {
        rules(out, p, &name, v.mode, skipped);
    }

    if servers.is_empty() {
        placeholder_server(out, &name);
    }
    for srv in &p.servers {
        if !usable(srv) {
            out.line("");
            let why = if srv.opts.disabled {
                "disabled"
            } else {
                "weight 0"
            };
            out.comment(&format!(
                "server {} {} left out ({why}): ringlb has no server that starts without traffic",
                srv.name, srv.address
            ));
            continue;
        }
        server(out, &name, srv, &checked, cookie.is_some());
        if srv.opts.ssl {
            server_tls(out, &srv.opts, global);
        }
    }
}

/// A backend's ACLs, rules and error pages (a `listen`'s are written with its frontend).
fn rules(out: &mut Out, p: &Proxy, name: &str, mode: Mode, skipped: &mut Vec<Skipped>) {
    let at = super::acl::Where {
        tcp: mode == Mode::Tcp,
        tls: false,
        track: 0,
    };
    let (acls, states) = super::front::acl_states(p, at, skipped);
    let section = format!("backend.{}", key(name));
    if !acls.is_empty() {
        out.header(&format!("[{section}.acl]"));
        for a in &acls {
            for n in &a.notes {
                out.comment(n);
            }
            let texts: Vec<String> = a.texts.iter().map(|t| quote(t)).collect();
            let value = if texts.len() == 1 {
                texts.join("")
            } else {
                format!("[{}]", texts.join(", "))
            };
            out.kv(&key(&a.name), value, None);
        }
    }
    let (translated, note) = super::rules::translate(&p.rules, &states, at, skipped);
    super::rules::write(out, &section, &translated, note.as_deref());
    if mode == Mode::Http {
        super::rules::write_errorfiles(out, &section, &p.s.errorfiles);
    }
}

fn server(out: &mut Out, backend: &str, srv: &ServerSpec, checked: &[&ServerSpec], cookie: bool) {
    out.header(&format!("[[backend.{}.server]]", key(backend)));
    for n in &srv.notes {
        out.comment(n);
    }
    let o = &srv.opts;
    out.kv("name", quote(&srv.name), None);
    out.kv("address", quote(&srv.address), None);
    if let Some(w) = o.weight.filter(|w| *w != 1) {
        out.kv("weight", w.to_string(), None);
    }
    if let Some(m) = o.maxconn.filter(|m| *m != 0) {
        out.kv("maxconn", m.to_string(), None);
    }
    if o.backup {
        out.kv("backup", "true", None);
    }
    if let Some(t) = o.slowstart.filter(|t| *t != 0) {
        out.kv("slowstart", dur(t), None);
    }
    if let Some(n) = o.maxqueue.filter(|n| *n != 0) {
        out.kv("maxqueue", n.to_string(), None);
    }
    if let Some(v) = o.send_proxy {
        out.kv("send_proxy", quote(v), None);
    }
    if o.check_send_proxy && !o.check {
        out.comment("check-send-proxy dropped: this server is not checked");
    }
    if cookie {
        match &o.cookie {
            Some(c) => out.kv("cookie", quote(c), None),
            None => out.comment(
                "no cookie value in HAProxy (never persisted to); ringlb uses the server's name",
            ),
        }
    }
    if checked.is_empty() {
        return;
    }
    if !o.check {
        out.kv(
            "check",
            "false",
            Some("no `check` on this server in HAProxy"),
        );
        return;
    }
    if o.check_send_proxy && o.send_proxy.is_none() {
        out.kv("check_send_proxy", "true", None);
    } else if o.send_proxy.is_some() && !o.check_send_proxy {
        out.comment(
            "checks carry the PROXY header too, as HAProxy's do for a send-proxy server \
             checked on its own address",
        );
    }
    for (k, f) in INTERVALS {
        if common(checked, f).is_none() {
            if let Some(t) = f(o) {
                out.kv(k, dur(t), None);
            }
        }
    }
    for (k, f) in COUNTS {
        if common(checked, f).is_none() {
            if let Some(n) = f(o) {
                out.kv(k, n.to_string(), None);
            }
        }
    }
}

/// `ssl verify … ca-file … sni str(…) crt …` → the server's `tls = { … }`.
fn server_tls(out: &mut Out, o: &ServerOpts, global: &Global) {
    let mut keys = Vec::new();
    let mut notes = Vec::new();
    let verify = o.verify.or(global.server_verify).unwrap_or(true);
    if !verify {
        keys.push("verify = \"none\"".to_owned());
    }
    match o.ca_file.as_deref() {
        Some("@system-ca") | None if verify => notes.push(
            "verified against the system CA roots (HAProxy: `ca-file @system-ca`; without a \
             ca-file it refuses verify required)",
        ),
        Some("@system-ca") | None => {}
        Some(f) => keys.push(format!("ca_file = {}", quote(f))),
    }
    match &o.sni {
        Some(Ok(name)) => keys.push(format!("sni = {}", quote(name))),
        Some(Err(_)) => notes.push("sni: HAProxy's expression cannot map; see the report"),
        None => {}
    }
    if let Some(c) = &o.crt {
        keys.push(format!(
            "cert = {}",
            quote(&super::tls::crt_path(c, global))
        ));
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    out.kv("tls", format!("{{ {} }}", keys.join(", ")), note.as_deref());
}

fn placeholder_server(out: &mut Out, backend: &str) {
    out.header(&format!("[[backend.{}.server]]", key(backend)));
    out.comment(
        "no server ringlb can use: this placeholder refuses connections, so ringlb answers 503 as \
         HAProxy does without servers",
    );
    out.kv("name", quote("no-server"), None);
    out.kv("address", quote(NOWHERE), None);
}

fn placeholder(out: &mut Out, m: Mode, base: &Baseline) {
    let name = placeholder_name(m);
    out.header(&table("backend", name, None));
    out.comment("stands for \"no backend\": HAProxy answers 503 when no use_backend matches");
    if m != base.back.mode {
        out.kv("mode", quote(m.name()), None);
    }
    out.kv("retries", "0", None);
    placeholder_server(out, name);
}
