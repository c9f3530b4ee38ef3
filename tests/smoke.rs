//! The smallest end-to-end check: ringlb starts, reports READY=1, and balances two backends.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;
use common::*;

#[test]
fn serves_through_two_backends_round_robin() {
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let port = free_port();
    let lb = Ringlb::start(&format!(
        r#"
[global]
workers = 1
[frontend.www]
bind = "127.0.0.1:{port}"
default_backend = "web"
[backend.web]
[[backend.web.server]]
name = "web1"
address = "{}"
[[backend.web.server]]
name = "web2"
address = "{}"
"#,
        web1.addr(),
        web2.addr()
    ));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = http_get(addr, "/", &[]);
        assert_eq!(r.status, 200);
        seen.push(r.backend().unwrap_or_default().to_string());
    }
    assert_eq!(seen, ["web1", "web2", "web1", "web2"]);
    drop(lb);
}
