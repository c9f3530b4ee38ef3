//! Dropping privileges after the listening sockets are bound.
//!
//! ringlb starts as root (or with `CAP_NET_BIND_SERVICE`), binds, then switches to the
//! configured user and group with empty effective, permitted and inheritable capability sets
//! and `no_new_privs`. With `keep_bind_capability`, `CAP_NET_BIND_SERVICE` stays in the
//! *permitted* set only (effective stays empty), so a reload can raise it for the moment it
//! binds a new port below 1024 ([`with_bind_capability`]).
//!
//! Capabilities are per thread: this runs before any other thread is started, and the reload
//! bind happens on the same (main) thread.

use std::io;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Group, Uid, User};

#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    #[error("unknown user {0:?} (create it, e.g. with systemd-sysusers or useradd --system)")]
    UnknownUser(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error("cannot switch to user {user:?}: {source} (ringlb must start as root to change user)")]
    Switch { user: String, source: io::Error },
    #[error("cannot set capabilities: {0}")]
    Caps(String),
}

/// What `/proc/self/status` will show after [`drop_privileges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub uid: u32,
    pub gid: u32,
    pub kept_bind: bool,
}

fn io(e: nix::Error) -> io::Error {
    io::Error::from(e)
}

/// The user or group `name`, found with `find`; `unknown` when there is none.
fn lookup<T>(
    name: &str,
    find: fn(&str) -> nix::Result<Option<T>>,
    unknown: fn(String) -> PrivError,
) -> Result<T, PrivError> {
    find(name)
        .map_err(|e| PrivError::Switch {
            user: name.into(),
            source: io(e),
        })?
        .ok_or_else(|| unknown(name.into()))
}

/// Switches to `user`/`group` (if given) and clears capabilities.
pub fn drop_privileges(
    user: Option<&str>,
    group: Option<&str>,
    keep_bind: bool,
) -> Result<Dropped, PrivError> {
    let target_user = user
        .map(|name| lookup(name, User::from_name, PrivError::UnknownUser))
        .transpose()?;
    let target_gid = match group {
        Some(name) => Some(lookup(name, Group::from_name, PrivError::UnknownGroup)?.gid),
        None => target_user.as_ref().map(|u| u.gid),
    };
    let caps_err = |e: caps::errors::CapsError| PrivError::Caps(e.to_string());
    let running_as_root = Uid::effective().is_root();
    if let Some(u) = &target_user {
        if running_as_root || Uid::effective() != u.uid {
            let name = u.name.clone();
            let sw = |e: nix::Error| PrivError::Switch {
                user: name.clone(),
                source: io(e),
            };
            // Keep the permitted set across the uid change so the bind capability can stay.
            nix::sys::prctl::set_keepcaps(true).map_err(sw)?;
            let gid = target_gid.unwrap_or(u.gid);
            nix::unistd::setgroups(&[gid]).map_err(sw)?;
            nix::unistd::setresgid(gid, gid, gid).map_err(sw)?;
            nix::unistd::setresuid(u.uid, u.uid, u.uid).map_err(sw)?;
            nix::sys::prctl::set_keepcaps(false).map_err(sw)?;
        }
    } else if let Some(gid) = target_gid {
        let sw = |e: nix::Error| PrivError::Switch {
            user: "(group only)".into(),
            source: io(e),
        };
        nix::unistd::setresgid(gid, gid, gid).map_err(sw)?;
    }
    let mut keep = CapsHashSet::new();
    let have_bind =
        caps::has_cap(None, CapSet::Permitted, Capability::CAP_NET_BIND_SERVICE).unwrap_or(false);
    if keep_bind && have_bind {
        keep.insert(Capability::CAP_NET_BIND_SERVICE);
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_err)?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new()).map_err(caps_err)?;
    caps::set(None, CapSet::Effective, &CapsHashSet::new()).map_err(caps_err)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(caps_err)?;
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| PrivError::Caps(format!("PR_SET_NO_NEW_PRIVS: {e}")))?;
    Ok(Dropped {
        uid: Uid::effective().as_raw(),
        gid: Gid::effective().as_raw(),
        kept_bind: !keep.is_empty(),
    })
}

/// Runs `f` with `CAP_NET_BIND_SERVICE` raised in the effective set when it is permitted,
/// lowering it again afterwards. Without the capability, runs `f` as is.
pub fn with_bind_capability<T>(f: impl FnOnce() -> T) -> T {
    let permitted =
        caps::has_cap(None, CapSet::Permitted, Capability::CAP_NET_BIND_SERVICE).unwrap_or(false);
    let effective =
        caps::has_cap(None, CapSet::Effective, Capability::CAP_NET_BIND_SERVICE).unwrap_or(false);
    let raise = permitted && !effective;
    if raise {
        let _ = caps::raise(None, CapSet::Effective, Capability::CAP_NET_BIND_SERVICE);
    }
    let out = f();
    if raise {
        let _ = caps::drop(None, CapSet::Effective, Capability::CAP_NET_BIND_SERVICE);
    }
    out
}
