//! Tests of the operator features: `[log]`, `[stats]`, `[ha]`, new `[global]` keys, ACLs and
//! routes, health checks and cookie persistence.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{
    Check, CheckKind, Cookie, CookieMode, Facility, Ha, HttpCheck, Log, LogLevel, LogTarget,
    Password, Route, StatsPage, StatsUser, StatusRange, VirtualIp, VrrpState,
};
use crate::route::{parse_condition, parse_criterion, Acl, Guard};

const FILE: &str = "t.toml";

fn ok(text: &str) -> Config {
    match parse_str(text, FILE) {
        Ok(c) => c,
        Err(diags) => {
            let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("expected a valid config, got:\n{}", shown.join("\n"));
        }
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_str(text, FILE) {
        Ok(_) => panic!("expected errors, config was accepted"),
        Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
    }
}

fn error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.into_iter().next().unwrap_or_default()
}

/// `extra` first (its errors are then on predictable lines), then a valid site.
fn with_site(extra: &str) -> String {
    format!(
        "{extra}\n[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n\
         [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"127.0.0.1:9001\"\n"
    )
}

/// A site whose frontend and backend sections end with `fe` and `be`.
fn site(fe: &str, be: &str) -> String {
    format!(
        "[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n{fe}\n\
         [backend.web]\n{be}\n[[backend.web.server]]\nname = \"web1\"\naddress = \"127.0.0.1:9001\"\n\
         [backend.api]\n[[backend.api.server]]\nname = \"api1\"\naddress = \"127.0.0.1:9002\"\n"
    )
}

