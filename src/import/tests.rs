//! Unit tests of the translator: words and times, global, defaults inheritance, timeouts,
//! options, servers and binds, checks, cookies, stats, logs. Every translated config is also
//! loaded with `crate::config::parse_str`, so "valid for ringlb check" is tested each time.

use std::time::Duration;

use super::*;
use crate::config::{self, Config, ConnectionMode, Mode, Workers};

/// Translates and loads; panics with the TOML and ringlb's diagnostics if it does not load.
pub(super) fn load(cfg: &str) -> (Translation, Config) {
    let t = translate(cfg, "haproxy.cfg");
    match config::parse_str(&t.toml, "out.toml") {
        Ok(c) => (t, c),
        Err(d) => panic!(
            "translation does not load:\n{}\n---\n{}",
            t.toml,
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// A minimal http frontend + backend after `extra` (global/defaults lines).
pub(super) fn web(extra: &str) -> String {
    format!(
        "{extra}\nfrontend www\n    bind :80\n    mode http\n    default_backend app\n\
         backend app\n    mode http\n    server a1 10.0.0.1:8080\n"
    )
}

pub(super) fn be<'c>(c: &'c Config, name: &str) -> &'c config::Backend {
    c.backends
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("no backend {name}"))
}

fn why_of(t: &Translation, line: usize) -> String {
    t.skipped
        .iter()
        .filter(|s| s.line == line)
        .map(|s| s.why.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

// ---- words and times --------------------------------------------------------------------------

#[test]
fn words_follow_haproxy_quoting_and_escapes() {
    assert_eq!(
        lex::words(r#"  stats realm Haproxy\ Statistics   # comment"#),
        ["stats", "realm", "Haproxy Statistics"]
    );
    assert_eq!(
        lex::words(r#"acl a path_reg \.css$ "a b" 'c\d'"#),
        ["acl", "a", "path_reg", r"\.css$", "a b", r"c\d"]
    );
    assert_eq!(
        lex::words(r"x \#not-a-comment \x41"),
        ["x", "#not-a-comment", "A"]
    );
    assert_eq!(lex::words(r#"x """#), ["x", ""]);
    assert!(lex::words("   # only a comment").is_empty());
}

#[test]
fn times_have_haproxy_units_and_bare_numbers_are_milliseconds() {
    assert_eq!(lex::parse_time("5000"), Some(5_000_000));
    assert_eq!(lex::parse_time("250ms"), Some(250_000));
    assert_eq!(lex::parse_time("1500us"), Some(1_500));
    assert_eq!(lex::parse_time("2m"), Some(120_000_000));
    assert_eq!(lex::parse_time("1d"), Some(86_400_000_000));
    assert_eq!(lex::parse_time("5x"), None);
    assert_eq!(lex::parse_time("s"), None);
    assert_eq!(lex::format_time(50_000_000), "50s");
    assert_eq!(lex::format_time(1_500_000), "1500ms");
    assert_eq!(lex::format_time(3_600_000_000), "1h");
    assert_eq!(lex::format_time(1_500), "1500us");
}

#[test]
fn toml_keys_with_dots_are_quoted() {
    assert_eq!(lex::key("be_app"), "be_app");
    assert_eq!(lex::key("api.v2"), "\"api.v2\"");
    let cfg = "frontend www.example\n bind :80\n mode http\n default_backend api.v2\n\
               backend api.v2\n mode http\n server s1 10.0.0.1:80\n";
    let (_, c) = load(cfg);
    assert_eq!(c.frontends[0].name, "www.example");
    assert_eq!(c.frontends[0].default_backend, "api.v2");
}

// ---- global -----------------------------------------------------------------------------------

#[test]
fn global_settings_translate() {
    let (t, c) = load(&web(
        "global\n maxconn 4096\n user haproxy\n group haproxy\n nbthread 4\n spread-checks 7\n \
         hard-stop-after 1m\n stats socket /run/haproxy.sock\n",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert_eq!(c.global.maxconn, 4096);
    assert_eq!(c.global.user.as_deref(), Some("haproxy"));
    assert_eq!(c.global.group.as_deref(), Some("haproxy"));
    assert_eq!(c.global.workers, Workers::Count(4));
    assert_eq!(c.global.spread_checks, 7);
    assert_eq!(c.global.grace, Duration::from_secs(60));
    assert_eq!(
        c.global.admin_socket.as_deref(),
        Some(std::path::Path::new("/run/haproxy.sock"))
    );
    assert!(t.toml.contains("# stats socket → admin_socket"));
}

#[test]
fn daemon_and_pidfile_are_dropped_with_a_comment_and_not_reported() {
    let (t, _) = load(&web("global\n daemon\n pidfile /run/haproxy.pid\n"));
    assert!(t.skipped.is_empty());
    assert!(t
        .toml
        .contains("# daemon dropped: systemd runs ringlb in the foreground"));
    assert!(t.toml.contains("# pidfile dropped"));
}

#[test]
fn nbproc_becomes_workers_with_a_note() {
    let (t, c) = load(&web("global\n nbproc 3\n"));
    assert_eq!(c.global.workers, Workers::Count(3));
    assert!(t.toml.contains("# nbproc 3 → workers"));
}

#[test]
fn unknown_global_lines_are_reported_with_their_line() {
    let t = translate(
        &web("global\n chroot /var/empty\n tune.bufsize 32768\n"),
        "h.cfg",
    );
    assert_eq!(t.skipped.len(), 2);
    assert_eq!(t.skipped[0].line, 2);
    assert!(t.skipped[0].why.contains("chroot"));
    assert_eq!(
        t.skipped[1].render("h.cfg"),
        "h.cfg:3: not translated: tune.bufsize 32768 (no ringlb equivalent)"
    );
    assert!(t
        .toml
        .contains("#   h.cfg:2: not translated: chroot /var/empty"));
}

#[test]
fn frontend_maxconn_above_an_unset_global_raises_it() {
    let (t, c) = load(&web("defaults\n maxconn 20000\n"));
    assert_eq!(c.global.maxconn, 20000);
    assert_eq!(c.frontends[0].maxconn, 20000);
    assert!(t.toml.contains("raised to the largest frontend maxconn"));
}

#[test]
fn frontend_maxconn_above_the_global_one_is_capped() {
    let cfg = "global\n maxconn 1000\nfrontend www\n bind :80\n mode http\n maxconn 5000\n \
               default_backend app\nbackend app\n mode http\n server a 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert_eq!(c.frontends[0].maxconn, 1000);
    assert!(t.toml.contains("maxconn 5000 capped at the global maxconn"));
}

// ---- log --------------------------------------------------------------------------------------

#[test]
fn log_targets_map_to_the_log_section() {
    let (_, c) = load(&web("global\n log 10.0.0.5:1514 len 1024 local3 notice\n"));
    assert_eq!(
        c.log.target,
        config::LogTarget::Udp("10.0.0.5:1514".parse().unwrap())
    );
    assert_eq!(c.log.facility, config::Facility::Local3);
    assert_eq!(c.log.level, config::LogLevel::Notice);
    let (_, c) = load(&web("global\n log /dev/log local0\n"));
    assert_eq!(c.log.target, config::LogTarget::Unix("/dev/log".into()));
    let (_, c) = load(&web("global\n log 127.0.0.1 local1\n"));
    assert_eq!(
        c.log.target,
        config::LogTarget::Udp("127.0.0.1:514".parse().unwrap())
    );
}

#[test]
fn log_global_enables_access_logs_with_a_format_note() {
    let (t, c) = load(&web(
        "global\n log /dev/log local0\ndefaults\n log global\n",
    ));
    assert!(c.frontends[0].log);
    assert!(t
        .toml
        .contains("# log: ringlb writes httplog-format lines in http mode"));
    let (t, c) = load(&web(
        "global\n log /dev/log local0\ndefaults\n log global\n option httplog\n option dontlognull\n",
    ));
    assert!(c.frontends[0].log && c.frontends[0].dontlognull);
    assert!(!t.toml.contains("httplog-format"));
}

#[test]
fn a_second_log_target_is_reported() {
    let t = translate(
        &web("global\n log /dev/log local0\n log 10.0.0.1 local1\n"),
        "h",
    );
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("one log target"));
}

// ---- defaults ---------------------------------------------------------------------------------

#[test]
fn a_single_leading_defaults_becomes_the_defaults_table() {
    let (t, c) = load(&web(
        "defaults\n mode http\n retries 5\n timeout client 20s\n",
    ));
    assert!(t.toml.contains("[defaults]"));
    assert!(t.toml.contains("retries = 5"));
    assert_eq!(c.backends[0].retries, 5);
    assert_eq!(c.frontends[0].timeouts.client, Duration::from_secs(20));
}

#[test]
fn each_defaults_section_resets_what_came_before() {
    let cfg = "defaults\n mode http\n timeout client 11s\n option forwardfor\n\
               frontend a\n bind :80\n default_backend b1\n\
               backend b1\n server s 10.0.0.1:80\n\
               defaults\n timeout client 22s\n\
               frontend c\n bind :81\n default_backend b2\n\
               backend b2\n server s 10.0.0.2:80\n";
    let (t, c) = load(cfg);
    assert!(
        !t.toml.contains("[defaults]"),
        "two defaults: no [defaults]"
    );
    let a = c.frontends.iter().find(|f| f.name == "a").unwrap();
    let cc = c.frontends.iter().find(|f| f.name == "c").unwrap();
    assert_eq!(
        (a.mode, a.timeouts.client),
        (Mode::Http, Duration::from_secs(11))
    );
    assert!(a.forwardfor);
    // the second defaults has no mode: HAProxy's default, tcp
    assert_eq!(
        (cc.mode, cc.timeouts.client),
        (Mode::Tcp, Duration::from_secs(22))
    );
    assert_eq!(be(&c, "b2").mode, Mode::Tcp);
}

#[test]
fn a_config_without_mode_is_tcp_as_in_haproxy() {
    let cfg = "frontend f\n bind :3306\n default_backend db\nbackend db\n server d 10.0.0.1:3306\n";
    let (t, c) = load(cfg);
    assert_eq!(c.frontends[0].mode, Mode::Tcp);
    assert!(t.toml.contains("# no mode in HAProxy: tcp is its default"));
}

#[test]
fn no_forwardfor_in_haproxy_turns_ringlbs_default_off() {
    let (t, c) = load(&web(""));
    assert!(!c.frontends[0].forwardfor);
    assert!(t
        .toml
        .contains("# no option forwardfor in HAProxy: no X-Forwarded-For"));
    let (_, c) = load(&web("defaults\n option forwardfor\n"));
    assert!(c.frontends[0].forwardfor);
}

#[test]
fn forwardfor_in_a_backend_moves_to_its_frontend() {
    let cfg = "frontend www\n bind :80\n mode http\n default_backend app\n\
               backend app\n mode http\n option forwardfor\n server a 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert!(c.frontends[0].forwardfor);
    assert!(t.toml.contains("option forwardfor is set in backend app"));
}

#[test]
fn connection_options_map_to_connection_modes() {
    let cases = [
        ("option httpclose", ConnectionMode::Close),
        ("option forceclose", ConnectionMode::Close),
        ("option http-server-close", ConnectionMode::ServerClose),
        ("option http-keep-alive", ConnectionMode::KeepAlive),
    ];
    for (line, want) in cases {
        let (t, c) = load(&web(&format!("defaults\n {line}\n")));
        assert_eq!(c.frontends[0].connection, want, "{line}");
        if want == ConnectionMode::Close {
            assert!(
                t.toml.contains("→ connection = \\\"close\\\"")
                    || t.toml.contains("→ connection = \"close\"")
            );
        }
    }
}

#[test]
fn httpclose_in_a_backend_closes_its_frontend() {
    let cfg = "frontend www\n bind :80\n mode http\n default_backend app\n\
               backend app\n mode http\n option httpclose\n server a 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert_eq!(c.frontends[0].connection, ConnectionMode::Close);
    assert!(t.toml.contains("connection close comes from backend app"));
}

#[test]
fn balance_retries_redispatch() {
    let (t, c) = load(&web(
        "defaults\n balance leastconn\n retries 1\n option redispatch\n",
    ));
    let b = &c.backends[0];
    assert_eq!(b.balance, config::Balance::LeastConn);
    assert_eq!((b.retries, b.redispatch), (1, true));
    assert!(t.skipped.is_empty());
    let (t, c) = load(&web("defaults\n balance static-rr\n"));
    assert_eq!(c.backends[0].balance, config::Balance::RoundRobin);
    assert!(t.toml.contains("static-rr → roundrobin"));
    let (t, c) = load(&web("defaults\n balance source\n"));
    assert_eq!(c.backends[0].balance, config::Balance::Source);
    assert!(t.skipped.is_empty());
}

#[test]
fn other_balance_algorithms_are_reported() {
    let t = translate(&web("defaults\n balance first\n"), "h");
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0]
        .why
        .contains("ringlb has roundrobin, leastconn, source, random"));
}

// ---- timeouts ---------------------------------------------------------------------------------

#[test]
fn old_and_new_timeout_keywords_with_units() {
    let (t, c) = load(&web(
        "defaults\n contimeout 5000\n clitimeout 50000\n srvtimeout 1m\n timeout queue 2s\n \
         timeout http-request 7s\n timeout http-keep-alive 1500ms\n",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let f = &c.frontends[0].timeouts;
    let b = &c.backends[0].timeouts;
    assert_eq!(b.connect, Duration::from_secs(5));
    assert_eq!(f.client, Duration::from_secs(50));
    assert_eq!(b.server, Duration::from_secs(60));
    assert_eq!(b.queue, Duration::from_secs(2));
    assert_eq!(f.http_request, Duration::from_secs(7));
    assert_eq!(f.http_keep_alive, Duration::from_millis(1500));
}

#[test]
fn unset_timeouts_follow_haproxy_fallbacks() {
    let (t, c) = load(&web("defaults\n timeout client 40s\n timeout connect 3s\n"));
    let f = &c.frontends[0].timeouts;
    assert_eq!(f.http_request, Duration::from_secs(40));
    assert_eq!(f.http_keep_alive, Duration::from_secs(40));
    assert_eq!(c.backends[0].timeouts.queue, Duration::from_secs(3));
    assert!(t
        .toml
        .contains("HAProxy uses timeout client when timeout http-request is unset"));
    assert!(t
        .toml
        .contains("# timeout server is not set in HAProxy (no limit)"));
}

#[test]
fn zero_and_huge_timeouts_become_ringlbs_longest() {
    let (t, c) = load(&web("defaults\n timeout client 0\n timeout server 30d\n"));
    assert_eq!(
        c.frontends[0].timeouts.client,
        Duration::from_secs(24 * 86_400)
    );
    assert_eq!(
        c.backends[0].timeouts.server,
        Duration::from_secs(24 * 86_400)
    );
    assert!(t.toml.contains("(none) → 24d"));
    assert!(t.toml.contains("capped at 24d"));
}

#[test]
fn frontend_timeouts_in_a_backend_are_reported() {
    let cfg = "frontend www\n bind :80\n mode http\n default_backend app\n\
               backend app\n mode http\n timeout client 5s\n timeout tunnel 1h\n server a 10.0.0.1:80\n";
    let t = translate(cfg, "h");
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("ignored by HAProxy in a backend"));
}

#[test]
fn timeout_tunnel_is_a_backend_timeout() {
    let cfg = "defaults\n mode http\n timeout tunnel 2h\n\
               frontend www\n bind :80\n default_backend app\n\
               acl is_ws hdr(Upgrade) -i websocket\n use_backend ws if is_ws\n\
               backend app\n server a 10.0.0.1:80\n\
               backend ws\n timeout tunnel 30m\n server b 10.0.0.2:80\n";
    let t = translate(cfg, "h");
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let c = crate::config::parse_str(&t.toml, "out.toml").unwrap();
    let be = |name: &str| c.backends.iter().find(|b| b.name == name).unwrap();
    let fe = &c.frontends[0];
    let tunnel = |b: &str| crate::config::Timeouts::tunnel_for(&fe.timeouts, &be(b).timeouts);
    assert_eq!(tunnel("app"), Duration::from_secs(7200));
    assert_eq!(tunnel("ws"), Duration::from_secs(1800));
    assert_eq!(fe.routes.len(), 1);
    assert_eq!(fe.routes[0].backend, "ws");
    // In a frontend HAProxy does not take it either.
    let t = translate(
        "frontend www\n bind :80\n mode http\n timeout tunnel 1h\n default_backend app\nbackend app\n mode http\n server a 10.0.0.1:80\n",
        "h",
    );
    assert_eq!(t.skipped.len(), 1);
}

// ---- servers and binds ------------------------------------------------------------------------

#[test]
fn bind_addresses_in_haproxy_forms() {
    assert_eq!(net::bind_addrs("*:80").unwrap(), ["0.0.0.0:80"]);
    assert_eq!(net::bind_addrs(":80").unwrap(), ["0.0.0.0:80"]);
    assert_eq!(net::bind_addrs(":::443").unwrap(), ["[::]:443"]);
    assert_eq!(
        net::bind_addrs("ipv4@10.0.0.1:8080").unwrap(),
        ["10.0.0.1:8080"]
    );
    assert_eq!(
        net::bind_addrs("127.0.0.1:80,127.0.0.1:81").unwrap(),
        ["127.0.0.1:80", "127.0.0.1:81"]
    );
    assert_eq!(net::bind_addrs(":8000-8002").unwrap().len(), 3);
    assert!(net::bind_addrs("/run/haproxy.sock").is_err());
    assert!(net::bind_addrs("eth0:80").is_err());
    assert!(net::bind_addrs("10.0.0.1").is_err());
}

#[test]
fn ssl_listeners_become_tls_and_other_bind_options_reported() {
    let cfg =
        "frontend www\n bind :80 name plain\n bind :443 ssl crt /etc/ssl/site.pem name tls\n \
               mode http\n default_backend app\nbackend app\n mode http\n server a 10.0.0.1:80\n";
    let (t, c) = load(cfg);
    assert_eq!(c.frontends[0].binds, ["0.0.0.0:80".parse().unwrap()]);
    let tls = c.frontends[0].tls.as_ref().expect("tls");
    assert_eq!(tls.binds, ["0.0.0.0:443".parse().unwrap()]);
    assert_eq!(t.skipped.len(), 2);
    assert!(why_of(&t, 2).contains("bind options not translated: name plain"));
    assert!(why_of(&t, 3).contains("bind options not translated: name tls"));
}

#[test]
fn listen_header_address_is_a_bind() {
    let cfg = "listen web 0.0.0.0:8080\n mode http\n server a 10.0.0.1:80\n";
    let (_, c) = load(cfg);
    assert_eq!(c.frontends[0].binds, ["0.0.0.0:8080".parse().unwrap()]);
    assert_eq!(c.frontends[0].default_backend, "web");
    assert_eq!(c.backends[0].name, "web");
}

#[test]
fn server_options_translate() {
    let (t, c) = load(&web(
        "backend other\n mode http\n server s1 10.0.0.9:81 weight 5 maxconn 30 backup cookie x\n",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let s = &be(&c, "other").servers[0];
    assert_eq!((s.weight, s.maxconn, s.backup), (5, 30, true));
    assert_eq!(s.address, "10.0.0.9:81".parse().unwrap());
}

#[test]
fn server_addresses_without_port_or_with_offsets_are_reported() {
    let cfg = "frontend www\n bind :80\n mode http\n default_backend app\n\
               backend app\n mode http\n server a 10.0.0.1\n server b 10.0.0.2:+1\n server c 10.0.0.3:80\n";
    let (t, c) = load(cfg);
    assert_eq!(c.backends[0].servers.len(), 1);
    assert!(why_of(&t, 7).contains("has no port"));
    assert!(why_of(&t, 8).contains("port offsets"));
}

#[test]
fn unknown_server_options_are_reported_and_the_server_kept() {
    let t = translate(
        &web("backend b\n server s 10.0.0.1:80 check port 8081 minconn 10\n"),
        "h",
    );
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].why.contains("port 8081, minconn 10"));
    assert!(t.toml.contains("# options dropped: port 8081, minconn 10"));
}

#[test]
fn disabled_and_weight_zero_servers_are_commented_out() {
    let cfg = "frontend www\n bind :80\n mode http\n default_backend app\n\
               backend app\n mode http\n server a 10.0.0.1:80\n server b 10.0.0.2:80 disabled\n \
               server c 10.0.0.3:80 weight 0\n";
    let (t, c) = load(cfg);
    assert_eq!(c.backends[0].servers.len(), 1);
    assert_eq!(t.skipped.len(), 2);
    assert!(t
        .toml
        .contains("# server b 10.0.0.2:80 left out (disabled)"));
}

#[test]
fn server_names_are_made_valid() {
    let (t, c) = load(&web("backend b\n mode http\n server web:1 10.0.0.1:80\n"));
    assert_eq!(be(&c, "b").servers[0].name, "web_1");
    assert!(
        t.toml.contains("renamed from \\\"web:1\\\"") || t.toml.contains("renamed from \"web:1\"")
    );
}

#[test]
fn a_backend_without_servers_gets_a_refusing_placeholder() {
    let cfg =
        "frontend www\n bind :80\n mode http\n default_backend empty\nbackend empty\n mode http\n";
    let (t, c) = load(cfg);
    assert_eq!(
        c.backends[0].servers[0].address,
        "127.0.0.1:1".parse().unwrap()
    );
    assert!(t.toml.contains("answers 503 as HAProxy does"));
}

// ---- checks -----------------------------------------------------------------------------------

#[test]
fn unsupported_sections_are_reported_line_by_line() {
    let cfg = format!("userlist admins\n user a password x\n{}", web(""));
    let t = translate(&cfg, "h");
    assert_eq!(t.skipped.len(), 2);
    assert!(t.skipped[0].why.contains("no `userlist` section"));
    assert!(t.skipped[1].why.contains("inside a `userlist` section"));
}

#[test]
fn known_unsupported_directives_say_why() {
    let t = translate(&web("frontend f2\n bind :81\n mode http\n http-request silent-drop\n compression algo gzip\n default_backend app\n"), "h");
    let whys: Vec<&str> = t.skipped.iter().map(|s| s.why.as_str()).collect();
    assert_eq!(
        whys,
        [
            "ringlb has no http-request silent-drop",
            "ringlb does not compress"
        ]
    );
}

#[test]
fn a_fully_translated_config_has_no_skipped_lines_and_no_header_list() {
    let t = translate(&web("defaults\n mode http\n option forwardfor\n"), "h");
    assert!(t.skipped.is_empty());
    assert!(!t.toml.contains("not translated"));
}

/// Regression (found by fuzzing): a control character in an untranslated line was copied into
/// a TOML comment, which made the output invalid.
#[test]
fn control_characters_never_reach_the_output() {
    let t = translate(
        "frontend f\n  bind :80\n  default_backend b\n  bogus\u{1c}directive 1\nbackend b\n  server s 127.0.0.1:80\n",
        "c.cfg",
    );
    assert!(
        !t.toml
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{}",
        t.toml
    );
    crate::config::parse_str(&t.toml, "out.toml").expect("valid ringlb config");
}

/// Regression (found by fuzzing): two `listen` sections of one name gave duplicate TOML tables.
#[test]
fn duplicate_proxy_names_are_reported_not_emitted_twice() {
    let t = translate(
        "listen web 127.0.0.1:80\n  server a 127.0.0.1:81\nlisten web 127.0.0.1:82\n  server b 127.0.0.1:83\nfrontend api\n  bind :90\n  default_backend api\nbackend api\n  server c 127.0.0.1:84\n",
        "d.cfg",
    );
    crate::config::parse_str(&t.toml, "out.toml").expect("valid ringlb config");
    assert!(
        t.skipped
            .iter()
            .any(|s| s.line == 3 && s.why.contains("already defined")),
        "{:?}",
        t.skipped
    );
}
