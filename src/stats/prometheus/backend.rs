//! The backends' and servers' families.

use super::{per_item, responses, Exposition, Kind};
use crate::stats::model::{BackendStats, Mode, ServerStats, ServerStatus};

type BeField = fn(&BackendStats) -> u64;

pub(super) fn backends(p: &mut Exposition, bes: &[BackendStats]) {
    let table: [(&str, Kind, &str, BeField); 21] = [
        (
            "up",
            Kind::Gauge,
            "1 when at least one server takes traffic.",
            |b| u64::from(b.up),
        ),
        ("current_sessions", Kind::Gauge, "Sessions open now.", |b| {
            b.cur
        }),
        (
            "max_sessions",
            Kind::Gauge,
            "Highest number of sessions seen.",
            |b| b.max,
        ),
        ("sessions_total", Kind::Counter, "Sessions handled.", |b| {
            b.total
        }),
        (
            "current_session_rate",
            Kind::Gauge,
            "New sessions in the last second.",
            |b| b.rate,
        ),
        (
            "queue_current",
            Kind::Gauge,
            "Requests waiting for a server now.",
            |b| b.queue_cur,
        ),
        (
            "queue_max",
            Kind::Gauge,
            "Highest queue length seen.",
            |b| b.queue_max,
        ),
        (
            "bytes_in_total",
            Kind::Counter,
            "Bytes sent to servers.",
            |b| b.bytes_in,
        ),
        (
            "bytes_out_total",
            Kind::Counter,
            "Bytes received from servers.",
            |b| b.bytes_out,
        ),
        (
            "connection_errors_total",
            Kind::Counter,
            "Failed connection attempts, including no server available.",
            |b| b.conn_errors,
        ),
        (
            "response_errors_total",
            Kind::Counter,
            "Invalid, truncated or timed-out responses.",
            |b| b.resp_errors,
        ),
        (
            "retry_warnings_total",
            Kind::Counter,
            "Connection attempts retried.",
            |b| b.retries,
        ),
        (
            "redispatch_warnings_total",
            Kind::Counter,
            "Requests moved to another server.",
            |b| b.redispatches,
        ),
        (
            "queue_full_total",
            Kind::Counter,
            "Requests answered 503 at once because a maxqueue was reached.",
            |b| b.queue_full,
        ),
        (
            "active_servers",
            Kind::Gauge,
            "Active servers taking traffic.",
            |b| b.active_up() as u64,
        ),
        (
            "backup_servers",
            Kind::Gauge,
            "Backup servers taking traffic.",
            |b| b.backup_up() as u64,
        ),
        (
            "weight",
            Kind::Gauge,
            "Sum of the weights of the servers taking traffic.",
            |b| b.effective_weight(),
        ),
        ("servers", Kind::Gauge, "Servers configured.", |b| {
            b.servers.len() as u64
        }),
        (
            "last_change_seconds",
            Kind::Gauge,
            "Seconds since the backend last went up or down.",
            |b| b.since_change_s,
        ),
        (
            "downtime_seconds_total",
            Kind::Counter,
            "Seconds spent with no server up.",
            |b| b.downtime_s,
        ),
        (
            "check_up_down_total",
            Kind::Counter,
            "UP to DOWN transitions of its servers.",
            |b| b.server_downs(),
        ),
    ];
    let items: Vec<_> = bes
        .iter()
        .map(|b| (vec![("backend", b.name.as_str())], b))
        .collect();
    per_item(p, "ringlb_backend_", &table, &items);
    responses(
        p,
        "ringlb_backend_http_responses_total",
        "HTTP responses received from servers by status class.",
        bes.iter()
            .filter(|b| b.mode == Mode::Http)
            .map(|b| (vec![("backend", b.name.as_str())], &b.responses)),
    );
}

type SvField = fn(&ServerStats) -> u64;

