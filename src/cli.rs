//! Command-line interface: parsing and exit codes only; the work is done elsewhere.
//!
//! Imports `config` (the default config path), `ha` (its subcommand's arguments) and `system`
//! (the version `--version` prints); only `main.rs` imports it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::defaults::CONFIG_PATH;

#[derive(Parser, Debug)]
#[command(
    name = "ringlb",
    version = crate::system::version::version(),
    about = "A thread-per-core io_uring HTTP/TCP load balancer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run in the foreground with a config file (the way systemd runs it).
    Run {
        /// Config file.
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
        /// Take the listening sockets over from the process that started this one (binary
        /// upgrade); set by ringlb itself.
        #[arg(long, hide = true)]
        takeover_fd: Option<i32>,
    },
    /// Validate the config, then make the running ringlb reload it; exit status tells whether
    /// the new config is serving.
    Reload {
        /// Config file (its [global] admin_socket names the running process).
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
    },
    /// Replace the running ringlb with the binary now installed, without closing the
    /// listening sockets; exit status tells whether the new process is serving.
    Upgrade {
        /// Config file (its [global] admin_socket names the running process).
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
    },
    /// Send a command to the running ringlb's admin socket (e.g. `status`).
    Admin {
        /// Config file (its [global] admin_socket names the running process).
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Validate a config file: exit 0 if valid, else print every problem and exit 1.
    Check {
        /// Config file.
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
    },
    /// Translate a classic haproxy.cfg into ringlb TOML on stdout; lines that could not be
    /// translated are listed on stderr. Exit status: 0 all translated, 3 some lines not
    /// translated, 1 unreadable input.
    #[command(name = "import-haproxy")]
    ImportHaproxy {
        /// The haproxy.cfg to translate.
        file: PathBuf,
    },
    /// High availability with keepalived: render its config from [ha], its check and
    /// notify hooks (docs/ha.md).
    Ha {
        #[command(subcommand)]
        command: crate::ha::HaCommand,
    },
    /// Start two built-in demo web nodes and balance between them on 127.0.0.1:8080.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}
