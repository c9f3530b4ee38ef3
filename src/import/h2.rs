//! HTTP/2: `bind … proto h2` (h2 with prior knowledge on a plain listener) and the `global`
//! `tune.h2.*` limits → `[frontend.X.h2]`.
//!
//! HAProxy's `tune.h2.*` settings are global and cover both sides; ringlb's are per frontend
//! and cover clients only (servers stay HTTP/1.1). A limit that maps is written into every
//! http frontend that speaks h2 (`alpn h2` on its TLS listeners, or `proto h2`); the others
//! are reported.

use std::borrow::Cow;

use super::emit::{table, Out};
use super::front::FrontPlan;
use super::model::{Global, Mode, Proxy, TlsSpec};
use super::Skipped;

/// One `tune.h2.*` line that maps to a key of `[frontend.X.h2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tune {
    pub(super) line: usize,
    /// The `[frontend.X.h2]` key.
    pub(super) key: &'static str,
    pub(super) value: u32,
    pub(super) note: Option<String>,
}

/// The `tune.h2.*` directives that map: HAProxy name, ringlb key, the range ringlb accepts.
const MAPPED: &[(&str, &str, u32, u32)] = &[
    ("tune.h2.header-table-size", "header_table_size", 0, 65_536),
    (
        "tune.h2.initial-window-size",
        "initial_window_size",
        1024,
        i32::MAX as u32,
    ),
    (
        "tune.h2.fe.initial-window-size",
        "initial_window_size",
        1024,
        i32::MAX as u32,
    ),
    (
        "tune.h2.max-concurrent-streams",
        "max_concurrent_streams",
        1,
        100_000,
    ),
    (
        "tune.h2.fe.max-concurrent-streams",
        "max_concurrent_streams",
        1,
        100_000,
    ),
];

/// The `tune.h2.*` directives that do not map, and why.
const UNMAPPED: &[(&str, &str)] = &[
    (
        "tune.h2.max-frame-size",
        "ringlb announces no larger frames than RFC 9113's 16,384 bytes",
    ),
    (
        "tune.h2.fe.max-total-streams",
        "ringlb does not close a connection after a number of streams; its idle_timeout ends it",
    ),
    (
        "tune.h2.fe.glitches-threshold",
        "ringlb limits each abuse on its own: max_resets, max_continuation_frames, \
         max_settings, max_pings (see [frontend.X.h2])",
    ),
];

/// Whether a `global` directive is read here.
pub(super) fn is_global(head: &str) -> bool {
    head.starts_with("tune.h2.")
}

/// One `global` `tune.h2.*` line at `line`.
pub(super) fn global(g: &mut Global, line: usize, w: &[String]) -> Result<(), String> {
    let head = w.first().map_or("", String::as_str);
    if head.starts_with("tune.h2.be.") {
        return Err("ringlb speaks HTTP/1.1 to servers: no h2 settings toward them".into());
    }
    if let Some((_, why)) = UNMAPPED.iter().find(|(d, _)| *d == head) {
        return Err((*why).to_owned());
    }
    let Some(&(_, key, lo, hi)) = MAPPED.iter().find(|(d, ..)| *d == head) else {
        return Err("no ringlb equivalent".into());
    };
    let text = w.get(1).ok_or_else(|| format!("{head} needs a value"))?;
    let n: u32 = text
        .parse()
        .map_err(|_| format!("invalid {head} \"{text}\""))?;
    let value = n.clamp(lo, hi);
    let mut notes = Vec::new();
    if value != n {
        notes.push(format!("{head} {n} → {value} (ringlb accepts {lo}–{hi})"));
    }
    if !head.starts_with("tune.h2.fe.") {
        notes.push(format!(
            "{head} → {key}: for clients only, ringlb speaks HTTP/1.1 to servers"
        ));
    }
    // The last line of a key wins, as in HAProxy.
    g.h2.retain(|t| t.key != key);
    g.h2.push(Tune {
        line,
        key,
        value,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    });
    Ok(())
}

