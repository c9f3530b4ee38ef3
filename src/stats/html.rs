//! The HTML stats page: one self-contained document (inline CSS, no script) an operator reads
//! at a glance.
//!
//! Layout: a header (version, pid, uptime, links to the machine-readable formats), summary
//! cards (connections, backends and servers up, reloads, log drops), then one table per
//! frontend and one per backend. Backend tables list their servers and end with a "Backend"
//! total row; columns are grouped as on HAProxy's page (Queue, Session rate, Sessions, Bytes,
//! Errors, Warnings, Server). Rows are tinted by state, and the status cell says how long the
//! state has lasted. Every string from the model is HTML-escaped; nothing from the request is
//! echoed except the configured stats URI (escaped too).

use std::fmt::Write;

use super::human;
use super::model::{
    BackendStats, CheckInfo, FrontendStats, Mode, Responses, ServerStats, ServerStatus,
    StatsSnapshot, TlsStats,
};

/// How to render the page; set by the frontend that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlOptions {
    /// The stats URI as configured (`/stats`), for the `;csv`/`;json`/`;admin` links.
    pub uri: String,
    /// Auto-refresh period; `None` (or a `;norefresh` request) = a static page.
    pub refresh_s: Option<u64>,
    /// Show the per-server state buttons (`POST {uri};admin`).
    pub admin: bool,
    /// The authentication realm, shown in the header so the operator knows which page this is.
    pub realm: String,
}

/// The whole page.
pub fn render_html(s: &StatsSnapshot, opts: &HtmlOptions) -> String {
    let mut out = String::with_capacity(16_384 + 4096 * (s.frontends.len() + s.backends.len()));
    head(&mut out, s, opts);
    header(&mut out, s, opts);
    cards(&mut out, s);
    out.push_str("<main>\n");
    if !s.frontends.is_empty() {
        out.push_str("<h2>Frontends</h2>\n");
        for fe in &s.frontends {
            frontend(&mut out, fe);
        }
    }
    if !s.backends.is_empty() {
        out.push_str("<h2>Backends</h2>\n");
        for be in &s.backends {
            backend(&mut out, be, opts);
        }
    }
    legend(&mut out);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Escapes text for element content and quoted attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = include_str!("html.css");

fn head(out: &mut String, s: &StatsSnapshot, opts: &HtmlOptions) {
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n",
    );
    if let Some(r) = opts.refresh_s.filter(|&r| r > 0) {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{r}\">");
    }
    let _ = writeln!(
        out,
        "<title>ringlb stats · pid {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>",
        s.pid
    );
}

fn header(out: &mut String, s: &StatsSnapshot, opts: &HtmlOptions) {
    let uri = escape(&opts.uri);
    let _ = write!(
        out,
        "<header class=\"top\">\n<div class=\"brand\"><span class=\"logo\">ringlb</span>\
         <span class=\"ver\">{ver}</span>",
        ver = escape(&s.version),
    );
    if !opts.realm.is_empty() {
        let _ = write!(out, "<span class=\"realm\">{}</span>", escape(&opts.realm));
    }
    let _ = write!(
        out,
        "</div>\n<div class=\"facts\"><span>pid <b>{pid}</b></span><span>up <b>{up}</b></span>\
         <span><b>{workers}</b> workers</span><span>config gen <b>{generation}</b></span>\
         <span>updated <b>{now}</b></span></div>\n<nav>",
        pid = s.pid,
        up = human::duration(s.uptime_s),
        workers = s.process.workers,
        generation = s.process.config_generation,
        now = human::utc(s.now_unix_s),
    );
    let _ = write!(
        out,
        "<a href=\"{uri};csv\">CSV</a><a href=\"{uri};json\">JSON</a>\
         <a href=\"{uri};metrics\" title=\"Prometheus text format; also /metrics on the stats \
         listener\">Prometheus</a>"
    );
    match opts.refresh_s.filter(|&r| r > 0) {
        Some(r) => {
            let _ = write!(
                out,
                "<a class=\"refresh\" href=\"{uri};norefresh\" title=\"Stop auto-refresh\">\
                 refresh {r}s ■</a>"
            );
        }
        None => {
            let _ = write!(out, "<a class=\"refresh\" href=\"{uri}\">reload</a>");
        }
    }
    out.push_str("</nav>\n</header>\n");
}

