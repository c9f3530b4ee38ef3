//! The admin commands: one grammar for a command line, and the answers to those that read or
//! change server state. Commands that change the process (`reload`, `upgrade`) are parsed here
//! and run by the control thread (`lifecycle`), which owns the process.

use std::sync::atomic::Ordering;

use super::change::{apply, ServerChange};
use super::collect::collect;
use super::protocol::Reply;
use crate::snapshot::Snapshot;
use crate::state::{admin, ProcessState};

/// The commands listed when a line is not one of them.
const HELP: &str = "status, reload, upgrade, show servers, show stat, show info, show certs, show table [FRONTEND], \
     renew certs [FRONTEND], \
     set server B/S state ready|drain|maint, set server B/S weight N, enable|disable health B/S";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Load the config file again (`ringlb reload`).
    Reload,
    /// Hand the listening sockets to a new binary (`ringlb upgrade`).
    Upgrade,
    /// Renew the ACME certificate of one frontend (or all) now.
    RenewCerts(Option<String>),
    /// Read or change server state: [`answer`] runs it.
    State(StateCommand),
}

/// A command that reads or changes server state, not the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateCommand {
    /// pid, config generation, connections: `ringlb ha check` asks this.
    Status,
    ShowServers,
    /// The stats model as CSV.
    ShowStat,
    ShowInfo,
    /// Every certificate served, and where each ACME certificate stands.
    ShowCerts,
    /// The tracking tables (of one frontend, or all): figures and entries.
    ShowTable(Option<String>),
    Change {
        backend: String,
        server: String,
        change: ServerChange,
    },
}

impl Command {
    /// Parses one command line; the error is the reply's reason.
    pub fn parse(line: &str) -> Result<Command, String> {
        let words = line.split_whitespace().collect::<Vec<_>>();
        let state = |c| Ok(Command::State(c));
        match words.as_slice() {
            ["reload"] => Ok(Command::Reload),
            ["upgrade"] => Ok(Command::Upgrade),
            ["status"] => state(StateCommand::Status),
            ["show", "servers"] => state(StateCommand::ShowServers),
            ["show", "stat"] => state(StateCommand::ShowStat),
            ["show", "info"] => state(StateCommand::ShowInfo),
            ["show", "certs"] => state(StateCommand::ShowCerts),
            ["renew", "certs"] => Ok(Command::RenewCerts(None)),
            ["renew", "certs", fe] => Ok(Command::RenewCerts(Some((*fe).to_owned()))),
            ["show", "table"] => state(StateCommand::ShowTable(None)),
            ["show", "table", fe] => state(StateCommand::ShowTable(Some(fe.to_string()))),
            ["set", "server", target, "state", st] => {
                let st = match *st {
                    "ready" => admin::READY,
                    "drain" => admin::DRAIN,
                    "maint" => admin::MAINT,
                    other => return Err(format!("unknown state {other:?} (ready, drain, maint)")),
                };
                change(target, ServerChange::State(st))
            }
            ["set", "server", target, "weight", w] => match w.parse::<u32>() {
                Ok(w) => change(target, ServerChange::Weight(w)),
                Err(_) => Err(format!("weight must be a number 0..=256, got {w:?}")),
            },
            ["enable", "health", target] => change(target, ServerChange::Checks(true)),
            ["disable", "health", target] => change(target, ServerChange::Checks(false)),
            _ => Err(format!(
                "unknown command {:?} (try: {HELP})",
                words.join(" ")
            )),
        }
    }
}

/// A change to the server `target` (`BACKEND/SERVER`).
fn change(target: &str, change: ServerChange) -> Result<Command, String> {
    let (backend, server) = target
        .split_once('/')
        .ok_or_else(|| format!("expected BACKEND/SERVER, got {target:?}"))?;
    Ok(Command::State(StateCommand::Change {
        backend: backend.to_string(),
        server: server.to_string(),
        change,
    }))
}

