use super::*;
use crate::http::{parse_request, write_request_head, Limits, NoEdit, RequestRewrite};
use crate::route::{parse_condition, Pairs};

fn rule(action: Action) -> Rule {
    Rule {
        action,
        guard: Guard::Always,
    }
}

fn set(rules: Vec<Rule>) -> RuleSet {
    RuleSet::compile(&[], &rules, |_| b"from file".to_vec()).unwrap()
}

fn view<'a>(path: &'a [u8], headers: &'a Pairs<'a>) -> RequestView<'a> {
    RequestView {
        method: b"GET",
        path,
        host: Some(b"example.com"),
        src: "10.0.0.1".parse().unwrap(),
        headers,
        sni: None,
        hello_sni: None,
    }
}

const LIMITS: Limits = Limits {
    max_request_line: 8192,
    max_head: 16384,
    max_headers: 100,
};

/// The head written upstream for `req` with every rule of `s` fired.
fn written(s: &RuleSet, req: &[u8]) -> String {
    let head = parse_request(req, &LIMITS).unwrap().unwrap();
    let v = s.eval(&view(b"/", &Pairs(&[]))).unwrap();
    let opts = RequestRewrite {
        upstream_keep_alive: true,
        forwardfor: None,
        https: false,
        strip_expect: false,
        upgrade: false,
    };
    let empty = RuleSet::empty();
    let edits = Edits::new((s, v.fired), (&empty, Fired::default()), &NoEdit);
    let mut out = Vec::new();
    write_request_head(req, &head, &opts, &edits, &mut out);
    String::from_utf8(out).unwrap()
}

fn re(s: &str) -> Pattern {
    Pattern(Regex::new(s).unwrap())
}

#[test]
fn header_edits_run_in_order_on_received_and_added_fields() {
    let s = set(vec![
        rule(Action::AddHeader {
            name: "X-A".into(),
            value: "one".into(),
        }),
        rule(Action::SetHeader {
            name: "X-B".into(),
            value: "set".into(),
        }),
        rule(Action::DelHeader { name: "x-a".into() }),
        rule(Action::AddHeader {
            name: "X-A".into(),
            value: "two".into(),
        }),
        rule(Action::ReplaceHeader {
            name: "Host".into(),
            regex: re("^www\\.(.*)$"),
            with: "static.$1".into(),
        }),
        rule(Action::ReplaceHeader {
            name: "X-A".into(),
            regex: re("^t(.*)$"),
            with: "T$1".into(),
        }),
    ]);
    let out = written(
        &s,
        b"GET / HTTP/1.1\r\nHost: www.example.com\r\nX-A: old\r\nX-B: old\r\nX-C: keep\r\n\r\n",
    );
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHost: static.example.com\r\nX-C: keep\r\nX-B: set\r\nX-A: Two\r\n\r\n"
    );
}

#[test]
fn path_and_query_edits_keep_what_they_do_not_set() {
    let s = set(vec![rule(Action::SetPath {
        value: "/new".into(),
    })]);
    assert!(written(&s, b"GET /old?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .starts_with("GET /new?x=1 HTTP/1.1\r\n"));
    let s = set(vec![rule(Action::SetQuery { value: "".into() })]);
    assert!(written(&s, b"GET /old?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .starts_with("GET /old HTTP/1.1\r\n"));
    let s = set(vec![rule(Action::SetQuery {
        value: "y=2".into(),
    })]);
    assert!(written(&s, b"GET http://a/old HTTP/1.1\r\nHost: a\r\n\r\n")
        .starts_with("GET http://a/old?y=2 HTTP/1.1\r\n"));
}

#[test]
fn conditions_choose_rules_and_an_answer_stops_evaluation() {
    let guard = |c: &str| Guard::If(parse_condition(c).unwrap());
    let rules = vec![
        Rule {
            action: Action::AddHeader {
                name: "X-Api".into(),
                value: "1".into(),
            },
            guard: guard("{ path_beg /api }"),
        },
        Rule {
            action: Action::Deny { status: 403 },
            guard: guard("{ path_beg /admin }"),
        },
        rule(Action::AddHeader {
            name: "X-After".into(),
            value: "1".into(),
        }),
    ];
    let s = set(rules);
    let no = Pairs(&[]);
    let v = s.eval(&view(b"/api/x", &no)).unwrap();
    assert_eq!(v.fired, Fired(0b101));
    assert!(v.answer.is_none());
    let v = s.eval(&view(b"/admin", &no)).unwrap();
    assert_eq!(v.fired, Fired(0));
    assert_eq!(v.answer, Some(&Answer::Deny(403)));
}

#[test]
fn redirects_build_their_location() {
    let target = answer::Target {
        path: b"/a/b?q=1",
        host: Some(b"example.com"),
        head_only: false,
    };
    let loc = |to: RedirectTo, drop_query: bool| {
        let a = Answer::Redirect {
            to,
            code: 301,
            drop_query,
        };
        let bytes = a.response(target, true).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 301 Moved Permanently\r\n"),
            "{text}"
        );
        assert!(!text.contains("Connection: close"));
        text.lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        loc(RedirectTo::Scheme("https".into()), false),
        "https://example.com/a/b?q=1"
    );
    assert_eq!(
        loc(RedirectTo::Prefix("https://x.org/".into()), true),
        "https://x.org/a/b"
    );
    assert_eq!(loc(RedirectTo::Prefix("/".into()), false), "/a/b?q=1");
    assert_eq!(loc(RedirectTo::Location("/login".into()), false), "/login");
}

#[test]
fn return_bodies_come_inline_or_from_the_file_read_at_load() {
    let s = set(vec![rule(Action::Return {
        status: 200,
        content_type: "text/plain".into(),
        body: Body::File("/x".into()),
        retry_after: None,
    })]);
    let v = s.eval(&view(b"/", &Pairs(&[]))).unwrap();
    let mut t = answer::Target {
        path: b"/",
        host: None,
        head_only: false,
    };
    let bytes = v.answer.unwrap().response(t, false).unwrap();
    assert!(bytes.ends_with(b"\r\n\r\nfrom file"));
    assert!(String::from_utf8_lossy(&bytes).contains("Connection: close\r\n"));
    // HEAD: the head alone, announcing the body's length.
    t.head_only = true;
    let bytes = v.answer.unwrap().response(t, true).unwrap();
    assert!(
        bytes.ends_with(b"Content-Length: 9\r\nCache-Control: no-cache\r\n\r\n"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn errorfiles_are_checked_and_framed() {
    let p = ErrorPage::parse(b"HTTP/1.0 503 Service Unavailable\nCache-Control: no-cache\nConnection: close\nContent-Type: text/html\n\n<h1>busy</h1>\n").unwrap();
    assert_eq!(p.status, 503);
    let text = String::from_utf8(p.bytes).unwrap();
    assert_eq!(text, "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\nContent-Length: 14\r\nConnection: close\r\n\r\n<h1>busy</h1>\n");
    assert!(matches!(
        ErrorPage::parse(b"<h1>just a body</h1>"),
        Err(PageError::Malformed(_))
    ));
    assert!(matches!(
        ErrorPage::parse(b"HTTP/1.1 503 x\r\n"),
        Err(PageError::Malformed(_))
    ));
    assert_eq!(
        ErrorPage::parse(b"HTTP/1.1 503 x\r\nContent-Length: 3\r\n\r\nab"),
        Err(PageError::Length { said: 3, body: 2 })
    );
    assert!(matches!(
        ErrorPage::parse(&vec![b'a'; MAX_PAGE + 1]),
        Err(PageError::TooLarge(_))
    ));
}
