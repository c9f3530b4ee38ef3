//! The stats model, read now: a [`StatsSnapshot`] built from a snapshot (what is configured)
//! and the shared state (what is happening). The stats page, `show stat`, `show servers` and
//! `show info` all render this one model.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{CheckKind, Mode as CfgMode};
use crate::snapshot::Snapshot;
use crate::state::{admin, FrontendState, ProcessState, ServerState};
use crate::stats::{
    AcmeStats, BackendStats, CertStats, CheckInfo, FrontendStats, Mode, ProcessStats, Responses,
    ServerStats, ServerStatus, StatsSnapshot, TlsStats,
};

fn mode(m: CfgMode) -> Mode {
    match m {
        CfgMode::Http => Mode::Http,
        CfgMode::Tcp => Mode::Tcp,
    }
}

fn responses(r: &crate::state::Responses) -> Responses {
    let [r1xx, r2xx, r3xx, r4xx, r5xx, other] = r.get();
    Responses {
        r1xx,
        r2xx,
        r3xx,
        r4xx,
        r5xx,
        other,
    }
}

fn add(a: &mut Responses, b: &Responses) {
    a.r1xx += b.r1xx;
    a.r2xx += b.r2xx;
    a.r3xx += b.r3xx;
    a.r4xx += b.r4xx;
    a.r5xx += b.r5xx;
    a.other += b.other;
}

fn status(st: &ServerState, checked: Option<(u32, u32)>, streak: u32) -> ServerStatus {
    match st.admin.load(Ordering::Relaxed) {
        admin::MAINT => return ServerStatus::Maint,
        admin::DRAIN if st.up.load(Ordering::Relaxed) => return ServerStatus::Drain,
        _ => {}
    }
    let up = st.up.load(Ordering::Relaxed);
    match (checked, up) {
        (None, true) => ServerStatus::NoCheck,
        (None, false) => ServerStatus::Down,
        (Some((_, fall)), true) if streak > 0 => ServerStatus::GoingDown {
            failed: streak,
            fall,
        },
        (Some(_), true) => ServerStatus::Up,
        (Some((rise, _)), false) if streak > 0 => ServerStatus::GoingUp { ok: streak, rise },
        (Some(_), false) => ServerStatus::Down,
    }
}

/// A frontend's TLS figures and its certificates' time left at `wall`.
fn tls_stats(
    st: &FrontendState,
    t: &crate::tls::TlsRt,
    acme: Option<(&crate::config::AcmeNames, Option<crate::state::AcmeStatus>)>,
    wall: SystemTime,
) -> TlsStats {
    let secs_until = |at: SystemTime| at.duration_since(wall).unwrap_or_default().as_secs();
    TlsStats {
        acme: acme.map(|(names, status)| {
            let served = t.acme.as_ref();
            let status = status.unwrap_or_default();
            AcmeStats {
                names: names.names.clone(),
                challenge: names.challenge.name().to_owned(),
                placeholder: served.is_none_or(|s| s.placeholder),
                expires_in_s: served
                    .filter(|s| !s.placeholder)
                    .and_then(|s| s.cert.as_ref())
                    .map(|c| c.remaining(wall).as_secs()),
                renew_in_s: status.renew_at.map(secs_until),
                last_error: status
                    .last_error
                    .clone()
                    .or_else(|| served.and_then(|s| s.problem.clone())),
                failures: status.failures,
                next_attempt_in_s: status.next_attempt.map(secs_until),
                running: status.running,
                issued_total: status.issued_total,
                failed_total: status.failed_total,
            }
        }),
        handshakes: st.tls_handshakes.load(Ordering::Relaxed),
        resumed: st.tls_resumed.load(Ordering::Relaxed),
        failed: st.tls_failed.load(Ordering::Relaxed),
        ktls: st.tls_ktls.load(Ordering::Relaxed),
        userspace: st.tls_userspace.load(Ordering::Relaxed),
        ktls_failed: st.tls_ktls_failed.load(Ordering::Relaxed),
        certificates: t
            .certs
            .iter()
            .map(|c| CertStats {
                path: c.path.display().to_string(),
                names: c.names.clone(),
                key: c.key.to_string(),
                expires_in_s: c.remaining(wall).as_secs(),
            })
            .collect(),
    }
}

