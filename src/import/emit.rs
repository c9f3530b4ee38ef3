//! [`Model`] → ringlb TOML: `[global]`, `[log]`, `[stats]`, `[defaults]`, then the frontends
//! (`front`) and backends (`back`).
//!
//! Values are resolved with HAProxy's meaning (its defaults, its fallbacks between timeouts)
//! and written only where they differ from what ringlb would otherwise use: the `[defaults]`
//! written here when the file had a single leading `defaults` section, else ringlb's built-in
//! defaults. So a translated section says exactly what it needs, and nothing HAProxy and
//! ringlb already agree on.

use super::lex::{comment_text, format_time, key, quote};
use super::model::{Conn, Mode, Model, Noted, Proxy, Settings, StatsSpec, Timeout};
use super::{back, front, net, Skipped};

/// ringlb's built-in global maxconn (`config::defaults::GLOBAL_MAXCONN`).
const RINGLB_GLOBAL_MAXCONN: u32 = crate::config::defaults::GLOBAL_MAXCONN;

/// The TOML being written.
#[derive(Default)]
pub(super) struct Out {
    pub(super) buf: String,
}

impl Out {
    pub(super) fn line(&mut self, s: &str) {
        self.buf.push_str(s);
        self.buf.push('\n');
    }

    pub(super) fn comment(&mut self, s: &str) {
        self.line(&format!("# {}", comment_text(s)));
    }

    pub(super) fn header(&mut self, s: &str) {
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            self.buf.push('\n');
        }
        self.line(s);
    }

    /// `key = value`, preceded by the note as a comment.
    pub(super) fn kv(&mut self, k: &str, v: impl AsRef<str>, note: Option<&str>) {
        if let Some(n) = note {
            self.comment(n);
        }
        self.line(&format!("{k} = {}", v.as_ref()));
    }

    /// `mode = …`, noting HAProxy's default when section `s` named no mode.
    pub(super) fn mode(&mut self, mode: Mode, s: &Settings) {
        let note = s
            .mode
            .is_none()
            .then_some("no mode in HAProxy: tcp is its default");
        self.kv("mode", quote(mode.name()), note);
    }

    /// The `[kind.NAME]` header of `p`, with a comment when ringlb's name rules changed its
    /// name; returns the ringlb name.
    pub(super) fn proxy_header(&mut self, kind: &str, p: &Proxy) -> String {
        let name = net::name(&p.name);
        self.header(&table(kind, &name, None));
        if name != p.name {
            self.comment(&format!(
                "{} {} renamed (ringlb name rules)",
                p.kind.name(),
                p.name
            ));
        }
        name
    }
}

/// A TOML string holding a duration.
pub(super) fn dur(us: u64) -> String {
    quote(&format_time(us))
}

/// The frontend values of a section, with HAProxy's meaning.
#[derive(Debug, Clone)]
pub(super) struct FrontVals {
    pub(super) mode: Mode,
    pub(super) forwardfor: Noted<bool>,
    pub(super) connection: Noted<Conn>,
    pub(super) log: bool,
    pub(super) dontlognull: bool,
    pub(super) maxconn: Option<u32>,
    /// client, http_request, http_keep_alive.
    pub(super) timeouts: Vec<(Timeout, Option<Noted<u64>>)>,
}

/// The backend values of a section, with HAProxy's meaning.
#[derive(Debug, Clone)]
pub(super) struct BackVals {
    pub(super) mode: Mode,
    pub(super) balance: Noted<String>,
    pub(super) retries: u32,
    pub(super) redispatch: Noted<bool>,
    /// connect, server, queue.
    pub(super) timeouts: Vec<(Timeout, Option<Noted<u64>>)>,
}

/// HAProxy's mode when none is written is tcp.
pub(super) fn mode(s: &Settings) -> Mode {
    s.mode.unwrap_or(Mode::Tcp)
}

/// Timeout `t` as set, else HAProxy's `fallback` for it with `note` saying so.
fn timeout_or(
    s: &Settings,
    t: Timeout,
    fallback: Option<&Noted<u64>>,
    note: &str,
) -> Option<Noted<u64>> {
    s.timeout(t)
        .cloned()
        .or_else(|| fallback.map(|f| Noted::with_note(f.v, note)))
}

