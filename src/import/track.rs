//! Per-client tracking: `stick-table`, `tcp-request connection track-sc0 src`, `http-request
//! track-sc0/1/2 src|req.hdr(NAME)|req.cook(NAME)` → `[frontend.X.track]`, and the fetches
//! `sc_*(N)`, `scN_*`, `src_*` of `conn_cur`, `conn_rate`, `http_req_rate`, `http_err_rate`,
//! `bytes_in_rate`, `bytes_out_rate` → ringlb's `sc_*` criteria.
//!
//! ringlb has one table per frontend: the first tracker of a frontend is translated (its
//! table, the frontend's own `stick-table` or the one `table NAME` names), the others are
//! listed as not translated, and so are conditions that read them.

use super::lex::{format_time, parse_time, quote, Line};
use super::model::Proxy;
use super::Skipped;

/// The counters ringlb keeps, by HAProxy's data type name.
const COUNTERS: &[&str] = &[
    "conn_cur",
    "conn_rate",
    "http_req_rate",
    "http_err_rate",
    "bytes_in_rate",
    "bytes_out_rate",
];

/// What a frontend's tracking became: the `[frontend.X.track]` keys and their notes.
#[derive(Debug, Clone, Default)]
pub(super) struct TrackOut {
    pub(super) keys: Vec<(&'static str, String)>,
    pub(super) notes: Vec<String>,
    /// Tracker numbers (0–2) whose fetches read this table.
    pub(super) counters: u8,
    /// The key is the client address: `src_*` fetches read it too.
    pub(super) src: bool,
}

/// Whether a line is a tracking action: `tcp-request connection|content|session track-scN …`
/// or `http-request track-scN …`.
pub(super) fn is_track(words: &[String]) -> bool {
    let at = match words.first().map(String::as_str) {
        Some("http-request") => 1,
        Some("tcp-request") => 2,
        _ => return false,
    };
    words
        .get(at)
        .is_some_and(|w| w.starts_with("track-sc") && w.len() == 9)
}

/// The table of a frontend, from its tracking lines, and the section whose `stick-table` it
/// is. `tables`: every proxy (a tracker may name another's table). A `tcp` frontend has no
/// requests: its `http-request` trackers are not translated.
pub(super) fn plan(
    p: &Proxy,
    tcp: bool,
    tables: &[Proxy],
    skipped: &mut Vec<Skipped>,
) -> Option<(TrackOut, String)> {
    let mut out: Option<(TrackOut, String)> = None;
    for line in &p.tracks {
        let http = line.words.first().is_some_and(|h| h == "http-request");
        let res = match &out {
            _ if tcp && http => Err(
                "http-request in a tcp-mode section: it has no requests to track (use \
                 tcp-request connection track-sc0 src)"
                    .to_owned(),
            ),
            Some(_) => Err(
                "ringlb has one tracking table per frontend: only the first track-sc is translated"
                    .to_owned(),
            ),
            None => tracker(line, p, tables),
        };
        match res {
            Ok(t) => out = Some(t),
            Err(why) => skipped.push(Skipped {
                line: line.no,
                text: line.text.clone(),
                why,
            }),
        }
    }
    out
}

fn tracker(line: &Line, p: &Proxy, tables: &[Proxy]) -> Result<(TrackOut, String), String> {
    let w = &line.words;
    let http = w.first().is_some_and(|h| h == "http-request");
    let at = if http { 1 } else { 2 };
    if !http
        && w.get(1)
            .is_some_and(|s| s != "connection" && s != "content" && s != "session")
    {
        return Err("only tcp-request connection|content|session track-sc translates".into());
    }
    let action = w.get(at).map_or("", String::as_str);
    let n: u8 = action
        .strip_prefix("track-sc")
        .and_then(|d| d.parse().ok())
        .filter(|d| *d <= 2)
        .ok_or_else(|| format!("`{action}`: ringlb knows track-sc0, track-sc1 and track-sc2"))?;
    let fetch = w.get(at + 1).ok_or("track-sc needs a key")?;
    let mut i = at + 2;
    let mut table_name = p.name.clone();
    while let Some(word) = w.get(i) {
        match word.as_str() {
            "table" => {
                table_name = w.get(i + 1).ok_or("`table` needs a name")?.clone();
                i += 2;
            }
            "if" | "unless" => {
                return Err(
                    "ringlb tracks every request of the frontend: a conditional track-sc \
                     does not translate"
                        .into(),
                )
            }
            other => return Err(format!("`{other}` after the key has no ringlb equivalent")),
        }
    }
    let (key, string_key) = match fetch.as_str() {
        "src" => ("src".to_owned(), false),
        f => {
            let (name, arg) = f
                .split_once('(')
                .map(|(n, a)| (n, a.trim_end_matches(')')))
                .ok_or_else(|| {
                    format!("track key `{f}`: ringlb tracks src, req.hdr(NAME) or req.cook(NAME)")
                })?;
            let k = match name {
                "req.hdr" | "hdr" | "req.fhdr" => format!("hdr({arg})"),
                "req.cook" | "cook" => format!("cookie({arg})"),
                _ => {
                    return Err(format!(
                        "track key `{f}`: ringlb tracks src, req.hdr(NAME) or req.cook(NAME)"
                    ))
                }
            };
            if arg.is_empty() || arg.contains(',') {
                return Err(format!("track key `{f}`: name one header or cookie"));
            }
            if !http {
                return Err(format!("`{f}` is not known at connection time"));
            }
            (k, true)
        }
    };
    let owner = tables
        .iter()
        .find(|t| t.name == table_name && t.stick_table.is_some())
        .ok_or_else(|| format!("no stick-table in section {table_name}"))?;
    let st = owner.stick_table.as_ref().ok_or("no stick-table")?;
    let mut out = table(st, string_key)?;
    out.keys.insert(0, ("key", quote(&key)));
    if table_name != p.name {
        out.notes.push(format!(
            "the stick-table of {table_name} (line {}) becomes this frontend's own table",
            st.no
        ));
    }
    if http && fetch == "src" {
        out.notes
            .push("http-request track-sc src: ringlb counts the connection when it opens".into());
    }
    out.counters = 1 << n;
    out.src = key == "src";
    Ok((out, table_name))
}

/// `stick-table type … size … expire … store …`.
fn table(st: &Line, string_key: bool) -> Result<TrackOut, String> {
    let w = st.words.get(1..).unwrap_or_default();
    let mut out = TrackOut::default();
    let mut i = 0;
    let mut periods: Vec<(&'static str, String)> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    while let Some(word) = w.get(i) {
        let val = w.get(i + 1);
        let need = || val.ok_or_else(|| format!("stick-table `{word}` needs a value"));
        if seen.contains(&word.as_str()) {
            return Err(format!("stick-table `{word}` is given twice"));
        }
        seen.push(word.as_str());
        match word.as_str() {
            "type" => {
                let t = need()?.as_str();
                match (t, string_key) {
                    ("ip" | "ipv6", false) | ("string", true) => {}
                    _ => {
                        return Err(format!(
                            "stick-table type {t} does not hold this key (ringlb: addresses or strings)"
                        ))
                    }
                }
                i += 2;
            }
            "len" => {
                let n: usize = need()?.parse().map_err(|_| "invalid len".to_owned())?;
                if n != crate::track::KEY_BYTES {
                    out.notes.push(format!(
                        "len {n}: ringlb compares string keys on their first {} bytes",
                        crate::track::KEY_BYTES
                    ));
                }
                i += 2;
            }
            "size" => {
                let v = need()?;
                let n = size(v).ok_or_else(|| format!("invalid stick-table size `{v}`"))?;
                out.keys.push(("size", n.to_string()));
                i += 2;
            }
            "expire" => {
                let v = need()?;
                let us = parse_time(v)
                    .filter(|us| *us >= 1_000_000 && *us <= super::lex::MAX_US)
                    .ok_or_else(|| format!("expire `{v}`: ringlb takes 1s to 24d"))?;
                out.keys.push(("expire", quote(&format_time(us))));
                i += 2;
            }
            "store" => {
                for item in need()?.split(',') {
                    let (name, period) = match item.split_once('(') {
                        Some((n, p)) => (n, Some(p.trim_end_matches(')'))),
                        None => (item, None),
                    };
                    match (COUNTERS.iter().find(|c| **c == name), period) {
                        (Some(&"conn_cur"), None) => {}
                        (Some(c), Some(p)) if c.ends_with("_rate") => {
                            let us = parse_time(p)
                                .filter(|us| *us >= 1_000_000 && *us <= super::lex::MAX_US)
                                .ok_or_else(|| {
                                    format!("{name}({p}): ringlb's periods are 1s to 24d")
                                })?;
                            let key = period_key(c);
                            if periods.iter().any(|(k, _)| *k == key) {
                                return Err(format!("stick-table stores `{c}` twice"));
                            }
                            periods.push((key, quote(&format_time(us))));
                        }
                        _ => dropped.push(item.to_owned()),
                    }
                }
                i += 2;
            }
            "nopurge" => {
                out.notes.push(
                    "nopurge: ringlb replaces the least recently seen entry when full".into(),
                );
                i += 1;
            }
            "peers" | "srvkey" | "write-to" | "recv-only" => {
                dropped.push(format!("{word} {}", val.map_or("", String::as_str)));
                i += 2;
            }
            other => return Err(format!("stick-table `{other}` has no ringlb equivalent")),
        }
    }
    // One period for all when HAProxy's are equal.
    let same = periods
        .windows(2)
        .all(|p| p.first().map(|a| &a.1) == p.get(1).map(|b| &b.1));
    match periods.first() {
        Some((_, p)) if same => out.keys.push(("period", p.clone())),
        _ => out.keys.extend(periods),
    }
    if !dropped.is_empty() {
        out.notes.push(format!(
            "not kept by ringlb: {} (its tables count conn_cur and the connection, request, \
             error and byte rates)",
            dropped.join(", ")
        ));
    }
    Ok(out)
}

fn period_key(counter: &str) -> &'static str {
    match counter {
        "conn_rate" => "conn_rate_period",
        "http_req_rate" => "http_req_rate_period",
        "http_err_rate" => "http_err_rate_period",
        "bytes_in_rate" => "bytes_in_rate_period",
        _ => "bytes_out_rate_period",
    }
}

