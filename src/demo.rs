//! Demo web nodes for `ringlb demo`: two tiny HTTP/1.1 servers to balance to, so ringlb can be
//! tried without any other software.
//!
//! Each node runs on `127.0.0.1:0` with plain blocking std sockets, one thread per connection.
//! They are deliberately simple and never part of the data plane, but still never panic on
//! network input: a request they cannot parse gets `400` and the connection is closed.
//!
//! Imports std only, nothing of ringlb: the nodes stand for someone else's servers.

#![allow(
    clippy::disallowed_methods,
    reason = "the demo web nodes run one blocking thread per connection, outside the data plane"
)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Names of the demo nodes, in the order `start_demo_backends` returns them.
const NODES: [&str; 2] = ["web1", "web2"];

/// Largest request head a node reads before answering 400.
const MAX_HEAD: usize = 16 * 1024;

/// A keep-alive connection idle this long is closed, so idle clients do not pin threads.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the demo nodes `web1` and `web2` in background threads (they live as long as the
/// process) and returns their names and addresses.
pub fn start_demo_backends() -> io::Result<Vec<(String, SocketAddr)>> {
    let mut nodes = Vec::with_capacity(NODES.len());
    for name in NODES {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let served = Arc::new(AtomicU64::new(0));
        thread::Builder::new()
            .name(format!("demo-{name}"))
            .spawn(move || accept_loop(name, &listener, &served))?;
        nodes.push((name.to_string(), addr));
    }
    Ok(nodes)
}

fn accept_loop(name: &'static str, listener: &TcpListener, served: &Arc<AtomicU64>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let served = Arc::clone(served);
                // a failed spawn drops the connection; the client sees a close, the node lives
                let _ = thread::Builder::new()
                    .name(format!("demo-{name}-conn"))
                    .spawn(move || serve(name, stream, &served));
            }
            // EMFILE and the like: back off instead of spinning
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// What a parsed request asks for.
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
}

enum Parsed {
    Complete(Request, usize),
    Partial,
    Invalid(&'static str),
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid("malformed request\n"),
    };
    let has_token = |name: &str, token: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let has_body = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            || (h.name.eq_ignore_ascii_case("content-length")
                && h.value
                    .iter()
                    .any(|&b| b != b'0' && !b.is_ascii_whitespace()))
    });
    if has_body {
        // the demo serves pages, it does not take uploads; closing keeps framing simple
        return Parsed::Invalid("request bodies are not accepted\n");
    }
    let keep_alive = match req.version {
        Some(0) => has_token("connection", "keep-alive"),
        _ => !has_token("connection", "close"),
    };
    Parsed::Complete(
        Request {
            method: req.method.unwrap_or("GET").to_string(),
            path: req.path.unwrap_or("/").to_string(),
            keep_alive,
        },
        len,
    )
}

/// Serves one connection until the client closes, asks to close, or sends garbage.
fn serve(name: &str, mut stream: TcpStream, served: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let (req, used) = loop {
            match parse(&buf) {
                Parsed::Complete(req, used) => break (req, used),
                Parsed::Invalid(why) => {
                    let _ = respond(&mut stream, name, &Reply::bad_request(why));
                    return;
                }
                Parsed::Partial if buf.len() >= MAX_HEAD => {
                    let why = "request head too large\n";
                    let _ = respond(&mut stream, name, &Reply::bad_request(why));
                    return;
                }
                Parsed::Partial => {}
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            }
        };
        buf.drain(..used);
        let head_only = req.method == "HEAD";
        let page;
        let reply = if req.method == "GET" || head_only {
            let count = served.fetch_add(1, Ordering::Relaxed) + 1;
            page = render(name, &req.path, count);
            Reply {
                status: 200,
                reason: "OK",
                body: &page,
                keep_alive: req.keep_alive,
                head_only,
            }
        } else {
            Reply {
                status: 405,
                reason: "Method Not Allowed",
                body: "only GET and HEAD are served here\n",
                keep_alive: req.keep_alive,
                head_only: false,
            }
        };
        let ok = respond(&mut stream, name, &reply);
        if ok.is_err() || !req.keep_alive {
            return;
        }
    }
}

