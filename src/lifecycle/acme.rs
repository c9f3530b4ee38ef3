//! Installing a certificate the ACME thread got: the running config is compiled again
//! (which loads the new certificate from the state directory) and published as a reload
//! publishes, so new handshakes use it and connections already open keep theirs.

use std::sync::Arc;

use super::Process;
use crate::snapshot::Snapshot;

impl Process {
    /// Compiles and publishes the running config again for `frontend`'s new certificate.
    pub(super) fn install_certificate(&mut self, frontend: &str) {
        let prev = self.shared.snapshot.load_full();
        match Snapshot::compile(self.config.clone(), Some(&prev)) {
            Ok(snap) => {
                let generation = snap.generation;
                self.shared.snapshot.store(Arc::new(snap));
                for w in &self.workers {
                    w.notify();
                }
                if let Some(c) = &self.checker {
                    c.notify();
                }
                crate::log::event(format_args!(
                    "acme: frontend {frontend}: new certificate installed (generation \
                     {generation}); new handshakes use it"
                ));
            }
            Err(e) => crate::log::event(format_args!(
                "acme: frontend {frontend}: the new certificate could not be installed, the \
                 previous one keeps serving: {e}"
            )),
        }
        if let Some(a) = &self.acme {
            a.wake();
        }
    }
}
