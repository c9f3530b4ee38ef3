//! TLS: `bind ADDR ssl crt …` → `[frontend.X.tls]`, and `global` `ssl-default-bind-*`,
//! applied to every TLS frontend as HAProxy applies them to every `bind … ssl`.
//!
//! ringlb offers TLS 1.2 and 1.3 with AEAD suites and ECDHE key exchange only, ALPN
//! `http/1.1` (`http/1.0`), no client certificates. What HAProxy asked for beyond that is kept
//! where ringlb has it, narrowed with a comment where ringlb offers less, and listed where
//! leaving it out would change who may connect (client certificates: the listener is left
//! out).

use super::emit::{table, Out};
use super::lex::quote;
use super::model::{Global, Noted, TlsOpts, TlsSpec};
use super::net;
use crate::config::CIPHERSUITES;

/// Whether a suite (canonical name, as in [`CIPHERSUITES`]) is a TLS 1.3 one.
fn is_tls13(canonical: &str) -> bool {
    canonical.starts_with("TLS13_")
}

/// Every spelling ringlb accepts for the suites of TLS 1.3 (`tls13`) or 1.2.
pub(super) fn known_suites(tls13: bool) -> impl Iterator<Item = &'static str> {
    CIPHERSUITES
        .iter()
        .filter(move |(_, canonical)| is_tls13(canonical) == tls13)
        .map(|(name, _)| *name)
}

/// What a list that names only one TLS version's suites is completed with: ringlb's list
/// covers both versions, and a list without TLS 1.3 (or 1.2) suites would turn that version
/// off, which HAProxy's `ciphers` (or `ciphersuites`) alone does not do. Each suite once, in
/// the spelling HAProxy configs use.
fn default_suites(tls13: bool) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (name, canonical) in CIPHERSUITES {
        if is_tls13(canonical) == tls13 && !seen.contains(canonical) {
            seen.push(canonical);
            out.push((*name).to_owned());
        }
    }
    out
}

/// ALPN protocols ringlb offers (`h2` on http frontends only).
const ALPN: &[&str] = &["h2", "http/1.1", "http/1.0"];

/// `bind` options that take an argument (so that reporting one skips its argument too).
const BIND_OPTS_WITH_ARG: &[&str] = &[
    "crt",
    "crt-list",
    "alpn",
    "npn",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "verify",
    "ca-file",
    "crl-file",
    "ca-verify-file",
    "ca-sign-file",
    "ca-sign-pass",
    "curves",
    "ecdhe",
    "sigalgs",
    "client-sigalgs",
    "ca-ignore-err",
    "crt-ignore-err",
    "name",
    "id",
    "maxconn",
    "backlog",
    "interface",
    "mss",
    "process",
    "thread",
    "user",
    "group",
    "uid",
    "gid",
    "mode",
    "level",
    "severity-output",
    "nice",
    "tcp-ut",
    "namespace",
    "proto",
    "label",
    "shards",
    "guid-prefix",
    "idle-ping",
];

/// Where a `bind … ssl` line is read.
pub(super) struct At<'g> {
    pub(super) line: usize,
    pub(super) global: &'g Global,
}

/// `ssl-min-ver` / `ssl-max-ver` values → ringlb's `min_version`.
fn min_version(v: &str, what: &str) -> Result<Noted<&'static str>, String> {
    match v {
        "TLSv1.3" => Ok(Noted::plain("1.3")),
        "TLSv1.2" => Ok(Noted::plain("1.2")),
        "SSLv3" | "TLSv1.0" | "TLSv1.1" => Ok(Noted::with_note(
            "1.2",
            format!("{what} {v} → \"1.2\": ringlb never offers TLS below 1.2"),
        )),
        other => Err(format!("{what} \"{other}\": expected TLSv1.2 or TLSv1.3")),
    }
}