fn crit(text: &str) -> crate::route::Criterion {
    parse_criterion(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn cond(text: &str) -> crate::route::Condition {
    parse_condition(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

// ---- the full example ------------------------------------------------------------------------

#[test]
fn operations_fixture_round_trip() {
    let c = ok(include_str!("../../../tests/configs/good/operations.toml"));
    let g = &c.global;
    assert_eq!(g.spread_checks, 10);
    assert_eq!(g.user.as_deref(), Some("ringlb"));
    assert_eq!(g.group.as_deref(), Some("ringlb"));
    assert_eq!(
        g.admin_socket,
        Some(PathBuf::from("/run/ringlb/admin.sock"))
    );
    assert!(g.keep_bind_capability);
    assert_eq!(
        c.log,
        Log {
            target: LogTarget::Udp("127.0.0.1:514".parse().unwrap()),
            facility: Facility::Local3,
            level: LogLevel::Notice,
            anonymize_ip: true,
            ipv4_mask: 16,
            ipv6_mask: 32,
            queue: 5000,
        }
    );
    let stats = c
        .stats
        .as_ref()
        .map(|s| (s.bind.to_string(), s.page.clone()));
    assert_eq!(
        stats,
        Some((
            "127.0.0.1:18404".to_owned(),
            StatsPage {
                uri: "/".into(),
                realm: def::STATS_REALM.into(),
                refresh: Some(Duration::from_secs(5)),
                users: vec![
                    StatsUser {
                        name: "admin".into(),
                        password: Password::Plain("secret".into())
                    },
                    StatsUser {
                        name: "ops".into(),
                        password: Password::Crypt("$6$rounds=5000$salt$hash".into())
                    },
                ],
                admin: true,
            }
        ))
    );
    assert_eq!(
        c.ha,
        Some(Ha {
            interface: "eth0".into(),
            virtual_ips: vec![
                VirtualIp {
                    addr: ip("192.0.2.100"),
                    prefix: 24
                },
                VirtualIp {
                    addr: ip("192.0.2.101"),
                    prefix: 32
                },
            ],
            router_id: 51,
            priority: 150,
            state: VrrpState::Master,
            unicast_src: Some(ip("192.0.2.11")),
            peers: vec![ip("192.0.2.12")],
            auth_pass: Some("secret1".into()),
            advert_int: Duration::from_secs(1),
            check_interval: Duration::from_secs(2),
            sync: None,
            active_active: None,
            lvs: None,
        })
    );

    let www = &c.frontends[0];
    assert!(www.log && www.dontlognull);
    let acl = |name: &str, def: &str| Acl {
        name: name.into(),
        criteria: vec![crit(def)],
    };
    assert_eq!(
        www.acls,
        vec![
            acl("static", "path_beg /static/ /images/"),
            acl("static", "path_end .css .js"),
            acl("api", "host api.example.com"),
            acl("office", "src 10.0.0.0/8 192.168.0.0/16"),
        ]
    );
    assert_eq!(
        www.routes,
        vec![
            Route {
                backend: "static".into(),
                guard: Guard::If(cond("static"))
            },
            Route {
                backend: "api".into(),
                guard: Guard::If(cond("api !{ method TRACE } || { hdr(X-Api) yes }"))
            },
            Route {
                backend: "web".into(),
                guard: Guard::Unless(cond("office"))
            },
        ]
    );
    let page = www
        .stats
        .as_ref()
        .map(|s| (s.uri.as_str(), s.users.len(), s.admin));
    assert_eq!(page, Some(("/ringlb?stats", 1, false)));
    let db = &c.frontends[1];
    assert!(!db.log && db.stats.is_none());
    assert_eq!(db.routes.len(), 1);

    let web = &c.backends[0];
    let http = CheckKind::Http(HttpCheck {
        method: "HEAD".into(),
        path: "/health".into(),
        host: Some("www.example.com".into()),
        expect_status: vec![
            StatusRange { lo: 200, hi: 299 },
            StatusRange { lo: 304, hi: 304 },
        ],
    });
    let backend_check = Check {
        kind: http.clone(),
        inter: Duration::from_secs(2),
        fastinter: Duration::from_millis(500),
        downinter: Duration::from_secs(2),
        rise: 2,
        fall: 3,
        // min(inter, connect timeout 5s)
        timeout: Duration::from_secs(2),
        send_proxy: None,
    };
    assert_eq!(web.check, Some(backend_check.clone()));
    assert_eq!(web.passive.errors, 5);
    assert_eq!(
        web.cookie,
        Some(Cookie {
            name: "SERVERID".into(),
            mode: CookieMode::Insert,
            indirect: true,
            nocache: true,
            httponly: true,
            secure: false,
            domain: Some(".example.com".into()),
            maxidle: Some(Duration::from_secs(30 * 60)),
            maxlife: Some(Duration::from_secs(8 * 3600)),
        })
    );
    let [web1, web2, spare] = &web.servers[..] else {
        panic!("three servers expected");
    };
    assert_eq!((web1.cookie.as_str(), web2.cookie.as_str()), ("a1", "web2"));
    assert_eq!(web1.check, Some(backend_check.clone()));
    // web2 overrides inter: downinter and timeout follow it, fastinter was set explicitly.
    assert_eq!(
        web2.check,
        Some(Check {
            inter: Duration::from_secs(10),
            downinter: Duration::from_secs(10),
            fall: 1,
            timeout: Duration::from_secs(5),
            ..backend_check
        })
    );
    assert_eq!(spare.check, None);
    let files = &c.backends[1];
    assert_eq!(files.check.as_ref().map(|c| &c.kind), Some(&CheckKind::Tcp));
    assert!(files.servers[0].check.is_some());
    assert!(c.backends[2].check.is_none() && c.backends[2].servers[0].check.is_none());
}

#[test]
fn absent_sections_take_their_defaults() {
    let c = ok(&with_site(""));
    assert_eq!(c.global.spread_checks, def::SPREAD_CHECKS);
    assert_eq!(c.global.user, None);
    assert_eq!(c.log.target, LogTarget::Stdout);
    assert_eq!(c.log.level, def::LOG_LEVEL);
    assert_eq!(c.log.queue, def::LOG_QUEUE);
    assert!(c.stats.is_none() && c.ha.is_none());
    let f = &c.frontends[0];
    assert_eq!(
        (f.log, f.dontlognull),
        (def::FRONTEND_LOG, def::DONTLOGNULL)
    );
    assert!(f.acls.is_empty() && f.routes.is_empty() && f.stats.is_none());
    let b = &c.backends[0];
    assert!(b.check.is_none() && b.cookie.is_none());
    assert_eq!(b.passive.errors, def::PASSIVE_ERRORS);
}

#[test]
fn defaults_section_sets_frontend_logging() {
    let c = ok(&with_site("[defaults]\nlog = true\ndontlognull = true\n"));
    assert!(c.frontends[0].log && c.frontends[0].dontlognull);
}

#[test]
fn check_defaults_and_tcp_type() {
    let c = ok(&site("", "[backend.web.check]\n"));
    let check = c.backends[0].check.clone();
    assert_eq!(
        check,
        Some(Check {
            kind: CheckKind::Tcp,
            inter: def::CHECK_INTER,
            fastinter: def::CHECK_INTER,
            downinter: def::CHECK_INTER,
            rise: def::CHECK_RISE,
            fall: def::CHECK_FALL,
            timeout: def::CHECK_INTER.min(def::TIMEOUT_CONNECT),
            send_proxy: None,
        })
    );
    let c = ok(&site(
        "",
        "timeout.connect = \"1s\"\ncheck = { type = \"http\" }\n",
    ));
    let Some(Check { kind, timeout, .. }) = c.backends[0].check.clone() else {
        panic!("no check");
    };
    assert_eq!(timeout, Duration::from_secs(1));
    assert_eq!(
        kind,
        CheckKind::Http(HttpCheck {
            method: def::CHECK_METHOD.into(),
            path: def::CHECK_PATH.into(),
            host: None,
            expect_status: vec![def::CHECK_EXPECT_STATUS],
        })
    );
}

// ---- [global] --------------------------------------------------------------------------------

#[test]
fn global_value_errors() {
    assert_eq!(
        error(&with_site("[global]\nspread_checks = 60\n")),
        "t.toml:2:17: error: `spread_checks` must be between 0 and 50, found 60"
    );
    assert_eq!(
        error(&with_site("[global]\nuser = \"rin glb\"\n")),
        "t.toml:2:8: error: invalid user name \"rin glb\"\n  help: expected a system account \
         name (letters, digits, '_', '-', '.'; at most 32) or a numeric id"
    );
    assert_eq!(
        error(&with_site("[global]\nadmin_socket = \"run/admin.sock\"\n")),
        "t.toml:2:16: error: `admin_socket` must be an absolute path, found \"run/admin.sock\"\n  \
         help: write the full path, e.g. \"/run/ringlb/admin.sock\""
    );
    let long = format!("[global]\nadmin_socket = \"/{}\"\n", "a".repeat(120));
    assert!(
        error(&with_site(&long)).starts_with("t.toml:2:16: error: `admin_socket` path is too long")
    );
    assert_eq!(
        error(&with_site("[global]\nkeep_bind_capability = \"yes\"\n")),
        "t.toml:2:24: error: expected a boolean for `keep_bind_capability`, found a string"
    );
    assert_eq!(
        error(&with_site("[global]\nstate_file = \"state\"\n")),
        "t.toml:2:14: error: `state_file` must be an absolute file path or \"none\", found \"state\"\n  \
         help: e.g. state_file = \"/var/lib/ringlb/state\""
    );
}

#[test]
fn state_file_is_a_path_none_or_systemds_state_directory() {
    use crate::config::StateFile;
    let g = |t: &str| ok(&with_site(t)).global.state_file;
    assert_eq!(g(""), StateFile::Default);
    assert_eq!(g("[global]\nstate_file = \"none\"\n"), StateFile::Off);
    let p = g("[global]\nstate_file = \"/srv/lb/state\"\n");
    assert_eq!(p, StateFile::Path(PathBuf::from("/srv/lb/state")));
    let dir = std::ffi::OsStr::new("/var/lib/ringlb:/var/lib/other");
    assert_eq!(
        StateFile::Default.resolve(Some(dir)),
        Some(PathBuf::from("/var/lib/ringlb/state"))
    );
    assert_eq!(StateFile::Default.resolve(None), None);
    assert_eq!(StateFile::Off.resolve(Some(dir)), None);
    assert_eq!(p.resolve(Some(dir)), Some(PathBuf::from("/srv/lb/state")));
}

// ---- [log] -----------------------------------------------------------------------------------

#[test]
fn log_targets() {
    let target = |t: &str| {
        ok(&with_site(&format!("[log]\ntarget = \"{t}\"\n")))
            .log
            .target
    };
    assert_eq!(target("stdout"), LogTarget::Stdout);
    assert_eq!(
        target("udp://10.0.0.1"),
        LogTarget::Udp("10.0.0.1:514".parse().unwrap())
    );
    assert_eq!(
        target("udp://[::1]:1514"),
        LogTarget::Udp("[::1]:1514".parse().unwrap())
    );
    assert_eq!(
        target("unix:///dev/log"),
        LogTarget::Unix("/dev/log".into())
    );
}

#[test]
fn log_errors() {
    assert_eq!(
        error(&with_site("[log]\ntarget = \"syslog\"\n")),
        "t.toml:2:10: error: invalid log target \"syslog\"\n  help: expected \"stdout\", \
         \"udp://IP[:PORT]\" (port 514 by default) or \"unix:///PATH\""
    );
    assert!(error(&with_site("[log]\ntarget = \"udp://loghost:514\"\n"))
        .starts_with("t.toml:2:10: error: invalid syslog address \"loghost:514\" in log target"));
    assert!(error(&with_site("[log]\ntarget = \"unix://dev/log\"\n"))
        .starts_with("t.toml:2:10: error: `target` must be an absolute path"));
    assert_eq!(
        error(&with_site("[log]\nfacility = \"local9\"\n")),
        "t.toml:2:12: error: unknown syslog facility \"local9\" (expected one of: kern, user, \
         mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, \
         local2, local3, local4, local5, local6, local7)\n  help: did you mean \"local0\"?"
    );
    assert_eq!(
        error(&with_site("[log]\nlevel = \"debg\"\n")),
        "t.toml:2:9: error: unknown log level \"debg\" (expected one of: emerg, alert, crit, err, \
         warning, notice, info, debug)\n  help: did you mean \"debug\"?"
    );
    assert_eq!(
        error(&with_site("[log]\nipv4_mask = 33\n")),
        "t.toml:2:13: error: `ipv4_mask` must be between 0 and 32, found 33"
    );
    assert_eq!(
        error(&with_site("[log]\nipv6_mask = 129\n")),
        "t.toml:2:13: error: `ipv6_mask` must be between 0 and 128, found 129"
    );
    assert_eq!(
        error(&with_site("[log]\nqueue = 0\n")),
        "t.toml:2:9: error: `queue` must be between 1 and 1000000, found 0"
    );
}

// ---- stats -----------------------------------------------------------------------------------

#[test]
fn stats_errors() {
    assert_eq!(
        error(&with_site("[stats]\nuri = \"/\"\n")),
        "t.toml:1:1: error: [stats] has no `bind`\n  help: add bind = \"127.0.0.1:8404\""
    );
    assert_eq!(
        error(&with_site(
            "[stats]\nbind = \"127.0.0.1:1\"\nusers = [\"admin\"]\n"
        )),
        "t.toml:3:10: error: stats user has no password\n  help: write \"NAME:PASSWORD\"; the \
         password may be a crypt hash \"$5$…\" or \"$6$…\""
    );
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nusers = [\":pw\"]\n"
    ))
    .starts_with("t.toml:3:10: error: invalid stats user name \"\""));
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nusers = [\"a:\"]\n"
    ))
    .starts_with("t.toml:3:10: error: stats user \"a\" has an empty password"));
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nusers = [\"a:$1$salt$hash\"]\n"
    ))
    .starts_with("t.toml:3:10: error: unsupported password hash $1$ for stats user \"a\""));
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nusers = [\"a:$6$x\"]\n"
    ))
    .starts_with("t.toml:3:10: error: malformed $6$ hash for stats user \"a\""));
    assert_eq!(
        error(&with_site(
            "[stats]\nbind = \"127.0.0.1:1\"\nusers = [\"a:1\", \"a:2\"]\n"
        )),
        "t.toml:3:17: error: stats user \"a\" is listed twice"
    );
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nadmin = true\n"
    ))
    .starts_with("t.toml:3:9: error: `admin = true` without `users`"));
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nuri = \"stats\"\n"
    ))
    .starts_with("t.toml:3:7: error: invalid stats uri \"stats\""));
    assert!(error(&with_site(
        "[stats]\nbind = \"127.0.0.1:1\"\nrealm = \"a\\\"b\"\n"
    ))
    .starts_with("t.toml:3:9: error: invalid stats realm"));
    assert_eq!(
        error(&with_site("[stats]\nbind = \"127.0.0.1:8080\"\n")),
        "t.toml:5:8: error: bind address 127.0.0.1:8080 is already used by [stats]\n  \
         help: first bound at line 2; each address may be bound once"
    );
}

