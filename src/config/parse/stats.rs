//! Stats pages: `[frontend.X.stats]` (on the frontend's own listeners) and `[stats]` (a
//! dedicated listener, which also serves Prometheus `/metrics`).

use std::net::SocketAddr;
use std::ops::Range;

use super::walk::{expect_str, Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::{Password, StatsListener, StatsPage, StatsUser};

const PAGE_KEYS: &[&str] = &["uri", "realm", "refresh", "users", "admin"];

pub(super) const FRONTEND_STATS: Schema = Schema {
    known: PAGE_KEYS,
    elsewhere: &[(
        "bind",
        "a frontend's stats page uses the frontend's listeners; for a listener of its own \
         write a top-level [stats] section",
    )],
    names: false,
};

const LISTENER: Schema = Schema {
    known: &["bind", "uri", "realm", "refresh", "users", "admin"],
    elsewhere: &[],
    names: false,
};

/// The page settings of `t`; `default_uri` differs between a frontend and the listener.
fn page(cx: &mut Cx<'_>, t: &Table<'_, '_>, default_uri: &str) -> StatsPage {
    let uri = match t.str(cx, "uri") {
        Some((u, span)) if !u.starts_with('/') || u.bytes().any(|b| b <= b' ' || b == 0x7f) => {
            cx.error_help(
                &span,
                format!("invalid stats uri \"{u}\""),
                "expected a path starting with '/', without spaces, e.g. \"/stats\"",
            );
            default_uri.to_owned()
        }
        Some((u, _)) => u.to_owned(),
        None => default_uri.to_owned(),
    };
    let realm = match t.str(cx, "realm") {
        Some((r, span))
            if r.is_empty() || r.contains(['"', '\\']) || r.chars().any(char::is_control) =>
        {
            cx.error_help(
                &span,
                format!("invalid stats realm \"{r}\""),
                "the realm is sent in a quoted header parameter: no '\"', '\\' or control \
                 characters",
            );
            def::STATS_REALM.to_owned()
        }
        Some((r, _)) => r.to_owned(),
        None => def::STATS_REALM.to_owned(),
    };
    let refresh = t.duration(cx, "refresh", false);
    let users = users(cx, t);
    let admin = t.bool(cx, "admin").unwrap_or(def::STATS_ADMIN);
    if admin && users.is_empty() && t.get("users").is_none() {
        let span = t.get("admin").map_or(t.span.clone(), |v| v.span());
        cx.error_help(
            &span,
            "`admin = true` without `users`",
            "runtime admin actions must be authenticated: add users = [\"NAME:PASSWORD\"]",
        );
    }
    StatsPage {
        uri,
        realm,
        refresh,
        users,
        admin,
    }
}

/// `users = ["name:password", …]`; a password `$5$…` / `$6$…` is a crypt(3) hash.
fn users(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Vec<StatsUser> {
    let Some(v) = t.get("users") else {
        return Vec::new();
    };
    let items: Vec<_> = match v.get_ref() {
        toml::de::DeValue::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut out: Vec<StatsUser> = Vec::new();
    for item in items {
        let Some(text) = expect_str(cx, "users", item) else {
            continue;
        };
        let span = item.span();
        let Some(user) = user(cx, text, &span) else {
            continue;
        };
        if out.iter().any(|u| u.name == user.name) {
            cx.error(
                &span,
                format!("stats user \"{}\" is listed twice", user.name),
            );
            continue;
        }
        out.push(user);
    }
    out
}

fn user(cx: &mut Cx<'_>, text: &str, span: &Range<usize>) -> Option<StatsUser> {
    let Some((name, password)) = text.split_once(':') else {
        cx.error_help(
            span,
            "stats user has no password",
            "write \"NAME:PASSWORD\"; the password may be a crypt hash \"$5$…\" or \"$6$…\"",
        );
        return None;
    };
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        cx.error_help(
            span,
            format!("invalid stats user name \"{name}\""),
            "write \"NAME:PASSWORD\" with a non-empty name without spaces",
        );
        return None;
    }
    if password.is_empty() {
        cx.error_help(
            span,
            format!("stats user \"{name}\" has an empty password"),
            "write \"NAME:PASSWORD\"",
        );
        return None;
    }
    let password = match crypt_id(password) {
        None => Password::Plain(password.to_owned()),
        Some("5" | "6") if password.split('$').filter(|p| !p.is_empty()).count() >= 3 => {
            Password::Crypt(password.to_owned())
        }
        Some(id @ ("5" | "6")) => {
            cx.error_help(
                span,
                format!("malformed ${id}$ hash for stats user \"{name}\""),
                format!(
                    "expected ${id}$[rounds=N$]SALT$HASH, as written by `mkpasswd -m sha-{}`",
                    if id == "5" { "256" } else { "512" }
                ),
            );
            return None;
        }
        Some(id) => {
            cx.error_help(
                span,
                format!("unsupported password hash ${id}$ for stats user \"{name}\""),
                "ringlb verifies $5$ (SHA-256) and $6$ (SHA-512) crypt hashes: \
                 `mkpasswd -m sha-512`",
            );
            return None;
        }
    };
    Some(StatsUser {
        name: name.to_owned(),
        password,
    })
}

/// `$ID$…` → ID, for passwords that look like crypt(3) hashes.
fn crypt_id(password: &str) -> Option<&str> {
    let rest = password.strip_prefix('$')?;
    let (id, _) = rest.split_once('$')?;
    let looks_like_id =
        !id.is_empty() && id.len() <= 3 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    looks_like_id.then_some(id)
}

pub(super) fn frontend_stats(cx: &mut Cx<'_>, frontend: &Table<'_, '_>) -> Option<StatsPage> {
    let t = frontend.table(cx, "stats", &FRONTEND_STATS)?;
    Some(page(cx, &t, def::FRONTEND_STATS_URI))
}

/// `[stats]` and the span of its bind, for the duplicate-bind check.
pub(super) fn listener(
    cx: &mut Cx<'_>,
    root: &Table<'_, '_>,
) -> Option<(StatsListener, Option<Range<usize>>)> {
    let t = root.table(cx, "stats", &LISTENER)?;
    let mut bind_span = None;
    let bind = match t.str(cx, "bind") {
        Some((text, span)) => match super::bind_address(cx, text, &span) {
            Some(addr) => {
                bind_span = Some(span);
                addr
            }
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
        },
        None => {
            if t.lacks("bind") {
                cx.error_help(
                    &t.span,
                    "[stats] has no `bind`",
                    "add bind = \"127.0.0.1:8404\"",
                );
            }
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    };
    let page = page(cx, &t, def::STATS_LISTENER_URI);
    Some((StatsListener { bind, page }, bind_span))
}