/// An OpenSSL cipher string (`HIGH:!aNULL`, `ECDH+AESGCM`) rather than a list of suites.
fn openssl_syntax(item: &str) -> bool {
    item.starts_with(['!', '+', '-', '@']) || item.contains('+') || !item.contains(['-', '_'])
}

/// `ciphers LIST` (`tls13` false) or `ciphersuites LIST`: the suites ringlb knows, and what
/// is not translated (for the report) when nothing of the list could be kept as a list.
pub(super) fn suites(
    text: &str,
    tls13: bool,
    what: &str,
    partial: &mut Vec<String>,
) -> Noted<Vec<String>> {
    let known: Vec<&str> = known_suites(tls13).collect();
    let items: Vec<&str> = text
        .split([':', ',', ' '])
        .filter(|i| !i.is_empty())
        .collect();
    if !tls13 && items.iter().any(|i| openssl_syntax(i)) {
        let why = format!(
            "{what} {text}: an OpenSSL cipher string, not a list of suites; ringlb's defaults \
             apply (AEAD suites with ECDHE)"
        );
        partial.push(why.clone());
        return Noted::with_note(Vec::new(), why);
    }
    let (kept, dropped): (Vec<&str>, Vec<&str>) = items
        .iter()
        .partition(|i| known.iter().any(|k| k.eq_ignore_ascii_case(i)));
    let version = if tls13 { "1.3" } else { "1.2" };
    if kept.is_empty() {
        let why = format!(
            "{what} {text}: ringlb offers none of these TLS {version} suites (AEAD with ECDHE \
             only); its defaults apply"
        );
        partial.push(why.clone());
        return Noted::with_note(Vec::new(), why);
    }
    let kept: Vec<String> = kept.into_iter().map(str::to_owned).collect();
    if dropped.is_empty() {
        Noted::plain(kept)
    } else {
        Noted::with_note(
            kept,
            format!(
                "{what}: dropped {} (ringlb offers AEAD suites with ECDHE only)",
                dropped.join(", ")
            ),
        )
    }
}

/// `alpn LIST`: the protocols ringlb speaks (h2, http/1.1, http/1.0); others are dropped
/// (reported).
fn alpn(text: &str, partial: &mut Vec<String>) -> Noted<Vec<String>> {
    let items: Vec<&str> = text.split(',').filter(|i| !i.is_empty()).collect();
    let (kept, dropped): (Vec<&str>, Vec<&str>) = items.iter().partition(|i| ALPN.contains(i));
    let kept: Vec<String> = kept.into_iter().map(str::to_owned).collect();
    if dropped.is_empty() {
        return Noted::plain(kept);
    }
    let why = format!(
        "alpn {text}: {} not offered, ringlb speaks h2 and http/1.1{}",
        dropped.join(", "),
        if kept.is_empty() {
            "; its default ALPN applies"
        } else {
            ""
        }
    );
    partial.push(why.clone());
    Noted::with_note(kept, why)
}

/// One TLS option of a `bind` line or of `ssl-default-bind-options` (without argument);
/// `false` when it is not a TLS option known here.
fn flag(o: &str, opts: &mut TlsOpts, partial: &mut Vec<String>) -> bool {
    match o {
        // ringlb never offers SSLv3, TLS 1.0 or 1.1: nothing to translate.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {}
        "no-tlsv12" | "force-tlsv13" => {
            opts.min_version = Some(Noted::with_note(
                "1.3",
                format!("{o} → min_version = \"1.3\""),
            ))
        }
        "no-tls-tickets" => opts.tickets = Some(false),
        "tls-tickets" => opts.tickets = Some(true),
        "no-tlsv13" | "force-tlsv12" | "force-tlsv11" | "force-tlsv10" | "force-sslv3" => {
            partial.push(format!("{o}: ringlb always offers TLS 1.3"))
        }
        // ringlb (rustls) follows the client's order of preference already.
        "prefer-client-ciphers" => {}
        "strict-sni" => partial.push(
            "strict-sni: ringlb answers a client without a known SNI with its default \
             certificate instead of refusing the handshake"
                .into(),
        ),
        "allow-0rtt" => partial.push(
            "allow-0rtt: ringlb accepts no early data; clients fall back to a full handshake"
                .into(),
        ),
        "no-ca-names" | "ssl" => {}
        _ => return false,
    }
    true
}

