//! Access log lines in HAProxy's `httplog` and `tcplog` formats, and client-address masking.
//! Pure: records in, text out.
//!
//! httplog: `ip:port [date] frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes - - term
//! actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue "request line"`.
//! tcplog: `ip:port [date] frontend backend/server Tw/Tc/Tt bytes term
//! actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue`.
//! Times are milliseconds, `-1` when the step never happened, as HAProxy writes them.
//! A client connection over TLS adds ` sni/version/cipher` at the end of either line (as
//! HAProxy's `httpslog` ends with `%[ssl_fc_sni]/%sslv/%sslc`), `-` for no SNI.

use std::fmt::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything a log line says about one request (http) or connection (tcp).
#[derive(Debug, Clone)]
pub struct Record {
    pub client: Option<SocketAddr>,
    /// When the request (http) or connection (tcp) started.
    pub start: SystemTime,
    pub frontend: String,
    pub backend: String,
    /// `None`: no server was reached (`<NOSRV>`).
    pub server: Option<String>,
    /// Time to receive the request head.
    pub tq: Option<Duration>,
    /// Time waiting in queues.
    pub tw: Option<Duration>,
    /// Time to connect to the server.
    pub tc: Option<Duration>,
    /// Time for the server to send its response head.
    pub tr: Option<Duration>,
    /// Total time.
    pub ta: Duration,
    /// HTTP status sent to the client; 0 for tcp or none.
    pub status: u16,
    /// Bytes sent to the client.
    pub bytes: u64,
    /// Termination state, two letters as HAProxy (`--` normal, `SC`, `sH`, `CD`, …).
    pub term: [u8; 2],
    pub actconn: u32,
    pub feconn: u32,
    pub beconn: u32,
    pub srvconn: u32,
    pub retries: u32,
    pub srv_queue: u32,
    pub backend_queue: u32,
    /// The request line as received (http), bounded.
    pub request_line: String,
    /// What the client connection's TLS negotiated; `None` for plain TCP.
    pub tls: Option<TlsFields>,
}

/// The TLS of a client connection, as a log line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFields {
    /// Server name the client asked for (lowercase); empty when none.
    pub sni: String,
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: &'static str,
    /// The cipher suite's IANA name.
    pub cipher: &'static str,
}

/// ` sni/version/cipher` for a TLS connection, nothing for plain TCP. A server name is
/// printable ASCII without spaces as TLS allows it, but it comes from the client: anything
/// else is written as `#`.
fn tls_tail(r: &Record, out: &mut String) {
    if let Some(t) = &r.tls {
        out.push(' ');
        if t.sni.is_empty() {
            out.push('-');
        } else {
            out.extend(t.sni.chars().take(255).map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '/' {
                    c
                } else {
                    '#'
                }
            }));
        }
        let _ = write!(out, "/{}/{}", t.version, t.cipher);
    }
}

/// Longest request line kept in a log line.
pub const MAX_REQUEST_LINE: usize = 1024;

fn ms(d: Option<Duration>) -> i64 {
    d.map(|d| d.as_millis().min(i64::MAX as u128) as i64)
        .unwrap_or(-1)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Calendar date of a day count since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `22/Nov/2026:06:55:12.123` in UTC, HAProxy's accept-date format with milliseconds.
pub fn date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let month = MONTHS
        .get((m as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{day:02}/{month}/{y}:{:02}:{:02}:{:02}.{:03}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        d.subsec_millis()
    )
}

/// Keeps the first `v4` / `v6` bits of an address, zeroing the rest (IP addresses in logs are
/// personal data).
pub fn mask(ip: IpAddr, v4: u8, v6: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            // Masked as its IPv4-mapped IPv6 form, whose first 96 bits are kept.
            let kept = keep_prefix(a.to_ipv6_mapped(), 96 + u32::from(v4.min(32)));
            IpAddr::V4(kept.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED))
        }
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4addr) => mask(IpAddr::V4(v4addr), v4, v6),
            None => IpAddr::V6(keep_prefix(a, u32::from(v6.min(128)))),
        },
    }
}

/// Keeps the first `keep` (at most 128) bits of `a`, zeroing the rest.
fn keep_prefix(a: Ipv6Addr, keep: u32) -> Ipv6Addr {
    let m = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
    Ipv6Addr::from(u128::from(a) & m)
}

fn client(r: &Record, anon: Option<(u8, u8)>) -> String {
    match r.client {
        Some(a) => {
            let ip = match anon {
                Some((v4, v6)) => mask(a.ip(), v4, v6),
                None => a.ip(),
            };
            let ip = match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            // HAProxy prints IPv6 without brackets.
            format!("{ip}:{}", if anon.is_some() { 0 } else { a.port() })
        }
        None => "-:0".into(),
    }
}

fn common(r: &Record, anon: Option<(u8, u8)>, out: &mut String) {
    let _ = write!(
        out,
        "{} [{}] {} {}/{}",
        client(r, anon),
        date(r.start),
        r.frontend,
        r.backend,
        r.server.as_deref().unwrap_or("<NOSRV>")
    );
}

fn term(r: &Record) -> String {
    String::from_utf8_lossy(&r.term).into_owned()
}

/// `actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue`, as both formats have them.
struct Conns<'a>(&'a Record);

impl fmt::Display for Conns<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "{}/{}/{}/{}/{} {}/{}",
            r.actconn, r.feconn, r.beconn, r.srvconn, r.retries, r.srv_queue, r.backend_queue
        )
    }
}

