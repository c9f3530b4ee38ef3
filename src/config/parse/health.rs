//! Health checks (`[backend.X.check]`, `[backend.X.passive]`, per-server overrides) and cookie
//! persistence (`[backend.X.cookie]`, server `cookie`).

use std::ops::Range;
use std::time::Duration;

use toml::de::DeValue;

use super::walk::{expect_int, kind, Cx, Schema, Table, Value};
use super::Section;
use crate::config::defaults as def;
use crate::config::{Check, CheckKind, Cookie, CookieMode, HttpCheck, Mode, Passive, StatusRange};

const CHECK: Schema = Schema {
    known: &[
        "type",
        "method",
        "path",
        "host",
        "expect_status",
        "inter",
        "fastinter",
        "downinter",
        "rise",
        "fall",
        "timeout",
        "send_proxy",
    ],
    elsewhere: &[],
    names: false,
};

const PASSIVE: Schema = Schema {
    known: &["errors"],
    elsewhere: &[],
    names: false,
};

const COOKIE: Schema = Schema {
    known: &[
        "name", "mode", "indirect", "nocache", "httponly", "secure", "domain", "maxidle", "maxlife",
    ],
    elsewhere: &[],
    names: false,
};

#[derive(Clone, Copy)]
enum Type {
    Tcp,
    Http,
}

const TYPES: &[(&str, Type)] = &[("tcp", Type::Tcp), ("http", Type::Http)];
const COOKIE_MODES: &[(&str, CookieMode)] = &[
    ("insert", CookieMode::Insert),
    ("prefix", CookieMode::Prefix),
    ("rewrite", CookieMode::Rewrite),
];
const HTTP_ONLY_KEYS: &[&str] = &["method", "path", "host", "expect_status"];

/// The backend's check plus what servers need to apply their overrides: which intervals were
/// written (a default follows the server's own `inter`) and the connect timeout.
pub(super) struct CheckDraft {
    pub(super) check: Check,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
    timeout: Option<Duration>,
    connect: Duration,
    /// `send_proxy` as written: servers that send PROXY headers have them on checks too
    /// unless this says `false` (HAProxy's default).
    pub(super) send_proxy: Option<bool>,
}

pub(super) fn parse_check(
    cx: &mut Cx<'_>,
    backend: &Table<'_, '_>,
    connect: Duration,
) -> Option<CheckDraft> {
    let t = backend.table(cx, "check", &CHECK)?;
    let ty = t.enum_of(cx, "type", "check type", TYPES);
    let kind = match ty {
        Some(Type::Http) => CheckKind::Http(HttpCheck {
            method: token(cx, &t, "method").unwrap_or_else(|| def::CHECK_METHOD.to_owned()),
            path: check_path(cx, &t).unwrap_or_else(|| def::CHECK_PATH.to_owned()),
            host: header_text(cx, &t, "host"),
            expect_status: t
                .get("expect_status")
                .map(|v| statuses(cx, v))
                .unwrap_or_else(|| vec![def::CHECK_EXPECT_STATUS]),
        }),
        Some(Type::Tcp) | None => {
            // Only complain about http keys when the type itself is valid or absent.
            if ty.is_some() || t.get("type").is_none() {
                for key in HTTP_ONLY_KEYS {
                    if let Some(span) = t.key_span(key) {
                        cx.error_help(
                            &span,
                            format!("`{key}` applies to http checks only"),
                            format!("add type = \"http\" to {}", t.shown()),
                        );
                    }
                }
            }
            CheckKind::Tcp
        }
    };
    let inter = t.duration(cx, "inter", false).unwrap_or(def::CHECK_INTER);
    let send_proxy = t.bool(cx, "send_proxy");
    let fastinter = t.duration(cx, "fastinter", false);
    let downinter = t.duration(cx, "downinter", false);
    let timeout = t.duration(cx, "timeout", false);
    let rise = t
        .u32(cx, "rise", 1..=def::MAX_RISE_FALL)
        .unwrap_or(def::CHECK_RISE);
    let fall = t
        .u32(cx, "fall", 1..=def::MAX_RISE_FALL)
        .unwrap_or(def::CHECK_FALL);
    Some(CheckDraft {
        check: Check {
            kind,
            inter,
            fastinter: fastinter.unwrap_or(inter),
            downinter: downinter.unwrap_or(inter),
            rise,
            fall,
            timeout: timeout.unwrap_or(inter.min(connect)),
            // The version is the server's; see `parse_server`.
            send_proxy: (send_proxy == Some(true)).then_some(crate::config::ProxyVersion::V1),
        },
        send_proxy,
        fastinter,
        downinter,
        timeout,
        connect,
    })
}

