use super::*;

fn crit(text: &str) -> Criterion {
    match parse_criterion(text) {
        Ok(c) => c,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn cond(text: &str) -> Condition {
    match parse_condition(text) {
        Ok(c) => c,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

/// (offset, message) of the error for `text` parsed as a condition.
fn cond_err(text: &str) -> (usize, String) {
    match parse_condition(text) {
        Ok(c) => panic!("{text:?} was accepted: {c:?}"),
        Err(e) => (e.offset, e.message),
    }
}

fn crit_err(text: &str) -> (usize, String) {
    match parse_criterion(text) {
        Ok(c) => panic!("{text:?} was accepted: {c:?}"),
        Err(e) => (e.offset, e.message),
    }
}

/// The condition's shape: groups of (negated, ACL name or "{…}").
fn shape(c: &Condition) -> Vec<Vec<String>> {
    c.any_of
        .iter()
        .map(|g| {
            g.iter()
                .map(|t| {
                    let name = match &t.test {
                        Test::Acl(n) => n.clone(),
                        Test::Inline(_) => "{}".to_owned(),
                    };
                    if t.negated {
                        format!("!{name}")
                    } else {
                        name
                    }
                })
                .collect()
        })
        .collect()
}

fn strings(how: StrMatch, nocase: bool, values: &[&str]) -> Strings {
    Strings {
        how,
        nocase,
        values: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
    }
}

#[test]
fn every_criterion_parses() {
    assert_eq!(
        crit("path_beg /static/ /images/"),
        Criterion::Path(strings(StrMatch::Prefix, false, &["/static/", "/images/"]))
    );
    assert_eq!(
        crit("path_end .css .js"),
        Criterion::Path(strings(StrMatch::Suffix, false, &[".css", ".js"]))
    );
    assert_eq!(
        crit("path /"),
        Criterion::Path(strings(StrMatch::Exact, false, &["/"]))
    );
    assert!(matches!(crit("path_reg ^/api/v[0-9]+/"), Criterion::PathReg(r) if r.len() == 1));
    assert_eq!(
        crit("host API.example.com"),
        Criterion::Host(strings(StrMatch::Exact, true, &["api.example.com"]))
    );
    assert_eq!(
        crit("host_end .example.com"),
        Criterion::Host(strings(StrMatch::Suffix, true, &[".example.com"]))
    );
    assert_eq!(
        crit("method GET HEAD"),
        Criterion::Method(strings(StrMatch::Exact, false, &["GET", "HEAD"]))
    );
    assert_eq!(
        crit("hdr(X-Tenant) blue"),
        Criterion::Header {
            name: b"x-tenant".to_vec(),
            test: strings(StrMatch::Exact, false, &["blue"])
        }
    );
    assert!(matches!(
        crit("hdr_beg(User-Agent) curl/"),
        Criterion::Header {
            test: Strings {
                how: StrMatch::Prefix,
                ..
            },
            ..
        }
    ));
    assert!(matches!(
        crit("hdr_end(Via) proxy"),
        Criterion::Header {
            test: Strings {
                how: StrMatch::Suffix,
                ..
            },
            ..
        }
    ));
    let Criterion::Src(nets) = crit("src 10.0.0.0/8 192.168.1.7 2001:db8::/32") else {
        panic!("not src");
    };
    assert_eq!(nets.len(), 3);
    assert_eq!(nets[1].prefix, 32);
}

#[test]
fn flags_and_quoted_values() {
    assert_eq!(
        crit("path_beg -i /Static/"),
        Criterion::Path(strings(StrMatch::Prefix, true, &["/static/"]))
    );
    assert_eq!(
        crit("hdr(X-A) -- -i"),
        Criterion::Header {
            name: b"x-a".to_vec(),
            test: strings(StrMatch::Exact, false, &["-i"])
        }
    );
    assert_eq!(
        crit(r#"hdr(User-Agent) "Mozilla 5" 'a\'b'"#),
        Criterion::Header {
            name: b"user-agent".to_vec(),
            test: strings(StrMatch::Exact, false, &["Mozilla 5", "a'b"])
        }
    );
}

#[test]
fn path_patterns_are_normalised_like_requests() {
    assert_eq!(
        crit("path_beg /%69mages/ /x/../css/"),
        Criterion::Path(strings(StrMatch::Prefix, false, &["/images/", "/css/"]))
    );
    assert_eq!(
        crit("path_end %2ecss"),
        Criterion::Path(strings(StrMatch::Suffix, false, &[".css"]))
    );
}

#[test]
fn criterion_errors_point_at_the_token() {
    assert_eq!(
        crit_err("path_begin /a"),
        (0, "unknown criterion `path_begin`".into())
    );
    assert_eq!(
        parse_criterion("path_begin /a").map_err(|e| e.help),
        Err(Some("did you mean `path_beg`?".into()))
    );
    assert_eq!(
        crit_err("path_beg"),
        (8, "`path_beg` needs at least one value".into())
    );
    assert_eq!(
        crit_err("src 10.0.0.0/33"),
        (4, "invalid address \"10.0.0.0/33\"".into())
    );
    assert_eq!(
        crit_err("src -i 10.0.0.1"),
        (4, "`-i` does not apply to `src`".into())
    );
    assert_eq!(crit_err("path -x /"), (5, "unknown flag `-x`".into()));
    assert_eq!(
        crit_err("path_reg ^/(a"),
        (9, "invalid regular expression \"^/(a\"".into())
    );
    assert_eq!(
        crit_err("host a.com:80"),
        (5, "invalid host pattern \"a.com:80\"".into())
    );
    assert_eq!(
        crit_err("path_beg /ok /a%zz"),
        (
            13,
            "invalid percent-escape in path pattern \"/a%zz\"".into()
        )
    );
    assert_eq!(
        crit_err("path /a?b"),
        (5, "path pattern \"/a?b\" contains `?`".into())
    );
    assert_eq!(
        crit_err("hdr(X-A"),
        (0, "invalid header criterion `hdr(X-A`".into())
    );
    assert_eq!(
        crit_err("hdr() x"),
        (0, "invalid header criterion `hdr()`".into())
    );
    assert_eq!(crit_err("method G@T"), (7, "invalid method \"G@T\"".into()));
    assert_eq!(
        crit_err("path \"/a"),
        (5, "unterminated \"quoted\" value".into())
    );
    assert_eq!(crit_err("   "), (0, "empty ACL definition".into()));
}

#[test]
fn juxtaposition_and_keywords_mean_and() {
    let want = vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]];
    assert_eq!(shape(&cond("a b c")), want);
    assert_eq!(shape(&cond("a && b and c")), want);
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        shape(&cond("a b || c or d && e")),
        vec![vec!["a", "b"], vec!["c"], vec!["d", "e"]]
    );
}

#[test]
fn negation_forms() {
    assert_eq!(shape(&cond("!a ! b !!c")), vec![vec!["!a", "!b", "c"]]);
    assert_eq!(
        shape(&cond("!{ path / } || ! { src ::1 }")),
        vec![vec!["!{}"], vec!["!{}"]]
    );
}

#[test]
fn inline_criteria_in_braces() {
    let c = cond("static || { path_end .css .js } api");
    assert_eq!(shape(&c), vec![vec!["static"], vec!["{}", "api"]]);
    let Test::Inline(Criterion::Path(s)) = &c.any_of[1][0].test else {
        panic!("not inline path");
    };
    assert_eq!(s.values, vec![b".css".to_vec(), b".js".to_vec()]);
    // A quoted brace is a value, not the end of the block.
    assert!(matches!(
        &cond(r#"{ hdr(X) "}" }"#).any_of[0][0].test,
        Test::Inline(Criterion::Header { test, .. }) if test.values == vec![b"}".to_vec()]
    ));
}

#[test]
fn acl_refs_carry_offsets() {
    let c = cond("static || !api");
    let refs: Vec<(&str, usize)> = c.acl_refs().collect();
    assert_eq!(refs, vec![("static", 0), ("api", 11)]);
}

#[test]
fn condition_error_offsets() {
    assert_eq!(cond_err(""), (0, "empty condition".into()));
    assert_eq!(
        cond_err("|| a"),
        (0, "`||` has no condition on its left".into())
    );
    assert_eq!(
        cond_err("a ||"),
        (2, "`||` has no condition on its right".into())
    );
    assert_eq!(
        cond_err("a && || b"),
        (2, "`&&` has no condition on its right".into())
    );
    assert_eq!(
        cond_err("a &&"),
        (2, "`&&` has no condition on its right".into())
    );
    assert_eq!(cond_err("a !"), (2, "`!` has nothing to negate".into()));
    assert_eq!(cond_err("a { path /"), (2, "`{` is never closed".into()));
    assert_eq!(cond_err("a }"), (2, "`}` without a matching `{`".into()));
    assert_eq!(
        cond_err("a {}"),
        (2, "`{}`: braces must stand alone".into())
    );
    assert_eq!(cond_err("a { }"), (2, "empty `{ }`".into()));
    assert_eq!(
        cond_err("a { path }"),
        (8, "`path` needs at least one value".into())
    );
    assert_eq!(
        cond_err("a { pth / }"),
        (4, "unknown criterion `pth`".into())
    );
    assert_eq!(
        cond_err("a path_beg /x"),
        (2, "criterion `path_beg` outside braces".into())
    );
    assert_eq!(
        cond_err("a hdr(X) y"),
        (2, "criterion `hdr(X)` outside braces".into())
    );
    assert_eq!(cond_err("a b@d"), (2, "invalid ACL name `b@d`".into()));
    assert_eq!(cond_err("a \"b\""), (2, "unexpected value \"b\"".into()));
    assert_eq!(cond_err("!x{"), (1, "`x{`: braces must stand alone".into()));
}

#[test]
fn cidr_parsing_and_host_bits() {
    let c = Cidr::parse("10.1.2.3/8");
    assert_eq!(
        c,
        Some(Cidr {
            addr: "10.0.0.0".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            prefix: 8
        })
    );
    assert_eq!(Cidr::parse("::1").map(|c| c.prefix), Some(128));
    assert_eq!(Cidr::parse("0.0.0.0/0").map(|c| c.prefix), Some(0));
    assert_eq!(Cidr::parse("2001:db8::/129"), None);
    assert_eq!(Cidr::parse("10.0.0.0/"), None);
    assert_eq!(Cidr::parse("example.com"), None);
}

#[test]
fn header_names_are_lowercased_and_values_kept() {
    assert_eq!(
        crit("hdr_beg(X-Forwarded-Proto) HTTPS"),
        Criterion::Header {
            name: b"x-forwarded-proto".to_vec(),
            test: strings(StrMatch::Prefix, false, &["HTTPS"])
        }
    );
}

#[test]
fn glued_negation_of_braces() {
    let c = cond("!{ method GET }");
    assert!(c.any_of[0][0].negated);
    assert!(matches!(
        c.any_of[0][0].test,
        Test::Inline(Criterion::Method(_))
    ));
}

#[test]
fn path_reg_values_are_not_normalised() {
    let Criterion::PathReg(r) = crit("path_reg ^/%7e") else {
        panic!("not a regex");
    };
    assert_eq!(r[0].0.as_str(), "^/%7e");
}

#[test]
fn tracking_counters_take_a_comparison_and_a_number() {
    use crate::track::Counter;
    assert_eq!(
        parse_criterion("sc_http_req_rate gt 100").unwrap(),
        Criterion::Track {
            counter: Counter::ReqRate,
            cmp: Cmp::Gt,
            value: 100
        }
    );
    assert_eq!(
        parse_criterion("sc_conn_cur <= 3").unwrap(),
        Criterion::Track {
            counter: Counter::ConnCur,
            cmp: Cmp::Le,
            value: 3
        }
    );
    assert_eq!(
        parse_criterion("sc_bytes_out_rate 7").unwrap(),
        Criterion::Track {
            counter: Counter::BytesOutRate,
            cmp: Cmp::Eq,
            value: 7
        }
    );
    let e = parse_criterion("sc_http_err_rate gt lots").unwrap_err();
    assert!(e.message.contains("not a whole number"), "{e}");
    let e = parse_criterion("sc_http_err_rate").unwrap_err();
    assert!(e.message.contains("needs a comparison"), "{e}");
    let e = parse_criterion("sc_http_req_rte gt 1").unwrap_err();
    assert_eq!(e.help.as_deref(), Some("did you mean `sc_http_req_rate`?"));
    assert!(parse_condition("{ sc_conn_rate gt 5 } || !{ sc_conn_cur lt 2 }").is_ok());
}
