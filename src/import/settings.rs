//! Directives of `defaults`, `frontend`, `backend` and `listen` that set a [`Settings`] value:
//! mode, balance, options, timeouts, checks, cookie, stats, log, `default-server`.

use regex::Regex;

use super::lex::{self, MAX_US};
use super::model::{Conn, CookieSpec, Global, HttpChk, Kind, Mode, Noted, Settings, Timeout};
use super::{net, read};

/// Where a directive is written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope {
    Defaults,
    Proxy(Kind),
}

impl Scope {
    fn front(self) -> bool {
        match self {
            Scope::Defaults => true,
            Scope::Proxy(k) => k.has_front(),
        }
    }

    fn back(self) -> bool {
        match self {
            Scope::Defaults => true,
            Scope::Proxy(k) => k.has_back(),
        }
    }
}

const FRONT_ONLY: &str = "ignored by HAProxy in a backend";
const BACK_ONLY: &str = "ignored by HAProxy in a frontend";

/// Directives ringlb has no counterpart for, with the reason given in the report.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "http-request",
        "ringlb's rules are per frontend and backend: write them there",
    ),
    (
        "http-response",
        "ringlb's rules are per frontend and backend: write them there",
    ),
    (
        "http-after-response",
        "ringlb's response rules do not apply to its own answers",
    ),
    (
        "tcp-request",
        "ringlb's only tcp-request rules are `tcp-request connection reject` in a frontend",
    ),
    ("tcp-response", "ringlb has no tcp-response rules"),
    (
        "redirect",
        "ringlb's redirects are rules of a frontend or backend: write them there",
    ),
    (
        "errorfiles",
        "ringlb has no http-errors sections: use errorfile lines",
    ),
    (
        "errorloc",
        "ringlb has no redirecting error pages: an errorfile may hold a 302",
    ),
    (
        "errorloc302",
        "ringlb has no redirecting error pages: an errorfile may hold a 302",
    ),
    (
        "errorloc303",
        "ringlb has no redirecting error pages: an errorfile may hold a 303",
    ),
    ("capture", "ringlb's access log has a fixed format"),
    ("log-format", "ringlb's access log has a fixed format"),
    ("log-tag", "ringlb's access log has a fixed format"),
    (
        "stick-table",
        "ringlb's tracking tables belong to frontends: write stick-table in the section",
    ),
    (
        "stick",
        "ringlb has no stick rules: use cookie persistence or balance source",
    ),
    ("use-server", "ringlb routes to backends, not to servers"),
    ("compression", "ringlb does not compress"),
    ("monitor-uri", "ringlb has no monitor URI"),
    ("monitor", "ringlb has no monitor URI"),
    ("unique-id-format", "ringlb has no request ids"),
    ("unique-id-header", "ringlb has no request ids"),
    (
        "source",
        "ringlb does not choose the source address of server connections",
    ),
    ("http-reuse", "ringlb manages its connection pool itself"),
    ("fullconn", "ringlb has no dynamic server limits"),
    ("description", "informational, no ringlb equivalent"),
    ("id", "ringlb has no numeric proxy ids"),
    ("rate-limit", "ringlb has no session rate limits"),
    ("tcp-check", "ringlb's tcp check only connects"),
    ("external-check", "ringlb has no external checks"),
    ("email-alert", "ringlb sends no mail"),
    ("dispatch", "ringlb needs servers"),
    ("filter", "ringlb has no filters"),
    ("server-template", "ringlb has no DNS-discovered servers"),
    ("dynamic-cookie-key", "ringlb has no dynamic cookies"),
    ("max-keep-alive-queue", "no ringlb equivalent"),
    ("persist", "ringlb has no persistence by RDP cookie"),
    ("ignore-persist", "ringlb has no persistence rules"),
    ("force-persist", "ringlb has no persistence rules"),
    ("bind-process", "ringlb runs one process"),
    ("declare", "ringlb has no captures"),
    ("enabled", "no ringlb equivalent"),
    (
        "disabled",
        "ringlb has no disabled sections: remove the section instead",
    ),
];

