//! Unit tests of HTTP/2 translation: `alpn h2`, `bind … proto h2`, `global` `tune.h2.*`.
//! Every translation is loaded with `crate::config::parse_str`, which checks `[frontend.X.h2]`
//! and the ALPN names.

use super::tests::load;
use super::Translation;
use crate::config::{defaults, Config, Frontend};

fn fe<'c>(c: &'c Config, name: &str) -> &'c Frontend {
    c.frontends
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no frontend {name}"))
}

/// Why line `line` was (partly) not translated, all reasons joined.
fn why(t: &Translation, line: usize) -> String {
    t.skipped
        .iter()
        .filter(|s| s.line == line)
        .map(|s| s.why.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `global` lines (line 2 on), then frontend `www` (http) with `lines` and backend `app`.
fn site(global: &str, lines: &str) -> String {
    format!(
        "global\n{global}\ndefaults\n mode http\nfrontend www\n{lines}\n default_backend app\n\
         backend app\n server a 10.0.0.1:80\n"
    )
}

#[test]
fn alpn_h2_is_offered() {
    let (t, c) = load(&site(
        " maxconn 100",
        " bind :443 ssl crt /c.pem alpn h2,http/1.1",
    ));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let www = fe(&c, "www");
    assert_eq!(www.tls.as_ref().expect("tls").alpn, ["h2", "http/1.1"]);
    assert!(!www.h2.cleartext, "h2 over TLS only");
    assert_eq!(www.h2, defaults::H2, "no tune.h2: the defaults");
    assert!(
        !t.toml.contains("[frontend.www.h2]"),
        "nothing to set: {}",
        t.toml
    );
}

#[test]
fn proto_h2_on_a_plain_bind_turns_cleartext_on_with_a_comment() {
    let (t, c) = load(&site(" maxconn 100", " bind :80\n bind :8080 proto h2"));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let www = fe(&c, "www");
    assert!(www.h2.cleartext);
    assert_eq!(www.binds.len(), 2);
    assert!(
        t.toml.contains("# proto h2 (line 7) → cleartext: all plain listeners of this frontend take h2 with prior knowledge and still serve HTTP/1.1"),
        "{}",
        t.toml
    );
}

#[test]
fn proto_h2_on_a_tls_bind_offers_h2_by_alpn() {
    let (t, c) = load(&site(" maxconn 100", " bind :443 ssl crt /c.pem proto h2"));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert_eq!(fe(&c, "www").tls.as_ref().expect("tls").alpn, ["h2"]);
    assert!(
        t.toml.contains("# proto h2 → alpn = [\"h2\"]"),
        "{}",
        t.toml
    );
}

#[test]
fn tune_h2_limits_that_map_go_to_every_h2_frontend() {
    let global = " tune.h2.header-table-size 8192\n tune.h2.initial-window-size 131072\n \
                  tune.h2.max-concurrent-streams 64\n tune.h2.max-frame-size 32768\n \
                  tune.h2.be.initial-window-size 65535\n tune.h2.fe.max-total-streams 1000";
    let cfg = site(
        global,
        " bind :443 ssl crt /c.pem alpn h2,http/1.1\n bind :80",
    ) + "frontend plain\n bind :81\n default_backend app\n";
    let (t, c) = load(&cfg);
    let h2 = fe(&c, "www").h2;
    assert_eq!(h2.header_table_size, 8192);
    assert_eq!(h2.initial_window_size, 131_072);
    assert_eq!(h2.max_concurrent_streams, 64);
    assert!(!h2.cleartext);
    assert!(t
        .toml
        .contains("tune.h2.initial-window-size → initial_window_size: for clients only"));
    // The frontend without h2 gets no [h2] table.
    assert!(!t.toml.contains("[frontend.plain.h2]"), "{}", t.toml);
    assert_eq!(
        fe(&c, "plain").h2.max_concurrent_streams,
        defaults::H2.max_concurrent_streams
    );
    assert!(
        why(&t, 5).contains("16,384"),
        "max-frame-size: {}",
        why(&t, 5)
    );
    assert!(why(&t, 6).contains("HTTP/1.1 to servers"), "{}", why(&t, 6));
    assert!(why(&t, 7).contains("idle_timeout"), "{}", why(&t, 7));
    assert_eq!(t.skipped.len(), 3, "{:?}", t.skipped);
}

#[test]
fn fe_variants_and_out_of_range_values() {
    let global = " tune.h2.fe.max-concurrent-streams 0\n tune.h2.fe.initial-window-size 10\n \
                  tune.h2.header-table-size 100000";
    let (t, c) = load(&site(global, " bind :80 proto h2"));
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    let h2 = fe(&c, "www").h2;
    assert!(h2.cleartext);
    assert_eq!(h2.max_concurrent_streams, 1);
    assert_eq!(h2.initial_window_size, 1024);
    assert_eq!(h2.header_table_size, 65_536);
    assert!(
        t.toml.contains("tune.h2.header-table-size 100000 → 65536"),
        "{}",
        t.toml
    );
    assert!(!t
        .toml
        .contains("fe.initial-window-size → initial_window_size: for clients only"));
}

#[test]
fn tune_h2_without_an_h2_frontend_is_listed() {
    let (t, c) = load(&site(" tune.h2.max-concurrent-streams 50", " bind :80"));
    assert!(
        why(&t, 2).contains("no http frontend speaks h2"),
        "{:?}",
        t.skipped
    );
    assert!(!t.toml.contains(".h2]"));
    assert!(!fe(&c, "www").h2.cleartext);
}

#[test]
fn h2_on_a_tcp_frontend_is_refused_with_a_reason() {
    let cfg = "frontend db\n mode tcp\n bind :5433 ssl crt /db.pem alpn h2,http/1.1\n bind :5434 proto h2\n \
               default_backend pg\nbackend pg\n mode tcp\n server p 10.0.0.5:5432\n";
    let (t, c) = load(cfg);
    let db = fe(&c, "db");
    assert_eq!(db.tls.as_ref().expect("tls").alpn, ["http/1.1"]);
    assert!(!db.h2.cleartext);
    assert!(
        why(&t, 3).contains("http frontends only"),
        "{:?}",
        t.skipped
    );
    assert!(
        why(&t, 4).contains("http frontends only"),
        "{:?}",
        t.skipped
    );
}
