//! `[backend.X.tls]` and a server's `tls`: TLS from ringlb to the servers. The backend's table
//! applies to each of its servers; a server's own `tls` table (`[backend.X.server.tls]` after
//! its `[[backend.X.server]]`, or `tls = { … }`) overrides it key by key, and alone turns TLS
//! on for that server. Files are only named here, loaded when the config is compiled.

use std::path::PathBuf;

use super::walk::{Cx, Schema, Table};
use crate::config::{Place, ServerTls};

pub(super) const SERVER_TLS: Schema = Schema {
    known: &["verify", "ca_file", "sni", "cert", "key", "check_tls"],
    elsewhere: &[
        (
            "bind",
            "TLS listeners belong to a frontend: [frontend.NAME.tls] bind = …",
        ),
        (
            "certificates",
            "a client certificate for the servers is `cert` (and `key` when it is apart)",
        ),
        (
            "certificate",
            "a client certificate for the servers is `cert` (and `key` when it is apart)",
        ),
        ("ca", "the CA bundle is `ca_file`"),
        ("ca-file", "the CA bundle is `ca_file`"),
        (
            "check",
            "checks over TLS are on by default; `check_tls = false` turns them off",
        ),
    ],
    names: false,
};

const VERIFY: &[(&str, bool)] = &[("required", true), ("none", false)];

/// A `tls` table as written: every key optional, so that a server's table can override its
/// backend's key by key.
#[derive(Debug, Clone, Default)]
pub(super) struct TlsDraft {
    verify: Option<bool>,
    ca_file: Option<PathBuf>,
    sni: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    check: Option<bool>,
    place: Option<Place>,
    ca_place: Option<Place>,
    cert_place: Option<Place>,
}

/// The `tls` table of `t` (a backend or a server), if it has one.
pub(super) fn draft(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Option<TlsDraft> {
    let tls = t.table(cx, "tls", &SERVER_TLS)?;
    let path = |cx: &mut Cx<'_>, key: &str| -> Option<(PathBuf, Place)> {
        let (p, span) = tls.str(cx, key)?;
        if p.is_empty() {
            cx.error(&span, format!("empty path for `{key}`"));
            return None;
        }
        Some((PathBuf::from(p), cx.place(span.start)))
    };
    let (ca_file, ca_place) = path(cx, "ca_file").unzip();
    let (cert, cert_place) = path(cx, "cert").unzip();
    let key = path(cx, "key").map(|(p, _)| p);
    let sni = match tls.str(cx, "sni") {
        Some((s, span)) if s.is_empty() || s.contains(|c: char| c.is_whitespace()) => {
            cx.error_help(
                &span,
                format!("invalid server name \"{s}\" for `sni`"),
                "a DNS name such as \"www.example.com\"",
            );
            None
        }
        Some((s, _)) => Some(s.to_ascii_lowercase()),
        None => None,
    };
    Some(TlsDraft {
        verify: tls.enum_of(cx, "verify", "verify mode", VERIFY),
        ca_file,
        sni,
        cert,
        key,
        check: tls.bool(cx, "check_tls"),
        place: Some(cx.place(tls.span.start)),
        ca_place,
        cert_place,
    })
}

/// A server's TLS from its backend's table and its own (its keys win); `host` is the name in
/// the server's address (`None` for an IP address), the default SNI.
pub(super) fn resolve(
    backend: Option<&TlsDraft>,
    server: Option<&TlsDraft>,
    host: Option<&str>,
) -> Option<ServerTls> {
    if backend.is_none() && server.is_none() {
        return None;
    }
    let verify = server
        .and_then(|d| d.verify)
        .or_else(|| backend.and_then(|d| d.verify));
    let place = server
        .and_then(|d| d.place.clone())
        .or_else(|| backend.and_then(|d| d.place.clone()))?;
    let path =
        |f: fn(&TlsDraft) -> Option<PathBuf>| server.and_then(f).or_else(|| backend.and_then(f));
    let place_of =
        |f: fn(&TlsDraft) -> Option<Place>| server.and_then(f).or_else(|| backend.and_then(f));
    Some(ServerTls {
        verify: verify.unwrap_or(crate::config::defaults::SERVER_TLS_VERIFY),
        ca_place: place_of(|d| d.ca_file.as_ref().and(d.ca_place.clone())),
        cert_place: place_of(|d| d.cert.as_ref().and(d.cert_place.clone())),
        ca_file: path(|d| d.ca_file.clone()),
        sni: server
            .and_then(|d| d.sni.clone())
            .or_else(|| backend.and_then(|d| d.sni.clone()))
            .or_else(|| host.map(str::to_ascii_lowercase)),
        cert: path(|d| d.cert.clone()),
        key: path(|d| d.key.clone()),
        check: server
            .and_then(|d| d.check)
            .or_else(|| backend.and_then(|d| d.check))
            .unwrap_or(crate::config::defaults::SERVER_TLS_CHECK),
        place,
    })
}

