//! Typed, error-collecting access to the spanned TOML tree.
//!
//! Every getter returns `Option`: `None` means "absent" or "invalid", and in the invalid case a
//! [`Diagnostic`] has already been recorded in [`Cx`]. Section parsers therefore never stop at
//! the first problem; they substitute a default and carry on, and [`Cx::finish`] discards the
//! half-built result if anything was recorded.
//!
//! A new section (`[stats]`, `[backend.X.check]`, …) needs only a [`Schema`] listing its keys and
//! a few getter calls; unknown-key reporting and suggestions come from [`Table`].

use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use crate::config::defaults::{MAX_DURATION, MAX_NAME_LEN};
use crate::config::Diagnostic;

pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// Diagnostics collected for one file.
pub(super) struct Cx<'a> {
    file: &'a str,
    text: &'a str,
    /// Byte offset (None for whole-file problems) kept for sorting into file order, because the
    /// walk visits tables in key order, not file order.
    diags: Vec<(Option<usize>, Diagnostic)>,
    /// Turns a server's `HOST:PORT` into an address: the system resolver in production, a
    /// table in tests and fuzzing (which must not touch the network).
    pub(super) resolve: crate::config::Resolver<'a>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(file: &'a str, text: &'a str, resolve: crate::config::Resolver<'a>) -> Self {
        Cx {
            file,
            text,
            diags: Vec::new(),
            resolve,
        }
    }

    pub(super) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let d = Diagnostic::at(self.file, self.text, span.start, message);
        self.diags.push((Some(span.start), d));
    }

    pub(super) fn error_help(
        &mut self,
        span: &Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = Diagnostic::at(self.file, self.text, span.start, message).with_help(help);
        self.diags.push((Some(span.start), d));
    }

    pub(super) fn file_error(&mut self, message: impl Into<String>, help: impl Into<String>) {
        let d = Diagnostic::file(self.file, message).with_help(help);
        self.diags.push((None, d));
    }

    /// A problem found when comparing sections, at a place recorded earlier.
    pub(super) fn error_at(
        &mut self,
        place: &crate::config::Place,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push((None, place.diagnostic(message).with_help(help)));
    }

    /// The file, line and column of a byte offset, for problems found after parsing.
    pub(super) fn place(&self, offset: usize) -> crate::config::Place {
        let d = Diagnostic::at(self.file, self.text, offset, "");
        crate::config::Place {
            file: d.file,
            line: d.line,
            col: d.col,
        }
    }

    /// 1-based line of a byte offset, for "first defined at line N" hints.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        Diagnostic::at(self.file, self.text, offset, "").line
    }

    /// `Ok(value)` if nothing was recorded, else every diagnostic in file order (whole-file
    /// problems last: they are usually consequences of the positioned ones).
    pub(super) fn finish<T>(self, value: T) -> Result<T, Vec<Diagnostic>> {
        if self.diags.is_empty() {
            return Ok(value);
        }
        let mut diags = self.diags;
        diags.sort_by_key(|(offset, _)| (offset.is_none(), offset.unwrap_or(0)));
        Err(diags.into_iter().map(|(_, d)| d).collect())
    }
}

/// The keys a table accepts.
pub(super) struct Schema {
    pub(super) known: &'static [&'static str],
    /// Keys that are valid elsewhere, with a hint saying where: "`balance` is a backend setting".
    /// They are still errors here, but the help is better than a spelling suggestion.
    pub(super) elsewhere: &'static [(&'static str, &'static str)],
    /// Keys are names the operator chooses (`[frontend.NAME]`), so none is unknown.
    pub(super) names: bool,
}

impl Schema {
    /// A table whose keys are operator-chosen names.
    pub(super) const NAMES: Schema = Schema {
        known: &[],
        elsewhere: &[],
        names: true,
    };
}

/// A TOML table being read, with the path used in messages (`[frontend.www]`).
pub(super) struct Table<'t, 'i> {
    /// Dotted path from the root (`frontend.www`); empty for the root.
    pub(super) path: String,
    /// An element of an array of tables, shown as `[[path]]`.
    array: bool,
    /// The schema's known keys, to tell a missing key from a misspelt one.
    known: &'static [&'static str],
    /// The table's own span (its `[header]` or `{ inline }` text); "missing key" errors point
    /// here when the table has no better anchor.
    pub(super) span: Range<usize>,
    map: &'t DeTable<'i>,
}

