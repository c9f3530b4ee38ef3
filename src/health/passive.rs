//! Passive health checks: what the sessions see in traffic (failed connects, 5xx responses)
//! counts toward taking a server down; enough in a row do. The checker then probes it back
//! (its active check, or a plain connect when it has none).

use std::sync::atomic::Ordering;

use super::log_transition;
use super::state::Transition;
use crate::snapshot::{BackendRt, ServerRt};

/// Counts a connect failure or 5xx from `srv` of `be`; `be.passive_errors` in a row take the
/// server down until an active check (or the passive probe) brings it back. Lock-free: called
/// from the workers' request path.
pub fn passive_failure(be: &BackendRt, srv: &ServerRt) {
    if be.passive_errors == 0 {
        return;
    }
    let n = srv.state.passive_errors.fetch_add(1, Ordering::Relaxed) + 1;
    if n >= be.passive_errors && srv.state.up.swap(false, Ordering::AcqRel) {
        log_transition(
            Some(be),
            &format!("{}/{}", be.name, srv.name),
            Transition::WentDown,
            &format!("{n} consecutive errors seen in traffic (passive check)"),
        );
    }
}

/// A good answer from `srv` resets its passive error count.
pub fn passive_success(srv: &ServerRt) {
    if srv.state.passive_errors.load(Ordering::Relaxed) != 0 {
        srv.state.passive_errors.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshot;

    fn snapshot(errors: u32) -> Snapshot {
        let text = format!(
            "[frontend.a]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"b\"\n[backend.b]\n\
             [backend.b.passive]\nerrors = {errors}\n\
             [[backend.b.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n"
        );
        Snapshot::compile(crate::config::parse_str(&text, "t").unwrap(), None).unwrap()
    }

    #[test]
    fn errors_in_a_row_take_the_server_down_and_a_success_resets_the_count() {
        let snap = snapshot(2);
        let (be, srv) = (&snap.backends[0], &snap.backends[0].servers[0]);
        passive_failure(be, srv);
        passive_success(srv);
        passive_failure(be, srv);
        assert!(srv.state.up.load(Ordering::Relaxed), "not two in a row");
        passive_failure(be, srv);
        assert!(!srv.state.up.load(Ordering::Relaxed), "two in a row");
    }

    #[test]
    fn off_when_the_backend_has_no_passive_check() {
        let snap = snapshot(0);
        let (be, srv) = (&snap.backends[0], &snap.backends[0].servers[0]);
        for _ in 0..10 {
            passive_failure(be, srv);
        }
        assert!(srv.state.up.load(Ordering::Relaxed));
    }
}
