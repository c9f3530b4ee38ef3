//! What the soak watches besides its requests, so that a slow request can be told apart from
//! a slow machine: the listeners' accept queues (`ss`), the machine's stalls
//! (`/proc/pressure`), the network namespace's TCP drop and retransmission counters, the major
//! page faults and blocked threads of the ringlb processes, and stalls of the test process
//! itself (its clients and backends).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the listeners' accept queues and the machine's stalls are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// A 10 ms sleep of the test process that ends this much later is recorded as a stall of
/// the test process itself (its clients and backends), not of ringlb.
const LATE: Duration = Duration::from_millis(50);

/// The samples, and the processes to look at.
pub struct Watch {
    pub began: Instant,
    pub stop: AtomicBool,
    /// The pid of the process that accepts now.
    pub serving: AtomicU32,
    /// The pid of the previous generation while it drains (0: none); cleared by the sampler
    /// once that process has exited.
    pub draining: AtomicU32,
    /// What the sampler saw, every [`SAMPLE_EVERY`].
    samples: Mutex<Vec<Sample>>,
    /// Times this test process was not scheduled: (seconds since the soak began, how late a
    /// short sleep woke up), when later than [`LATE`].
    stalls: Mutex<Vec<(f64, Duration)>>,
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            began: Instant::now(),
            stop: AtomicBool::new(false),
            serving: AtomicU32::new(0),
            draining: AtomicU32::new(0),
            samples: Mutex::new(Vec::new()),
            stalls: Mutex::new(Vec::new()),
        }
    }
}

impl Watch {
    /// Starts the sampler (ringlb's listeners on `ports`, the backends' on `backends`) and
    /// the stall watch; both end when `stop` is set.
    pub fn spawn(self: &Arc<Self>, ports: Vec<u16>, backends: Vec<u16>) -> Vec<JoinHandle<()>> {
        let (a, b) = (self.clone(), self.clone());
        vec![
            std::thread::spawn(move || sampler(&a, &ports, &backends)),
            std::thread::spawn(move || stall_watch(&b)),
        ]
    }

    pub fn since_began(&self) -> f64 {
        self.began.elapsed().as_secs_f64()
    }

    /// The samples over the whole run, in one line.
    pub fn summary(&self) -> String {
        let (waiting, taken, most) = {
            let samples = self.samples.lock().unwrap();
            (
                samples.iter().filter(|x| x.queued > 0).count(),
                samples.len(),
                samples.iter().map(|x| x.queued).max().unwrap_or(0),
            )
        };
        let run = self.meanwhile((0.0, f64::MAX));
        format!(
            "accept queues (sampled every {SAMPLE_EVERY:?}): connections waiting in {waiting} of {taken} samples, at most {most}; over the run {}",
            run.replacen("meanwhile: ", "", 1)
        )
    }

    /// What the samples say about the time from `from` to `to` seconds: the most connections
    /// waiting in an accept queue, and how the machine stalled (ms) and ringlb faulted meanwhile.
    pub fn meanwhile(&self, (from, to): (f64, f64)) -> String {
        let samples = self.samples.lock().unwrap().clone();
        let stalls = self.stalls.lock().unwrap().clone();
        let first = samples
            .iter()
            .rev()
            .find(|x| x.at <= from)
            .or(samples.first());
        let last = samples.iter().find(|x| x.at >= to).or(samples.last());
        let during = || {
            samples
                .iter()
                .filter(move |x| x.at >= from - SAMPLE_EVERY.as_secs_f64() && x.at <= to)
        };
        let queued = during().map(|x| x.queued).max().unwrap_or(0);
        let backend_queued = during().map(|x| x.backend_queued).max().unwrap_or(0);
        let blocked = samples
            .iter()
            .filter(|x| x.at >= from && x.at <= to && x.blocked > 0)
            .count();
        let own: Duration = stalls
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, d)| *d)
            .sum();
        let (Some(a), Some(b)) = (first, last) else {
            return "no samples".into();
        };
        format!(
            "meanwhile: at most {queued} connections in ringlb's accept queues, {backend_queued} in the backends'; machine: CPU wait {} ms, I/O stall {} ms, memory stall {} ms, TCP accept-queue overflows {}, SYNs sent again {}, retransmission timeouts {}, packets dropped by a full input backlog {}; ringlb: workers waited {} ms for a CPU, {} major faults, a thread blocked in the kernel in {blocked} samples; test process: {} major faults, not scheduled for {} ms",
            b.cpu_some.saturating_sub(a.cpu_some) / 1000,
            b.io_full.saturating_sub(a.io_full) / 1000,
            b.memory_full.saturating_sub(a.memory_full) / 1000,
            b.tcp[0].saturating_sub(a.tcp[0]),
            b.tcp[1].saturating_sub(a.tcp[1]),
            b.tcp[2].saturating_sub(a.tcp[2]),
        b.softnet_drops.saturating_sub(a.softnet_drops),
            b.worker_wait.saturating_sub(a.worker_wait) / 1_000_000,
        b.major_faults.saturating_sub(a.major_faults),
            b.own_faults.saturating_sub(a.own_faults),
            own.as_millis()
        )
    }
}

