//! Frontends: which HAProxy sections become `[frontend.X]`, their ACLs, routes, default
//! backend and stats page, and the values HAProxy takes from the backends they use.
//!
//! Planning runs before anything is written, because backends are emitted according to what
//! the frontends reference (a backend without servers gets a placeholder only if used).

use std::collections::{HashMap, HashSet};

use super::acl::{self, AclState, Cond};
use super::emit::{self, table, Baseline, Out};
use super::lex::{quote, Line};
use super::model::{Conn, Kind, Mode, Model, Noted, Proxy, StatsSpec};
use super::{net, Skipped};

/// Name of the backend standing for "no backend" (HAProxy answers 503).
pub(super) fn placeholder_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Http => "no-backend",
        Mode::Tcp => "no-backend-tcp",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// An HAProxy backend (or listen) name.
    Backend(String),
    /// No backend: the placeholder of this mode.
    Placeholder(Mode),
}

#[derive(Debug)]
pub(super) struct AclOut {
    pub(super) name: String,
    pub(super) texts: Vec<String>,
    pub(super) notes: Vec<String>,
}

#[derive(Debug)]
pub(super) struct RouteOut {
    pub(super) backend: String,
    /// `("if" | "unless", condition)`; `None` = always.
    pub(super) guard: Option<(&'static str, String)>,
    pub(super) notes: Vec<String>,
}

#[derive(Debug)]
pub(super) struct FrontPlan<'a> {
    pub(super) p: &'a Proxy,
    pub(super) mode: Mode,
    pub(super) default: Target,
    pub(super) notes: Vec<String>,
    pub(super) acls: Vec<AclOut>,
    pub(super) routes: Vec<RouteOut>,
    pub(super) stats: Option<(StatsSpec, Option<String>)>,
    pub(super) rules: Vec<super::rules::RuleOut>,
    /// Why the rules are not in file order, when they are not.
    pub(super) rules_note: Option<String>,
    /// `[frontend.X.track]`, from the first `track-sc` line, and the section whose
    /// `stick-table` it uses.
    pub(super) track: Option<(super::track::TrackOut, String)>,
    /// `[[frontend.X.connection_rule]]`s, from `tcp-request connection reject` lines.
    pub(super) conn_rules: Vec<super::rules::RuleOut>,
}

/// A `listen` that only serves the stats page: it becomes `[stats]`.
#[derive(Debug)]
pub(super) struct StatsListener {
    pub(super) name: String,
    pub(super) line: usize,
    pub(super) bind: String,
    pub(super) stats: StatsSpec,
}

#[derive(Debug, Default)]
pub(super) struct Plans<'a> {
    pub(super) fronts: Vec<FrontPlan<'a>>,
    pub(super) stats_listener: Option<StatsListener>,
    /// HAProxy names of the backends some frontend sends traffic to.
    pub(super) referenced: HashSet<String>,
    /// Placeholder backends needed.
    pub(super) placeholders: Vec<Mode>,
}

impl Plans<'_> {
    pub(super) fn max_frontend_maxconn(&self, model: &Model) -> u32 {
        let defaults = model.single_defaults.as_ref().and_then(|d| d.maxconn);
        self.fronts
            .iter()
            .filter_map(|f| f.p.s.maxconn)
            .chain(defaults)
            .max()
            .unwrap_or(0)
    }
}

/// The backends of the file by HAProxy name (first definition wins, as a duplicate is an
/// HAProxy error anyway).
pub(super) fn backends(model: &Model) -> HashMap<&str, &Proxy> {
    let mut map = HashMap::new();
    for p in model.proxies.iter().filter(|p| p.kind.has_back()) {
        map.entry(p.name.as_str()).or_insert(p);
    }
    map
}

/// A backend that only has a stats page (no servers): its page moves to the frontend.
fn stats_only(b: &Proxy) -> bool {
    b.s.stats.enable && b.servers.is_empty()
}

fn skip(skipped: &mut Vec<Skipped>, line: &Line, why: impl Into<String>) {
    skipped.push(Skipped {
        line: line.no,
        text: line.text.clone(),
        why: why.into(),
    });
}