/// The TLS listeners and settings of one `bind … ssl` line.
struct BindTls {
    binds: Vec<String>,
    certificates: Vec<String>,
    accept_proxy: bool,
    opts: TlsOpts,
    notes: Vec<String>,
}

/// `verify none|required` (of a server, or `ssl-server-verify`): whether to verify.
pub(super) fn verify_word(w: &str) -> Result<bool, String> {
    match w {
        "required" => Ok(true),
        "none" => Ok(false),
        other => Err(format!("verify {other}: expected none or required")),
    }
}

/// A `crt` path, with `crt-base` applied as HAProxy does to relative paths.
pub(super) fn crt_path(p: &str, global: &Global) -> String {
    match &global.crt_base {
        Some(base) if !p.starts_with('/') => format!("{}/{p}", base.trim_end_matches('/')),
        _ => p.to_owned(),
    }
}

/// Reads the options of a `bind ADDR ssl …` line.
fn read_bind(args: &[String], at: &At<'_>, partial: &mut Vec<String>) -> Result<BindTls, String> {
    let addr = args.first().ok_or("bind needs an address")?;
    let mut b = BindTls {
        binds: net::bind_addrs(addr)?,
        certificates: Vec::new(),
        accept_proxy: false,
        opts: TlsOpts::default(),
        notes: Vec::new(),
    };
    let mut other = Vec::new();
    let mut i = 1;
    while let Some(o) = args.get(i) {
        let o = o.as_str();
        if o == "accept-proxy" {
            b.accept_proxy = true;
            i += 1;
            continue;
        }
        // The caller's, for the frontend (`defer_accept`).
        if o == "defer-accept" {
            i += 1;
            continue;
        }
        if !BIND_OPTS_WITH_ARG.contains(&o) {
            if !flag(o, &mut b.opts, partial) {
                other.push(o.to_owned());
            }
            i += 1;
            continue;
        }
        let v = args
            .get(i + 1)
            .ok_or_else(|| format!("`{o}` needs a value"))?;
        i += 2;
        match o {
            "crt" => {
                if !v.starts_with('/') && at.global.crt_base.is_none() {
                    b.notes.push(format!(
                        "crt {v}: a relative path without crt-base (HAProxy read it from its \
                         working directory): check where ringlb finds it, or make it absolute"
                    ));
                }
                b.certificates.push(crt_path(v, at.global));
            }
            "crt-list" => partial.push(format!(
                "crt-list {v}: ringlb has no certificate lists with per-certificate settings; \
                 name the certificate files or their directory with `crt`"
            )),
            "alpn" if b.opts.alpn.is_none() => b.opts.alpn = Some(alpn(v, partial)),
            // `proto h2` (below) chose already.
            "alpn" => {}
            "proto" if v == "h2" => {
                b.opts.alpn = Some(Noted::with_note(
                    vec!["h2".to_owned()],
                    "proto h2 → alpn = [\"h2\"]: ringlb chooses h2 by ALPN, so a client that \
                     offers none gets HTTP/1.1 instead of h2",
                ))
            }
            "ssl-min-ver" => b.opts.min_version = Some(min_version(v, o)?),
            "ssl-max-ver" if v == "TLSv1.3" => {}
            "ssl-max-ver" => partial.push(format!("ssl-max-ver {v}: ringlb always offers TLS 1.3")),
            "ciphers" => b.opts.tls12 = Some(suites(v, false, o, partial)),
            "ciphersuites" => b.opts.tls13 = Some(suites(v, true, o, partial)),
            "verify" if v == "none" => {}
            "verify" => {
                return Err(format!(
                    "`verify {v}`: ringlb does not ask for client certificates; accepting \
                     clients without one would change who may connect, so this listener is left \
                     out"
                ))
            }
            "ca-file" | "crl-file" | "ca-verify-file" => partial.push(format!(
                "{o} {v}: ringlb does not verify client certificates"
            )),
            "curves" | "ecdhe" => partial.push(format!(
                "{o} {v}: ringlb chooses the key-exchange groups itself (X25519, P-256, P-384)"
            )),
            "npn" => partial.push(format!("npn {v}: ringlb offers ALPN only")),
            _ => other.push(format!("{o} {v}")),
        }
    }
    if !other.is_empty() {
        partial.push(format!(
            "bind options not translated: {} (ringlb has no per-listener options)",
            other.join(" ")
        ));
    }
    if b.certificates.is_empty() {
        return Err(
            "`ssl` without `crt`: ringlb needs certificate files or directories (crt-list and \
             generated certificates are not translated); this listener is left out"
                .into(),
        );
    }
    Ok(b)
}