pub(super) fn front_vals(s: &Settings) -> FrontVals {
    let client = s.timeout(Timeout::Client).cloned();
    let request = timeout_or(
        s,
        Timeout::HttpRequest,
        client.as_ref(),
        "http_request: HAProxy uses timeout client when timeout http-request is unset",
    );
    let keep_alive = timeout_or(
        s,
        Timeout::HttpKeepAlive,
        request.as_ref(),
        "http_keep_alive: HAProxy uses timeout http-request (else client) when timeout \
         http-keep-alive is unset",
    );
    let mut timeouts = vec![(Timeout::Client, client)];
    if mode(s) == Mode::Http {
        timeouts.push((Timeout::HttpRequest, request));
        timeouts.push((Timeout::HttpKeepAlive, keep_alive));
    }
    FrontVals {
        mode: mode(s),
        forwardfor: s.forwardfor.clone().unwrap_or(Noted::plain(false)),
        connection: s
            .connection
            .clone()
            .unwrap_or(Noted::plain(Conn::KeepAlive)),
        log: s.log.unwrap_or(false),
        dontlognull: s.dontlognull.unwrap_or(false),
        maxconn: s.maxconn,
        timeouts,
    }
}

pub(super) fn back_vals(s: &Settings) -> BackVals {
    let connect = s.timeout(Timeout::Connect).cloned();
    let queue = timeout_or(
        s,
        Timeout::Queue,
        connect.as_ref(),
        "queue: HAProxy uses timeout connect when timeout queue is unset",
    );
    // A WebSocket tunnel without `timeout tunnel` idles out at HAProxy's client and server
    // timeouts; ringlb's built-in 1h would keep it much longer.
    let tunnel = match s.timeout(Timeout::Server) {
        Some(server) if mode(s) == Mode::Http => timeout_or(
            s,
            Timeout::Tunnel,
            Some(server),
            "tunnel: HAProxy closes an idle WebSocket tunnel at timeout client/server when \
             timeout tunnel is unset",
        ),
        _ => s.timeout(Timeout::Tunnel).cloned(),
    };
    BackVals {
        mode: mode(s),
        balance: s
            .balance
            .clone()
            .unwrap_or(Noted::plain("roundrobin".to_owned())),
        retries: s.retries.unwrap_or(3),
        redispatch: s.redispatch.clone().unwrap_or(Noted::plain(false)),
        timeouts: vec![
            (Timeout::Connect, connect),
            (Timeout::Server, s.timeout(Timeout::Server).cloned()),
            (Timeout::Queue, queue),
            (Timeout::Tunnel, tunnel),
        ],
    }
}

/// Whether a value must be written: it differs from the inherited one, or it carries a note
/// the inherited one does not (the comment must appear where the meaning changed).
pub(super) fn show<T: PartialEq>(v: &Noted<T>, base: &Noted<T>) -> bool {
    v.v != base.v || (v.note.is_some() && v.note != base.note)
}

/// What a section inherits from: the emitted `[defaults]`, or ringlb's built-ins.
pub(super) struct Baseline {
    pub(super) front: FrontVals,
    pub(super) back: BackVals,
    /// `[defaults]` was written (its comments on unset timeouts cover every section).
    pub(super) written: bool,
}

impl Baseline {
    fn builtin() -> Baseline {
        Baseline {
            front: FrontVals {
                mode: Mode::Http,
                forwardfor: Noted::plain(true),
                connection: Noted::plain(Conn::KeepAlive),
                log: false,
                dontlognull: false,
                maxconn: None,
                timeouts: Vec::new(),
            },
            back: BackVals {
                mode: Mode::Http,
                balance: Noted::plain("roundrobin".to_owned()),
                retries: 3,
                redispatch: Noted::plain(false),
                timeouts: Vec::new(),
            },
            written: false,
        }
    }

    /// The inherited value of a timeout (`None`: ringlb's built-in default).
    pub(super) fn timeout(&self, t: Timeout) -> Option<u64> {
        self.front
            .timeouts
            .iter()
            .chain(&self.back.timeouts)
            .find(|(k, _)| *k == t)
            .and_then(|(_, v)| v.as_ref().map(|n| n.v))
    }
}

/// The default a timeout gets in ringlb when nothing sets it, for the comment saying so.
fn builtin_timeout(t: Timeout) -> &'static str {
    match t {
        Timeout::Connect => "5s",
        Timeout::Client | Timeout::Server => "30s",
        Timeout::HttpRequest => "10s",
        Timeout::HttpKeepAlive => "15s",
        Timeout::Queue => "5s",
        Timeout::Check => "min(inter, timeout.connect)",
        Timeout::Tunnel => "1h",
    }
}

