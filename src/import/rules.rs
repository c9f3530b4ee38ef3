//! Header rules: `http-request` / `http-response` (set-header, add-header, del-header,
//! replace-header, set-path, set-query, redirect, deny, return), `redirect`, `block`, the
//! pre-1.6 `reqadd` / `rspadd` / `reqdel` / `rspdel` / `reqrep` / `rsprep` / `reqdeny` (and
//! their case-insensitive `i` forms) → `[[frontend.X.request_rule]]` /
//! `[[frontend.X.response_rule]]` (or a backend's).
//!
//! HAProxy runs a section's rules in a fixed order whatever their order in the file: `block`,
//! `http-request` rules, the `req*` rewrites, `reqadd`, then `redirect` (responses:
//! `http-response`, `rsp*` rewrites, `rspadd`). The rules are written in that order; a comment
//! says so when it differs from the file's. Every value is literal in ringlb: a log-format
//! expression (`%[…]`, `%ci`) is not translated. A pre-1.6 regex on a whole header line
//! translates only when it names the header (`^X-Name:`); one on the request line does not.

use std::collections::HashMap;

use super::acl::{self, AclState, Cond};
use super::lex::{quote, Line};
use super::Skipped;

/// A translated rule, ready to write.
#[derive(Debug)]
pub(super) struct RuleOut {
    /// `request_rule` or `response_rule`.
    pub(super) key: &'static str,
    /// Keys and their TOML values, `action` first.
    pub(super) fields: Vec<(&'static str, String)>,
    pub(super) guard: Option<(&'static str, String)>,
    pub(super) notes: Vec<String>,
    /// Where HAProxy runs it among the section's rules.
    phase: u8,
}

/// `tcp-request connection reject …`: a connection rule.
pub(super) fn is_connection_rule(words: &[String]) -> bool {
    words.get(1).is_some_and(|w| w == "connection") && words.get(2).is_some_and(|w| w == "reject")
}

/// `tcp-request connection reject [if|unless COND]` lines → `[[frontend.X.connection_rule]]`
/// (`action = "reject"`), in file order. Lines not translated go to `skipped`.
pub(super) fn connection_rules(
    lines: &[Line],
    states: &HashMap<String, AclState>,
    at: acl::Where,
    skipped: &mut Vec<Skipped>,
) -> Vec<RuleOut> {
    let mut out = Vec::new();
    for line in lines {
        let w = &line.words;
        let mut notes = Vec::new();
        let guard = match w.get(3).map(String::as_str) {
            None => Ok(Some(None)),
            Some(kw @ ("if" | "unless")) => {
                acl::condition(w.get(4..).unwrap_or_default(), states, at, &mut notes).map(|cond| {
                    match (cond, kw == "unless") {
                        (Cond::Always, false) | (Cond::Never, true) => Some(None),
                        // Never holds: left out, as HAProxy would never reject.
                        (Cond::Never, false) | (Cond::Always, true) => None,
                        (Cond::Text(t), false) => Some(Some(("if", t))),
                        (Cond::Text(t), true) => Some(Some(("unless", t))),
                    }
                })
            }
            Some(other) => Err(format!("`{other}` after reject: expected if or unless")),
        };
        match guard {
            Ok(Some(guard)) => out.push(RuleOut {
                key: "connection_rule",
                fields: vec![("action", quote("reject"))],
                guard,
                notes,
                phase: 0,
            }),
            Ok(None) => {}
            Err(why) => skipped.push(Skipped {
                line: line.no,
                text: line.text.clone(),
                why,
            }),
        }
    }
    out
}

/// Directives read as rules.
pub(super) fn is_rule(head: &str) -> bool {
    matches!(
        head,
        "http-request"
            | "http-response"
            | "redirect"
            | "block"
            | "reqadd"
            | "rspadd"
            | "reqdel"
            | "reqidel"
            | "rspdel"
            | "rspidel"
            | "reqrep"
            | "reqirep"
            | "rsprep"
            | "rspirep"
            | "reqdeny"
            | "reqideny"
    )
}

/// The rules of a section, in the order HAProxy runs them, and a note when that order is not
/// the file's. Lines not translated go to `skipped`.
pub(super) fn translate(
    lines: &[Line],
    states: &HashMap<String, AclState>,
    at: acl::Where,
    skipped: &mut Vec<Skipped>,
) -> (Vec<RuleOut>, Option<String>) {
    let mut out = Vec::new();
    for line in lines {
        if at.tcp {
            skipped.push(Skipped {
                line: line.no,
                text: line.text.clone(),
                why: "rules act on HTTP requests and responses; this section is in tcp mode".into(),
            });
            continue;
        }
        match rule(line, states, at) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(why) => skipped.push(Skipped {
                line: line.no,
                text: line.text.clone(),
                why,
            }),
        }
    }
    let in_file: Vec<u8> = out.iter().map(|r| r.phase).collect();
    out.sort_by_key(|r| r.phase);
    let moved = out.iter().map(|r| r.phase).collect::<Vec<_>>() != in_file;
    let note = moved.then(|| {
        "rules in the order HAProxy runs them (block, http-request, req* rewrites, reqadd, \
         redirect; http-response, rsp* rewrites, rspadd), not in file order"
            .to_owned()
    });
    (out, note)
}

/// `Ok(None)`: a rule whose condition never holds (left out, as HAProxy would never run it).
fn rule(
    line: &Line,
    states: &HashMap<String, AclState>,
    at: acl::Where,
) -> Result<Option<RuleOut>, String> {
    let w = &line.words;
    let cut = w
        .iter()
        .position(|x| x == "if" || x == "unless")
        .unwrap_or(w.len());
    let words = w.get(..cut).unwrap_or_default();
    let mut notes = Vec::new();
    let guard = match w.get(cut) {
        None => None,
        Some(kw) => {
            let cond =
                acl::condition(w.get(cut + 1..).unwrap_or_default(), states, at, &mut notes)?;
            let unless = kw == "unless";
            match (cond, unless) {
                (Cond::Always, false) | (Cond::Never, true) => None,
                (Cond::Never, false) | (Cond::Always, true) => return Ok(None),
                (Cond::Text(t), false) => Some(("if", t)),
                (Cond::Text(t), true) => Some(("unless", t)),
            }
        }
    };
    let head = words.first().map_or("", String::as_str);
    let (key, phase, fields) = match head {
        "http-request" => ("request_rule", 1, http_request(words, &mut notes)?),
        "http-response" => ("response_rule", 1, http_response(words)?),
        "block" => {
            if guard.is_none() && w.get(cut).is_none() {
                return Err("block needs a condition".into());
            }
            ("request_rule", 0, vec![("action", quote("deny"))])
        }
        "redirect" => (
            "request_rule",
            4,
            redirect(words.get(1..).unwrap_or_default())?,
        ),
        "reqadd" => ("request_rule", 3, added(words)?),
        "rspadd" => ("response_rule", 3, added(words)?),
        "reqdel" | "reqidel" => ("request_rule", 2, deleted(words, &mut notes)?),
        "rspdel" | "rspidel" => ("response_rule", 2, deleted(words, &mut notes)?),
        "reqrep" | "reqirep" => ("request_rule", 2, replaced(words, &mut notes)?),
        "rsprep" | "rspirep" => ("response_rule", 2, replaced(words, &mut notes)?),
        "reqdeny" | "reqideny" => {
            return Err(
                "a regex on whole header lines: ringlb's conditions test a header's value \
                 exactly, by prefix or by suffix (hdr, hdr_beg, hdr_end); write a deny \
                 request_rule with one of those"
                    .into(),
            )
        }
        _ => return Err("not a rule ringlb knows".into()),
    };
    Ok(Some(RuleOut {
        key,
        fields,
        guard,
        notes,
        phase,
    }))
}

type Fields = Vec<(&'static str, String)>;

/// A value ringlb writes as it is: HAProxy's log-format expressions are refused.
fn literal(v: &str) -> Result<String, String> {
    let mut chars = v.chars().peekable();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                _ => {
                    return Err(format!(
                        "`{v}` is a log-format expression; ringlb's values are literal text"
                    ))
                }
            }
        } else if c.is_control() && c != '\t' {
            return Err(format!("`{v}` holds a control character"));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn header_name(n: Option<&String>) -> Result<String, String> {
    let n = n.ok_or("needs a header name")?;
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if n.is_empty() || !n.chars().all(tchar) {
        return Err(format!("`{n}` is not a header name"));
    }
    Ok(n.clone())
}

/// An HAProxy (PCRE) regex for ringlb's `regex` crate, checked.
fn regex(re: &str) -> Result<String, String> {
    regex::bytes::Regex::new(re)
        .map(|_| re.to_owned())
        .map_err(|_| format!("regex `{re}` is not valid in ringlb's syntax (Rust regex: no look-around or backreferences)"))
}

/// HAProxy's `\1` back-references → `${1}`; `%[…]` refused.
fn replacement(fmt: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let d = chars.next().unwrap_or('0');
                out.push_str(&format!("${{{d}}}"));
            }
            '$' => out.push_str("$$"),
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                out.push('%');
            }
            '%' => {
                return Err(format!(
                    "`{fmt}` is a log-format expression; ringlb's values are literal text"
                ))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn http_request(w: &[String], notes: &mut Vec<String>) -> Result<Fields, String> {
    let action = w.get(1).map_or("", String::as_str);
    let a = |s: &str| ("action", quote(s));
    Ok(match action {
        "set-header" | "add-header" => {
            let name = header_name(w.get(2))?;
            let value = literal(w.get(3).ok_or("needs a value")?)?;
            extra(w, 4)?;
            vec![
                a(if action == "set-header" {
                    "set_header"
                } else {
                    "add_header"
                }),
                ("name", quote(&name)),
                ("value", quote(&value)),
            ]
        }
        "del-header" => {
            let name = header_name(w.get(2))?;
            match (w.get(3).map(String::as_str), w.get(4).map(String::as_str)) {
                (None, _) | (Some("-m"), Some("str")) => {}
                _ => return Err("del-header: only exact names translate".into()),
            }
            vec![a("del_header"), ("name", quote(&name))]
        }
        "replace-header" | "replace-value" => {
            let name = header_name(w.get(2))?;
            let re = regex(w.get(3).ok_or("needs a regex")?)?;
            let with = replacement(w.get(4).ok_or("needs a replacement")?)?;
            extra(w, 5)?;
            if action == "replace-value" {
                notes.push(
                    "replace-value → replace_header: ringlb matches the whole value, not each \
                     comma-separated item"
                        .into(),
                );
            }
            vec![
                a("replace_header"),
                ("name", quote(&name)),
                ("regex", quote(&re)),
                ("replace", quote(&with)),
            ]
        }
        "set-path" | "set-query" => {
            let v = literal(w.get(2).ok_or("needs a value")?)?;
            extra(w, 3)?;
            notes.push(format!(
                "{action}: ringlb routes on the path as received, not on the new one"
            ));
            vec![
                a(if action == "set-path" {
                    "set_path"
                } else {
                    "set_query"
                }),
                ("value", quote(&v)),
            ]
        }
        "redirect" => redirect(w.get(2..).unwrap_or_default())?,
        "deny" => {
            let mut f = vec![a("deny")];
            match (w.get(2).map(String::as_str), w.get(3)) {
                (None, _) => {}
                (Some("deny_status" | "status"), Some(s)) => {
                    let n: u16 = s.parse().map_err(|_| format!("invalid status `{s}`"))?;
                    if !crate::rules::DENY_STATUSES.contains(&n) {
                        return Err(format!("ringlb has no page for a deny with status {n}"));
                    }
                    extra(w, 4)?;
                    if n != 403 {
                        f.push(("status", n.to_string()));
                    }
                }
                _ => return Err("deny: only `deny_status N` translates".into()),
            }
            f
        }
        "return" => {
            let mut f = vec![a("return")];
            let mut i = 2;
            while let Some(k) = w.get(i) {
                let v = w.get(i + 1).ok_or_else(|| format!("`{k}` needs a value"))?;
                match k.as_str() {
                    "status" => {
                        let n: u16 = v.parse().map_err(|_| format!("invalid status `{v}`"))?;
                        if !(200..=599).contains(&n) {
                            return Err(format!("ringlb returns statuses 200–599, not {n}"));
                        }
                        f.push(("status", n.to_string()));
                    }
                    "content-type" => f.push(("content_type", quote(&literal(v)?))),
                    "string" => f.push(("body", quote(v))),
                    "file" => f.push(("file", quote(v))),
                    "lf-string" | "lf-file" => {
                        return Err(format!("`{k}`: ringlb's bodies are literal"))
                    }
                    "hdr" if v.eq_ignore_ascii_case("retry-after") => {
                        let s = w.get(i + 2).ok_or("hdr Retry-After needs a value")?;
                        let secs: u32 = s.parse().map_err(|_| {
                            format!("Retry-After `{s}`: ringlb writes a number of seconds")
                        })?;
                        f.push(("retry_after", secs.to_string()));
                        i += 3;
                        continue;
                    }
                    "hdr" => return Err(format!("hdr {v}: ringlb's return adds only Retry-After")),
                    _ => return Err(format!("return option `{k}` has no ringlb equivalent")),
                }
                i += 2;
            }
            f
        }
        "tarpit" => {
            // HAProxy's tarpit answers 500 unless told otherwise; ringlb's default is 429.
            let mut status = 500u16;
            match (w.get(2).map(String::as_str), w.get(3)) {
                (None, _) => {}
                (Some("deny_status"), Some(s)) => {
                    status = s.parse().map_err(|_| format!("invalid status `{s}`"))?;
                    if !crate::rules::DENY_STATUSES.contains(&status) {
                        return Err(format!(
                            "ringlb has no page for a tarpit with status {status}"
                        ));
                    }
                    extra(w, 4)?;
                }
                _ => return Err("tarpit: only `deny_status N` translates".into()),
            }
            notes.push(
                "tarpit: HAProxy holds the request for timeout tarpit (else timeout connect); \
                 ringlb holds it `delay`, 5s unless set"
                    .into(),
            );
            vec![a("tarpit"), ("status", status.to_string())]
        }
        "" => return Err("http-request needs an action".into()),
        other => return Err(format!("ringlb has no http-request {other}")),
    })
}

fn http_response(w: &[String]) -> Result<Fields, String> {
    let action = w.get(1).map_or("", String::as_str);
    match action {
        "set-header" | "add-header" | "del-header" | "replace-header" => {
            let mut notes = Vec::new();
            let f = http_request(w, &mut notes)?;
            if !notes.is_empty() {
                return Err(notes.join("; "));
            }
            Ok(f)
        }
        "" => Err("http-response needs an action".into()),
        other => Err(format!("ringlb has no http-response {other}")),
    }
}

/// `redirect location|prefix|scheme TO [code N] [drop-query] …` (the words after `redirect`).
fn redirect(w: &[String]) -> Result<Fields, String> {
    let kind = w.first().map_or("", String::as_str);
    let key: &'static str = match kind {
        "location" => "location",
        "prefix" => "prefix",
        "scheme" => "scheme",
        _ => {
            return Err(format!(
                "redirect `{kind}`: expected location, prefix or scheme"
            ))
        }
    };
    let to = literal(w.get(1).ok_or("redirect needs a target")?)?;
    let mut f = vec![("action", quote("redirect")), (key, quote(&to))];
    let mut i = 2;
    while let Some(opt) = w.get(i) {
        match opt.as_str() {
            "code" => {
                let c = w.get(i + 1).ok_or("code needs a value")?;
                let n: u16 = c.parse().map_err(|_| format!("invalid code `{c}`"))?;
                if !crate::rules::REDIRECT_CODES.contains(&n) {
                    return Err(format!(
                        "redirect code {n}: ringlb has 301, 302, 303, 307, 308"
                    ));
                }
                if n != 302 {
                    f.push(("code", n.to_string()));
                }
                i += 2;
            }
            "drop-query" => {
                f.push(("drop_query", "true".into()));
                i += 1;
            }
            other => {
                return Err(format!(
                    "redirect option `{other}` has no ringlb equivalent"
                ))
            }
        }
    }
    Ok(f)
}

/// Words after the ones a directive takes, before `if`/`unless`: not translated.
fn extra(w: &[String], from: usize) -> Result<(), String> {
    match w.get(from) {
        None => Ok(()),
        Some(x) => Err(format!("unexpected `{x}`")),
    }
}

/// `reqadd` / `rspadd "Name: value"`.
fn added(w: &[String]) -> Result<Fields, String> {
    let line = w.get(1).ok_or("needs a header line")?;
    extra(w, 2)?;
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("`{line}` is not a `Name: value` line"))?;
    let name = header_name(Some(&name.to_owned()))?;
    let value = literal(value.trim())?;
    Ok(vec![
        ("action", quote("add_header")),
        ("name", quote(&name)),
        ("value", quote(&value)),
    ])
}

