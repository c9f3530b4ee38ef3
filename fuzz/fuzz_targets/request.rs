//! Request head and framing: `parse_request` never panics; a head it accepts is rewritten by
//! `write_request_head` into a head that parses again to the same method, target, version,
//! Host and framing; a prefix of the input never gives a different answer than the whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::{
    parse_request, write_request_head, BodyState, Limits, NoEdit, RequestRewrite, MAX_HEADERS,
};

/// Limits of the first parse: room for the three fields a rewrite may add (X-Forwarded-For,
/// X-Forwarded-Proto, Connection), so the re-parse is never refused for size alone.
const FIRST: Limits = Limits {
    max_request_line: 8 * 1024,
    max_head: 16 * 1024,
    max_headers: MAX_HEADERS - 3,
};

/// Limits of the re-parse: the rewrite may lengthen the head.
const AGAIN: Limits = Limits {
    max_request_line: 8 * 1024,
    max_head: 32 * 1024,
    max_headers: MAX_HEADERS,
};

fuzz_target!(|data: &[u8]| {
    let whole = parse_request(data, &FIRST);

    // A few prefixes (not all: that would be quadratic and slow the run down a lot).
    let len = data.len();
    for k in [
        len / 3,
        len / 2,
        len.saturating_sub(1),
        len.saturating_sub(2),
    ] {
        let Some(prefix) = data.get(..k) else {
            continue;
        };
        match (&whole, parse_request(prefix, &FIRST)) {
            (Ok(Some(h)), Ok(Some(p))) => {
                assert!(
                    k >= h.head_len,
                    "a prefix shorter than the head was accepted"
                );
                assert_eq!(*h, p, "prefix and whole disagree");
            }
            (_, Ok(Some(p))) => panic!("prefix accepted {p:?} but the whole is {whole:?}"),
            (Ok(Some(h)), Err(e)) => {
                panic!("prefix of {k} bytes refused ({e:?}) but the whole head is accepted {h:?}")
            }
            _ => {}
        }
    }

    let Ok(Some(head)) = whole else { return };
    assert!(head.head_len <= data.len());
    let xff = b"192.0.2.7";
    for (keep_alive, forwardfor) in [(true, None), (false, Some(&xff[..]))] {
        let rewrite = RequestRewrite {
            upstream_keep_alive: keep_alive,
            forwardfor,
            https: !keep_alive,
            strip_expect: true,
            upgrade: false,
        };
        let mut out = Vec::new();
        write_request_head(data, &head, &rewrite, &NoEdit, &mut out);
        let again = match parse_request(&out, &AGAIN) {
            Ok(Some(h)) => h,
            other => panic!(
                "rewritten head does not parse: {other:?}\n{}",
                String::from_utf8_lossy(&out)
            ),
        };
        assert_eq!(
            again.head_len,
            out.len(),
            "rewrite left bytes after the head"
        );
        assert_eq!(
            again.method.as_bytes(&out),
            head.method.as_bytes(data),
            "method changed"
        );
        assert_eq!(
            again.target.get(&out),
            head.target.get(data),
            "target changed"
        );
        assert_eq!(again.target_form, head.target_form);
        assert_eq!(again.version_minor, head.version_minor);
        assert_eq!(again.framing, head.framing, "framing changed");
        assert_eq!(
            again.host.map(|s| s.get(&out).to_ascii_lowercase()),
            head.host.map(|s| s.get(data).to_ascii_lowercase()),
            "host changed"
        );
        assert_eq!(
            again.keep_alive, keep_alive,
            "upstream persistence not as asked"
        );
        assert!(!again.upgrade, "Upgrade forwarded");
    }

    // The body that follows, whatever it is, is followed without panicking.
    let mut body = BodyState::new(head.framing);
    if let Some(rest) = data.get(head.head_len..) {
        if let Ok(p) = body.feed(rest) {
            assert!(p.consumed <= rest.len());
        }
    }
});
