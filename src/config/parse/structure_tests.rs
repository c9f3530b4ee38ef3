//! Tests of the config's structure: required sections and keys, names, addresses, the order
//! of diagnostics and the fixture files.

use std::time::Duration;

use super::tests::{error, errors, ok, with_site};
use super::walk::{edit_distance, suggest};
use super::*;

#[test]
fn no_frontend_is_a_whole_file_error() {
    assert_eq!(
        error("[backend.web]\nserver = [{ name = \"s\", address = \"127.0.0.1:1\" }]\n"),
        "t.toml: error: no frontend defined\n  \
         help: add a [frontend.NAME] section with bind and default_backend"
    );
    assert_eq!(
        errors(""),
        ["t.toml: error: no frontend defined\n  \
          help: add a [frontend.NAME] section with bind and default_backend"]
    );
}

#[test]
fn frontend_needs_bind_and_default_backend() {
    let all = errors("[frontend.www]\nmode = \"http\"\n");
    assert_eq!(
        all,
        [
            "t.toml:1:11: error: frontend \"www\" has no `bind`\n  \
             help: add bind = \"0.0.0.0:80\" (or a list of addresses)",
            "t.toml:1:11: error: frontend \"www\" has no `default_backend`\n  \
             help: add default_backend = \"NAME\" naming a [backend.NAME] section",
        ]
    );
    let text = "[frontend.www]\nbind = []\ndefault_backend = \"web\"\n[backend.web]\n\
                server = [{ name = \"s\", address = \"127.0.0.1:1\" }]\n";
    assert_eq!(
        error(text),
        "t.toml:2:8: error: frontend \"www\" has an empty `bind` list\n  \
         help: add at least one address: bind = \"0.0.0.0:80\""
    );
}

#[test]
fn unknown_default_backend_suggests_a_defined_one() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "wbe"
[backend.web]
server = [{ name = "s", address = "127.0.0.1:1" }]
[backend.api]
server = [{ name = "s", address = "127.0.0.1:2" }]
"#;
    assert_eq!(
        error(text),
        "t.toml:3:19: error: unknown backend \"wbe\"\n  help: did you mean \"web\"?"
    );
    let text = text.replace("\"wbe\"", "\"zzz\"");
    assert_eq!(
        error(&text),
        "t.toml:3:19: error: unknown backend \"zzz\"\n  help: defined backends: web, api"
    );
}

#[test]
fn backend_needs_a_server() {
    let text = "[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n\
                [backend.web]\nbalance = \"source\"\n";
    assert_eq!(
        error(text),
        "t.toml:4:10: error: backend \"web\" has no server\n  \
         help: add a [[backend.web.server]] section with name and address"
    );
    // A single table instead of an array of tables: say to double the brackets.
    let text = "[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n\
                [backend.web.server]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";
    assert_eq!(
        error(text),
        "t.toml:4:1: error: expected an array of tables for `server`, found a table\n  \
         help: write each one as a [[backend.web.server]] section (double brackets)"
    );
}

#[test]
fn frontend_and_backend_modes_must_match() {
    let text = r#"[frontend.db]
bind = "127.0.0.1:5432"
mode = "tcp"
default_backend = "pg"
[backend.pg]
server = [{ name = "s", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        error(text),
        "t.toml:4:19: error: frontend \"db\" is in tcp mode but backend \"pg\" is in http \
         mode\n  help: a frontend and its backend must use the same mode"
    );
    // Via [defaults], both sides agree.
    let c = ok(&format!(
        "[defaults]\nmode = \"tcp\"\n{}",
        text.replace("mode = \"tcp\"\n", "")
    ));
    assert_eq!(c.backends[0].mode, Mode::Tcp);
}

#[test]
fn server_names_are_unique_within_a_backend() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
[backend.web]
[[backend.web.server]]
name = "web1"
address = "127.0.0.1:1"
[[backend.web.server]]
name = "web1"
address = "127.0.0.1:2"
"#;
    assert_eq!(
        error(text),
        "t.toml:9:8: error: duplicate server name \"web1\" in backend \"web\"\n  \
         help: the first \"web1\" is at line 6; server names must be unique within a backend"
    );
}