/// `bind ADDR… ssl crt … [options]`: merged into the frontend's TLS listeners. ringlb has one
/// set of TLS settings per frontend: those of the first `bind … ssl` apply, and a later line
/// that asks for others is reported.
pub(super) fn bind(
    args: &[String],
    tls: &mut Option<TlsSpec>,
    at: At<'_>,
    partial: &mut Vec<String>,
) -> Result<(), String> {
    // What a listener left out had besides is not worth reporting: the line is, whole.
    let mut mine = Vec::new();
    let b = read_bind(args, &at, &mut mine)?;
    partial.extend(mine);
    let Some(t) = tls else {
        *tls = Some(TlsSpec {
            line: at.line,
            binds: b.binds,
            certificates: b.certificates,
            accept_proxy: b.accept_proxy,
            opts: b.opts,
            notes: b.notes,
        });
        return Ok(());
    };
    if b.accept_proxy != t.accept_proxy {
        partial.push(format!(
            "accept-proxy differs from the first `bind … ssl` (line {}): ringlb sets it once for \
             a frontend's TLS listeners, as line {} has it",
            t.line, t.line
        ));
    }
    if b.opts != t.opts {
        partial.push(format!(
            "TLS settings differ from the first `bind … ssl` (line {}): ringlb has one set per \
             frontend, those of line {} apply",
            t.line, t.line
        ));
    }
    if b.certificates != t.certificates {
        t.notes.push(format!(
            "the certificates of every `bind … ssl` line are merged (line {} had {}): every TLS \
             listener of this frontend serves all of them",
            at.line,
            b.certificates.join(" ")
        ));
    }
    t.notes.extend(b.notes);
    for c in b.certificates {
        if !t.certificates.contains(&c) {
            t.certificates.push(c);
        }
    }
    for a in b.binds {
        if !t.binds.contains(&a) {
            t.binds.push(a);
        }
    }
    Ok(())
}

/// `global` directives handled here.
pub(super) fn is_global(head: &str) -> bool {
    head.starts_with("ssl-default-bind-")
        || head.starts_with("ssl-default-server-")
        || matches!(
            head,
            "tune.ssl.default-dh-param" | "ssl-dh-param-file" | "ssl-server-verify" | "crt-base"
        )
}

