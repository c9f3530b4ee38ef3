//! haproxy.cfg lines → words, HAProxy time values → microseconds, and the TOML quoting the
//! emitter needs.
//!
//! Word splitting follows HAProxy's configuration parser: `#` starts a comment, words are
//! separated by blanks, `"…"` and `'…'` quote (no escapes inside single quotes), and outside
//! single quotes a backslash escapes a blank, `#`, `\`, a quote or `$`; `\t`, `\r`, `\n` and
//! `\xNN` make control characters; any other backslash is kept as written (so `path_reg
//! \.css$` keeps its regular-expression escape).

/// One non-empty line of the file: its number (1-based), text as written and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub(super) no: usize,
    /// The line without surrounding whitespace, for reports.
    pub(super) text: String,
    pub(super) words: Vec<String>,
}

/// Splits the file into lines of words, dropping blank and comment-only lines.
pub(super) fn lines(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let words = words(raw);
            (!words.is_empty()).then(|| Line {
                no: i + 1,
                text: raw.trim().to_owned(),
                words,
            })
        })
        .collect()
}

/// The words of one line, HAProxy style (see the module comment).
pub(super) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    // A word exists even when empty (`""`), so track it apart from its text.
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.peek().copied() {
                    Some(n @ (' ' | '\t' | '#' | '\\' | '\'' | '"' | '$')) => {
                        word.push(n);
                        chars.next();
                    }
                    Some('t') => {
                        word.push('\t');
                        chars.next();
                    }
                    Some('r') => {
                        word.push('\r');
                        chars.next();
                    }
                    Some('n') => {
                        word.push('\n');
                        chars.next();
                    }
                    Some('x') => {
                        chars.next();
                        let hex: String = chars.clone().take(2).collect();
                        match u8::from_str_radix(&hex, 16) {
                            Ok(b) if hex.len() == 2 => {
                                word.push(char::from(b));
                                chars.next();
                                chars.next();
                            }
                            _ => word.push_str("\\x"),
                        }
                    }
                    _ => word.push('\\'),
                }
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                in_word = true;
                quote = Some(c);
            }
            (None, '#') => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

const US_PER_MS: u64 = 1_000;

/// An HAProxy time (`5s`, `250ms`, `1500us`, `2m`, `1h`, `1d`; a bare number is milliseconds)
/// in microseconds. `None` if malformed.
pub(super) fn parse_time(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let per: u64 = match unit {
        "us" => 1,
        "" | "ms" => US_PER_MS,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(per)
}

/// The longest duration ringlb accepts (24 days), in microseconds.
pub(super) const MAX_US: u64 = 24 * 86_400_000_000;

/// Microseconds written with the largest unit that divides them exactly: `"50s"`, `"1500ms"`.
pub(super) fn format_time(us: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (86_400_000_000, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "m"),
        (1_000_000, "s"),
        (US_PER_MS, "ms"),
    ];
    for (per, unit) in UNITS {
        if us != 0 && us.is_multiple_of(*per) {
            return format!("{}{unit}", us / per);
        }
    }
    format!("{us}us")
}

/// A TOML basic string.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, else quoted (`"api.v2"` must not become two keys).
pub(super) fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_owned()
    } else {
        quote(s)
    }
}

/// A one-line rendering of a comment text: TOML comments may hold neither line breaks nor
/// control characters (other than tab), so each becomes a space or `\u{FFFD}`.
pub(super) fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            '\t' => '\t',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}
