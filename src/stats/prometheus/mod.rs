//! `/metrics`: Prometheus text exposition format 0.0.4.
//!
//! Names follow Prometheus conventions (`_total` on counters, base units, seconds) and
//! mirror HAProxy's built-in exporter where one exists, with the `ringlb_` prefix. Every
//! family has `# HELP` and `# TYPE` and its samples follow it contiguously, as the format
//! requires. Labels: `frontend`; `backend`; `backend` + `server`; plus `code` on response
//! counters and `state` on the server state set. Counters that cannot exist for a proxy
//! (HTTP responses on a TCP proxy, check counters on an unchecked server) are omitted, not
//! reported as 0.
//!
//! Files: this one writes the format (families, samples, escaping) and the process
//! families; `frontend` the frontends' (with TLS and PROXY protocol); `backend` the
//! backends' and servers'.

mod backend;
mod frontend;
#[cfg(test)]
mod tests;

use std::fmt::{Display, Write};

use backend::{backends, servers};
use frontend::frontends;

use super::model::{Responses, StatsSnapshot};

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
