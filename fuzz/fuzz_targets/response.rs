//! Response head: `parse_response` never panics; an accepted head is rewritten for the client
//! into a head that parses again to the same status and framing; a prefix never gives a
//! different answer than the whole; the body after it is followed without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::{
    parse_response, write_response_head, BodyState, Limits, Method, NoEdit, ResponseFraming,
    ResponseRewrite, MAX_HEADERS,
};

const FIRST: Limits = Limits {
    max_request_line: 8 * 1024,
    max_head: 16 * 1024,
    max_headers: MAX_HEADERS - 2,
};

const AGAIN: Limits = Limits {
    max_request_line: 8 * 1024,
    max_head: 32 * 1024,
    max_headers: MAX_HEADERS,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the request method; the rest is the response.
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let method = match pick % 4 {
        0 => Method::Get,
        1 => Method::Head,
        2 => Method::Post,
        _ => Method::Options,
    };
    let whole = parse_response(data, method, &FIRST);
    let len = data.len();
    for k in [len / 2, len.saturating_sub(1)] {
        let Some(prefix) = data.get(..k) else {
            continue;
        };
        match (&whole, parse_response(prefix, method, &FIRST)) {
            (Ok(Some(h)), Ok(Some(p))) => assert_eq!(*h, p, "prefix and whole disagree"),
            (_, Ok(Some(p))) => panic!("prefix accepted {p:?} but the whole is {whole:?}"),
            (Ok(Some(h)), Err(e)) => panic!("prefix refused ({e:?}) but the whole is {h:?}"),
            _ => {}
        }
    }
    let Ok(Some(head)) = whole else { return };
    assert!(head.head_len <= data.len());
    if head.informational {
        assert!((100..200).contains(&head.status) && head.status != 101);
    }
    let dechunk = head.framing == ResponseFraming::Chunked && pick & 0x10 != 0;
    let rewrite = ResponseRewrite {
        client_keep_alive: pick & 0x20 != 0
            && head.framing != ResponseFraming::UntilClose
            && !dechunk,
        client_version_minor: u8::from(!dechunk && pick & 0x40 != 0),
        dechunk,
    };
    let mut out = Vec::new();
    write_response_head(data, &head, &rewrite, &NoEdit, &mut out);
    let again = match parse_response(&out, method, &AGAIN) {
        Ok(Some(h)) => h,
        other => panic!(
            "rewritten head does not parse: {other:?}\n{}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.head_len, out.len());
    assert_eq!(again.status, head.status, "status changed");
    if !dechunk {
        assert_eq!(again.framing, head.framing, "framing changed");
    } else {
        assert_ne!(
            again.framing,
            ResponseFraming::Chunked,
            "de-chunked head says chunked"
        );
    }
    let mut body = BodyState::new(head.framing);
    if let Some(rest) = data.get(head.head_len..) {
        let mut decoded = 0usize;
        if let Ok(p) = body.feed_with(rest, |d| decoded += d.len()) {
            assert!(p.consumed <= rest.len() && decoded <= p.consumed);
        }
    }
});
