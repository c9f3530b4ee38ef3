//! Request and response bodies: chunked both ways, `Expect: 100-continue`, bodiless
//! responses, and 1 GiB streamed each way with ringlb's memory staying flat.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use common::conf::{http, rss_kib, srv, Lb};
use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const GIB: u64 = 1 << 30;

/// Largest VmRSS growth allowed while streaming a body of any size.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

fn hex(v: u64) -> String {
    format!("{v:x}")
}

#[test]
fn content_length_upload_reaches_backend_intact() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let body = pattern(1 << 20);
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c.request("POST", "/up", &[], &body).expect("request");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some("1048576"));
    assert_eq!(r.header("x-body-sum"), Some(hex(fnv(&body)).as_str()));
    // the connection is still in sync: the next request works
    assert_eq!(c.get("/after").expect("next").status, 200);
}

#[test]
fn chunked_request_body_is_forwarded() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let pieces: [&[u8]; 4] = [b"hello", b" ", b"chunked world", &[b'x'; 3000]];
    let mut raw = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut whole = Vec::new();
    for p in pieces {
        raw.extend_from_slice(format!("{:x};ext=1\r\n", p.len()).as_bytes());
        raw.extend_from_slice(p);
        raw.extend_from_slice(b"\r\n");
        whole.extend_from_slice(p);
    }
    raw.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    let mut c = Client::connect(lb.addr).expect("connect");
    // sent in several writes, split inside chunk sizes and data
    for part in raw.chunks(7) {
        c.send_raw(part).expect("send");
    }
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-body-len"),
        Some(whole.len().to_string().as_str())
    );
    assert_eq!(r.header("x-body-sum"), Some(hex(fnv(&whole)).as_str()));
    assert_eq!(c.get("/after").expect("next").status, 200);
}

#[test]
fn chunked_response_is_relayed_to_http11_client() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let n = 300_000u64;
    let r = c
        .request(
            "GET",
            "/",
            &[("x-chunked", "1"), ("x-size", &n.to_string())],
            b"",
        )
        .expect("request");
    assert_eq!(r.status, 200);
    assert!(r.chunked);
    assert_eq!(r.body_len, n);
    assert_eq!(r.body_sum, pattern_sum(n));
    assert!(!r.closes());
    assert_eq!(c.get("/after").expect("next").status, 200);
}

#[test]
fn chunked_response_is_dechunked_for_http10_client() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send_raw(b"GET / HTTP/1.0\r\nx-chunked: 1\r\nx-size: 100000\r\n\r\n")
        .expect("send");
    let r = c.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert!(r.header("transfer-encoding").is_none(), "{:?}", r.headers);
    // the backend sees HTTP/1.1 so it may chunk; the 1.0 client gets the bytes until close
    assert_eq!(r.body_len, 100_000);
    assert_eq!(r.body_sum, pattern_sum(100_000));
    assert!(c.is_closed(Duration::from_secs(3)));
}

#[test]
fn head_and_bodiless_statuses_keep_the_connection_in_sync() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c
        .request("HEAD", "/", &[("x-size", "5000")], b"")
        .expect("HEAD");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5000"));
    assert_eq!(r.body_len, 0);
    for status in ["204", "304"] {
        let r = c
            .request("GET", "/", &[("x-status", status)], b"")
            .expect("bodiless");
        assert_eq!(r.status.to_string(), status);
        assert_eq!(r.body_len, 0);
    }
    let r = c.get("/after").expect("next");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "web1\n");
    assert_eq!(web.connections(), 1);
}

