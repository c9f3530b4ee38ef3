//! `acl NAME CRITERION [FLAGS] VALUES…` and `use_backend B if|unless COND` → ringlb's
//! `[frontend.X.acl]` strings and route conditions.
//!
//! Both languages share the condition grammar (names, `!`, juxtaposition = AND, `||`/`or`,
//! `{ inline }`), so a condition is rewritten term by term: ACL names are mapped, inline
//! criteria translated, HAProxy's predefined ACLs (`TRUE`, `LOCALHOST`, `METH_GET`, …) replaced
//! by what they test. Every string produced is checked with ringlb's own parser
//! (`crate::route`), so what is emitted is what `ringlb check` accepts.

use std::collections::HashMap;

use super::net;
use crate::route;

/// What an HAProxy ACL name became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AclState {
    /// Translated, under this ringlb name.
    Ok(String),
    /// Not translated (reported at this line): conditions using it cannot be translated.
    Bad(usize),
}

/// A translated condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cond {
    /// Holds for every request (`TRUE`, `HTTP`…): the route needs no `if`.
    Always,
    /// Never holds (`FALSE`): the route can be left out.
    Never,
    Text(String),
}

/// Where a criterion is tested: ringlb tests only `src` in tcp mode, and the SNI only where
/// the frontend terminates TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Where {
    pub(super) tcp: bool,
    /// The frontend has TLS listeners (`bind … ssl` translated).
    pub(super) tls: bool,
    /// Which trackers' counters can be read here: bit N for `track-scN` (0–2) translated into
    /// the frontend's table, bit 3 when that table is keyed by the client address (`src_*`).
    pub(super) track: u8,
}

/// HAProxy criterion → (fetch, match method) as written, e.g. `hdr_end(host)` → (`hdr`,
/// `Some("host")`, `end`).
fn split_fetch(word: &str) -> (String, Option<String>, &'static str) {
    let (head, arg) = match word.split_once('(') {
        Some((h, rest)) => (h, Some(rest.trim_end_matches(')').to_owned())),
        None => (word, None),
    };
    let head = head.strip_prefix("req.").unwrap_or(head);
    let head = if head == "fhdr" { "hdr" } else { head };
    for (suffix, how) in [
        ("_beg", "beg"),
        ("_end", "end"),
        ("_reg", "reg"),
        ("_sub", "sub"),
        ("_dom", "dom"),
        ("_dir", "dir"),
        ("_len", "len"),
        ("_cnt", "cnt"),
        ("_ip", "ip"),
        ("_val", "int"),
    ] {
        if let Some(base) = head.strip_suffix(suffix) {
            return (base.to_owned(), arg, how);
        }
    }
    let how = if head == "src" { "ip" } else { "str" };
    (head.to_owned(), arg, how)
}