fn render(name: &str, path: &str, count: u64) -> String {
    format!(
        "<!doctype html>\n<html><head><title>{name}</title></head><body>\n\
         <h1>Hello from {name}</h1>\n\
         <p>You asked for <code>{}</code>. This is request number {count} served by {name}.</p>\n\
         <p>Reload the page: ringlb balances between web1 and web2.</p>\n\
         </body></html>\n",
        escape(path)
    )
}

/// Escapes text for HTML: the path is the client's input.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A response about to be written.
struct Reply<'a> {
    status: u16,
    reason: &'a str,
    body: &'a str,
    keep_alive: bool,
    /// HEAD: headers as for GET, no body.
    head_only: bool,
}

impl Reply<'_> {
    fn bad_request(why: &str) -> Reply<'_> {
        Reply {
            status: 400,
            reason: "Bad Request",
            body: why,
            keep_alive: false,
            head_only: false,
        }
    }
}

fn respond(stream: &mut TcpStream, name: &str, reply: &Reply<'_>) -> io::Result<()> {
    let content_type = if reply.status == 200 {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let connection = if reply.keep_alive {
        "keep-alive"
    } else {
        "close"
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nServer: ringlb-demo-{name}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        reply.status,
        reply.reason,
        reply.body.len()
    );
    if !reply.head_only {
        out.push_str(reply.body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// The config `ringlb demo` runs: one frontend on `listen`, round robin over `nodes`.
pub fn demo_config(listen: SocketAddr, nodes: &[(String, SocketAddr)]) -> String {
    let mut s = format!(
        "[global]\nworkers = 1\n\n[frontend.demo]\nbind = \"{listen}\"\ndefault_backend = \"web\"\n\n[backend.web]\nbalance = \"roundrobin\"\n"
    );
    for (name, addr) in nodes {
        s.push_str(&format!(
            "\n[[backend.web.server]]\nname = \"{name}\"\naddress = \"{addr}\"\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one response with a Content-Length body from `s`.
    fn read_response(s: &mut TcpStream) -> io::Result<(String, String)> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body)?;
        Ok((head, String::from_utf8_lossy(&body).into_owned()))
    }

    fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    }

    #[test]
    fn nodes_answer_with_their_name_and_keep_alive() -> io::Result<()> {
        let nodes = start_demo_backends()?;
        let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["web1", "web2"]);
        for (name, addr) in &nodes {
            let mut s = connect(*addr)?;
            for n in 1..=2 {
                s.write_all(b"GET /a<b> HTTP/1.1\r\nHost: demo\r\n\r\n")?;
                let (head, body) = read_response(&mut s)?;
                assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
                assert!(head.contains(&format!("Server: ringlb-demo-{name}\r\n")));
                assert!(head.contains("Connection: keep-alive\r\n"));
                assert!(body.contains(&format!("Hello from {name}")));
                assert!(body.contains("/a&lt;b&gt;"), "path is escaped: {body}");
                assert!(body.contains(&format!("request number {n} ")), "{body}");
            }
        }
        Ok(())
    }

    #[test]
    fn bad_requests_get_400_and_close() -> io::Result<()> {
        let nodes = start_demo_backends()?;
        let Some((_, addr)) = nodes.first() else {
            panic!("no demo node");
        };
        for bad in [
            &b"\x01\x02 nonsense\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        ] {
            let mut s = connect(*addr)?;
            s.write_all(bad)?;
            let (head, _) = read_response(&mut s)?;
            assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
            assert!(head.contains("Connection: close\r\n"));
            let mut rest = Vec::new();
            assert_eq!(s.read_to_end(&mut rest)?, 0, "closed after 400");
        }
        // other methods are refused politely and the connection stays usable
        let mut s = connect(*addr)?;
        s.write_all(b"DELETE / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n")?;
        let (head, _) = read_response(&mut s)?;
        assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
        let (head, _) = read_response(&mut s)?;
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(head.contains("Connection: close\r\n"));
        Ok(())
    }
}