/// One directive line into `s`. `Err` = not translated at all; `partial` collects what was
/// dropped from a line otherwise translated.
pub(super) fn directive(
    s: &mut Settings,
    scope: Scope,
    w: &[String],
    global: &mut Global,
    partial: &mut Vec<String>,
) -> Result<(), String> {
    let head = w.first().map_or("", String::as_str);
    let arg = w.get(1).map_or("", String::as_str);
    let need = |ok: bool, why: &str| if ok { Ok(()) } else { Err(why.to_owned()) };
    match head {
        "mode" => {
            s.mode = Some(match arg {
                "http" => Mode::Http,
                "tcp" => Mode::Tcp,
                _ => return Err(format!("mode \"{arg}\": ringlb has http and tcp")),
            })
        }
        "balance" => {
            need(scope.back(), BACK_ONLY)?;
            s.balance = Some(super::hashing::balance(
                w.get(1..).unwrap_or_default(),
                partial,
            )?);
        }
        "hash-type" => {
            need(scope.back(), BACK_ONLY)?;
            s.hash_type = Some(super::hashing::hash_type(w.get(1..).unwrap_or_default())?);
        }
        "hash-balance-factor" => {
            need(scope.back(), BACK_ONLY)?;
            let n: u32 = arg
                .parse()
                .map_err(|_| format!("invalid hash-balance-factor \"{arg}\""))?;
            s.hash_balance_factor = Some(n);
        }
        "retries" => {
            need(scope.back(), BACK_ONLY)?;
            let n: u32 = arg
                .parse()
                .map_err(|_| format!("invalid retries \"{arg}\""))?;
            s.retries = Some(n.min(100));
        }
        "maxconn" => {
            need(
                scope.front(),
                "ignored by HAProxy in a backend (ringlb limits servers with their maxconn)",
            )?;
            let n: u32 = arg
                .parse()
                .map_err(|_| format!("invalid maxconn \"{arg}\""))?;
            if n == 0 {
                return Err("maxconn 0 is not a limit ringlb accepts".into());
            }
            s.maxconn = Some(n.min(1_000_000));
        }
        "timeout" => {
            let t = match arg {
                "connect" => Timeout::Connect,
                "client" => Timeout::Client,
                "server" => Timeout::Server,
                "http-request" => Timeout::HttpRequest,
                "http-keep-alive" => Timeout::HttpKeepAlive,
                "queue" => Timeout::Queue,
                "check" => Timeout::Check,
                "tunnel" => Timeout::Tunnel,
                other => return Err(format!("ringlb has no `timeout {other}`")),
            };
            timeout(s, scope, t, w.get(2).map_or("", String::as_str))?;
        }
        "contimeout" => timeout(s, scope, Timeout::Connect, arg)?,
        "clitimeout" => timeout(s, scope, Timeout::Client, arg)?,
        "srvtimeout" => timeout(s, scope, Timeout::Server, arg)?,
        "option" => option(s, scope, w.get(1..).unwrap_or_default(), true, partial)?,
        "no" if arg == "option" => {
            option(s, scope, w.get(2..).unwrap_or_default(), false, partial)?
        }
        "no" if arg == "log" => s.log = Some(false),
        "cookie" => {
            need(scope.back(), BACK_ONLY)?;
            s.cookie = Some(cookie(w.get(1..).unwrap_or_default(), partial)?);
        }
        "stats" => stats(s, w.get(1..).unwrap_or_default())?,
        "log" => log(s, w.get(1..).unwrap_or_default(), global, partial)?,
        "default-server" => {
            need(scope.back(), BACK_ONLY)?;
            let other = net::server_opts(w.get(1..).unwrap_or_default(), &mut s.default_server)?;
            if !other.is_empty() {
                partial.push(format!(
                    "default-server options not translated: {} (no ringlb equivalent)",
                    other.join(", ")
                ));
            }
        }
        "default_backend" => {
            need(scope.front(), FRONT_ONLY)?;
            if arg.is_empty() {
                return Err("default_backend needs a name".into());
            }
            s.default_backend = Some(arg.to_owned());
        }
        "http-check" => {
            need(scope.back(), BACK_ONLY)?;
            http_check(s, w.get(1..).unwrap_or_default(), partial)?;
        }
        "errorfile" => {
            let status: u16 = arg
                .parse()
                .map_err(|_| format!("invalid errorfile status \"{arg}\""))?;
            if !crate::rules::ERRORFILE_STATUSES.contains(&status) {
                return Err(format!(
                    "ringlb never answers {status} itself: no page to replace"
                ));
            }
            let path = w.get(2).ok_or("errorfile needs a file")?;
            s.errorfiles.retain(|(st, _)| *st != status);
            s.errorfiles.push((status, path.clone()));
        }
        h => {
            // `http-request redirect …` is a redirect rule first.
            let h = if h == "http-request" && arg == "redirect" {
                "redirect"
            } else {
                h
            };
            let why = UNSUPPORTED.iter().find(|(d, _)| *d == h).map_or(
                "no ringlb equivalent known to the translator",
                |(_, why)| why,
            );
            return Err((*why).to_owned());
        }
    }
    Ok(())
}

