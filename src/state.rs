//! The mutable process state every thread shares: per-server health verdict, slots and
//! counters ([`ServerState`]), per-frontend counters ([`FrontendState`]), the cross-worker
//! queue order of a backend ([`BackendQueue`]), process-wide figures ([`ProcessState`],
//! [`LogStats`]) and the administrative states an operator sets.
//!
//! Owns no config and compiles nothing: the snapshot (`crate::snapshot`) holds `Arc`s to this
//! state, and a reload hands the same `Arc` to a server or frontend that stays, so health,
//! in-flight counts and counters carry over. Everything here is an atomic or a short-held
//! lock that is never taken per request (queues lock only while requests queue).
//!
//! May import std only; every other room may import it.

#![allow(
    clippy::disallowed_methods,
    reason = "the shared state starts its clocks (process start, a check report) when created"
)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod counter;
pub use counter::Counter;

/// Administrative state of a server, set over the admin socket or the stats page.
pub mod admin {
    /// Takes traffic as its health allows.
    pub const READY: u8 = 0;
    /// No new sessions except those a persistence cookie sends there.
    pub const DRAIN: u8 = 1;
    /// No traffic at all, health checks paused.
    pub const MAINT: u8 = 2;

    pub fn name(state: u8) -> &'static str {
        match state {
            DRAIN => "drain",
            MAINT => "maint",
            _ => "ready",
        }
    }

    /// The state named `name` (`ready`, `drain`, `maint`).
    pub fn from_name(name: &str) -> Option<u8> {
        match name {
            "ready" => Some(READY),
            "drain" => Some(DRAIN),
            "maint" => Some(MAINT),
            _ => None,
        }
    }
}

/// What the health checker last saw, for the stats page and logs (written a few times per
/// second at most, never on the request path).
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// "L7OK 200", "L7STS 500", "L4CON connection refused", …; empty before the first check.
    pub last: String,
    pub last_duration: Duration,
    pub failed_total: u64,
    pub downs: u64,
    /// When the health verdict last changed.
    pub since: Instant,
    pub downtime: Duration,
    /// Results toward a change of verdict (0 when stable).
    pub streak: u32,
}

impl Default for CheckReport {
    fn default() -> Self {
        CheckReport {
            last: String::new(),
            last_duration: Duration::ZERO,
            failed_total: 0,
            downs: 0,
            since: Instant::now(),
            downtime: Duration::ZERO,
            streak: 0,
        }
    }
}

/// Response counters by status class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
#[derive(Debug, Default)]
pub struct Responses(pub [Counter; 6]);

impl Responses {
    pub fn count(&self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        if let Some(c) = self.0.get(i) {
            c.add(1);
        }
    }

    pub fn get(&self) -> [u64; 6] {
        let mut out = [0; 6];
        for (o, c) in out.iter_mut().zip(self.0.iter()) {
            *o = c.get();
        }
        out
    }
}

/// State of one server shared by every worker (and kept across reloads).
#[derive(Debug)]
pub struct ServerState {
    /// Health verdict; `true` until a health check (or passive check) says otherwise.
    pub up: AtomicBool,
    /// [`admin`] state.
    pub admin: AtomicU8,
    /// Weight set at runtime; `u32::MAX` = the configured weight.
    pub weight_override: AtomicU32,
    /// Health checks paused by an operator (the verdict stays as it is).
    pub checks_disabled: AtomicBool,
    /// Requests (http) or connections (tcp) currently assigned: leastconn and maxconn read it.
    pub inflight: AtomicU32,
    /// Highest `inflight` seen.
    pub max_inflight: AtomicU32,
    /// Requests waiting for a slot on this server in particular (persistence, a held retry).
    pub queued: AtomicU32,
    /// Requests answered 503 at once because `queued` was at the server's `maxqueue`.
    pub queue_full: AtomicU64,
    /// When the server last came back into service (up again, re-enabled, added by a
    /// reload), in [`clock_ms`] time; 0 once its slow start is over (or never began).
    pub warm_since: AtomicU64,
    /// Requests or connections sent to this server since start.
    pub total: Counter,
    /// Failed connection attempts.
    pub connect_errors: AtomicU64,
    /// Responses that were bad or cut short.
    pub response_errors: AtomicU64,
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub responses: Responses,
    /// Consecutive connect failures or 5xx responses, for passive health checks.
    pub passive_errors: AtomicU32,
    pub check: Mutex<CheckReport>,
}

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            up: AtomicBool::new(true),
            admin: AtomicU8::new(admin::READY),
            weight_override: AtomicU32::new(u32::MAX),
            checks_disabled: AtomicBool::new(false),
            inflight: AtomicU32::new(0),
            max_inflight: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            queue_full: AtomicU64::new(0),
            warm_since: AtomicU64::new(0),
            total: Counter::new(),
            connect_errors: AtomicU64::new(0),
            response_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            redispatches: AtomicU64::new(0),
            bytes_in: Counter::new(),
            bytes_out: Counter::new(),
            responses: Responses::default(),
            passive_errors: AtomicU32::new(0),
            check: Mutex::new(CheckReport::default()),
        }
    }
}

