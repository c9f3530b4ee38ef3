//! The one scanner of a head's field section: `Name: value\r\n…` up to the empty line.
//!
//! Everything in ringlb that reads or edits header fields by name goes through here: the
//! rewrite of forwarded heads, cookie persistence (`cookie`), routing's `hdr*` criteria
//! (`route` implements its `Headers` trait on [`FieldSection`]) and the session's lookups
//! ([`field_value`]).
//!
//! The bytes are expected to come from a head the parser accepted (or that ringlb wrote from
//! one): whole CRLF lines, one colon per field line, no obs-fold. On anything else the scanner
//! stays safe, never panics and never reads out of range: a line without a colon is not a
//! field and is skipped, a last line without LF is still a field, scanning stops at the first
//! empty line.

use std::ops::Range;

/// Whitespace around a field value (RFC 9110 §5.6.3: SP and HTAB).
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `v` without leading and trailing OWS.
pub fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|&b| !is_ows(b)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

/// The value of the first field `name` (compared ignoring ASCII case) in a field section
/// (`Name: value\r\n…`, possibly ending with the empty line), OWS trimmed.
pub fn field_value<'a>(fields: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    FieldSection::new(fields).first(name)
}

/// A copy of the complete head `head` in which each field line named `name` (ignoring ASCII
/// case) may be replaced: `edit` gets the line and the output, and returns true when it wrote
/// the line's replacement there (whole lines with their CRLF, or nothing to remove the line).
/// When it returns false the line is kept as it was (whatever it wrote is dropped). `None`
/// when no line was replaced.
pub fn edit_fields(
    head: &[u8],
    name: &[u8],
    mut edit: impl FnMut(&FieldLine<'_>, &mut Vec<u8>) -> bool,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(head.len() + 32);
    let mut changed = false;
    // Start of the bytes not copied yet.
    let mut last = 0;
    for f in FieldSection::of_head(head).lines().filter(|f| f.is(name)) {
        let mark = out.len();
        out.extend_from_slice(head.get(last..f.start).unwrap_or(&[]));
        if edit(&f, &mut out) {
            changed = true;
            last = f.end();
        } else {
            out.truncate(mark);
        }
    }
    if !changed {
        return None;
    }
    out.extend_from_slice(head.get(last..).unwrap_or(&[]));
    Some(out)
}

/// The field lines of a head, as a range of the buffer they live in. Offsets handed out
/// ([`FieldLine::start`]) are offsets in that buffer, so an edit can copy around a line.
#[derive(Clone, Copy, Debug)]
pub struct FieldSection<'a> {
    buf: &'a [u8],
    start: usize,
    end: usize,
}

impl<'a> FieldSection<'a> {
    /// `section` is a field section on its own: the bytes after the start line, up to and
    /// possibly including the empty line.
    pub fn new(section: &'a [u8]) -> Self {
        FieldSection {
            buf: section,
            start: 0,
            end: section.len(),
        }
    }

    /// The field section at `range` of `buf` (e.g. `headers_start..head_len` of a parsed head).
    /// A range that does not fit `buf` is an empty section.
    pub fn within(buf: &'a [u8], range: Range<usize>) -> Self {
        let fits = range.start <= range.end && range.end <= buf.len();
        FieldSection {
            buf,
            start: if fits { range.start } else { 0 },
            end: if fits { range.end } else { 0 },
        }
    }

    /// The field section of a complete head (start line, fields, empty line): everything
    /// after the first line.
    pub fn of_head(head: &'a [u8]) -> Self {
        let start = head
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |i| i + 1);
        FieldSection::within(head, start..head.len())
    }

    /// The field lines, in order.
    pub fn lines(&self) -> FieldLines<'a> {
        FieldLines {
            buf: self.buf,
            at: self.start,
            end: self.end,
        }
    }

    /// Values of every field named `name` (ignoring ASCII case), in order, OWS trimmed.
    pub fn values<'n>(&self, name: &'n [u8]) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.lines().filter(move |f| f.is(name)).map(|f| f.value)
    }

    /// The value of the first field named `name` (ignoring ASCII case), OWS trimmed.
    pub fn first(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.lines().find(|f| f.is(name)).map(|f| f.value)
    }
}

/// One field line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLine<'a> {
    /// Where the line starts in the section's buffer.
    pub start: usize,
    /// The whole line as received, its CRLF included.
    pub line: &'a [u8],
    /// The field name, as written.
    pub name: &'a [u8],
    /// The field value, OWS trimmed.
    pub value: &'a [u8],
}

impl FieldLine<'_> {
    /// Where the next line starts in the section's buffer.
    pub fn end(&self) -> usize {
        self.start + self.line.len()
    }

    /// Whether this field is named `name`, ignoring ASCII case.
    pub fn is(&self, name: &[u8]) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Iterator over the field lines of a [`FieldSection`].