fn timeout(s: &mut Settings, scope: Scope, t: Timeout, value: &str) -> Result<(), String> {
    if t.frontend() && !scope.front() {
        return Err(if matches!(t, Timeout::Client) {
            FRONT_ONLY.to_owned()
        } else {
            "ringlb sets this timeout per frontend; set it there".to_owned()
        });
    }
    if !t.frontend() && !scope.back() {
        return Err(BACK_ONLY.to_owned());
    }
    let us = lex::parse_time(value).ok_or_else(|| format!("invalid time \"{value}\""))?;
    let v = if us == 0 {
        Noted::with_note(
            MAX_US,
            format!("timeout {} 0 (none) → 24d, ringlb's longest", t.key()),
        )
    } else if us > MAX_US {
        Noted::with_note(MAX_US, "capped at 24d, ringlb's longest")
    } else {
        Noted::plain(us)
    };
    if let Some(slot) = s.timeouts.get_mut(t.index()) {
        *slot = Some(v);
    }
    Ok(())
}

fn option(
    s: &mut Settings,
    scope: Scope,
    w: &[String],
    on: bool,
    partial: &mut Vec<String>,
) -> Result<(), String> {
    let name = w.first().map_or("", String::as_str);
    let args = w.get(1..).unwrap_or_default();
    let conn = |c: Conn, note: Option<String>| Some(Noted { v: c, note });
    match (name, on) {
        ("forwardfor", _) => {
            s.forwardfor = Some(Noted::plain(on));
            if on && !args.is_empty() {
                partial.push(format!(
                    "forwardfor {}: ringlb always appends X-Forwarded-For",
                    args.join(" ")
                ));
            }
        }
        ("httpclose" | "forceclose", true) => {
            s.connection = conn(
                Conn::Close,
                Some(format!("option {name} → connection = \"close\"")),
            )
        }
        ("http-server-close", true) => s.connection = conn(Conn::ServerClose, None),
        ("http-keep-alive", true) => s.connection = conn(Conn::KeepAlive, None),
        ("httpclose" | "forceclose" | "http-server-close" | "http-keep-alive", false) => {
            s.connection = conn(Conn::KeepAlive, None)
        }
        ("redispatch", _) => {
            need_back(scope)?;
            s.redispatch = Some(if on && !args.is_empty() {
                Noted::with_note(
                    true,
                    "redispatch interval dropped: the last retry may redispatch",
                )
            } else {
                Noted::plain(on)
            });
        }
        ("httplog", true) => s.log_format = Some(true),
        ("tcplog", true) => s.log_format = Some(false),
        ("httplog" | "tcplog", false) => s.log_format = None,
        ("dontlognull", _) => s.dontlognull = Some(on),
        ("httpchk", true) => {
            need_back(scope)?;
            s.httpchk = Some(httpchk(args));
        }
        ("httpchk", false) => s.httpchk = None,
        ("tcp-check", true) => {
            need_back(scope)?;
            s.httpchk = None;
        }
        (
            "ssl-hello-chk" | "mysql-check" | "pgsql-check" | "redis-check" | "smtpchk"
            | "ldap-check" | "spop-check" | "external-check",
            true,
        ) => {
            need_back(scope)?;
            s.httpchk = None;
            return Err(format!(
                "option {name}: ringlb checks by tcp connect or http; servers with `check` get \
                 a tcp connect check"
            ));
        }
        ("http-tunnel", true) => {
            return Err("ringlb parses every request; keep-alive applies".into());
        }
        _ => {
            return Err(format!(
                "{}option {name}: no ringlb equivalent",
                if on { "" } else { "no " }
            ))
        }
    }
    Ok(())
}

