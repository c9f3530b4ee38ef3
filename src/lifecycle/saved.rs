//! Server state that outlives a process, as HAProxy's server-state file: each server's admin
//! state (ready / drain / maint), runtime weight, health checks on or off, and health (UP /
//! DOWN, progress toward `rise`/`fall`, last check, since when). It travels two ways:
//! - to the new process of a binary upgrade (or of a reload that changes the worker count),
//!   over the handoff socket, taken at the moment of the handoff;
//! - to the next start (restart, reboot), through the state file, written atomically (a
//!   temporary file renamed over it) within a second of a change and at shutdown.
//!
//! Entries are matched by backend and server name. Admin state and weight apply to the server
//! of that name; health applies only when its address is the same too (a verdict about another
//! machine means nothing) and the server is still checked (an unchecked server is always UP).
//! A runtime weight is dropped when the configured weight changed since it was set. Entries
//! for servers that no longer exist are ignored with an event line; an unreadable file is
//! logged and ringlb starts without it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;
use crate::state::admin;

/// Format version written; files of a later version are not read.
pub const VERSION: u32 = 1;

/// Everything saved: one entry per server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    pub version: u32,
    /// When it was taken (Unix time, ms): the ages below count from here.
    pub written_unix_ms: u64,
    #[serde(default, rename = "server")]
    pub servers: Vec<SavedServer>,
}