impl<'t, 'i> Table<'t, 'i> {
    /// Checks that `value` is a table and reports every key `schema` does not know.
    pub(super) fn new(
        cx: &mut Cx<'_>,
        path: String,
        key: &str,
        value: &'t Value<'i>,
        schema: &Schema,
    ) -> Option<Self> {
        let table = Self::shape(cx, path, key, value, schema.known)?;
        table.check_keys(cx, schema);
        Some(table)
    }

    /// `value` as a table whose keys are not checked yet; an error if it is not a table.
    fn shape(
        cx: &mut Cx<'_>,
        path: String,
        key: &str,
        value: &'t Value<'i>,
        known: &'static [&'static str],
    ) -> Option<Self> {
        match value.get_ref() {
            DeValue::Table(map) => Some(Table {
                path,
                array: false,
                known,
                span: value.span(),
                map,
            }),
            other => {
                cx.error(
                    &value.span(),
                    format!("expected a table for `{key}`, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// The document root.
    pub(super) fn root(cx: &mut Cx<'_>, map: &'t DeTable<'i>, schema: &Schema) -> Self {
        let table = Table {
            path: String::new(),
            array: false,
            known: schema.known,
            span: 0..0,
            map,
        };
        table.check_keys(cx, schema);
        table
    }

    /// Reports every key `schema` does not list, with a suggestion or the list of known keys.
    fn check_keys(&self, cx: &mut Cx<'_>, schema: &Schema) {
        if schema.names {
            return;
        }
        let table = self;
        for (name, span, _) in table.entries() {
            if schema.known.contains(&name) {
                continue;
            }
            if let Some((_, hint)) = schema.elsewhere.iter().find(|(k, _)| *k == name) {
                cx.error_help(
                    &span,
                    format!("`{name}` is not allowed in {}", table.shown()),
                    *hint,
                );
                continue;
            }
            let help = match suggest(name, schema.known.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None if schema.known.is_empty() => "this table takes no keys".to_owned(),
                None => format!("expected one of: {}", schema.known.join(", ")),
            };
            cx.error_help(
                &span,
                format!("unknown key \"{name}\" in {}", table.shown()),
                help,
            );
        }
    }

    /// True if required `key` is absent and was not merely misspelt: a misspelling is already
    /// reported as an unknown key with a suggestion, and "missing" on top would be noise.
    pub(super) fn lacks(&self, key: &str) -> bool {
        self.get(key).is_none()
            && !self
                .map
                .iter()
                .map(|(k, _)| k.get_ref().as_ref())
                .filter(|k| !self.known.contains(k))
                .any(|k| suggest(k, self.known.iter().copied()) == Some(key))
    }

    /// The path as written in the file: `[frontend.www]`, `[[backend.web.server]]`.
    pub(super) fn shown(&self) -> String {
        match (self.path.is_empty(), self.array) {
            (true, _) => "the top level".to_owned(),
            (false, false) => format!("[{}]", self.path),
            (false, true) => format!("[[{}]]", self.path),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Entries in file order: (key, key span, value).
    pub(super) fn entries(&self) -> Vec<(&'t str, Range<usize>, &'t Value<'i>)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|(k, v): (&'t Spanned<DeString<'i>>, &'t Value<'i>)| {
                (k.get_ref().as_ref(), k.span(), v)
            })
            .collect();
        v.sort_by_key(|(_, span, _)| span.start);
        v
    }

    pub(super) fn get(&self, key: &str) -> Option<&'t Value<'i>> {
        self.map.get(key)
    }

    pub(super) fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.map.get_key_value(key).map(|(k, _)| k.span())
    }

    /// A sub-table (`[a.b]` or `b = { … }`).
    pub(super) fn table(&self, cx: &mut Cx<'_>, key: &str, schema: &Schema) -> Option<Self> {
        let value = self.get(key)?;
        Table::new(cx, self.child_path(key), key, value, schema)
    }

    /// A string and the span of its value (for errors found later, such as cross-references).
    pub(super) fn str(&self, cx: &mut Cx<'_>, key: &str) -> Option<(&'t str, Range<usize>)> {
        let value = self.get(key)?;
        Some((expect_str(cx, key, value)?, value.span()))
    }

    pub(super) fn bool(&self, cx: &mut Cx<'_>, key: &str) -> Option<bool> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                type_error(cx, key, "a boolean", value, other);
                None
            }
        }
    }

    pub(super) fn u32(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        range: RangeInclusive<u32>,
    ) -> Option<u32> {
        expect_u32(cx, key, self.get(key)?, range)
    }

    pub(super) fn duration(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        allow_zero: bool,
    ) -> Option<Duration> {
        expect_duration(cx, key, self.get(key)?, allow_zero)
    }

    /// One of a fixed set of words; `noun` names the set in messages ("balance algorithm").
    pub(super) fn enum_of<T: Copy>(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        noun: &str,
        choices: &[(&'static str, T)],
    ) -> Option<T> {
        let value = self.get(key)?;
        let word = expect_str(cx, key, value)?;
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == word) {
            return Some(*t);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let message = format!(
            "unknown {noun} \"{word}\" (expected one of: {})",
            names.join(", ")
        );
        match suggest(word, names.iter().copied()) {
            Some(s) => cx.error_help(&value.span(), message, format!("did you mean \"{s}\"?")),
            None => cx.error(&value.span(), message),
        }
        None
    }

    /// A string or an array of strings, each with its span.
    pub(super) fn strings(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
    ) -> Option<Vec<(&'t str, Range<usize>)>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(vec![(s.as_ref(), value.span())]),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    if let Some(s) = expect_str(cx, key, item) {
                        out.push((s, item.span()));
                    }
                }
                Some(out)
            }
            other => {
                type_error(cx, key, "a string or an array of strings", value, other);
                None
            }
        }
    }

    /// An array of tables (`[[a.b]]` sections or `b = [{ … }, …]`), each checked against
    /// `schema`.
    pub(super) fn array_of_tables(
        &self,
        cx: &mut Cx<'_>,
        key: &str,
        schema: &Schema,
    ) -> Option<Vec<Table<'t, 'i>>> {
        let value = self.get(key)?;
        let path = self.child_path(key);
        let DeValue::Array(items) = value.get_ref() else {
            let help = format!("write each one as a [[{path}]] section (double brackets)");
            let message = format!(
                "expected an array of tables for `{key}`, found {}",
                kind(value.get_ref())
            );
            cx.error_help(&value.span(), message, help);
            return None;
        };
        Some(
            items
                .iter()
                .filter_map(|item| {
                    // An element of an array of tables, shown as `[[path]]` in its messages.
                    let mut table = Table::shape(cx, path.clone(), key, item, schema.known)?;
                    table.array = true;
                    table.check_keys(cx, schema);
                    Some(table)
                })
                .collect(),
        )
    }
}