/// One `httplog` line (no trailing newline).
pub fn httplog(r: &Record, anon: Option<(u8, u8)>) -> String {
    let mut out = String::with_capacity(256);
    common(r, anon, &mut out);
    let line: String = r
        .request_line
        .chars()
        .take(MAX_REQUEST_LINE)
        .map(|c| if c == '"' || c.is_control() { '#' } else { c })
        .collect();
    let _ = write!(
        out,
        " {}/{}/{}/{}/{} {} {} - - {}-- {} \"{}\"",
        ms(r.tq),
        ms(r.tw),
        ms(r.tc),
        ms(r.tr),
        r.ta.as_millis(),
        if r.status == 0 {
            -1
        } else {
            i64::from(r.status)
        },
        r.bytes,
        term(r),
        Conns(r),
        line
    );
    tls_tail(r, &mut out);
    out
}

/// One `tcplog` line (no trailing newline).
pub fn tcplog(r: &Record, anon: Option<(u8, u8)>) -> String {
    let mut out = String::with_capacity(200);
    common(r, anon, &mut out);
    let _ = write!(
        out,
        " {}/{}/{} {} {} {}",
        ms(r.tw),
        ms(r.tc),
        r.ta.as_millis(),
        r.bytes,
        term(r),
        Conns(r)
    );
    tls_tail(r, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            client: Some("10.0.1.2:33317".parse().expect("addr")),
            start: UNIX_EPOCH + Duration::from_millis(1_234_567_654_655),
            frontend: "http-in".into(),
            backend: "static".into(),
            server: Some("srv1".into()),
            tq: Some(Duration::from_millis(10)),
            tw: Some(Duration::ZERO),
            tc: Some(Duration::from_millis(30)),
            tr: Some(Duration::from_millis(69)),
            ta: Duration::from_millis(109),
            status: 200,
            bytes: 2750,
            term: *b"--",
            actconn: 1,
            feconn: 1,
            beconn: 1,
            srvconn: 1,
            retries: 0,
            srv_queue: 0,
            backend_queue: 0,
            request_line: "GET /index.html HTTP/1.1".into(),
            tls: None,
        }
    }

    #[test]
    fn tls_connections_end_with_sni_version_and_cipher() {
        let mut r = record();
        r.tls = Some(TlsFields {
            sni: "www.example.com".into(),
            version: "TLSv1.3",
            cipher: "TLS13_AES_128_GCM_SHA256",
        });
        let l = httplog(&r, None);
        assert!(
            l.ends_with(
                "\"GET /index.html HTTP/1.1\" www.example.com/TLSv1.3/TLS13_AES_128_GCM_SHA256"
            ),
            "{l}"
        );
        r.tls = Some(TlsFields {
            sni: String::new(),
            version: "TLSv1.2",
            cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        });
        let l = tcplog(&r, None);
        assert!(
            l.ends_with(" 0/0 -/TLSv1.2/TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "{l}"
        );
        r.tls = Some(TlsFields {
            sni: "a b/\"c".into(),
            version: "TLSv1.3",
            cipher: "X",
        });
        assert!(httplog(&r, None).ends_with(" a#b##c/TLSv1.3/X"));
    }

    #[test]
    fn httplog_has_haproxy_fields() {
        let l = httplog(&record(), None);
        assert_eq!(
            l,
            "10.0.1.2:33317 [13/Feb/2009:23:27:34.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\""
        );
    }

    #[test]
    fn missing_steps_are_minus_one_and_no_server_is_nosrv() {
        let mut r = record();
        r.server = None;
        r.tc = None;
        r.tr = None;
        r.status = 503;
        r.term = *b"SC";
        let l = httplog(&r, None);
        assert!(
            l.contains(" static/<NOSRV> 10/0/-1/-1/109 503 2750 - - SC-- "),
            "{l}"
        );
    }

    #[test]
    fn tcplog_fields() {
        let l = tcplog(&record(), None);
        assert!(
            l.ends_with(" http-in static/srv1 0/30/109 2750 -- 1/1/1/1/0 0/0"),
            "{l}"
        );
    }

    #[test]
    fn anonymising_masks_addresses_and_ports() {
        let l = httplog(&record(), Some((24, 48)));
        assert!(l.starts_with("10.0.1.0:0 ["), "{l}");
        assert_eq!(
            mask("2001:db8:1:2:3:4:5:6".parse().expect("v6"), 24, 48),
            "2001:db8:1::".parse::<IpAddr>().expect("v6")
        );
        assert_eq!(
            mask("::ffff:192.168.7.9".parse().expect("mapped"), 16, 48),
            "192.168.0.0".parse::<IpAddr>().expect("v4")
        );
        assert_eq!(
            mask("192.168.7.9".parse().expect("v4"), 0, 0),
            "0.0.0.0".parse::<IpAddr>().expect("v4")
        );
        assert_eq!(
            mask("192.168.7.9".parse().expect("v4"), 32, 0),
            "192.168.7.9".parse::<IpAddr>().expect("v4")
        );
    }

    #[test]
    fn request_line_cannot_break_the_line() {
        let mut r = record();
        r.request_line = "GET /a\"b\nc HTTP/1.1".into();
        let l = httplog(&r, None);
        assert!(l.ends_with("\"GET /a#b#c HTTP/1.1\""), "{l}");
    }

    #[test]
    fn dates() {
        assert_eq!(date(UNIX_EPOCH), "01/Jan/1970:00:00:00.000");
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "29/Feb/2000:00:00:00.000"
        );
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_millis(1_795_316_112_345)),
            "22/Nov/2026:02:55:12.345"
        );
    }
}
