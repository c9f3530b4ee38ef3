//! What a request to the stats page asks for: which format (from the URI, HAProxy style:
//! `/stats`, `/stats;csv`, `/stats;json`, `/stats;norefresh`, `/metrics`), and for
//! `POST /stats;admin`, which server to put in which state.

/// Output formats of the stats room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Csv,
    Json,
    Prometheus,
}

impl Format {
    /// The `Content-Type` to send with this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            // HAProxy serves its CSV as text/plain so browsers display it instead of
            // downloading it; tools do not look at the type.
            Format::Csv => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Prometheus => super::prometheus::CONTENT_TYPE,
        }
    }
}

/// A request the stats page answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsRequest {
    /// Render the snapshot. `refresh` is false when the URI carried `;norefresh`.
    Page { format: Format, refresh: bool },
    /// `{uri};admin`: a state change (POST, form body: see [`parse_admin_form`]).
    Admin,
}

/// The Prometheus scrape path, always answered regardless of the stats URI.
pub const METRICS_PATH: &[u8] = b"/metrics";

/// Classifies a request target.
///
/// With `metrics_path`, `/metrics` (optionally with a query) is Prometheus; it is matched
/// first, so a stats URI must not be `/metrics`. Pass `false` on a frontend that also
/// proxies an application, which may have a `/metrics` of its own; Prometheus stays
/// reachable there as `{uri};metrics`.
///
/// Otherwise the target must start with `stats_uri` and continue with nothing, a `;option`
/// list or a `?query`. Options: `csv`, `json`, `metrics`, `norefresh`, `admin`; unknown ones
/// (HAProxy's `up`, `st=…`) are ignored so old bookmarks keep working. Matching is exact
/// (case-sensitive, no percent-decoding), as HAProxy's `stats uri` prefix match is.
pub fn parse_target(
    path_and_query: &[u8],
    stats_uri: &[u8],
    metrics_path: bool,
) -> Option<StatsRequest> {
    if let Some(rest) = path_and_query
        .strip_prefix(METRICS_PATH)
        .filter(|_| metrics_path)
    {
        if matches!(rest.first(), None | Some(b'?')) {
            return Some(StatsRequest::Page {
                format: Format::Prometheus,
                refresh: false,
            });
        }
    }
    if stats_uri.is_empty() {
        return None;
    }
    let rest = path_and_query.strip_prefix(stats_uri)?;
    if !matches!(rest.first(), None | Some(b';' | b'?')) {
        return None;
    }
    let options = match rest.iter().position(|&b| b == b'?') {
        Some(q) => rest.get(..q).unwrap_or(rest),
        None => rest,
    };
    let mut format = Format::Html;
    let mut refresh = true;
    for option in options.split(|&b| b == b';') {
        match option {
            b"csv" => format = Format::Csv,
            b"json" => format = Format::Json,
            b"metrics" => format = Format::Prometheus,
            b"norefresh" => refresh = false,
            b"admin" => return Some(StatsRequest::Admin),
            _ => {}
        }
    }
    Some(StatsRequest::Page { format, refresh })
}

/// The format asked for by a request target, or `None` when the target is not the stats
/// page (or is its `;admin` action). Recognises `/metrics`: meant for the dedicated stats
/// listener; see [`parse_target`] for a page embedded in a proxying frontend.
pub fn format_from_uri(path_and_query: &[u8], stats_uri: &[u8]) -> Option<Format> {
    match parse_target(path_and_query, stats_uri, true)? {
        StatsRequest::Page { format, .. } => Some(format),
        StatsRequest::Admin => None,
    }
}

/// The state an operator asks a server to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// Back to normal: health checks decide UP or DOWN.
    Ready,
    /// Keep current sessions, send no new ones.
    Drain,
    /// Take out of rotation and stop checking.
    Maint,
}

/// A decoded `POST {uri};admin` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRequest {
    pub backend: String,
    pub server: String,
    pub action: AdminAction,
}

/// Longest admin form accepted; the real one is well under 200 bytes.
pub const MAX_ADMIN_FORM: usize = 4096;

/// Decodes an `application/x-www-form-urlencoded` body with fields `backend`, `server` and
/// `action` (`ready`, `drain` or `maint`). The error is a short reason for a 400 response.
pub fn parse_admin_form(body: &[u8]) -> Result<AdminRequest, String> {
    if body.len() > MAX_ADMIN_FORM {
        return Err(format!("form larger than {MAX_ADMIN_FORM} bytes"));
    }
    let (mut backend, mut server, mut action) = (None, None, None);
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (k, v) = pair.split_at(eq);
                (k, v.get(1..).unwrap_or(&[]))
            }
            None => (pair, &b""[..]),
        };
        let value = form_decode(v)?;
        let slot = match form_decode(k)?.as_str() {
            "backend" => &mut backend,
            "server" => &mut server,
            "action" => &mut action,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err("a field is given twice".to_string());
        }
    }
    let backend = backend
        .filter(|s| !s.is_empty())
        .ok_or("missing field: backend")?;
    let server = server
        .filter(|s| !s.is_empty())
        .ok_or("missing field: server")?;
    let action = match action.as_deref() {
        Some("ready") => AdminAction::Ready,
        Some("drain") => AdminAction::Drain,
        Some("maint") => AdminAction::Maint,
        Some(_) => return Err("action must be ready, drain or maint".to_string()),
        None => return Err("missing field: action".to_string()),
    };
    Ok(AdminRequest {
        backend,
        server,
        action,
    })
}