fn cards(out: &mut String, s: &StatsSnapshot) {
    let p = &s.process;
    out.push_str("<section class=\"cards\">\n");

    // Connections, with a fill bar: the one number that says "are we near the limit".
    let pct = p
        .conns
        .saturating_mul(100)
        .checked_div(p.maxconn)
        .unwrap_or(0)
        .min(100);
    let level = match pct {
        90.. => "bad",
        70..=89 => "warn",
        _ => "ok",
    };
    let _ = writeln!(
        out,
        "<div class=\"card\"><div class=\"k\">Connections</div><div class=\"v\">{cur}\
         <small> / {max}</small></div><div class=\"bar {level}\"><i style=\"width:{pct}%\"></i>\
         </div></div>",
        cur = human::count(p.conns),
        max = human::count(p.maxconn),
    );

    let be_up = s.backends.iter().filter(|b| b.up).count();
    let be_down = s.backends.len() - be_up;
    tally_card(
        out,
        &Tally {
            title: "Backends up",
            value: be_up.to_string(),
            unit: format!(" / {}", s.backends.len()),
            bad: (be_down > 0).then(|| format!("{be_down} DOWN")),
            calm: "all serving",
            alarm: ALERT,
        },
    );

    let servers: Vec<&ServerStats> = s.backends.iter().flat_map(|b| &b.servers).collect();
    let count = |f: fn(ServerStatus) -> bool| servers.iter().filter(|sv| f(sv.status)).count();
    let sv_up = count(ServerStatus::takes_traffic);
    let mut sub = Vec::new();
    for (n, label, cls) in [
        (count(|st| st == ServerStatus::Down), "down", "t-bad"),
        (
            count(|st| matches!(st, ServerStatus::GoingDown { .. })),
            "failing",
            "t-warn",
        ),
        (
            count(|st| matches!(st, ServerStatus::GoingUp { .. })),
            "recovering",
            "t-warn",
        ),
        (count(|st| st == ServerStatus::Drain), "drain", "t-drain"),
        (count(|st| st == ServerStatus::Maint), "maint", "t-maint"),
    ] {
        if n > 0 {
            sub.push(format!("<b class=\"{cls}\">{n} {label}</b>"));
        }
    }
    let sub = if sub.is_empty() {
        "all healthy".to_string()
    } else {
        sub.join(" · ")
    };
    let _ = writeln!(
        out,
        "<div class=\"card\"><div class=\"k\">Servers taking traffic</div>\
         <div class=\"v\">{sv_up}<small> / {n}</small></div><div class=\"sub\">{sub}</div></div>",
        n = servers.len(),
    );

    tally_card(
        out,
        &Tally {
            title: "Reloads",
            value: human::count(p.reloads_ok),
            unit: " ok".to_string(),
            bad: (p.reloads_failed > 0)
                .then(|| format!("{} failed", human::count(p.reloads_failed))),
            calm: "none failed",
            alarm: WARN,
        },
    );
    tally_card(
        out,
        &Tally {
            title: "Access log",
            value: human::count(p.log_lines),
            unit: " lines".to_string(),
            bad: (p.log_dropped > 0).then(|| format!("{} dropped", human::count(p.log_dropped))),
            calm: "none dropped",
            alarm: ALERT,
        },
    );
    out.push_str("</section>\n");
}

/// Card and text classes of a [`Tally`] card while something is wrong.
const WARN: (&str, &str) = ("warn", "t-warn");
const ALERT: (&str, &str) = ("alert", "t-bad");

/// A card with a headline number and a sub line that either names what went wrong, in the
/// card's alarm colours, or says that nothing did.
struct Tally<'a> {
    title: &'a str,
    value: String,
    /// After the value, in small type.
    unit: String,
    /// What went wrong (`"2 failed"`), `None` when nothing did.
    bad: Option<String>,
    /// The sub line when nothing went wrong.
    calm: &'a str,
    alarm: (&'a str, &'a str),
}

