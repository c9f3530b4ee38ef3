//! The PROXY protocol (versions 1 and 2, as HAProxy specifies it): the header another proxy
//! puts in front of a connection's bytes to say which client it carries.
//!
//! Pure: bytes in, a decision out. [`parse`] reads a header from the start of a connection
//! (incrementally: it says how many more bytes may still belong to the header, so a reader
//! never takes a byte of the request that follows); [`encode`] writes one for a server.
//!
//! Bounds: a v1 header is at most [`MAX_V1`] bytes including its CRLF; a v2 header at most
//! [`MAX_V2`] (16 fixed bytes, the addresses, and TLVs, which are skipped). Anything longer,
//! or not well formed, is an [`Error`]; nothing here panics on input.
//!
//! Imports std only, so that `config`, `health`, `proxy` and `worker` can all use it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest v1 header, CRLF included (the specification's own bound).
pub const MAX_V1: usize = 107;

/// The longest v2 header accepted: the 16 fixed bytes and up to 2 KiB of addresses and TLVs
/// (cloud load balancers add a few TLVs of tens of bytes).
pub const MAX_V2: usize = 16 + 2048;

/// The 12 bytes that open a v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";

/// Which version of the protocol to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// The two ends of the client's connection as the sending proxy saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addresses {
    /// The client.
    pub src: SocketAddr,
    /// The address the client connected to.
    pub dst: SocketAddr,
}

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The connection carries this client.
    Proxied(Addresses),
    /// The sender's own connection (v1 `UNKNOWN`, v2 `LOCAL`, or an address family other than
    /// TCP over IPv4/IPv6): the connection's own addresses stay.
    Local,
}

/// Where a parse stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// The header is complete and is the first `len` bytes; what follows is the connection's
    /// data.
    Complete { header: Header, len: usize },
    /// Every byte so far belongs to the header; at most `more` further bytes still may.
    Incomplete { more: usize },
}

/// Why a header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The connection starts with something else than a PROXY header.
    Missing,
    /// A v1 line that does not follow the grammar.
    BadV1(&'static str),
    /// A v2 header that does not follow the format.
    BadV2(&'static str),
    /// Longer than [`MAX_V1`] or [`MAX_V2`].
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing => f.write_str("no PROXY protocol header"),
            Error::BadV1(why) => write!(f, "malformed PROXY v1 header: {why}"),
            Error::BadV2(why) => write!(f, "malformed PROXY v2 header: {why}"),
            Error::TooLong => f.write_str("PROXY header too long"),
        }
    }
}