fn need_back(scope: Scope) -> Result<(), String> {
    if scope.back() {
        Ok(())
    } else {
        Err(BACK_ONLY.to_owned())
    }
}

/// `option httpchk`, `option httpchk URI`, `option httpchk METH URI [VERSION]`; a version
/// such as `HTTP/1.1\r\nHost:\ www` carries a Host header (the HAProxy 1.x idiom).
pub(super) fn httpchk(args: &[String]) -> Noted<HttpChk> {
    let (method, path, version) = match args {
        [] => ("OPTIONS", "/", None),
        [uri] => ("OPTIONS", uri.as_str(), None),
        [m, uri] => (m.as_str(), uri.as_str(), None),
        [m, uri, v, ..] => (m.as_str(), uri.as_str(), Some(v.as_str())),
    };
    let mut host = None;
    let mut version_only = version.unwrap_or("HTTP/1.0");
    if let Some(v) = version {
        let mut parts = v.split("\r\n");
        version_only = parts.next().unwrap_or(v);
        for header in parts {
            if let Some((n, val)) = header.split_once(':') {
                if n.trim().eq_ignore_ascii_case("host") {
                    host = Some(val.trim().to_owned());
                }
            }
        }
    }
    let written = format!("{method} {path} {version_only}");
    let mut notes = vec![format!(
        "option httpchk {written} → HTTP/1.1 check{}",
        if host.is_none() {
            " (Host: the server's address)"
        } else {
            ""
        }
    )];
    if path == "*" || !path.starts_with('/') {
        notes.push(format!(
            "check path \"{path}\" → \"/\" (ringlb checks a path)"
        ));
    }
    Noted::with_note(
        HttpChk {
            method: method.to_owned(),
            path: if path.starts_with('/') {
                path.to_owned()
            } else {
                "/".to_owned()
            },
            host,
        },
        notes.join("; "),
    )
}

