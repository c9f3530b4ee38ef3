//! The key a hashing backend balances on, read from the request head: the path (with or
//! without the query), a query parameter, a header or a cookie, hashed with
//! [`crate::balance::key_hash`]. `None` when the request lacks it (the balancer then goes
//! round robin). Bytes are hashed as received: no decoding, no case folding of values.

use crate::balance::{key_hash, Balance, HashKey};
use crate::http::cookie::request_cookie;
use crate::http::{FieldSection, RequestHead};

/// The key hash of the request whose head is `head` in `buf`, for a backend balancing with
/// `balance`; `None` for the other algorithms.
pub fn request_key(balance: &Balance, buf: &[u8], head: &RequestHead) -> Option<u64> {
    let Balance::Hash(h) = balance else {
        return None;
    };
    let target = head.target.get(buf);
    let fields = || FieldSection::within(buf, head.headers_start..head.head_len);
    let key = match &h.key {
        HashKey::Path => limit(
            path(target).split(|&b| b == b'?').next().unwrap_or(&[]),
            h.uri_len,
            h.uri_depth,
        ),
        HashKey::Uri => limit(path(target), h.uri_len, h.uri_depth),
        HashKey::UrlParam(name) => query_param(path(target), name.as_bytes())?,
        HashKey::Header(name) => fields().first(name.as_bytes())?,
        HashKey::Cookie(name) => {
            let section = buf.get(head.headers_start..head.head_len).unwrap_or(&[]);
            request_cookie(section, name.as_bytes())?
        }
    };
    (!key.is_empty()).then(|| key_hash(key))
}

/// The path and query of a request target: an absolute-form target (`http://host/p?q`) loses
/// its scheme and authority, as a server sees it.
fn path(target: &[u8]) -> &[u8] {
    let lower = |n: usize| target.get(..n).map(<[u8]>::to_ascii_lowercase);
    let scheme = if lower(7).as_deref() == Some(b"http://") {
        7
    } else if lower(8).as_deref() == Some(b"https://") {
        8
    } else {
        return target;
    };
    let rest = target.get(scheme..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) => rest.get(i..).unwrap_or(&[]),
        None => b"/",
    }
}

/// The first `depth` directory levels of `uri` (cut before the `depth + 1`-th `/`), then its
/// first `len` bytes; 0 = no limit.
fn limit(uri: &[u8], len: u32, depth: u32) -> &[u8] {
    let mut end = uri.len();
    if depth != 0 {
        if let Some((i, _)) = uri
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'/')
            .nth(depth as usize)
        {
            end = i;
        }
    }
    if len != 0 {
        end = end.min(len as usize);
    }
    uri.get(..end).unwrap_or(uri)
}

/// The value of query parameter `name` (first occurrence) in `path?query`.
fn query_param<'a>(path_and_query: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let q = path_and_query.iter().position(|&b| b == b'?')?;
    let query = path_and_query.get(q + 1..)?;
    query.split(|&b| b == b'&').find_map(|pair| {
        let rest = pair.strip_prefix(name)?;
        rest.strip_prefix(b"=")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::{HashBalance, HashMethod};
    use crate::http::{parse_request, Limits};

    fn key_of(key: HashKey, raw: &str) -> Option<u64> {
        let balance = Balance::Hash(HashBalance {
            key,
            method: HashMethod::Consistent,
            factor: 0,
            uri_len: 0,
            uri_depth: 0,
        });
        let head = parse_request(raw.as_bytes(), &Limits::default())
            .expect("parses")
            .expect("complete");
        request_key(&balance, raw.as_bytes(), &head)
    }

    #[test]
    fn keys_come_from_the_right_part_of_the_request() {
        let req =
            "GET http://Example.com/img/a.png?size=2&user=ann HTTP/1.1\r\nHost: example.com\r\n\
                   X-User: bob\r\nCookie: a=1; sid=s42\r\n\r\n";
        assert_eq!(key_of(HashKey::Path, req), Some(key_hash(b"/img/a.png")));
        assert_eq!(
            key_of(HashKey::Uri, req),
            Some(key_hash(b"/img/a.png?size=2&user=ann"))
        );
        let param = |n: &str| HashKey::UrlParam(n.into());
        assert_eq!(key_of(param("user"), req), Some(key_hash(b"ann")));
        assert_eq!(key_of(param("size"), req), Some(key_hash(b"2")));
        assert_eq!(key_of(param("use"), req), None);
        assert_eq!(
            key_of(HashKey::Header("x-user".into()), req),
            Some(key_hash(b"bob"))
        );
        assert_eq!(key_of(HashKey::Header("x-none".into()), req), None);
        assert_eq!(
            key_of(HashKey::Cookie("sid".into()), req),
            Some(key_hash(b"s42"))
        );
        assert_eq!(key_of(HashKey::Cookie("si".into()), req), None);
        // an empty value is no key
        let empty = "GET /p?user= HTTP/1.1\r\nHost: x\r\nX-User: \r\n\r\n";
        assert_eq!(key_of(param("user"), empty), None);
        assert_eq!(key_of(HashKey::Header("x-user".into()), empty), None);
        // origin form: the same path as the absolute form
        let origin = "GET /img/a.png?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(key_of(HashKey::Path, origin), Some(key_hash(b"/img/a.png")));
    }

    #[test]
    fn uri_len_and_depth_cut_the_key() {
        assert_eq!(limit(b"/a/b/c.png?x=1", 0, 1), b"/a");
        assert_eq!(limit(b"/a/b/c.png?x=1", 0, 2), b"/a/b");
        assert_eq!(limit(b"/a/b/c.png?x=1", 0, 9), b"/a/b/c.png?x=1");
        assert_eq!(limit(b"/a/b/c.png", 4, 0), b"/a/b");
        assert_eq!(limit(b"/a/b/c.png", 3, 2), b"/a/");
        assert_eq!(limit(b"/a", 100, 0), b"/a");
    }

    #[test]
    fn other_algorithms_have_no_key() {
        let raw = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let head = parse_request(raw.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            request_key(&Balance::RoundRobin, raw.as_bytes(), &head),
            None
        );
    }
}
