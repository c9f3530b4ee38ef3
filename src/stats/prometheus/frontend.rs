//! The frontends' families: connections, requests, responses, TLS and PROXY protocol.

use super::{per_item, responses, Exposition, Kind};
use crate::stats::model::{
    AcmeStats, FrontendStats, H2Stats, Mode, ProxyStats, TlsStats, TrackStats,
};

type FeField = fn(&FrontendStats) -> u64;

pub(super) fn frontends(p: &mut Exposition, fes: &[FrontendStats]) {
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
    acme(p, fes);
    proxy_protocol(p, fes);
    h2(p, fes);
    track(p, fes);
}

/// HTTP/2 per frontend that speaks it.
fn h2(p: &mut Exposition, fes: &[FrontendStats]) {
    let with: Vec<(&str, &H2Stats)> = fes
        .iter()
        .filter_map(|f| f.h2.as_ref().map(|s| (f.name.as_str(), s)))
        .collect();
    if with.is_empty() {
        return;
    }
    let name = "ringlb_frontend_h2_connections_total";
    p.family(name, Kind::Counter, "HTTP/2 client connections.");
    for (fe, s) in &with {
        p.sample(name, &[("frontend", fe)], s.connections);
    }
    let name = "ringlb_frontend_h2_streams_total";
    p.family(name, Kind::Counter, "HTTP/2 streams served as requests.");
    for (fe, s) in &with {
        p.sample(name, &[("frontend", fe)], s.streams);
    }
    let name = "ringlb_frontend_h2_limit_total";
    p.family(
        name,
        Kind::Counter,
        "HTTP/2 limits hit by clients (streams refused or reset, connections closed).",
    );
    for (fe, s) in &with {
        for (limit, n) in &s.limits {
            p.sample(name, &[("frontend", fe), ("limit", limit)], *n);
        }
    }
    let name = "ringlb_frontend_h2_trailers_dropped_total";
    p.family(
        name,
        Kind::Counter,
        "HTTP/2 request trailers dropped: the request went to its server with content-length.",
    );
    for (fe, s) in &with {
        p.sample(name, &[("frontend", fe)], s.trailers_dropped);
    }
    let name = "ringlb_frontend_h2_goaway_total";
    p.family(
        name,
        Kind::Counter,
        "HTTP/2 GOAWAY frames sent, by error code.",
    );
    for (fe, s) in &with {
        for (error, n) in &s.goaway {
            p.sample(name, &[("frontend", fe), ("error", error)], *n);
        }
    }
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

/// ACME certificates: placeholder or issued, failures and why, renewal timing.
fn acme(p: &mut Exposition, fes: &[FrontendStats]) {
    let with: Vec<(&str, &AcmeStats)> = fes
        .iter()
        .filter_map(|f| Some((f.name.as_str(), f.tls.as_ref()?.acme.as_ref()?)))
        .collect();
    if with.is_empty() {
        return;
    }
    let name = "ringlb_acme_placeholder";
    p.family(
        name,
        Kind::Gauge,
        "1 while a frontend serves a self-signed placeholder: no ACME certificate issued yet.",
    );
    for (fe, a) in &with {
        p.sample(name, &[("frontend", fe)], u8::from(a.placeholder));
    }
    let name = "ringlb_acme_renew_seconds";
    p.family(
        name,
        Kind::Gauge,
        "Seconds until the ACME certificate is due for renewal (0: due now).",
    );
    for (fe, a) in &with {
        if let Some(s) = a.renew_in_s {
            p.sample(name, &[("frontend", fe)], s);
        }
    }
    let name = "ringlb_acme_issued_total";
    p.family(
        name,
        Kind::Counter,
        "ACME certificates issued and installed.",
    );
    for (fe, a) in &with {
        p.sample(name, &[("frontend", fe)], a.issued_total);
    }
    let name = "ringlb_acme_failures_total";
    p.family(name, Kind::Counter, "ACME attempts that failed.");
    for (fe, a) in &with {
        p.sample(name, &[("frontend", fe)], a.failed_total);
    }
    let name = "ringlb_acme_consecutive_failures";
    p.family(
        name,
        Kind::Gauge,
        "ACME attempts failed in a row; the reason is in ringlb_acme_last_failure_info.",
    );
    for (fe, a) in &with {
        p.sample(name, &[("frontend", fe)], a.failures);
    }
    let name = "ringlb_acme_last_failure_info";
    p.family(
        name,
        Kind::Gauge,
        "The last ACME failure's reason, while it is the latest outcome.",
    );
    for (fe, a) in &with {
        if let Some(e) = &a.last_error {
            p.sample(name, &[("frontend", fe), ("reason", e)], 1);
        }
    }
}

/// The tracking table of each frontend that has one.
fn track(p: &mut Exposition, fes: &[FrontendStats]) {
    let with: Vec<(&str, &TrackStats)> = fes
        .iter()
        .filter_map(|f| f.track.as_ref().map(|t| (f.name.as_str(), t)))
        .collect();
    if with.is_empty() {
        return;
    }
    type Field = fn(&TrackStats) -> u64;
    let families: [(&str, Kind, &str, Field); 5] = [
        (
            "ringlb_frontend_track_entries",
            Kind::Gauge,
            "Clients in the frontend's tracking table now.",
            |t| t.entries,
        ),
        (
            "ringlb_frontend_track_size",
            Kind::Gauge,
            "Most entries of the tracking table.",
            |t| t.size,
        ),
        (
            "ringlb_frontend_track_evictions_total",
            Kind::Counter,
            "Entries pushed out of the tracking table before they expired, to make room.",
            |t| t.evictions,
        ),
        (
            "ringlb_frontend_track_untracked_total",
            Kind::Counter,
            "Clients not tracked because every slot they may use had a connection open.",
            |t| t.full,
        ),
        (
            "ringlb_frontend_track_denials_total",
            Kind::Counter,
            "Requests answered (deny, return, tarpit) by a rule testing a tracking counter.",
            |t| t.denials,
        ),
    ];
    for (name, kind, help, get) in families {
        p.family(name, kind, help);
        for (fe, t) in &with {
            p.sample(name, &[("frontend", fe)], get(t));
        }
    }
}