/// `+` is a space, `%XX` a byte; the result must be UTF-8.
fn form_decode(s: &[u8]) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let (Some(&h), Some(&l)) = (bytes.next(), bytes.next()) else {
                    return Err("truncated %-escape".to_string());
                };
                let hi = hex_val(h).ok_or("bad %-escape")?;
                let lo = hex_val(l).ok_or("bad %-escape")?;
                out.push(hi << 4 | lo);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| "form field is not UTF-8".to_string())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(format: Format, refresh: bool) -> Option<StatsRequest> {
        Some(StatsRequest::Page { format, refresh })
    }

    #[test]
    fn uris_map_to_formats() {
        let f = |t: &str| format_from_uri(t.as_bytes(), b"/stats");
        assert_eq!(f("/stats"), Some(Format::Html));
        assert_eq!(f("/stats;csv"), Some(Format::Csv));
        assert_eq!(f("/stats;json"), Some(Format::Json));
        assert_eq!(f("/stats?x=1"), Some(Format::Html));
        assert_eq!(f("/stats;csv;norefresh"), Some(Format::Csv));
        assert_eq!(
            f("/stats;up;st=DONE"),
            Some(Format::Html),
            "unknown options ignored"
        );
        assert_eq!(f("/metrics"), Some(Format::Prometheus));
        assert_eq!(f("/metrics?name[]=x"), Some(Format::Prometheus));
        assert_eq!(f("/metricsfoo"), None);
        assert_eq!(f("/statsfoo"), None);
        assert_eq!(f("/stats/x"), None);
        assert_eq!(f("/Stats"), None);
        assert_eq!(f("/"), None);
        assert_eq!(f("/stats;admin"), None, "the action is not a page");
        assert_eq!(format_from_uri(b"/", b""), None);
    }

    #[test]
    fn haproxy_default_uri_with_question_mark() {
        let t = |t: &str| parse_target(t.as_bytes(), b"/haproxy?stats", true);
        assert_eq!(t("/haproxy?stats"), page(Format::Html, true));
        assert_eq!(t("/haproxy?stats;csv"), page(Format::Csv, true));
        assert_eq!(t("/haproxy?stats;norefresh"), page(Format::Html, false));
        assert_eq!(t("/haproxy?stats;admin"), Some(StatsRequest::Admin));
        assert_eq!(t("/haproxy"), None);
    }

    #[test]
    fn metrics_path_can_be_left_to_the_application() {
        let t = |t: &str| parse_target(t.as_bytes(), b"/stats", false);
        assert_eq!(t("/metrics"), None, "the application's own /metrics");
        assert_eq!(t("/stats;metrics"), page(Format::Prometheus, true));
        assert_eq!(t("/stats;norefresh"), page(Format::Html, false));
    }

    #[test]
    fn admin_form_decodes() {
        let r = parse_admin_form(b"backend=web&server=web%201&action=drain").unwrap();
        assert_eq!(
            r,
            AdminRequest {
                backend: "web".to_string(),
                server: "web 1".to_string(),
                action: AdminAction::Drain
            }
        );
        let r = parse_admin_form(b"action=maint&server=a+b&backend=%C3%A9&extra=1").unwrap();
        assert_eq!((r.backend.as_str(), r.server.as_str()), ("é", "a b"));
        assert_eq!(r.action, AdminAction::Maint);
        assert_eq!(
            parse_admin_form(b"backend=b&server=s&action=ready")
                .unwrap()
                .action,
            AdminAction::Ready
        );
    }

    #[test]
    fn admin_form_errors() {
        let e = |b: &[u8]| parse_admin_form(b).unwrap_err();
        assert!(e(b"server=s&action=ready").contains("backend"));
        assert!(e(b"backend=&server=s&action=ready").contains("backend"));
        assert!(e(b"backend=b&action=ready").contains("server"));
        assert!(e(b"backend=b&server=s").contains("action"));
        assert!(e(b"backend=b&server=s&action=kill").contains("ready, drain or maint"));
        assert!(e(b"backend=b&server=s%2&action=ready").contains("escape"));
        assert!(e(b"backend=b&server=%ff&action=ready").contains("UTF-8"));
        assert!(e(b"backend=b&backend=c&server=s&action=ready").contains("twice"));
        assert!(e(&vec![b'a'; MAX_ADMIN_FORM + 1]).contains("larger"));
    }
}