/// Whether the frontend speaks h2: `proto h2` on a plain listener, or `alpn` offering `h2`
/// on its TLS listeners (its own or `ssl-default-bind-alpn`).
fn speaks_h2(p: &Proxy, global: &Global) -> bool {
    let alpn = p.tls.as_ref().and_then(|t| {
        t.opts
            .alpn
            .clone()
            .or_else(|| global.tls_defaults.alpn.clone())
    });
    !p.h2_binds.is_empty() || alpn.is_some_and(|a| a.v.iter().any(|p| p == "h2"))
}

/// The TLS settings as a frontend of `mode` can have them: a tcp frontend offers no `h2`
/// (reported).
pub(super) fn tls_of_mode<'t>(
    t: &'t TlsSpec,
    mode: Mode,
    skipped: &mut Vec<Skipped>,
) -> Cow<'t, TlsSpec> {
    let has_h2 = t
        .opts
        .alpn
        .as_ref()
        .is_some_and(|a| a.v.iter().any(|p| p == "h2"));
    if mode != Mode::Tcp || !has_h2 {
        return Cow::Borrowed(t);
    }
    let why = "alpn h2 on a tcp frontend: ringlb reads HTTP/2 on http frontends only, h2 is not \
               offered";
    skipped.push(Skipped {
        line: t.line,
        text: "alpn h2".into(),
        why: why.into(),
    });
    let mut t = t.clone();
    if let Some(a) = t.opts.alpn.as_mut() {
        a.v.retain(|p| p != "h2");
        a.note = Some(why.to_owned());
    }
    Cow::Owned(t)
}

/// Writes `[frontend.NAME.h2]` when the frontend speaks h2 and has something to set there
/// (`cleartext`, a `tune.h2.*` limit); reports `proto h2` on a tcp frontend.
pub(super) fn write(
    out: &mut Out,
    name: &str,
    f: &FrontPlan<'_>,
    global: &Global,
    skipped: &mut Vec<Skipped>,
) {
    let (p, mode) = (f.p, f.mode);
    if mode == Mode::Tcp {
        for &line in &p.h2_binds {
            skipped.push(Skipped {
                line,
                text: "proto h2".into(),
                why: "a tcp frontend relays bytes: ringlb reads HTTP/2 on http frontends only"
                    .into(),
            });
        }
        return;
    }
    if !speaks_h2(p, global) || (p.h2_binds.is_empty() && global.h2.is_empty()) {
        return;
    }
    out.header(&table("frontend", name, Some("h2")));
    if let Some(&first) = p.h2_binds.first() {
        let all = p.binds.len() > 1;
        let note = format!(
            "proto h2 (line {first}) → cleartext: {} take h2 with prior knowledge and still \
             serve HTTP/1.1 (HAProxy's `proto h2` listener speaks h2 only)",
            if all {
                "all plain listeners of this frontend"
            } else {
                "the plain listener"
            }
        );
        out.kv("cleartext", "true", Some(&note));
    }
    for t in &global.h2 {
        out.kv(t.key, t.value.to_string(), t.note.as_deref());
    }
}

/// The `tune.h2.*` lines that no frontend used: none speaks h2.
pub(super) fn unused(global: &Global, used: bool, skipped: &mut Vec<Skipped>) {
    if used {
        return;
    }
    for t in &global.h2 {
        skipped.push(Skipped {
            line: t.line,
            text: format!("tune.h2 → {}", t.key),
            why: "no http frontend speaks h2 (alpn h2 or proto h2): nothing to apply it to".into(),
        });
    }
}

/// Whether any http frontend of `proxies` speaks h2 (so that the `tune.h2.*` limits went
/// somewhere).
pub(super) fn any_speaks_h2<'a>(
    fronts: impl IntoIterator<Item = (&'a Proxy, Mode)>,
    global: &Global,
) -> bool {
    fronts
        .into_iter()
        .any(|(p, mode)| mode == Mode::Http && speaks_h2(p, global))
}
