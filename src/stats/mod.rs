//! The stats room: a [`StatsSnapshot`] in, bytes out. HAProxy-style HTML page, `show stat`
//! CSV, JSON, Prometheus text format; HTTP Basic authentication of the page; parsing of the
//! request target and of the admin form.
//!
//! Pure: no I/O, no clock, no threads, no global state. It imports nothing from the rest of
//! ringlb. The `admin` room builds the model from the shared counters (`admin::collect`);
//! the snapshot keeps each page's parsed [`Users`]; whoever serves the page (the proxy room)
//! picks the format with [`parse_target`], checks [`Users`], calls [`render`] and writes the
//! bytes. Invariants: every string from the model is escaped for the format it lands in
//! (HTML, CSV quoting, Prometheus label escaping, JSON); rendering never panics; the
//! renderers are deterministic (same snapshot, same bytes), so tests compare output.
//!
//! Files: `model` (the snapshot types), `html` (+ `html.css`), `csv`, `json`, `prometheus`,
//! `auth`, `request` (URI → format, admin form), `human` (number and duration formatting).

mod auth;
mod csv;
mod html;
mod human;
mod json;
mod model;
mod prometheus;
mod request;
#[cfg(test)]
mod sample;

pub use auth::{challenge, Users};
pub use csv::{render_csv, FIELDS as CSV_FIELDS};
pub use html::{escape as escape_html, render_html, HtmlOptions};
pub use json::render_json;
pub use model::{
    BackendStats, CertStats, CheckInfo, FrontendStats, H2Stats, Mode, ProcessStats, ProxyStats,
    Responses, ServerStats, ServerStatus, StatsSnapshot, TlsStats,
};
pub use prometheus::render_prometheus;
pub use request::{
    format_from_uri, parse_admin_form, parse_target, AdminAction, AdminRequest, Format,
    StatsRequest, MAX_ADMIN_FORM, METRICS_PATH,
};

/// Renders `s` in `format`; returns the `Content-Type` and the body. `opts` matters only to
/// the HTML page.
pub fn render(format: Format, s: &StatsSnapshot, opts: &HtmlOptions) -> (&'static str, String) {
    let body = match format {
        Format::Html => render_html(s, opts),
        Format::Csv => render_csv(s),
        Format::Json => render_json(s),
        Format::Prometheus => render_prometheus(s),
    };
    (format.content_type(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_picks_body_and_content_type() {
        let s = sample::snapshot();
        let opts = HtmlOptions {
            uri: "/stats".to_string(),
            refresh_s: None,
            admin: false,
            realm: String::new(),
        };
        let (ct, body) = render(Format::Html, &s, &opts);
        assert_eq!(ct, "text/html; charset=utf-8");
        assert!(body.starts_with("<!DOCTYPE html>"));
        let (ct, body) = render(Format::Csv, &s, &opts);
        assert!(ct.starts_with("text/plain"));
        assert!(body.starts_with("# pxname,svname,"));
        let (ct, body) = render(Format::Json, &s, &opts);
        assert_eq!(ct, "application/json");
        assert!(body.starts_with('{'));
        let (ct, body) = render(Format::Prometheus, &s, &opts);
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        assert!(body.starts_with("# HELP ringlb_"));
    }

    #[test]
    fn renderers_are_deterministic() {
        let s = sample::snapshot();
        let opts = HtmlOptions {
            uri: "/s".to_string(),
            refresh_s: Some(3),
            admin: true,
            realm: "r".to_string(),
        };
        for f in [Format::Html, Format::Csv, Format::Json, Format::Prometheus] {
            assert_eq!(render(f, &s, &opts), render(f, &s, &opts));
        }
    }
}