/// `http-check send …`, `http-check expect …`.
fn http_check(s: &mut Settings, w: &[String], partial: &mut Vec<String>) -> Result<(), String> {
    match w.first().map(String::as_str) {
        Some("send") => {
            let mut chk = s.httpchk.as_ref().map_or_else(
                || HttpChk {
                    method: "GET".into(),
                    path: "/".into(),
                    host: None,
                },
                |c| c.v.clone(),
            );
            let mut i = 1;
            while let Some(k) = w.get(i) {
                let v = w.get(i + 1).cloned().unwrap_or_default();
                match k.as_str() {
                    "meth" => chk.method = v,
                    "uri" => chk.path = v,
                    "ver" => {}
                    "hdr" => {
                        if v.eq_ignore_ascii_case("host") {
                            chk.host = w.get(i + 2).cloned();
                        } else {
                            partial
                                .push(format!("check header {v} not sent: ringlb sends Host only"));
                        }
                        i += 1;
                    }
                    other => partial.push(format!("http-check send {other}: not translated")),
                }
                i += 2;
            }
            let note = chk.host.is_none().then(|| {
                "http-check send without hdr host → Host: the server's address".to_owned()
            });
            s.httpchk = Some(Noted { v: chk, note });
            Ok(())
        }
        Some("expect") => {
            s.expect = Some(expect(w.get(1..).unwrap_or_default())?);
            Ok(())
        }
        Some(other) => Err(format!("http-check {other}: no ringlb equivalent")),
        None => Err("http-check needs a rule".into()),
    }
}

/// `http-check expect [!] status CODES|rstatus REGEX` → status ranges, computed over 100–599.
pub(super) fn expect(w: &[String]) -> Result<Noted<Vec<(u16, u16)>>, String> {
    let (negate, w) = match w.split_first() {
        Some((bang, rest)) if bang == "!" => (true, rest),
        _ => (false, w),
    };
    let kind = w.first().map_or("", String::as_str);
    let value = w.get(1).ok_or("expect needs a value")?;
    let mut ok = [false; 500];
    match kind {
        "status" => {
            for part in value.split(',') {
                let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
                    return Err(format!("invalid status \"{part}\""));
                };
                for code in lo.max(100)..=hi.min(599) {
                    if let Some(slot) = ok.get_mut(usize::from(code - 100)) {
                        *slot = true;
                    }
                }
            }
        }
        "rstatus" => {
            let re = Regex::new(value).map_err(|_| {
                format!("rstatus \"{value}\" is not a regular expression ringlb reads")
            })?;
            for (i, slot) in ok.iter_mut().enumerate() {
                *slot = re.is_match(&(i + 100).to_string());
            }
        }
        other => {
            return Err(format!(
                "http-check expect {other}: ringlb checks the status code only"
            ))
        }
    }
    if negate {
        ok.iter_mut().for_each(|b| *b = !*b);
    }
    let ranges = ranges(&ok);
    if ranges.is_empty() {
        return Err("no status code would pass this check".into());
    }
    let note = (kind == "rstatus" || negate)
        .then(|| format!("http-check expect {} → the codes it matches", w.join(" ")));
    Ok(Noted { v: ranges, note })
}

/// Runs of `true` in a table indexed by code − 100.
fn ranges(ok: &[bool]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (code, _) in (100u16..).zip(ok).filter(|(_, b)| **b) {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == code => *hi = code,
            _ => out.push((code, code)),
        }
    }
    out
}

