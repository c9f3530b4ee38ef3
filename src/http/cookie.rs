//! Cookie fields for persistence: find a cookie in a request, rewrite the `Cookie` and
//! `Set-Cookie` lines of a head while the rewrite step writes it (see `FieldEdit`). Works on complete heads
//! (`…\r\n\r\n`) that ringlb itself wrote, so lines are well-formed CRLF lines. Field lines
//! are found and replaced with the room's one scanner ([`FieldSection`], `edit_fields`); this
//! file only knows the `name=value; …` syntax inside them.

use super::section::{trim_ows, FieldLine, FieldSection};

/// The value of cookie `name` in the `Cookie` fields of `head` (a request head or its field
/// section: a start line has no colon, so it is never taken for a field), first occurrence.
pub fn request_cookie<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    FieldSection::new(head)
        .values(b"cookie")
        .flat_map(|value| value.split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = trim_ows(pair);
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (key, value) = pair.split_at(eq);
            (key == name).then(|| trim_ows(value.get(1..).unwrap_or(&[])))
        })
}

/// What to do with cookie `name` in the `Cookie` fields of a request forwarded upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEdit<'a> {
    /// Remove it (the server never sees ringlb's own cookie).
    Remove,
    /// Remove `prefix` and the `~` after it from its value (prefix mode).
    StripPrefix(&'a [u8]),
}

/// Applies `edit` to a complete request head; `None` if nothing changed.
/// Writes the `Cookie` line `f` with `edit` applied to cookie `name` into `out` (nothing when
/// no cookie is left); false when the line does not carry `name` and goes as it is.
pub fn rewrite_cookie_line(
    f: &FieldLine<'_>,
    name: &[u8],
    edit: RequestEdit<'_>,
    out: &mut Vec<u8>,
) -> bool {
    {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut touched = false;
        for pair in f.value.split(|&b| b == b';') {
            let pair = trim_ows(pair);
            if pair.is_empty() {
                continue;
            }
            let eq = pair.iter().position(|&b| b == b'=');
            let is_ours = eq.and_then(|e| pair.get(..e)) == Some(name);
            match (is_ours, edit) {
                (true, RequestEdit::Remove) => touched = true,
                (true, RequestEdit::StripPrefix(p)) => {
                    let val = eq.and_then(|e| pair.get(e + 1..)).unwrap_or(&[]);
                    match val.strip_prefix(p).and_then(|v| v.strip_prefix(b"~")) {
                        Some(rest) => {
                            let mut np = name.to_vec();
                            np.push(b'=');
                            np.extend_from_slice(rest);
                            kept.push(np);
                            touched = true;
                        }
                        None => kept.push(pair.to_vec()),
                    }
                }
                (false, _) => kept.push(pair.to_vec()),
            }
        }
        if touched && !kept.is_empty() {
            out.extend_from_slice(b"Cookie: ");
            out.extend_from_slice(&kept.join(&b"; "[..]));
            out.extend_from_slice(b"\r\n");
        }
        touched
    }
}

