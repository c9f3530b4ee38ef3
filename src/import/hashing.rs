//! `balance` and the hashing directives: `hash-type`, `hash-balance-factor`.
//!
//! HAProxy's algorithms map onto ringlb's by name (`uri`, `url_param`, `hdr(…)`, `random`);
//! `balance hash <expr>` maps when the expression is a cookie, a header, a URL parameter or
//! the path. Keys stick to one server in both, but ringlb hashes with its own function, so a
//! given key lands on another server than under HAProxy: every hashing backend says so in a
//! comment. HAProxy's `hash-type` defaults to `map-based`; the translation writes the type on
//! every hashing backend so that the default of neither side decides it.

use super::emit::Out;
use super::lex::quote;
use super::model::{Noted, Settings};

/// A `balance` line (its words after `balance`) as ringlb's `balance` value.
pub(super) fn balance(w: &[String], partial: &mut Vec<String>) -> Result<Noted<String>, String> {
    let arg = w.first().map_or("", String::as_str);
    let rest = w.get(1..).unwrap_or_default();
    let plain = |v: &str| Ok(Noted::plain(v.to_owned()));
    let (func, inner) = match arg.strip_suffix(')').and_then(|a| a.split_once('(')) {
        Some((f, i)) => (f, Some(i)),
        None => (arg, None),
    };
    let ignored = |partial: &mut Vec<String>, what: &[String]| {
        if !what.is_empty() {
            partial.push(format!(
                "balance {arg} {}: not translated (no ringlb equivalent)",
                what.join(" ")
            ));
        }
    };
    match (func, inner) {
        ("roundrobin" | "leastconn" | "source", None) => {
            ignored(partial, rest);
            plain(arg)
        }
        ("static-rr", None) => Ok(Noted::with_note(
            "roundrobin".to_owned(),
            "balance static-rr → roundrobin (weights can change at run time)",
        )),
        ("random", None) => {
            ignored(partial, rest);
            plain("random")
        }
        ("random", Some(n)) => {
            let draws: u32 = n
                .parse()
                .ok()
                .filter(|d| (1..=100).contains(d))
                .ok_or_else(|| format!("balance random({n}): draws must be 1 to 100"))?;
            ignored(partial, rest);
            plain(&format!("random({draws})"))
        }
        ("uri", None) => {
            let mut whole = false;
            let (mut len, mut depth) = (0u32, 0u32);
            let mut dropped = Vec::new();
            let mut i = 0;
            while let Some(word) = rest.get(i) {
                match word.as_str() {
                    "whole" => whole = true,
                    // ringlb always hashes the path of an absolute-form target
                    "path-only" => {}
                    "len" | "depth" => {
                        let n = rest.get(i + 1).and_then(|n| n.parse::<u32>().ok());
                        match (word.as_str(), n) {
                            ("len", Some(n)) => len = n,
                            ("depth", Some(n)) => depth = n,
                            _ => dropped.push(word.clone()),
                        }
                        i += 1;
                    }
                    other => dropped.push(other.to_owned()),
                }
                i += 1;
            }
            if !dropped.is_empty() {
                partial.push(format!(
                    "balance uri {}: not translated (no ringlb equivalent)",
                    dropped.join(" ")
                ));
            }
            let mut v = String::from(if whole { "uri whole" } else { "uri" });
            if len != 0 {
                v.push_str(&format!(" len {len}"));
            }
            if depth != 0 {
                v.push_str(&format!(" depth {depth}"));
            }
            plain(&v)
        }
        ("url_param", None) => {
            let name = rest
                .first()
                .ok_or("balance url_param needs a parameter name")?;
            ignored(partial, rest.get(1..).unwrap_or_default());
            named("url_param", name)
        }
        ("hdr", Some(name)) => {
            ignored(partial, rest);
            named("hdr", name)
        }
        ("hash", None) => {
            let expr = rest.first().map_or("", String::as_str);
            let (f, n) = match expr.strip_suffix(')').and_then(|e| e.split_once('(')) {
                Some((f, n)) => (f, n),
                None => (expr, ""),
            };
            ignored(partial, rest.get(1..).unwrap_or_default());
            match f {
                "req.cook" | "cook" | "req.cookie" => named("cookie", n),
                "req.hdr" | "hdr" => named("hdr", n),
                "url_param" | "urlp" => named("url_param", n),
                "path" if n.is_empty() => plain("uri"),
                _ => Err(format!(
                    "balance hash {expr}: ringlb hashes a cookie, a header, a URL parameter or \
                     the path (roundrobin applies)"
                )),
            }
        }
        ("rdp-cookie", _) => Err(
            "balance rdp-cookie: ringlb does not read RDP connection cookies (roundrobin applies)"
                .into(),
        ),
        _ => Err(format!(
            "balance {arg}: ringlb has roundrobin, leastconn, source, random, uri, url_param, \
             hdr and cookie hashing (roundrobin applies)"
        )),
    }
}

/// `url_param(NAME)` and the like, for a name ringlb accepts.
fn named(func: &str, name: &str) -> Result<Noted<String>, String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        return Err(format!(
            "balance {func}({name}): not a name ringlb can hash on (roundrobin applies)"
        ));
    }
    Ok(Noted::plain(format!("{func}({name})")))
}

/// `hash-type METHOD [FUNCTION] [avalanche]`.
pub(super) fn hash_type(w: &[String]) -> Result<Noted<&'static str>, String> {
    let method = match w.first().map(String::as_str) {
        Some("consistent") => "consistent",
        Some("map-based") => "map-based",
        other => {
            return Err(format!(
                "hash-type {}: ringlb has consistent and map-based",
                other.unwrap_or("")
            ))
        }
    };
    let extra: Vec<&str> = w.iter().skip(1).map(String::as_str).collect();
    Ok(if extra.is_empty() {
        Noted::plain(method)
    } else {
        Noted::with_note(
            method,
            format!(
                "hash-type {method} {}: ringlb has one hash function (FNV-1a, always mixed as \
                 with avalanche)",
                extra.join(" ")
            ),
        )
    })
}

/// Writes `hash_type` and `hash_balance_factor` for a backend balancing with `balance`.
pub(super) fn write(out: &mut Out, balance: &str, s: &Settings) {
    let hashes = ["uri", "url_param(", "hdr(", "cookie("]
        .iter()
        .any(|p| balance.starts_with(p));
    if !hashes {
        if s.hash_type.is_some() || s.hash_balance_factor.is_some() {
            out.comment(&format!(
                "hash-type/hash-balance-factor dropped: balance {balance} does not hash a \
                 request key{}",
                if balance == "source" {
                    " (ringlb's source hashing is always consistent)"
                } else {
                    ""
                }
            ));
        }
        return;
    }
    let t = s.hash_type.clone().unwrap_or(Noted::with_note(
        "map-based",
        "map-based: HAProxy's default hash-type",
    ));
    out.comment(
        "ringlb hashes keys with its own function: each key sticks to one server, not \
         necessarily the one HAProxy chose",
    );
    out.kv("hash_type", quote(t.v), t.note.as_deref());
    match s.hash_balance_factor.filter(|f| *f != 0) {
        Some(f) if t.v == "consistent" && f >= 100 => {
            out.kv("hash_balance_factor", f.to_string(), None);
        }
        Some(f) if t.v == "consistent" => out.comment(&format!(
            "hash-balance-factor {f} dropped: below 100, which HAProxy refuses"
        )),
        Some(f) => out.comment(&format!(
            "hash-balance-factor {f} dropped: it needs hash-type consistent (HAProxy ignores it \
             too)"
        )),
        None => {}
    }
}