pub(super) fn servers(p: &mut Exposition, bes: &[BackendStats]) {
    let all = || {
        bes.iter()
            .flat_map(|b| b.servers.iter().map(move |s| (b, s)))
    };
    let table: [(&str, Kind, &str, SvField); 19] = [
        (
            "up",
            Kind::Gauge,
            "1 when the server is alive (UP, going down, draining or unchecked).",
            |s| u64::from(s.status.is_up()),
        ),
        ("current_sessions", Kind::Gauge, "Sessions open now.", |s| {
            s.cur
        }),
        (
            "max_sessions",
            Kind::Gauge,
            "Highest number of sessions seen.",
            |s| s.max,
        ),
        (
            "limit_sessions",
            Kind::Gauge,
            "Configured maxconn (0 = none).",
            |s| s.limit,
        ),
        (
            "sessions_total",
            Kind::Counter,
            "Sessions sent to this server.",
            |s| s.total,
        ),
        (
            "current_session_rate",
            Kind::Gauge,
            "New sessions in the last second.",
            |s| s.rate,
        ),
        (
            "queue_current",
            Kind::Gauge,
            "Requests waiting for this server now.",
            |s| s.queue_cur,
        ),
        (
            "queue_max",
            Kind::Gauge,
            "Highest queue length seen.",
            |s| s.queue_max,
        ),
        (
            "bytes_in_total",
            Kind::Counter,
            "Bytes sent to the server.",
            |s| s.bytes_in,
        ),
        (
            "bytes_out_total",
            Kind::Counter,
            "Bytes received from the server.",
            |s| s.bytes_out,
        ),
        (
            "connection_errors_total",
            Kind::Counter,
            "Failed connection attempts.",
            |s| s.conn_errors,
        ),
        (
            "response_errors_total",
            Kind::Counter,
            "Invalid, truncated or timed-out responses.",
            |s| s.resp_errors,
        ),
        (
            "retry_warnings_total",
            Kind::Counter,
            "Connection attempts retried.",
            |s| s.retries,
        ),
        (
            "redispatch_warnings_total",
            Kind::Counter,
            "Requests moved away from this server.",
            |s| s.redispatches,
        ),
        (
            "queue_full_total",
            Kind::Counter,
            "Requests answered 503 at once because the server's maxqueue was reached.",
            |s| s.queue_full,
        ),
        (
            "weight",
            Kind::Gauge,
            "Weight in force (lowered during slow start).",
            |s| u64::from(s.weight),
        ),
        ("backup", Kind::Gauge, "1 for a backup server.", |s| {
            u64::from(s.backup)
        }),
        (
            "last_change_seconds",
            Kind::Gauge,
            "Seconds since the last state change.",
            |s| s.since_change_s,
        ),
        (
            "downtime_seconds_total",
            Kind::Counter,
            "Seconds spent DOWN.",
            |s| s.downtime_s,
        ),
    ];
    let items: Vec<_> = all()
        .map(|(b, s)| {
            (
                vec![("backend", b.name.as_str()), ("server", s.name.as_str())],
                s,
            )
        })
        .collect();
    per_item(p, "ringlb_server_", &table, &items);

    let name = "ringlb_server_status";
    p.family(
        name,
        Kind::Gauge,
        "Server state: 1 for the current state, 0 for the others.",
    );
    for (b, s) in all() {
        for state in ServerStatus::LABELS {
            let v = u8::from(s.status.label() == state);
            p.sample(
                name,
                &[("backend", &b.name), ("server", &s.name), ("state", state)],
                v,
            );
        }
    }

    type CheckField = fn(&crate::stats::model::CheckInfo) -> String;
    let checks: [(&str, Kind, &str, CheckField); 3] = [
        (
            "check_failures_total",
            Kind::Counter,
            "Failed health checks.",
            |c| c.checks_failed.to_string(),
        ),
        (
            "check_up_down_total",
            Kind::Counter,
            "UP to DOWN transitions.",
            |c| c.downs.to_string(),
        ),
        (
            "check_duration_seconds",
            Kind::Gauge,
            "Duration of the last health check.",
            |c| {
                format!(
                    "{}.{:03}",
                    c.last_duration_ms / 1000,
                    c.last_duration_ms % 1000
                )
            },
        ),
    ];
    for (suffix, kind, help, get) in checks {
        let name = format!("ringlb_server_{suffix}");
        p.family(&name, kind, help);
        for (b, s) in all() {
            if let Some(c) = &s.check {
                p.sample(&name, &[("backend", &b.name), ("server", &s.name)], get(c));
            }
        }
    }

    responses(
        p,
        "ringlb_server_http_responses_total",
        "HTTP responses received from the server by status class.",
        all().filter(|(b, _)| b.mode == Mode::Http).map(|(b, s)| {
            (
                vec![("backend", b.name.as_str()), ("server", s.name.as_str())],
                &s.responses,
            )
        }),
    );
}