/// The host name of a server address as written (`web1.internal:443` → `web1.internal`);
/// `None` for an IP address.
pub(super) fn host_of(address: &str) -> Option<&str> {
    if address.parse::<std::net::SocketAddr>().is_ok() {
        return None;
    }
    let (host, _) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && host.parse::<std::net::IpAddr>().is_err()).then_some(host)
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str_with, Config, Diagnostic};
    use std::net::SocketAddr;

    fn parse(backend: &str, servers: &str) -> Result<Config, Vec<Diagnostic>> {
        let text = format!(
            "[frontend.www]\nbind = \"127.0.0.1:80\"\ndefault_backend = \"web\"\n\
             [backend.web]\n{backend}\n{servers}"
        );
        let table = |hp: &str| -> std::io::Result<Option<SocketAddr>> {
            Ok((hp == "web1.internal:443").then(|| SocketAddr::from(([192, 0, 2, 9], 443))))
        };
        parse_str_with(&text, "t.toml", &table)
    }

    const TWO: &str = "[[backend.web.server]]\nname = \"a\"\naddress = \"web1.internal:443\"\n\
                       [[backend.web.server]]\nname = \"b\"\naddress = \"10.0.0.2:443\"\n";

    #[test]
    fn backend_table_applies_to_every_server_with_its_host_as_sni() {
        let cfg = parse("[backend.web.tls]\nca_file = \"/etc/ca.pem\"", TWO).expect("valid");
        let s = &cfg.backends[0].servers;
        let a = s[0].tls.as_ref().expect("tls on a");
        let b = s[1].tls.as_ref().expect("tls on b");
        assert!(a.verify && a.check);
        assert_eq!(a.sni.as_deref(), Some("web1.internal"));
        // An IP address: no SNI, the certificate must name the address.
        assert_eq!(b.sni, None);
        assert_eq!(
            b.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(a.ca_place.as_ref().map(|p| (p.line, p.col)), Some((6, 11)));
    }

    #[test]
    fn a_server_table_overrides_key_by_key_or_alone_turns_tls_on() {
        let servers = "[[backend.web.server]]\nname = \"a\"\naddress = \"10.0.0.1:443\"\n\
                       tls = { verify = \"none\", check_tls = false }\n\
                       [[backend.web.server]]\nname = \"b\"\naddress = \"10.0.0.2:80\"\n";
        let cfg = parse("", servers).expect("valid");
        let s = &cfg.backends[0].servers;
        let a = s[0].tls.as_ref().expect("tls on a");
        assert!(!a.verify && !a.check);
        assert!(s[1].tls.is_none());
        let cfg = parse("[backend.web.tls]\nsni = \"WWW.Example.com\"", servers).expect("valid");
        let s = &cfg.backends[0].servers;
        let a = s[0].tls.as_ref().expect("tls on a");
        assert!(!a.verify);
        assert_eq!(a.sni.as_deref(), Some("www.example.com"));
        assert!(s[1].tls.as_ref().expect("tls on b").verify);
    }

    #[test]
    fn mistakes_are_reported_at_their_place() {
        let e = parse("[backend.web.tls]\nverify = \"optional\"", TWO).expect_err("invalid");
        let text: String = e.iter().map(|d| d.to_string() + "\n").collect();
        assert!(text.contains("unknown verify mode \"optional\""), "{text}");
        let e = parse("[backend.web.tls]\nca = \"/x\"\nsni = \"\"", TWO).expect_err("invalid");
        let text: String = e.iter().map(|d| d.to_string() + "\n").collect();
        assert!(text.contains("the CA bundle is `ca_file`"), "{text}");
        assert!(text.contains("invalid server name \"\""), "{text}");
    }

    #[test]
    fn host_names_of_addresses() {
        assert_eq!(super::host_of("web1.internal:443"), Some("web1.internal"));
        assert_eq!(super::host_of("10.0.0.1:443"), None);
        assert_eq!(super::host_of("[2001:db8::1]:443"), None);
    }
}