pub(super) fn plan<'a>(model: &'a Model, skipped: &mut Vec<Skipped>) -> Plans<'a> {
    let backs = backends(model);
    let mut plans = Plans::default();
    for p in model.proxies.iter().filter(|p| p.kind.has_front()) {
        let mode = emit::mode(&p.s);
        let is_stats_listener = p.kind == Kind::Listen
            && p.s.stats.enable
            && p.servers.is_empty()
            && p.s.default_backend.is_none()
            && p.uses.is_empty()
            && mode == Mode::Http
            && plans.stats_listener.is_none();
        if is_stats_listener {
            if let Some(bind) = p.binds.first() {
                if p.binds.len() > 1 {
                    skipped.push(Skipped {
                        line: p.line,
                        text: format!("listen {}", p.name),
                        why: "ringlb's [stats] listens on one address; the first bind is used"
                            .into(),
                    });
                }
                for (line, _) in p.accept_proxy.iter().filter(|(_, a)| *a) {
                    skipped.push(Skipped {
                        line: *line,
                        text: "accept-proxy".into(),
                        why: "ringlb's [stats] listener reads no PROXY protocol header".into(),
                    });
                }
                plans.stats_listener = Some(StatsListener {
                    name: p.name.clone(),
                    line: p.line,
                    bind: bind.v.clone(),
                    stats: p.s.stats.clone(),
                });
                continue;
            }
        }
        if p.binds.is_empty() && p.tls.is_none() {
            if p.kind == Kind::Frontend {
                skipped.push(Skipped {
                    line: p.line,
                    text: format!("frontend {}", p.name),
                    why: "no bind ringlb can listen on: the frontend is left out".into(),
                });
            }
            continue;
        }
        let f = plan_front(p, mode, &backs, &model.proxies, skipped);
        if let Target::Backend(b) = &f.default {
            plans.referenced.insert(b.clone());
        }
        if let Target::Placeholder(m) = f.default {
            if !plans.placeholders.contains(&m) {
                plans.placeholders.push(m);
            }
        }
        for r in &f.routes {
            plans.referenced.insert(r.backend.clone());
        }
        plans.fronts.push(f);
    }
    // A stick-table no translated tracker uses counts nothing in ringlb.
    for p in &model.proxies {
        let used = plans
            .fronts
            .iter()
            .any(|f| f.track.as_ref().is_some_and(|(_, t)| *t == p.name));
        if let (Some(st), false) = (&p.stick_table, used) {
            skip(
                skipped,
                st,
                "no track-sc ringlb translated uses this table (ringlb's tables are per \
                 frontend)",
            );
        }
    }
    // A stats page in a backend with servers is served by the frontends that use it; one that
    // no frontend uses is not served at all.
    for b in model.proxies.iter().filter(|b| b.kind == Kind::Backend) {
        if b.s.stats.enable && !b.servers.is_empty() && !plans.referenced.contains(&b.name) {
            skipped.push(Skipped {
                line: b.line,
                text: format!("stats enable (in backend {})", b.name),
                why: "no frontend uses this backend: its stats page is not served".into(),
            });
        }
    }
    plans
}

/// The stats page of a backend with servers that this frontend uses: HAProxy answers its uri
/// for requests that reach the backend; ringlb answers it on the frontend, before routing.
fn stats_of_used_backends(f: &mut FrontPlan<'_>, backs: &HashMap<&str, &Proxy>) {
    let mut used: Vec<&str> = Vec::new();
    if let Target::Backend(b) = &f.default {
        used.push(b);
    }
    used.extend(f.routes.iter().map(|r| r.backend.as_str()));
    for name in used {
        let Some(b) = backs.get(name) else { continue };
        if std::ptr::eq(*b, f.p) || !b.s.stats.enable || b.servers.is_empty() {
            continue;
        }
        let only_default = f.routes.is_empty();
        match &f.stats {
            None => {
                f.stats = Some((
                    b.s.stats.clone(),
                    Some(format!(
                        "stats page of backend {name} (which also has servers): ringlb answers \
                         its uri on this frontend before routing{}",
                        if only_default {
                            ""
                        } else {
                            ", for every request (HAProxy: only for requests routed to it)"
                        }
                    )),
                ));
            }
            Some(_) => f.notes.push(format!(
                "backend {name} also has a stats page; this frontend serves one page only (the first)"
            )),
        }
    }
}