#[test]
fn frontend_stats_needs_http() {
    let text = "[frontend.db]\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\ndefault_backend = \"pg\"\n\
                stats = { uri = \"/s\" }\n[backend.pg]\nmode = \"tcp\"\n\
                server = [{ name = \"a\", address = \"127.0.0.1:2\" }]\n";
    assert_eq!(
        error(text),
        "t.toml:5:1: error: frontend \"db\" is in tcp mode: a stats page needs http\n  \
         help: serve stats from an http frontend or from a top-level [stats] listener"
    );
    assert_eq!(
        error(&site("[frontend.www.stats]\nbind = \"127.0.0.1:9\"\n", "")),
        "t.toml:5:1: error: `bind` is not allowed in [frontend.www.stats]\n  help: a frontend's \
         stats page uses the frontend's listeners; for a listener of its own write a top-level \
         [stats] section"
    );
}

// ---- [ha] ------------------------------------------------------------------------------------

const HA_OK: &str =
    "[ha]\ninterface = \"eth0\"\nvirtual_ips = [\"192.0.2.100/24\"]\nrouter_id = 51\n";

#[test]
fn ha_defaults() {
    let ha = ok(&with_site(HA_OK)).ha;
    assert_eq!(
        ha,
        Some(Ha {
            interface: "eth0".into(),
            virtual_ips: vec![VirtualIp {
                addr: ip("192.0.2.100"),
                prefix: 24
            }],
            router_id: 51,
            priority: def::HA_PRIORITY,
            state: def::HA_STATE,
            unicast_src: None,
            peers: vec![],
            auth_pass: None,
            advert_int: def::HA_ADVERT_INT,
            check_interval: def::HA_CHECK_INTERVAL,
            sync: None,
            active_active: None,
            lvs: None,
        })
    );
}

