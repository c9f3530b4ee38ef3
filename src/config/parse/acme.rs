//! `[acme]` (the ACME server, the terms, the state directory) and the names a TLS frontend
//! wants a certificate for (`acme`, `acme_challenge` in `[frontend.X.tls]`), with the checks
//! across sections: names need `[acme]` with the terms agreed, `http-01` needs a plain HTTP
//! listener, and a name belongs to one frontend.

use std::collections::HashMap;
use std::path::PathBuf;

use super::walk::{Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::{Acme, AcmeChallenge, AcmeNames, Frontend, Mode};

const ACME: Schema = Schema {
    known: &[
        "directory",
        "contact",
        "ca",
        "agree_terms",
        "state_dir",
        "renew_before",
        "retry_min",
        "retry_max",
    ],
    elsewhere: &[
        (
            "names",
            "names belong to a TLS frontend: set acme = [\"www.example.com\"] in [frontend.NAME.tls]",
        ),
        (
            "challenge",
            "the challenge is chosen per TLS frontend: set acme_challenge in [frontend.NAME.tls]",
        ),
    ],
    names: false,
};

const CHALLENGES: &[(&str, AcmeChallenge)] = &[
    ("http-01", AcmeChallenge::Http01),
    ("tls-alpn-01", AcmeChallenge::TlsAlpn01),
];

/// Longest DNS name (RFC 1035).
const MAX_DNS_NAME: usize = 253;

/// `[acme]`.
pub(super) fn parse_acme(cx: &mut Cx<'_>, root: &Table<'_, '_>) -> Option<Acme> {
    let t = root.table(cx, "acme", &ACME)?;
    let place = cx.place(t.span.start);
    let directory = match t.str(cx, "directory") {
        Some((url, span)) => {
            if !url.starts_with("https://") || url.len() <= "https://".len() {
                cx.error_help(
                    &span,
                    format!("ACME directory \"{url}\" is not an https:// URL"),
                    "e.g. directory = \"https://acme-staging-v02.api.letsencrypt.org/directory\"",
                );
            }
            url.to_owned()
        }
        None => {
            if t.lacks("directory") {
                cx.error_help(
                    &t.span,
                    "[acme] has no `directory`",
                    "add the CA's directory URL, e.g. directory = \
                     \"https://acme-staging-v02.api.letsencrypt.org/directory\"",
                );
            }
            String::new()
        }
    };
    let mut contact = Vec::new();
    for (c, span) in t.strings(cx, "contact").unwrap_or_default() {
        let address = c.strip_prefix("mailto:").unwrap_or(c);
        let ok = address.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.starts_with('.')
        }) && !address.contains([',', ' ', '<', '>']);
        if ok {
            contact.push(format!("mailto:{address}"));
        } else {
            cx.error_help(
                &span,
                format!("invalid ACME contact \"{c}\""),
                "an e-mail address, e.g. contact = [\"ops@example.com\"]",
            );
        }
    }
    let ca = t
        .str(cx, "ca")
        .map(|(p, _)| PathBuf::from(p))
        .unwrap_or_else(|| PathBuf::from(def::ACME_CA));
    let agree_terms = t.bool(cx, "agree_terms").unwrap_or(false);
    let state_dir = match t.str(cx, "state_dir") {
        Some((p, span)) if !p.starts_with('/') => {
            cx.error_help(
                &span,
                format!("state_dir \"{p}\" is not an absolute path"),
                format!("e.g. state_dir = \"{}\"", def::ACME_STATE_DIR),
            );
            PathBuf::from(p)
        }
        Some((p, _)) => PathBuf::from(p),
        None => PathBuf::from(def::ACME_STATE_DIR),
    };
    let renew_before = t.duration(cx, "renew_before", false);
    let retry_min = t
        .duration(cx, "retry_min", false)
        .unwrap_or(def::ACME_RETRY_MIN);
    let retry_max = t
        .duration(cx, "retry_max", false)
        .unwrap_or(def::ACME_RETRY_MAX);
    if retry_max < retry_min {
        let span = t.get("retry_max").map_or(t.span.clone(), |v| v.span());
        cx.error_help(
            &span,
            "retry_max is shorter than retry_min",
            "the wait doubles from retry_min up to retry_max",
        );
    }
    Some(Acme {
        directory,
        contact,
        ca,
        agree_terms,
        state_dir,
        renew_before,
        retry_min,
        retry_max,
        place,
    })
}

