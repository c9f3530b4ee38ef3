//! The soak's latency record: every answered request's and round trip's time, and for each
//! one slower than [`SLOW`] where it was and what happened meanwhile; reported, not asserted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::watch::Watch;

/// A request or round trip slower than this is reported as slow, with where it was.
pub const SLOW: Duration = Duration::from_secs(1);
/// How many of the slowest requests are printed.
const SLOWEST_SHOWN: usize = 25;

/// Every latency, and the slow requests in detail.
#[derive(Default)]
pub struct Latencies {
    /// Milliseconds taken by every answered request and round trip, for the percentiles.
    all: Mutex<Vec<u32>>,
    /// Requests and round trips slower than [`SLOW`], with where they were.
    slow: Mutex<Vec<Slow>>,
}

impl Latencies {
    /// Records one latency; `slow` says where a request slower than [`SLOW`] was.
    pub fn record(&self, took: Duration, slow: impl FnOnce() -> Slow) {
        let ms = took.as_millis().min(u128::from(u32::MAX)) as u32;
        self.all.lock().unwrap().push(ms);
        if took > SLOW {
            self.slow.lock().unwrap().push(slow());
        }
    }

    /// Prints the percentiles, the slow requests by kind and the slowest ones with their
    /// access log times (from `log`) and what `watch` saw meanwhile.
    pub fn report(&self, log: &str, watch: &Watch) {
        let mut all = std::mem::take(&mut *self.all.lock().unwrap());
        all.sort_unstable();
        let mut slow = self.slow.lock().unwrap().clone();
        slow.sort_by_key(|s| std::cmp::Reverse(s.took));
        println!(
            "soak: latency of {} answered requests and round trips (ms): p50 {}, p99 {}, p99.9 {}, max {}; {} took longer than {SLOW:?} (reported, not failed)",
            all.len(),
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            percentile(&all, 99.9),
            all.last().copied().unwrap_or(0),
            slow.len()
        );
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for s in &slow {
            *kinds.entry(kind(s)).or_default() += 1;
        }
        for (k, n) in &kinds {
            println!("soak: slow {n} × {k}");
        }
        println!("soak: {}", watch.summary());
        for s in slow.iter().take(SLOWEST_SHOWN) {
            println!("soak: slow {}", describe(s, log, watch));
        }
    }
}

/// Where the soak was when a request started or ended.
#[derive(Debug, Clone)]
pub struct Where {
    /// Binary upgrades done: the generation of the process that accepts.
    pub generation: u64,
    /// The last operation begun (`reload 12`, `upgrade 3 (after reload 70)`).
    pub during: String,
    /// Its admin command is still running.
    pub busy: bool,
    /// The previous generation is still draining.
    pub draining: bool,
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gen {}", self.generation)?;
        if self.draining {
            write!(f, " (gen {} draining)", self.generation.saturating_sub(1))?;
        }
        write!(
            f,
            ", {} {}",
            if self.busy { "during" } else { "after" },
            self.during
        )
    }
}

/// A request or round trip slower than [`SLOW`].
#[derive(Debug, Clone)]
pub struct Slow {
    pub id: String,
    /// `new connection`, `kept-alive #N`, `websocket round trip`.
    pub conn: String,
    pub method: &'static str,
    pub took: Duration,
    /// Connect (new connections only), send, wait for the head, body.
    pub steps: [Option<Duration>; 4],
    /// Both ends of its TCP connection as the kernel saw them when it ended (`ss -ti`).
    pub tcp: String,
    /// When the request was sent (wall clock, to compare with its access log line).
    pub sent: SystemTime,
    /// Seconds since the soak began, at the start and at the end.
    pub at: (f64, f64),
    pub start: Where,
    pub end: Where,
}

/// What the client knows of a slow request besides its times.
pub struct SlowInfo {
    pub id: String,
    pub conn: String,
    pub method: &'static str,
    pub steps: [Option<Duration>; 4],
    /// The client end's local port, to find the connection in `ss`.
    pub port: Option<u16>,
}

/// The access log line of request `id`: when ringlb read its first byte (its date, as
/// seconds since the epoch) and its `Tq/Tw/Tc/Tr/Ta` field.
fn logged_times(log: &str, id: &str) -> Option<(f64, String)> {
    let needle = format!("id={id} HTTP/1.1\"");
    let line = log.lines().find(|l| l.contains(&needle))?;
    let date = line.split('[').nth(1)?.split(']').next()?;
    let before = line.split(" \"").next().unwrap_or("");
    let f: Vec<&str> = before.split_whitespace().collect();
    let times = f.get(f.len().checked_sub(8)?)?.to_string();
    Some((epoch_of(date)?, times))
}

/// `06/Dec/2026:08:56:07.123` (UTC) as seconds since the epoch.
fn epoch_of(date: &str) -> Option<f64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut p = date.split(['/', ':']);
    let day: i64 = p.next()?.parse().ok()?;
    let mon = p.next()?;
    let m = MONTHS.iter().position(|x| *x == mon)? as i64 + 1;
    let y: i64 = p.next()?.parse().ok()?;
    let (hh, mm): (i64, i64) = (p.next()?.parse().ok()?, p.next()?.parse().ok()?);
    let ss: f64 = p.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60) as f64 + ss)
}

/// One slow request as a report line: its times, where it was, and what ringlb logged.
fn describe(s: &Slow, log: &str, watch: &Watch) -> String {
    let ms = |d: Option<Duration>| {
        d.map(|d| format!("{}", d.as_millis()))
            .unwrap_or_else(|| "-".into())
    };
    let base = s.id.split(' ').next().unwrap_or(&s.id);
    let sent = s.sent.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ringlb = match logged_times(log, base) {
        // A round trip's tunnel has one line, for the whole tunnel: its times say nothing of
        // this round trip.
        Some((first_byte, times)) if !s.conn.starts_with("websocket") => format!(
            "ringlb read its first byte {:+.3}s after it was sent, Tq/Tw/Tc/Tr/Ta {times}",
            first_byte - sent.as_secs_f64()
        ),
        Some((_, times)) => format!("tunnel logged {times}"),
        None => "not logged".into(),
    };
    format!(
        "{} {:.3}s: {} {} at {:.2}s..{:.2}s; started {}, ended {}; connect/send/head/body ms {}/{}/{}/{}; {ringlb}; TCP {}; {}",
        s.id,
        s.took.as_secs_f64(),
        s.method,
        s.conn,
        s.at.0,
        s.at.1,
        s.start,
        s.end,
        ms(s.steps[0]),
        ms(s.steps[1]),
        ms(s.steps[2]),
        ms(s.steps[3]),
        s.tcp,
        watch.meanwhile(s.at)
    )
}

/// The kind of a slow request for the counts: its connection, method and where it began.
fn kind(s: &Slow) -> String {
    let conn = if s.conn.starts_with("kept-alive #0") {
        "kept-alive (first request)"
    } else if s.conn.starts_with("kept-alive") {
        "kept-alive"
    } else {
        &s.conn
    };
    let op = if s.start.during.starts_with("upgrade") || s.end.during.starts_with("upgrade") {
        "upgrade"
    } else {
        "reload"
    };
    let when = match (
        s.start.busy || s.end.busy,
        s.start.draining || s.end.draining,
    ) {
        (true, _) => format!("{op} command running"),
        (false, true) => "previous generation draining".to_string(),
        (false, false) => "between operations".to_string(),
    };
    format!("{} {conn}, {when}", s.method)
}

/// The `p`th percentile of sorted `v`.
fn percentile(v: &[u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
    v[i.min(v.len() - 1)]
}
