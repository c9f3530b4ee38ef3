use std::process::ExitCode;

use clap::Parser;

use ringlb::cli::{Cli, Command};
use ringlb::{config, demo, lifecycle};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => match lifecycle::run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Check { config } => match config::load(&config) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} frontends, {} backends)",
                    config.display(),
                    cfg.frontends.len(),
                    cfg.backends.len()
                );
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
    match lifecycle::run_config(cfg, None) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
