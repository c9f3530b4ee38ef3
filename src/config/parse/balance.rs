//! `balance`, `hash_type` and `hash_balance_factor`: the algorithm of a backend (or of
//! `[defaults]`), with the settings of hashing backends.
//!
//! `balance` is one word or a word with an argument, as HAProxy writes it: `roundrobin`,
//! `leastconn`, `source`, `random` / `random(N)`, `uri [whole] [len N] [depth N]`, `url_param(NAME)`,
//! `hdr(NAME)`, `cookie(NAME)`. `hash_type` (`consistent`, the default, or `map-based`) and
//! `hash_balance_factor` apply to the hashing ones; set in a backend that does not hash they
//! are an error, set in `[defaults]` they apply to the backends that hash.

use std::ops::Range;

use super::walk::{expect_str, suggest, Cx, Table};
use crate::config::defaults as def;
use crate::config::{Balance, HashBalance, HashKey, HashMethod};

/// The forms `balance` accepts, for messages.
const FORMS: &[&str] = &[
    "roundrobin",
    "leastconn",
    "source",
    "random",
    "random(N)",
    "uri",
    "uri whole",
    "url_param(NAME)",
    "hdr(NAME)",
    "cookie(NAME)",
];

const HASH_TYPES: &[(&str, HashMethod)] = &[
    ("consistent", HashMethod::Consistent),
    ("map-based", HashMethod::MapBased),
];

/// What a section writes about balancing.
#[derive(Clone, Debug, Default)]
pub(super) struct BalanceDraft {
    pub(super) balance: Option<Balance>,
    pub(super) hash_type: Option<HashMethod>,
    pub(super) factor: Option<u32>,
}