fn plan_front<'a>(
    p: &'a Proxy,
    mode: Mode,
    backs: &HashMap<&str, &Proxy>,
    all: &[Proxy],
    skipped: &mut Vec<Skipped>,
) -> FrontPlan<'a> {
    let track = super::track::plan(p, mode == Mode::Tcp, all, skipped);
    let at = acl::Where {
        tcp: mode == Mode::Tcp,
        tls: p.tls.is_some(),
        track: track
            .as_ref()
            .map_or(0, |(t, _)| t.counters | if t.src { 0b1000 } else { 0 }),
    };
    let mut f = FrontPlan {
        p,
        mode,
        default: Target::Placeholder(mode),
        notes: Vec::new(),
        acls: Vec::new(),
        routes: Vec::new(),
        stats: p.s.stats.enable.then(|| (p.s.stats.clone(), None)),
        rules: Vec::new(),
        rules_note: None,
        track,
        conn_rules: Vec::new(),
    };
    let (acls, states) = acl_states(p, at, skipped);
    f.acls = acls;
    let (rules, note) = super::rules::translate(&p.rules, &states, at, skipped);
    f.rules = rules;
    f.rules_note = note;
    if f.track.is_some() {
        f.conn_rules = super::rules::connection_rules(&p.conn_rules, &states, at, skipped);
    } else {
        for line in &p.conn_rules {
            skip(
                skipped,
                line,
                "ringlb's connection rules count their rejections in the frontend's tracking \
                 table: none was translated (add tcp-request connection track-sc0 src and a \
                 stick-table)",
            );
        }
    }

    for line in &p.uses {
        match route(line, mode, &states, backs, &mut f) {
            Ok(Some(r)) => f.routes.push(r),
            Ok(None) => {}
            Err(why) => skip(skipped, line, why),
        }
    }

    let default_name =
        p.s.default_backend
            .clone()
            .or_else(|| (p.kind == Kind::Listen && !p.servers.is_empty()).then(|| p.name.clone()));
    match default_name {
        Some(name) => match backs.get(name.as_str()) {
            Some(b) if emit::mode(&b.s) != mode => {
                skipped.push(Skipped {
                    line: p.line,
                    text: format!("default_backend {name}"),
                    why: format!(
                        "backend {name} is in {} mode, this section in {}",
                        emit::mode(&b.s).name(),
                        mode.name()
                    ),
                });
                f.notes.push(format!(
                    "default_backend {name} has another mode: placeholder"
                ));
            }
            Some(b) if stats_only(b) => {
                take_stats(&mut f, b);
                f.notes.push(format!(
                    "default_backend {name} only serves stats: the page moves to this frontend"
                ));
            }
            Some(_) => f.default = Target::Backend(name),
            None => {
                skipped.push(Skipped {
                    line: p.line,
                    text: format!("default_backend {name}"),
                    why: format!("backend {name} is not defined"),
                });
            }
        },
        None if p.kind == Kind::Listen && f.stats.is_some() => {}
        None => f.notes.push(
            "no default_backend: HAProxy answers 503 when no use_backend matches; so does the \
             placeholder backend"
                .into(),
        ),
    }
    stats_of_used_backends(&mut f, backs);
    f
}