/// One look at the listeners and the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Seconds since the soak began.
    at: f64,
    /// Connections waiting in the listeners' accept queues.
    queued: u32,
    /// Totals (µs) of `/proc/pressure`: some task waiting for a CPU; all tasks stalled on
    /// I/O; all tasks stalled on memory.
    cpu_some: u64,
    io_full: u64,
    memory_full: u64,
    /// Major page faults (pages read from disk) of the ringlb processes so far.
    major_faults: u64,
    /// Time (ns) ringlb's worker threads spent ready to run but waiting for a CPU so far
    /// (`/proc/PID/task/TID/schedstat`, all workers together).
    worker_wait: u64,
    /// Threads of the ringlb processes blocked in the kernel (state `D`: waiting for a disk,
    /// a page, a lock), at this sample.
    blocked: u32,
    /// Major page faults of this test process (clients and backends) so far.
    own_faults: u64,
    /// Connections waiting in the backends' accept queues.
    backend_queued: u32,
    /// The network namespace's TCP counters (every process on the machine counts in them):
    /// connections dropped because an accept queue was full (`ListenOverflows`), SYNs sent
    /// again (`TCPSynRetrans`), retransmission timeouts (`TCPTimeouts`).
    tcp: [u64; 3],
    /// Packets the kernel dropped because a CPU's input backlog was full
    /// (`/proc/net/softnet_stat`, every CPU): on loopback, a lost TCP segment that its
    /// sender must time out and send again.
    softnet_drops: u64,
}

/// Whether `pid` runs (a zombie has exited).
pub fn process_exists(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2).is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

/// Connections waiting in the accept queues of the listeners on `ports` (127.0.0.1), from
/// `ss -ltn` (netlink: listening sockets only, where `/proc/net/tcp` would list every
/// connection in TIME-WAIT too): for a listening socket, `Recv-Q` is the accept queue's
/// length.
fn accept_queues(ports: &[u16]) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .arg("-Hltn")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mine: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    Some(
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let local = f.get(3)?;
                mine.iter()
                    .any(|m| m == local)
                    .then(|| f.get(1)?.parse::<u32>().ok())?
            })
            .sum(),
    )
}