fn tally_card(out: &mut String, t: &Tally<'_>) {
    let (cls, sub) = match &t.bad {
        Some(bad) => (t.alarm.0, format!("<b class=\"{}\">{bad}</b>", t.alarm.1)),
        None => ("", t.calm.to_string()),
    };
    let _ = writeln!(
        out,
        "<div class=\"card {cls}\"><div class=\"k\">{title}</div><div class=\"v\">{value}\
         <small>{unit}</small></div><div class=\"sub\">{sub}</div></div>",
        title = t.title,
        value = t.value,
        unit = t.unit,
    );
}

/// A right-aligned number cell; zeros are dimmed so the eye lands on what is non-zero.
fn num(out: &mut String, n: u64) {
    count_cell(out, n, DIMMED_ZERO, "");
}

/// Like [`num`] but red when non-zero: errors and warnings.
fn err(out: &mut String, n: u64) {
    count_cell(out, n, DIMMED_ZERO, " class=\"e\"");
}

fn bytes(out: &mut String, n: u64) {
    let _ = write!(
        out,
        "<td title=\"{} bytes\">{}</td>",
        human::count(n),
        human::bytes(n)
    );
}

/// Optional value: empty cell when absent (a limit of 0 means "none").
fn opt(out: &mut String, n: u64) {
    count_cell(out, n, "<td></td>", "");
}

/// A [`num`] cell that only an HTTP proxy fills; empty for tcp.
fn http_num(out: &mut String, http: bool, n: u64) {
    if http {
        num(out, n);
    } else {
        out.push_str("<td></td>");
    }
}

const DIMMED_ZERO: &str = "<td class=\"z\">0</td>";

/// `zero` when `n` is 0, else `n` in a cell with `attrs`.
fn count_cell(out: &mut String, n: u64, zero: &str, attrs: &str) {
    if n == 0 {
        out.push_str(zero);
    } else {
        let _ = write!(out, "<td{attrs}>{}</td>", human::count(n));
    }
}

/// The sessions "total" cell, with the HTTP response breakdown as a tooltip as on HAProxy's
/// page.
fn total_with_responses(out: &mut String, total: u64, mode: Mode, r: &Responses) {
    if mode != Mode::Http {
        num(out, total);
        return;
    }
    let mut tip = String::new();
    for (class, n) in r.classes() {
        let _ = write!(tip, "{class}: {}&#10;", human::count(n));
    }
    let _ = write!(
        out,
        "<td class=\"tip\" title=\"HTTP responses&#10;{tip}\">{}</td>",
        human::count(total)
    );
}

fn proxy_title(out: &mut String, kind: &str, name: &str, mode: Mode, extra: &str) {
    let _ = write!(
        out,
        "<section class=\"proxy\" id=\"{kind}-{id}\">\n<h3><span class=\"name\">{name}</span>\
         <span class=\"tag\">{mode}</span>{extra}</h3>\n<div class=\"scroll\"><table>\n",
        id = escape(name),
        name = escape(name),
        mode = mode.as_str(),
    );
}

fn frontend(out: &mut String, fe: &FrontendStats) {
    proxy_title(out, "fe", &fe.name, fe.mode, "");
    let http = fe.mode == Mode::Http;
    out.push_str(
        "<thead><tr class=\"g\"><th rowspan=\"2\" class=\"l\"></th><th colspan=\"2\">Rate /s</th>\
         <th colspan=\"4\">Sessions</th><th>Requests</th><th colspan=\"2\">Bytes</th>\
         <th>Errors</th><th colspan=\"5\">HTTP responses</th><th rowspan=\"2\">Status</th></tr>\n\
         <tr><th>sess</th><th>req</th><th>cur</th><th>max</th><th>limit</th><th>total</th>\
         <th>total</th><th>in</th><th>out</th><th>req</th>\
         <th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th>other</th></tr></thead>\n<tbody>\n",
    );
    out.push_str("<tr class=\"s-OPEN\"><td class=\"l\"><b>Frontend</b></td>");
    num(out, fe.conn_rate);
    http_num(out, http, fe.req_rate);
    num(out, fe.cur_conns);
    num(out, fe.max_conns);
    opt(out, fe.limit);
    num(out, fe.total_conns);
    http_num(out, http, fe.requests);
    bytes(out, fe.bytes_in);
    bytes(out, fe.bytes_out);
    err(out, fe.req_errors);
    if http {
        let r = &fe.responses;
        num(out, r.r2xx);
        num(out, r.r3xx);
        num(out, r.r4xx);
        err(out, r.r5xx);
        num(out, r.other + r.r1xx);
    } else {
        out.push_str("<td colspan=\"5\" class=\"na\">tcp</td>");
    }
    out.push_str("<td class=\"st\"><span class=\"pill p-OPEN\">OPEN</span></td></tr>\n");
    out.push_str("</tbody></table></div>\n");
    if let Some(t) = &fe.tls {
        tls(out, t);
    }
    if let Some(p) = &fe.proxy_protocol {
        let _ = writeln!(
            out,
            "<p class=\"tls\">PROXY protocol: {} headers failed, {} peers refused</p>",
            p.failed, p.refused
        );
    }
    if let Some(t) = &fe.track {
        let _ = writeln!(
            out,
            "<p class=\"tls\">Tracking ({}): {} of {} entries, {} KiB, {} evicted, {} untracked (full), {} denied</p>",
            escape(&t.key),
            t.entries,
            t.size,
            t.bytes / 1024,
            t.evictions,
            t.full,
            t.denials
        );
    }
    out.push_str("</section>\n");
}

