//! `ringlb import-haproxy` on configs with header rules, redirects, denies, error pages and
//! stats pages in backends: the edge config and the two HAProxy 1.4 traffic-spike configs of
//! `tests/configs/haproxy/` are translated, and ringlb is started on each translation with real
//! backends to show that the traffic is treated as HAProxy would treat it.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

struct Imported {
    toml: String,
    stderr: String,
    code: i32,
}

fn import(name: &str) -> Imported {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs/haproxy")
        .join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("import-haproxy")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Imported {
        toml: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Replaces each `(address in the fixture, backend)` and the listener addresses by free ones.
fn localize(
    toml: &str,
    backends: &[(&str, SocketAddr)],
    listeners: &[&str],
) -> (String, Vec<SocketAddr>) {
    let mut t = toml.to_owned();
    for (from, to) in backends {
        assert!(t.contains(from), "{from} not in:\n{toml}");
        t = t.replace(from, &to.to_string());
    }
    let mut addrs = Vec::new();
    for l in listeners {
        let a = free_addr();
        assert!(t.contains(l), "{l} not in:\n{toml}");
        t = t.replace(l, &a.to_string());
        addrs.push(a);
    }
    (t, addrs)
}

fn echoed(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (Response, String) {
    let mut h = headers.to_vec();
    h.push(("X-Echo-Headers", "1"));
    let r = http_get(addr, path, &h);
    let body = r.body_str();
    (r, body)
}

fn field<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

#[test]
fn edge_config_translates_every_line_and_serves_like_haproxy() {
    let t = import("edge-rules.cfg");
    assert_eq!(t.code, 0, "every line translated:\n{}", t.stderr);
    assert!(t.stderr.is_empty(), "{}", t.stderr);
    for expected in [
        "[[frontend.www.request_rule]]\naction = \"deny\"\nif = \"blocked\"\n",
        "action = \"redirect\"\nscheme = \"https\"\ncode = 301\nif = \"shop !{ ssl_fc }\"\n",
        "action = \"return\"\nstatus = 200\ncontent_type = \"text/plain\"\nbody = \"ok\"\nif = \"{ path /healthz }\"\n",
        "[[frontend.www.response_rule]]\naction = \"set_header\"\nname = \"Strict-Transport-Security\"\nvalue = \"max-age=31536000; includeSubDomains\"\n",
        "[[backend.app.request_rule]]\naction = \"set_header\"\nname = \"X-App\"\nvalue = \"yes\"\n",
        "[frontend.www.errorfile]\n503 = \"/etc/haproxy/errors/503.http\"\n403 = \"/etc/haproxy/errors/403.http\"\n",
        "[backend.ws.errorfile]\n503 = \"/etc/haproxy/errors/503.http\"\n",
    ] {
        assert!(t.toml.contains(expected), "missing:\n{expected}\nin:\n{}", t.toml);
    }
    // Real error pages where the fixture keeps them.
    let errors = unique_dir("edge-errors");
    for (status, text) in [(503, "Service Unavailable"), (403, "Forbidden")] {
        std::fs::write(
            errors.join(format!("{status}.http")),
            format!("HTTP/1.0 {status} {text}\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<h1>edge {status}</h1>\r\n"),
        )
        .unwrap();
    }
    let app1 = Backend::start("app1");
    let app2 = Backend::start("app2");
    let ws_down = RefusingAddr::new();
    let toml = t
        .toml
        .replace("/etc/haproxy/errors/", &format!("{}/", errors.display()));
    let (toml, addrs) = localize(
        &toml,
        &[
            ("127.0.0.1:18481", app1.addr()),
            ("127.0.0.1:18482", app2.addr()),
            ("127.0.0.1:18483", ws_down.addr()),
        ],
        &["127.0.0.1:18480"],
    );
    let toml = toml.replace(
        "target = \"udp://127.0.0.1:514\"\n",
        "target = \"stdout\"\n",
    );
    let _lb = Ringlb::start(&toml);
    let www = addrs[0];

    let (r, head) = echoed(
        www,
        "/",
        &[("X-Debug", "1"), ("X-Forwarded-Proto", "https")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(field(&head, "x-forwarded-proto"), vec!["http"], "{head}");
    assert!(field(&head, "x-debug").is_empty(), "{head}");
    assert_eq!(field(&head, "x-app"), vec!["yes"], "backend rule: {head}");
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(r.header("server"), None, "Server hidden");
    assert_eq!(r.header("x-served-by"), Some("app"));

    let r = http_get(www, "/cart?id=3", &[("Host", "shop.example.com")]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://shop.example.com/cart?id=3")
    );

    let r = http_get(www, "/healthz", &[]);
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));

    let mut blocked = Client::connect_from(www, "127.0.0.66".parse().unwrap()).unwrap();
    let r = blocked.get("/").unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.body_str(), "<h1>edge 403</h1>\r\n", "the errorfile");

    // A WebSocket request goes to the ws backend (down here): its 503 is the errorfile.
    let r = http_get(www, "/socket", &[("Upgrade", "websocket")]);
    assert_eq!(r.status, 503);
    assert_eq!(r.body_str(), "<h1>edge 503</h1>\r\n");
    let before = app1.requests() + app2.requests();
    assert_eq!(before, 1, "only the first request reached the app servers");
}

#[test]
fn spike_apache_config_keeps_its_stats_page_block_and_headers() {
    let t = import("spike-14-apache.cfg");
    // The stats page of the backend with servers is kept (it used to vanish while the lines
    // counted as translated).
    assert!(t.toml.contains("[frontend.main.stats]\n"), "{}", t.toml);
    assert!(
        t.toml
            .contains("stats page of backend app (which also has servers)"),
        "the move is explained: {}",
        t.toml
    );
    assert!(!t.stderr.contains("stats"), "{}", t.stderr);
    for (line, what) in [
        ("chroot", "ringlb does not chroot"),
        ("option forwardfor       except", "except"),
    ] {
        assert!(
            t.stderr
                .lines()
                .any(|l| l.contains(line) && l.contains(what)),
            "{line} reported: {}",
            t.stderr
        );
    }
    assert_eq!(t.code, 3, "{}", t.stderr);
    for expected in [
        "[[frontend.main.request_rule]]\naction = \"deny\"\nif = \"url_admin\"\n",
        "action = \"add_header\"\nname = \"X-Forwarded-Proto\"\nvalue = \"http\"\n",
        // rspidel runs before rspadd in HAProxy, whatever the file's order: so here.
        "[[backend.app.response_rule]]\n# rules in the order HAProxy runs them",
        "action = \"del_header\"\nname = \"Server\"\n\n[[backend.app.response_rule]]\naction = \"add_header\"\nname = \"X-Balancer\"\nvalue = \"haproxy\"\n",
    ] {
        assert!(t.toml.contains(expected), "missing:\n{expected}\nin:\n{}", t.toml);
    }
    let web01 = Backend::start("web01");
    let web02 = Backend::start("web02");
    let (toml, addrs) = localize(
        &t.toml,
        &[
            ("127.0.0.1:18581", web01.addr()),
            ("127.0.0.1:18582", web02.addr()),
        ],
        &["127.0.0.1:18580"],
    );
    let _lb = Ringlb::start(&toml);
    let main = addrs[0];
    let (r, head) = echoed(main, "/index.php", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(field(&head, "x-forwarded-proto"), vec!["http"], "{head}");
    assert_eq!(r.header("x-balancer"), Some("haproxy"));
    assert_eq!(r.header("server"), None);
    let cookie = r
        .header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("SERVERID="))
        .unwrap_or_else(|| panic!("persistence cookie: {:?}", r.headers))
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let server = r.backend().unwrap().to_owned();
    for _ in 0..4 {
        let r = http_get(main, "/", &[("Cookie", &cookie)]);
        assert_eq!(r.backend(), Some(server.as_str()), "sticky");
    }
    assert_eq!(http_get(main, "/admin/users", &[]).status, 403, "block");
    assert_eq!(http_get(main, "/haproxy?stats", &[]).status, 401);
    let r = http_get(
        main,
        "/haproxy?stats",
        &[("Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")],
    );
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("web01"), "the page lists the servers");
}

#[test]
fn spike_nginx_config_rewrites_hosts_and_drops_client_forwarded_for() {
    let t = import("spike-14-nginx.cfg");
    assert_eq!(t.code, 0, "every line translated:\n{}", t.stderr);
    for expected in [
        "[[frontend.http-in.request_rule]]\naction = \"del_header\"\nname = \"X-Forwarded-For\"\n",
        "[[backend.webfarm.response_rule]]\naction = \"del_header\"\nname = \"X-Powered-By\"\n",
        "[[backend.static.request_rule]]\naction = \"replace_header\"\nname = \"Host\"\nregex = \"(?i)^www.example.com\"\nreplace = \"static.example.com\"\n",
        "[stats]\n",
    ] {
        assert!(t.toml.contains(expected), "missing:\n{expected}\nin:\n{}", t.toml);
    }
    let nginx1 = Backend::start("nginx1");
    let nginx2 = Backend::start("nginx2");
    let static1 = Backend::start("static1");
    let (toml, addrs) = localize(
        &t.toml,
        &[
            ("127.0.0.1:18681", nginx1.addr()),
            ("127.0.0.1:18682", nginx2.addr()),
            ("127.0.0.1:18683", static1.addr()),
        ],
        &["127.0.0.1:18680", "127.0.0.1:18690"],
    );
    let _lb = Ringlb::start(&toml);
    let www = addrs[0];
    let (r, head) = echoed(
        www,
        "/logo.png",
        &[("Host", "www.example.com"), ("X-Forwarded-For", "6.6.6.6")],
    );
    assert_eq!(r.backend(), Some("static1"));
    assert_eq!(field(&head, "host"), vec!["static.example.com"], "{head}");
    assert_eq!(
        field(&head, "x-forwarded-for"),
        vec!["127.0.0.1"],
        "the client's list dropped, the real address added: {head}"
    );
    let (r, head) = echoed(www, "/cart.php", &[("Host", "www.example.com")]);
    assert!(matches!(r.backend(), Some("nginx1" | "nginx2")));
    assert_eq!(
        field(&head, "host"),
        vec!["www.example.com"],
        "only static rewrites"
    );
    let r = http_get(
        addrs[1],
        "/",
        &[("Authorization", "Basic YWRtaW46Y2hhbmdlbWU=")],
    );
    assert_eq!(r.status, 200, "the stats listener");
}