impl ServerState {
    /// Takes a slot if the server is below `maxconn` (0 = unlimited).
    pub fn try_acquire(&self, maxconn: u32) -> bool {
        let got = if maxconn == 0 {
            self.inflight.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            let mut cur = self.inflight.load(Ordering::Acquire);
            loop {
                if cur >= maxconn {
                    return false;
                }
                match self.inflight.compare_exchange_weak(
                    cur,
                    cur + 1,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break cur + 1,
                    Err(now) => cur = now,
                }
            }
        };
        // Read first: the line is written only when a new high is reached.
        if got > self.max_inflight.load(Ordering::Relaxed) {
            self.max_inflight.fetch_max(got, Ordering::Relaxed);
        }
        true
    }

    pub fn release(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the balancer may send new (non-persistent) traffic here.
    pub fn usable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.admin.load(Ordering::Relaxed) == admin::READY
    }

    /// Whether a request that must go here (persistence) may.
    pub fn reachable(&self) -> bool {
        self.up.load(Ordering::Relaxed) && self.admin.load(Ordering::Relaxed) != admin::MAINT
    }

    /// The weight in force: the runtime override or `configured`.
    pub fn weight(&self, configured: u32) -> u32 {
        match self.weight_override.load(Ordering::Relaxed) {
            u32::MAX => configured,
            w => w,
        }
    }

    /// Starts the server's slow start: it came back up, was re-enabled, or a reload added it.
    pub fn came_back(&self) {
        self.warm_since.store(clock_ms(), Ordering::Release);
    }

    /// `full` (a weight) ramped by slow start over `window`: `full × elapsed / window`,
    /// rounded up, at least 1, and `full` once the window has passed (HAProxy's
    /// `server_recalc_eweight`). Reads the clock only while the server is warming up.
    pub fn ramped(&self, full: u32, window: Duration) -> u32 {
        let since = self.warm_since.load(Ordering::Relaxed);
        if since == 0 || window.is_zero() {
            return full;
        }
        ramp(full, clock_ms().saturating_sub(since), window).unwrap_or_else(|| {
            // Over: later picks skip the clock.
            let _ = self
                .warm_since
                .compare_exchange(since, 0, Ordering::AcqRel, Ordering::Relaxed);
            full
        })
    }
}

/// The ramped weight after `elapsed_ms` of a `window`; `None` once the window has passed.
pub fn ramp(full: u32, elapsed_ms: u64, window: Duration) -> Option<u32> {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    if elapsed_ms >= window_ms {
        return None;
    }
    let w = (u64::from(full) * elapsed_ms).div_ceil(window_ms).max(1);
    Some(u32::try_from(w).unwrap_or(full).min(full))
}

/// Milliseconds since the first call in this process, plus 1 (0 means "not set" in
/// [`ServerState::warm_since`]); monotonic.
pub fn clock_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Counters of one backend shared by every worker (kept across reloads by name).
#[derive(Debug, Default)]
pub struct BackendState {
    /// Requests answered 503 at once because the backend's queue was at its `maxqueue`.
    pub queue_full: AtomicU64,
}

