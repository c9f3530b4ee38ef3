//! Drain and stop: no new connections, sessions in flight finish up to `grace` (or not at all
//! on a fast stop), the workers and the checker exit.

use std::time::Duration;

use super::{Phase, Process, Tell};
use crate::worker::WorkerPhase;

/// How long an exiting process waits for its access log lines to be written.
const LOG_FLUSH_WAIT: Duration = Duration::from_secs(2);

impl Process {
    /// Stops accepting, lets sessions finish up to the grace period (or not, with `fast`),
    /// joins the workers.
    pub fn drain(mut self, fast: bool) {
        if let Some(c) = self.checker.take() {
            c.stop();
        }
        let phase = if fast {
            WorkerPhase::Stopping
        } else {
            WorkerPhase::Draining
        };
        self.shared.set_phase(phase);
        for w in &self.workers {
            w.notify();
        }
        for w in self.workers {
            w.join();
        }
        // The sessions' last lines are still queued: written before the process exits.
        let logger = self.shared.logger.load_full();
        if !logger.flush(LOG_FLUSH_WAIT) {
            crate::log::event(format_args!(
                "access log: lines still queued after {LOG_FLUSH_WAIT:?} are lost"
            ));
        }
    }

    /// SIGTERM (finish sessions) or SIGINT (`fast`: close them now), then exit.
    pub(super) fn stop(mut self, fast: bool) {
        self.enter(
            Phase::Draining,
            if fast {
                "stopping now"
            } else {
                "no new connections, finishing sessions"
            },
            Tell::Status("STOPPING=1", "draining"),
        );
        // Written once every check and session has stopped: the last word on the state.
        let snap = self.shared.snapshot.load_full();
        let mut saver = std::mem::take(&mut self.saver);
        self.drain(fast);
        saver.save(&snap);
        super::transition(Phase::Stopped, "", Tell::Status("", "stopped"));
    }

    /// After a handoff to process `successor`: stop accepting, finish sessions in flight (up
    /// to `grace`), exit. The successor already told systemd it is the main process, so
    /// systemd is told nothing more from here (no STOPPING=1).
    pub(super) fn finish_after_handoff(mut self, successor: u32) {
        // The successor owns the state file now: this process writes it no more.
        self.saver.set_path(None);
        self.enter(
            Phase::Draining,
            format_args!("handed over to process {successor}"),
            Tell::Nothing,
        );
        self.drain(false);
        super::transition(
            Phase::Stopped,
            "handed over and drained; exiting",
            Tell::Nothing,
        );
    }
}
