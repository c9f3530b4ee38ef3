//! `[frontend.X.track]`: the frontend's per-client tracking table (`crate::track`), its
//! connection rules (`[[frontend.X.connection_rule]]`, evaluated when a connection opens), and
//! the check that the counters conditions test (`sc_*`) have a table to come from.

use super::routing::parse_guard;
use super::walk::{Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::Mode;
use crate::route::{Acl, Criterion, Guard, Test};
use crate::rules::MAX_RULES;
use crate::track::{Counter, KeyKind, Spec, MAX_SIZE, MIN_PERIOD, RATES};

const TRACK: Schema = Schema {
    known: &[
        "key",
        "size",
        "expire",
        "period",
        "conn_rate_period",
        "http_req_rate_period",
        "http_err_rate_period",
        "bytes_in_rate_period",
        "bytes_out_rate_period",
    ],
    elsewhere: &[],
    names: false,
};

/// The table of a frontend, if it has one.
pub(super) fn parse_track(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    frontend: &str,
    mode: Option<Mode>,
) -> Option<Spec> {
    let tt = t.table(cx, "track", &TRACK)?;
    let key = match tt.str(cx, "key") {
        None => KeyKind::Src,
        Some((text, span)) => match key_kind(text) {
            Some(KeyKind::Src) => KeyKind::Src,
            Some(_) if mode == Some(Mode::Tcp) => {
                cx.error_help(
                    &span,
                    format!(
                        "frontend \"{frontend}\" is in tcp mode: it has no requests to take \"{text}\" from"
                    ),
                    "a tcp frontend tracks its clients by address: key = \"src\"",
                );
                return None;
            }
            Some(k) => k,
            None => {
                cx.error_help(
                    &span,
                    format!("unknown tracking key \"{text}\""),
                    "write \"src\" (the client address), \"hdr(NAME)\" or \"cookie(NAME)\"",
                );
                return None;
            }
        },
    };
    let size = tt.u32(cx, "size", 1..=MAX_SIZE).unwrap_or(def::TRACK_SIZE);
    let expire = tt
        .duration(cx, "expire", false)
        .unwrap_or(def::TRACK_EXPIRE);
    let period = |cx: &mut Cx<'_>, key: &str, or: std::time::Duration| {
        let d = tt.duration(cx, key, false)?;
        if d < MIN_PERIOD {
            let span = tt.get(key).map_or(tt.span.clone(), |v| v.span());
            cx.error_help(
                &span,
                format!("`{key}` is shorter than {MIN_PERIOD:?}"),
                "rates are counted over periods of a second or more, e.g. \"10s\"",
            );
            return Some(or);
        }
        Some(d)
    };
    let base = period(cx, "period", def::TRACK_PERIOD).unwrap_or(def::TRACK_PERIOD);
    let mut periods = [base; RATES];
    for c in Counter::ALL {
        let Some(i) = c.rate() else { continue };
        let key = format!("{}_period", c.name());
        if let (Some(d), Some(p)) = (period(cx, &key, base), periods.get_mut(i)) {
            *p = d;
        }
    }
    Some(Spec {
        key,
        size,
        expire,
        periods,
    })
}

const CONNECTION_RULE: Schema = Schema {
    known: &["action", "if", "unless"],
    elsewhere: &[],
    names: false,
};