#[test]
fn expect_100_continue_gets_interim_then_final_response() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let body = pattern(10_000);
    c.send_raw(
        format!(
            "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .expect("send head");
    // no body sent yet: the 100 must come anyway
    let interim = c.read_head_only().expect("interim response");
    assert_eq!(interim.status, 100);
    c.send_raw(&body).expect("send body");
    let r = c.read_response(false).expect("final response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some("10000"));
    assert_eq!(r.header("x-body-sum"), Some(hex(fnv(&body)).as_str()));
    // exactly one 100 reached the client (the backend's own 100, if any, is not repeated)
    assert!(
        r.interim.is_empty(),
        "extra interim responses {:?}",
        r.interim
    );
    assert_eq!(c.get("/after").expect("next").status, 200);
}

#[test]
fn expect_100_continue_with_body_sent_at_once() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    let r = c
        .request("POST", "/e", &[("Expect", "100-continue")], b"hello")
        .expect("request");
    assert_eq!(r.status, 200);
    assert!(r.interim.len() <= 1, "{:?}", r.interim);
    assert_eq!(r.header("x-body-len"), Some("5"));
}

/// Samples ringlb's VmRSS every 20 ms until stopped; returns the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                p.fetch_max(rss_kib(pid), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::SeqCst)
    }
}

/// RSS after one small request has warmed up ringlb's buffers.
fn baseline(lb: &Lb) -> u64 {
    assert_eq!(http_get(lb.addr, "/warm", &[]).status, 200);
    let rss = lb.rss_kib();
    assert!(rss > 0, "cannot read /proc/{}/status", lb.proc.pid());
    rss
}

#[test]
fn one_gib_upload_streams_with_bounded_memory() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let base = baseline(&lb);
    let sampler = RssSampler::start(lb.proc.pid());
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send("PUT", "/big", &[("Content-Length", &GIB.to_string())], b"")
        .expect("send head");
    let block = pattern(256 * 1024);
    let mut out = c.stream().try_clone().expect("clone stream");
    let mut left = GIB;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).expect("upload write");
        left -= n as u64;
    }
    let r = c.read_response(false).expect("response");
    let peak = sampler.finish();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some(GIB.to_string().as_str()));
    assert_eq!(r.header("x-body-sum"), Some(hex(pattern_sum(GIB)).as_str()));
    assert!(
        peak.saturating_sub(base) < MAX_RSS_GROWTH_KIB,
        "RSS grew from {base} KiB to {peak} KiB during a 1 GiB upload"
    );
}

#[test]
fn one_gib_chunked_upload_streams_with_bounded_memory() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let base = baseline(&lb);
    let sampler = RssSampler::start(lb.proc.pid());
    let mut c = Client::connect(lb.addr).expect("connect");
    c.send("POST", "/big", &[("Transfer-Encoding", "chunked")], b"")
        .expect("send head");
    let block = pattern(256 * 1024);
    let mut framed = format!("{:x}\r\n", block.len()).into_bytes();
    framed.extend_from_slice(&block);
    framed.extend_from_slice(b"\r\n");
    let mut out = c.stream().try_clone().expect("clone stream");
    for _ in 0..(GIB / block.len() as u64) {
        out.write_all(&framed).expect("upload write");
    }
    out.write_all(b"0\r\n\r\n").expect("last chunk");
    let r = c.read_response(false).expect("response");
    let peak = sampler.finish();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some(GIB.to_string().as_str()));
    assert_eq!(r.header("x-body-sum"), Some(hex(pattern_sum(GIB)).as_str()));
    assert!(
        peak.saturating_sub(base) < MAX_RSS_GROWTH_KIB,
        "RSS grew from {base} KiB to {peak} KiB during a 1 GiB chunked upload"
    );
}

#[test]
fn one_gib_download_streams_with_bounded_memory() {
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let base = baseline(&lb);
    let sampler = RssSampler::start(lb.proc.pid());
    let mut c = Client::connect(lb.addr).expect("connect");
    c.keep_body(false);
    let r = c
        .request("GET", "/big", &[("x-size", &GIB.to_string())], b"")
        .expect("download");
    let peak = sampler.finish();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_len, GIB);
    assert_eq!(r.body_sum, pattern_sum(GIB));
    assert!(
        peak.saturating_sub(base) < MAX_RSS_GROWTH_KIB,
        "RSS grew from {base} KiB to {peak} KiB during a 1 GiB download"
    );
}

