use std::net::SocketAddr;
use std::time::Duration;

use super::walk::{parse_duration, DurationError};
use super::*;
use crate::config::{Backend, Balance, Log, LogTarget, Passive, Server, Workers};

pub(super) const FILE: &str = "t.toml";

pub(super) fn parse(text: &str) -> Result<Config, Vec<Diagnostic>> {
    parse_str(text, FILE)
}

pub(super) fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(diags) => {
            let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("expected a valid config, got:\n{}", shown.join("\n"));
        }
    }
}

/// Every diagnostic, rendered as the operator sees it.
pub(super) fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors, config was accepted"),
        Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
    }
}

/// The only diagnostic; fails if there are several.
pub(super) fn error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.into_iter().next().unwrap_or_default()
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// A valid frontend + backend, appended to configs that test other sections.
const SITE: &str = r#"
[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"

[backend.web]
[[backend.web.server]]
name = "web1"
address = "127.0.0.1:9001"
"#;

pub(super) fn with_site(extra: &str) -> String {
    format!("{extra}{SITE}")
}

// ---- valid configs ---------------------------------------------------------------------------

#[test]
fn full_config_round_trip() {
    let text = r#"
[global]
workers = "auto"
maxconn = 20000
grace = "45s"

[defaults]
mode = "http"
retries = 3
[defaults.timeout]
connect = "5s"
client = "30s"
server = "30s"
http_request = "10s"
http_keep_alive = "15s"
queue = "5s"

[frontend.www]
bind = ["0.0.0.0:80", "[::]:80"]
mode = "http"
default_backend = "web"
maxconn = 10000
forwardfor = true
connection = "server-close"
[frontend.www.timeout]
client = "31s"

[backend.web]
mode = "http"
balance = "leastconn"
retries = 2
redispatch = true
timeout = { connect = "2s", server = "20s", queue = "3s" }
[[backend.web.server]]
name = "web1"
address = "10.0.0.11:80"
weight = 3
maxconn = 100
backup = false
[[backend.web.server]]
name = "web2"
address = "[2001:db8::2]:8080"
backup = true
"#;
    let expected = Config {
        global: Global {
            workers: Workers::Auto,
            maxconn: 20_000,
            grace: Duration::from_secs(45),
            spread_checks: def::SPREAD_CHECKS,
            user: None,
            group: None,
            admin_socket: None,
            keep_bind_capability: false,
            state_file: crate::config::StateFile::Default,
            tune: crate::config::Tune::default(),
        },
        log: Log {
            target: LogTarget::Stdout,
            facility: def::LOG_FACILITY,
            level: def::LOG_LEVEL,
            anonymize_ip: false,
            ipv4_mask: def::IPV4_MASK,
            ipv6_mask: def::IPV6_MASK,
            queue: def::LOG_QUEUE,
        },
        stats: None,
        ha: None,
        acme: None,
        frontends: vec![Frontend {
            name: "www".into(),
            binds: vec![addr("0.0.0.0:80"), addr("[::]:80")],
            mode: Mode::Http,
            default_backend: "web".into(),
            maxconn: 10_000,
            timeouts: Timeouts {
                client: Duration::from_secs(31),
                ..def::TIMEOUTS
            },
            forwardfor: true,
            connection: ConnectionMode::ServerClose,
            log: false,
            dontlognull: false,
            upgrade: vec!["websocket".into()],
            acls: vec![],
            routes: vec![],
            stats: None,
            tls: None,
            accept_proxy: false,
            accept_proxy_from: vec![],
            defer_accept: true,
            request_rules: vec![],
            response_rules: vec![],
            errorfiles: vec![],
            connection_rules: vec![],
            track: None,
            h2: def::H2,
        }],
        backends: vec![Backend {
            name: "web".into(),
            mode: Mode::Http,
            balance: Balance::LeastConn,
            retries: 2,
            redispatch: true,
            timeouts: Timeouts {
                connect: Duration::from_secs(2),
                server: Duration::from_secs(20),
                queue: Duration::from_secs(3),
                ..def::TIMEOUTS
            },
            servers: vec![
                Server {
                    name: "web1".into(),
                    address: addr("10.0.0.11:80"),
                    weight: 3,
                    maxconn: 100,
                    backup: false,
                    cookie: "web1".into(),
                    check: None,
                    send_proxy: None,
                    tls: None,
                    slowstart: Duration::ZERO,
                    maxqueue: 0,
                },
                Server {
                    name: "web2".into(),
                    address: addr("[2001:db8::2]:8080"),
                    weight: def::WEIGHT,
                    maxconn: def::SERVER_MAXCONN,
                    backup: true,
                    cookie: "web2".into(),
                    check: None,
                    send_proxy: None,
                    tls: None,
                    slowstart: Duration::ZERO,
                    maxqueue: 0,
                },
            ],
            check: None,
            passive: Passive { errors: 0 },
            cookie: None,
            acls: vec![],
            request_rules: vec![],
            response_rules: vec![],
            errorfiles: vec![],
            maxqueue: 0,
        }],
    };
    assert_eq!(ok(text), expected);
}

#[test]
fn minimal_config_takes_every_constant() {
    let c = ok(SITE);
    assert_eq!(c.global.workers, def::WORKERS);
    assert_eq!(c.global.maxconn, def::GLOBAL_MAXCONN);
    assert_eq!(c.global.grace, def::GRACE);
    let f = &c.frontends[0];
    assert_eq!(f.binds, vec![addr("127.0.0.1:8080")]);
    assert_eq!(f.mode, def::MODE);
    assert_eq!(f.maxconn, def::FRONTEND_MAXCONN);
    assert_eq!(f.forwardfor, def::FORWARDFOR);
    assert_eq!(f.connection, def::CONNECTION);
    assert_eq!(f.timeouts, def::TIMEOUTS);
    let b = &c.backends[0];
    assert_eq!(b.balance, def::BALANCE);
    assert_eq!(b.retries, def::RETRIES);
    assert_eq!(b.redispatch, def::REDISPATCH);
    assert_eq!(b.timeouts, def::TIMEOUTS);
    assert_eq!(b.servers[0].weight, def::WEIGHT);
    assert_eq!(b.servers[0].maxconn, def::SERVER_MAXCONN);
    assert!(!b.servers[0].backup);
}

#[test]
fn deferred_accept_follows_the_mode_unless_set() {
    let tcp_site = SITE
        .replace("default_backend", "mode = \"tcp\"\ndefault_backend")
        .replace("[backend.web]", "[backend.web]\nmode = \"tcp\"");
    assert!(
        ok(SITE).frontends[0].defer_accept,
        "http: the client speaks first"
    );
    assert!(
        !ok(&tcp_site).frontends[0].defer_accept,
        "tcp: maybe the server"
    );
    let set = |site: &str, v: &str| {
        site.replace(
            "default_backend",
            &format!("defer_accept = {v}\ndefault_backend"),
        )
    };
    assert!(!ok(&set(SITE, "false")).frontends[0].defer_accept);
    assert!(ok(&set(&tcp_site, "true")).frontends[0].defer_accept);
    assert_eq!(
        error(&set(SITE, "1")),
        "t.toml:4:16: error: expected a boolean for `defer_accept`, found an integer"
    );
}

#[test]
fn section_beats_defaults_beats_constants() {
    let c = ok(r#"
[defaults]
balance = "source"
retries = 5
forwardfor = false
connection = "close"
timeout = { client = "7s", connect = "8s" }

[frontend.a]
bind = "127.0.0.1:1"
default_backend = "x"
connection = "keep-alive"
timeout.client = "9s"

[frontend.b]
bind = "127.0.0.1:2"
default_backend = "y"

[backend.x]
retries = 0
[backend.x.timeout]
connect = "1s"
[[backend.x.server]]
name = "s"
address = "127.0.0.1:3"

[backend.y]
[[backend.y.server]]
name = "s"
address = "127.0.0.1:4"
"#);
    let (a, b) = (&c.frontends[0], &c.frontends[1]);
    assert_eq!(a.connection, ConnectionMode::KeepAlive); // section
    assert_eq!(b.connection, ConnectionMode::Close); // defaults
    assert!(!a.forwardfor && !b.forwardfor);
    assert_eq!(a.timeouts.client, Duration::from_secs(9));
    assert_eq!(b.timeouts.client, Duration::from_secs(7));
    assert_eq!(a.timeouts.http_request, def::TIMEOUT_HTTP_REQUEST); // constant
    let (x, y) = (&c.backends[0], &c.backends[1]);
    assert_eq!((x.retries, y.retries), (0, 5));
    assert_eq!(x.balance, Balance::Source);
    assert_eq!(x.timeouts.connect, Duration::from_secs(1));
    assert_eq!(y.timeouts.connect, Duration::from_secs(8));
    assert_eq!(y.timeouts.server, def::TIMEOUT_SERVER);
}

#[test]
fn frontend_maxconn_default_is_capped_by_global() {
    let c = ok(&with_site("[global]\nmaxconn = 500\n"));
    assert_eq!(c.frontends[0].maxconn, 500);
    let c = ok(&with_site(
        "[global]\nmaxconn = 500\n[defaults]\nmaxconn = 200\n",
    ));
    assert_eq!(c.frontends[0].maxconn, 200);
    let c = ok(&with_site(
        "[global]\nmaxconn = 50000\n[defaults]\nmaxconn = 60000\n",
    ));
    assert_eq!(c.frontends[0].maxconn, 50_000);
}

#[test]
fn explicit_frontend_maxconn_above_global_is_an_error() {
    let text = r#"[global]
maxconn = 100
[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
maxconn = 200
[backend.web]
server = [{ name = "a", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        error(text),
        "t.toml:6:11: error: frontend maxconn 200 exceeds [global] maxconn 100\n  \
         help: raise maxconn in [global] or lower this one"
    );
}

#[test]
fn sections_keep_file_order() {
    let c = ok(r#"
[frontend.zz]
bind = "127.0.0.1:1"
default_backend = "b2"
[frontend.aa]
bind = "127.0.0.1:2"
default_backend = "b1"
[backend.b2]
server = [{ name = "s", address = "127.0.0.1:3" }]
[backend.b1]
server = [{ name = "s", address = "127.0.0.1:4" }]
"#);
    let fe: Vec<&str> = c.frontends.iter().map(|f| f.name.as_str()).collect();
    let be: Vec<&str> = c.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(fe, ["zz", "aa"]);
    assert_eq!(be, ["b2", "b1"]);
}

#[test]
fn workers_auto_or_count() {
    assert_eq!(
        ok(&with_site("[global]\nworkers = 4\n")).global.workers,
        Workers::Count(4)
    );
    assert_eq!(
        error(&with_site("[global]\nworkers = 0\n")),
        "t.toml:2:11: error: `workers` must be between 1 and 1024, found 0\n  \
         help: or write workers = \"auto\": one per CPU"
    );
    assert_eq!(
        error(&with_site("[global]\nworkers = \"4\"\n")),
        "t.toml:2:11: error: expected \"auto\" or an integer for `workers`, found a string\n  \
         help: remove the quotes: workers = 4"
    );
}

#[test]
fn host_names_resolve_and_bare_integers_are_milliseconds() {
    let c = ok(r#"
[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
timeout.http_request = 1500
[backend.web]
server = [{ name = "s", address = "localhost:9000" }]
"#);
    assert_eq!(
        c.frontends[0].timeouts.http_request,
        Duration::from_millis(1500)
    );
    assert_eq!(c.backends[0].servers[0].address.port(), 9000);
    assert!(c.backends[0].servers[0].address.ip().is_loopback());
}

#[test]
fn grace_may_be_zero_but_timeouts_may_not() {
    assert_eq!(
        ok(&with_site("[global]\ngrace = \"0s\"\n")).global.grace,
        Duration::ZERO
    );
    assert_eq!(
        error(&with_site("[defaults]\ntimeout.queue = \"0s\"\n")),
        "t.toml:2:17: error: duration for `queue` must be greater than zero\n  \
         help: ringlb has no infinite timeouts; use a long one such as \"1h\""
    );
}

// ---- durations -------------------------------------------------------------------------------

#[test]
fn duration_units() {
    let cases = [
        ("1500us", Duration::from_micros(1500)),
        ("250ms", Duration::from_millis(250)),
        ("250", Duration::from_millis(250)),
        ("5s", Duration::from_secs(5)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("1d", Duration::from_secs(86_400)),
        ("0s", Duration::ZERO),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
    assert_eq!(parse_duration(""), Err(DurationError::Invalid));
    assert_eq!(parse_duration("s"), Err(DurationError::Invalid));
    assert_eq!(parse_duration("5 s"), Err(DurationError::Invalid));
    assert_eq!(parse_duration("1.5s"), Err(DurationError::Invalid));
    assert_eq!(parse_duration("5S"), Err(DurationError::Invalid));
    assert_eq!(parse_duration("-5s"), Err(DurationError::Negative));
    assert_eq!(
        parse_duration("99999999999999999999s"),
        Err(DurationError::TooLong)
    );
    assert_eq!(
        parse_duration("999999999999999d"),
        Err(DurationError::TooLong)
    );
}

#[test]
fn duration_errors_name_the_units() {
    let help = "  help: write an integer followed by a unit: us, ms, s, m, h or d \
                (e.g. \"5s\", \"250ms\"); a bare integer means milliseconds";
    assert_eq!(
        error(&with_site("[global]\ngrace = \"30 sec\"\n")),
        format!("t.toml:2:9: error: invalid duration \"30 sec\" for `grace`\n{help}")
    );
    assert_eq!(
        error(&with_site("[global]\ngrace = -5\n")),
        format!("t.toml:2:9: error: duration -5 for `grace` must not be negative\n{help}")
    );
    assert_eq!(
        error(&with_site("[global]\ngrace = \"\"\n")),
        format!("t.toml:2:9: error: invalid duration \"\" for `grace`\n{help}")
    );
    assert_eq!(
        error(&with_site("[global]\ngrace = 1.5\n")),
        format!("t.toml:2:9: error: expected a duration for `grace`, found a float\n{help}")
    );
    assert_eq!(
        error(&with_site("[global]\ngrace = \"30d\"\n")),
        "t.toml:2:9: error: duration \"30d\" for `grace` is too long\n  \
         help: the longest accepted duration is 24d"
    );
}

// ---- syntax ----------------------------------------------------------------------------------

#[test]
fn toml_syntax_error_is_one_positioned_diagnostic() {
    let all = errors("[global]\nworkers = \"auto\nmaxconn = 3\n");
    assert_eq!(
        all,
        ["t.toml:2:16: error: invalid TOML: invalid basic string, expected `\"`"]
    );
}

#[test]
fn duplicate_key_names_the_key() {
    assert_eq!(
        error("[global]\nmaxconn = 3\nmaxconn = 4\n"),
        "t.toml:3:1: error: duplicate key `maxconn`\n  \
         help: each key and each [table] may appear only once per table"
    );
}

// ---- keys and types --------------------------------------------------------------------------

#[test]
fn unknown_key_suggests_the_closest_known_key() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
defualt_backend = "web"
"#;
    // Not also "frontend www has no default_backend": that would be the same mistake twice.
    assert_eq!(
        error(text),
        "t.toml:3:1: error: unknown key \"defualt_backend\" in [frontend.www]\n  \
         help: did you mean \"default_backend\"?"
    );
}

/// The `tune_*` switches that are on by default land in `Tune`, each off alone when set to
/// false; a value that is not a boolean is refused at its place.
#[test]
fn tune_switches_fill_tune_and_refuse_non_booleans() {
    let on = crate::config::Tune::default();
    for (key, off) in [
        (
            "tune_multishot_recv",
            crate::config::Tune {
                multishot_recv: false,
                ..on
            },
        ),
        (
            "tune_per_worker_counters",
            crate::config::Tune {
                per_worker_counters: false,
                ..on
            },
        ),
        (
            "tune_ring_fd",
            crate::config::Tune {
                ring_fd: false,
                ..on
            },
        ),
        (
            "tune_direct_descriptors",
            crate::config::Tune {
                direct_descriptors: false,
                ..on
            },
        ),
        (
            "tune_loop_clock",
            crate::config::Tune {
                loop_clock: false,
                ..on
            },
        ),
    ] {
        let cfg = ok(&with_site(&format!("[global]\n{key} = false\n")));
        assert_eq!(cfg.global.tune, off, "{key}");
        assert_eq!(
            error(&with_site(&format!("[global]\n{key} = 1\n"))),
            format!(
                "t.toml:2:{}: error: expected a boolean for `{key}`, found an integer",
                key.len() + 4
            )
        );
    }
    assert_eq!(ok(&with_site("")).global.tune, on);
}

#[test]
fn batch_wait_is_microseconds_up_to_a_millisecond() {
    let off = crate::config::Tune::default();
    assert_eq!(off.batch_wait_us, 0, "off by default");
    let cfg = ok(&with_site("[global]\ntune_batch_wait_us = 50\n"));
    assert_eq!(
        cfg.global.tune,
        crate::config::Tune {
            batch_wait_us: 50,
            ..off
        }
    );
    assert_eq!(
        error(&with_site("[global]\ntune_batch_wait_us = 1001\n")),
        "t.toml:2:22: error: `tune_batch_wait_us` must be between 0 and 1000, found 1001"
    );
}

#[test]
fn unknown_key_without_close_match_lists_expected_keys() {
    assert_eq!(
        error(&with_site("[global]\nthreads = 4\n")),
        "t.toml:2:1: error: unknown key \"threads\" in [global]\n  \
         help: expected one of: workers, maxconn, grace, spread_checks, user, group, admin_socket, \
         keep_bind_capability, state_file, tune_multishot_recv, tune_per_worker_counters, \
         tune_ring_fd, tune_direct_descriptors, tune_loop_clock, tune_multishot_accept, \
         tune_zero_copy_send, tune_zero_copy_min, tune_batch_wait_us"
    );
    assert_eq!(
        error(&with_site("[globl]\n")),
        "t.toml:1:2: error: unknown key \"globl\" in the top level\n  \
         help: did you mean \"global\"?"
    );
}

#[test]
fn key_from_another_section_says_where_it_belongs() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
balance = "source"
timeout.connect = "1s"
[backend.web]
server = [{ name = "s", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        errors(text),
        [
            "t.toml:4:1: error: `balance` is not allowed in [frontend.www]\n  \
             help: this is a backend setting: set it in [backend.NAME] or [defaults]",
            "t.toml:5:9: error: `connect` is not allowed in [frontend.www.timeout]\n  \
             help: this is a backend timeout: set it in [backend.NAME.timeout] or \
             [defaults.timeout]",
        ]
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    assert_eq!(
        error(&with_site("[global]\nmaxconn = \"100\"\n")),
        "t.toml:2:11: error: expected an integer for `maxconn`, found a string\n  \
         help: remove the quotes: maxconn = 100"
    );
    assert_eq!(
        error(&with_site("[defaults]\nredispatch = 1\n")),
        "t.toml:2:14: error: expected a boolean for `redispatch`, found an integer"
    );
    assert_eq!(
        error(&with_site("[defaults]\nmode = 80\n")),
        "t.toml:2:8: error: expected a string for `mode`, found an integer"
    );
    assert_eq!(
        error(&with_site("[defaults]\ntimeout = \"5s\"\n")),
        "t.toml:2:11: error: expected a table for `timeout`, found a string"
    );
}

#[test]
fn out_of_range_integers() {
    assert_eq!(
        error(&with_site("[global]\nmaxconn = 0\n")),
        "t.toml:2:11: error: `maxconn` must be between 1 and 1000000, found 0"
    );
    assert_eq!(
        error(&with_site("[defaults]\nretries = -1\n")),
        "t.toml:2:11: error: `retries` must be between 0 and 100, found -1"
    );
    assert_eq!(
        error(&with_site("[defaults]\nretries = 9223372036854775808\n")),
        "t.toml:2:11: error: integer for `retries` is too large"
    );
}

#[test]
fn unknown_enum_value_suggests_and_lists_choices() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
connection = "keepalive"
[backend.web]
balance = "leastconns"
server = [{ name = "s", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        errors(text),
        [
            "t.toml:4:14: error: unknown connection mode \"keepalive\" (expected one of: \
             keep-alive, server-close, close)\n  help: did you mean \"keep-alive\"?",
            "t.toml:6:11: error: unknown balance algorithm \"leastconns\" (expected one of: \
             roundrobin, leastconn, source, random, random(N), uri, uri whole, url_param(NAME), \
             hdr(NAME), cookie(NAME))\n  help: did you mean \"leastconn\"?",
        ]
    );
    assert_eq!(
        error(&with_site("[defaults]\nmode = \"udp\"\n")),
        "t.toml:2:8: error: unknown mode \"udp\" (expected one of: http, tcp)"
    );
}

// ---- required sections and cross-references ------------------------------------------------

#[test]
fn tune_multishot_accept_is_on_by_default_and_switchable() {
    assert!(ok(&with_site("")).global.tune.multishot_accept);
    let off = ok(&with_site("[global]\ntune_multishot_accept = false\n"));
    assert!(!off.global.tune.multishot_accept);
    assert!(
        off.global.tune.direct_descriptors,
        "the other levers stay on"
    );
    assert_eq!(
        error(&with_site("[global]\ntune_multishot_accept = \"off\"\n")),
        "t.toml:2:25: error: expected a boolean for `tune_multishot_accept`, found a string"
    );
}

#[test]
fn zero_copy_send_is_off_by_default_and_takes_a_size() {
    let t = ok(&with_site("")).global.tune;
    assert!(!t.zero_copy_send);
    assert_eq!(t.zero_copy_min, 16 * 1024);
    let t = ok(&with_site(
        "[global]\ntune_zero_copy_send = true\ntune_zero_copy_min = \"8k\"\n",
    ))
    .global
    .tune;
    assert!(t.zero_copy_send);
    assert_eq!(t.zero_copy_min, 8 * 1024);
    let t = ok(&with_site("[global]\ntune_zero_copy_min = 4096\n"))
        .global
        .tune;
    assert_eq!(t.zero_copy_min, 4096);
    let t = ok(&with_site("[global]\ntune_zero_copy_min = \"32K\"\n"))
        .global
        .tune;
    assert_eq!(t.zero_copy_min, 32 * 1024);
}

#[test]
fn zero_copy_min_errors_name_the_place_and_the_units() {
    assert_eq!(
        error(&with_site("[global]\ntune_zero_copy_min = \"16kb\"\n")),
        "t.toml:2:22: error: invalid size \"16kb\" for `tune_zero_copy_min`\n  \
         help: write a number of bytes (16384) or a size with a unit k or m (\"16k\" = 16 KiB), \
         between 1k and 32k"
    );
    assert_eq!(
        error(&with_site("[global]\ntune_zero_copy_min = \"1m\"\n")),
        "t.toml:2:22: error: `tune_zero_copy_min` must be between 1k and 32k, found 1048576 \
         bytes\n  \
         help: write a number of bytes (16384) or a size with a unit k or m (\"16k\" = 16 KiB), \
         between 1k and 32k"
    );
    for bad in [
        "\"\"",
        "\"k\"",
        "\"-4k\"",
        "-1",
        "\"99999999999999999999k\"",
    ] {
        let e = error(&with_site(&format!(
            "[global]\ntune_zero_copy_min = {bad}\n"
        )));
        assert!(e.starts_with("t.toml:2:22: error: "), "{bad}: {e}");
    }
    assert!(
        error(&with_site("[global]\ntune_zero_copy_send = \"yes\"\n"))
            .starts_with("t.toml:2:23: error: ")
    );
}