#[test]
fn ha_sync_section() {
    let c = ok(&with_site(&format!(
        "{HA_OK}[ha.sync]\npeer = \"root@192.0.2.12\"\nidentity = \"/etc/ringlb/k\"\n"
    )));
    let s = c.ha.and_then(|h| h.sync).unwrap();
    assert_eq!((s.peer.as_str(), s.port), ("root@192.0.2.12", 22));
    assert_eq!(s.binary, PathBuf::from("/usr/bin/ringlb"));
    assert_eq!((s.known_hosts, s.config), (None, None));
    let e = errors(&with_site(&format!("{HA_OK}[ha.sync]\nidentity = \"k\"\n")));
    assert_eq!(e.len(), 2, "both reported: {e:?}");
    assert!(e[0].contains("[ha.sync] has no `peer`"), "{e:?}");
    assert!(
        e[1].starts_with("t.toml:6:12: error: `identity` must be an absolute path"),
        "{e:?}"
    );
    let e = error(&with_site(&format!(
        "{HA_OK}[ha.sync]\npeer = \"-oProxyCommand=x\"\nidentity = \"/k\"\n"
    )));
    assert!(e.contains("invalid ssh destination"), "{e}");
}

#[test]
fn ha_errors() {
    let ha = |extra: &str| error(&with_site(&format!("{HA_OK}{extra}")));
    assert_eq!(
        ha("priority = 255\n"),
        "t.toml:5:12: error: `priority` must be between 1 and 254, found 255"
    );
    assert!(ha("state = \"master\"\n").starts_with(
        "t.toml:5:9: error: unknown VRRP state \"master\" (expected one of: MASTER, BACKUP)"
    ));
    assert!(ha("auth_pass = \"123456789\"\n")
        .starts_with("t.toml:5:13: error: `auth_pass` must have 1 to 8 ASCII characters"));
    assert!(ha("peers = [\"192.0.2.300\"]\n")
        .starts_with("t.toml:5:10: error: invalid IP address \"192.0.2.300\" in `peers`"));
    assert!(ha("unicast_src = \"192.0.2.11\"\n")
        .starts_with("t.toml:5:15: error: `unicast_src` without `peers`"));
    assert_eq!(
        ha("advert_int = \"300s\"\n"),
        "t.toml:5:14: error: `advert_int` must be at most 255s"
    );
    assert!(error(&with_site(
        "[ha]\ninterface = \"eth0\"\nvirtual_ips = [\"192.0.2.1/33\"]\nrouter_id = 1\n"
    ))
    .starts_with("t.toml:3:16: error: invalid virtual IP \"192.0.2.1/33\""));
    assert!(error(&with_site(
        "[ha]\ninterface = \"eth0\"\nvirtual_ips = [\"192.0.2.1\", \"2001:db8::1\"]\nrouter_id = 1\n"
    ))
    .starts_with("t.toml:3:29: error: `virtual_ips` mixes IPv4 and IPv6 addresses"));
    assert!(error(&with_site(
        "[ha]\ninterface = \"a-very-long-interface-name\"\nvirtual_ips = [\"192.0.2.1\"]\nrouter_id = 1\n"
    ))
    .starts_with("t.toml:2:13: error: invalid interface name"));
    assert_eq!(
        errors(&with_site("[ha]\nrouter_id = 0\n")),
        vec![
            "t.toml:1:1: error: [ha] has no `interface`\n  help: add interface = \"eth0\": where \
             VRRP runs",
            "t.toml:1:1: error: [ha] has no `virtual_ips`\n  help: add virtual_ips = \
             [\"192.0.2.100/24\"]",
            "t.toml:2:13: error: `router_id` must be between 1 and 255, found 0",
        ]
    );
}

