//! Tests of ACLs, routes, health checks and cookie persistence in the config.

use super::*;

const FILE: &str = "t.toml";

fn errors(text: &str) -> Vec<String> {
    match parse_str(text, FILE) {
        Ok(_) => panic!("expected errors, config was accepted"),
        Err(diags) => diags.iter().map(|d| d.to_string()).collect(),
    }
}

fn error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.into_iter().next().unwrap_or_default()
}

/// Lines 1-3: the frontend; `fe` starts at line 4. Backends `web` and `api` (http), `pg`
/// (tcp) follow; `be` is appended to [backend.web] right after its header.
fn site(fe: &str, be: &str) -> String {
    format!(
        "[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n{fe}\n\
         [backend.web]\n{be}\n[[backend.web.server]]\nname = \"web1\"\naddress = \"127.0.0.1:9001\"\n\
         [backend.api]\n[[backend.api.server]]\nname = \"api1\"\naddress = \"127.0.0.1:9002\"\n\
         [backend.pg]\nmode = \"tcp\"\n[[backend.pg.server]]\nname = \"pg1\"\naddress = \"127.0.0.1:9003\"\n"
    )
}

fn fe(text: &str) -> String {
    site(text, "")
}

fn be(text: &str) -> String {
    site("", text)
}

// ---- ACLs and routes -------------------------------------------------------------------------

#[test]
fn route_to_unknown_backend_suggests() {
    assert_eq!(
        error(&fe("[[frontend.www.route]]\nbackend = \"apii\"\n")),
        "t.toml:5:11: error: unknown backend \"apii\"\n  help: did you mean \"api\"?"
    );
}

#[test]
fn route_backend_mode_must_match() {
    assert_eq!(
        error(&fe("[[frontend.www.route]]\nbackend = \"pg\"\n")),
        "t.toml:5:11: error: frontend \"www\" is in http mode but backend \"pg\" is in tcp mode\n  \
         help: a frontend and its backend must use the same mode"
    );
}

#[test]
fn route_needs_a_backend_and_one_guard() {
    assert!(error(&fe("[[frontend.www.route]]\nif = \"{ path / }\"\n"))
        .starts_with("t.toml:4:1: error: [[frontend.www.route]] has no `backend`"));
    assert_eq!(
        error(&fe(
            "[[frontend.www.route]]\nbackend = \"api\"\nif = \"{ path / }\"\nunless = \"{ path / }\"\n"
        )),
        "t.toml:7:10: error: a route has both `if` and `unless`\n  help: keep one; `unless X` \
         is `if !X`"
    );
    assert!(error(&fe(
        "[[frontend.www.route]]\nbackend = \"api\"\nwhen = \"x\"\n"
    ))
    .starts_with("t.toml:6:1: error: unknown key \"when\" in [[frontend.www.route]]"));
}

#[test]
fn unknown_acl_in_condition_suggests() {
    let text = fe("[frontend.www.acl]\nstatic = \"path_beg /s/\"\n\
                   [[frontend.www.route]]\nbackend = \"api\"\nif = \"{ method GET } statc\"\n");
    assert_eq!(
        error(&text),
        "t.toml:8:6: error: in condition: unknown ACL \"statc\" (at character 16)\n  \
         help: did you mean \"static\"?"
    );
    let text = fe("[[frontend.www.route]]\nbackend = \"api\"\nunless = \"internal\"\n");
    assert_eq!(
        error(&text),
        "t.toml:6:10: error: in condition: unknown ACL \"internal\" (at character 1)\n  \
         help: frontend \"www\" defines no ACL; add [frontend.www.acl] internal = \"CRITERION \
         VALUES…\""
    );
}

#[test]
fn condition_syntax_error_names_the_token() {
    let text = fe("[[frontend.www.route]]\nbackend = \"api\"\nif = \"{ path_begin /api/ }\"\n");
    assert_eq!(
        error(&text),
        "t.toml:6:6: error: in condition: unknown criterion `path_begin` (at character 3, \
         \"path_begin\")\n  help: did you mean `path_beg`?"
    );
    let text = fe("[[frontend.www.route]]\nbackend = \"api\"\nif = \"{ path / } ||\"\n");
    assert_eq!(
        error(&text),
        "t.toml:6:6: error: in condition: `||` has no condition on its right (at character 12, \
         \"||\")"
    );
}