/// A TLS frontend's handshakes and certificates, under its table.
fn tls(out: &mut String, t: &TlsStats) {
    let _ = write!(
        out,
        "<p class=\"tls\">TLS: {} handshakes ({} resumed), {} failed; records in the kernel \
         (kTLS) {}, in user space {}, kTLS set-up failed {}</p>\n<ul class=\"certs\">\n",
        t.handshakes, t.resumed, t.failed, t.ktls, t.userspace, t.ktls_failed
    );
    for c in &t.certificates {
        let days = c.expires_in_s / 86_400;
        let class = if days < 30 { " class=\"warn\"" } else { "" };
        let _ = writeln!(
            out,
            "<li{class}>{} — {} — {} — expires in {days} days</li>",
            escape(&c.names.join(", ")),
            escape(&c.key),
            escape(&c.path),
        );
    }
    out.push_str("</ul>\n");
    if let Some(a) = &t.acme {
        acme(out, a);
    }
}

/// A frontend's ACME certificate: placeholder or issued, renewal, the last failure.
fn acme(out: &mut String, a: &crate::stats::AcmeStats) {
    let served = if a.placeholder {
        "<span class=\"warn\">self-signed placeholder: no certificate issued yet</span>".to_owned()
    } else {
        let left = a.expires_in_s.unwrap_or(0);
        format!("issued, expires in {}", human_secs(left))
    };
    let _ = write!(
        out,
        "<p class=\"tls\">ACME ({}) for {}: {served}",
        escape(&a.challenge),
        escape(&a.names.join(", ")),
    );
    if a.running {
        out.push_str("; ordering now");
    } else if let Some(r) = a.renew_in_s.filter(|_| !a.placeholder) {
        let _ = write!(out, "; renewal in {}", human_secs(r));
    }
    let _ = writeln!(
        out,
        "; {} issued, {} failed</p>",
        a.issued_total, a.failed_total
    );
    if let Some(e) = &a.last_error {
        let next = a
            .next_attempt_in_s
            .map(|s| format!("; next attempt in {}", human_secs(s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<p class=\"tls warn\">ACME failed {} time(s) in a row: {}{next}</p>",
            a.failures,
            escape(e),
        );
    }
}

/// "3 d 4 h", "5 min", "12 s".
fn human_secs(s: u64) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn backend(out: &mut String, be: &BackendStats, opts: &HtmlOptions) {
    let extra = format!(
        "<span class=\"algo\">{algo}</span><span class=\"pill p-{st}\">{st}</span>\
         <span class=\"count\">{up} of {n} servers taking traffic</span>",
        algo = escape(&be.balance),
        st = be.status_text(),
        up = be.active_up() + be.backup_up(),
        n = be.servers.len(),
    );
    proxy_title(out, "be", &be.name, be.mode, &extra);
    let admin_th = if opts.admin {
        "<th rowspan=\"2\" class=\"act\">Set state</th>"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<thead><tr class=\"g\"><th rowspan=\"2\" class=\"l\">Server</th>\
         <th colspan=\"2\">Queue</th><th>Rate</th><th colspan=\"4\">Sessions</th>\
         <th colspan=\"2\">Bytes</th><th colspan=\"2\">Errors</th><th colspan=\"2\">Warnings</th>\
         <th colspan=\"8\">Server</th>{admin_th}</tr>\n\
         <tr><th>cur</th><th>max</th><th>/s</th><th>cur</th><th>max</th><th>limit</th>\
         <th>total</th><th>in</th><th>out</th><th>conn</th><th>resp</th><th>retr</th>\
         <th>redis</th><th class=\"st\">Status</th><th class=\"l\">Last check</th>\
         <th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th></tr>\
         </thead>\n<tbody>\n"
    );
    for sv in &be.servers {
        server_row(out, be, sv, opts);
    }
    backend_row(out, be, opts);
    out.push_str("</tbody></table></div></section>\n");
}

fn server_row(out: &mut String, be: &BackendStats, sv: &ServerStats, opts: &HtmlOptions) {
    let backup = if sv.backup { " backup" } else { "" };
    let _ = write!(
        out,
        "<tr class=\"s-{label}{backup}\"><td class=\"l\"><span class=\"sv\">{name}</span>{tag}\
         <span class=\"addr\">{addr}</span></td>",
        label = sv.status.label(),
        name = escape(&sv.name),
        tag = if sv.backup {
            "<span class=\"tag\">backup</span>"
        } else {
            ""
        },
        addr = escape(&sv.addr),
    );
    num(out, sv.queue_cur);
    num(out, sv.queue_max);
    num(out, sv.rate);
    num(out, sv.cur);
    num(out, sv.max);
    opt(out, sv.limit);
    total_with_responses(out, sv.total, be.mode, &sv.responses);
    bytes(out, sv.bytes_in);
    bytes(out, sv.bytes_out);
    err(out, sv.conn_errors);
    err(out, sv.resp_errors);
    err(out, sv.retries);
    err(out, sv.redispatches);
    let _ = write!(out, "<td class=\"st\">{}</td>", status_cell(sv));
    match &sv.check {
        Some(c) => {
            let _ = write!(
                out,
                "<td class=\"l chk\" title=\"{}\">{}</td>",
                escape(&c.last_result),
                last_check(c)
            );
        }
        None => out.push_str("<td class=\"l na\">none</td>"),
    }
    num(out, u64::from(sv.weight));
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td>",
        if sv.backup { "" } else { "Y" },
        if sv.backup { "Y" } else { "" }
    );
    match &sv.check {
        Some(c) => {
            err(out, c.checks_failed);
            err(out, c.downs);
            let _ = write!(out, "<td>{}</td>", downtime(sv.downtime_s));
        }
        None => out.push_str("<td></td><td></td><td></td>"),
    }
    if opts.admin {
        admin_cell(out, &be.name, sv, &opts.uri);
    }
    out.push_str("</tr>\n");
}

fn backend_row(out: &mut String, be: &BackendStats, opts: &HtmlOptions) {
    let _ = write!(
        out,
        "<tr class=\"total s-{st}\"><td class=\"l\"><b>Backend</b></td>",
        st = be.status_text()
    );
    num(out, be.queue_cur);
    num(out, be.queue_max);
    num(out, be.rate);
    num(out, be.cur);
    num(out, be.max);
    out.push_str("<td></td>");
    total_with_responses(out, be.total, be.mode, &be.responses);
    bytes(out, be.bytes_in);
    bytes(out, be.bytes_out);
    err(out, be.conn_errors);
    err(out, be.resp_errors);
    err(out, be.retries);
    err(out, be.redispatches);
    let _ = write!(
        out,
        "<td class=\"st\"><span class=\"pill p-{st}\">{st}</span> <span class=\"for\">{dur}</span>\
         </td><td class=\"l\"></td>",
        st = be.status_text(),
        dur = human::duration(be.since_change_s),
    );
    num(out, be.effective_weight());
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td></td><td></td><td>{}</td>",
        be.active_up(),
        be.backup_up(),
        downtime(be.downtime_s),
    );
    if opts.admin {
        out.push_str("<td></td>");
    }
    out.push_str("</tr>\n");
}

