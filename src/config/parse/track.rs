//! `[frontend.X.track]`: the frontend's per-client tracking table (`crate::track`), and the
//! check that the counters conditions test (`sc_*`) have a table to come from.

use super::walk::{Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::Mode;
use crate::route::{Acl, Criterion, Guard, Test};
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
    if mode == Some(Mode::Tcp) {
        let span = t.key_span("track").unwrap_or(tt.span.clone());
        cx.error_help(
            &span,
            format!("frontend \"{frontend}\" is in tcp mode: tracking counts HTTP clients"),
            "track clients on an http frontend",
        );
        return None;
    }
    let key = match tt.str(cx, "key") {
        None => KeyKind::Src,
        Some((text, span)) => match key_kind(text) {
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
    let c = match guard {
        Guard::Always => return false,
        Guard::If(c) | Guard::Unless(c) => c,
    };
    c.any_of.iter().flatten().any(|t| match &t.test {
        Test::Inline(c) => c.tracks(),
        Test::Acl(name) => acls
            .iter()
            .filter(|a| a.name == *name)
            .any(|a| a.criteria.iter().any(Criterion::tracks)),
    })
}