#[test]
fn acl_definition_errors() {
    assert_eq!(
        error(&fe("[frontend.www.acl]\nstatic = \"path_beg /a%zz\"\n")),
        "t.toml:5:10: error: in ACL \"static\": invalid percent-escape in path pattern \"/a%zz\" \
         (at character 10, \"/a%zz\")\n  help: `%` at character 3 must be followed by two hex digits"
    );
    assert_eq!(
        error(&fe("[frontend.www.acl]\nnet = \"src 10.0.0.0/40\"\n")),
        "t.toml:5:7: error: in ACL \"net\": invalid address \"10.0.0.0/40\" (at character 5, \
         \"10.0.0.0/40\")\n  help: expected an IP address or a CIDR block: 10.0.0.0/8, \
         192.0.2.7, 2001:db8::/32"
    );
    assert!(error(&fe("[frontend.www.acl]\n\"a b\" = \"path /\"\n"))
        .starts_with("t.toml:5:1: error: invalid ACL name \"a b\""));
    assert!(error(&fe("[frontend.www.acl]\nx = 3\n"))
        .starts_with("t.toml:5:5: error: expected a string for `x`, found an integer"));
    assert!(error(&fe(
        "[frontend.www.acl]\nx = [\"path /\", \"path_reg (\"]\n"
    ))
    .starts_with("t.toml:5:16: error: in ACL \"x\": invalid regular expression \"(\""));
}

#[test]
fn tcp_frontends_can_only_test_src() {
    let text = "[frontend.db]\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\ndefault_backend = \"pg\"\n\
                acl = { inside = \"src 10.0.0.0/8\", web = \"path /\" }\n\
                route = [{ backend = \"pg\", if = \"inside { method GET }\" }]\n\
                [backend.pg]\nmode = \"tcp\"\nserver = [{ name = \"a\", address = \"127.0.0.1:2\" }]\n";
    assert_eq!(
        errors(text),
        vec![
            "t.toml:5:42: error: ACL \"web\" tests HTTP data but frontend \"db\" is in tcp mode\n  \
             help: in tcp mode only `src`, `req.ssl_sni`, `ssl_fc`, `ssl_fc_sni` and the tracking \
             counters (`sc_*`, in connection rules) can be tested",
            "t.toml:6:33: error: condition tests HTTP data but frontend \"db\" is in tcp mode\n  \
             help: in tcp mode only `src`, `req.ssl_sni`, `ssl_fc`, `ssl_fc_sni` and the tracking \
             counters (`sc_*`, in connection rules) can be tested",
        ]
    );
}

#[test]
fn routes_keep_order_and_guards() {
    let text = fe("[frontend.www.acl]\na = \"path_beg /a\"\n\
                   [[frontend.www.route]]\nbackend = \"api\"\nif = \"a\"\n\
                   [[frontend.www.route]]\nbackend = \"web\"\n");
    let c = match parse_str(&text, FILE) {
        Ok(c) => c,
        Err(d) => panic!("{d:?}"),
    };
    let routes = &c.frontends[0].routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].backend, "api");
    assert!(matches!(routes[0].guard, crate::route::Guard::If(_)));
    assert_eq!(routes[1].guard, crate::route::Guard::Always);
}

// ---- health checks ---------------------------------------------------------------------------

#[test]
fn check_value_errors() {
    let check = |body: &str| error(&be(&format!("[backend.web.check]\n{body}")));
    assert!(check("type = \"icmp\"\n").starts_with(
        "t.toml:7:8: error: unknown check type \"icmp\" (expected one of: tcp, http)"
    ));
    assert_eq!(
        check("path = \"/health\"\n"),
        "t.toml:7:1: error: `path` applies to http checks only\n  help: add type = \"http\" to \
         [backend.web.check]"
    );
    assert!(check("type = \"http\"\npath = \"health\"\n")
        .starts_with("t.toml:8:8: error: invalid check path \"health\""));
    assert!(check("type = \"http\"\nmethod = \"GE T\"\n")
        .starts_with("t.toml:8:10: error: invalid HTTP method \"GE T\" for `method`"));
    assert!(check("type = \"http\"\nhost = \"a b\"\n")
        .starts_with("t.toml:8:8: error: invalid `host` \"a b\""));
    assert!(
        check("type = \"http\"\nexpect_status = [\"200\", \"600\"]\n")
            .starts_with("t.toml:8:25: error: invalid status \"600\" in `expect_status`")
    );
    assert!(check("type = \"http\"\nexpect_status = \"399-200\"\n")
        .starts_with("t.toml:8:17: error: invalid status \"399-200\" in `expect_status`"));
    assert!(check("type = \"http\"\nexpect_status = [99]\n")
        .starts_with("t.toml:8:18: error: invalid status \"99\" in `expect_status`"));
    assert!(check("type = \"http\"\nexpect_status = []\n")
        .starts_with("t.toml:8:17: error: `expect_status` is empty"));
    assert_eq!(
        check("rise = 0\n"),
        "t.toml:7:8: error: `rise` must be between 1 and 1000, found 0"
    );
    assert_eq!(
        check("fall = 0\n"),
        "t.toml:7:8: error: `fall` must be between 1 and 1000, found 0"
    );
    assert!(check("inter = \"0s\"\n")
        .starts_with("t.toml:7:9: error: duration for `inter` must be greater than zero"));
    assert!(check("timeout = 0\n")
        .starts_with("t.toml:7:11: error: duration for `timeout` must be greater than zero"));
}