/// One server's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedServer {
    pub backend: String,
    pub name: String,
    /// Its address then: health is restored only if it is the same now.
    pub address: String,
    /// `ready`, `drain` or `maint`.
    pub admin: String,
    /// Weight set at runtime, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The configured weight then: a runtime weight is kept only while it is unchanged.
    pub config_weight: u32,
    /// Health checks enabled (an operator may have paused them).
    pub checks: bool,
    pub up: bool,
    /// Consecutive results toward a change of verdict.
    #[serde(default)]
    pub streak: u32,
    #[serde(default)]
    pub failed_total: u64,
    #[serde(default)]
    pub downs: u64,
    /// Age of the verdict when taken, in ms.
    #[serde(default)]
    pub since_ms: u64,
    /// Time spent DOWN before the current verdict, in ms.
    #[serde(default)]
    pub downtime_ms: u64,
    /// The last check result ("L7OK 200", "L4CON connection refused", …).
    #[serde(default)]
    pub last_check: String,
    #[serde(default)]
    pub last_check_ms: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl SavedState {
    /// The state of every server of `snap` now.
    pub fn capture(snap: &Snapshot) -> SavedState {
        let now = Instant::now();
        let mut servers = Vec::new();
        for be in &snap.backends {
            for srv in &be.servers {
                let st = &srv.state;
                let report = st.check.lock().map(|r| r.clone()).unwrap_or_default();
                let weight = match st.weight_override.load(Ordering::Relaxed) {
                    u32::MAX => None,
                    w => Some(w),
                };
                servers.push(SavedServer {
                    backend: be.name.clone(),
                    name: srv.name.clone(),
                    address: srv.addr.to_string(),
                    admin: admin::name(st.admin.load(Ordering::Relaxed)).to_string(),
                    weight,
                    config_weight: srv.weight,
                    checks: !st.checks_disabled.load(Ordering::Relaxed),
                    up: st.up.load(Ordering::Relaxed),
                    streak: report.streak,
                    failed_total: report.failed_total,
                    downs: report.downs,
                    since_ms: ms(now.saturating_duration_since(report.since)),
                    downtime_ms: ms(report.downtime),
                    last_check: report.last,
                    last_check_ms: ms(report.last_duration),
                });
            }
        }
        SavedState {
            version: VERSION,
            written_unix_ms: unix_ms(SystemTime::now()),
            servers,
        }
    }

    pub fn to_text(&self) -> Result<String, String> {
        toml::to_string(self)
            .map(|t| format!("# ringlb server state; rewritten by ringlb, edits are lost\n{t}"))
            .map_err(|e| e.to_string())
    }

    pub fn from_text(text: &str) -> Result<SavedState, String> {
        let s: SavedState = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        if s.version > VERSION {
            return Err(format!(
                "format version {} is newer than this ringlb reads ({VERSION})",
                s.version
            ));
        }
        Ok(s)
    }

    /// Applies the entries to the servers of `snap` (before its workers and checker start)
    /// and logs what was restored and what was not; `from` says where it came from.
    pub fn apply(&self, snap: &Snapshot, from: &str) {
        let now = Instant::now();
        // Time since it was taken: a verdict's age keeps growing while no process ran.
        let elapsed = unix_ms(SystemTime::now()).saturating_sub(self.written_unix_ms);
        let (mut restored, mut maint, mut drain, mut down, mut weights) = (0, 0, 0, 0, 0);
        for e in &self.servers {
            let label = format!("{}/{}", e.backend, e.name);
            let Some(be) = snap.backends.iter().find(|b| b.name == e.backend) else {
                crate::log::event(format_args!(
                    "state: server {label} is no longer configured (no backend {:?}); its saved state is ignored",
                    e.backend
                ));
                continue;
            };
            let Some(srv) = be.servers.iter().find(|s| s.name == e.name) else {
                crate::log::event(format_args!(
                    "state: server {label} is no longer configured; its saved state is ignored"
                ));
                continue;
            };
            let st = &srv.state;
            restored += 1;
            match admin::from_name(&e.admin) {
                Some(a) => {
                    st.admin.store(a, Ordering::Release);
                    maint += usize::from(a == admin::MAINT);
                    drain += usize::from(a == admin::DRAIN);
                }
                None => crate::log::event(format_args!(
                    "state: server {label}: unknown admin state {:?} ignored",
                    e.admin
                )),
            }
            st.checks_disabled.store(!e.checks, Ordering::Release);
            match e.weight {
                Some(w) if w > crate::config::defaults::MAX_WEIGHT => {
                    crate::log::event(format_args!(
                        "state: server {label}: saved weight {w} is out of range; ignored"
                    ));
                }
                Some(w) if e.config_weight == srv.weight => {
                    st.weight_override.store(w, Ordering::Release);
                    weights += 1;
                }
                Some(w) => crate::log::event(format_args!(
                    "state: server {label}: configured weight changed from {} to {}; the runtime weight {w} is dropped",
                    e.config_weight, srv.weight
                )),
                None => {}
            }
            let checked = srv.check.is_some() || be.passive_errors > 0;
            if !checked {
                continue;
            }
            if e.address != srv.addr.to_string() {
                crate::log::event(format_args!(
                    "state: server {label} moved from {} to {}; its health starts afresh",
                    e.address, srv.addr
                ));
                continue;
            }
            st.up.store(e.up, Ordering::Release);
            down += usize::from(!e.up);
            if let Ok(mut r) = st.check.lock() {
                let age = Duration::from_millis(e.since_ms.saturating_add(elapsed));
                r.since = now.checked_sub(age).unwrap_or(now);
                r.streak = e.streak;
                r.failed_total = e.failed_total;
                r.downs = e.downs;
                r.downtime = Duration::from_millis(e.downtime_ms);
                r.last = e.last_check.clone();
                r.last_duration = Duration::from_millis(e.last_check_ms);
            }
        }
        crate::log::event(format_args!(
            "state: restored {restored} of {} saved servers from {from}: {maint} in maint, {drain} draining, {down} DOWN, {weights} runtime weights",
            self.servers.len()
        ));
    }
}

/// Reads the state file at `path`; `None` (logged) when it is missing or unreadable.
pub fn load(path: &Path) -> Option<SavedState> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::log::event(format_args!(
                "state: no state file at {} yet; servers start as configured",
                path.display()
            ));
            return None;
        }
        Err(e) => {
            crate::log::event(format_args!(
                "state: cannot read the state file {}: {e}; servers start as configured",
                path.display()
            ));
            return None;
        }
    };
    match SavedState::from_text(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            crate::log::event(format_args!(
                "state: the state file {} is not usable ({}); servers start as configured, and the file is rewritten",
                path.display(),
                e.replace('\n', " ")
            ));
            None
        }
    }
}

