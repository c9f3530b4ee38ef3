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