/// `acme = [NAME, …]` and `acme_challenge` in a frontend's `[tls]`.
pub(super) fn frontend_names(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Option<AcmeNames> {
    let challenge_given = t.get("acme_challenge").is_some();
    let challenge = t
        .enum_of(cx, "acme_challenge", "ACME challenge", CHALLENGES)
        .unwrap_or(def::ACME_CHALLENGE);
    let Some(value) = t.get("acme") else {
        if challenge_given {
            let span = t.key_span("acme_challenge").unwrap_or(t.span.clone());
            cx.error_help(
                &span,
                "`acme_challenge` without `acme`",
                "list the names to get a certificate for: acme = [\"www.example.com\"]",
            );
        }
        return None;
    };
    let place = cx.place(value.span().start);
    let list = t.strings(cx, "acme")?;
    if list.is_empty() {
        cx.error_help(
            &value.span(),
            "`acme` lists no name",
            "list the names to get a certificate for: acme = [\"www.example.com\"]",
        );
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for (name, span) in list {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        if lower.starts_with("*.") {
            cx.error_help(
                &span,
                format!("wildcard name \"{name}\": http-01 and tls-alpn-01 cannot prove it"),
                "a wildcard needs the dns-01 challenge, which ringlb does not answer; list \
                 each name instead",
            );
            continue;
        }
        if !dns_name(&lower) {
            cx.error_help(
                &span,
                format!("\"{name}\" is not a DNS name"),
                "letters, digits and '-' in dot-separated labels, e.g. \"www.example.com\"; \
                 a CA issues no certificate for an IP address by these challenges",
            );
            continue;
        }
        if names.contains(&lower) {
            cx.error(&span, format!("\"{name}\" is listed twice"));
            continue;
        }
        names.push(lower);
    }
    Some(AcmeNames {
        names,
        challenge,
        place,
    })
}

/// A DNS name with at least two labels, none empty or longer than 63, LDH characters only.
fn dns_name(name: &str) -> bool {
    name.len() <= MAX_DNS_NAME
        && name.contains('.')
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks across sections: `[acme]` present and its terms agreed where a frontend lists
/// names, a plain HTTP listener for `http-01`, each name in one frontend.
pub(super) fn check(cx: &mut Cx<'_>, acme: Option<&Acme>, frontends: &[&Frontend]) {
    let wanting: Vec<(&Frontend, &AcmeNames)> = frontends
        .iter()
        .filter_map(|f| Some((*f, f.tls.as_ref()?.acme.as_ref()?)))
        .collect();
    let Some((_, first)) = wanting.first() else {
        return;
    };
    match acme {
        None => cx.error_at(
            &first.place,
            "`acme` names need an [acme] section",
            "add [acme] with directory, contact, agree_terms = true (see docs/config-reference.md)",
        ),
        Some(a) if !a.agree_terms => cx.error_at(
            &a.place,
            "[acme] does not agree to the CA's terms of service",
            "read the terms the directory links to, then set agree_terms = true",
        ),
        Some(_) => {}
    }
    let plain_http = frontends
        .iter()
        .any(|f| f.mode == Mode::Http && !f.binds.is_empty());
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for (f, names) in &wanting {
        if names.challenge == AcmeChallenge::Http01 && !plain_http {
            cx.error_at(
                &names.place,
                format!(
                    "frontend \"{}\" answers http-01 but no HTTP frontend has a plain `bind`",
                    f.name
                ),
                "the CA fetches http-01 answers from port 80: add bind = \"0.0.0.0:80\" to an \
                 HTTP frontend, or set acme_challenge = \"tls-alpn-01\"",
            );
        }
        for n in &names.names {
            if let Some(other) = owner.insert(n, &f.name) {
                cx.error_at(
                    &names.place,
                    format!("\"{n}\" is also an `acme` name of frontend \"{other}\""),
                    "each name gets its certificate from one frontend: list it once",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dns_name;
    use crate::config::parse::parse_str;
    use crate::config::{AcmeChallenge, Config};

    const ACME: &str = r#"
[acme]
directory = "https://acme-staging-v02.api.letsencrypt.org/directory"
contact = ["ops@example.com"]
agree_terms = true
"#;

    fn site(acme: &str, tls: &str, plain_bind: bool) -> String {
        let bind = if plain_bind {
            "bind = \"0.0.0.0:80\"\n"
        } else {
            ""
        };
        format!(
            "{acme}\n[frontend.www]\n{bind}default_backend = \"web\"\n\
             [frontend.www.tls]\nbind = \"0.0.0.0:443\"\n{tls}\n\
             [backend.web]\n[[backend.web.server]]\nname = \"a\"\naddress = \"127.0.0.1:8080\"\n"
        )
    }

    fn parse(text: &str) -> Result<Config, String> {
        parse_str(text, "t.toml").map_err(|d| {
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn an_acme_frontend_needs_no_certificate_file() {
        let c = parse(&site(
            ACME,
            "acme = [\"WWW.example.com\", \"example.com.\"]",
            true,
        ))
        .unwrap();
        let a = c.acme.unwrap();
        assert_eq!(a.contact, vec!["mailto:ops@example.com".to_owned()]);
        assert_eq!(a.state_dir.to_str(), Some("/var/lib/ringlb/acme"));
        let names = c.frontends[0].tls.as_ref().unwrap().acme.clone().unwrap();
        assert_eq!(names.names, vec!["www.example.com", "example.com"]);
        assert_eq!(names.challenge, AcmeChallenge::Http01);
    }

    #[test]
    fn acme_mistakes_are_reported_at_their_place() {
        let e = parse(&site("", "acme = [\"www.example.com\"]", true)).unwrap_err();
        assert!(
            e.contains("t.toml:") && e.contains("need an [acme] section"),
            "{e}"
        );
        let no_terms = ACME.replace("agree_terms = true", "");
        let e = parse(&site(&no_terms, "acme = [\"www.example.com\"]", true)).unwrap_err();
        assert!(e.contains("does not agree to the CA's terms"), "{e}");
        let e = parse(&site(ACME, "acme = [\"*.example.com\"]", true)).unwrap_err();
        assert!(e.contains("wildcard name"), "{e}");
        let e = parse(&site(ACME, "acme = [\"www.example.com\"]", false)).unwrap_err();
        assert!(
            e.contains("answers http-01 but no HTTP frontend has a plain `bind`"),
            "{e}"
        );
        let ok = parse(&site(
            ACME,
            "acme = [\"www.example.com\"]\nacme_challenge = \"tls-alpn-01\"",
            false,
        ));
        assert!(ok.is_ok(), "{ok:?}");
        let e = parse(&site(
            ACME,
            "acme = [\"www.example.com\"]\nacme_challenge = \"dns-01\"",
            true,
        ))
        .unwrap_err();
        assert!(e.contains("unknown ACME challenge"), "{e}");
        let http = ACME.replace("https://acme-staging", "http://acme-staging");
        let e = parse(&site(&http, "acme = [\"www.example.com\"]", true)).unwrap_err();
        assert!(e.contains("is not an https:// URL"), "{e}");
        let e = parse(&site(ACME, "", true)).unwrap_err();
        assert!(e.contains("has no certificate"), "{e}");
    }

    #[test]
    fn dns_names_are_checked() {
        assert!(dns_name("www.example.com"));
        assert!(dns_name("a-b.test"));
        assert!(!dns_name("localhost"));
        assert!(!dns_name("127.0.0.1"));
        assert!(!dns_name("-a.example.com"));
        assert!(!dns_name("a..example.com"));
        assert!(!dns_name("a_b.example.com"));
    }
}
