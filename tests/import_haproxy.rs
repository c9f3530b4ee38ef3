//! `ringlb import-haproxy` through the real binary: every haproxy.cfg in
//! `tests/configs/haproxy/` is translated, the result passes `ringlb check`, and a few values
//! are checked; then a translated config runs with real backends and routes, balances and
//! sticks the way the HAProxy config says.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;
use ringlb::config::{self, Balance, CheckKind, Config, ConnectionMode, Mode};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs/haproxy")
        .join(name)
}

/// Runs `ringlb import-haproxy FILE`.
fn import(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .arg("import-haproxy")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run ringlb import-haproxy: {e}"))
}

struct Imported {
    toml: String,
    stderr: String,
    code: i32,
    config: Config,
}

/// Where the TLS fixtures keep their certificates (a directory, as HAProxy's `crt DIR/`).
const FIXTURE_CERTS: &str = "/etc/haproxy/certs/";
/// The CA file the fixtures' servers with `ssl` trust; replaced like the certificates.
const FIXTURE_CA: &str = "/etc/haproxy/ca.pem";

/// A directory holding one real certificate (self-signed, P-256, for `names`) as HAProxy
/// keeps them: chain and key in one PEM file. Returns the directory, with a trailing `/`.
fn cert_dir(names: &[&str]) -> String {
    let dir = unique_dir("ringlb-import-tls");
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "60",
            "-subj",
            &format!("/CN={}", names[0]),
            "-addext",
            &format!("subjectAltName={}", san.join(",")),
        ],
    );
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    std::fs::write(certs.join("site.pem"), pem).unwrap();
    format!("{}/", certs.display())
}

/// Translates a fixture, runs `ringlb check -c` on the result (must exit 0) and loads it.
/// `ringlb check` loads certificates: the fixtures' certificate directory is first pointed at
/// one holding a real certificate made with `openssl` (the TOML kept is the one translated).
fn translate(name: &str) -> Imported {
    let out = import(&fixture(name));
    let toml = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let checked = if toml.contains(FIXTURE_CERTS) || toml.contains(FIXTURE_CA) {
        let certs = cert_dir(&["www.example.com", "api.example.com"]);
        toml.replace(FIXTURE_CERTS, &certs)
            .replace(FIXTURE_CA, &format!("{certs}site.pem"))
    } else {
        toml.clone()
    };
    let check = Ringlb::run_cli(&["check", "-c", "{config}"], &checked);
    assert!(
        check.status.success(),
        "ringlb check rejects the translation of {name}:\n{checked}\n---\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    if toml.contains(".tls]") {
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(
            stdout.contains("site.pem: www.example.com, api.example.com"),
            "ringlb check loaded the certificate: {stdout}"
        );
    }
    let config = config::parse_str(&toml, name).unwrap_or_else(|d| panic!("{name}: {}", d[0]));
    Imported {
        toml,
        stderr,
        code,
        config,
    }
}

fn sa(s: &str) -> std::net::SocketAddr {
    s.parse().expect("socket address")
}

fn backend<'c>(c: &'c Config, name: &str) -> &'c config::Backend {
    c.backends
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("no backend {name}"))
}

fn frontend<'c>(c: &'c Config, name: &str) -> &'c config::Frontend {
    c.frontends
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no frontend {name}"))
}

/// Every stderr line has the documented form and names the fixture.
fn assert_report_lines(stderr: &str, file: &str, count: usize) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), count, "stderr:\n{stderr}");
    for l in lines {
        assert!(
            l.contains(file) && l.contains(": not translated: ") && l.ends_with(')'),
            "malformed report line: {l}"
        );
    }
}