/// The cross-worker order of requests waiting for a server slot of one backend.
#[derive(Debug, Default)]
pub struct BackendQueue {
    /// Tickets are handed out in arrival order.
    pub next: AtomicU64,
    /// Queued tickets; the smallest is served first.
    pub waiting: Mutex<BTreeSet<u64>>,
    /// `waiting` is non-empty (read without the lock on the request path).
    pub any: AtomicBool,
}

/// Log lines written and dropped since start (kept across reloads; the logger counts into it).
#[derive(Debug, Default)]
pub struct LogStats {
    pub lines: AtomicU64,
    pub dropped: AtomicU64,
}

/// Process-wide figures shared by every thread (kept across reloads, not across upgrades).
#[derive(Debug)]
pub struct ProcessState {
    /// Client connections open in the whole process (global maxconn).
    pub conns: AtomicU32,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub workers: AtomicU32,
    pub started: Instant,
    /// Log lines written and dropped (shared with the logger, which counts them).
    pub log: Arc<LogStats>,
    /// Totals at the last rate sample, for per-second rates on the stats page.
    pub rates: Mutex<RateSampler>,
}

impl Default for ProcessState {
    fn default() -> Self {
        ProcessState {
            conns: AtomicU32::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            workers: AtomicU32::new(0),
            started: Instant::now(),
            log: Arc::new(LogStats::default()),
            rates: Mutex::new(RateSampler::default()),
        }
    }
}

/// Per-second rates from counter totals sampled when the stats are read: the rate is the
/// change since the previous sample at least a second older, so it reads as "requests in the
/// last second or so" without a timer anywhere.
#[derive(Debug, Default)]
pub struct RateSampler {
    prev: HashMap<String, (Instant, u64)>,
    last: HashMap<String, (Instant, u64)>,
}

impl RateSampler {
    /// The rate of counter `key`, whose total is now `total`.
    pub fn rate(&mut self, key: &str, total: u64, now: Instant) -> u64 {
        let last = self.last.get(key).copied();
        match last {
            Some((t, v)) if now.duration_since(t).as_secs_f64() >= 1.0 => {
                self.prev.insert(key.to_string(), (t, v));
                self.last.insert(key.to_string(), (now, total));
            }
            None => {
                self.last.insert(key.to_string(), (now, total));
            }
            _ => {}
        }
        match self.prev.get(key) {
            Some(&(t, v)) => {
                let secs = now.duration_since(t).as_secs_f64().max(1.0);
                (total.saturating_sub(v) as f64 / secs).round() as u64
            }
            None => 0,
        }
    }
}

/// Counters of one frontend shared by every worker (kept across reloads by name).
#[derive(Debug, Default)]
pub struct FrontendState {
    /// Client connections open now.
    pub conns: AtomicU32,
    /// Highest `conns` seen.
    pub max_conns: AtomicU32,
    pub total_conns: Counter,
    pub requests: Counter,
    /// Requests ringlb answered itself with a 4xx (bad framing, timeouts).
    pub req_errors: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub responses: Responses,
    /// TLS handshakes completed on this frontend's TLS listeners.
    pub tls_handshakes: AtomicU64,
    /// Of those, the ones that resumed a session (a ticket): no full handshake.
    pub tls_resumed: AtomicU64,
    /// TLS handshakes that failed: not TLS, bad messages, nothing in common, or the client
    /// went away or stayed silent.
    pub tls_failed: AtomicU64,
    /// Connections closed because their PROXY protocol header was malformed, too long, or
    /// not complete within the frontend's `client` timeout.
    pub proxy_failed: AtomicU64,
    /// Connections refused because their peer may not send a PROXY header
    /// (`accept_proxy_from`).
    pub proxy_refused: AtomicU64,
    /// Sessions after their handshake whose records the kernel runs (kTLS).
    pub tls_ktls: AtomicU64,
    /// Sessions after their handshake whose records rustls runs in user space.
    pub tls_userspace: AtomicU64,
    /// Hand-overs to kTLS that failed after the keys left rustls (the connection was lost).
    pub tls_ktls_failed: AtomicU64,
    /// HTTP/2 connections, streams, limits hit and GOAWAYs sent.
    pub h2: H2Counters,
}

