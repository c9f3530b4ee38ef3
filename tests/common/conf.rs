//! A small builder for the usual test topology: one frontend `www` on a free port, one backend
//! `web` with the given servers, started with [`Ringlb::start`].
//!
//! Sections get extra TOML lines verbatim, e.g. `.frontend("connection = \"close\"")` or
//! `.backend("timeout = { server = \"300ms\" }")`, so a test shows exactly what it configures.

use super::{free_port, Ringlb};
use std::net::SocketAddr;

/// One `[[backend.web.server]]`.
pub struct Srv {
    name: String,
    addr: SocketAddr,
    extra: Vec<String>,
}

/// A server line set: `srv("web1", b.addr()).with("weight = 3")`.
pub fn srv(name: &str, addr: SocketAddr) -> Srv {
    Srv {
        name: name.to_string(),
        addr,
        extra: Vec::new(),
    }
}

impl Srv {
    pub fn with(mut self, line: &str) -> Srv {
        self.extra.push(line.to_string());
        self
    }
}

/// The config being built; [`Site::start`] runs it.
pub struct Site {
    workers: usize,
    mode: &'static str,
    global: Vec<String>,
    frontend: Vec<String>,
    backend: Vec<String>,
    servers: Vec<Srv>,
}

/// A running ringlb and the address of its frontend.
pub struct Lb {
    pub proc: Ringlb,
    pub addr: SocketAddr,
}

impl Lb {
    /// VmRSS of the ringlb process in KiB, from `/proc/PID/status`.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.proc.pid())
    }
}

/// VmRSS of a process in KiB (0 if it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// An HTTP site with one worker (so balancing sequences are exact).
pub fn http() -> Site {
    Site {
        workers: 1,
        mode: "http",
        global: Vec::new(),
        frontend: Vec::new(),
        backend: Vec::new(),
        servers: Vec::new(),
    }
}

/// A TCP site with one worker.
pub fn tcp() -> Site {
    Site {
        mode: "tcp",
        ..http()
    }
}

impl Site {
    pub fn workers(mut self, n: usize) -> Site {
        self.workers = n;
        self
    }

    /// A line in `[global]`.
    pub fn global(mut self, line: &str) -> Site {
        self.global.push(line.to_string());
        self
    }

    /// A line in `[frontend.www]`.
    pub fn frontend(mut self, line: &str) -> Site {
        self.frontend.push(line.to_string());
        self
    }

    /// A line in `[backend.web]`.
    pub fn backend(mut self, line: &str) -> Site {
        self.backend.push(line.to_string());
        self
    }

    pub fn server(mut self, s: Srv) -> Site {
        self.servers.push(s);
        self
    }

    /// The TOML text, with the frontend bound to `port`.
    pub fn toml(&self, port: u16) -> String {
        let mut t = format!(
            "[global]\nworkers = {}\n{}\n[frontend.www]\nbind = \"127.0.0.1:{port}\"\nmode = \"{}\"\ndefault_backend = \"web\"\n",
            self.workers,
            self.global.iter().map(|l| format!("{l}\n")).collect::<String>(),
            self.mode
        );
        for l in &self.frontend {
            t.push_str(l);
            t.push('\n');
        }
        t.push_str(&format!("\n[backend.web]\nmode = \"{}\"\n", self.mode));
        for l in &self.backend {
            t.push_str(l);
            t.push('\n');
        }
        for s in &self.servers {
            t.push_str(&format!(
                "\n[[backend.web.server]]\nname = \"{}\"\naddress = \"{}\"\n",
                s.name, s.addr
            ));
            for l in &s.extra {
                t.push_str(l);
                t.push('\n');
            }
        }
        t
    }

    /// Starts ringlb on this config (waits for READY=1).
    pub fn start(self) -> Lb {
        let port = free_port();
        let proc = Ringlb::start(&self.toml(port));
        Lb {
            proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}
