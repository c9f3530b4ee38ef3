//! `ringlb import-haproxy`: a classic haproxy.cfg → ringlb TOML.
//!
//! The translator is pure ([`translate`]: text in, TOML and the list of lines it could not
//! translate out); [`run`] is the only part doing I/O (read the file, print, exit status).
//! It imports `config` (to check its own output), `route` (to check every ACL and condition
//! it writes with ringlb's own parser), `rules` (the statuses and codes ringlb's rules and
//! error pages take), `track` (the limits of a tracking table) and std/regex, nothing above.
//!
//! Pipeline:
//! 1. [`lex`]: lines → words, HAProxy quoting and escapes; HAProxy times → microseconds;
//! 2. [`read`] (with [`settings`], [`net`], [`tls`], [`h2`]): sections → [`model::Model`], `defaults`
//!    inheritance with HAProxy semantics (each `defaults` starts afresh), `global`;
//! 3. [`emit`] (with [`front`], [`back`], [`acl`], [`rules`], [`tls`], [`h2`], [`track`]): resolve every value with HAProxy's
//!    meaning and write it where ringlb would otherwise differ, a `#` comment wherever the
//!    meaning changes.
//!
//! Invariants: every input line is either translated, dropped with a comment saying why the
//! drop changes nothing that matters (`daemon`), or listed in [`Translation::skipped`]; the
//! TOML is valid for `ringlb check` as long as the file had at least one usable frontend and
//! its server host names resolve.

mod acl;
mod back;
mod emit;
mod front;
mod h2;
mod hashing;
mod lex;
mod model;
mod net;
mod read;
mod rules;
mod settings;
mod tls;
mod track;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_balance;
#[cfg(test)]
mod tests_checks;
#[cfg(test)]
mod tests_h2;
#[cfg(test)]
mod tests_proxy;
#[cfg(test)]
mod tests_routing;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_tls;
#[cfg(test)]
mod tests_track;

use std::fmt;
use std::path::Path;

/// Exit status when every line was translated.
pub const EXIT_OK: u8 = 0;
/// Exit status when the input cannot be read.
pub const EXIT_UNREADABLE: u8 = 1;
/// Exit status when some lines were not translated (listed on stderr), or the result does
/// not pass `ringlb check`.
pub const EXIT_PARTIAL: u8 = 3;

/// The result of a translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The ringlb configuration.
    pub toml: String,
    /// The lines (or parts of lines) not translated, in file order.
    pub skipped: Vec<Skipped>,
}

/// A line of the haproxy.cfg that was not (entirely) translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// The line as written (trimmed), or the directive at fault.
    pub text: String,
    /// Why, and what ringlb does instead when that is useful to know.
    pub why: String,
}

impl Skipped {
    /// `FILE:LINE: not translated: TEXT (WHY)`.
    pub fn render(&self, file: &str) -> String {
        format!(
            "{file}:{}: not translated: {} ({})",
            self.line, self.text, self.why
        )
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: not translated: {} ({})",
            self.line, self.text, self.why
        )
    }
}

/// Translates the text of a haproxy.cfg; `file` names it in the header comment.
pub fn translate(text: &str, file: &str) -> Translation {
    let lines = lex::lines(text);
    let mut skipped = Vec::new();
    let model = read::read(&lines, &mut skipped);
    let toml = emit::emit(&model, file, &mut skipped);
    skipped.sort_by_key(|s| s.line);
    let toml = if skipped.is_empty() {
        toml
    } else {
        let mut head = format!(
            "# {} line(s) of {file} not translated (also listed on stderr):\n",
            skipped.len()
        );
        for s in &skipped {
            head.push_str(&format!("#   {}\n", lex::comment_text(&s.render(file))));
        }
        head.push_str(&toml);
        head
    };
    // Comments quote the input (names, untranslated lines): whatever wrote them, a comment
    // line must not carry control characters, which TOML forbids.
    let toml = toml
        .split_inclusive('\n')
        .map(|l| {
            if l.trim_start().starts_with('#') {
                lex::comment_text(l.trim_end_matches('\n')) + "\n"
            } else {
                l.to_string()
            }
        })
        .collect();
    Translation { toml, skipped }
}

/// `ringlb import-haproxy FILE`: the TOML on stdout, untranslated lines on stderr; returns the
/// exit status ([`EXIT_OK`], [`EXIT_PARTIAL`], [`EXIT_UNREADABLE`]).
pub fn run(path: &Path) -> u8 {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return EXIT_UNREADABLE;
        }
    };
    let t = translate(&text, &file);
    print!("{}", t.toml);
    for s in &t.skipped {
        eprintln!("{}", s.render(&file));
    }
    let mut status = if t.skipped.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    };
    if let Err(diags) = crate::config::parse_str(&t.toml, "<translated>") {
        for d in &diags {
            eprintln!("{file}: the translation does not pass ringlb check: {d}");
        }
        status = EXIT_PARTIAL;
    }
    status
}