/// A frontend's HTTP/2 counters.
#[derive(Debug, Default)]
pub struct H2Counters {
    pub connections: AtomicU64,
    pub streams: AtomicU64,
    /// Per [`crate::h2::Limit`], in [`crate::h2::Limit::ALL`] order.
    pub limits: [AtomicU64; 9],
    /// GOAWAY frames sent, per error code (its wire value).
    pub goaway: [AtomicU64; 14],
    /// Request trailers dropped: the request went to its server with `content-length`,
    /// which leaves HTTP/1.1 no place for them.
    pub trailers_dropped: AtomicU64,
}

impl H2Counters {
    pub fn limit_hit(&self, limit: crate::h2::Limit) {
        if let Some(c) = self.limits.get(limit as usize) {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn goaway_sent(&self, code: crate::h2::frame::ErrorCode) {
        if let Some(c) = self.goaway.get(code as usize) {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// ACME: the `http-01` answers the sessions give, and how each frontend's certificate is
/// doing. Kept across reloads (the snapshot hands the same `Arc` on); written by the ACME
/// thread, read by sessions only for `/.well-known/acme-challenge/` requests and by the stats
/// page and admin commands.
#[derive(Debug, Default)]
pub struct AcmeState {
    /// Token → key authorization, while an `http-01` challenge is pending.
    pub tokens: std::sync::RwLock<HashMap<String, String>>,
    /// By frontend name.
    pub certs: Mutex<HashMap<String, AcmeStatus>>,
}

impl AcmeState {
    /// The key authorization for `token`, if a challenge is pending for it.
    pub fn answer(&self, token: &str) -> Option<String> {
        let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
        tokens.get(token).cloned()
    }

    /// A copy of one frontend's status.
    pub fn status(&self, frontend: &str) -> Option<AcmeStatus> {
        let certs = self.certs.lock().unwrap_or_else(|p| p.into_inner());
        certs.get(frontend).cloned()
    }

    /// Changes one frontend's status (created empty if new).
    pub fn update(&self, frontend: &str, f: impl FnOnce(&mut AcmeStatus)) {
        let mut certs = self.certs.lock().unwrap_or_else(|p| p.into_inner());
        f(certs.entry(frontend.to_owned()).or_default());
    }
}

/// Where one frontend's ACME certificate stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AcmeStatus {
    /// When the certificate served now should be renewed (`None`: none issued yet).
    pub renew_at: Option<std::time::SystemTime>,
    /// Why the last attempt failed; cleared by a success.
    pub last_error: Option<String>,
    /// Attempts failed in a row.
    pub failures: u32,
    /// When the next attempt starts, if one is scheduled.
    pub next_attempt: Option<std::time::SystemTime>,
    /// An attempt is running now.
    pub running: bool,
    /// Certificates issued and installed since start.
    pub issued_total: u64,
    /// Attempts failed since start.
    pub failed_total: u64,
}

#[cfg(test)]
mod tests {
    use super::ramp;
    use std::time::Duration;

    #[test]
    fn slow_start_ramps_from_one_to_full_and_ends() {
        let w = Duration::from_secs(10);
        assert_eq!(ramp(16, 0, w), Some(1));
        assert_eq!(ramp(16, 2_500, w), Some(4));
        assert_eq!(ramp(16, 5_000, w), Some(8));
        assert_eq!(ramp(16, 9_999, w), Some(16));
        assert_eq!(ramp(16, 10_000, w), None);
        // never above full, never 0, never decreasing
        let mut last = 0;
        for ms in (0..10_000).step_by(7) {
            let r = ramp(4096, ms, w).unwrap();
            assert!((1..=4096).contains(&r) && r >= last);
            last = r;
        }
        assert_eq!(
            ramp(u32::MAX, 9_000, w),
            Some((u64::from(u32::MAX) * 9 / 10) as u32 + 1)
        );
    }
}
