//! `[[frontend.X.request_rule]]`, `[[frontend.X.response_rule]]` (the same in a backend) and
//! `[frontend.X.errorfile]` / `[backend.X.errorfile]`.
//!
//! Each rule is checked whole here: its action's keys (and no other), header names and values
//! that cannot break a head (no CR, LF or NUL), regexes compiled, statuses and redirect codes
//! in range, its condition parsed by `crate::route`. Files (a `return` body, an errorfile) are
//! only named here, with their place; they are read and checked when the config is compiled,
//! and a problem is reported at that place.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use regex::bytes::Regex;

use super::routing::parse_guard;
use super::walk::{Cx, Schema, Table};
use crate::config::{ErrorFile, Mode, RuleDef};
use crate::rules::{
    Action, Body, Pattern, RedirectTo, Rule, DENY_STATUSES, ERRORFILE_STATUSES, MAX_RULES,
    REDIRECT_CODES,
};

/// A tarpit's delay when none is given (HAProxy's `timeout tarpit` defaults to the connect
/// timeout, often 5s).
const TARPIT_DELAY: Duration = Duration::from_secs(5);
/// Longest tarpit: the client's connection is held open meanwhile.
const MAX_TARPIT: Duration = Duration::from_secs(60);
/// A tarpit's status when none is given: HAProxy's 500 would count against the servers in
/// clients' eyes; 429 says who is at fault.
const TARPIT_STATUS: u16 = 429;
/// Largest `Retry-After` (a day).
const MAX_RETRY_AFTER: u32 = 86_400;

const RULE: Schema = Schema {
    known: &[
        "action",
        "name",
        "value",
        "regex",
        "replace",
        "location",
        "prefix",
        "scheme",
        "code",
        "drop_query",
        "status",
        "content_type",
        "body",
        "file",
        "retry_after",
        "delay",
        "if",
        "unless",
    ],
    elsewhere: &[],
    names: false,
};

const ACTIONS: &[&str] = &[
    "set_header",
    "add_header",
    "del_header",
    "replace_header",
    "set_path",
    "set_query",
    "redirect",
    "deny",
    "return",
    "tarpit",
];

/// The keys each action takes besides `action`, `if` and `unless`.
fn keys_of(action: &str) -> &'static [&'static str] {
    match action {
        "set_header" | "add_header" => &["name", "value"],
        "del_header" => &["name"],
        "replace_header" => &["name", "regex", "replace"],
        "set_path" | "set_query" => &["value"],
        "redirect" => &["location", "prefix", "scheme", "code", "drop_query"],
        "deny" => &["status"],
        "return" => &["status", "content_type", "body", "file", "retry_after"],
        "tarpit" => &["status", "delay"],
        _ => &[],
    }
}

/// The section whose rules are read: `("frontend", "www")`, its mode and its ACL names.
pub(super) struct Owner<'a> {
    pub(super) kind: &'a str,
    pub(super) name: &'a str,
    pub(super) mode: Option<Mode>,
    pub(super) acls: &'a [&'a str],
}

/// The request rules and the response rules of a section.
pub(super) fn parse_rules(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    owner: &Owner<'_>,
) -> (Vec<RuleDef>, Vec<RuleDef>) {
    let req = rule_list(cx, t, owner, "request_rule");
    let res = rule_list(cx, t, owner, "response_rule");
    (req, res)
}

fn rule_list(cx: &mut Cx<'_>, t: &Table<'_, '_>, owner: &Owner<'_>, key: &str) -> Vec<RuleDef> {
    let Some(tables) = t.array_of_tables(cx, key, &RULE) else {
        return Vec::new();
    };
    let response = key == "response_rule";
    if owner.mode == Some(Mode::Tcp) && !tables.is_empty() {
        let span = t.key_span(key).unwrap_or(t.span.clone());
        cx.error_help(
            &span,
            format!(
                "{} \"{}\" is in tcp mode: rules act on HTTP requests and responses",
                owner.kind, owner.name
            ),
            "put rules on an http frontend or backend",
        );
        return Vec::new();
    }
    if tables.len() > MAX_RULES {
        let span = t.key_span(key).unwrap_or(t.span.clone());
        cx.error_help(
            &span,
            format!(
                "{} \"{}\" has {} {key}s; at most {MAX_RULES} are allowed",
                owner.kind,
                owner.name,
                tables.len()
            ),
            "merge rules with one condition (`if \"a || b\"`)",
        );
    }
    tables
        .iter()
        .filter_map(|rt| {
            let rule = parse_rule(cx, rt, owner, response)?;
            Some(RuleDef {
                rule,
                place: cx.place(rt.span.start),
            })
        })
        .collect()
}