#[test]
fn proxy_protocol_settings() {
    use crate::config::ProxyVersion;
    let c = ok(&site(
        "accept_proxy = true\naccept_proxy_from = [\"10.0.0.0/8\", \"192.0.2.7\"]\n\
         [frontend.www.tls]\nbind = \"127.0.0.1:8443\"\ncertificates = [\"/x.pem\"]\naccept_proxy = false",
        "send_proxy = \"v2\"\ncheck = { type = \"tcp\", send_proxy = true }",
    ));
    let www = &c.frontends[0];
    assert!(www.accept_proxy);
    assert_eq!(www.accept_proxy_from.len(), 2);
    assert!(www.tls.as_ref().is_some_and(|t| !t.accept_proxy));
    let web1 = &c.backends[0].servers[0];
    assert_eq!(web1.send_proxy, Some(ProxyVersion::V2));
    // The check sends the server's version.
    assert_eq!(
        web1.check.as_ref().and_then(|c| c.send_proxy),
        Some(ProxyVersion::V2)
    );

    // TLS listeners inherit the frontend's accept_proxy; a server may turn send_proxy off
    // and its check's header on by itself (v1 when the server sends none).
    let text = "[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\naccept_proxy = true\n\
         [frontend.www.tls]\nbind = \"127.0.0.1:8443\"\ncertificates = [\"/x.pem\"]\n\
         [backend.web]\nsend_proxy = \"v1\"\ncheck = { type = \"tcp\" }\n\
         [[backend.web.server]]\nname = \"web1\"\naddress = \"127.0.0.1:9001\"\nsend_proxy = \"none\"\ncheck_send_proxy = true\n";
    let c = ok(text);
    assert!(c.frontends[0].tls.as_ref().is_some_and(|t| t.accept_proxy));
    let web1 = &c.backends[0].servers[0];
    assert_eq!(web1.send_proxy, None);
    assert_eq!(
        web1.check.as_ref().and_then(|c| c.send_proxy),
        Some(ProxyVersion::V1)
    );
}

