//! `[frontend.X.acl]` and `[[frontend.X.route]]`: the condition strings are parsed by
//! `crate::route` here, at load time, so a running worker only ever sees valid conditions.
//!
//! An error inside a string points at the start of the string (TOML escapes make exact
//! columns inside it unreliable) and names the character and token at fault.

use std::ops::Range;

use super::walk::{expect_str, suggest, Cx, Schema, Table};
use crate::config::{Mode, Route};
use crate::route::{self, Acl, Condition, Criterion, Guard, ParseError};

const ROUTE: Schema = Schema {
    known: &["backend", "if", "unless"],
    elsewhere: &[(
        "default_backend",
        "default_backend belongs to [frontend.NAME]; a route names its `backend`",
    )],
    names: false,
};

/// A route and the span of its `backend` value, for the cross-reference check.
pub(super) struct RouteDraft {
    pub(super) route: Route,
    pub(super) backend_span: Option<Range<usize>>,
}

/// The frontend whose routing is being read: what every diagnostic names and the mode that
/// decides which criteria are testable.
#[derive(Clone, Copy)]
struct Fe<'a> {
    name: &'a str,
    /// `frontend` or `backend`: whose ACL table a message points at.
    kind: &'a str,
    /// `None` when the frontend's mode was invalid.
    mode: Option<Mode>,
}

/// The ACLs and routes of one frontend. `mode` is `None` when the frontend's mode was invalid.
pub(super) fn parse_routing(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    frontend: &str,
    mode: Option<Mode>,
) -> (Vec<Acl>, Vec<RouteDraft>) {
    let fe = Fe {
        name: frontend,
        kind: "frontend",
        mode,
    };
    let acls = parse_acls(cx, t, fe);
    let names: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    let mut routes = Vec::new();
    for rt in t.array_of_tables(cx, "route", &ROUTE).unwrap_or_default() {
        let backend = rt.str(cx, "backend");
        if backend.is_none() && rt.lacks("backend") {
            cx.error_help(
                &rt.span,
                format!("{} has no `backend`", rt.shown()),
                "add backend = \"NAME\" naming a [backend.NAME] section",
            );
        }
        let cond_if = rt.str(cx, "if");
        let cond_unless = rt.str(cx, "unless");
        let guard = match (cond_if, cond_unless) {
            (Some(_), Some((_, span))) => {
                cx.error_help(
                    &span,
                    "a route has both `if` and `unless`",
                    "keep one; `unless X` is `if !X`",
                );
                Guard::Always
            }
            (Some((text, span)), None) => {
                condition(cx, text, &span, &names, fe).map_or(Guard::Always, Guard::If)
            }
            (None, Some((text, span))) => {
                condition(cx, text, &span, &names, fe).map_or(Guard::Always, Guard::Unless)
            }
            (None, None) => Guard::Always,
        };
        routes.push(RouteDraft {
            route: Route {
                backend: backend
                    .as_ref()
                    .map(|(b, _)| (*b).to_owned())
                    .unwrap_or_default(),
                guard,
            },
            backend_span: backend.map(|(_, span)| span),
        });
    }
    (acls, routes)
}

/// The `[backend.X.acl]` table of a backend (its rules' named conditions).
pub(super) fn parse_backend_acls(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    backend: &str,
    mode: Option<Mode>,
) -> Vec<Acl> {
    let fe = Fe {
        name: backend,
        kind: "backend",
        mode,
    };
    parse_acls(cx, t, fe)
}

/// The `if` / `unless` of a rule table, checked against the section's `acls`.
pub(super) fn parse_guard(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    acls: &[&str],
    section: (&str, &str),
    mode: Option<Mode>,
) -> Guard {
    let fe = Fe {
        kind: section.0,
        name: section.1,
        mode,
    };
    match (t.str(cx, "if"), t.str(cx, "unless")) {
        (Some(_), Some((_, span))) => {
            cx.error_help(
                &span,
                "a rule has both `if` and `unless`",
                "keep one; `unless X` is `if !X`",
            );
            Guard::Always
        }
        (Some((text, span)), None) => {
            condition(cx, text, &span, acls, fe).map_or(Guard::Always, Guard::If)
        }
        (None, Some((text, span))) => {
            condition(cx, text, &span, acls, fe).map_or(Guard::Always, Guard::Unless)
        }
        (None, None) => Guard::Always,
    }
}