fn parse_rule(
    cx: &mut Cx<'_>,
    rt: &Table<'_, '_>,
    owner: &Owner<'_>,
    response: bool,
) -> Option<Rule> {
    let guard = parse_guard(cx, rt, owner.acls, (owner.kind, owner.name), owner.mode);
    let Some((action, action_span)) = rt.str(cx, "action") else {
        if rt.lacks("action") {
            cx.error_help(
                &rt.span,
                format!("{} has no `action`", rt.shown()),
                format!("add action = \"…\", one of: {}", ACTIONS.join(", ")),
            );
        }
        return None;
    };
    if !ACTIONS.contains(&action) {
        let help = match super::walk::suggest(action, ACTIONS.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None => format!("expected one of: {}", ACTIONS.join(", ")),
        };
        cx.error_help(
            &action_span,
            format!("unknown rule action \"{action}\""),
            help,
        );
        return None;
    }
    let allowed = keys_of(action);
    let mut ok = true;
    for (k, span, _) in rt.entries() {
        if matches!(k, "action" | "if" | "unless")
            || allowed.contains(&k)
            || !RULE.known.contains(&k)
        {
            continue;
        }
        ok = false;
        cx.error_help(
            &span,
            format!("`{k}` does not apply to action \"{action}\""),
            format!("\"{action}\" takes: {}", allowed.join(", ")),
        );
    }
    let act = match action {
        "set_header" | "add_header" => {
            let name = header_name(cx, rt)?;
            let value = text(cx, rt, "value", true)?;
            if action == "set_header" {
                Action::SetHeader { name, value }
            } else {
                Action::AddHeader { name, value }
            }
        }
        "del_header" => Action::DelHeader {
            name: header_name(cx, rt)?,
        },
        "replace_header" => {
            let name = header_name(cx, rt);
            let regex = regex(cx, rt);
            let with = text(cx, rt, "replace", true);
            Action::ReplaceHeader {
                name: name?,
                regex: regex?,
                with: with?,
            }
        }
        "set_path" => {
            let (value, span) = required(cx, rt, "value")?;
            if !value.starts_with('/') || !value.bytes().all(uri_byte) {
                cx.error_help(
                    &span,
                    format!("invalid path \"{value}\""),
                    "a path starts with '/' and has no spaces or control characters",
                );
                return None;
            }
            Action::SetPath {
                value: value.to_owned(),
            }
        }
        "set_query" => {
            let (value, span) = required(cx, rt, "value")?;
            let value = value.strip_prefix('?').unwrap_or(value);
            if !value.bytes().all(|b| uri_byte(b) && b != b'#') {
                cx.error_help(
                    &span,
                    format!("invalid query \"{value}\""),
                    "a query has no spaces, '#' or control characters; \"\" removes the query",
                );
                return None;
            }
            Action::SetQuery {
                value: value.to_owned(),
            }
        }
        "redirect" => redirect(cx, rt)?,
        "deny" => {
            let status = status(cx, rt, 403, DENY_STATUSES)?;
            Action::Deny { status }
        }
        "return" => {
            let status = match rt.u32(cx, "status", 200..=599) {
                Some(s) => u16::try_from(s).ok()?,
                None if rt.get("status").is_some() => return None,
                None => 200,
            };
            let content_type = match rt.str(cx, "content_type") {
                Some((ct, span)) => {
                    if !ct.bytes().all(value_byte) || ct.is_empty() {
                        cx.error(&span, format!("invalid content type \"{ct}\""));
                        return None;
                    }
                    ct.to_owned()
                }
                None => "text/plain".to_owned(),
            };
            let body = match (rt.str(cx, "body"), rt.str(cx, "file")) {
                (Some(_), Some((_, span))) => {
                    cx.error_help(
                        &span,
                        "a return has both `body` and `file`",
                        "keep one: `body` is the text itself, `file` names a file read at load",
                    );
                    return None;
                }
                (Some((b, _)), None) => Body::Inline(b.to_owned()),
                (None, Some((f, _))) => Body::File(PathBuf::from(f)),
                (None, None) => Body::Inline(String::new()),
            };
            let retry_after = match rt.u32(cx, "retry_after", 0..=MAX_RETRY_AFTER) {
                Some(s) => Some(s),
                None if rt.get("retry_after").is_some() => return None,
                None => None,
            };
            Action::Return {
                status,
                content_type,
                body,
                retry_after,
            }
        }
        "tarpit" => {
            let status = status(cx, rt, TARPIT_STATUS, DENY_STATUSES)?;
            let delay = match rt.duration(cx, "delay", false) {
                Some(d) if d > MAX_TARPIT => {
                    let span = rt.get("delay").map_or(rt.span.clone(), |v| v.span());
                    cx.error_help(
                        &span,
                        format!("tarpit delay {d:?} is longer than {MAX_TARPIT:?}"),
                        "a tarpit holds a connection open: keep it short, e.g. \"5s\"",
                    );
                    return None;
                }
                Some(d) => d,
                None if rt.get("delay").is_some() => return None,
                None => TARPIT_DELAY,
            };
            Action::Tarpit { status, delay }
        }
        _ => return None,
    };
    if response && !act.on_responses() {
        cx.error_help(
            &action_span,
            format!("action \"{action}\" is for requests, not responses"),
            "a response_rule may set_header, add_header, del_header or replace_header",
        );
        return None;
    }
    ok.then_some(Rule { action: act, guard })
}