#[test]
fn legacy_14_listen_with_cookie_httpchk_and_stats_auth() {
    let t = translate("legacy-14-webfarm.cfg");
    assert_eq!(
        t.code, 3,
        "chroot and a second log target are not translated"
    );
    assert_report_lines(&t.stderr, "legacy-14-webfarm.cfg", 2);
    assert!(t
        .stderr
        .contains(":7: not translated: chroot /usr/share/haproxy ("));
    let c = &t.config;
    let f = frontend(c, "webfarm");
    assert_eq!(f.default_backend, "webfarm");
    assert_eq!(f.connection, ConnectionMode::Close);
    assert!(f.forwardfor && f.log && f.dontlognull);
    assert_eq!(f.timeouts.client, std::time::Duration::from_secs(50));
    let stats = f.stats.as_ref().expect("stats page");
    assert_eq!(stats.uri, "/lb?stats");
    assert_eq!(stats.users.len(), 2);
    let b = backend(c, "webfarm");
    assert_eq!(b.timeouts.connect, std::time::Duration::from_secs(5));
    assert!(b.redispatch);
    let cookie = b.cookie.as_ref().expect("cookie");
    assert_eq!(cookie.name, "SERVERID");
    assert!(cookie.indirect && cookie.nocache);
    assert_eq!(b.servers[2].cookie, "C");
    assert!(b.servers[2].backup);
    let chk = b.check.as_ref().expect("check");
    assert_eq!((chk.rise, chk.fall), (2, 5));
    assert!(
        matches!(&chk.kind, CheckKind::Http(h) if h.method == "HEAD" && h.path == "/check.txt")
    );
    assert!(t
        .toml
        .contains("# option httpclose → connection = \"close\""));
    assert!(t.toml.contains("# daemon dropped"));
}

