//! `[frontend.X.tls]`: TLS listeners, their certificates and protocol settings. Certificates
//! are only named here (with their place in the file); they are loaded, and their problems
//! reported at that place, when the config is compiled.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use super::walk::{Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::{CertSource, Ktls, Mode, Tls, TlsVersion};

const TLS: Schema = Schema {
    known: &[
        "bind",
        "certificates",
        "certificate",
        "default_name",
        "min_version",
        "ciphersuites",
        "alpn",
        "session_tickets",
        "accept_proxy",
        "ktls",
    ],
    elsewhere: &[(
        "accept_proxy_from",
        "the peers allowed to send a PROXY header are the frontend's: set accept_proxy_from in [frontend.NAME]",
    )],
    names: false,
};

const CERTIFICATE: Schema = Schema {
    known: &["cert", "key"],
    elsewhere: &[],
    names: false,
};

const KTLS: &[(&str, Ktls)] = &[("auto", Ktls::Auto), ("off", Ktls::Off)];

const VERSIONS: &[(&str, TlsVersion)] = &[("1.2", TlsVersion::Tls12), ("1.3", TlsVersion::Tls13)];

/// Cipher suites ringlb offers, as written in configs (IANA and OpenSSL spellings) → the
/// canonical name. All are AEAD with forward secrecy; nothing else can be enabled.
pub const CIPHERSUITES: &[(&str, &str)] = &[
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    ("TLS13_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS13_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// ALPN protocols a listener may offer ("h2": HTTP/2, http mode only).
const ALPN: &[&str] = &["http/1.1", "http/1.0", "h2"];

/// The frontend's TLS settings and the spans of its TLS binds (for the duplicate-bind check).
pub(super) fn frontend_tls(
    cx: &mut Cx<'_>,
    frontend: &Table<'_, '_>,
    mode: Mode,
    accept_proxy: bool,
) -> Option<(Tls, Vec<Range<usize>>)> {
    let t = frontend.table(cx, "tls", &TLS)?;
    let mut binds: Vec<SocketAddr> = Vec::new();
    let mut spans = Vec::new();
    match t.strings(cx, "bind") {
        Some(list) if !list.is_empty() => {
            for (text, span) in list {
                if let Some(addr) = super::bind_address(cx, text, &span) {
                    binds.push(addr);
                    spans.push(span);
                }
            }
        }
        Some(_) | None => cx.error_help(
            &t.span,
            format!("[{}] has no `bind`", t.path),
            "add the TLS listeners: bind = \"0.0.0.0:443\"",
        ),
    }
    let certificates = certificates(cx, &t);
    let min_version = t
        .enum_of(cx, "min_version", "TLS version", VERSIONS)
        .unwrap_or(def::TLS_MIN_VERSION);
    let ciphersuites = ciphersuites(cx, &t);
    let alpn = match t.strings(cx, "alpn") {
        Some(list) => list
            .into_iter()
            .filter_map(|(p, span)| {
                if p == "h2" && mode == Mode::Tcp {
                    cx.error_help(
                        &span,
                        "ALPN \"h2\" needs an http frontend: a tcp frontend never reads HTTP/2",
                        "remove \"h2\" or set mode = \"http\"",
                    );
                    None
                } else if ALPN.contains(&p) {
                    Some(p.to_owned())
                } else {
                    cx.error_help(
                        &span,
                        format!("unknown ALPN protocol \"{p}\""),
                        format!("ringlb speaks: {}", ALPN.join(", ")),
                    );
                    None
                }
            })
            .collect(),
        None if mode == Mode::Http => vec!["http/1.1".to_owned()],
        None => Vec::new(),
    };
    let default_name = t
        .str(cx, "default_name")
        .map(|(n, _)| n.to_ascii_lowercase());
    let session_tickets = t
        .bool(cx, "session_tickets")
        .unwrap_or(def::TLS_SESSION_TICKETS);
    let ktls = t
        .enum_of(cx, "ktls", "kTLS mode", KTLS)
        .unwrap_or(def::TLS_KTLS);
    let tls = Tls {
        ktls,
        binds,
        certificates,
        default_name,
        min_version,
        ciphersuites,
        alpn,
        session_tickets,
        accept_proxy: t.bool(cx, "accept_proxy").unwrap_or(accept_proxy),
    };
    Some((tls, spans))
}

/// `certificates = [FILE|DIR, …]` and `[[…tls.certificate]] cert = … key = …`.
fn certificates(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Vec<CertSource> {
    let mut out = Vec::new();
    for (path, span) in t.strings(cx, "certificates").unwrap_or_default() {
        if path.is_empty() {
            cx.error(&span, "empty certificate path");
            continue;
        }
        out.push(CertSource {
            path: PathBuf::from(path),
            key: None,
            place: cx.place(span.start),
        });
    }
    for c in t
        .array_of_tables(cx, "certificate", &CERTIFICATE)
        .unwrap_or_default()
    {
        let Some((cert, span)) = c.str(cx, "cert") else {
            if c.lacks("cert") {
                cx.error_help(
                    &c.span,
                    "a certificate without `cert`",
                    "add cert = \"/etc/ringlb/tls/site.pem\"",
                );
            }
            continue;
        };
        out.push(CertSource {
            path: PathBuf::from(cert),
            key: c.str(cx, "key").map(|(k, _)| PathBuf::from(k)),
            place: cx.place(span.start),
        });
    }
    if out.is_empty() && t.get("certificates").is_none() && t.get("certificate").is_none() {
        cx.error_help(
            &t.span,
            format!("[{}] has no certificate", t.path),
            "add certificates = [\"/etc/ringlb/tls/\"] (PEM files: chain and key)",
        );
    }
    out
}

/// `ciphersuites = [NAME, …]`, each known, in canonical spelling.
fn ciphersuites(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, span) in t.strings(cx, "ciphersuites").unwrap_or_default() {
        match CIPHERSUITES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, canonical)) => {
                if !out.iter().any(|c| c == canonical) {
                    out.push((*canonical).to_owned());
                }
            }
            None => {
                let message = format!("unknown or unsafe cipher suite \"{name}\"");
                let known = CIPHERSUITES.iter().map(|(n, _)| *n);
                match super::walk::suggest(name, known) {
                    Some(s) => cx.error_help(&span, message, format!("did you mean \"{s}\"?")),
                    None => cx.error_help(
                        &span,
                        message,
                        "ringlb offers AEAD suites with forward secrecy only, e.g. \
                         TLS_AES_128_GCM_SHA256, ECDHE-ECDSA-AES128-GCM-SHA256",
                    ),
                }
            }
        }
    }
    out
}