#[test]
fn slow_reader_download_does_not_buffer_in_ringlb() {
    // the client reads nothing for a while: ringlb must apply backpressure to the server
    // instead of buffering the response
    let web = Backend::start("web1");
    let lb = http().server(srv("web1", web.addr())).start();
    let base = baseline(&lb);
    let size: u64 = 256 << 20;
    let mut c = Client::connect(lb.addr).expect("connect");
    c.keep_body(false);
    c.send("GET", "/big", &[("x-size", &size.to_string())], b"")
        .expect("send");
    // let the pipe fill up
    thread::sleep(Duration::from_millis(500));
    let stalled = lb.rss_kib();
    let r = c.read_response(false).expect("download");
    assert_eq!(r.body_len, size);
    assert_eq!(r.body_sum, pattern_sum(size));
    assert!(
        stalled.saturating_sub(base) < MAX_RSS_GROWTH_KIB,
        "RSS grew from {base} KiB to {stalled} KiB with a stalled reader"
    );
}

/// A backend that writes each whole response (head and body) in one `write_all`, so that it
/// reaches ringlb as several receive deliveries at once: `GET /cl` gets a `Content-Length`
/// body, `GET /chunked` a chunked one (chunks of 5,000 bytes that straddle the deliveries),
/// both `BIG_BODY` bytes of `pattern`.
fn one_write_backend() -> RawBackend {
    RawBackend::start(|s| {
        let Ok(mut out) = s.try_clone() else { return };
        let mut wire = common::backend::Wire::new(s);
        let body = pattern(BIG_BODY);
        while let Ok(Some(head)) = wire.read_head() {
            let chunked = head.starts_with(b"GET /chunked");
            let mut resp = Vec::with_capacity(BIG_BODY + 4096);
            if chunked {
                resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                for c in body.chunks(5000) {
                    resp.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    resp.extend_from_slice(c);
                    resp.extend_from_slice(b"\r\n");
                }
                resp.extend_from_slice(b"0\r\n\r\n");
            } else {
                resp.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG_BODY}\r\n\r\n").as_bytes(),
                );
                resp.extend_from_slice(&body);
            }
            if out.write_all(&resp).is_err() {
                return;
            }
        }
    })
}

/// An odd size: the body ends inside a receive buffer, not on its edge.
const BIG_BODY: usize = (1 << 20) + 12_345;

#[test]
fn a_response_written_at_once_is_relayed_whole_and_in_order() {
    let web = one_write_backend();
    let lb = http().server(srv("web1", web.addr())).start();
    let mut c = Client::connect(lb.addr).expect("connect");
    for round in 0..3 {
        let r = c.get("/cl").expect("content-length response");
        assert_eq!(r.status, 200);
        assert_eq!(r.body_len, BIG_BODY as u64, "round {round}");
        assert_eq!(r.body_sum, pattern_sum(BIG_BODY as u64), "round {round}");
        let r = c.get("/chunked").expect("chunked response");
        assert_eq!(r.status, 200);
        assert!(r.chunked);
        assert_eq!(r.body_len, BIG_BODY as u64, "round {round}");
        assert_eq!(r.body_sum, pattern_sum(BIG_BODY as u64), "round {round}");
    }
    // Every response ended where it should: the server connection was reused throughout.
    assert_eq!(web.connections(), 1);
    // An HTTP/1.0 client gets the chunked body de-chunked, whole.
    let mut old = Client::connect(lb.addr).expect("connect");
    old.send_raw(b"GET /chunked HTTP/1.0\r\n\r\n")
        .expect("send");
    let r = old.read_response(false).expect("response");
    assert_eq!(r.status, 200);
    assert!(!r.chunked);
    assert_eq!(r.body_len, BIG_BODY as u64);
    assert_eq!(r.body_sum, pattern_sum(BIG_BODY as u64));
}
