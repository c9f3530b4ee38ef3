//! Command-line interface: parsing and exit codes only; the work is done elsewhere.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::defaults::CONFIG_PATH;

#[derive(Parser, Debug)]
#[command(
    name = "ringlb",
    version,
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
    },
    /// Validate a config file: exit 0 if valid, else print every problem and exit 1.
    Check {
        /// Config file.
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
    },
    /// Start two built-in demo web nodes and balance between them on 127.0.0.1:8080.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}