/// A `/proc/pressure/KIND` total (µs) for `some` or `full`.
fn pressure(kind: &str, which: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/pressure/{kind}")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(which))
        .and_then(|l| l.rsplit("total=").next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `ListenOverflows`, `TCPSynRetrans` and `TCPTimeouts` from `/proc/net/netstat`.
fn tcp_counters() -> [u64; 3] {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return [0; 3];
    };
    let pairs: BTreeMap<&str, u64> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter_map(|(n, v)| Some((n, v.parse().ok()?)))
        .collect();
    ["ListenOverflows", "TCPSynRetrans", "TCPTimeouts"].map(|k| pairs.get(k).copied().unwrap_or(0))
}

/// Packets dropped by every CPU's input backlog so far (the second column of
/// `/proc/net/softnet_stat`, hexadecimal).
fn softnet_drops() -> u64 {
    let text = std::fs::read_to_string("/proc/net/softnet_stat").unwrap_or_default();
    text.lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

/// What the kernel says of both ends of the loopback TCP connection whose client end has
/// local port `port`: each end's retransmissions, timeout backoff and retransmission timeout
/// (`ss -ti`), e.g. `127.0.0.1:41234 retrans:0/2 backoff:1 rto:408`.
pub fn tcp_info(port: u16) -> String {
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let Ok(out) = std::process::Command::new("ss")
        .args(["-Htin", "state", "all", &filter])
        .output()
    else {
        return "ss did not run".into();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ends = Vec::new();
    let mut local = String::new();
    for l in text.lines() {
        if l.starts_with(char::is_whitespace) {
            let kept: Vec<&str> = l
                .split_whitespace()
                .filter(|t| {
                    ["retrans:", "backoff:", "rto:", "lost:"]
                        .iter()
                        .any(|k| t.starts_with(k))
                })
                .collect();
            ends.push(format!("{local} {}", kept.join(" ")));
        } else {
            local = l.split_whitespace().nth(3).unwrap_or("?").to_string();
        }
    }
    if ends.is_empty() {
        "no TCP info (closed)".into()
    } else {
        ends.join(", ")
    }
}

/// Threads of process `pid` in state `D` (blocked in the kernel, uninterruptibly).
fn blocked_threads(pid: u32) -> u32 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            stat.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("D")
        })
        .count() as u32
}

/// Records when this process's threads are not scheduled for longer than [`LATE`].
fn stall_watch(shared: &Watch) {
    while !shared.stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(10));
        let late = t.elapsed().saturating_sub(Duration::from_millis(10));
        if late > LATE {
            let at = shared.since_began();
            shared.stalls.lock().unwrap().push((at, late));
        }
    }
}

/// Time (ns) the worker threads (`ringlb-w*`) of process `pid` spent waiting for a CPU.
fn worker_wait(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if !comm.starts_with("ringlb-w") {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            stat.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// Major page faults of process `pid` (all its threads) so far.
fn major_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces): state is the first, majflt the 10th.
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(9))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples the accept queues of `ports`, the machine's stalls and ringlb's major faults every
/// [`SAMPLE_EVERY`] until the soak stops, and notes when the draining generation has exited.
fn sampler(shared: &Watch, ports: &[u16], backends: &[u16]) {
    // Faults of processes that have exited, so that the count only grows.
    // Counts (major faults, worker CPU wait) of processes that have exited, so that the
    // totals only grow, and the last counts of those that run.
    let mut gone = [0u64; 2];
    let mut last: BTreeMap<u32, [u64; 2]> = BTreeMap::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let old = shared.draining.load(Ordering::Relaxed);
        let pids = [shared.serving.load(Ordering::Relaxed), old];
        for pid in pids.into_iter().filter(|p| *p != 0) {
            let n = [major_faults(pid), worker_wait(pid)];
            if n != [0, 0] {
                last.insert(pid, n);
            }
        }
        // A process neither serving nor draining has exited: its count is final.
        let ended: Vec<u32> = last.keys().copied().filter(|p| !pids.contains(p)).collect();
        for p in ended {
            let n = last.remove(&p).unwrap_or_default();
            gone = [gone[0] + n[0], gone[1] + n[1]];
        }
        let sample = Sample {
            at: shared.since_began(),
            queued: accept_queues(ports).unwrap_or(0),
            cpu_some: pressure("cpu", "some"),
            io_full: pressure("io", "full"),
            memory_full: pressure("memory", "full"),
            major_faults: gone[0] + last.values().map(|n| n[0]).sum::<u64>(),
            worker_wait: gone[1] + last.values().map(|n| n[1]).sum::<u64>(),
            blocked: pids
                .into_iter()
                .filter(|p| *p != 0)
                .map(blocked_threads)
                .sum(),
            own_faults: major_faults(std::process::id()),
            backend_queued: accept_queues(backends).unwrap_or(0),
            tcp: tcp_counters(),
            softnet_drops: softnet_drops(),
        };
        shared.samples.lock().unwrap().push(sample);
        if old != 0 && !process_exists(old) {
            let _ = shared
                .draining
                .compare_exchange(old, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}