fn redirect(cx: &mut Cx<'_>, rt: &Table<'_, '_>) -> Option<Action> {
    let given: Vec<(&str, &str, Range<usize>)> = ["location", "prefix", "scheme"]
        .iter()
        .filter_map(|k| rt.str(cx, k).map(|(v, s)| (*k, v, s)))
        .collect();
    let (key, value, span) = match given.as_slice() {
        [one] => one.clone(),
        [] => {
            cx.error_help(
                &rt.span,
                format!("{} redirects nowhere", rt.shown()),
                "add one of location = \"URL\", prefix = \"URL\" or scheme = \"https\"",
            );
            return None;
        }
        [_, (_, _, span), ..] => {
            cx.error_help(
                span,
                "a redirect takes one of `location`, `prefix` and `scheme`",
                "keep one",
            );
            return None;
        }
    };
    let valid = match key {
        "scheme" => {
            !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => !value.is_empty() && value.bytes().all(uri_byte),
    };
    if !valid {
        cx.error_help(
            &span,
            format!("invalid redirect {key} \"{value}\""),
            "no spaces or control characters; a scheme is letters, digits, '+', '-', '.'",
        );
        return None;
    }
    let to = match key {
        "location" => RedirectTo::Location(value.to_owned()),
        "prefix" => RedirectTo::Prefix(value.to_owned()),
        _ => RedirectTo::Scheme(value.to_owned()),
    };
    let code = match rt.get("code") {
        Some(v) => {
            let n = super::walk::expect_u32(cx, "code", v, 300..=399)?;
            let n = u16::try_from(n).ok()?;
            if !REDIRECT_CODES.contains(&n) {
                cx.error_help(
                    &v.span(),
                    format!("redirect code {n} is not allowed"),
                    "use 301, 302, 303, 307 or 308",
                );
                return None;
            }
            n
        }
        None => 302,
    };
    Some(Action::Redirect {
        to,
        code,
        drop_query: rt.bool(cx, "drop_query").unwrap_or(false),
    })
}

fn status(cx: &mut Cx<'_>, rt: &Table<'_, '_>, default: u16, allowed: &[u16]) -> Option<u16> {
    let Some(v) = rt.get("status") else {
        return Some(default);
    };
    let n = super::walk::expect_u32(cx, "status", v, 100..=599)?;
    let n = u16::try_from(n).ok()?;
    if !allowed.contains(&n) {
        let list: Vec<String> = allowed.iter().map(u16::to_string).collect();
        cx.error_help(
            &v.span(),
            format!("status {n} is not one ringlb has a page for"),
            format!("use one of: {}", list.join(", ")),
        );
        return None;
    }
    Some(n)
}

fn required<'t>(cx: &mut Cx<'_>, rt: &Table<'t, '_>, key: &str) -> Option<(&'t str, Range<usize>)> {
    let got = rt.str(cx, key);
    if got.is_none() && rt.lacks(key) {
        cx.error_help(
            &rt.span,
            format!("{} has no `{key}`", rt.shown()),
            format!("add {key} = \"…\""),
        );
    }
    got
}

