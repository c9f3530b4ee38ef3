//! haproxy.cfg lines → [`Model`]: sections, `defaults` inheritance, `global`.
//!
//! HAProxy semantics kept here: every `defaults` section starts from nothing (it does not
//! extend the previous one), and a proxy starts with a copy of the last `defaults` read before
//! it. A directive that cannot be translated is reported with its line and why; a directive
//! translated in part keeps what can be kept and reports the rest.

use super::lex::{self, Line};
use super::model::{Global, Kind, LogSpec, Model, Noted, Proxy, Settings};
use super::net;
use super::settings::{self, Scope};
use super::tls;
use super::Skipped;

/// Sections HAProxy has and ringlb has no counterpart for; their lines are reported.
const OTHER_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "cache",
    "ring",
    "fcgi-app",
    "log-forward",
    "crt-store",
    "traces",
    "acme",
];

enum Cur {
    /// Before any section header.
    Nowhere,
    Global,
    Defaults,
    Proxy(usize),
    /// Inside a section of [`OTHER_SECTIONS`]: its name.
    Other(String),
}

pub(super) fn read(lines: &[Line], skipped: &mut Vec<Skipped>) -> Model {
    let mut r = Reader {
        model: Model::default(),
        defaults: Settings::default(),
        cur: Cur::Nowhere,
        skipped,
        defaults_count: 0,
        proxy_before_defaults: false,
    };
    for line in lines {
        r.line(line);
    }
    if r.defaults_count == 1 && !r.proxy_before_defaults {
        r.model.single_defaults = Some(r.defaults.clone());
    }
    r.model
}

struct Reader<'a> {
    model: Model,
    /// The last `defaults` section read: what the next proxy starts from.
    defaults: Settings,
    cur: Cur,
    skipped: &'a mut Vec<Skipped>,
    defaults_count: usize,
    proxy_before_defaults: bool,
}