#[test]
fn server_needs_name_and_valid_address() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
[backend.web]
[[backend.web.server]]
address = "10.0.0.1"
weight = 0
[[backend.web.server]]
name = "b"
address = "no-such-host.invalid:80"
"#;
    let all = errors(text);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(
        all[0],
        "t.toml:5:1: error: [[backend.web.server]] has no `name`\n  \
         help: add name = \"NAME\"; it appears in logs, stats and the Server response header"
    );
    assert!(all[1].starts_with("t.toml:6:11: error: invalid server address \"10.0.0.1\"\n  help: expected IP:PORT or HOST:PORT"), "{}", all[1]);
    assert_eq!(
        all[2],
        "t.toml:7:10: error: `weight` must be between 1 and 256, found 0"
    );
    assert!(
        all[3].starts_with(
            "t.toml:10:11: error: cannot resolve server address \"no-such-host.invalid:80\": "
        ),
        "{}",
        all[3]
    );
}

#[test]
fn bind_addresses_are_ip_and_port() {
    let text = r#"[frontend.www]
bind = ["0.0.0.0", "::1:80", "localhost:80", "127.0.0.1:8080"]
default_backend = "web"
[backend.web]
server = [{ name = "s", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        errors(text),
        [
            "t.toml:2:9: error: invalid bind address \"0.0.0.0\"\n  \
             help: add a port: \"0.0.0.0:80\"",
            "t.toml:2:20: error: invalid bind address \"::1:80\"\n  \
             help: put IPv6 addresses in brackets: \"[::]:80\"",
            "t.toml:2:30: error: invalid bind address \"localhost:80\"\n  \
             help: expected IP:PORT with an IP literal, e.g. \"0.0.0.0:80\", \
             \"127.0.0.1:8080\", \"[::]:443\"",
        ]
    );
}

#[test]
fn a_bind_address_is_used_once() {
    let text = r#"[frontend.a]
bind = "127.0.0.1:8080"
default_backend = "web"
[frontend.b]
bind = ["127.0.0.1:0", "127.0.0.1:8080"]
default_backend = "web"
[frontend.c]
bind = "127.0.0.1:0"
default_backend = "web"
[backend.web]
server = [{ name = "s", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        error(text),
        "t.toml:5:24: error: bind address 127.0.0.1:8080 is already used by frontend \"a\"\n  \
         help: first bound at line 2; each address may be bound once"
    );
}

#[test]
fn names_are_checked() {
    let text = r#"[frontend."my site"]
bind = "127.0.0.1:8080"
default_backend = "web"
[backend.web]
server = [{ name = "", address = "127.0.0.1:1" }]
"#;
    let help = "  help: names use only ASCII letters, digits, '-', '_' and '.', 1 to 64 characters";
    assert_eq!(
        errors(text),
        [
            format!("t.toml:1:11: error: invalid frontend name \"my site\"\n{help}"),
            format!("t.toml:5:20: error: invalid server name \"\"\n{help}"),
        ]
    );
}

#[test]
fn array_instead_of_named_sections() {
    let text = "[[frontend]]\nbind = \"127.0.0.1:1\"\n";
    assert_eq!(
        error(text),
        "t.toml:1:1: error: expected named [frontend.NAME] sections, found an array\n  \
         help: write [frontend.NAME] (single brackets, with a name)"
    );
}

#[test]
fn empty_section_groups_are_reported_at_their_header() {
    assert_eq!(
        error("[frontend]\n"),
        "t.toml:1:2: error: [frontend] has no named section\n  help: write [frontend.NAME]"
    );
}

#[test]
fn a_misspelt_required_key_is_reported_once() {
    let text = r#"[frontend.www]
bind = "127.0.0.1:8080"
default_backend = "web"
[backend.web]
servers = [{ name = "s", address = "127.0.0.1:1" }]
"#;
    assert_eq!(
        error(text),
        "t.toml:5:1: error: unknown key \"servers\" in [backend.web]\n  \
         help: did you mean \"server\"?"
    );
}

#[test]
fn inline_and_section_timeouts_are_the_same() {
    let inline = ok(&with_site(
        "[defaults]\ntimeout = { connect = \"2s\", queue = 700 }\n",
    ));
    let section = ok(&with_site(
        "[defaults.timeout]\nconnect = \"2s\"\nqueue = \"700ms\"\n",
    ));
    assert_eq!(inline, section);
    assert_eq!(
        inline.backends[0].timeouts.queue,
        Duration::from_millis(700)
    );
}

// ---- collecting ------------------------------------------------------------------------------

#[test]
fn every_error_is_reported_in_file_order() {
    let text = r#"[global]
workers = 0
grace = "soon"

[frontend.www]
bind = "0.0.0.0"
default_backend = "wbe"
forwardfor = "yes"

[frontend.api]
bind = "127.0.0.1:81"
default_backend = "web"
conection = "close"

[backend.web]
balance = "rr"
[[backend.web.server]]
name = "a"
address = "127.0.0.1:1"
weight = 1000
"#;
    let all = errors(text);
    let positions: Vec<&str> = all
        .iter()
        .map(|d| d.split(": error").next().unwrap_or(""))
        .collect();
    assert_eq!(
        positions,
        [
            "t.toml:2:11",  // workers = 0
            "t.toml:3:9",   // grace
            "t.toml:6:8",   // bind without port
            "t.toml:7:19",  // unknown backend
            "t.toml:8:14",  // forwardfor type
            "t.toml:13:1",  // conection
            "t.toml:16:11", // balance
            "t.toml:20:10", // weight
        ]
    );
}

// ---- suggestions -----------------------------------------------------------------------------

#[test]
fn edit_distance_counts_transpositions_as_one() {
    assert_eq!(edit_distance("default", "default"), 0);
    assert_eq!(edit_distance("defualt", "default"), 1);
    assert_eq!(edit_distance("leastconns", "leastconn"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

#[test]
fn suggestions_only_for_plausible_typos() {
    let keys = ["workers", "maxconn", "grace"];
    assert_eq!(suggest("worker", keys), Some("workers"));
    assert_eq!(suggest("MaxConn", keys), Some("maxconn"));
    assert_eq!(suggest("threads", keys), None);
    assert_eq!(suggest("rr", ["roundrobin", "leastconn", "source"]), None);
    assert_eq!(suggest("tcpp", ["http", "tcp"]), Some("tcp"));
}

// ---- fixtures shared with the `ringlb check` integration test --------------------------------

#[test]
fn good_fixture_is_valid() {
    let text = include_str!("../../../tests/configs/good/basic.toml");
    let c = ok(text);
    assert_eq!(c.frontends.len(), 2);
    assert_eq!(c.backends.len(), 2);
    assert_eq!(c.frontends[1].mode, Mode::Tcp);
}

/// Each line of EXPECTED names a bad fixture and the first diagnostic it must produce.
#[test]
fn bad_fixtures_give_the_expected_first_diagnostic() {
    let root = env!("CARGO_MANIFEST_DIR");
    let expected = include_str!("../../../tests/configs/bad/EXPECTED");
    let mut count = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let path = line.split(':').next().unwrap_or("");
        let text = std::fs::read_to_string(format!("{root}/{path}"))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let first = match parse_str(&text, path) {
            Ok(_) => panic!("{path} was accepted"),
            Err(diags) => diags[0].to_string(),
        };
        assert_eq!(first.lines().next(), Some(line), "{path}");
        count += 1;
    }
    assert!(count >= 8, "only {count} bad fixtures");
}

#[test]
fn the_most_specific_tunnel_timeout_applies() {
    const ONE: &str = "[frontend.f]\nbind = \"127.0.0.1:80\"\ndefault_backend = \"b\"\n\
                        [backend.b]\n[[backend.b.server]]\nname = \"s\"\naddress = \"127.0.0.1:81\"\n";
    let tunnel = |defaults: &str, fe: &str, be: &str| {
        let text = format!(
            "[defaults]\n{defaults}\n{}",
            ONE.replace(
                "default_backend = \"b\"\n",
                &format!("default_backend = \"b\"\n{fe}\n")
            )
            .replace(
                "[[backend.b.server]]",
                &format!("{be}\n[[backend.b.server]]")
            )
        );
        let c = ok(&text);
        let (f, b) = (&c.frontends[0].timeouts, &c.backends[0].timeouts);
        (Timeouts::tunnel_for(f, b), Timeouts::tcp_idle(f, b))
    };
    let s = Duration::from_secs;
    // Nothing written: 1h for WebSocket, the longer of client and server in tcp mode.
    assert_eq!(
        tunnel("", "timeout = { client = \"40s\" }", ""),
        (s(3600), s(40))
    );
    let d = "timeout = { tunnel = \"10m\" }";
    assert_eq!(tunnel(d, "", ""), (s(600), s(600)));
    assert_eq!(
        tunnel(d, "", "timeout = { tunnel = \"2h\" }"),
        (s(7200), s(7200))
    );
    assert_eq!(tunnel(d, "timeout = { tunnel = \"5s\" }", ""), (s(5), s(5)));
    assert_eq!(
        tunnel(
            d,
            "timeout = { tunnel = \"5s\" }",
            "timeout = { tunnel = \"9s\" }"
        ),
        (s(9), s(9))
    );
    let e = error(&ONE.replace(
        "default_backend = \"b\"\n",
        "default_backend = \"b\"\nupgrade = [\"websocket\", \"h2c\"]\n",
    ));
    assert!(e.contains("t.toml:4:") && e.contains("h2c"), "{e}");
}
