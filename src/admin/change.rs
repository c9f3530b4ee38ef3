//! Operator changes to a server: administrative state, weight, health checks on or off.
//! They take effect on every worker at once (atomics in the shared server state) and survive
//! reloads (the state carries over).

use std::sync::atomic::Ordering;

use crate::snapshot::Snapshot;
use crate::state::admin;
use crate::stats::{AdminAction, AdminRequest};

/// An operator's change to a server, from the admin socket or the stats page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChange {
    State(u8),
    Weight(u32),
    Checks(bool),
}

/// Applies `change` to `backend/server`; returns the line that says what changed.
pub fn apply(
    snap: &Snapshot,
    backend: &str,
    server: &str,
    change: &ServerChange,
) -> Result<String, String> {
    let be = snap
        .backends
        .iter()
        .find(|b| b.name == backend)
        .ok_or_else(|| format!("no backend {backend:?}"))?;
    let srv = be
        .servers
        .iter()
        .find(|s| s.name == server)
        .ok_or_else(|| format!("no server {server:?} in backend {backend:?}"))?;
    match change {
        ServerChange::State(s) => {
            let was = srv.state.admin.swap(*s, Ordering::AcqRel);
            if was != admin::READY && *s == admin::READY {
                // Back in service: slow start applies as after a health recovery.
                srv.state.came_back();
            }
            Ok(format!("{backend}/{server} is now {}", admin::name(*s)))
        }
        ServerChange::Weight(w) => {
            if *w > 256 {
                return Err("weight must be 0..=256".into());
            }
            srv.state.weight_override.store(*w, Ordering::Release);
            Ok(format!("{backend}/{server} weight {w}"))
        }
        ServerChange::Checks(on) => {
            srv.state.checks_disabled.store(!on, Ordering::Release);
            Ok(format!(
                "{backend}/{server} health checks {}",
                if *on { "enabled" } else { "disabled" }
            ))
        }
    }
}

/// Applies an action of the stats page's admin form and logs it as an event.
pub fn apply_form(snap: &Snapshot, form: &AdminRequest) -> Result<String, String> {
    let state = match form.action {
        AdminAction::Ready => admin::READY,
        AdminAction::Drain => admin::DRAIN,
        AdminAction::Maint => admin::MAINT,
    };
    let msg = apply(
        snap,
        &form.backend,
        &form.server,
        &ServerChange::State(state),
    )?;
    crate::log::event(format_args!("stats page admin: {msg}"));
    Ok(msg)
}