/// Runs `cmd` against the running snapshot and state; a change is logged as an event.
pub fn answer(cmd: &StateCommand, snap: &Snapshot, process: &ProcessState) -> Reply {
    match cmd {
        StateCommand::Status => Reply::ok(vec![
            format!("pid {}", std::process::id()),
            format!("generation {}", snap.generation),
            format!("connections {}", process.conns.load(Ordering::Relaxed)),
        ]),
        StateCommand::ShowServers => {
            let model = collect(snap, process);
            let mut lines =
                vec!["# backend server address status weight cur total check".to_string()];
            for b in &model.backends {
                for sv in &b.servers {
                    lines.push(format!(
                        "{} {} {} {} {} {} {} {}",
                        b.name,
                        sv.name,
                        sv.addr,
                        sv.status.label(),
                        sv.weight,
                        sv.cur,
                        sv.total,
                        sv.check
                            .as_ref()
                            .map(|c| c.last_result.replace(' ', "_"))
                            .unwrap_or_else(|| "-".into())
                    ));
                }
            }
            Reply::ok(lines)
        }
        StateCommand::ShowStat => {
            let model = collect(snap, process);
            Reply::ok(
                crate::stats::render_csv(&model)
                    .lines()
                    .map(String::from)
                    .collect(),
            )
        }
        StateCommand::ShowInfo => {
            let model = collect(snap, process);
            let p = &model.process;
            Reply::ok(vec![
                "Name: ringlb".to_string(),
                format!("Version: {}", model.version),
                format!("Pid: {}", model.pid),
                format!("Uptime_sec: {}", model.uptime_s),
                format!("CurrConns: {}", p.conns),
                format!("Maxconn: {}", p.maxconn),
                format!("Workers: {}", p.workers),
                format!("Reloads: {}", p.reloads_ok),
                format!("ReloadsFailed: {}", p.reloads_failed),
                format!("LogLines: {}", p.log_lines),
                format!("LogDropped: {}", p.log_dropped),
                format!("ConfigGeneration: {}", p.config_generation),
            ])
        }
        StateCommand::ShowCerts => Reply::ok(super::certs::lines(&collect(snap, process))),
        StateCommand::ShowTable(which) => show_table(snap, which.as_deref()),
        StateCommand::Change {
            backend,
            server,
            change,
        } => match apply(snap, backend, server, change) {
            Ok(msg) => {
                crate::log::event(format_args!("admin: {msg}"));
                Reply::ok(vec![msg])
            }
            Err(e) => Reply::err(e),
        },
    }
}

/// Entries `show table` lists per table at most (the busiest first).
const TABLE_SHOWN: usize = 1000;

/// `show table [FRONTEND]`: per table a `# table:` line with its figures, then one line per
/// live entry, busiest (request rate) first.
#[allow(
    clippy::disallowed_methods,
    reason = "an entry's rates and idle time are read at the moment the command runs"
)]
fn show_table(snap: &Snapshot, which: Option<&str>) -> Reply {
    let now = std::time::Instant::now();
    let mut lines = Vec::new();
    let tables = snap
        .frontends
        .iter()
        .filter(|f| which.is_none_or(|w| w == f.name))
        .filter_map(|f| f.track.as_ref().map(|t| (f, t)));
    for (f, t) in tables {
        let at = t.ms(now);
        let st = t.stats(at);
        lines.push(format!(
            "# table: {}, key: {}, size: {}, used: {}, bytes: {}, evictions: {}, full: {}, denials: {}",
            f.name,
            t.key_kind().shown(),
            st.size,
            st.entries,
            st.bytes,
            st.evictions,
            st.full,
            st.denials
        ));
        let entries = t.entries(at, TABLE_SHOWN);
        for e in &entries {
            let mut line = format!("key={} idle_ms={}", e.key, e.idle_ms);
            for c in crate::track::Counter::ALL {
                line.push_str(&format!(" {}={}", c.name(), e.sample.get(c)));
            }
            lines.push(line);
        }
        if st.entries > entries.len() as u64 {
            lines.push(format!(
                "# {} more entries not shown",
                st.entries - entries.len() as u64
            ));
        }
    }
    if lines.is_empty() {
        return match which {
            Some(w) => Reply::err(format!("no frontend {w:?} with a tracking table")),
            None => Reply::ok(vec!["# no frontend tracks clients".to_string()]),
        };
    }
    Reply::ok(lines)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(Command::parse(" reload "), Ok(Command::Reload));
        assert_eq!(Command::parse("upgrade"), Ok(Command::Upgrade));
        assert_eq!(
            Command::parse("status"),
            Ok(Command::State(StateCommand::Status))
        );
        assert_eq!(
            Command::parse("set server web/a state drain"),
            Ok(Command::State(StateCommand::Change {
                backend: "web".into(),
                server: "a".into(),
                change: ServerChange::State(admin::DRAIN),
            }))
        );
        assert_eq!(
            Command::parse("disable health web/a"),
            Ok(Command::State(StateCommand::Change {
                backend: "web".into(),
                server: "a".into(),
                change: ServerChange::Checks(false),
            }))
        );
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(Command::parse("set server web/a state up")
            .unwrap_err()
            .contains("unknown state \"up\""));
        assert!(Command::parse("set server web state ready")
            .unwrap_err()
            .contains("expected BACKEND/SERVER"));
        assert!(Command::parse("set server web/a weight x")
            .unwrap_err()
            .contains("weight must be a number"));
        assert!(Command::parse("frobnicate")
            .unwrap_err()
            .starts_with("unknown command \"frobnicate\" (try: status"));
    }
}