impl Reader<'_> {
    fn skip(&mut self, line: &Line, why: impl Into<String>) {
        self.skipped.push(Skipped {
            line: line.no,
            text: line.text.clone(),
            why: why.into(),
        });
    }

    fn line(&mut self, line: &Line) {
        let Some(head) = line.words.first() else {
            return;
        };
        let args = line.words.get(1..).unwrap_or_default();
        match head.as_str() {
            "global" => self.cur = Cur::Global,
            "defaults" => {
                self.defaults_count += 1;
                self.defaults = Settings::default();
                self.cur = Cur::Defaults;
                if args.iter().any(|a| a == "from") {
                    self.skip(
                        line,
                        "`from`: named defaults are not supported; this section starts empty",
                    );
                }
            }
            "frontend" | "backend" | "listen" => self.proxy_header(line, head, args),
            other if OTHER_SECTIONS.contains(&other) => {
                self.skip(
                    line,
                    format!("ringlb has no `{other}` section; its lines are not translated"),
                );
                self.cur = Cur::Other(other.to_owned());
            }
            _ => match self.cur {
                Cur::Nowhere => self.skip(line, "directive outside any section"),
                Cur::Other(ref section) => {
                    let why = format!("inside a `{section}` section");
                    self.skip(line, why);
                }
                Cur::Global => self.global(line),
                Cur::Defaults => {
                    let mut partial = Vec::new();
                    let res = settings::directive(
                        &mut self.defaults,
                        Scope::Defaults,
                        &line.words,
                        &mut self.model.global,
                        &mut partial,
                    );
                    self.finish(line, res, partial);
                }
                Cur::Proxy(i) => self.proxy_line(line, i),
            },
        }
    }

    fn finish(&mut self, line: &Line, res: Result<(), String>, partial: Vec<String>) {
        if let Err(why) = res {
            self.skip(line, why);
        }
        for why in partial {
            self.skip(line, why);
        }
    }

    fn proxy_header(&mut self, line: &Line, head: &str, args: &[String]) {
        let kind = match head {
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            _ => Kind::Listen,
        };
        let Some(name) = args.first() else {
            self.skip(line, format!("`{head}` without a name"));
            self.cur = Cur::Other(head.to_owned());
            return;
        };
        // HAProxy refuses two proxies of one name on the same side (a frontend and a
        // backend may share a name; a listen is both).
        // Names are compared as ringlb writes them (characters it does not allow become `_`).
        let clash = self.model.proxies.iter().any(|p| {
            net::name(&p.name) == net::name(name)
                && ((p.kind.has_front() && kind.has_front())
                    || (p.kind.has_back() && kind.has_back()))
        });
        if clash {
            self.skip(
                line,
                format!("a proxy named `{name}` is already defined (or has the same name in ringlb's characters); the section is left out"),
            );
            self.cur = Cur::Other(head.to_owned());
            return;
        }
        if self.defaults_count == 0 {
            self.proxy_before_defaults = true;
        }
        let mut proxy = Proxy {
            kind,
            name: name.clone(),
            line: line.no,
            s: self.defaults.clone(),
            binds: Vec::new(),
            accept_proxy: Vec::new(),
            h2_binds: Vec::new(),
            defer_accept: None,
            acls: Vec::new(),
            uses: Vec::new(),
            rules: Vec::new(),
            servers: Vec::new(),
            tls: None,
            stick_table: None,
            tracks: Vec::new(),
            conn_rules: Vec::new(),
        };
        let rest = args.get(1..).unwrap_or_default();
        if rest.first().is_some_and(|w| w == "from") {
            self.skip(
                line,
                "`from`: named defaults are not supported; the last defaults section applies",
            );
        } else if let Some(addr) = rest.first() {
            // HAProxy 1.x: `listen NAME ADDR:PORT` binds in the header.
            if kind == Kind::Backend {
                self.skip(line, "a backend has no address");
            } else {
                match net::bind_addrs(addr) {
                    Ok(binds) => proxy.binds.extend(binds.into_iter().map(Noted::plain)),
                    Err(why) => self.skip(line, why),
                }
            }
        }
        self.model.proxies.push(proxy);
        self.cur = Cur::Proxy(self.model.proxies.len() - 1);
    }

    fn proxy_line(&mut self, line: &Line, i: usize) {
        let Some(proxy) = self.model.proxies.get_mut(i) else {
            return;
        };
        let kind = proxy.kind;
        let head = line.words.first().map_or("", String::as_str);
        let args = line.words.get(1..).unwrap_or_default();
        let mut partial = Vec::new();
        if head == "bind" && kind.has_front() && args.iter().any(|a| a == "defer-accept") {
            proxy.defer_accept.get_or_insert(line.no);
        }
        let res = match head {
            "bind" if kind.has_front() && args.iter().any(|a| a == "ssl") => {
                let at = tls::At {
                    line: line.no,
                    global: &self.model.global,
                };
                tls::bind(args, &mut proxy.tls, at, &mut partial)
            }
            "bind" if kind.has_front() => {
                net::bind(args, &mut proxy.binds, &mut partial).map(|b| {
                    proxy.accept_proxy.push((line.no, b.accept_proxy));
                    if b.h2 {
                        proxy.h2_binds.push(line.no);
                    }
                })
            }
            "server" if kind.has_back() => {
                let defaults = proxy.s.default_server.clone();
                net::server(args, &defaults, line.no, &mut partial).map(|s| {
                    proxy.servers.push(s);
                })
            }
            "acl" => {
                proxy.acls.push(line.clone());
                Ok(())
            }
            "stick-table" if proxy.stick_table.is_some() => {
                Err("HAProxy allows one stick-table per section".to_owned())
            }
            "stick-table" => {
                proxy.stick_table = Some(line.clone());
                Ok(())
            }
            _ if super::track::is_track(&line.words) && kind.has_front() => {
                proxy.tracks.push(line.clone());
                Ok(())
            }
            "tcp-request" if super::rules::is_connection_rule(&line.words) && kind.has_front() => {
                proxy.conn_rules.push(line.clone());
                Ok(())
            }
            h if super::rules::is_rule(h) => {
                proxy.rules.push(line.clone());
                Ok(())
            }
            "use_backend" if kind.has_front() => {
                proxy.uses.push(line.clone());
                Ok(())
            }
            "bind" | "use_backend" => Err(format!("ignored by HAProxy in a {}", kind.name())),
            "server" => Err("ignored by HAProxy in a frontend".to_owned()),
            _ => settings::directive(
                &mut proxy.s,
                Scope::Proxy(kind),
                &line.words,
                &mut self.model.global,
                &mut partial,
            ),
        };
        self.finish(line, res, partial);
    }

    fn global(&mut self, line: &Line) {
        let mut partial = Vec::new();
        let head = line.words.first().map_or("", String::as_str);
        let res = if super::h2::is_global(head) {
            super::h2::global(&mut self.model.global, line.no, &line.words)
        } else {
            global(&mut self.model.global, &line.words, &mut partial)
        };
        self.finish(line, res, partial);
    }
}