/// "a string", "an integer", … for "expected X, found Y" messages.
pub(super) fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn type_error(cx: &mut Cx<'_>, key: &str, expected: &str, at: &Value<'_>, found: &DeValue<'_>) {
    let message = format!("expected {expected} for `{key}`, found {}", kind(found));
    // Quoted numbers and booleans are the usual mistake; say so.
    match found {
        DeValue::String(s) if expected == "an integer" && s.parse::<i64>().is_ok() => cx
            .error_help(
                &at.span(),
                message,
                format!("remove the quotes: {key} = {s}"),
            ),
        DeValue::String(s) if expected == "a boolean" && (s == "true" || s == "false") => cx
            .error_help(
                &at.span(),
                message,
                format!("remove the quotes: {key} = {s}"),
            ),
        _ => cx.error(&at.span(), message),
    }
}

pub(super) fn expect_str<'v>(cx: &mut Cx<'_>, key: &str, value: &'v Value<'_>) -> Option<&'v str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        other => {
            type_error(cx, key, "a string", value, other);
            None
        }
    }
}

/// The integer in `value`, or a diagnostic if it is not an integer or does not fit an `i64`.
pub(super) fn expect_int(cx: &mut Cx<'_>, key: &str, value: &Value<'_>) -> Option<i64> {
    match value.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Some(n),
            Err(_) => {
                cx.error(&value.span(), format!("integer for `{key}` is too large"));
                None
            }
        },
        other => {
            type_error(cx, key, "an integer", value, other);
            None
        }
    }
}