/// Writes `timeout = { … }` with the values that differ from `base`, and comments for the
/// HAProxy timeouts that were not set (HAProxy then waits forever).
pub(super) fn timeouts(
    out: &mut Out,
    vals: &[(Timeout, Option<Noted<u64>>)],
    base: &Baseline,
    warn_unset: bool,
) {
    let mut parts = Vec::new();
    for (t, v) in vals {
        match v {
            Some(n) if Some(n.v) != base.timeout(*t) => {
                if let Some(note) = &n.note {
                    out.comment(note);
                }
                parts.push(format!("{} = {}", t.key(), dur(n.v)));
            }
            None if warn_unset
                && matches!(t, Timeout::Client | Timeout::Server | Timeout::Connect) =>
            {
                out.comment(&format!(
                    "timeout {} is not set in HAProxy (no limit); ringlb's default {} applies",
                    t.key(),
                    builtin_timeout(*t)
                ));
            }
            _ => {}
        }
    }
    if !parts.is_empty() {
        out.line(&format!("timeout = {{ {} }}", parts.join(", ")));
    }
}

/// Writes a stats page table body (`[stats]` or `[frontend.X.stats]`).
pub(super) fn stats_page(
    out: &mut Out,
    st: &StatsSpec,
    uri_default: &str,
    skipped_admin: &mut bool,
) {
    let uri = st.uri.as_deref().unwrap_or("/haproxy?stats");
    if uri != uri_default {
        out.kv("uri", quote(uri), None);
    }
    if let Some(r) = &st.realm {
        out.kv("realm", quote(r), None);
    }
    if let Some(r) = st.refresh {
        out.kv("refresh", dur(r), None);
    }
    if !st.users.is_empty() {
        let users: Vec<String> = st.users.iter().map(|u| quote(u)).collect();
        out.kv("users", format!("[{}]", users.join(", ")), None);
    }
    if let Some(a) = &st.admin {
        if st.users.is_empty() {
            out.comment(
                "stats admin dropped: ringlb allows admin actions only with stats auth users",
            );
            *skipped_admin = true;
        } else {
            out.kv("admin", "true", a.note.as_deref());
        }
    }
}

/// The whole TOML. Problems found while emitting (untranslatable ACLs, routes…) are added to
/// `skipped`.
pub(super) fn emit(model: &Model, file: &str, skipped: &mut Vec<Skipped>) -> String {
    let mut out = Out::default();
    let plans = front::plan(model, skipped);
    let base = match &model.single_defaults {
        Some(d) => {
            let mut front = front_vals(d);
            if !writes_forwardfor(d) {
                front.forwardfor = Baseline::builtin().front.forwardfor;
            }
            Baseline {
                front,
                back: back_vals(d),
                written: true,
            }
        }
        None => Baseline::builtin(),
    };

    out.comment(&format!(
        "ringlb configuration translated from {file} by `ringlb import-haproxy`."
    ));
    out.comment("Comments mark every place where the meaning differs from HAProxy's.");

    global(&mut out, model, &plans);
    if let Some(log) = &model.global.log {
        out.header("[log]");
        if let Some(n) = &log.note {
            out.comment(n);
        }
        if log.v.target != "stdout" {
            out.kv("target", quote(&log.v.target), None);
        }
        out.kv("facility", quote(&log.v.facility), None);
        if let Some(l) = &log.v.level {
            out.kv("level", quote(l), None);
        }
    }
    if let Some(listener) = &plans.stats_listener {
        out.header("[stats]");
        out.comment(&format!(
            "from listen {}: a listener of its own; ringlb also serves /metrics on it",
            listener.name
        ));
        out.kv("bind", quote(&listener.bind), None);
        let mut admin_dropped = false;
        stats_page(&mut out, &listener.stats, "/", &mut admin_dropped);
        if admin_dropped {
            skipped.push(Skipped {
                line: listener.line,
                text: "stats admin".into(),
                why: "ringlb allows admin actions only with stats auth users".into(),
            });
        }
    }
    if let Some(d) = &model.single_defaults {
        defaults(&mut out, d, &base);
    }
    front::write(&mut out, model, &plans, &base, skipped);
    back::write(&mut out, model, &plans, &base, skipped);
    out.buf
}