/// A section's ACLs: several lines with one name are ORed, as in HAProxy; one bad line spoils
/// the name.
pub(super) fn acl_states(
    p: &Proxy,
    at: acl::Where,
    skipped: &mut Vec<Skipped>,
) -> (Vec<AclOut>, HashMap<String, AclState>) {
    let mut acls: Vec<AclOut> = Vec::new();
    let mut states: HashMap<String, AclState> = HashMap::new();
    for line in &p.acls {
        let Some(name) = line.words.get(1) else {
            skip(skipped, line, "acl needs a name and a criterion");
            continue;
        };
        if matches!(states.get(name), Some(AclState::Bad(_))) {
            skip(
                skipped,
                line,
                format!("ACL `{name}` already has an untranslated line"),
            );
            continue;
        }
        match acl::criterion(line.words.get(2..).unwrap_or_default(), at) {
            Ok((text, note)) => {
                let rname = acl::acl_name(name);
                match acls.iter_mut().find(|a| a.name == rname) {
                    Some(a) => {
                        a.texts.push(text);
                        a.notes.extend(note);
                    }
                    None => {
                        let mut notes: Vec<String> = note.into_iter().collect();
                        if rname != *name {
                            notes.push(format!("ACL {name} renamed {rname} (ringlb name rules)"));
                        }
                        acls.push(AclOut {
                            name: rname.clone(),
                            texts: vec![text],
                            notes,
                        });
                    }
                }
                states.insert(name.clone(), AclState::Ok(rname));
            }
            Err(why) => {
                let rname = acl::acl_name(name);
                acls.retain(|a| a.name != rname);
                states.insert(name.clone(), AclState::Bad(line.no));
                skip(skipped, line, why);
            }
        }
    }
    (acls, states)
}

fn take_stats(f: &mut FrontPlan<'_>, b: &Proxy) {
    if f.stats.is_none() {
        f.stats = Some((
            b.s.stats.clone(),
            Some(format!(
                "stats page of backend {}: ringlb serves it on the frontend's listeners",
                b.name
            )),
        ));
    }
}

/// `use_backend NAME [if|unless COND]`; `Ok(None)` when the route is dropped on purpose.
fn route(
    line: &Line,
    mode: Mode,
    states: &HashMap<String, AclState>,
    backs: &HashMap<&str, &Proxy>,
    f: &mut FrontPlan<'_>,
) -> Result<Option<RouteOut>, String> {
    let name = line.words.get(1).ok_or("use_backend needs a backend")?;
    if name.contains("%[") {
        return Err("dynamic backend names have no ringlb equivalent".into());
    }
    let b = backs
        .get(name.as_str())
        .ok_or_else(|| format!("backend {name} is not defined"))?;
    if emit::mode(&b.s) != mode {
        return Err(format!(
            "backend {name} is in {} mode, this frontend in {}",
            emit::mode(&b.s).name(),
            mode.name()
        ));
    }
    let mut notes = Vec::new();
    let guard = match line.words.get(2).map(String::as_str) {
        None => None,
        Some(kw @ ("if" | "unless")) => {
            // Routes test no tracking counters in ringlb.
            let at = acl::Where {
                tcp: mode == Mode::Tcp,
                tls: f.p.tls.is_some(),
                track: 0,
            };
            let cond = acl::condition(
                line.words.get(3..).unwrap_or_default(),
                states,
                at,
                &mut notes,
            )?;
            let unless = kw == "unless";
            match (cond, unless) {
                (Cond::Always, false) | (Cond::Never, true) => None,
                (Cond::Never, false) | (Cond::Always, true) => {
                    f.notes
                        .push(format!("`{}`: never applies, left out", line.text));
                    return Ok(None);
                }
                (Cond::Text(t), false) => Some(("if", t)),
                (Cond::Text(t), true) => Some(("unless", t)),
            }
        }
        Some(other) => return Err(format!("expected `if` or `unless`, found `{other}`")),
    };
    if stats_only(b) {
        take_stats(f, b);
        f.notes.push(format!(
            "`{}` dropped: the stats page of {name} is served at its uri on this frontend",
            line.text
        ));
        return Ok(None);
    }
    Ok(Some(RouteOut {
        backend: name.clone(),
        guard,
        notes,
    }))
}

/// ringlb name of a default/route target.
fn target_name(t: &Target) -> String {
    match t {
        Target::Backend(b) => net::name(b),
        Target::Placeholder(m) => placeholder_name(*m).to_owned(),
    }
}

