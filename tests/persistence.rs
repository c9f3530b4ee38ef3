//! Cookie persistence through the real binary: insert (indirect, nocache) and prefix keep a
//! client on one server across 100 requests and move it when that server goes down.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// A web node that answers with its name, can fail its `/health` check, remembers the last
/// `Cookie` header it received and can set an application session cookie.
struct Node {
    raw: RawBackend,
    health: Arc<AtomicU16>,
    served: Arc<AtomicU64>,
    last_cookie: Arc<Mutex<String>>,
}

impl Node {
    fn start(name: &'static str, app_cookie: bool) -> Node {
        let health = Arc::new(AtomicU16::new(200));
        let served = Arc::new(AtomicU64::new(0));
        let last_cookie = Arc::new(Mutex::new(String::new()));
        let (h, s, lc) = (health.clone(), served.clone(), last_cookie.clone());
        let raw = RawBackend::start(move |mut stream: TcpStream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            loop {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let cookie = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Cookie: ")
                            .or_else(|| l.strip_prefix("cookie: "))
                    })
                    .unwrap_or("")
                    .to_string();
                let (status, extra) = if head.starts_with("GET /health ") {
                    (h.load(Ordering::SeqCst), String::new())
                } else {
                    s.fetch_add(1, Ordering::SeqCst);
                    *lc.lock().expect("lock") = cookie.clone();
                    let set = if app_cookie && !cookie.contains("JSESSIONID=") {
                        format!("Set-Cookie: JSESSIONID={name}-session; Path=/; HttpOnly\r\n")
                    } else {
                        String::new()
                    };
                    (200, set)
                };
                let body = format!("{name}\n");
                if write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nX-Backend: {name}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .is_err()
                {
                    return;
                }
            }
        });
        Node {
            raw,
            health,
            served,
            last_cookie,
        }
    }
}

fn config(port: u16, nodes: &[(&str, &Node)], cookie: &str) -> String {
    let mut s = format!(
        "[global]\nworkers = 2\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
         [backend.web]\nbalance = \"roundrobin\"\n{cookie}\n\
         [backend.web.check]\ntype = \"http\"\npath = \"/health\"\ninter = \"100ms\"\nfastinter = \"50ms\"\nrise = 1\nfall = 2\n"
    );
    for (name, node) in nodes {
        s.push_str(&format!(
            "[[backend.web.server]]\nname = \"{name}\"\naddress = \"{}\"\ncookie = \"{name}\"\n",
            node.raw.addr()
        ));
    }
    s
}

/// A browser-like client: keeps the cookies the responses set and sends them back.
struct Browser {
    addr: SocketAddr,
    jar: Vec<(String, String)>,
}

impl Browser {
    fn get(&mut self) -> Response {
        let cookie = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = vec![];
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie.as_str()));
        }
        let r = http_get(self.addr, "/app", &headers);
        for set in r.header_all("set-cookie") {
            let pair = set.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                self.jar.retain(|(n, _)| n != k);
                self.jar.push((k.to_string(), v.to_string()));
            }
        }
        r
    }
}