#[test]
fn server_check_overrides_need_a_backend_check() {
    let text = site("", "").replace(
        "address = \"127.0.0.1:9001\"\n",
        "address = \"127.0.0.1:9001\"\ncheck = true\nrise = 3\n",
    );
    assert_eq!(
        errors(&text),
        vec![
            "t.toml:10:9: error: server sets `check` but the backend has no active check\n  \
             help: add a [backend.web.check] section (at least type = \"tcp\")",
            "t.toml:11:8: error: server sets `rise` but the backend has no active check\n  \
             help: add a [backend.web.check] section (at least type = \"tcp\")",
        ]
    );
    // check = false without a check section is harmless.
    let text = site("", "").replace(
        "address = \"127.0.0.1:9001\"\n",
        "address = \"127.0.0.1:9001\"\ncheck = false\n",
    );
    assert!(parse_str(&text, FILE).is_ok());
}

#[test]
fn server_override_ranges() {
    let text = site("", "[backend.web.check]\n").replace(
        "address = \"127.0.0.1:9001\"\n",
        "address = \"127.0.0.1:9001\"\nfall = 0\n",
    );
    assert_eq!(
        error(&text),
        "t.toml:11:8: error: `fall` must be between 1 and 1000, found 0"
    );
}

#[test]
fn passive_errors_range() {
    assert_eq!(
        error(&be("[backend.web.passive]\nerrors = 5000\n")),
        "t.toml:7:10: error: `errors` must be between 0 and 1000, found 5000"
    );
}

// ---- cookies ---------------------------------------------------------------------------------

#[test]
fn cookie_errors() {
    let cookie = |body: &str| error(&be(&format!("[backend.web.cookie]\n{body}")));
    assert!(cookie("mode = \"insert\"\n")
        .starts_with("t.toml:6:1: error: [backend.web.cookie] has no `name`"));
    assert!(cookie("name = \"SERVER ID\"\n")
        .starts_with("t.toml:7:8: error: invalid cookie name \"SERVER ID\""));
    assert!(cookie("name = \"S\"\nmode = \"inject\"\n").starts_with(
        "t.toml:8:8: error: unknown cookie mode \"inject\" (expected one of: insert, prefix, \
         rewrite)"
    ));
    assert!(cookie("name = \"S\"\ndomain = \"exa mple.com\"\n")
        .starts_with("t.toml:8:10: error: invalid cookie domain \"exa mple.com\""));
    assert!(cookie("name = \"S\"\nmaxidle = \"0s\"\n")
        .starts_with("t.toml:8:11: error: duration for `maxidle` must be greater than zero"));
}

#[test]
fn server_cookie_values() {
    let with_cookie = |server: &str| {
        site("", "[backend.web.cookie]\nname = \"SRV\"\n").replace(
            "address = \"127.0.0.1:9001\"\n",
            &format!("address = \"127.0.0.1:9001\"\n{server}"),
        )
    };
    assert!(error(&with_cookie("cookie = \"a;b\"\n"))
        .starts_with("t.toml:12:10: error: invalid cookie value \"a;b\""));
    let dup = with_cookie(
        "cookie = \"x\"\n[[backend.web.server]]\nname = \"web2\"\naddress = \"127.0.0.1:9004\"\n\
         cookie = \"x\"\n",
    );
    assert_eq!(
        error(&dup),
        "t.toml:16:10: error: servers \"web1\" and \"web2\" have the same cookie value \"x\"\n  \
         help: each server needs its own value for persistence to work"
    );
    // Without a cookie section, a server cookie is a mistake.
    let text = site("", "").replace(
        "address = \"127.0.0.1:9001\"\n",
        "address = \"127.0.0.1:9001\"\ncookie = \"x\"\n",
    );
    assert!(error(&text).starts_with(
        "t.toml:10:10: error: server sets `cookie` but the backend has no cookie persistence"
    ));
}

#[test]
fn cookie_needs_http() {
    let text = site("", "").replace(
        "[backend.pg]\nmode = \"tcp\"\n",
        "[backend.pg]\nmode = \"tcp\"\ncookie = { name = \"S\" }\n",
    );
    assert!(error(&text).starts_with(
        "t.toml:16:1: error: backend \"pg\" is in tcp mode: cookie persistence needs http"
    ));
}