/// The header name a whole-line regex starts with (`^X-Name:`), and the rest of the regex.
fn named_line(re: &str) -> Option<(String, &str)> {
    let body = re.strip_prefix('^')?;
    let colon = body.find(':')?;
    let raw = body.get(..colon)?;
    // `\-` and `\.` are escapes of plain characters in a name.
    let name: String = raw.replace("\\-", "-").replace("\\.", ".");
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    (!name.is_empty() && name.chars().all(tchar))
        .then(|| (name, body.get(colon + 1..).unwrap_or("")))
}

/// `reqdel` / `reqidel` / `rspdel` / `rspidel ^Name:…`.
fn deleted(w: &[String], notes: &mut Vec<String>) -> Result<Fields, String> {
    let re = w.get(1).ok_or("needs a regex")?;
    extra(w, 2)?;
    let (name, rest) = named_line(re).ok_or_else(|| {
        format!("`{re}` does not name one header (`^Name:`): only such deletions translate")
    })?;
    if !matches!(rest, "" | ".*" | " .*" | "\\ .*" | "\\s.*" | "\\s*.*") {
        return Err(format!(
            "`{re}` deletes only some values of {name}: ringlb deletes a header whole"
        ));
    }
    if !w.first().is_some_and(|h| h.contains("idel")) {
        notes.push(format!(
            "{}: ringlb matches header names ignoring case",
            w.first().map_or("", String::as_str)
        ));
    }
    Ok(vec![
        ("action", quote("del_header")),
        ("name", quote(&name)),
    ])
}