/// Forwardfor and connection mode: HAProxy combines the frontend's and the backend's options;
/// ringlb sets them per frontend, so the frontend takes what its backends ask for.
fn from_backends(
    f: &FrontPlan<'_>,
    backs: &HashMap<&str, &Proxy>,
    ff: Noted<bool>,
    conn: Noted<Conn>,
) -> (Noted<bool>, Noted<Conn>) {
    let mut used: Vec<&Proxy> = Vec::new();
    if let Target::Backend(b) = &f.default {
        used.extend(backs.get(b.as_str()));
    }
    for r in &f.routes {
        used.extend(backs.get(r.backend.as_str()));
    }
    used.retain(|b| !std::ptr::eq(*b, f.p));
    let mut ff = ff;
    if !ff.v {
        let with: Vec<&str> = used
            .iter()
            .filter(|b| b.s.forwardfor.as_ref().is_some_and(|n| n.v))
            .map(|b| b.name.as_str())
            .collect();
        if !with.is_empty() {
            let all = with.len() == used.len();
            ff = Noted::with_note(
                true,
                format!(
                    "option forwardfor is set in backend {}{}: ringlb sets it per frontend",
                    with.join(", "),
                    if all {
                        ""
                    } else {
                        " (not in every backend used here)"
                    }
                ),
            );
        }
    }
    let mut conn = conn;
    for b in &used {
        if let Some(c) = &b.s.connection {
            if c.v > conn.v {
                conn = Noted::with_note(
                    c.v,
                    format!(
                        "connection {} comes from backend {}: ringlb sets it per frontend",
                        c.v.name(),
                        b.name
                    ),
                );
            }
        }
    }
    (ff, conn)
}

/// `accept-proxy` of the plain `bind` lines: ringlb sets it once for a frontend's plain
/// listeners, so lines that differ from the first one are listed as not translated.
fn plain_accept_proxy(p: &Proxy, skipped: &mut Vec<Skipped>) -> bool {
    let Some(&(first_line, first)) = p.accept_proxy.first() else {
        return false;
    };
    for &(line, a) in p.accept_proxy.iter().skip(1) {
        if a != first {
            skipped.push(Skipped {
                line,
                text: if a {
                    "accept-proxy".into()
                } else {
                    "bind without accept-proxy".into()
                },
                why: format!(
                    "ringlb sets accept_proxy once for a frontend's plain listeners; line \
                     {first_line} {} it, so this listener {} too",
                    if first { "has" } else { "lacks" },
                    if first {
                        "expects a PROXY header"
                    } else {
                        "reads none"
                    },
                ),
            });
        }
    }
    first
}