fn parse_acls(cx: &mut Cx<'_>, t: &Table<'_, '_>, fe: Fe<'_>) -> Vec<Acl> {
    let mut acls = Vec::new();
    let Some(table) = t.table(cx, "acl", &Schema::NAMES) else {
        return acls;
    };
    for (name, name_span, value) in table.entries() {
        if !route::is_acl_name(name) {
            cx.error_help(
                &name_span,
                format!("invalid ACL name \"{name}\""),
                "ACL names use only ASCII letters, digits, '-', '_' and '.'",
            );
        }
        let items: Vec<_> = match value.get_ref() {
            toml::de::DeValue::Array(items) => items.iter().collect(),
            _ => vec![value],
        };
        for item in items {
            let Some(text) = expect_str(cx, name, item) else {
                continue;
            };
            let span = item.span();
            match route::parse_criterion(text) {
                Ok(c) => {
                    tcp_check(cx, &span, &c, fe, &format!("ACL \"{name}\""));
                    acls.push(Acl {
                        name: name.to_owned(),
                        criteria: vec![c],
                    });
                }
                Err(e) => report(cx, &span, &format!("in ACL \"{name}\""), text, &e),
            }
        }
    }
    acls
}

/// Parses an `if` / `unless` string and checks the ACLs it names.
fn condition(
    cx: &mut Cx<'_>,
    text: &str,
    span: &Range<usize>,
    acls: &[&str],
    fe: Fe<'_>,
) -> Option<Condition> {
    let c = match route::parse_condition(text) {
        Ok(c) => c,
        Err(e) => {
            report(cx, span, "in condition", text, &e);
            return None;
        }
    };
    let mut ok = true;
    for (name, offset) in c.acl_refs() {
        if acls.contains(&name) {
            continue;
        }
        ok = false;
        let help = match suggest(name, acls.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None if acls.is_empty() => {
                let (kind, section) = (fe.kind, fe.name);
                format!("{kind} \"{section}\" defines no ACL; add [{kind}.{section}.acl] {name} = \"CRITERION VALUES…\"")
            }
            None => format!("defined ACLs: {}", acls.join(", ")),
        };
        let at = char_index(text, offset);
        cx.error_help(
            span,
            format!("in condition: unknown ACL \"{name}\" (at character {at})"),
            help,
        );
    }
    for term in c.any_of.iter().flatten() {
        if let route::Test::Inline(crit) = &term.test {
            tcp_check(cx, span, crit, fe, "condition");
        }
    }
    ok.then_some(c)
}

/// In tcp mode only the connection is known when the backend is chosen: the client address,
/// TLS (when ringlb terminates it) or the ClientHello's server name (when it passes TLS
/// through). `req.ssl_sni` means the latter, so it belongs to tcp mode only.
fn tcp_check(cx: &mut Cx<'_>, span: &Range<usize>, c: &Criterion, fe: Fe<'_>, what: &str) {
    let frontend = fe.name;
    if c.tracks() && fe.kind == "backend" {
        cx.error_help(
            span,
            format!("{what} of backend \"{frontend}\" tests a tracking counter (sc_*)"),
            "clients are tracked per frontend: test counters in its [[frontend.NAME.request_rule]]s",
        );
        return;
    }
    let connection_level = matches!(
        c,
        Criterion::Src(_)
            | Criterion::Tls
            | Criterion::Sni(_)
            | Criterion::HelloSni(_)
            | Criterion::Track { .. }
    );
    match fe.mode {
        Some(Mode::Tcp) if !connection_level => cx.error_help(
            span,
            format!("{what} tests HTTP data but frontend \"{frontend}\" is in tcp mode"),
            "in tcp mode only `src`, `req.ssl_sni`, `ssl_fc`, `ssl_fc_sni` and the tracking \
             counters (`sc_*`, in connection rules) can be tested",
        ),
        Some(Mode::Http) if matches!(c, Criterion::HelloSni(_)) => cx.error_help(
            span,
            format!("{what} reads a ClientHello ringlb passes through, but frontend \"{frontend}\" is in http mode"),
            "on an http frontend with TLS, test the server name with `ssl_fc_sni`",
        ),
        _ => {}
    }
}

/// An error from the expression parser, anchored at the string and naming the token.
fn report(cx: &mut Cx<'_>, span: &Range<usize>, context: &str, text: &str, e: &ParseError) {
    let at = char_index(text, e.offset);
    let token: String = text
        .get(e.offset..)
        .unwrap_or("")
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let place = if token.is_empty() {
        "at the end".to_owned()
    } else {
        format!("at character {at}, \"{token}\"")
    };
    let message = format!("{context}: {} ({place})", e.message);
    match &e.help {
        Some(help) => cx.error_help(span, message, help.clone()),
        None => cx.error(span, message),
    }
}

/// 1-based character index of byte `offset` in `text`.
fn char_index(text: &str, offset: usize) -> usize {
    text.char_indices().take_while(|(i, _)| *i < offset).count() + 1
}