/// One `global` TLS line.
pub(super) fn global(
    g: &mut Global,
    w: &[String],
    partial: &mut Vec<String>,
) -> Result<(), String> {
    let head = w.first().map_or("", String::as_str);
    let arg = w.get(1).map_or("", String::as_str);
    if arg.is_empty() {
        return Err(format!("{head} needs a value"));
    }
    match head {
        "ssl-default-bind-ciphers" => {
            g.tls_defaults.tls12 = Some(suites(arg, false, head, partial));
        }
        "ssl-default-bind-ciphersuites" => {
            g.tls_defaults.tls13 = Some(suites(arg, true, head, partial));
        }
        "ssl-default-bind-options" => {
            let mut i = 1;
            while let Some(o) = w.get(i) {
                i += 1;
                if matches!(o.as_str(), "ssl-min-ver" | "ssl-max-ver") {
                    let v = w.get(i).ok_or_else(|| format!("`{o}` needs a value"))?;
                    i += 1;
                    match o.as_str() {
                        "ssl-min-ver" => g.tls_defaults.min_version = Some(min_version(v, o)?),
                        _ if v == "TLSv1.3" => {}
                        _ => partial.push(format!("ssl-max-ver {v}: ringlb always offers TLS 1.3")),
                    }
                } else if !flag(o, &mut g.tls_defaults, partial) {
                    partial.push(format!("{o}: no ringlb equivalent"));
                }
            }
        }
        "tune.ssl.default-dh-param" | "ssl-dh-param-file" => g.notes.push(format!(
            "{head} dropped: ringlb uses ECDHE key exchange only, no DH parameters"
        )),
        "ssl-server-verify" => {
            g.server_verify = Some(verify_word(arg)?);
        }
        "crt-base" => g.crt_base = Some(arg.to_owned()),
        h if h.starts_with("ssl-default-server-") => {
            return Err("TLS to servers is not supported yet".into())
        }
        _ => return Err("no ringlb equivalent".into()),
    }
    Ok(())
}

/// Writes `[frontend.NAME.tls]`: the frontend's own settings over `ssl-default-bind-*`.
/// `plain_accept_proxy`: the frontend's own `accept_proxy`, which the TLS listeners follow
/// unless they say otherwise.
pub(super) fn write(
    out: &mut Out,
    name: &str,
    t: &TlsSpec,
    global: &Global,
    plain_accept_proxy: bool,
) {
    out.header(&table("frontend", name, Some("tls")));
    for n in &t.notes {
        out.comment(n);
    }
    let list = |v: &[String]| {
        let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
        format!("[{}]", items.join(", "))
    };
    out.kv("bind", list(&t.binds), None);
    out.kv("certificates", list(&t.certificates), None);
    if t.accept_proxy != plain_accept_proxy {
        out.kv("accept_proxy", t.accept_proxy.to_string(), None);
    }
    let o = t.opts.over(&global.tls_defaults);
    if let Some(m) = &o.min_version {
        out.kv("min_version", quote(m.v), m.note.as_deref());
    }
    for n in [&o.tls12, &o.tls13].into_iter().flatten() {
        if let Some(note) = &n.note {
            out.comment(note);
        }
    }
    let tls12 = o.tls12.as_ref().filter(|n| !n.v.is_empty());
    let tls13 = o.tls13.as_ref().filter(|n| !n.v.is_empty());
    if tls12.is_some() || tls13.is_some() {
        let mut all = tls13.map_or_else(|| default_suites(true), |n| n.v.clone());
        all.extend(tls12.map_or_else(|| default_suites(false), |n| n.v.clone()));
        let note = match (tls12.is_some(), tls13.is_some()) {
            (true, false) => {
                Some("TLS 1.3 suites: ringlb's defaults (no ciphersuites in HAProxy: its defaults)")
            }
            (false, true) => Some(
                "TLS 1.2 suites: ringlb's defaults (no ciphers in HAProxy; ringlb offers AEAD \
                 suites with ECDHE only)",
            ),
            _ => None,
        };
        out.kv("ciphersuites", list(&all), note);
    }
    if let Some(a) = o.alpn.as_ref().filter(|a| !a.v.is_empty()) {
        out.kv("alpn", list(&a.v), a.note.as_deref());
    } else if let Some(note) = o.alpn.as_ref().and_then(|a| a.note.as_deref()) {
        out.comment(note);
    }
    if let Some(tickets) = o.tickets {
        out.kv("session_tickets", tickets.to_string(), None);
    }
}