fn number<T: std::str::FromStr>(w: &[String], i: usize, what: &str) -> Result<T, String> {
    let text = w.get(i).ok_or_else(|| format!("{what} needs a value"))?;
    text.parse::<T>()
        .map_err(|_| format!("invalid {what} \"{text}\""))
}

/// One line of the `global` section.
fn global(g: &mut Global, w: &[String], partial: &mut Vec<String>) -> Result<(), String> {
    let head = w.first().map_or("", String::as_str);
    let arg = w.get(1).cloned();
    match head {
        "maxconn" => {
            let n: u32 = number(w, 1, "maxconn")?;
            if n == 0 {
                return Err("maxconn 0 is not a limit ringlb accepts".into());
            }
            g.maxconn = Some(n.min(1_000_000));
        }
        "user" | "uid" => g.user = Some(arg.ok_or("needs a user")?),
        "group" | "gid" => g.group = Some(arg.ok_or("needs a group")?),
        "daemon" => g
            .notes
            .push("daemon dropped: systemd runs ringlb in the foreground (`ringlb run`)".into()),
        "pidfile" => g
            .notes
            .push("pidfile dropped: systemd tracks the ringlb process itself".into()),
        "master-worker" => g.notes.push(
            "master-worker dropped: ringlb reloads and upgrades in place without a master".into(),
        ),
        "quiet" => g
            .notes
            .push("quiet dropped: ringlb logs startup to the journal".into()),
        "nbthread" => {
            let n: u32 = number(w, 1, "nbthread")?;
            g.workers = Some(Noted::plain(n.clamp(1, 1024)));
        }
        "nbproc" => {
            let n: u32 = number(w, 1, "nbproc")?;
            if g.workers.is_none() {
                g.workers = Some(Noted::with_note(
                    n.clamp(1, 1024),
                    format!("nbproc {n} → workers: ringlb runs worker threads in one process"),
                ));
            }
        }
        "spread-checks" => {
            let n: u32 = number(w, 1, "spread-checks")?;
            g.spread_checks = Some(u8::try_from(n.min(50)).unwrap_or(50));
        }
        "hard-stop-after" => {
            let t = arg
                .as_deref()
                .and_then(lex::parse_time)
                .ok_or("invalid time")?;
            g.grace = Some(Noted::with_note(
                t.min(lex::MAX_US),
                "hard-stop-after → grace: how long a drain waits for sessions in flight",
            ));
        }
        "stats" if arg.as_deref() == Some("socket") => {
            let path = w.get(2).ok_or("stats socket needs a path")?;
            let path = path.strip_prefix("unix@").unwrap_or(path);
            if !path.starts_with('/') || path.len() > 107 {
                return Err(
                    "ringlb's admin socket is a Unix socket with an absolute path of \
                            at most 107 bytes"
                        .into(),
                );
            }
            if w.len() > 3 {
                partial.push(format!(
                    "stats socket options not translated: {} (ringlb's admin socket is \
                     reachable by whoever may open the file)",
                    w.get(3..).unwrap_or_default().join(" ")
                ));
            }
            g.admin_socket = Some(Noted::with_note(
                path.to_owned(),
                "stats socket → admin_socket: ringlb's admin commands differ from HAProxy's \
                 runtime API",
            ));
        }
        "log" => {
            let (spec, notes) = log_target(w.get(1..).unwrap_or_default())?;
            if g.log.is_some() {
                return Err("ringlb has one log target; the first `log` line is used".into());
            }
            g.log = Some(Noted {
                v: spec,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            });
        }
        "chroot" => {
            return Err("ringlb does not chroot; use systemd's RootDirectory= or \
                        ProtectSystem= in the unit"
                .into())
        }
        "ulimit-n" => {
            return Err(
                "ringlb fits maxconn to the open-files limit; set LimitNOFILE= in \
                        the unit"
                    .into(),
            )
        }
        "cpu-map" | "cpu-set" => {
            return Err(
                "ringlb places one worker per CPU itself; use systemd's CPUAffinity=".into(),
            )
        }
        h if tls::is_global(h) => tls::global(g, w, partial)?,
        h if h.starts_with("tune.") || h.starts_with("ssl-") || h.ends_with("-base") => {
            return Err("no ringlb equivalent".into())
        }
        _ => return Err("not a global setting ringlb has".into()),
    }
    Ok(())
}

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];
const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]` → a ringlb `[log]` target and the
/// notes on what changed.
pub(super) fn log_target(w: &[String]) -> Result<(LogSpec, Vec<String>), String> {
    let addr = w.first().ok_or("log needs a target")?;
    let mut notes = Vec::new();
    let target = match addr.as_str() {
        "stdout" | "fd@1" => "stdout".to_owned(),
        "stderr" | "fd@2" => {
            notes.push("stderr → stdout: ringlb logs to stdout or syslog".to_owned());
            "stdout".to_owned()
        }
        a if a.starts_with('/') => format!("unix://{a}"),
        a if a.starts_with("unix@/") => format!("unix://{}", a.trim_start_matches("unix@")),
        a => {
            let (ip, port) = net::log_host(a)?;
            match port {
                Some(p) => format!("udp://{}", net::join(ip, p)),
                None if ip.is_ipv6() => format!("udp://[{ip}]"),
                None => format!("udp://{ip}"),
            }
        }
    };
    let mut i = 1;
    while let Some(word) = w.get(i) {
        match word.as_str() {
            "len" => notes.push("`len` dropped: ringlb sizes syslog lines itself".into()),
            "format" => notes.push(format!(
                "`format {}` dropped: ringlb writes its own syslog framing",
                w.get(i + 1).map_or("", String::as_str)
            )),
            "sample" | "profile" => {
                return Err(format!("`{word}`: ringlb logs every line to one target"))
            }
            _ => break,
        }
        i += 2;
    }
    let facility = w.get(i).ok_or("log needs a facility")?;
    if !FACILITIES.contains(&facility.as_str()) {
        return Err(format!("unknown syslog facility \"{facility}\""));
    }
    let level = match w.get(i + 1) {
        Some(l) if LEVELS.contains(&l.as_str()) => Some(l.clone()),
        Some(l) => return Err(format!("unknown syslog level \"{l}\"")),
        None => None,
    };
    if w.get(i + 2).is_some() {
        notes.push("minimum level dropped: ringlb has a single level".into());
    }
    Ok((
        LogSpec {
            target,
            facility: facility.clone(),
            level,
        },
        notes,
    ))
}
