//! Reload: load and compile the config file again and publish it; new sessions and requests
//! use it, sessions in flight finish on the snapshot they started with. An invalid config
//! leaves the running one serving.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::notify;
use super::process::{fit_maxconn, make_logger, open_listeners, state_path};
use super::{Phase, Process, Tell};
use crate::config;
use crate::snapshot::Snapshot;

/// What a valid reload led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The new config is published; this process serves it.
    Applied,
    /// The worker count changes: a new process must take over.
    NeedsHandoff { from: usize, to: usize },
}

impl Process {
    /// Reloads the config file: on success new sessions and requests use it; on failure the
    /// running config stays and the diagnostics are returned.
    pub fn reload(&mut self) -> Result<Reloaded, Vec<String>> {
        let Some(path) = self.config_path.clone() else {
            return Err(vec!["no config file to reload".into()]);
        };
        let mut cfg =
            config::load(&path).map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>())?;
        fit_maxconn(&mut cfg);
        let state_file = state_path(&cfg);
        let prev = self.shared.snapshot.load_full();
        let snap = Snapshot::compile(cfg, Some(&prev)).map_err(|e| vec![e])?;
        // Workers are threads with their own rings: another count is a new process, started
        // like a binary upgrade (listening sockets handed over, nothing dropped).
        let want = snap.global.worker_count(&crate::system::cpus());
        if want != self.workers.len() {
            return Ok(Reloaded::NeedsHandoff {
                from: self.workers.len(),
                to: want,
            });
        }
        let old = self.shared.listeners.load_full();
        let listeners =
            open_listeners(&snap, &old, &mut HashMap::new()).map_err(|e| vec![e.to_string()])?;
        // Publish the config before the listeners so a new listener's first connection finds
        // its frontend.
        if snap.global.access_log != prev.global.access_log {
            let stats = self.shared.logger.load().stats.clone();
            self.shared.logger.store(make_logger(&snap, stats));
        }
        self.shared.snapshot.store(Arc::new(snap));
        self.saver.set_path(state_file);
        self.shared.listeners.store(Arc::new(listeners));
        for w in &self.workers {
            w.notify();
        }
        if let Some(c) = &self.checker {
            c.notify();
        }
        Ok(Reloaded::Applied)
    }

    /// A reload as the control loop runs it (SIGHUP, `ringlb reload`): the phases, their
    /// events and sd_notify messages, and the reload counters.
    pub(super) fn reload_reported(&mut self) -> Result<Reloaded, Vec<String>> {
        let keys = format!("RELOADING=1\nMONOTONIC_USEC={}", notify::monotonic_usec());
        self.enter(Phase::Reloading, "", Tell::Status(&keys, "reloading"));
        let process = self.shared.process.clone();
        match self.reload() {
            Ok(Reloaded::Applied) => {
                process.reloads_ok.fetch_add(1, Ordering::Relaxed);
                self.enter(
                    Phase::Running,
                    "reload done: new sessions and requests use the new config",
                    Tell::Status("READY=1", "running (reloaded)"),
                );
                Ok(Reloaded::Applied)
            }
            Ok(r @ Reloaded::NeedsHandoff { from, to }) => {
                crate::log::event(format_args!(
                    "reload: workers change from {from} to {to}: handing over to a new process"
                ));
                Ok(r)
            }
            Err(errs) => {
                process.reloads_failed.fetch_add(1, Ordering::Relaxed);
                for e in &errs {
                    crate::log::event(e);
                }
                let status = format!(
                    "reload failed, previous config still serving: {}",
                    errs.first().map(String::as_str).unwrap_or("")
                );
                self.enter(
                    Phase::Running,
                    "reload failed: the previous config keeps serving",
                    Tell::Status("READY=1", &status),
                );
                Err(errs)
            }
        }
    }

    /// Records and reports a reload that could not be completed (its new process failed).
    pub(super) fn reload_failed(&mut self, why: &str) {
        self.shared
            .process
            .reloads_failed
            .fetch_add(1, Ordering::Relaxed);
        let status = format!("reload failed, previous config still serving: {why}");
        self.enter(
            Phase::Running,
            format_args!("reload failed: {why}; the previous config keeps serving"),
            Tell::Status("READY=1", &status),
        );
    }
}