/// A method for the check request (an HTTP token).
fn token(cx: &mut Cx<'_>, t: &Table<'_, '_>, key: &str) -> Option<String> {
    let (v, span) = t.str(cx, key)?;
    let ok = !v.is_empty() && v.bytes().all(is_token);
    if !ok {
        cx.error_help(
            &span,
            format!("invalid HTTP method \"{v}\" for `{key}`"),
            "e.g. \"GET\", \"HEAD\", \"OPTIONS\"",
        );
        return None;
    }
    Some(v.to_owned())
}

fn check_path(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Option<String> {
    let (v, span) = t.str(cx, "path")?;
    if !v.starts_with('/') || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
        cx.error_help(
            &span,
            format!("invalid check path \"{v}\""),
            "expected an origin-form target starting with '/', without spaces, e.g. \"/health\"",
        );
        return None;
    }
    Some(v.to_owned())
}

/// Text that goes into a header value: no control characters, not empty.
fn header_text(cx: &mut Cx<'_>, t: &Table<'_, '_>, key: &str) -> Option<String> {
    let (v, span) = t.str(cx, key)?;
    if v.is_empty() || v.chars().any(|c| c.is_control() || c == ' ') {
        cx.error(
            &span,
            format!("invalid `{key}` \"{v}\": empty or containing spaces or control characters"),
        );
        return None;
    }
    Some(v.to_owned())
}

/// `expect_status`: a code or range, or a list of them; codes may be integers or strings.
fn statuses(cx: &mut Cx<'_>, v: &Value<'_>) -> Vec<StatusRange> {
    let items: Vec<&Value<'_>> = match v.get_ref() {
        DeValue::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    let out: Vec<StatusRange> = items.into_iter().filter_map(|i| status(cx, i)).collect();
    if out.is_empty() && matches!(v.get_ref(), DeValue::Array(a) if a.is_empty()) {
        cx.error_help(
            &v.span(),
            "`expect_status` is empty",
            "list the codes that mean healthy, e.g. [\"200-399\"]",
        );
    }
    out
}

