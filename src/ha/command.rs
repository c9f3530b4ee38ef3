//! `ringlb ha …`: arguments and the thin I/O around [`super::render`], [`super::check`] and
//! [`super::notify`] (reading the config and the host name, writing the file, exit codes).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::check::{self, CHECK_TIMEOUT};
use super::notify::{self, Transition};
use super::render::{render, RenderOptions};
use crate::config::{self, defaults::CONFIG_PATH};

/// Where the appliance (and the Debian package layout) installs the binary.
const INSTALLED_BINARY: &str = "/usr/bin/ringlb";
/// `global_defs router_id` when the host name cannot be read.
const FALLBACK_ROUTER_NAME: &str = "ringlb";

#[derive(Subcommand, Debug)]
pub enum HaCommand {
    /// Write a complete keepalived.conf from the config's [ha] section (stdout, or -o FILE).
    /// Exit status: 0 written, 1 invalid config or not renderable, 3 no [ha] section.
    Render {
        /// ringlb config with the [ha] section.
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
        /// Write here (mode 0640, replaced atomically) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// keepalived's `router_id` (how this host is named in its logs); default: host name.
        #[arg(long)]
        router_name: Option<String>,
        /// The ringlb binary keepalived runs for the check and notify scripts.
        #[arg(long, default_value = INSTALLED_BINARY)]
        binary: PathBuf,
        /// The config path the check script passes to `ringlb ha check -c`; default: --config
        /// made absolute (set it when rendering on another machine).
        #[arg(long)]
        script_config: Option<PathBuf>,
        /// Account keepalived runs the scripts as; it must be able to open the admin socket
        /// (the account ringlb runs as: `ringlb` on the appliance).
        #[arg(long, default_value = "ringlb")]
        script_user: String,
        /// Also append each VRRP transition to this file.
        #[arg(long)]
        notify_log: Option<PathBuf>,
    },
    /// keepalived's track script: exit 0 if the running ringlb answers `status` with OK on its
    /// admin socket within 2 s; else exit 1 with the reason on stderr (2: no socket known).
    Check {
        /// ringlb config; only its [global] admin_socket is read.
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
        /// The admin socket, instead of reading it from the config.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Push this config (keeping the peer's own [ha] section) and the certificates and files
    /// it names to the peer of [ha.sync] over ssh; there, `ringlb check` it and reload. Exit
    /// status: 0 reloaded on the peer; 1 refused (the peer's diagnostics on stderr, its
    /// previous files put back) or unreachable; 2 this config is invalid or has no [ha.sync].
    Sync {
        /// ringlb config with the [ha.sync] section.
        #[arg(short, long, default_value = CONFIG_PATH)]
        config: PathBuf,
    },
    /// keepalived's notify hook: logs a VRRP transition as `ringlb-ha` (syslog and stderr).
    Notify {
        /// Also append the line to this file.
        #[arg(long)]
        log: Option<PathBuf>,
        /// STATE, or keepalived's INSTANCE|GROUP NAME STATE PRIORITY.
        #[arg(required = true, num_args = 1..=4)]
        args: Vec<String>,
    },
}

/// Runs an `ha` subcommand.
pub fn run(cmd: HaCommand) -> ExitCode {
    match cmd {
        HaCommand::Render {
            config,
            output,
            router_name,
            binary,
            script_config,
            script_user,
            notify_log,
        } => {
            let script_config = match script_config {
                Some(p) => p,
                None => std::path::absolute(&config).unwrap_or_else(|_| config.clone()),
            };
            let router_name = router_name.unwrap_or_else(host_name);
            let opts = RenderOptions {
                router_name: &router_name,
                binary: &binary,
                config: &script_config,
                script_user: &script_user,
                notify_log: notify_log.as_deref(),
            };
            run_render(&config, output.as_deref(), &opts)
        }
        HaCommand::Check { config, socket } => {
            let socket = match socket.map_or_else(|| check::admin_socket(&config), Ok) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ringlb ha check: {e}");
                    return ExitCode::from(2);
                }
            };
            match check::check(&socket, CHECK_TIMEOUT) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ringlb ha check: unhealthy: {e}");
                    ExitCode::from(1)
                }
            }
        }
        HaCommand::Sync { config } => run_sync(&config),
        HaCommand::Notify { log, args } => match Transition::from_args(&args) {
            Ok(t) => {
                notify::notify(&t, log.as_deref());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ringlb ha notify: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn run_sync(path: &Path) -> ExitCode {
    let loaded = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])
        .and_then(|text| {
            config::load(path)
                .map(|c| (text, c))
                .map_err(|d| d.iter().map(|d| d.to_string()).collect())
        });
    let (text, cfg) = match loaded {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            eprintln!(
                "ringlb ha sync: {} is not valid; nothing pushed",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    if cfg.ha.as_ref().and_then(|h| h.sync.as_ref()).is_none() {
        eprintln!(
            "ringlb ha sync: {}: no [ha.sync] section: nothing says where the peer is (docs/ha.md)",
            path.display()
        );
        return ExitCode::from(2);
    }
    match super::sync::sync(path, &text, &cfg) {
        Ok(done) => {
            let peer = cfg
                .ha
                .as_ref()
                .and_then(|h| h.sync.as_ref())
                .map_or("", |s| s.peer.as_str());
            println!(
                "ringlb ha sync: pushed {} and {} file(s) to {peer}; ringlb check passed there and it reloaded",
                path.display(),
                done.files.len()
            );
            for f in &done.files {
                println!("  {}", f.display());
            }
            if !done.reload.is_empty() {
                println!("{}", done.reload);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringlb ha sync: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_render(config: &Path, output: Option<&Path>, opts: &RenderOptions<'_>) -> ExitCode {
    let cfg = match config::load(config) {
        Ok(c) => c,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{}: {} error(s)", config.display(), diags.len());
            return ExitCode::from(1);
        }
    };
    let Some(ha) = &cfg.ha else {
        eprintln!(
            "{}: no [ha] section: nothing to render (see docs/ha.md)",
            config.display()
        );
        return ExitCode::from(3);
    };
    let text = match render(ha, opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: [ha]: {e}", config.display());
            return ExitCode::from(1);
        }
    };
    let written = match output {
        None => std::io::stdout().write_all(text.as_bytes()),
        Some(out) => write_atomically(out, &text),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let to = output.map_or("stdout".to_string(), |p| p.display().to_string());
            eprintln!("ringlb ha render: cannot write {to}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Writes `text` beside `out` and renames it into place, so keepalived never reads half a
/// file. Mode 0640: the file may hold the VRRP password.
fn write_atomically(out: &Path, text: &str) -> std::io::Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keepalived.conf".into());
    let tmp = out.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, out));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// This host's name (the kernel's, as `hostname` prints it).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| FALLBACK_ROUTER_NAME.to_string())
}