/// What to do with `Set-Cookie: name=…` lines of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseEdit<'a> {
    /// `name=value` → `name=SRV~value` (prefix mode).
    Prefix(&'a [u8]),
    /// `name=value` → `name=SRV` (rewrite mode).
    Replace(&'a [u8]),
}

/// Writes the `Set-Cookie` line `f` with `edit` applied into `out` when it sets cookie `name`;
/// false when it sets another cookie and goes as it is.
pub fn rewrite_set_cookie_line(
    f: &FieldLine<'_>,
    name: &[u8],
    edit: ResponseEdit<'_>,
    out: &mut Vec<u8>,
) -> bool {
    {
        let Some(eq) = f.value.iter().position(|&b| b == b'=') else {
            return false;
        };
        if trim_ows(f.value.get(..eq).unwrap_or(&[])) != name {
            return false;
        }
        let rest = f.value.get(eq + 1..).unwrap_or(&[]);
        let val_end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
        let (val, attrs) = rest.split_at(val_end);
        out.extend_from_slice(b"Set-Cookie: ");
        out.extend_from_slice(name);
        out.push(b'=');
        match edit {
            ResponseEdit::Prefix(srv) => {
                out.extend_from_slice(srv);
                out.push(b'~');
                out.extend_from_slice(trim_ows(val));
            }
            ResponseEdit::Replace(srv) => out.extend_from_slice(srv),
        }
        out.extend_from_slice(attrs);
        out.extend_from_slice(b"\r\n");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::section::edit_fields;

    /// `edit` applied to a whole head, as the rewrite step applies it line by line.
    fn edit_request(head: &[u8], name: &[u8], edit: RequestEdit<'_>) -> Option<Vec<u8>> {
        edit_fields(head, b"cookie", |f, out| {
            rewrite_cookie_line(f, name, edit, out)
        })
    }

    fn edit_set_cookie(head: &[u8], name: &[u8], edit: ResponseEdit<'_>) -> Option<Vec<u8>> {
        edit_fields(head, b"set-cookie", |f, out| {
            rewrite_set_cookie_line(f, name, edit, out)
        })
    }

    /// Inserts `lines` before the empty line ending a complete head.
    fn append_fields(head: &mut Vec<u8>, lines: &[u8]) {
        if head.ends_with(b"\r\n\r\n") {
            let at = head.len() - 2;
            head.splice(at..at, lines.iter().copied());
        }
    }

    const REQ: &[u8] =
        b"GET / HTTP/1.1\r\nHost: a\r\nCookie: theme=dark; SERVERID=s2; lang=en\r\nX: y\r\n\r\n";

    #[test]
    fn finds_a_cookie_among_several() {
        assert_eq!(request_cookie(REQ, b"SERVERID"), Some(&b"s2"[..]));
        assert_eq!(request_cookie(REQ, b"lang"), Some(&b"en"[..]));
        assert_eq!(request_cookie(REQ, b"SERVER"), None);
        assert_eq!(
            request_cookie(b"GET / HTTP/1.1\r\ncookie:a=1;b=2\r\n\r\n", b"b"),
            Some(&b"2"[..])
        );
    }

    #[test]
    fn removes_our_cookie_and_keeps_the_others() {
        let out = edit_request(REQ, b"SERVERID", RequestEdit::Remove).expect("changed");
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: a\r\nCookie: theme=dark; lang=en\r\nX: y\r\n\r\n"
        );
        let only = b"GET / HTTP/1.1\r\nCookie: SERVERID=s1\r\n\r\n";
        assert_eq!(
            edit_request(only, b"SERVERID", RequestEdit::Remove).expect("changed"),
            b"GET / HTTP/1.1\r\n\r\n"
        );
        assert_eq!(edit_request(REQ, b"OTHER", RequestEdit::Remove), None);
    }

    #[test]
    fn strips_a_prefix() {
        let req = b"GET / HTTP/1.1\r\nCookie: JSESSIONID=s1~abc123; x=1\r\n\r\n";
        let out =
            edit_request(req, b"JSESSIONID", RequestEdit::StripPrefix(b"s1")).expect("changed");
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nCookie: JSESSIONID=abc123; x=1\r\n\r\n"
        );
        assert_eq!(
            edit_request(req, b"JSESSIONID", RequestEdit::StripPrefix(b"s2")),
            None
        );
    }

    #[test]
    fn prefixes_and_replaces_set_cookie() {
        let resp = b"HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=abc; Path=/; HttpOnly\r\nSet-Cookie: other=1\r\n\r\n";
        let out =
            edit_set_cookie(resp, b"JSESSIONID", ResponseEdit::Prefix(b"s1")).expect("changed");
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=s1~abc; Path=/; HttpOnly\r\nSet-Cookie: other=1\r\n\r\n");
        let out =
            edit_set_cookie(resp, b"JSESSIONID", ResponseEdit::Replace(b"s1")).expect("changed");
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID=s1; Path=/; HttpOnly\r\nSet-Cookie: other=1\r\n\r\n");
        assert_eq!(
            edit_set_cookie(resp, b"nope", ResponseEdit::Replace(b"x")),
            None
        );
    }

    #[test]
    fn appends_before_the_empty_line() {
        let mut h = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n".to_vec();
        append_fields(&mut h, b"Set-Cookie: S=1\r\n");
        assert_eq!(h, b"HTTP/1.1 200 OK\r\nA: b\r\nSet-Cookie: S=1\r\n\r\n");
    }
}