/// HAProxy sizes: a number with an optional `k`, `m` or `g` (powers of 1024).
fn size(v: &str) -> Option<u32> {
    let (digits, mult) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (v.get(..i)?, 1024u64),
        (i, 'm' | 'M') => (v.get(..i)?, 1024 * 1024),
        (i, 'g' | 'G') => (v.get(..i)?, 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    let n = digits.parse::<u64>().ok()?.checked_mul(mult)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n >= 1 && *n <= crate::track::MAX_SIZE)
}

/// A fetch of a tracked counter: `sc_http_req_rate(0)`, `sc0_http_req_rate`,
/// `src_http_req_rate` → (ringlb counter name, which tracker: 0–2, or 3 for `src_*`). `None`
/// when the word is not such a fetch.
pub(super) fn fetch(word: &str) -> Option<Result<(&'static str, u8), String>> {
    let (head, arg) = match word.split_once('(') {
        Some((h, a)) => (h, Some(a.trim_end_matches(')'))),
        None => (word, None),
    };
    let (n, name) = if let Some(rest) = head.strip_prefix("sc_") {
        let n = match arg.map(|a| a.split(',').collect::<Vec<_>>()) {
            Some(parts) if parts.len() == 1 => parts.first().and_then(|d| d.trim().parse().ok()),
            Some(_) => {
                return Some(Err(format!(
                    "`{word}`: ringlb reads the frontend's own table"
                )))
            }
            None => None,
        };
        (n?, rest)
    } else if let Some(rest) = head.strip_prefix("src_") {
        if arg.is_some() {
            return Some(Err(format!(
                "`{word}`: ringlb reads the frontend's own table"
            )));
        }
        (3u8, rest)
    } else if head.len() > 4 && head.starts_with("sc") && head.as_bytes().get(3) == Some(&b'_') {
        let n = head.get(2..3)?.parse::<u8>().ok()?;
        (n, head.get(4..)?)
    } else {
        return None;
    };
    match COUNTERS.iter().find(|c| **c == name) {
        Some(c) if n <= 3 => Some(Ok((c, n))),
        Some(_) => Some(Err(format!("`{word}`: ringlb knows trackers 0 to 2"))),
        None => Some(Err(format!(
            "`{word}`: ringlb tracks {} only",
            COUNTERS.join(", ")
        ))),
    }
}