/// A header field name: an HTTP token.
fn header_name(cx: &mut Cx<'_>, rt: &Table<'_, '_>) -> Option<String> {
    let (name, span) = required(cx, rt, "name")?;
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        cx.error_help(
            &span,
            format!("invalid header name \"{name}\""),
            "a header name is letters, digits and !#$%&'*+-.^_`|~ (no spaces or ':')",
        );
        return None;
    }
    Some(name.to_owned())
}

/// A string that goes into a head: no CR, LF, NUL or other control characters but tab.
fn text(cx: &mut Cx<'_>, rt: &Table<'_, '_>, key: &str, needed: bool) -> Option<String> {
    let (v, span) = if needed {
        required(cx, rt, key)?
    } else {
        rt.str(cx, key)?
    };
    if !v.bytes().all(value_byte) {
        cx.error_help(
            &span,
            format!("`{key}` holds a control character"),
            "header values cannot hold CR, LF, NUL or other control characters",
        );
        return None;
    }
    Some(v.to_owned())
}

fn regex(cx: &mut Cx<'_>, rt: &Table<'_, '_>) -> Option<Pattern> {
    let (text, span) = required(cx, rt, "regex")?;
    match Regex::new(text) {
        Ok(r) => Some(Pattern(r)),
        Err(e) => {
            let why = e.to_string();
            let last = why
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            cx.error_help(
                &span,
                format!("invalid regex \"{text}\": {}", last.trim()),
                "the syntax is Rust's regex crate (RE2-like): no look-around or backreferences",
            );
            None
        }
    }
}

fn value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

fn uri_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f
}

/// `[SECTION.errorfile]`: `STATUS = "PATH"` for statuses ringlb answers itself.
pub(super) fn parse_errorfiles(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    mode: Option<Mode>,
) -> Vec<ErrorFile> {
    let mut out = Vec::new();
    let Some(table) = t.table(cx, "errorfile", &Schema::NAMES) else {
        return out;
    };
    if mode == Some(Mode::Tcp) {
        let span = t.key_span("errorfile").unwrap_or(t.span.clone());
        cx.error_help(
            &span,
            "error pages are HTTP responses: this section is in tcp mode",
            "set errorfile on an http frontend or backend",
        );
        return out;
    }
    for (key, key_span, value) in table.entries() {
        let status = key
            .parse::<u16>()
            .ok()
            .filter(|s| ERRORFILE_STATUSES.contains(s));
        let Some(status) = status else {
            let list: Vec<String> = ERRORFILE_STATUSES.iter().map(u16::to_string).collect();
            cx.error_help(
                &key_span,
                format!("no error page for status \"{key}\""),
                format!("ringlb answers these itself: {}", list.join(", ")),
            );
            continue;
        };
        let Some(path) = super::walk::expect_str(cx, key, value) else {
            continue;
        };
        if path.is_empty() {
            cx.error(&value.span(), "empty errorfile path");
            continue;
        }
        out.push(ErrorFile {
            status,
            path: PathBuf::from(path),
            place: cx.place(value.span().start),
        });
    }
    out
}