/// `[[frontend.X.connection_rule]]`: when a new connection is closed at once (HAProxy's
/// `tcp-request connection reject`). Only what is known when a connection opens may be tested:
/// the client address and, in a table keyed by it, the client's counters. `fe`: the
/// frontend's name and mode.
pub(super) fn parse_connection_rules(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    fe: (&str, Option<Mode>),
    acls: &[Acl],
    track: Option<&Spec>,
) -> Vec<Guard> {
    let (frontend, mode) = fe;
    let Some(tables) = t.array_of_tables(cx, "connection_rule", &CONNECTION_RULE) else {
        return Vec::new();
    };
    let span = t.key_span("connection_rule").unwrap_or(t.span.clone());
    if tables.is_empty() {
        return Vec::new();
    }
    let Some(spec) = track else {
        cx.error_help(
            &span,
            format!("frontend \"{frontend}\" has connection rules but tracks no client"),
            format!(
                "add [frontend.{frontend}.track] (key = \"src\"): rejected connections are counted there"
            ),
        );
        return Vec::new();
    };
    if tables.len() > MAX_RULES {
        cx.error_help(
            &span,
            format!(
                "frontend \"{frontend}\" has {} connection_rules; at most {MAX_RULES} are allowed",
                tables.len()
            ),
            "merge rules with one condition (`if \"a || b\"`)",
        );
        return Vec::new();
    }
    let names: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    tables
        .iter()
        .filter_map(|rt| {
            let guard = parse_guard(cx, rt, &names, ("frontend", frontend), mode);
            match rt.str(cx, "action") {
                Some(("reject", _)) => {}
                Some((other, span)) => {
                    cx.error_help(
                        &span,
                        format!("unknown connection rule action \"{other}\""),
                        "a connection rule's action is \"reject\" (close the connection at once)",
                    );
                    return None;
                }
                None => {
                    if rt.lacks("action") {
                        cx.error_help(
                            &rt.span,
                            format!("{} has no `action`", rt.shown()),
                            "add action = \"reject\"",
                        );
                    }
                    return None;
                }
            }
            let cond_span = rt
                .get("if")
                .or_else(|| rt.get("unless"))
                .map_or(rt.span.clone(), |v| v.span());
            if guard_tests(&guard, acls, |c| {
                !matches!(c, Criterion::Src(_)) && !c.tracks()
            }) {
                cx.error_help(
                    &cond_span,
                    "a connection rule tests what a connection does not have yet",
                    "when a connection opens only the client address (`src`) and its counters \
                     (`sc_*`) are known; test the rest in a request_rule",
                );
                return None;
            }
            if spec.key != KeyKind::Src && guard_tracks(&guard, acls) {
                cx.error_help(
                    &cond_span,
                    format!(
                        "a connection rule tests counters of a table keyed by {}",
                        spec.key.shown()
                    ),
                    "a connection's counters are known when the table's key is \"src\"; test \
                     these in a request_rule",
                );
                return None;
            }
            Some(guard)
        })
        .collect()
}

/// `src`, `hdr(NAME)`, `cookie(NAME)` (also HAProxy's `req.hdr(NAME)`, `req.cook(NAME)`).
pub(crate) fn key_kind(text: &str) -> Option<KeyKind> {
    if text == "src" {
        return Some(KeyKind::Src);
    }
    let (f, rest) = text.split_once('(')?;
    let name = rest.strip_suffix(')')?;
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return None;
    }
    match f {
        "hdr" | "req.hdr" => Some(KeyKind::Header(name.to_ascii_lowercase())),
        "cookie" | "req.cook" => Some(KeyKind::Cookie(name.to_owned())),
        _ => None,
    }
}

/// Whether `guard` tests a counter, inline or through one of `acls`.
pub(super) fn guard_tracks(guard: &Guard, acls: &[Acl]) -> bool {
    guard_tests(guard, acls, Criterion::tracks)
}

/// Whether `guard` tests a criterion satisfying `pred`, inline or through one of `acls`.
fn guard_tests(guard: &Guard, acls: &[Acl], pred: impl Fn(&Criterion) -> bool) -> bool {
    let c = match guard {
        Guard::Always => return false,
        Guard::If(c) | Guard::Unless(c) => c,
    };
    c.any_of.iter().flatten().any(|t| match &t.test {
        Test::Inline(c) => pred(c),
        Test::Acl(name) => acls
            .iter()
            .filter(|a| a.name == *name)
            .any(|a| a.criteria.iter().any(&pred)),
    })
}