/// Parses the header at the start of `buf` (the bytes received so far).
pub fn parse(buf: &[u8]) -> Result<Parse, Error> {
    if buf.starts_with(&V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if buf.starts_with(V1_PREFIX) {
        return parse_v1(buf);
    }
    // Too short to tell: fine while it is the start of one of the two openings.
    if V2_SIGNATURE.starts_with(buf) {
        return Ok(Parse::Incomplete {
            more: MAX_V2 - buf.len(),
        });
    }
    if V1_PREFIX.starts_with(buf) {
        return Ok(Parse::Incomplete {
            more: MAX_V1 - buf.len(),
        });
    }
    Err(Error::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Parse, Error> {
    let window = buf.get(..buf.len().min(MAX_V1)).unwrap_or(buf);
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() >= MAX_V1 {
            return Err(Error::TooLong);
        }
        if !window.iter().all(|&b| b == b'\r' || is_v1_char(b)) {
            return Err(Error::BadV1("a character outside the grammar"));
        }
        return Ok(Parse::Incomplete {
            more: MAX_V1 - buf.len(),
        });
    };
    let line = match window.get(..lf) {
        Some(l) => l
            .strip_suffix(b"\r")
            .ok_or(Error::BadV1("line not ended by CRLF"))?,
        None => return Err(Error::BadV1("line not ended by CRLF")),
    };
    let text = std::str::from_utf8(line).map_err(|_| Error::BadV1("not ASCII"))?;
    let rest = text
        .strip_prefix("PROXY ")
        .ok_or(Error::BadV1("no PROXY keyword"))?;
    let header = v1_fields(rest)?;
    Ok(Parse::Complete {
        header,
        len: lf + 1,
    })
}

fn is_v1_char(b: u8) -> bool {
    b.is_ascii_graphic() || b == b' '
}

fn v1_fields(rest: &str) -> Result<Header, Error> {
    if rest == "UNKNOWN" || rest.starts_with("UNKNOWN ") {
        return Ok(Header::Local);
    }
    let mut f = rest.split(' ');
    let proto = f.next().unwrap_or("");
    let (src, dst, sport, dport) = (f.next(), f.next(), f.next(), f.next());
    if f.next().is_some() {
        return Err(Error::BadV1("too many fields"));
    }
    let (Some(src), Some(dst), Some(sport), Some(dport)) = (src, dst, sport, dport) else {
        return Err(Error::BadV1("too few fields"));
    };
    let (src, dst) = match proto {
        "TCP4" => (
            IpAddr::V4(v4(src).ok_or(Error::BadV1("bad IPv4 source address"))?),
            IpAddr::V4(v4(dst).ok_or(Error::BadV1("bad IPv4 destination address"))?),
        ),
        "TCP6" => (
            IpAddr::V6(v6(src).ok_or(Error::BadV1("bad IPv6 source address"))?),
            IpAddr::V6(v6(dst).ok_or(Error::BadV1("bad IPv6 destination address"))?),
        ),
        _ => return Err(Error::BadV1("protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let sport = port(sport).ok_or(Error::BadV1("bad source port"))?;
    let dport = port(dport).ok_or(Error::BadV1("bad destination port"))?;
    Ok(Header::Proxied(Addresses {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
    }))
}

fn v4(s: &str) -> Option<Ipv4Addr> {
    s.parse().ok()
}

fn v6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok()
}

/// A port: 1–5 decimal digits, at most 65535 (no sign, which `u16::from_str` would take).
fn port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Result<Parse, Error> {
    let Some(fixed) = buf.get(..16) else {
        return Ok(Parse::Incomplete {
            more: MAX_V2 - buf.len(),
        });
    };
    let &[.., ver_cmd, fam, hi, lo] = fixed else {
        return Err(Error::BadV2("short fixed part"));
    };
    let len = usize::from(hi) << 8 | usize::from(lo);
    if ver_cmd >> 4 != 2 {
        return Err(Error::BadV2("version is not 2"));
    }
    let total = 16 + len;
    if total > MAX_V2 {
        return Err(Error::TooLong);
    }
    let Some(body) = buf.get(16..total) else {
        return Ok(Parse::Incomplete {
            more: total - buf.len(),
        });
    };
    let header = match ver_cmd & 0x0f {
        0x0 => Header::Local,
        0x1 => v2_addresses(fam, body)?,
        _ => return Err(Error::BadV2("command is neither LOCAL nor PROXY")),
    };
    Ok(Parse::Complete { header, len: total })
}

fn v2_addresses(fam: u8, body: &[u8]) -> Result<Header, Error> {
    match fam {
        // TCP over IPv4: 4 + 4 address bytes, 2 + 2 port bytes; TLVs after them are skipped.
        0x11 => match body {
            [a, b, c, d, e, f, g, h, sp0, sp1, dp0, dp1, ..] => Ok(Header::Proxied(Addresses {
                src: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)),
                    u16::from_be_bytes([*sp0, *sp1]),
                ),
                dst: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(*e, *f, *g, *h)),
                    u16::from_be_bytes([*dp0, *dp1]),
                ),
            })),
            _ => Err(Error::BadV2("address block too short for TCP over IPv4")),
        },
        // TCP over IPv6: 16 + 16 address bytes, 2 + 2 port bytes.
        0x21 => {
            let (Some(src), Some(dst), Some(ports)) =
                (body.get(..16), body.get(16..32), body.get(32..36))
            else {
                return Err(Error::BadV2("address block too short for TCP over IPv6"));
            };
            let ip = |b: &[u8]| -> Option<Ipv6Addr> {
                let a: [u8; 16] = b.try_into().ok()?;
                Some(Ipv6Addr::from(a))
            };
            let (Some(s), Some(d), [sp0, sp1, dp0, dp1]) = (ip(src), ip(dst), ports) else {
                return Err(Error::BadV2("address block too short for TCP over IPv6"));
            };
            Ok(Header::Proxied(Addresses {
                src: SocketAddr::new(IpAddr::V6(s), u16::from_be_bytes([*sp0, *sp1])),
                dst: SocketAddr::new(IpAddr::V6(d), u16::from_be_bytes([*dp0, *dp1])),
            }))
        }
        // UNSPEC, UDP, Unix sockets: no TCP client to take; the connection's own addresses
        // stay (the specification asks receivers to accept UNSPEC this way).
        0x00 | 0x12 | 0x22 | 0x31 | 0x32 => Ok(Header::Local),
        _ => Err(Error::BadV2("unknown address family or transport")),
    }
}