#[test]
fn proxy_protocol_errors_name_their_place() {
    let e = error(&site(
        "accept_proxy = true\naccept_proxy_from = [\"10.0.0.0/33\"]",
        "",
    ));
    assert!(
        e.starts_with("t.toml:5:22: error: invalid address block \"10.0.0.0/33\""),
        "{e}"
    );
    let e = error(&site("accept_proxy_from = [\"10.0.0.0/8\"]", ""));
    assert!(
        e.contains("sets accept_proxy_from but accepts no PROXY header"),
        "{e}"
    );
    assert!(e.contains("add accept_proxy = true"), "{e}");
    let e = error(&site("", "send_proxy = \"v3\""));
    assert!(
        e.contains("unknown PROXY protocol version \"v3\" (expected one of: v1, v2)"),
        "{e}"
    );
    let e = error(&site("send_proxy = \"v1\"", ""));
    assert!(e.contains("backend setting"), "{e}");
    let e = error(&site("", "accept_proxy = true"));
    assert!(e.contains("frontend setting"), "{e}");
}

#[test]
fn checks_of_servers_sent_proxy_headers_send_one_unless_told_not_to() {
    use crate::config::ProxyVersion;
    let with = |check: &str| {
        ok(&site(
            "",
            &format!("send_proxy = \"v2\"\ncheck = {{ type = \"tcp\"{check} }}"),
        ))
        .backends[0]
            .servers[0]
            .check
            .as_ref()
            .and_then(|c| c.send_proxy)
    };
    assert_eq!(with(""), Some(ProxyVersion::V2));
    assert_eq!(with(", send_proxy = false"), None);
}
