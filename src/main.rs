//! The `ringlb` binary: argument dispatch and exit codes, nothing else.
//!
//! Imports `cli`, `config`, `demo`, `ha`, `import` and `lifecycle` from the library.

use std::process::ExitCode;

use clap::Parser;

use ringlb::cli::{Cli, Command};
use ringlb::{config, demo, lifecycle};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            takeover_fd,
        } => match lifecycle::run(&config, lifecycle::RunArgs { takeover_fd }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Check { config } => match config::load(&config) {
            Ok(cfg) => {
                let (fronts, backs) = (cfg.frontends.len(), cfg.backends.len());
                // Compiling loads every file the configuration names (certificates, CA files,
                // return bodies, error pages), as a start or a reload would.
                let snap = match ringlb::snapshot::Snapshot::compile(cfg, None) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("{e}");
                        eprintln!("{}: a file it names does not load", config.display());
                        return ExitCode::from(1);
                    }
                };
                println!(
                    "{}: ok ({fronts} frontends, {backs} backends)",
                    config.display()
                );
                for fe in &snap.frontends {
                    for c in fe.tls.iter().flat_map(|t| t.certs.iter()) {
                        let (line, warn) = ringlb::tls::report(c);
                        println!("frontend {}: {line}", fe.name);
                        if warn {
                            eprintln!(
                                "warning: frontend {}: certificate {} expires in less than 30 days",
                                fe.name,
                                c.path.display()
                            );
                        }
                    }
                }
                ExitCode::SUCCESS
            }
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                eprintln!("{}: {} error(s)", config.display(), diags.len());
                ExitCode::from(1)
            }
        },
        Command::Demo { listen } => run_demo(listen),
        Command::Ha { command } => ringlb::ha::run(command),
        Command::ImportHaproxy { file } => ExitCode::from(ringlb::import::run(&file)),
        Command::Reload { config } => admin(&config, "reload", true),
        Command::Upgrade { config } => admin(&config, "upgrade", false),
        Command::Admin { config, command } => admin(&config, &command.join(" "), false),
    }
}

/// Sends one admin command to the ringlb running with `config`; with `validate`, checks the
/// config first and stops there if it is invalid.
fn admin(config: &std::path::Path, command: &str, validate: bool) -> ExitCode {
    let cfg = match config::load(config) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            if validate {
                eprintln!(
                    "{}: {} error(s); the running config is unchanged",
                    config.display(),
                    diags.len()
                );
            }
            return ExitCode::from(1);
        }
    };
    let Some(sock) = lifecycle::ProcessSettings::from_config(&cfg).admin_socket else {
        eprintln!(
            "{}: no [global] admin_socket configured: cannot reach the running ringlb",
            config.display()
        );
        return ExitCode::from(2);
    };
    match ringlb::admin::protocol::request(&sock, command) {
        Ok((lines, result)) => {
            for l in lines {
                println!("{l}");
            }
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ringlb {command}: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("ringlb {command}: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_demo(listen: std::net::SocketAddr) -> ExitCode {
    let nodes = match demo::start_demo_backends() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("ringlb demo: cannot start the demo web nodes: {e}");
            return ExitCode::from(1);
        }
    };
    let text = demo::demo_config(listen, &nodes);
    let cfg = match config::parse_str(&text, "<demo>") {
        Ok(c) => c,
        Err(diags) => {
            for d in diags {
                eprintln!("{d}");
            }
            return ExitCode::from(1);
        }
    };
    println!(
        "ringlb demo: balancing http://{listen}/ between {}",
        nodes
            .iter()
            .map(|(n, a)| format!("{n} ({a})"))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    println!("try:  curl -s http://{listen}/   (run it twice: web1 and web2 take turns)");
    println!("stop: Ctrl-C");
    match lifecycle::run_config(cfg, None, lifecycle::RunArgs::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
