//! One check of one server, on the checker's ring: a TCP connect, or an HTTP request whose
//! status line is compared with the expected statuses; over TLS when the server speaks TLS
//! (unless `check_tls = false`), the handshake being part of the check. Bounded by the check's
//! `timeout`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::state::Outcome;
use crate::config::{Check, CheckKind, HttpCheck};
use crate::runtime::{self, Conn};
use crate::tls::ServerTlsRt;
use crate::transport::{tls_client, Chunk, ServerConn, Transport};

/// The longest status line read from a checked server.
const MAX_STATUS_LINE: usize = 1024;

/// Runs one check; returns its outcome and how long it took.
pub async fn run(
    addr: SocketAddr,
    check: &Check,
    tls: Option<&ServerTlsRt>,
) -> (Outcome, Duration) {
    let started = Instant::now();
    let deadline = started + check.timeout;
    let out = match runtime::timeout_at(deadline, attempt(addr, check, tls, deadline)).await {
        Ok(o) => o,
        Err(_) => Outcome::Failed(match check.kind {
            CheckKind::Tcp => "L4TOUT connect timeout".into(),
            CheckKind::Http(_) => "L7TOUT timeout".into(),
        }),
    };
    (out, started.elapsed())
}

async fn attempt(
    addr: SocketAddr,
    check: &Check,
    tls: Option<&ServerTlsRt>,
    deadline: Instant,
) -> Outcome {
    let conn = match Conn::connect(addr).await {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("L4CON {}", describe(&e))),
    };
    if let Some(version) = check.send_proxy {
        // A check has no client: the header says so (v1 UNKNOWN, v2 LOCAL).
        let mut header = Vec::new();
        crate::proxy_protocol::encode(version, None, &mut header);
        if let (Err(e), _) = conn.send_all(header).await {
            return Outcome::Failed(format!("L4CON PROXY header not sent: {}", describe(&e)));
        }
    }
    let conn = match tls {
        None => ServerConn::Plain(conn),
        Some(t) => {
            match tls_client::connect(conn, t.config.clone(), t.name.clone(), deadline).await {
                Ok(c) => ServerConn::from(c),
                Err(e) => return Outcome::Failed(format!("L6RSP TLS handshake failed: {e}")),
            }
        }
    };
    match &check.kind {
        CheckKind::Tcp if conn.is_tls() => Outcome::Ok("L6OK".into()),
        CheckKind::Tcp => Outcome::Ok("L4OK".into()),
        CheckKind::Http(h) => http(&conn, addr, h).await,
    }
}

fn describe(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connection refused".into(),
        Some(libc::ECONNRESET) => "connection reset".into(),
        Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) => "no route to host".into(),
        _ => e.to_string(),
    }
}

/// The request a check sends.
pub fn request(addr: SocketAddr, h: &HttpCheck) -> Vec<u8> {
    let host = h.host.clone().unwrap_or_else(|| addr.to_string());
    format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ringlb-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        h.method, h.path
    )
    .into_bytes()
}

/// Reads a status code out of a status line (`HTTP/1.x NNN …`).
pub fn parse_status(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ' && b != b'\r')
    {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

async fn http(conn: &ServerConn, addr: SocketAddr, h: &HttpCheck) -> Outcome {
    let (r, _) = conn.send(Chunk::Heap(request(addr, h))).await;
    if let Err(e) = r {
        return Outcome::Failed(format!("L7RSP send failed: {}", describe(&e)));
    }
    let mut got: Vec<u8> = Vec::new();
    loop {
        if let Some(end) = got.iter().position(|&b| b == b'\n') {
            let line = got.get(..end).unwrap_or(&[]);
            return match parse_status(line) {
                Some(code) if h.expect_status.iter().any(|r| r.contains(code)) => {
                    Outcome::Ok(format!("L7OK {code}"))
                }
                Some(code) => Outcome::Failed(format!("L7STS {code}")),
                None => Outcome::Failed("L7RSP not an HTTP response".into()),
            };
        }
        if got.len() > MAX_STATUS_LINE {
            return Outcome::Failed("L7RSP status line too long".into());
        }
        match conn.recv().await {
            Ok(Some(b)) => got.extend_from_slice(b.as_slice()),
            Ok(None) => {
                return Outcome::Failed("L7RSP connection closed without a response".into())
            }
            Err(e) => return Outcome::Failed(format!("L7RSP {}", describe(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status(b"HTTP/1.1 204\r"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.1 2000 x"), None);
        assert_eq!(parse_status(b"HTTP/2 200"), None);
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn request_names_host_and_closes() {
        let h = HttpCheck {
            method: "HEAD".into(),
            path: "/health".into(),
            host: None,
            expect_status: vec![],
        };
        let r =
            String::from_utf8(request("127.0.0.1:8080".parse().expect("addr"), &h)).expect("utf8");
        assert!(r.starts_with("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }
}