fn global(out: &mut Out, model: &Model, plans: &front::Plans<'_>) {
    let g = &model.global;
    let mut body = Out::default();
    for n in &g.notes {
        body.comment(n);
    }
    let biggest = plans.max_frontend_maxconn(model);
    match g.maxconn {
        Some(m) => body.kv("maxconn", m.to_string(), None),
        None if biggest > RINGLB_GLOBAL_MAXCONN => body.kv(
            "maxconn",
            biggest.to_string(),
            Some(
                "no global maxconn in HAProxy (it follows the open-files limit); raised to \
                  the largest frontend maxconn, which ringlb requires",
            ),
        ),
        None => {}
    }
    if let Some(w) = &g.workers {
        body.kv("workers", w.v.to_string(), w.note.as_deref());
    }
    if let Some(s) = g.spread_checks {
        body.kv("spread_checks", s.to_string(), None);
    }
    if let Some(u) = &g.user {
        body.kv("user", quote(u), None);
    }
    if let Some(gr) = &g.group {
        body.kv("group", quote(gr), None);
    }
    if let Some(a) = &g.admin_socket {
        body.kv("admin_socket", quote(&a.v), a.note.as_deref());
    }
    if let Some(gr) = &g.grace {
        body.kv("grace", dur(gr.v), gr.note.as_deref());
    }
    if !body.buf.is_empty() {
        out.header("[global]");
        out.buf.push_str(&body.buf);
    }
}

fn defaults(out: &mut Out, d: &Settings, base: &Baseline) {
    let builtin = Baseline::builtin();
    let f = &base.front;
    let b = &base.back;
    out.header("[defaults]");
    if f.mode != builtin.front.mode {
        out.mode(f.mode, d);
    }
    if show(&b.balance, &builtin.back.balance) {
        out.kv("balance", quote(&b.balance.v), b.balance.note.as_deref());
    }
    if b.retries != builtin.back.retries {
        out.kv("retries", b.retries.to_string(), None);
    }
    if show(&b.redispatch, &builtin.back.redispatch) {
        out.kv(
            "redispatch",
            b.redispatch.v.to_string(),
            b.redispatch.note.as_deref(),
        );
    }
    if let Some(m) = f.maxconn {
        out.kv("maxconn", m.to_string(), None);
    }
    if writes_forwardfor(d) && f.forwardfor.v != builtin.front.forwardfor.v {
        let note = d
            .forwardfor
            .is_none()
            .then_some("no option forwardfor in HAProxy: no X-Forwarded-For");
        out.kv("forwardfor", f.forwardfor.v.to_string(), note);
    }
    if show(&f.connection, &builtin.front.connection) {
        out.kv(
            "connection",
            quote(f.connection.v.name()),
            f.connection.note.as_deref(),
        );
    }
    if f.log {
        out.kv("log", "true", log_note(d, f.mode).as_deref());
    }
    if f.dontlognull {
        out.kv("dontlognull", "true", None);
    }
    let mut all = f.timeouts.clone();
    all.extend(b.timeouts.iter().cloned());
    timeouts(out, &all, &builtin, true);
}

/// `[defaults] forwardfor` is written for http defaults (ringlb's default differs from
/// HAProxy's) or when HAProxy's defaults say something; a tcp-only file does not need it.
fn writes_forwardfor(d: &Settings) -> bool {
    mode(d) == Mode::Http || d.forwardfor.is_some()
}

/// A note on the access log format when HAProxy's differs from the one ringlb writes.
pub(super) fn log_note(s: &Settings, m: Mode) -> Option<String> {
    match (s.log_format, m) {
        (Some(true), Mode::Http) | (Some(false), Mode::Tcp) => None,
        (None, Mode::Http) => Some("log: ringlb writes httplog-format lines in http mode".into()),
        (None, Mode::Tcp) => Some("log: ringlb writes tcplog-format lines in tcp mode".into()),
        (Some(true), Mode::Tcp) => Some("option httplog in tcp mode → tcplog format".into()),
        (Some(false), Mode::Http) => Some("option tcplog in http mode → httplog format".into()),
    }
}

/// `[frontend.NAME]` / `[backend.NAME]` headers.
pub(super) fn table(kind: &str, name: &str, sub: Option<&str>) -> String {
    match sub {
        Some(s) => format!("[{kind}.{}.{s}]", key(name)),
        None => format!("[{kind}.{}]", key(name)),
    }
}