/// A frontend's HTTP/2 counters.
fn h2_stats(c: &crate::state::H2Counters) -> crate::stats::H2Stats {
    use crate::h2::frame::ErrorCode;
    use crate::h2::Limit;
    crate::stats::H2Stats {
        connections: c.connections.load(Ordering::Relaxed),
        streams: c.streams.load(Ordering::Relaxed),
        limits: Limit::ALL
            .iter()
            .zip(&c.limits)
            .map(|(l, n)| (l.name(), n.load(Ordering::Relaxed)))
            .collect(),
        goaway: ErrorCode::ALL
            .iter()
            .zip(&c.goaway)
            .map(|(e, n)| (e.name(), n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        trailers_dropped: c.trailers_dropped.load(Ordering::Relaxed),
    }
}

/// Everything the stats page shows, read now.
pub fn collect(snap: &Snapshot, process: &ProcessState) -> StatsSnapshot {
    let now = Instant::now();
    let wall = SystemTime::now();
    let mut rates = process.rates.lock().unwrap_or_else(|p| p.into_inner());
    let frontends = snap
        .frontends
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let st = &f.state;
            let accepts_proxy = snap
                .by_bind
                .values()
                .any(|b| b.frontend == i && b.accept_proxy);
            let requests = st.requests.get();
            let total_conns = st.total_conns.get();
            FrontendStats {
                name: f.name.clone(),
                mode: mode(f.mode),
                cur_conns: u64::from(st.conns.load(Ordering::Relaxed)),
                max_conns: u64::from(st.max_conns.load(Ordering::Relaxed)),
                limit: u64::from(f.maxconn),
                total_conns,
                conn_rate: rates.rate(&format!("fe-conn/{}", f.name), total_conns, now),
                requests,
                req_rate: rates.rate(&format!("fe-req/{}", f.name), requests, now),
                bytes_in: st.bytes_in.get(),
                bytes_out: st.bytes_out.get(),
                req_errors: st.req_errors.get(),
                responses: responses(&st.responses),
                tls: f.tls.as_ref().map(|t| {
                    let acme = f
                        .acme
                        .as_ref()
                        .map(|n| (n, snap.acme.state.status(&f.name)));
                    tls_stats(st, t, acme, wall)
                }),
                proxy_protocol: accepts_proxy.then(|| crate::stats::ProxyStats {
                    failed: st.proxy_failed.load(Ordering::Relaxed),
                    refused: st.proxy_refused.load(Ordering::Relaxed),
                }),
                track: f.track.as_ref().map(|t| {
                    let s = t.stats(t.ms(now));
                    crate::stats::TrackStats {
                        key: t.key_kind().shown(),
                        size: s.size,
                        entries: s.entries,
                        bytes: s.bytes,
                        evictions: s.evictions,
                        full: s.full,
                        denials: s.denials,
                    }
                }),
                h2: f.h2_enabled.then(|| h2_stats(&st.h2)),
            }
        })
        .collect();
    let backends = snap
        .backends
        .iter()
        .map(|b| {
            let servers: Vec<ServerStats> = b
                .servers
                .iter()
                .map(|s| {
                    let st = &s.state;
                    let report = st.check.lock().map(|r| r.clone()).unwrap_or_default();
                    let checked = s.check.as_ref().map(|c| (c.rise, c.fall));
                    let total = st.total.get();
                    let check = s.check.as_ref().map(|c| CheckInfo {
                        kind: match c.kind {
                            CheckKind::Tcp => "L4",
                            CheckKind::Http(_) => "L7",
                        },
                        last_result: report.last.clone(),
                        last_duration_ms: report.last_duration.as_millis() as u64,
                        checks_failed: report.failed_total,
                        downs: report.downs,
                    });
                    let down_now = !st.up.load(Ordering::Relaxed);
                    let downtime = report.downtime
                        + if down_now {
                            now.saturating_duration_since(report.since)
                        } else {
                            Default::default()
                        };
                    ServerStats {
                        name: s.name.clone(),
                        addr: s.addr.to_string(),
                        status: status(st, checked, report.streak),
                        check,
                        since_change_s: now.saturating_duration_since(report.since).as_secs(),
                        downtime_s: downtime.as_secs(),
                        weight: {
                            // The ramp works in scaled units; shown in configured ones.
                            let scale = crate::balance::WEIGHT_SCALE;
                            let full = st.weight(s.weight).saturating_mul(scale);
                            let ramped = if b.balance.dynamic() {
                                st.ramped(full, s.slowstart)
                            } else {
                                full
                            };
                            ramped.div_ceil(scale)
                        },
                        backup: s.backup,
                        cur: u64::from(st.inflight.load(Ordering::Relaxed)),
                        max: u64::from(st.max_inflight.load(Ordering::Relaxed)),
                        limit: u64::from(s.maxconn),
                        total,
                        queue_cur: u64::from(st.queued.load(Ordering::Relaxed)),
                        queue_max: 0,
                        rate: rates.rate(&format!("srv/{}/{}", b.name, s.name), total, now),
                        bytes_in: st.bytes_in.get(),
                        bytes_out: st.bytes_out.get(),
                        conn_errors: st.connect_errors.load(Ordering::Relaxed),
                        resp_errors: st.response_errors.load(Ordering::Relaxed),
                        retries: st.retries.load(Ordering::Relaxed),
                        redispatches: st.redispatches.load(Ordering::Relaxed),
                        queue_full: st.queue_full.load(Ordering::Relaxed),
                        responses: responses(&st.responses),
                    }
                })
                .collect();
            let mut total = Responses::default();
            for s in &servers {
                add(&mut total, &s.responses);
            }
            let sum = |f: fn(&ServerStats) -> u64| servers.iter().map(f).sum::<u64>();
            BackendStats {
                name: b.name.clone(),
                mode: mode(b.mode),
                balance: b.balance.to_string(),
                up: servers.iter().any(|s| s.status.takes_traffic()),
                cur: sum(|s| s.cur),
                max: sum(|s| s.max),
                total: sum(|s| s.total),
                // Every request waiting for a slot of this backend, on every worker (those
                // waiting for one server in particular included).
                queue_cur: b.queue.waiting.lock().map_or(0, |w| w.len() as u64),
                queue_max: 0,
                rate: sum(|s| s.rate),
                bytes_in: sum(|s| s.bytes_in),
                bytes_out: sum(|s| s.bytes_out),
                conn_errors: sum(|s| s.conn_errors),
                resp_errors: sum(|s| s.resp_errors),
                retries: sum(|s| s.retries),
                queue_full: sum(|s| s.queue_full) + b.counters.queue_full.load(Ordering::Relaxed),
                redispatches: sum(|s| s.redispatches),
                responses: total,
                since_change_s: servers.iter().map(|s| s.since_change_s).min().unwrap_or(0),
                downtime_s: 0,
                servers,
            }
        })
        .collect();
    StatsSnapshot {
        version: crate::system::version::version().to_string(),
        pid: std::process::id(),
        uptime_s: process.started.elapsed().as_secs(),
        now_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        process: ProcessStats {
            conns: u64::from(process.conns.load(Ordering::Relaxed)),
            maxconn: u64::from(snap.global.maxconn),
            workers: process.workers.load(Ordering::Relaxed),
            reloads_ok: process.reloads_ok.load(Ordering::Relaxed),
            reloads_failed: process.reloads_failed.load(Ordering::Relaxed),
            log_lines: process.log.lines.load(Ordering::Relaxed),
            log_dropped: process.log.dropped.load(Ordering::Relaxed),
            config_generation: snap.generation,
        },
        frontends,
        backends,
    }
}