/// "UP 2h3m", "DOWN 12s", "UP 2h3m ↓1/3": the state, how long it has lasted, and where a
/// transition stands.
fn status_cell(sv: &ServerStats) -> String {
    let dur = human::duration(sv.since_change_s);
    let (pill, text, note) = match sv.status {
        ServerStatus::Up => ("UP", "UP", String::new()),
        ServerStatus::Down => ("DOWN", "DOWN", String::new()),
        ServerStatus::Maint => ("MAINT", "MAINT", String::new()),
        ServerStatus::Drain => ("DRAIN", "DRAIN", String::new()),
        ServerStatus::NoCheck => ("NOCHECK", "no check", String::new()),
        ServerStatus::GoingDown { failed, fall } => (
            "GOING_DOWN",
            "UP",
            format!(
                "<span class=\"trend\" title=\"{failed} of {fall} failed checks before DOWN\">\
                 ↓ {failed}/{fall}</span>"
            ),
        ),
        ServerStatus::GoingUp { ok, rise } => (
            "GOING_UP",
            "DOWN",
            format!(
                "<span class=\"trend\" title=\"{ok} of {rise} good checks before UP\">\
                 ↑ {ok}/{rise}</span>"
            ),
        ),
    };
    if sv.status == ServerStatus::NoCheck {
        return format!("<span class=\"pill p-{pill}\">{text}</span>");
    }
    format!("<span class=\"pill p-{pill}\">{text}</span> <span class=\"for\">{dur}</span>{note}")
}