/// The ringlb criterion for a fetch of a counter and its values (`gt 100`), where the
/// section's table (if any) serves trackers `counters` and `src` keys.
pub(super) fn criterion(
    counter: &str,
    n: u8,
    values: &[String],
    counters: u8,
    src: bool,
) -> Result<String, String> {
    let readable = if n == 3 {
        src
    } else {
        counters & (1 << n) != 0
    };
    if !readable {
        return Err(match (n, counters) {
            (_, 0) => "this frontend has no track-sc ringlb translated: no table to read".into(),
            (3, _) => "src_* reads a table keyed by the client address; this one is not".into(),
            _ => format!("tracker {n} was not translated (ringlb has one table per frontend)"),
        });
    }
    let (op, num) = match values {
        [num] => ("eq", num),
        [op, num] if matches!(op.as_str(), "eq" | "gt" | "ge" | "lt" | "le") => (op.as_str(), num),
        _ => {
            return Err(format!(
                "`{}`: ringlb compares a counter with eq, gt, ge, lt or le and one number",
                values.join(" ")
            ))
        }
    };
    let v: u64 = num
        .parse()
        .map_err(|_| format!("`{num}`: ringlb compares counters with whole numbers"))?;
    Ok(format!("sc_{counter} {op} {v}"))
}