/// Writes `text` to `path` atomically: a temporary file beside it, flushed to disk, renamed
/// over it, and the directory flushed, so a crash leaves the old file or the new one.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Keeps the state file up to date: written when the state changed (checked about once a
/// second by the control thread) and at shutdown.
#[derive(Debug, Default)]
pub struct Saver {
    path: Option<PathBuf>,
    /// Fingerprint of the state last written; `None` = never written by this process.
    written: Option<u64>,
    /// The last write error, said once until a write succeeds again.
    failing: Option<String>,
}

impl Saver {
    pub fn new(path: Option<PathBuf>) -> Saver {
        Saver {
            path,
            written: None,
            failing: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A reload may name another file: the next check writes it.
    pub fn set_path(&mut self, path: Option<PathBuf>) {
        if path != self.path {
            self.path = path;
            self.written = None;
            self.failing = None;
        }
    }

    /// Writes the file if the state changed since the last write.
    pub fn tick(&mut self, snap: &Snapshot) {
        if self.path.is_some() && self.written != Some(fingerprint(snap)) {
            self.save(snap);
        }
    }

    /// Writes the file now.
    pub fn save(&mut self, snap: &Snapshot) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let print = fingerprint(snap);
        let res = SavedState::capture(snap)
            .to_text()
            .map_err(|e| format!("cannot encode the state: {e}"))
            .and_then(|t| write_atomic(&path, &t).map_err(|e| e.to_string()));
        match res {
            Ok(()) => {
                if self.failing.take().is_some() {
                    crate::log::event(format_args!(
                        "state: the state file {} is written again",
                        path.display()
                    ));
                }
                self.written = Some(print);
            }
            Err(e) => {
                if self.failing.as_deref() != Some(e.as_str()) {
                    crate::log::event(format_args!(
                        "state: cannot write the state file {}: {e}; server state will not survive a restart",
                        path.display()
                    ));
                    self.failing = Some(e);
                }
                // Tried for this state: try again on the next change, not every second.
                self.written = Some(print);
            }
        }
    }
}

/// What a change of saved state changes: servers, their admin state, weight, checks switch
/// and verdict. Progress toward rise/fall and check texts are saved with these, not alone.
fn fingerprint(snap: &Snapshot) -> u64 {
    let mut h = DefaultHasher::new();
    for be in &snap.backends {
        be.name.hash(&mut h);
        for srv in &be.servers {
            let st = &srv.state;
            srv.name.hash(&mut h);
            srv.addr.hash(&mut h);
            srv.weight.hash(&mut h);
            st.up.load(Ordering::Relaxed).hash(&mut h);
            st.admin.load(Ordering::Relaxed).hash(&mut h);
            st.weight_override.load(Ordering::Relaxed).hash(&mut h);
            st.checks_disabled.load(Ordering::Relaxed).hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry() -> SavedServer {
        SavedServer {
            backend: "web".into(),
            name: "a".into(),
            address: "127.0.0.1:8080".into(),
            admin: "maint".into(),
            weight: Some(7),
            config_weight: 10,
            checks: true,
            up: false,
            streak: 1,
            failed_total: 4,
            downs: 2,
            since_ms: 1500,
            downtime_ms: 90_000,
            last_check: "L4CON connection refused".into(),
            last_check_ms: 3,
        }
    }

    #[test]
    fn text_round_trip() {
        let s = SavedState {
            version: VERSION,
            written_unix_ms: 1_700_000_000_000,
            servers: vec![
                entry(),
                SavedServer {
                    weight: None,
                    ..entry()
                },
            ],
        };
        let text = s.to_text().unwrap();
        assert!(text.contains("[[server]]"), "{text}");
        assert_eq!(SavedState::from_text(&text).unwrap(), s);
    }

    #[test]
    fn bad_files_say_why() {
        let e = SavedState::from_text("version = 1\n[[server]]\nbackend = 3\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        let e = SavedState::from_text("version = 9\nwritten_unix_ms = 0\n").unwrap_err();
        assert!(e.contains("newer"), "{e}");
        assert!(SavedState::from_text("\u{0}\u{1}garbage").is_err());
    }

    #[test]
    fn writes_replace_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("ringlb-saved-{}", std::process::id()));
        let path = dir.join("sub").join("state");
        write_atomic(&path, "one").unwrap();
        write_atomic(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let left: Vec<_> = std::fs::read_dir(dir.join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