/// Reads `balance`, `hash_type` and `hash_balance_factor` of `t`.
pub(super) fn draft(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> BalanceDraft {
    let balance = t.get("balance").and_then(|v| {
        let word = expect_str(cx, "balance", v)?;
        parse(cx, word, &v.span())
    });
    let factor = t.u32(cx, "hash_balance_factor", 0..=def::MAX_HASH_BALANCE_FACTOR);
    if let (Some(f), Some(span)) = (factor, t.get("hash_balance_factor").map(|v| v.span())) {
        if f != 0 && f < 100 {
            cx.error_help(
                &span,
                format!("hash_balance_factor {f} is below 100"),
                "it is a percentage of the average load a server may carry: 100 or more \
                 (125 lets a server take a quarter more than its share), or 0 for no bound",
            );
        }
    }
    BalanceDraft {
        balance,
        hash_type: t.enum_of(cx, "hash_type", "hash type", HASH_TYPES),
        factor,
    }
}

/// The backend's algorithm: its own draft over `[defaults]`'s over the default algorithm.
/// Hash settings written in the backend itself must fit its algorithm.
pub(super) fn resolve(
    cx: &mut Cx<'_>,
    t: &Table<'_, '_>,
    own: BalanceDraft,
    defaults: &BalanceDraft,
) -> Balance {
    let balance = own
        .balance
        .or_else(|| defaults.balance.clone())
        .unwrap_or(def::BALANCE);
    let hashes = matches!(balance, Balance::Hash(_));
    for key in ["hash_type", "hash_balance_factor"] {
        if let (false, Some(v)) = (hashes, t.get(key)) {
            cx.error_help(
                &v.span(),
                format!("`{key}` applies to hashing backends, not balance = \"{balance}\""),
                "use balance = \"uri\", \"url_param(NAME)\", \"hdr(NAME)\" or \"cookie(NAME)\", \
                 or remove it",
            );
        }
    }
    let Balance::Hash(mut h) = balance else {
        return balance;
    };
    h.method = own.hash_type.or(defaults.hash_type).unwrap_or(h.method);
    h.factor = own.factor.or(defaults.factor).unwrap_or(h.factor);
    if h.method == HashMethod::MapBased && h.factor != 0 {
        if let Some(v) = t.get("hash_balance_factor").or_else(|| t.get("hash_type")) {
            cx.error_help(
                &v.span(),
                "hash_balance_factor needs hash_type = \"consistent\"",
                "bounded load moves keys along the ring; map-based hashing has no ring",
            );
        }
        h.factor = 0;
    }
    Balance::Hash(h)
}

/// One `balance` value.
fn parse(cx: &mut Cx<'_>, word: &str, span: &Range<usize>) -> Option<Balance> {
    let hash = |key| {
        Some(Balance::Hash(HashBalance {
            key,
            method: HashMethod::Consistent,
            factor: 0,
            uri_len: 0,
            uri_depth: 0,
        }))
    };
    match word {
        "roundrobin" => return Some(Balance::RoundRobin),
        "leastconn" => return Some(Balance::LeastConn),
        "source" => return Some(Balance::Source),
        "random" => {
            return Some(Balance::Random {
                draws: def::RANDOM_DRAWS,
            })
        }
        _ => {}
    }
    if let Some(words) = word
        .strip_prefix("uri")
        .filter(|w| w.is_empty() || w.starts_with(' '))
    {
        return uri(cx, word, words, span);
    }
    if let Some((func, arg)) = word.strip_suffix(')').and_then(|w| w.split_once('(')) {
        let arg = arg.trim();
        match func.trim() {
            "random" => {
                return match arg.parse::<u32>() {
                    Ok(n) if (1..=def::MAX_RANDOM_DRAWS).contains(&n) => {
                        Some(Balance::Random { draws: n })
                    }
                    _ => {
                        cx.error_help(
                            span,
                            format!("invalid number of draws in \"{word}\""),
                            format!(
                                "random(N) draws N servers and takes the least loaded: \
                                 N from 1 to {}; random is random(2)",
                                def::MAX_RANDOM_DRAWS
                            ),
                        );
                        None
                    }
                };
            }
            f @ ("url_param" | "hdr" | "cookie") => {
                if arg.is_empty() || !arg.bytes().all(is_tchar) {
                    cx.error_help(
                        span,
                        format!("invalid name in \"{word}\""),
                        format!(
                            "{f}(NAME) takes one name made of letters, digits and \
                             !#$%&'*+-.^_`|~"
                        ),
                    );
                    return None;
                }
                return hash(match f {
                    "url_param" => HashKey::UrlParam(arg.to_owned()),
                    "hdr" => HashKey::Header(arg.to_ascii_lowercase()),
                    _ => HashKey::Cookie(arg.to_owned()),
                });
            }
            _ => {}
        }
    }
    let message = format!(
        "unknown balance algorithm \"{word}\" (expected one of: {})",
        FORMS.join(", ")
    );
    match suggest(word, FORMS.iter().copied()) {
        Some(s) => cx.error_help(span, message, format!("did you mean \"{s}\"?")),
        None => cx.error(span, message),
    }
    None
}

/// `uri [whole] [len N] [depth N]`; `words` is what follows `uri`.
fn uri(cx: &mut Cx<'_>, word: &str, words: &str, span: &Range<usize>) -> Option<Balance> {
    let mut h = HashBalance {
        key: HashKey::Path,
        method: HashMethod::Consistent,
        factor: 0,
        uri_len: 0,
        uri_depth: 0,
    };
    let mut it = words.split_whitespace();
    while let Some(w) = it.next() {
        let number = match w {
            "whole" => {
                h.key = HashKey::Uri;
                continue;
            }
            "len" | "depth" => it.next().and_then(|n| n.parse::<u32>().ok()),
            _ => None,
        };
        match (w, number) {
            ("len", Some(n)) if n > 0 => h.uri_len = n,
            ("depth", Some(n)) if n > 0 => h.uri_depth = n,
            _ => {
                cx.error_help(
                    span,
                    format!("invalid uri hashing \"{word}\""),
                    "uri [whole] [len N] [depth N]: `whole` adds the query, `len` hashes the \
                     first N bytes, `depth` the first N directory levels (N from 1)",
                );
                return None;
            }
        }
    }
    Some(Balance::Hash(h))
}

/// A token character (RFC 9110): what header, cookie and parameter names are made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{parse_str, Balance, Config, HashBalance, HashKey, HashMethod};

    fn site(backend: &str, server: &str) -> String {
        format!(
            "[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n\
             [backend.web]\n{backend}\n[[backend.web.server]]\nname = \"s\"\n\
             address = \"127.0.0.1:1\"\n{server}\n"
        )
    }

    fn ok(text: &str) -> Config {
        parse_str(text, "t.toml").unwrap_or_else(|d| panic!("{d:?}\n{text}"))
    }

    fn errors(text: &str) -> Vec<String> {
        match parse_str(text, "t.toml") {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn every_form_parses() {
        let hash = |key, method, factor| {
            Balance::Hash(HashBalance {
                key,
                method,
                factor,
                uri_len: 0,
                uri_depth: 0,
            })
        };
        let cases = [
            ("balance = \"random\"", Balance::Random { draws: 2 }),
            ("balance = \"random(5)\"", Balance::Random { draws: 5 }),
            (
                "balance = \"uri\"",
                hash(HashKey::Path, HashMethod::Consistent, 0),
            ),
            (
                "balance = \"uri len 12 depth 2\"",
                Balance::Hash(HashBalance {
                    key: HashKey::Path,
                    method: HashMethod::Consistent,
                    factor: 0,
                    uri_len: 12,
                    uri_depth: 2,
                }),
            ),
            (
                "balance = \"uri whole\"\nhash_type = \"map-based\"",
                hash(HashKey::Uri, HashMethod::MapBased, 0),
            ),
            (
                "balance = \"url_param(id)\"\nhash_balance_factor = 150",
                hash(HashKey::UrlParam("id".into()), HashMethod::Consistent, 150),
            ),
            (
                "balance = \"hdr(X-Tenant)\"",
                hash(
                    HashKey::Header("x-tenant".into()),
                    HashMethod::Consistent,
                    0,
                ),
            ),
            (
                "balance = \"cookie(SID)\"",
                hash(HashKey::Cookie("SID".into()), HashMethod::Consistent, 0),
            ),
        ];
        for (lines, want) in cases {
            let c = ok(&site(lines, ""));
            assert_eq!(c.backends[0].balance, want, "{lines}");
            // the name is written back as it is configured
            let shown = c.backends[0].balance.to_string();
            let again = ok(&site(&format!("balance = \"{shown}\""), ""));
            assert_eq!(
                std::mem::discriminant(&again.backends[0].balance),
                std::mem::discriminant(&want)
            );
        }
    }

    #[test]
    fn defaults_hash_settings_apply_to_hashing_backends() {
        let text = format!(
            "[defaults]\nbalance = \"uri\"\nhash_type = \"map-based\"\n{}",
            site("", "")
        );
        let c = ok(&text);
        assert!(matches!(
            &c.backends[0].balance,
            Balance::Hash(h) if h.method == HashMethod::MapBased
        ));
        // a backend that does not hash ignores the defaults' hash settings
        let text = format!(
            "[defaults]\nhash_balance_factor = 150\n{}",
            site("balance = \"leastconn\"", "")
        );
        assert_eq!(ok(&text).backends[0].balance, Balance::LeastConn);
    }

    #[test]
    fn bad_values_name_their_place() {
        let cases = [
            (
                "balance = \"random(0)\"",
                "t.toml:5:11: error: invalid number of draws in \"random(0)\"",
            ),
            (
                "balance = \"uri depth x\"",
                "t.toml:5:11: error: invalid uri hashing \"uri depth x\"",
            ),
            (
                "balance = \"hdr()\"",
                "t.toml:5:11: error: invalid name in \"hdr()\"",
            ),
            (
                "balance = \"url\"",
                "t.toml:5:11: error: unknown balance algorithm \"url\"",
            ),
            (
                "balance = \"roundrobin\"\nhash_type = \"consistent\"",
                "t.toml:6:13: error: `hash_type` applies to hashing backends, not balance = \
                 \"roundrobin\"",
            ),
            (
                "balance = \"uri\"\nhash_balance_factor = 50",
                "t.toml:6:23: error: hash_balance_factor 50 is below 100",
            ),
            (
                "balance = \"uri\"\nhash_type = \"map-based\"\nhash_balance_factor = 150",
                "t.toml:7:23: error: hash_balance_factor needs hash_type = \"consistent\"",
            ),
            (
                "slowstart = \"2h\"",
                "t.toml:5:13: error: slowstart of 7200s is too long",
            ),
            ("maxqueue = -1", "t.toml:5:12: error:"),
        ];
        for (lines, want) in cases {
            let got = errors(&site(lines, ""));
            assert!(
                got.first().is_some_and(|e| e.starts_with(want)),
                "{lines}: {got:?}"
            );
        }
    }

    #[test]
    fn slowstart_and_maxqueue_of_backend_and_servers() {
        let c = ok(&site("slowstart = \"30s\"\nmaxqueue = 100", "maxqueue = 5"));
        let b = &c.backends[0];
        assert_eq!(b.maxqueue, 100);
        assert_eq!(b.servers[0].slowstart, Duration::from_secs(30));
        assert_eq!(b.servers[0].maxqueue, 5);
        let c = ok(&site("slowstart = \"30s\"", "slowstart = \"0s\""));
        assert_eq!(c.backends[0].servers[0].slowstart, Duration::ZERO);
        assert_eq!(c.backends[0].maxqueue, 0);
    }
}
