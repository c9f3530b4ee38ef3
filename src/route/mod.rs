//! Content routing: which backend gets a request, decided from ACLs and ordered routes, as
//! HAProxy's `acl` / `use_backend … if …`.
//!
//! This room is pure: no I/O, no clock, no threads. It imports std, the `regex` crate, `track`
//! (the names of the per-client counters `sc_*` criteria test, and a client's [`crate::track::Sample`] of
//! them) and `http`, for its field scanner: header criteria read a request's fields with
//! [`crate::http::FieldSection`], the one scanner of the house, which implements [`Headers`]
//! here. Routing sits above the codec (it evaluates HTTP requests; the codec knows nothing of
//! routing), so the arrow goes route → http and never back. [`Headers`] stays a trait so that
//! fields that are not a raw HTTP/1.1 section (an HTTP/2 stream's decoded list, [`Pairs`]) can be
//! routed too.
//!
//! `config` imports this room to parse and check the condition strings at load time, the
//! snapshot compiles a frontend's routes into a [`Router`], and the proxy calls
//! [`Router::select`] once per request.
//!
//! - [`expr`]: the text of an ACL definition or a condition → [`Criterion`] / [`Condition`],
//!   with byte offsets in every error; `lex` splits that text into tokens;
//! - [`normalize`]: the request path as criteria see it (percent-escapes, dot-segments);
//! - [`matcher`]: [`Router`], evaluating over a borrowed [`RequestView`].
//!
//! Invariants: evaluation never panics and never allocates except for a path that needs
//! normalising; a request whose path cannot be normalised is never routed on its path
//! ([`Router::select`] returns [`InvalidPath`] and the proxy answers 400).
// Network input never panics here: no unwrap/expect, no indexing or slicing that input could
// push out of range, no panic!. Held by Cargo.toml `[lints.clippy]` (crate-wide; tests may
// unwrap, see .clippy.toml); docs/reliability.md says how this was audited.

pub mod expr;
mod lex;
pub mod matcher;
pub mod normalize;

pub use expr::{
    is_acl_name, parse_condition, parse_criterion, Acl, Cidr, Cmp, Condition, Criterion, Guard,
    ParseError, PathRegex, StrMatch, Strings, Term, Test, CRITERIA,
};
pub use matcher::{Headers, NoHeaders, Pairs, RequestView, Router, UnknownAcl};
pub use normalize::{normalize_path, InvalidPath};

/// The candidate closest to `word` if it is plausibly a typo of it (for "did you mean").
/// Compares the part before any `(`, so `hdr_begin(X)` suggests `hdr_beg(NAME)`.
fn suggest<'k>(word: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let base = |s: &str| s.split('(').next().unwrap_or(s).to_ascii_lowercase();
    let w = base(word);
    let limit = (w.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (levenshtein(&w, &base(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.last().copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_compare_the_criterion_name() {
        assert_eq!(suggest("path_begin", CRITERIA), Some("path_beg"));
        assert_eq!(suggest("hdr_begin(X)", CRITERIA), Some("hdr_beg(NAME)"));
        assert_eq!(suggest("cookie", CRITERIA), None);
    }
}