/// Appends the header `version` says for `addrs` to `out`; `None` sends v1 `UNKNOWN` / v2
/// `LOCAL` (a health check, or a client whose addresses are not known).
pub fn encode(version: Version, addrs: Option<Addresses>, out: &mut Vec<u8>) {
    let addrs = addrs.map(same_family);
    match version {
        Version::V1 => match addrs {
            None => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
            Some(a) => {
                let proto = if a.src.is_ipv4() { "TCP4" } else { "TCP6" };
                let line = format!(
                    "PROXY {proto} {} {} {} {}\r\n",
                    a.src.ip(),
                    a.dst.ip(),
                    a.src.port(),
                    a.dst.port()
                );
                out.extend_from_slice(line.as_bytes());
            }
        },
        Version::V2 => {
            out.extend_from_slice(&V2_SIGNATURE);
            match addrs {
                None => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
                Some(a) => match (a.src.ip(), a.dst.ip()) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        out.extend_from_slice(&[0x21, 0x11, 0, 12]);
                        out.extend_from_slice(&s.octets());
                        out.extend_from_slice(&d.octets());
                        out.extend_from_slice(&a.src.port().to_be_bytes());
                        out.extend_from_slice(&a.dst.port().to_be_bytes());
                    }
                    (s, d) => {
                        out.extend_from_slice(&[0x21, 0x21, 0, 36]);
                        out.extend_from_slice(&v6_of(s).octets());
                        out.extend_from_slice(&v6_of(d).octets());
                        out.extend_from_slice(&a.src.port().to_be_bytes());
                        out.extend_from_slice(&a.dst.port().to_be_bytes());
                    }
                },
            }
        }
    }
}

/// Both addresses in one family: IPv4-mapped IPv6 addresses (a dual-stack listener's view of
/// IPv4 clients) become IPv4; a pair still mixed goes as IPv6.
fn same_family(a: Addresses) -> Addresses {
    let canon = |s: SocketAddr| SocketAddr::new(s.ip().to_canonical(), s.port());
    let (src, dst) = (canon(a.src), canon(a.dst));
    if src.is_ipv4() == dst.is_ipv4() {
        return Addresses { src, dst };
    }
    let v6 = |s: SocketAddr| SocketAddr::new(IpAddr::V6(v6_of(s.ip())), s.port());
    Addresses {
        src: v6(src),
        dst: v6(dst),
    }
}