/// `reqrep` / `reqirep` / `rsprep` / `rspirep ^Name:\ VALUE-REGEX  Name:\ REPLACEMENT`.
fn replaced(w: &[String], notes: &mut Vec<String>) -> Result<Fields, String> {
    let re = w.get(1).ok_or("needs a regex")?;
    let with = w.get(2).ok_or("needs a replacement")?;
    extra(w, 3)?;
    let head = w.first().map_or("", String::as_str);
    let Some((name, rest)) = named_line(re) else {
        return Err(format!(
            "`{re}` does not name one header (`^Name:`): a rewrite of the request line or \
             of several headers does not translate (use set_path for paths)"
        ));
    };
    let new_value = with
        .split_once(':')
        .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
        .map(|(_, v)| v.trim_start())
        .ok_or_else(|| format!("`{with}` renames the header: only its value can be rewritten"))?;
    let rest = rest
        .trim_start_matches(' ')
        .trim_start_matches("\\s*")
        .trim_start_matches("\\s+")
        .trim_start_matches("\\ *")
        .trim_start_matches(' ');
    let insensitive = head.contains("irep");
    let value_re = format!("{}^{rest}", if insensitive { "(?i)" } else { "" });
    let value_re = regex(&value_re)?;
    if !insensitive {
        notes.push(format!("{head}: ringlb matches header names ignoring case"));
    }
    Ok(vec![
        ("action", quote("replace_header")),
        ("name", quote(&name)),
        ("regex", quote(&value_re)),
        ("replace", quote(&replacement(new_value)?)),
    ])
}

/// Writes a section's rules (`section` is `frontend.NAME` or `backend.NAME`, key-quoted).
pub(super) fn write(
    out: &mut super::emit::Out,
    section: &str,
    rules: &[RuleOut],
    note: Option<&str>,
) {
    for (i, r) in rules.iter().enumerate() {
        out.header(&format!("[[{section}.{}]]", r.key));
        if i == 0 {
            if let Some(n) = note {
                out.comment(n);
            }
        }
        for n in &r.notes {
            out.comment(n);
        }
        for (k, v) in &r.fields {
            out.kv(k, v, None);
        }
        if let Some((kw, cond)) = &r.guard {
            out.kv(kw, quote(cond), None);
        }
    }
}

/// Writes `[section.errorfile]`.
pub(super) fn write_errorfiles(out: &mut super::emit::Out, section: &str, files: &[(u16, String)]) {
    if files.is_empty() {
        return;
    }
    out.header(&format!("[{section}.errorfile]"));
    if files.iter().any(|(_, p)| !p.starts_with('/')) {
        out.comment("relative errorfile paths are read from ringlb's working directory");
    }
    for (status, path) in files {
        out.kv(&format!("{status}"), quote(path), None);
    }
}