/// One ringlb value token: quoted when it has blanks or quotes (ringlb's lexer then reads `\`
/// as an escape, so it is doubled).
fn value(v: &str) -> String {
    if !v.is_empty()
        && !v.chars().any(char::is_whitespace)
        && !v.starts_with(['"', '\''])
        && v != "{"
        && v != "}"
    {
        return v.to_owned();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Translates one criterion with its flags and values (`path_beg -i /static/`).
/// Returns ringlb's text and a note when the meaning changed.
pub(super) fn criterion(words: &[String], at: Where) -> Result<(String, Option<String>), String> {
    let tcp = at.tcp;
    let fetch = words.first().ok_or("an ACL needs a criterion")?;
    if let Some(f) = super::track::fetch(fetch) {
        let (counter, n) = f?;
        let text = super::track::criterion(
            counter,
            n,
            words.get(1..).unwrap_or_default(),
            at.track & 0b111,
            at.track & 0b1000 != 0,
        )?;
        return Ok((text, None));
    }
    let (base, arg, mut how) = split_fetch(fetch);
    let mut nocase = false;
    let mut i = 1;
    while let Some(flag) = words.get(i).filter(|w| w.starts_with('-')) {
        match flag.as_str() {
            "-i" => nocase = true,
            "--" => {
                i += 1;
                break;
            }
            "-m" => {
                how = match words.get(i + 1).map(String::as_str) {
                    Some("str") => "str",
                    Some("beg") => "beg",
                    Some("end") => "end",
                    Some("reg") => "reg",
                    Some("ip") => "ip",
                    Some(other) => return Err(format!("`-m {other}`: ringlb has no such match")),
                    None => return Err("`-m` needs a match method".into()),
                };
                i += 1;
            }
            "-f" | "-M" => return Err(format!("`{flag}`: ringlb reads no pattern files")),
            "-u" => i += 1,
            "-n" => {}
            other => return Err(format!("flag `{other}`: no ringlb equivalent")),
        }
        i += 1;
    }
    let values = words.get(i..).unwrap_or_default();
    let host = arg
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("host"));
    let mut note = None;
    let crit: String = match (base.as_str(), how) {
        ("src", "ip") => "src".into(),
        ("ssl_fc", "str") => {
            if let Some(v) = values.first() {
                return Err(format!(
                    "`{fetch} {v}`: ringlb's ssl_fc takes no value (it holds on TLS connections)"
                ));
            }
            return Ok(("ssl_fc".into(), None));
        }
        // TLS passed through (tcp mode, no `ssl` on the bind): ringlb reads the ClientHello.
        ("ssl_sni" | "req_ssl_sni", "str") if tcp && !at.tls => {
            note = (!nocase).then(|| "ringlb compares the server name ignoring case".to_owned());
            "req.ssl_sni".into()
        }
        ("ssl_sni" | "req_ssl_sni", _) if tcp && !at.tls => {
            return Err(format!(
                "`{fetch}` ({base} -m {how}): ringlb's req.ssl_sni compares whole names"
            ))
        }
        ("ssl_fc_sni" | "ssl_sni" | "req_ssl_sni", "str" | "end") if !at.tls => {
            return Err(format!(
                "`{fetch}`: this frontend has no TLS listener ringlb terminates, so no SNI to test"
            ))
        }
        ("ssl_fc_sni" | "ssl_sni" | "req_ssl_sni", "str" | "end") => {
            let mut why = Vec::new();
            if base != "ssl_fc_sni" {
                why.push(format!(
                    "{fetch} → ssl_fc_sni: the SNI of the TLS connection ringlb terminates"
                ));
            }
            if !nocase {
                why.push("ringlb compares the SNI ignoring case".to_owned());
            }
            note = (!why.is_empty()).then(|| why.join("; "));
            if how == "end" {
                "ssl_fc_sni_end".into()
            } else {
                "ssl_fc_sni".into()
            }
        }
        _ if tcp => {
            return Err(format!(
                "`{fetch}`: in a tcp frontend ringlb can only test src, ssl_fc, ssl_fc_sni and \
                 req.ssl_sni"
            ))
        }
        ("path", "str") => "path".into(),
        ("path", "beg") => "path_beg".into(),
        ("path", "end") => "path_end".into(),
        ("path", "reg") => "path_reg".into(),
        ("url", "beg")
            if values
                .iter()
                .all(|v| v.starts_with('/') && !v.contains('?')) =>
        {
            note = Some(format!("{fetch} → path_beg: the query never takes part"));
            "path_beg".into()
        }
        ("method", "str") => "method".into(),
        ("hdr", "str") if host && !values.iter().any(|v| v.contains(':')) => {
            note = Some(format!(
                "{fetch} → host: ringlb compares the Host without its port and ignoring case"
            ));
            "host".into()
        }
        ("hdr", "end") if host && !values.iter().any(|v| v.contains(':')) => {
            note = Some(format!(
                "{fetch} → host_end: ringlb compares the Host without its port and ignoring case"
            ));
            "host_end".into()
        }
        ("hdr", "str" | "beg" | "end") => match &arg {
            Some(name) if !name.is_empty() && !name.contains(',') => {
                let f = match how {
                    "str" => "hdr",
                    "beg" => "hdr_beg",
                    _ => "hdr_end",
                };
                format!("{f}({name})")
            }
            _ => {
                return Err(format!(
                    "`{fetch}`: ringlb tests a named header, every occurrence"
                ))
            }
        },
        (b, h) => {
            let shown = if h == "str" || h == "ip" {
                b.to_owned()
            } else {
                format!("{b} -m {h}")
            };
            return Err(format!(
                "`{fetch}` ({shown}): ringlb's criteria are path, path_beg, path_end, path_reg, \
                 host, host_end, src, method, hdr, hdr_beg, hdr_end, ssl_fc, ssl_fc_sni, \
                 ssl_fc_sni_end, req.ssl_sni"
            ));
        }
    };
    if values.is_empty() {
        return Err(format!(
            "`{fetch}` without values: ringlb needs at least one"
        ));
    }
    let mut text = crit;
    if nocase && base != "src" {
        text.push_str(" -i");
    }
    if values.iter().any(|v| v.starts_with('-')) {
        text.push_str(" --");
    }
    for v in values {
        text.push(' ');
        text.push_str(&value(v));
    }
    route::parse_criterion(&text).map_err(|e| format!("ringlb rejects `{text}`: {}", e.message))?;
    Ok((text, note))
}

/// A ringlb ACL name for an HAProxy one: `:` is not allowed, and a name equal to a criterion
/// would read as one.
pub(super) fn acl_name(name: &str) -> String {
    let mut out: String = net::name_chars(name).collect();
    let is_criterion = route::CRITERIA
        .iter()
        .any(|c| c.split('(').next() == Some(out.as_str()));
    if is_criterion || matches!(out.as_str(), "or" | "and" | "") {
        out.push_str("_acl");
    }
    out
}

/// HAProxy's predefined ACLs, in ringlb terms: `Ok(None)` = constant (`Some(bool)` inside the
/// outer result via [`Term::Const`]).
fn predefined(name: &str, tcp: bool) -> Option<Result<Term, String>> {
    let text = |t: &str| Some(Ok(Term::Text(t.to_owned())));
    match name {
        "TRUE" => Some(Ok(Term::Const(true))),
        "FALSE" => Some(Ok(Term::Const(false))),
        "HTTP" if !tcp => Some(Ok(Term::Const(true))),
        "LOCALHOST" => text("{ src 127.0.0.0/8 ::1 }"),
        _ if tcp && name.starts_with("METH_") => Some(Err(format!(
            "`{name}`: in a tcp frontend ringlb can only test src"
        ))),
        "METH_GET" => text("{ method GET HEAD }"),
        "METH_CONNECT" | "METH_DELETE" | "METH_HEAD" | "METH_OPTIONS" | "METH_POST"
        | "METH_PUT" | "METH_TRACE" => text(&format!(
            "{{ method {} }}",
            name.trim_start_matches("METH_")
        )),
        _ if name
            .chars()
            .all(|c| c.is_ascii_uppercase() || "_.0123456789".contains(c))
            && name.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            Some(Err(format!(
                "predefined ACL `{name}` has no ringlb equivalent"
            )))
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum Term {
    Const(bool),
    Text(String),
}

/// Translates the words after `if` / `unless`.
pub(super) fn condition(
    words: &[String],
    acls: &HashMap<String, AclState>,
    at: Where,
    notes: &mut Vec<String>,
) -> Result<Cond, String> {
    let tcp = at.tcp;
    let mut groups: Vec<Vec<Term>> = Vec::new();
    let mut group: Vec<Term> = Vec::new();
    let mut negate = false;
    let mut i = 0;
    while let Some(w) = words.get(i) {
        i += 1;
        let mut word = w.as_str();
        match word {
            "||" | "or" => {
                if group.is_empty() {
                    return Err("`||` without a condition on its left".into());
                }
                groups.push(std::mem::take(&mut group));
                continue;
            }
            "&&" | "and" => continue,
            _ => {}
        }
        while let Some(rest) = word.strip_prefix('!') {
            negate = !negate;
            word = rest;
        }
        if word.is_empty() {
            continue;
        }
        let term = if word == "{" {
            let close = words
                .iter()
                .skip(i)
                .position(|t| t == "}")
                .ok_or("`{` is never closed")?;
            let inner = words.get(i..i + close).unwrap_or_default();
            i += close + 1;
            let (text, note) = criterion(inner, at)?;
            notes.extend(note);
            Term::Text(format!("{{ {text} }}"))
        } else if let Some(state) = acls.get(word) {
            match state {
                AclState::Ok(n) => Term::Text(n.clone()),
                AclState::Bad(line) => {
                    return Err(format!(
                        "uses ACL `{word}`, which is not translated (line {line})"
                    ))
                }
            }
        } else if let Some(p) = predefined(word, tcp) {
            p?
        } else {
            return Err(format!("ACL `{word}` is not defined in this section"));
        };
        group.push(match term {
            Term::Const(b) => Term::Const(b != negate),
            Term::Text(t) if negate => Term::Text(format!("!{t}")),
            t => t,
        });
        negate = false;
    }
    if group.is_empty() {
        return Err("empty condition".into());
    }
    groups.push(group);
    let mut kept = Vec::new();
    for g in groups {
        if g.iter().any(|t| matches!(t, Term::Const(false))) {
            continue;
        }
        let texts: Vec<String> = g
            .into_iter()
            .filter_map(|t| match t {
                Term::Text(t) => Some(t),
                Term::Const(_) => None,
            })
            .collect();
        if texts.is_empty() {
            return Ok(Cond::Always);
        }
        kept.push(texts.join(" "));
    }
    if kept.is_empty() {
        return Ok(Cond::Never);
    }
    let text = kept.join(" || ");
    route::parse_condition(&text).map_err(|e| format!("ringlb rejects `{text}`: {}", e.message))?;
    Ok(Cond::Text(text))
}