/// "L7OK 200 in 2ms", with the result word coloured by outcome.
fn last_check(c: &CheckInfo) -> String {
    let code = c.status_code();
    let cls = if code.ends_with("OK") || code.ends_with("OKC") {
        "ok"
    } else {
        "bad"
    };
    let detail = c.detail();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" {}", escape(detail))
    };
    format!(
        "<span class=\"c-{cls}\">{code}</span>{detail} <span class=\"ms\">in {ms}</span>",
        code = escape(code),
        ms = human::millis(c.last_duration_ms),
    )
}

fn downtime(secs: u64) -> String {
    if secs == 0 {
        String::new()
    } else {
        human::duration(secs)
    }
}

/// Three submit buttons in one form; the one for the current state is disabled.
fn admin_cell(out: &mut String, backend: &str, sv: &ServerStats, uri: &str) {
    let current = match sv.status {
        ServerStatus::Maint => "maint",
        ServerStatus::Drain => "drain",
        _ => "ready",
    };
    let _ = write!(
        out,
        "<td class=\"act\"><form method=\"post\" action=\"{uri};admin\">\
         <input type=\"hidden\" name=\"backend\" value=\"{b}\">\
         <input type=\"hidden\" name=\"server\" value=\"{s}\">",
        uri = escape(uri),
        b = escape(backend),
        s = escape(&sv.name),
    );
    for (action, label, tip) in [
        (
            "ready",
            "Ready",
            "Normal operation: health checks decide UP or DOWN",
        ),
        ("drain", "Drain", "Keep current sessions, send no new ones"),
        (
            "maint",
            "Maint",
            "Take out of rotation and stop health checks",
        ),
    ] {
        let _ = write!(
            out,
            "<button name=\"action\" value=\"{action}\" class=\"b-{action}\" title=\"{tip}\"{dis}>\
             {label}</button>",
            dis = if action == current { " disabled" } else { "" },
        );
    }
    out.push_str("</form></td>");
}

fn legend(out: &mut String) {
    out.push_str("<footer class=\"legend\">");
    for (cls, text) in [
        ("UP", "UP"),
        ("GOING_DOWN", "going down / up"),
        ("DOWN", "DOWN"),
        ("DRAIN", "DRAIN (no new sessions)"),
        ("MAINT", "MAINT (stopped by operator)"),
        ("NOCHECK", "no health check"),
    ] {
        let _ = write!(out, "<span><i class=\"sw s-{cls}\"></i>{text}</span>");
    }
    out.push_str(
        "<span class=\"hint\">Hover a total for HTTP responses, a byte count for the exact value.\
         </span></footer>\n",
    );
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