fn status(cx: &mut Cx<'_>, v: &Value<'_>) -> Option<StatusRange> {
    let text = match v.get_ref() {
        DeValue::Integer(_) => expect_int(cx, "expect_status", v)?.to_string(),
        DeValue::String(s) => s.to_string(),
        other => {
            cx.error(
                &v.span(),
                format!(
                    "expected a status code or range for `expect_status`, found {}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    let range = match text.split_once('-') {
        Some((lo, hi)) => code(lo).zip(code(hi)).filter(|(lo, hi)| lo <= hi),
        None => code(&text).map(|c| (c, c)),
    };
    match range {
        Some((lo, hi)) => Some(StatusRange { lo, hi }),
        None => {
            cx.error_help(
                &v.span(),
                format!("invalid status \"{text}\" in `expect_status`"),
                "expected a code 100-599 or a range LOW-HIGH, e.g. \"200\" or \"200-399\"",
            );
            None
        }
    }
}

/// The check one server runs: the backend's, with the server's overrides.
pub(super) fn server_check(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    draft: Option<&CheckDraft>,
) -> Option<Check> {
    let enabled = t.bool(cx, "check");
    let inter = t.duration(cx, "inter", false);
    let fastinter = t.duration(cx, "fastinter", false);
    let downinter = t.duration(cx, "downinter", false);
    let rise = t.u32(cx, "rise", 1..=def::MAX_RISE_FALL);
    let fall = t.u32(cx, "fall", 1..=def::MAX_RISE_FALL);
    let Some(d) = draft else {
        let check_section = t.path.strip_suffix(".server").unwrap_or(&t.path).to_owned();
        for key in [
            "check",
            "inter",
            "fastinter",
            "downinter",
            "rise",
            "fall",
            "check_send_proxy",
        ] {
            let Some(v) = t.get(key) else { continue };
            if key == "check" && enabled != Some(true) {
                continue;
            }
            cx.error_help(
                &v.span(),
                format!("server sets `{key}` but the backend has no active check"),
                format!("add a [{check_section}.check] section (at least type = \"tcp\")"),
            );
        }
        return None;
    };
    if enabled == Some(false) {
        return None;
    }
    let base = &d.check;
    let inter = inter.unwrap_or(base.inter);
    Some(Check {
        kind: base.kind.clone(),
        inter,
        fastinter: fastinter.or(d.fastinter).unwrap_or(inter),
        downinter: downinter.or(d.downinter).unwrap_or(inter),
        rise: rise.unwrap_or(base.rise),
        fall: fall.unwrap_or(base.fall),
        timeout: d.timeout.unwrap_or(inter.min(d.connect)),
        send_proxy: base.send_proxy,
    })
}

pub(super) fn parse_passive(cx: &mut Cx<'_>, backend: &Table<'_, '_>) -> Passive {
    let errors = backend
        .table(cx, "passive", &PASSIVE)
        .and_then(|t| t.u32(cx, "errors", 0..=def::MAX_PASSIVE_ERRORS));
    Passive {
        errors: errors.unwrap_or(def::PASSIVE_ERRORS),
    }
}

// ---- cookie persistence ----------------------------------------------------------------------

pub(super) fn parse_cookie(cx: &mut Cx<'_>, backend: &Table<'_, '_>) -> Option<Cookie> {
    let t = backend.table(cx, "cookie", &COOKIE)?;
    let name = match t.str(cx, "name") {
        Some((n, span)) => {
            if n.is_empty() || !n.bytes().all(is_token) {
                cx.error_help(
                    &span,
                    format!("invalid cookie name \"{n}\""),
                    "a cookie name is an HTTP token: letters, digits and !#$%&'*+-.^_`|~",
                );
            }
            n.to_owned()
        }
        None => {
            if t.lacks("name") {
                cx.error_help(
                    &t.span,
                    format!("{} has no `name`", t.shown()),
                    "add name = \"SERVERID\"",
                );
            }
            String::new()
        }
    };
    let domain = t.str(cx, "domain").and_then(|(d, span)| {
        let ok = !d.is_empty()
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !ok {
            cx.error_help(
                &span,
                format!("invalid cookie domain \"{d}\""),
                "expected a domain such as \".example.com\"",
            );
            return None;
        }
        Some(d.to_owned())
    });
    Some(Cookie {
        name,
        mode: t
            .enum_of(cx, "mode", "cookie mode", COOKIE_MODES)
            .unwrap_or(def::COOKIE_MODE),
        indirect: t.bool(cx, "indirect").unwrap_or(def::COOKIE_INDIRECT),
        nocache: t.bool(cx, "nocache").unwrap_or(def::COOKIE_NOCACHE),
        httponly: t.bool(cx, "httponly").unwrap_or(def::COOKIE_HTTPONLY),
        secure: t.bool(cx, "secure").unwrap_or(def::COOKIE_SECURE),
        domain,
        maxidle: t.duration(cx, "maxidle", false),
        maxlife: t.duration(cx, "maxlife", false),
    })
}

/// RFC 9110 token characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 cookie-octet: printable ASCII except space, `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// A server's `cookie` value, with its span for duplicate reports.
pub(super) fn server_cookie(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    backend_has_cookie: bool,
) -> Option<(String, Range<usize>)> {
    let (v, span) = t.str(cx, "cookie")?;
    if !backend_has_cookie {
        let section = t.path.strip_suffix(".server").unwrap_or(&t.path).to_owned();
        cx.error_help(
            &span,
            "server sets `cookie` but the backend has no cookie persistence",
            format!("add a [{section}.cookie] section with a name"),
        );
        return None;
    }
    if v.is_empty() || !v.bytes().all(is_cookie_octet) {
        cx.error_help(
            &span,
            format!("invalid cookie value \"{v}\""),
            "use printable ASCII without spaces, '\"', ',', ';' or '\\'",
        );
        return None;
    }
    Some((v.to_owned(), span))
}

/// Rules that need the whole backend.
pub(super) fn check_backend(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    has_cookie: bool,
    mode: Option<Mode>,
) {
    if has_cookie && mode == Some(Mode::Tcp) {
        let span = s.table.key_span("cookie").unwrap_or(s.name_span.clone());
        cx.error_help(
            &span,
            format!(
                "backend \"{}\" is in tcp mode: cookie persistence needs http",
                s.name
            ),
            "remove the cookie section or use balance = \"source\" for stickiness in tcp mode",
        );
    }
}