#[derive(Clone, Debug)]
pub struct FieldLines<'a> {
    buf: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Iterator for FieldLines<'a> {
    type Item = FieldLine<'a>;

    fn next(&mut self) -> Option<FieldLine<'a>> {
        loop {
            let rest = self.buf.get(self.at..self.end)?;
            if rest.is_empty() {
                return None;
            }
            let len = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let (line, _) = rest.split_at(len);
            let start = self.at;
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            if content.is_empty() {
                // The empty line ends the section.
                self.at = self.end;
                return None;
            }
            self.at += len;
            let Some(colon) = content.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = content.split_at(colon);
            return Some(FieldLine {
                start,
                line,
                name,
                value: trim_ows(value.get(1..).unwrap_or(&[])),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] =
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Tag:\t one two \r\nx-tag: three\r\nEmpty:\r\n\r\nBody: no\r\n";

    #[test]
    fn iterates_fields_after_the_start_line_until_the_empty_line() {
        let names: Vec<&[u8]> = FieldSection::of_head(HEAD)
            .lines()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, vec![&b"Host"[..], b"X-Tag", b"x-tag", b"Empty"]);
    }

    #[test]
    fn values_are_ows_trimmed_and_names_case_insensitive() {
        let s = FieldSection::of_head(HEAD);
        let tags: Vec<&[u8]> = s.values(b"X-TAG").collect();
        assert_eq!(tags, vec![&b"one two"[..], b"three"]);
        assert_eq!(s.first(b"x-tag"), Some(&b"one two"[..]));
        assert_eq!(s.first(b"empty"), Some(&b""[..]));
        assert_eq!(s.first(b"body"), None);
        assert_eq!(s.first(b"host"), Some(&b"a"[..]));
    }

    #[test]
    fn offsets_are_in_the_buffer_and_lines_keep_their_crlf() {
        let s = FieldSection::of_head(HEAD);
        let f = s.lines().nth(1).unwrap();
        assert_eq!(f.line, b"X-Tag:\t one two \r\n");
        assert_eq!(HEAD.get(f.start..f.end()), Some(f.line));
        let w = FieldSection::within(HEAD, 16..HEAD.len());
        assert_eq!(w.lines().next().unwrap().start, 16);
    }

    #[test]
    fn a_bare_section_without_the_empty_line_or_last_lf() {
        assert_eq!(field_value(b"A: 1\r\nB:  2 ", b"b"), Some(&b"2"[..]));
        assert_eq!(field_value(b"A: 1\nB: 2\n", b"B"), Some(&b"2"[..]));
        assert_eq!(field_value(b"no colon\r\nA: 1\r\n", b"a"), Some(&b"1"[..]));
        assert_eq!(field_value(b"", b"a"), None);
    }

    #[test]
    fn ranges_that_do_not_fit_are_empty() {
        assert_eq!(FieldSection::within(HEAD, 5..500).lines().count(), 0);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = FieldSection::within(HEAD, 20..10);
        assert_eq!(backwards.lines().count(), 0);
    }

    /// Every prefix of a head (a section cut anywhere, as a partial receive leaves it): lines
    /// are the buffer's own bytes at their offsets, values carry no OWS, nothing panics.
    #[test]
    fn every_prefix_scans_consistently() {
        let head: &[u8] =
            b"GET / HTTP/1.1\r\nA:\t x \r\nno colon\nB:y\n:empty name\r\n\r\nC: after\r\n";
        for end in 0..=head.len() {
            let buf = &head[..end];
            for s in [FieldSection::new(buf), FieldSection::of_head(buf)] {
                for f in s.lines() {
                    assert_eq!(buf.get(f.start..f.end()), Some(f.line));
                    assert!(!f.name.contains(&b':'));
                    assert_eq!(trim_ows(f.value), f.value);
                }
                assert_eq!(s.values(b"c").count(), 0, "nothing after the empty line");
            }
        }
    }

    #[test]
    fn edits_replace_remove_or_keep_named_lines() {
        let head: &[u8] = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\na: 3\r\nC: 4\r\n\r\n";
        let out = edit_fields(head, b"a", |f, out| match f.value {
            b"1" => {
                out.extend_from_slice(b"A: one\r\n");
                true
            }
            b"3" => true,
            _ => false,
        });
        assert_eq!(
            out.as_deref(),
            Some(&b"HTTP/1.1 200 OK\r\nA: one\r\nB: 2\r\nC: 4\r\n\r\n"[..])
        );
        let kept = edit_fields(head, b"b", |_, out| {
            out.extend_from_slice(b"dropped");
            false
        });
        assert_eq!(kept, None);
    }

    #[test]
    fn trims_only_ows() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
    }
}
