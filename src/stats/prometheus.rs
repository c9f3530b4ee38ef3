//! `/metrics`: Prometheus text exposition format 0.0.4.
//!
//! Names follow Prometheus conventions (`_total` on counters, base units, seconds) and
//! mirror HAProxy's built-in exporter where one exists, with the `ringlb_` prefix. Every
//! family has `# HELP` and `# TYPE` and its samples follow it contiguously, as the format
//! requires. Labels: `frontend`; `backend`; `backend` + `server`; plus `code` on response
//! counters and `state` on the server state set. Counters that cannot exist for a proxy
//! (HTTP responses on a TCP proxy, check counters on an unchecked server) are omitted, not
//! reported as 0.

use std::fmt::{Display, Write};

use super::model::{
    BackendStats, FrontendStats, Mode, ProxyStats, Responses, ServerStats, ServerStatus,
    StatsSnapshot, TlsStats,
};

/// The content type scrapers expect for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The whole exposition.
pub fn render_prometheus(s: &StatsSnapshot) -> String {
    let mut p = Exposition {
        out: String::with_capacity(4096 + 2048 * (s.frontends.len() + s.backends.len())),
    };
    process(&mut p, s);
    frontends(&mut p, &s.frontends);
    backends(&mut p, &s.backends);
    servers(&mut p, &s.backends);
    p.out
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        // HELP text escapes only backslash and newline (format 0.0.4).
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                push_label_value(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn push_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn process(p: &mut Exposition, s: &StatsSnapshot) {
    p.family(
        "ringlb_process_info",
        Kind::Gauge,
        "Always 1; labels identify the running build.",
    );
    p.sample("ringlb_process_info", &[("version", &s.version)], 1);
    let pr = &s.process;
    let gauges: [(&str, &str, u64); 6] = [
        ("ringlb_process_pid", "Process id.", u64::from(s.pid)),
        (
            "ringlb_process_uptime_seconds",
            "Seconds since the process started.",
            s.uptime_s,
        ),
        (
            "ringlb_process_current_connections",
            "Client connections open now.",
            pr.conns,
        ),
        (
            "ringlb_process_max_connections",
            "Process-wide connection limit.",
            pr.maxconn,
        ),
        (
            "ringlb_process_workers",
            "Worker threads running.",
            u64::from(pr.workers),
        ),
        (
            "ringlb_process_config_generation",
            "Configuration generation; increments on every applied reload.",
            pr.config_generation,
        ),
    ];
    for (name, help, v) in gauges {
        p.family(name, Kind::Gauge, help);
        p.sample(name, &[], v);
    }
    p.family(
        "ringlb_process_reloads_total",
        Kind::Counter,
        "Configuration reloads by result.",
    );
    p.sample(
        "ringlb_process_reloads_total",
        &[("result", "ok")],
        pr.reloads_ok,
    );
    p.sample(
        "ringlb_process_reloads_total",
        &[("result", "failed")],
        pr.reloads_failed,
    );
    p.family(
        "ringlb_process_log_lines_total",
        Kind::Counter,
        "Access-log lines written.",
    );
    p.sample("ringlb_process_log_lines_total", &[], pr.log_lines);
    p.family(
        "ringlb_process_log_lines_dropped_total",
        Kind::Counter,
        "Access-log lines dropped because the log pipe was full.",
    );
    p.sample(
        "ringlb_process_log_lines_dropped_total",
        &[],
        pr.log_dropped,
    );
}

type FeField = fn(&FrontendStats) -> u64;

fn frontends(p: &mut Exposition, fes: &[FrontendStats]) {
    let table: [(&str, Kind, &str, FeField); 10] = [
        (
            "current_sessions",
            Kind::Gauge,
            "Client connections open now.",
            |f| f.cur_conns,
        ),
        (
            "max_sessions",
            Kind::Gauge,
            "Highest number of client connections seen.",
            |f| f.max_conns,
        ),
        (
            "limit_sessions",
            Kind::Gauge,
            "Configured connection limit (0 = none).",
            |f| f.limit,
        ),
        (
            "sessions_total",
            Kind::Counter,
            "Client connections accepted.",
            |f| f.total_conns,
        ),
        (
            "current_session_rate",
            Kind::Gauge,
            "New connections in the last second.",
            |f| f.conn_rate,
        ),
        (
            "requests_total",
            Kind::Counter,
            "HTTP requests received.",
            |f| f.requests,
        ),
        (
            "http_requests_rate_current",
            Kind::Gauge,
            "HTTP requests in the last second.",
            |f| f.req_rate,
        ),
        (
            "bytes_in_total",
            Kind::Counter,
            "Bytes received from clients.",
            |f| f.bytes_in,
        ),
        (
            "bytes_out_total",
            Kind::Counter,
            "Bytes sent to clients.",
            |f| f.bytes_out,
        ),
        (
            "request_errors_total",
            Kind::Counter,
            "Invalid or timed-out requests rejected.",
            |f| f.req_errors,
        ),
    ];
    let items: Vec<_> = fes
        .iter()
        .map(|f| (vec![("frontend", f.name.as_str())], f))
        .collect();
    per_item(p, "ringlb_frontend_", &table, &items);
    let http = fes.iter().filter(|f| f.mode == Mode::Http);
    responses(
        p,
        "ringlb_frontend_http_responses_total",
        "HTTP responses sent to clients by status class.",
        http.map(|f| (vec![("frontend", f.name.as_str())], &f.responses)),
    );
    tls(p, fes);
    proxy_protocol(p, fes);
}

/// Connections closed at their PROXY protocol header, per frontend that accepts one.
fn proxy_protocol(p: &mut Exposition, fes: &[FrontendStats]) {
    let with: Vec<(&str, &ProxyStats)> = fes
        .iter()
        .filter_map(|f| f.proxy_protocol.as_ref().map(|s| (f.name.as_str(), s)))
        .collect();
    if with.is_empty() {
        return;
    }
    let name = "ringlb_frontend_proxy_header_errors_total";
    p.family(
        name,
        Kind::Counter,
        "Connections closed at their PROXY protocol header: failed (malformed, too long, late) or refused (peer not in accept_proxy_from).",
    );
    for (fe, s) in &with {
        for (reason, n) in [("failed", s.failed), ("refused", s.refused)] {
            p.sample(name, &[("frontend", fe), ("reason", reason)], n);
        }
    }
}

/// TLS handshakes per frontend, and the seconds each certificate has left.
fn tls(p: &mut Exposition, fes: &[FrontendStats]) {
    let with_tls: Vec<(&str, &TlsStats)> = fes
        .iter()
        .filter_map(|f| f.tls.as_ref().map(|t| (f.name.as_str(), t)))
        .collect();
    if with_tls.is_empty() {
        return;
    }
    let name = "ringlb_frontend_tls_handshakes_total";
    p.family(
        name,
        Kind::Counter,
        "TLS handshakes by outcome (full, resumed, failed).",
    );
    for (fe, t) in &with_tls {
        let full = t.handshakes.saturating_sub(t.resumed);
        for (outcome, n) in [("full", full), ("resumed", t.resumed), ("failed", t.failed)] {
            p.sample(name, &[("frontend", fe), ("outcome", outcome)], n);
        }
    }
    let name = "ringlb_frontend_tls_connections_total";
    p.family(
        name,
        Kind::Counter,
        "TLS sessions after the handshake by record layer: kernel (ktls) or rustls (userspace).",
    );
    for (fe, t) in &with_tls {
        for (path, n) in [("ktls", t.ktls), ("userspace", t.userspace)] {
            p.sample(name, &[("frontend", fe), ("path", path)], n);
        }
    }
    let name = "ringlb_frontend_ktls_failures_total";
    p.family(
        name,
        Kind::Counter,
        "Hand-overs to kernel TLS that failed after the handshake (connection lost).",
    );
    for (fe, t) in &with_tls {
        p.sample(name, &[("frontend", fe)], t.ktls_failed);
    }
    let name = "ringlb_certificate_expiry_seconds";
    p.family(name, Kind::Gauge, "Seconds until a certificate expires.");
    for (fe, t) in &with_tls {
        for c in &t.certificates {
            p.sample(name, &[("frontend", fe), ("path", &c.path)], c.expires_in_s);
        }
    }
}

/// A family's name suffix, type, help and how to read its value from an item.
type Column<'t, T> = (&'t str, Kind, &'t str, fn(&T) -> u64);

/// An item's labels and the item.
type Labelled<'a, T> = (Vec<(&'a str, &'a str)>, &'a T);

/// One family per `table` row, named `{prefix}{suffix}`, with a sample for each of `items`, in
/// order.
fn per_item<T>(
    p: &mut Exposition,
    prefix: &str,
    table: &[Column<'_, T>],
    items: &[Labelled<'_, T>],
) {
    for &(suffix, kind, help, get) in table {
        let name = format!("{prefix}{suffix}");
        p.family(&name, kind, help);
        for (labels, item) in items {
            p.sample(&name, labels, get(item));
        }
    }
}

fn responses<'a>(
    p: &mut Exposition,
    name: &str,
    help: &str,
    rows: impl Iterator<Item = (Vec<(&'a str, &'a str)>, &'a Responses)>,
) {
    p.family(name, Kind::Counter, help);
    for (mut labels, r) in rows {
        for (code, n) in r.classes() {
            labels.push(("code", code));
            p.sample(name, &labels, n);
            labels.pop();
        }
    }
}

type BeField = fn(&BackendStats) -> u64;

fn backends(p: &mut Exposition, bes: &[BackendStats]) {
    let table: [(&str, Kind, &str, BeField); 20] = [
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

fn servers(p: &mut Exposition, bes: &[BackendStats]) {
    let all = || {
        bes.iter()
            .flat_map(|b| b.servers.iter().map(move |s| (b, s)))
    };
    let table: [(&str, Kind, &str, SvField); 18] = [
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
        ("weight", Kind::Gauge, "Configured weight.", |s| {
            u64::from(s.weight)
        }),
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

    type CheckField = fn(&super::model::CheckInfo) -> String;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sample;
    use std::collections::{BTreeMap, HashSet};

    /// One parsed sample: name, labels, value.
    type Sample = (String, BTreeMap<String, String>, f64);

    /// A strict little parser of the text format: every non-comment line must be
    /// `name{k="v",…} value`, label values unescaped; every sample's family must have been
    /// announced by `# TYPE` before it, and families must not be split.
    fn parse(text: &str) -> Vec<Sample> {
        let mut typed: Vec<String> = Vec::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(kind == "counter" || kind == "gauge", "{line}");
                assert!(!typed.contains(&name.to_string()), "family split: {name}");
                typed.push(name.to_string());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "stray line {line:?}"
            );
            let name_end = line.find(['{', ' ']).unwrap();
            let name = &line[..name_end];
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad name {name}"
            );
            assert_eq!(typed.last().map(String::as_str), Some(name), "{line}");
            let mut labels = BTreeMap::new();
            let mut it = line[name_end..].chars().peekable();
            if it.peek() == Some(&'{') {
                it.next();
                loop {
                    let key: String = it.by_ref().take_while(|&c| c != '=').collect();
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert_eq!(it.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match it.next().unwrap() {
                            '\\' => match it.next().unwrap() {
                                'n' => value.push('\n'),
                                c @ ('\\' | '"') => value.push(c),
                                c => panic!("bad escape \\{c} in {line}"),
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.insert(key, value);
                    match it.next() {
                        Some(',') => continue,
                        Some('}') => break,
                        other => panic!("unexpected {other:?} in {line}"),
                    }
                }
            }
            let rest: String = it.collect();
            let value: f64 = rest.strip_prefix(' ').unwrap().parse().unwrap();
            samples.push((name.to_string(), labels, value));
        }
        samples
    }

    fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
        samples.iter().find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
    }

    #[test]
    fn every_line_parses_and_families_are_announced() {
        let samples = parse(&render_prometheus(&sample::snapshot()));
        assert!(samples.len() > 200, "{}", samples.len());
        let unique: HashSet<String> = samples
            .iter()
            .map(|(n, l, _)| format!("{n}{l:?}"))
            .collect();
        assert_eq!(unique.len(), samples.len(), "duplicate series");
        for (n, _, _) in &samples {
            assert!(n.starts_with("ringlb_"));
        }
    }

    #[test]
    fn values_and_labels() {
        let samples = parse(&render_prometheus(&sample::snapshot()));
        let v = |name, labels: &[(&str, &str)]| find(&samples, name, labels).map(|s| s.2);
        assert_eq!(
            v("ringlb_frontend_current_sessions", &[("frontend", "www")]),
            Some(1180.0)
        );
        assert_eq!(
            v("ringlb_frontend_requests_total", &[("frontend", "www")]),
            Some(48_221_977.0)
        );
        assert_eq!(
            v(
                "ringlb_frontend_http_responses_total",
                &[("frontend", "www"), ("code", "5xx")]
            ),
            Some(2011.0)
        );
        assert_eq!(
            v(
                "ringlb_frontend_http_responses_total",
                &[("frontend", "postgres")]
            ),
            None,
            "no HTTP responses on a TCP frontend"
        );
        assert_eq!(v("ringlb_backend_up", &[("backend", "pg")]), Some(1.0));
        assert_eq!(
            v(
                "ringlb_server_up",
                &[("backend", "web"), ("server", "web4")]
            ),
            Some(0.0)
        );
        assert_eq!(
            v(
                "ringlb_server_up",
                &[("backend", "web"), ("server", "web3")]
            ),
            Some(1.0)
        );
        let state = |server, state| {
            v(
                "ringlb_server_status",
                &[("backend", "web"), ("server", server), ("state", state)],
            )
        };
        assert_eq!(state("web2", "GOING_DOWN"), Some(1.0));
        assert_eq!(state("web2", "UP"), Some(0.0));
        assert_eq!(
            v("ringlb_server_check_failures_total", &[("server", "web4")]),
            Some(212.0)
        );
        assert_eq!(
            v("ringlb_server_check_failures_total", &[("server", "pg1")]),
            None
        );
        assert_eq!(
            v("ringlb_server_check_duration_seconds", &[("server", "pg2")]),
            Some(2.0)
        );
        assert_eq!(v("ringlb_process_log_lines_dropped_total", &[]), Some(0.0));
        assert_eq!(v("ringlb_process_current_connections", &[]), Some(1210.0));
        assert_eq!(v("ringlb_process_info", &[("version", "0.1.0")]), Some(1.0));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = sample::snapshot();
        let nasty = "a\"b\\c\nd} 1";
        s.backends[0].servers[0].name = nasty.to_string();
        let text = render_prometheus(&s);
        assert!(text.contains(r#"server="a\"b\\c\nd} 1""#));
        let samples = parse(&text);
        assert!(find(&samples, "ringlb_server_up", &[("server", nasty)]).is_some());
    }
}