pub(super) fn write(
    out: &mut Out,
    model: &Model,
    plans: &Plans<'_>,
    base: &Baseline,
    skipped: &mut Vec<Skipped>,
) {
    let backs = backends(model);
    let global_max = model.global.maxconn.unwrap_or(u32::MAX);
    let h2_used =
        super::h2::any_speaks_h2(plans.fronts.iter().map(|f| (f.p, f.mode)), &model.global);
    super::h2::unused(&model.global, h2_used, skipped);
    for f in &plans.fronts {
        let p = f.p;
        let name = out.proxy_header("frontend", p);
        for n in &f.notes {
            out.comment(n);
        }
        for b in p.binds.iter().filter_map(|b| b.note.as_ref()) {
            out.comment(b);
        }
        let binds: Vec<String> = p.binds.iter().map(|b| quote(&b.v)).collect();
        match binds.len() {
            0 => {}
            1 => out.kv("bind", binds.join(""), None),
            _ => out.kv("bind", format!("[{}]", binds.join(", ")), None),
        }
        out.kv("default_backend", quote(&target_name(&f.default)), None);
        let accept_proxy = plain_accept_proxy(p, skipped);
        if accept_proxy {
            out.kv("accept_proxy", "true", None);
        }

        let v = emit::front_vals(&p.s);
        if v.mode != base.front.mode {
            out.mode(v.mode, &p.s);
        }
        if let Some(m) = v.maxconn.filter(|m| Some(*m) != base.front.maxconn) {
            if m > global_max {
                out.kv(
                    "maxconn",
                    global_max.to_string(),
                    Some(&format!(
                        "maxconn {m} capped at the global maxconn (HAProxy caps it too)"
                    )),
                );
            } else {
                out.kv("maxconn", m.to_string(), None);
            }
        }
        if f.mode == Mode::Http {
            let (ff, conn) = from_backends(f, &backs, v.forwardfor.clone(), v.connection.clone());
            if emit::show(&ff, &base.front.forwardfor) {
                let note = ff.note.clone().or_else(|| {
                    (!ff.v).then(|| "no option forwardfor in HAProxy: no X-Forwarded-For".into())
                });
                out.kv("forwardfor", ff.v.to_string(), note.as_deref());
            }
            if emit::show(&conn, &base.front.connection) {
                out.kv("connection", quote(conn.v.name()), conn.note.as_deref());
            }
        }
        let defaults_note = model
            .single_defaults
            .as_ref()
            .and_then(|d| emit::log_note(d, base.front.mode));
        let own_note = emit::log_note(&p.s, f.mode);
        if v.log != base.front.log || (v.log && own_note != defaults_note) {
            let note = if v.log { own_note } else { None };
            out.kv("log", v.log.to_string(), note.as_deref());
        }
        if v.dontlognull != base.front.dontlognull {
            out.kv("dontlognull", v.dontlognull.to_string(), None);
        }
        // http frontends defer their accepts in ringlb whether or not HAProxy's did.
        if let (Mode::Tcp, Some(line)) = (f.mode, p.defer_accept) {
            out.kv(
                "defer_accept",
                "true",
                Some(&format!(
                    "defer-accept (line {line}): ringlb sets it for every listener of the frontend"
                )),
            );
        }
        emit::timeouts(out, &v.timeouts, base, !base.written);
        if let Some(t) = &p.tls {
            let t = super::h2::tls_of_mode(t, f.mode, skipped);
            super::tls::write(out, &name, &t, &model.global, accept_proxy);
        }
        super::h2::write(out, &name, f, &model.global, skipped);

        if !f.acls.is_empty() {
            out.header(&table("frontend", &name, Some("acl")));
            for a in &f.acls {
                for n in &a.notes {
                    out.comment(n);
                }
                let texts: Vec<String> = a.texts.iter().map(|t| quote(t)).collect();
                let value = if texts.len() == 1 {
                    texts.join("")
                } else {
                    format!("[{}]", texts.join(", "))
                };
                out.kv(&super::lex::key(&a.name), value, None);
            }
        }
        for r in &f.routes {
            out.header(&format!("[[frontend.{}.route]]", super::lex::key(&name)));
            for n in &r.notes {
                out.comment(n);
            }
            out.kv("backend", quote(&net::name(&r.backend)), None);
            if let Some((kw, cond)) = &r.guard {
                out.kv(kw, quote(cond), None);
            }
        }
        let section = format!("frontend.{}", super::lex::key(&name));
        if let Some((t, _)) = &f.track {
            out.header(&format!("[{section}.track]"));
            for n in &t.notes {
                out.comment(n);
            }
            for (k, v) in &t.keys {
                out.kv(k, v, None);
            }
        }
        super::rules::write(out, &section, &f.conn_rules, None);
        super::rules::write(out, &section, &f.rules, f.rules_note.as_deref());
        if f.mode == Mode::Http {
            super::rules::write_errorfiles(out, &section, &p.s.errorfiles);
        }
        if let Some((st, note)) = &f.stats {
            if f.mode == Mode::Tcp {
                skipped.push(Skipped {
                    line: p.line,
                    text: format!("stats enable (in {} {})", p.kind.name(), p.name),
                    why: "ringlb serves stats pages on http frontends only".into(),
                });
                continue;
            }
            out.header(&table("frontend", &name, Some("stats")));
            if let Some(n) = note {
                out.comment(n);
            }
            let mut admin_dropped = false;
            emit::stats_page(out, st, "/haproxy?stats", &mut admin_dropped);
            if admin_dropped {
                skipped.push(Skipped {
                    line: p.line,
                    text: format!("stats admin (in {} {})", p.kind.name(), p.name),
                    why: "ringlb allows admin actions only with stats auth users".into(),
                });
            }
        }
    }
}