#[test]
fn modern_2x_frontend_backend_routing() {
    let t = translate("modern-2x-routing.cfg");
    assert_eq!(t.code, 3);
    assert_report_lines(&t.stderr, "modern-2x-routing.cfg", 1);
    assert!(t.stderr.contains("stats socket options not translated"));
    let c = &t.config;
    let f = frontend(c, "fe_main");
    assert_eq!(f.routes.len(), 2);
    assert_eq!(f.routes[0].backend, "be_static");
    assert_eq!(f.connection, ConnectionMode::ServerClose);
    assert_eq!(f.timeouts.http_request, std::time::Duration::from_secs(10));
    assert_eq!(
        f.timeouts.http_keep_alive,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(backend(c, "be_static").balance, Balance::LeastConn);
    assert_eq!(backend(c, "be_api").balance, Balance::Source);
    let app = backend(c, "be_app");
    let CheckKind::Http(h) = &app.check.as_ref().expect("check").kind else {
        panic!("http check expected");
    };
    assert_eq!(
        (h.path.as_str(), h.host.as_deref()),
        ("/health", Some("app.example.com"))
    );
    assert_eq!(h.expect_status.len(), 1);
    assert!(app.servers[2].backup);
    assert!(t
        .toml
        .contains(r#"is_static = ["path_beg -i /static/ /images/", "path_end .css .js .png"]"#));
}

#[test]
fn tcp_and_stats_listener_translate_completely() {
    let t = translate("tcp-and-stats.cfg");
    assert_eq!(t.code, 0, "stderr: {}", t.stderr);
    assert!(t.stderr.is_empty());
    let c = &t.config;
    let s = c.stats.as_ref().expect("[stats]");
    assert_eq!(s.bind, sa("127.0.0.1:8404"));
    assert!(s.page.admin);
    assert!(t
        .toml
        .contains("stats admin if LOCALHOST → admin = true: the condition is dropped"));
    let f = frontend(c, "fe_pg");
    assert_eq!(f.mode, Mode::Tcp);
    assert_eq!(f.routes.len(), 1);
    let replica = backend(c, "be_pg_replica");
    assert!(replica.servers[2].check.is_none(), "pg5 has no `check`");
    assert_eq!(c.log.target, config::LogTarget::Unix("/dev/log".into()));
}

#[test]
fn multi_defaults_each_reset() {
    let t = translate("multi-defaults.cfg");
    assert_eq!(t.code, 0, "stderr: {}", t.stderr);
    let c = &t.config;
    assert!(!t.toml.contains("[defaults]"));
    let www = frontend(c, "www");
    assert_eq!(www.mode, Mode::Http);
    assert_eq!(www.binds.len(), 2);
    assert!(www.forwardfor, "every backend of www has option forwardfor");
    assert_eq!(www.connection, ConnectionMode::Close);
    let smtp = frontend(c, "smtp");
    assert_eq!(smtp.mode, Mode::Tcp);
    assert_eq!(smtp.timeouts.client, std::time::Duration::from_secs(300));
    assert_eq!(
        backend(c, "be_web").timeouts.connect,
        std::time::Duration::from_secs(4)
    );
    assert_eq!(backend(c, "be_web").servers[0].weight, 3);
    assert!(t.toml.contains("url_beg → path_beg"));
}

#[test]
fn gateway_with_unsupported_features_keeps_the_rest() {
    let t = translate("gateway-2x-partial.cfg");
    assert_eq!(t.code, 3);
    // The redirect to https is a rule now; a value made of log-format is not translated.
    assert!(!t.stderr.contains(":21:"), "{}", t.stderr);
    assert!(t
        .toml
        .contains("action = \"redirect\"\nscheme = \"https\"\nunless = \"{ ssl_fc }\""));
    assert!(t
        .stderr
        .contains(":22: not translated: http-request set-header X-Request-Start t=%Ts"));
    // `balance uri` translates, with HAProxy's default hash type written out
    assert!(!t.stderr.contains("balance uri"), "{}", t.stderr);
    let c = &t.config;
    assert_eq!(
        backend(c, "be_web").balance,
        Balance::Hash(config::HashBalance {
            key: config::HashKey::Path,
            method: config::HashMethod::MapBased,
            factor: 0,
            uri_len: 0,
            uri_depth: 0,
        })
    );
    let f = frontend(c, "fe_edge");
    assert_eq!(f.binds, [sa("0.0.0.0:80")]);
    let tls = f.tls.as_ref().expect("bind :443 ssl → tls");
    assert_eq!(tls.binds, [sa("0.0.0.0:443")]);
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    let routed: HashSet<&str> = f.routes.iter().map(|r| r.backend.as_str()).collect();
    assert_eq!(routed, HashSet::from(["be_ws", "be_api", "be_secure"]));
    let web = &backend(c, "be_web").servers;
    assert_eq!(
        (web.len(), web[0].name.as_str()),
        (1, "web1"),
        "web2 (disabled) is left out; web1 speaks TLS"
    );
    assert!(!web[0].tls.as_ref().expect("ssl → tls").verify);
    assert!(!t.stderr.contains(":41:"), "{}", t.stderr);
}

#[test]
fn https_edge_with_sni_routing_and_global_tls_defaults() {
    let t = translate("https-edge.cfg");
    assert_eq!(t.code, 0, "{}", t.stderr);
    assert_report_lines(&t.stderr, "https-edge.cfg", 0);
    assert!(t.toml.contains(
        "[[frontend.fe_https.request_rule]]\naction = \"redirect\"\nscheme = \"https\"\ncode = 301\nif = \"!{ ssl_fc }\"\n"
    ));
    let c = &t.config;
    let f = frontend(c, "fe_https");
    assert_eq!(f.binds, [sa("0.0.0.0:80")]);
    let tls = f.tls.as_ref().expect("tls");
    assert_eq!(tls.binds, [sa("0.0.0.0:443")]);
    assert_eq!(
        tls.certificates[0].path,
        std::path::PathBuf::from("/etc/haproxy/certs/")
    );
    assert_eq!(tls.min_version, config::TlsVersion::Tls12);
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    assert!(
        !tls.session_tickets,
        "no-tls-tickets in ssl-default-bind-options"
    );
    assert_eq!(tls.ciphersuites.len(), 9, "{:?}", tls.ciphersuites);
    assert!(tls.ciphersuites.iter().all(|s| !s.starts_with("TLS_DHE")));
    assert_eq!(f.routes.len(), 3);
    assert!(f.routes.iter().all(|r| r.backend != "be_web"));
    let api = &backend(c, "be_api").servers;
    assert_eq!(api.len(), 2);
    let tls = api[0].tls.as_ref().expect("api1: ssl → tls");
    assert!(tls.verify);
    assert_eq!(tls.sni.as_deref(), Some("api.internal"));
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new(FIXTURE_CA))
    );
    assert!(api[1].tls.is_none());
    for comment in [
        "# ssl-default-bind-ciphers: dropped DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384",
        "# tune.ssl.default-dh-param dropped",
        "tls = { ca_file = \"/etc/haproxy/ca.pem\", sni = \"api.internal\" }",
        "sni_api = \"ssl_fc_sni -i api.example.com\"",
        "sni_shop = \"ssl_fc_sni_end -i .shop.example.com\"",
    ] {
        assert!(t.toml.contains(comment), "{comment}\n{}", t.toml);
    }
}

#[test]
fn unreadable_input_exits_1() {
    let out = import(Path::new("/nonexistent/haproxy.cfg"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

// ---- behaves the same ---------------------------------------------------------------------

/// The translation of `modern-2x-routing.cfg` with its placeholder addresses replaced by
/// running test backends and a free port.
struct Site {
    lb: Ringlb,
    addr: std::net::SocketAddr,
    _backends: Vec<Backend>,
}

fn modern_site() -> Site {
    let t = translate("modern-2x-routing.cfg");
    let names = [
        ("127.0.0.1:18081", "app1"),
        ("127.0.0.1:18082", "app2"),
        ("127.0.0.1:18083", "app-spare"),
        ("127.0.0.1:18091", "static1"),
        ("127.0.0.1:18092", "static2"),
        ("127.0.0.1:18093", "api1"),
        ("127.0.0.1:18094", "api2"),
    ];
    let mut toml = t.toml.clone();
    let mut backends = Vec::new();
    for (placeholder, name) in names {
        let b = Backend::start(name);
        toml = toml.replace(placeholder, &b.addr().to_string());
        backends.push(b);
    }
    let addr = free_addr();
    toml = toml.replace("127.0.0.1:18080", &addr.to_string());
    let dir = unique_dir("import-haproxy");
    toml = toml.replace(
        "/run/haproxy/admin.sock",
        &dir.join("admin.sock").display().to_string(),
    );
    Site {
        lb: Ringlb::start(&toml),
        addr,
        _backends: backends,
    }
}

fn who(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let r = http_get(addr, path, headers);
    assert_eq!(r.status, 200, "GET {path}");
    r.backend().unwrap_or("?").to_owned()
}

#[test]
fn translated_config_routes_static_content_like_haproxy() {
    let site = modern_site();
    let statics = ["static1", "static2"];
    for path in [
        "/static/x.css",
        "/images/logo.png",
        "/js/app.js",
        "/STATIC/a",
    ] {
        let b = who(site.addr, path, &[]);
        assert!(statics.contains(&b.as_str()), "{path} went to {b}");
    }
    let b = who(site.addr, "/", &[("Host", "static.example.com")]);
    assert!(
        statics.contains(&b.as_str()),
        "Host static.example.com went to {b}"
    );
    let b = who(site.addr, "/v1/users", &[("Host", "eu.api.example.com")]);
    assert!(
        ["api1", "api2"].contains(&b.as_str()),
        "api host went to {b}"
    );
    drop(site.lb);
}

#[test]
fn translated_config_balances_the_app_servers_and_keeps_the_backup_idle() {
    let site = modern_site();
    let mut seen = HashSet::new();
    for _ in 0..8 {
        seen.insert(who(site.addr, "/index.html", &[]));
    }
    assert_eq!(seen, HashSet::from(["app1".to_owned(), "app2".to_owned()]));
}

#[test]
fn translated_config_keeps_cookie_persistence() {
    let site = modern_site();
    let first = http_get(site.addr, "/cart", &[]);
    let server = first.backend().unwrap_or("?").to_owned();
    let set = first
        .header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("SRV="))
        .unwrap_or_else(|| panic!("no SRV cookie set: {:?}", first.headers))
        .to_owned();
    assert!(set.contains("HttpOnly"), "httponly: {set}");
    let pair = set.split(';').next().unwrap_or_default().to_owned();
    assert_eq!(pair, format!("SRV={server}"), "the cookie names the server");
    for _ in 0..10 {
        assert_eq!(who(site.addr, "/cart", &[("Cookie", &pair)]), server);
    }
}

/// `curl -k` to `https://NAME:PORT/` with NAME resolved to 127.0.0.1 (so it is the SNI):
/// which fake backend answered.
fn https_who(name: &str, port: u16) -> String {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-k",
            "--max-time",
            "10",
            "-D",
            "-",
            "-o",
            "/dev/null",
        ])
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .arg(format!("https://{name}:{port}/"))
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    head.lines()
        .find_map(|l| {
            l.strip_prefix("X-Backend: ")
                .or(l.strip_prefix("x-backend: "))
        })
        .map_or_else(
            || {
                format!(
                    "(no answer: {head}{})",
                    String::from_utf8_lossy(&out.stderr)
                )
            },
            |b| b.trim().to_owned(),
        )
}

#[test]
fn translated_https_edge_routes_by_sni_like_haproxy() {
    let t = translate("https-edge.cfg");
    let mut toml = t.toml.clone();
    let mut backends = Vec::new();
    for (placeholder, name) in [
        ("10.0.1.11:8080", "web1"),
        ("10.0.1.12:8080", "web2"),
        ("10.0.2.22:8080", "api2"),
        ("10.0.3.31:8080", "shop1"),
    ] {
        let b = Backend::start(name);
        toml = toml.replace(placeholder, &b.addr().to_string());
        backends.push(b);
    }
    // api1 speaks TLS at an address nothing answers here: routing by SNI is what this test
    // is about, so it is taken out and api2 answers for be_api.
    let api1 = toml.find("name = \"api1\"").expect("api1");
    let start = toml[..api1]
        .rfind("[[backend.be_api.server]]")
        .expect("api1 section");
    let end = api1 + toml[api1..].find("\n[").expect("a section after api1") + 1;
    toml.replace_range(start..end, "");
    let (plain, tls) = (free_addr(), free_addr());
    let certs = cert_dir(&[
        "www.example.com",
        "api.example.com",
        "shop.example.com",
        "*.shop.example.com",
    ]);
    toml = toml
        .replace("\"0.0.0.0:80\"", &format!("\"{plain}\""))
        .replace("\"0.0.0.0:443\"", &format!("\"{tls}\""))
        .replace(FIXTURE_CERTS, &certs)
        .replace("user = \"haproxy\"\n", "")
        .replace("group = \"haproxy\"\n", "")
        .replace("target = \"unix:///dev/log\"\n", "");
    let _lb = Ringlb::start(&toml);
    let port = tls.port();
    let up = wait_until(std::time::Duration::from_secs(10), || {
        https_who("api.example.com", port) == "api2"
    });
    assert!(
        up,
        "api.example.com: {}",
        https_who("api.example.com", port)
    );
    assert_eq!(https_who("API.Example.com", port), "api2");
    assert_eq!(https_who("shop.example.com", port), "shop1");
    assert_eq!(https_who("eu.shop.example.com", port), "shop1");
    let web = https_who("www.example.com", port);
    assert!(
        web == "web1" || web == "web2",
        "www.example.com went to {web}"
    );
    // The plain listener of the same frontend redirects to https, as HAProxy does.
    let r = http_get(plain, "/a?b=1", &[("host", "api.example.com")]);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://api.example.com/a?b=1"));
    assert_eq!(r.backend(), None);
}

#[test]
fn h2_edge_translates_alpn_cleartext_and_tune_limits_and_serves_h2() {
    let t = translate("h2-edge.cfg");
    assert_eq!(t.code, 3, "two tune.h2 lines have no equivalent");
    assert_report_lines(&t.stderr, "h2-edge.cfg", 2);
    assert!(t
        .stderr
        .contains(":8: not translated: tune.h2.max-frame-size 32768"));
    assert!(t
        .stderr
        .contains(":9: not translated: tune.h2.be.max-concurrent-streams 50"));
    let f = frontend(&t.config, "fe_h2");
    assert_eq!(f.tls.as_ref().expect("tls").alpn, ["h2", "http/1.1"]);
    assert!(f.h2.cleartext, "proto h2 → cleartext");
    assert_eq!(f.h2.header_table_size, 8192);
    assert_eq!(f.h2.initial_window_size, 262_144);
    assert_eq!(f.h2.max_concurrent_streams, 128);
    assert!(t.toml.contains("still serve HTTP/1.1"), "{}", t.toml);

    // The translation runs: curl speaks h2 to both listeners.
    let web = Backend::start("app1");
    let (plain, tls) = (free_addr(), free_addr());
    let certs = cert_dir(&["www.example.com"]);
    let toml = t
        .toml
        .replace("127.0.0.1:18181", &web.addr().to_string())
        .replace("127.0.0.1:18180", &plain.to_string())
        .replace("127.0.0.1:18443", &tls.to_string())
        .replace(FIXTURE_CERTS, &certs);
    let _lb = Ringlb::start(&toml);
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
            ])
            .args(args)
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        curl(&["--http2-prior-knowledge", &format!("http://{plain}/")]),
        "2 200"
    );
    let resolve = format!("www.example.com:{}:127.0.0.1", tls.port());
    let ca = format!("{certs}site.pem");
    assert_eq!(
        curl(&[
            "--http2",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            &format!("https://www.example.com:{}/", tls.port())
        ]),
        "2 200"
    );
    assert_eq!(web.requests(), 2);
}