/// `cookie NAME [insert|prefix|rewrite] [indirect] [nocache] [httponly] [secure]
/// [domain D] [maxidle T] [maxlife T]`.
fn cookie(w: &[String], partial: &mut Vec<String>) -> Result<Noted<CookieSpec>, String> {
    let name = w.first().ok_or("cookie needs a name")?;
    let mut c = CookieSpec {
        name: name.clone(),
        mode: "",
        indirect: false,
        nocache: false,
        httponly: false,
        secure: false,
        domain: None,
        maxidle: None,
        maxlife: None,
    };
    let mut notes = Vec::new();
    let mut i = 1;
    while let Some(word) = w.get(i) {
        let arg = w.get(i + 1);
        let time = || {
            arg.and_then(|a| lex::parse_time(a))
                .filter(|t| *t > 0)
                .map(|t| t.min(MAX_US))
                .ok_or_else(|| format!("cookie {word} needs a time"))
        };
        let mut step = 1;
        match word.as_str() {
            "insert" => c.mode = "insert",
            "prefix" => c.mode = "prefix",
            "rewrite" => c.mode = "rewrite",
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "domain" => {
                if c.domain.is_some() {
                    partial.push("ringlb sets one cookie domain; the first is kept".into());
                } else {
                    c.domain = arg.cloned();
                }
                step = 2;
            }
            "maxidle" => (c.maxidle, step) = (Some(time()?), 2),
            "maxlife" => (c.maxlife, step) = (Some(time()?), 2),
            "attr" => {
                partial.push(format!(
                    "cookie attr {}: ringlb sets no extra attributes",
                    arg.map_or("", |a| a.as_str())
                ));
                step = 2;
            }
            other => partial.push(format!("cookie option {other}: no ringlb equivalent")),
        }
        i += step;
    }
    if c.mode.is_empty() {
        c.mode = "insert";
        partial.push(
            "cookie without insert/prefix/rewrite: HAProxy only reads a cookie the application \
             sets; ringlb has no such mode and inserts its own"
                .into(),
        );
        notes.push("no mode in HAProxy (passive) → insert".to_owned());
    }
    Ok(Noted {
        v: c,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// `stats enable|uri|realm|auth|refresh|admin`. Any of them enables the page, as in HAProxy.
fn stats(s: &mut Settings, w: &[String]) -> Result<(), String> {
    let sub = w.first().map_or("", String::as_str);
    let arg = w.get(1).cloned();
    let st = &mut s.stats;
    match sub {
        "enable" => {}
        "uri" => st.uri = Some(arg.ok_or("stats uri needs a path")?),
        "realm" => {
            let r = arg.ok_or("stats realm needs a text")?;
            st.realm = Some(r.replace(['"', '\\'], ""));
        }
        "auth" => {
            let a = arg.ok_or("stats auth needs USER:PASSWORD")?;
            if !a.contains(':') {
                return Err("stats auth needs USER:PASSWORD".into());
            }
            st.users.push(a);
        }
        "refresh" => {
            let t = arg
                .as_deref()
                .and_then(lex::parse_time)
                .filter(|t| *t > 0)
                .ok_or("stats refresh needs a time")?;
            st.refresh = Some(t.min(MAX_US));
        }
        "admin" => {
            let cond = w.get(2..).unwrap_or_default().join(" ");
            let note = match (arg.as_deref(), cond.as_str()) {
                (Some("if"), "TRUE") => None,
                (Some("if" | "unless"), _) => Some(format!(
                    "stats admin {} {cond} → admin = true: the condition is dropped, every \
                     user of the page may act",
                    arg.as_deref().unwrap_or("")
                )),
                _ => return Err("stats admin needs `if` or `unless` and a condition".into()),
            };
            st.admin = Some(Noted { v: true, note });
        }
        "disable" => {
            st.enable = false;
            return Ok(());
        }
        "socket" => {
            return Err("stats socket belongs to global (→ [global] admin_socket)".into());
        }
        other => return Err(format!("stats {other}: no ringlb equivalent")),
    }
    st.enable = true;
    Ok(())
}

/// `log global`, `log ADDR … FACILITY`: the section logs; ringlb has one target (`[log]`).
fn log(
    s: &mut Settings,
    w: &[String],
    global: &mut Global,
    partial: &mut Vec<String>,
) -> Result<(), String> {
    match w.first().map(String::as_str) {
        Some("global") => s.log = Some(true),
        Some(_) => {
            let (spec, notes) = read::log_target(w)?;
            s.log = Some(true);
            match &global.log {
                None => {
                    let mut notes = notes;
                    notes.push("a section's own log target becomes [log]: ringlb has one".into());
                    global.log = Some(Noted {
                        v: spec,
                        note: Some(notes.join("; ")),
                    });
                }
                Some(g) if g.v == spec => {}
                Some(_) => partial
                    .push("ringlb has one log target ([log]); this section logs there".into()),
            }
        }
        None => return Err("log needs a target".into()),
    }
    Ok(())
}
