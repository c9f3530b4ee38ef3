//! Unit tests of the PROXY protocol options: `accept-proxy` on `bind` lines (plain and TLS),
//! `send-proxy`, `send-proxy-v2`, `check-send-proxy` on `server` and `default-server`.

use super::tests::{be, load};
use crate::config::ProxyVersion;

fn front(cfg: &str) -> String {
    format!(
        "defaults\n mode http\nfrontend www\n{cfg}\n default_backend app\n\
         backend app\n server a 10.0.0.1:80\n"
    )
}

#[test]
fn accept_proxy_on_plain_and_tls_binds() {
    let (t, c) = load(&front(" bind :80 accept-proxy\n bind :8080 accept-proxy"));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(c.frontends[0].accept_proxy);

    // The TLS listener follows the plain ones unless it differs.
    let (t, c) = load(&front(
        " bind :80\n bind :443 ssl crt /etc/haproxy/site.pem accept-proxy",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let www = &c.frontends[0];
    assert!(!www.accept_proxy);
    assert!(www.tls.as_ref().is_some_and(|t| t.accept_proxy));
    let (_, c) = load(&front(
        " bind :80 accept-proxy\n bind :443 ssl crt /etc/haproxy/site.pem",
    ));
    let www = &c.frontends[0];
    assert!(www.accept_proxy && www.tls.as_ref().is_some_and(|t| !t.accept_proxy));
}

#[test]
fn plain_binds_that_differ_are_listed() {
    let (t, c) = load(&front(" bind :80 accept-proxy\n bind :8080"));
    assert!(c.frontends[0].accept_proxy);
    let s = t
        .skipped
        .iter()
        .find(|s| s.line == 5)
        .expect("line 5 listed");
    assert!(s.why.contains("line 4 has it"), "{}", s.why);
    // Other options of the line are still reported, accept-proxy is not among them.
    let (t, _) = load(&front(" bind :80 accept-proxy transparent"));
    assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
    assert!(t.skipped[0].why.contains("transparent"));
    assert!(!t.skipped[0].why.contains("accept-proxy"));
}

#[test]
fn defer_accept_is_the_http_default_and_set_for_tcp_frontends() {
    // http: ringlb defers anyway; nothing is reported and nothing needs writing.
    let (t, c) = load(&front(" bind :80 defer-accept"));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert!(c.frontends[0].defer_accept);
    // tcp: written out, from a plain or a TLS bind line, for the whole frontend.
    for bind in [
        " bind :5432 defer-accept",
        " bind :80\n bind :443 ssl crt /etc/site.pem defer-accept",
    ] {
        let cfg = format!(
            "defaults\n mode tcp\nfrontend db\n{bind}\n default_backend app\n\
             backend app\n server a 10.0.0.1:5432\n"
        );
        let (t, c) = load(&cfg);
        assert!(c.frontends[0].defer_accept, "{}", t.toml);
        assert!(
            t.toml.contains("ringlb sets it for every listener"),
            "{}",
            t.toml
        );
        assert!(!t.skipped.iter().any(|s| s.why.contains("defer-accept")));
    }
    let (t, c) = load(
        "defaults\n mode tcp\nfrontend db\n bind :5432\n default_backend app\n\
         backend app\n server a 10.0.0.1:5432\n",
    );
    assert!(!c.frontends[0].defer_accept, "{}", t.toml);
}

#[test]
fn send_proxy_on_servers_and_default_server() {
    let (t, c) = load(
        "defaults\n mode tcp\nlisten db\n bind :5432\n default-server send-proxy-v2\n\
         server a 10.0.0.1:5432 check\n server b 10.0.0.2:5432 send-proxy\n\
         server c 10.0.0.3:5432 no-send-proxy-v2\n",
    );
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let s = &be(&c, "db").servers;
    assert_eq!(s[0].send_proxy, Some(ProxyVersion::V2));
    // Checks of a send-proxy server carry the header, as in HAProxy.
    assert_eq!(
        s[0].check.as_ref().and_then(|c| c.send_proxy),
        Some(ProxyVersion::V2)
    );
    assert_eq!(s[1].send_proxy, Some(ProxyVersion::V1));
    assert_eq!(s[2].send_proxy, None);
}

#[test]
fn check_send_proxy_alone_and_proxy_v2_tlvs() {
    let (t, c) = load(
        "defaults\n mode http\nlisten www\n bind :80\n\
         server a 10.0.0.1:80 check check-send-proxy\n\
         server b 10.0.0.2:80 send-proxy-v2-ssl\n",
    );
    let s = &be(&c, "www").servers;
    assert_eq!(s[0].send_proxy, None);
    assert_eq!(
        s[0].check.as_ref().and_then(|c| c.send_proxy),
        Some(ProxyVersion::V1)
    );
    // A header with TLS details ringlb cannot send is listed, not half-translated.
    assert!(
        t.skipped
            .iter()
            .any(|s| s.line == 6 && s.why.contains("send-proxy-v2-ssl")),
        "{:?}",
        t.skipped
    );
}