fn v6_of(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(src: &str, dst: &str) -> Addresses {
        Addresses {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
        }
    }

    fn complete(buf: &[u8]) -> (Header, usize) {
        match parse(buf) {
            Ok(Parse::Complete { header, len }) => (header, len),
            other => panic!("{other:?} for {buf:?}"),
        }
    }

    #[test]
    fn v1_tcp4_and_the_bytes_after_it() {
        let buf = b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n";
        let (h, len) = complete(buf);
        assert_eq!(h, Header::Proxied(addrs("192.0.2.7:56324", "10.0.0.1:443")));
        assert_eq!(&buf[len..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn v1_tcp6_and_unknown() {
        let (h, _) = complete(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
        assert_eq!(
            h,
            Header::Proxied(addrs("[2001:db8::1]:1", "[2001:db8::2]:65535"))
        );
        assert_eq!(complete(b"PROXY UNKNOWN\r\n"), (Header::Local, 15));
        assert_eq!(
            complete(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").0,
            Header::Local
        );
    }

    #[test]
    fn v1_malformed() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7 10.0.0.1 56324\r\n"[..],
            b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443 9\r\n",
            b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
            b"PROXY TCP6 192.0.2.7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 +1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 1 65536\r\n",
            b"PROXY TCP4 192.0.2.7  10.0.0.1 1 2\r\n",
            b"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 1 2\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 1 2\r\r\n",
            b"PROXY \x00\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::BadV1(_))),
                "{:?} -> {:?}",
                String::from_utf8_lossy(bad),
                parse(bad)
            );
        }
    }

    #[test]
    fn not_a_header() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(Error::Missing));
        assert_eq!(parse(b"\x16\x03\x01"), Err(Error::Missing));
        assert_eq!(parse(b"PROXX"), Err(Error::Missing));
        assert_eq!(parse(b"proxy "), Err(Error::Missing));
    }

    #[test]
    fn v1_too_long() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(MAX_V1, b'x');
        assert_eq!(parse(&long), Err(Error::TooLong));
        // Exactly the limit with its CRLF is fine.
        long.truncate(MAX_V1 - 2);
        long.extend_from_slice(b"\r\n");
        assert_eq!(complete(&long), (Header::Local, MAX_V1));
    }

    /// Every split point of every header: the prefix is incomplete (and says how much more
    /// may come), the whole is complete.
    #[test]
    fn every_prefix_is_incomplete() {
        let mut v2 = Vec::new();
        encode(
            Version::V2,
            Some(addrs("[2001:db8::1]:1", "[::1]:2")),
            &mut v2,
        );
        let headers: [&[u8]; 3] = [
            b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n",
            b"PROXY UNKNOWN\r\n",
            &v2,
        ];
        for h in headers {
            for cut in 0..h.len() {
                match parse(&h[..cut]) {
                    Ok(Parse::Incomplete { more }) => assert!(cut + more >= h.len()),
                    other => panic!("{other:?} at {cut} of {h:?}"),
                }
            }
            assert_eq!(complete(h).1, h.len());
        }
    }

    #[test]
    fn v2_round_trips() {
        for (a, b) in [
            ("192.0.2.7:56324", "10.0.0.1:443"),
            ("[2001:db8::1]:1", "[2001:db8::2]:65535"),
        ] {
            let want = addrs(a, b);
            for v in [Version::V1, Version::V2] {
                let mut out = Vec::new();
                encode(v, Some(want), &mut out);
                assert_eq!(complete(&out), (Header::Proxied(want), out.len()));
            }
        }
        for v in [Version::V1, Version::V2] {
            let mut out = Vec::new();
            encode(v, None, &mut out);
            assert_eq!(complete(&out).0, Header::Local);
        }
    }

    #[test]
    fn mixed_families_are_sent_in_one() {
        let mut out = Vec::new();
        encode(
            Version::V1,
            Some(addrs("[::ffff:192.0.2.7]:5", "10.0.0.1:80")),
            &mut out,
        );
        assert_eq!(out, b"PROXY TCP4 192.0.2.7 10.0.0.1 5 80\r\n");
        out.clear();
        encode(
            Version::V1,
            Some(addrs("192.0.2.7:5", "[::1]:80")),
            &mut out,
        );
        assert_eq!(out, b"PROXY TCP6 ::ffff:192.0.2.7 ::1 5 80\r\n");
    }

    #[test]
    fn v2_tlvs_are_skipped() {
        let mut h = V2_SIGNATURE.to_vec();
        // TCP4, 12 address bytes + a 7-byte TLV (type 0x04, length 4) .
        h.extend_from_slice(&[0x21, 0x11, 0, 19]);
        h.extend_from_slice(&[192, 0, 2, 7, 10, 0, 0, 1, 0x1f, 0x90, 0, 80]);
        h.extend_from_slice(&[0x04, 0, 4, 1, 2, 3, 4]);
        h.extend_from_slice(b"GET");
        let (hd, len) = complete(&h);
        assert_eq!(hd, Header::Proxied(addrs("192.0.2.7:8080", "10.0.0.1:80")));
        assert_eq!(&h[len..], b"GET");
    }

    #[test]
    fn v2_local_unspec_and_unix() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x20, 0x11, 0, 12]);
        h.extend_from_slice(&[0; 12]);
        assert_eq!(complete(&h), (Header::Local, 28));
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x00, 0, 0]);
        assert_eq!(complete(&h), (Header::Local, 16));
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x31, 0, 216]);
        h.resize(16 + 216, 0);
        assert_eq!(complete(&h), (Header::Local, 232));
    }

    #[test]
    fn v2_malformed() {
        let cases: [(&[u8], Error); 5] = [
            (&[0x11, 0x11, 0, 12], Error::BadV2("version is not 2")),
            (
                &[0x22, 0x11, 0, 12],
                Error::BadV2("command is neither LOCAL nor PROXY"),
            ),
            (
                &[0x21, 0x11, 0, 4],
                Error::BadV2("address block too short for TCP over IPv4"),
            ),
            (
                &[0x21, 0x21, 0, 12],
                Error::BadV2("address block too short for TCP over IPv6"),
            ),
            (
                &[0x21, 0x41, 0, 12],
                Error::BadV2("unknown address family or transport"),
            ),
        ];
        for (fixed, err) in cases {
            let mut h = V2_SIGNATURE.to_vec();
            h.extend_from_slice(fixed);
            h.resize(16 + usize::from(fixed[3]), 0);
            assert_eq!(parse(&h), Err(err), "{fixed:?}");
        }
    }

    #[test]
    fn v2_too_long_is_refused_before_the_body_arrives() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&h), Err(Error::TooLong));
        let mut h = V2_SIGNATURE.to_vec();
        let max = (MAX_V2 - 16) as u16;
        h.extend_from_slice(&[0x21, 0x11]);
        h.extend_from_slice(&max.to_be_bytes());
        assert_eq!(parse(&h), Ok(Parse::Incomplete { more: MAX_V2 - 16 }));
    }
}
