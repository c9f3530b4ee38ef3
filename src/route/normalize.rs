//! Request-path normalisation (RFC 3986 §6.2.2), done once per request before any path
//! criterion is evaluated, so that `/%69mages/`, `/x/../images/` and `/images/` are one path.
//!
//! What changes: the query is cut off; percent-escapes of unreserved characters (letters,
//! digits, `-`, `.`, `_`, `~`) are decoded; every other escape is kept but written with
//! uppercase hex digits (`%2f` → `%2F`: an encoded slash is never turned into a separator);
//! dot-segments are removed (§5.2.4). Nothing else: `//` stays `//`, case is kept.
//!
//! A malformed escape (`%`, `%4`, `%zz`) makes the path [`InvalidPath`]. ringlb does not guess
//! what such a path means to the server behind it: when routing needs the path, the request is
//! refused (400) rather than matched or not matched.

use std::borrow::Cow;
use std::fmt;

/// The path has a `%` not followed by two hex digits, at byte `offset` of the raw target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidPath {
    pub offset: usize,
}

impl fmt::Display for InvalidPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid percent-escape at byte {}", self.offset)
    }
}

impl std::error::Error for InvalidPath {}

/// The normalised path of a request target (origin-form, query allowed). Borrows when the path
/// is already normal, which is the common case.
pub fn normalize_path(raw: &[u8]) -> Result<Cow<'_, [u8]>, InvalidPath> {
    let path = strip_query(raw);
    let escaped = path.contains(&b'%');
    if !escaped && !has_dot_segment(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = if escaped {
        Cow::Owned(normalize_escapes(path)?)
    } else {
        Cow::Borrowed(path)
    };
    if has_dot_segment(&decoded) {
        Ok(Cow::Owned(remove_dot_segments(&decoded)))
    } else {
        Ok(Cow::Owned(decoded.into_owned()))
    }
}

/// The target without its query (`?…`).
pub(super) fn strip_query(raw: &[u8]) -> &[u8] {
    match raw.iter().position(|&b| b == b'?') {
        Some(q) => raw.get(..q).unwrap_or(raw),
        None => raw,
    }
}

/// Decodes escapes of unreserved characters and uppercases the others. Also used on the
/// operator's `path_end` patterns, where removing dot-segments would make no sense.
pub(super) fn normalize_escapes(path: &[u8]) -> Result<Vec<u8>, InvalidPath> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |at: usize| path.get(at).and_then(|&h| (h as char).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
            return Err(InvalidPath { offset: i });
        };
        // Both digits are below 16, so the byte fits.
        let byte = (hi * 16 + lo) as u8;
        if is_unreserved(byte) {
            out.push(byte);
        } else {
            out.push(b'%');
            out.push(upper_hex(hi));
            out.push(upper_hex(lo));
        }
        i += 3;
    }
    Ok(out)
}

fn upper_hex(digit: u32) -> u8 {
    b"0123456789ABCDEF"
        .get(digit as usize)
        .copied()
        .unwrap_or(b'0')
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
}

/// RFC 3986 §5.2.4, on bytes. `..` above the root stays at the root (`/../a` → `/a`).
pub(super) fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    let mut input: &[u8] = path;
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix(b"../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix(b"./") {
            input = rest;
        } else if input.starts_with(b"/./") {
            input = input.get(2..).unwrap_or_default();
        } else if input == b"/." {
            input = b"/";
        } else if input.starts_with(b"/../") {
            input = input.get(3..).unwrap_or_default();
            pop_segment(&mut out);
        } else if input == b"/.." {
            input = b"/";
            pop_segment(&mut out);
        } else if input == b"." || input == b".." {
            input = b"";
        } else {
            // Move the first segment, with its leading '/', to the output.
            let start = usize::from(input.first() == Some(&b'/'));
            let end = input
                .iter()
                .skip(start)
                .position(|&b| b == b'/')
                .map_or(input.len(), |p| p + start);
            out.extend_from_slice(input.get(..end).unwrap_or_default());
            input = input.get(end..).unwrap_or_default();
        }
    }
    out
}

/// Drops the last segment and its preceding '/' from the output buffer.
fn pop_segment(out: &mut Vec<u8>) {
    let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
    out.truncate(cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        match normalize_path(raw.as_bytes()) {
            Ok(p) => String::from_utf8_lossy(&p).into_owned(),
            Err(e) => format!("invalid@{}", e.offset),
        }
    }

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(
            normalize_path(b"/images/a.png"),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(
            normalize_path(b"/a?x=%zz"),
            Ok(Cow::Borrowed(b"/a"))
        ));
    }

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(norm("/%69mages/"), "/images/");
        assert_eq!(norm("/%41%7E%7e%2D%5f%2E"), "/A~~-_.");
    }

    #[test]
    fn reserved_escapes_are_kept_and_uppercased() {
        assert_eq!(norm("/a%2fb"), "/a%2Fb");
        assert_eq!(norm("/a%2Fb"), "/a%2Fb");
        assert_eq!(norm("/%3f%20x"), "/%3F%20x");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(norm("/x/../images/"), "/images/");
        assert_eq!(norm("/./a"), "/a");
        assert_eq!(norm("/images/../secret"), "/secret");
        assert_eq!(norm("/a/b/."), "/a/b/");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/../../etc"), "/etc");
        assert_eq!(norm("/a/.../b"), "/a/.../b");
        assert_eq!(norm("/a/..b/c"), "/a/..b/c");
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        assert_eq!(norm("/images/%2e%2e/secret"), "/secret");
        assert_eq!(norm("/images/%2E./secret"), "/secret");
        assert_eq!(norm("/a/%2e/b"), "/a/b");
    }

    #[test]
    fn double_slashes_are_untouched() {
        assert_eq!(norm("//images//a"), "//images//a");
        // §5.2.4 treats the empty segment as a segment: `..` removes it.
        assert_eq!(norm("/a//../b"), "/a/b");
    }

    #[test]
    fn query_is_ignored() {
        assert_eq!(norm("/a/../b?x=/../y"), "/b");
        assert_eq!(norm("/a?"), "/a");
        assert_eq!(norm("?x"), "");
    }

    #[test]
    fn malformed_escapes_are_invalid() {
        assert_eq!(norm("/a%"), "invalid@2");
        assert_eq!(norm("/a%4"), "invalid@2");
        assert_eq!(norm("/ab%zz"), "invalid@3");
        // An escape in the query does not matter: the query is not part of the path.
        assert_eq!(norm("/a?%"), "/a");
    }

    #[test]
    fn asterisk_and_relative_forms_survive() {
        assert_eq!(norm("*"), "*");
        assert_eq!(norm("../a"), "a");
        assert_eq!(norm("."), "");
    }
}