#[test]
fn insert_keeps_a_client_on_one_server_and_moves_it_when_down() {
    let nodes = [
        Node::start("s1", false),
        Node::start("s2", false),
        Node::start("s3", false),
    ];
    let port = free_port();
    let cookie = "[backend.web.cookie]\nname = \"SERVERID\"\nmode = \"insert\"\nindirect = true\nnocache = true\nhttponly = true";
    let lb = Ringlb::start(&config(
        port,
        &[("s1", &nodes[0]), ("s2", &nodes[1]), ("s3", &nodes[2])],
        cookie,
    ));
    let mut b = Browser {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        jar: vec![],
    };
    let first = b.get();
    let home = first.backend().expect("backend").to_string();
    let set = first.header("set-cookie").expect("cookie inserted");
    assert!(
        set.starts_with(&format!("SERVERID={home}; path=/")) && set.contains("HttpOnly"),
        "{set}"
    );
    assert_eq!(first.header("cache-control"), Some("private"), "nocache");
    for i in 0..100 {
        let r = b.get();
        assert_eq!(
            r.backend(),
            Some(home.as_str()),
            "request {i} stays on {home}"
        );
        assert!(
            r.header("set-cookie").is_none(),
            "indirect: no cookie for a client that has it"
        );
    }
    let idx = ["s1", "s2", "s3"]
        .iter()
        .position(|n| *n == home)
        .expect("index");
    assert!(
        !nodes[idx]
            .last_cookie
            .lock()
            .expect("lock")
            .contains("SERVERID"),
        "indirect: the server never sees ringlb's cookie"
    );

    nodes[idx].health.store(500, Ordering::SeqCst);
    assert!(lb.wait_log(
        &format!("server web/{home} is DOWN"),
        Duration::from_secs(5)
    ));
    let served_before = nodes[idx].served.load(Ordering::SeqCst);
    let moved = b.get();
    let new_home = moved.backend().expect("backend").to_string();
    assert_ne!(new_home, home, "moved off the DOWN server");
    assert!(moved
        .header("set-cookie")
        .expect("re-stuck")
        .starts_with(&format!("SERVERID={new_home};")));
    for _ in 0..20 {
        assert_eq!(
            b.get().backend(),
            Some(new_home.as_str()),
            "sticks to the new server"
        );
    }
    assert_eq!(
        nodes[idx].served.load(Ordering::SeqCst),
        served_before,
        "nothing reached the DOWN server"
    );
}

#[test]
fn prefix_rides_on_the_application_cookie() {
    let nodes = [Node::start("s1", true), Node::start("s2", true)];
    let port = free_port();
    let cookie = "[backend.web.cookie]\nname = \"JSESSIONID\"\nmode = \"prefix\"";
    let lb = Ringlb::start(&config(
        port,
        &[("s1", &nodes[0]), ("s2", &nodes[1])],
        cookie,
    ));
    let mut b = Browser {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        jar: vec![],
    };
    let first = b.get();
    let home = first.backend().expect("backend").to_string();
    let set = first.header("set-cookie").expect("application cookie");
    assert!(
        set.starts_with(&format!("JSESSIONID={home}~{home}-session; Path=/")),
        "prefixed: {set}"
    );
    for i in 0..100 {
        assert_eq!(b.get().backend(), Some(home.as_str()), "request {i}");
    }
    let idx = if home == "s1" { 0 } else { 1 };
    assert_eq!(
        *nodes[idx].last_cookie.lock().expect("lock"),
        format!("JSESSIONID={home}-session"),
        "the server sees its own value, prefix stripped"
    );
    nodes[idx].health.store(500, Ordering::SeqCst);
    assert!(lb.wait_log(
        &format!("server web/{home} is DOWN"),
        Duration::from_secs(5)
    ));
    let other = b.get().backend().expect("backend").to_string();
    assert_ne!(other, home);
}

#[test]
fn expired_cookies_are_ignored() {
    let nodes = [Node::start("s1", false), Node::start("s2", false)];
    let port = free_port();
    let cookie = "[backend.web.cookie]\nname = \"SRV\"\nmode = \"insert\"\nmaxidle = \"30m\"";
    let _lb = Ringlb::start(&config(
        port,
        &[("s1", &nodes[0]), ("s2", &nodes[1])],
        cookie,
    ));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // A cookie last seen in 1970 is too old: balanced normally and set afresh.
    let r = http_get(addr, "/", &[("Cookie", "SRV=s2|1|1")]);
    assert!(
        r.header("set-cookie")
            .expect("new cookie")
            .starts_with("SRV="),
        "set again"
    );
    // A fresh one sticks.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let fresh = format!("SRV=s2|{now:x}|{now:x}");
    for _ in 0..10 {
        assert_eq!(
            http_get(addr, "/", &[("Cookie", fresh.as_str())]).backend(),
            Some("s2")
        );
    }
}