pub(super) fn expect_u32(
    cx: &mut Cx<'_>,
    key: &str,
    value: &Value<'_>,
    range: RangeInclusive<u32>,
) -> Option<u32> {
    let n = expect_int(cx, key, value)?;
    match u32::try_from(n) {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            cx.error(
                &value.span(),
                format!(
                    "`{key}` must be between {} and {}, found {n}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }
}

const DURATION_HELP: &str = "write an integer followed by a unit: us, ms, s, m, h or d \
     (e.g. \"5s\", \"250ms\"); a bare integer means milliseconds";

/// A duration: a string such as `"5s"` or an integer number of milliseconds (as in HAProxy).
pub(super) fn expect_duration(
    cx: &mut Cx<'_>,
    key: &str,
    value: &Value<'_>,
    allow_zero: bool,
) -> Option<Duration> {
    let parsed = match value.get_ref() {
        DeValue::String(s) => parse_duration(s),
        DeValue::Integer(_) => {
            let ms = expect_int(cx, key, value)?;
            match u64::try_from(ms) {
                Ok(ms) => Ok(Duration::from_millis(ms)),
                Err(_) => Err(DurationError::Negative),
            }
        }
        other => {
            cx.error_help(
                &value.span(),
                format!("expected a duration for `{key}`, found {}", kind(other)),
                DURATION_HELP,
            );
            return None;
        }
    };
    let shown = match value.get_ref() {
        DeValue::String(s) => format!("\"{s}\""),
        _ => value_text(value),
    };
    let span = value.span();
    match parsed {
        Ok(d) if d > MAX_DURATION => cx.error_help(
            &span,
            format!("duration {shown} for `{key}` is too long"),
            "the longest accepted duration is 24d",
        ),
        Ok(d) if d.is_zero() && !allow_zero => cx.error_help(
            &span,
            format!("duration for `{key}` must be greater than zero"),
            "ringlb has no infinite timeouts; use a long one such as \"1h\"",
        ),
        Ok(d) => return Some(d),
        Err(DurationError::Negative) => cx.error_help(
            &span,
            format!("duration {shown} for `{key}` must not be negative"),
            DURATION_HELP,
        ),
        Err(DurationError::TooLong) => cx.error_help(
            &span,
            format!("duration {shown} for `{key}` is too long"),
            "the longest accepted duration is 24d",
        ),
        Err(DurationError::Invalid) => cx.error_help(
            &span,
            format!("invalid duration {shown} for `{key}`"),
            DURATION_HELP,
        ),
    }
    None
}

fn value_text(value: &Value<'_>) -> String {
    match value.get_ref() {
        DeValue::Integer(i) => i.to_string(),
        other => kind(other).to_owned(),
    }
}

#[derive(Debug, PartialEq)]
pub(super) enum DurationError {
    Negative,
    TooLong,
    Invalid,
}

/// Parses `"<digits><unit>"` with unit one of us, ms, s, m, h, d; no unit means milliseconds.
pub(super) fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    if s.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::Invalid);
    }
    let micros_per_unit: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return Err(DurationError::Invalid),
    };
    // Digits-only strings can only fail to parse by overflowing.
    let n: u64 = digits.parse().map_err(|_| DurationError::TooLong)?;
    let micros = n
        .checked_mul(micros_per_unit)
        .ok_or(DurationError::TooLong)?;
    Ok(Duration::from_micros(micros))
}

/// Checks a frontend, backend or server name; they end up in log lines and metric labels.
pub(super) fn check_name(cx: &mut Cx<'_>, what: &str, name: &str, span: &Range<usize>) -> bool {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        cx.error_help(
            span,
            format!("invalid {what} name \"{name}\""),
            format!(
                "names use only ASCII letters, digits, '-', '_' and '.', \
                 1 to {MAX_NAME_LEN} characters"
            ),
        );
    }
    ok
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(super) fn suggest<'k>(
    word: &str,
    candidates: impl IntoIterator<Item = &'k str>,
) -> Option<&'k str> {
    let word_lower = word.to_ascii_lowercase();
    let limit = match word.chars().count() {
        0..=3 => 1,
        n => (n / 3).max(2),
    };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&word_lower, &c.to_ascii_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that
/// "defualt" is one edit from "default", the commonest typo.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows suffice: the transposition case looks two rows back. Indexes stay in range by
    // construction (rows have `b.len() + 1` entries); `at` reads 0 rather than panic anyway.
    let at = |row: &[usize], j: usize| row.get(j).copied().unwrap_or(0);
    let mut before_prev: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        // Row i + 1 of the table: the first i + 1 characters of `a`.
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            // Column j + 1: the first j + 1 characters of `b`.
            let cost = usize::from(ca != cb);
            let mut d = (at(&prev, j + 1) + 1)
                .min(at(&cur, j) + 1)
                .min(at(&prev, j) + cost);
            let swapped = i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca);
            if swapped {
                d = d.min(at(&before_prev, j - 1) + 1);
            }
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = d;
            }
        }
        std::mem::swap(&mut before_prev, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    at(&prev, b.len())
}
