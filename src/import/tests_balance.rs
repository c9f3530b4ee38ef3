//! Translation of balancing: `balance uri|url_param|hdr|random|hash`, `hash-type`,
//! `hash-balance-factor`, and the server options `slowstart` and `maxqueue`.

use std::time::Duration;

use super::tests::{be, load};
use super::translate;
use crate::config::{Balance, HashBalance, HashKey, HashMethod};

fn hashing(key: HashKey, method: HashMethod, factor: u32) -> Balance {
    Balance::Hash(HashBalance {
        key,
        method,
        factor,
        uri_len: 0,
        uri_depth: 0,
    })
}

fn backend(lines: &str) -> String {
    format!(
        "frontend www\n bind :80\n mode http\n default_backend app\n\
         backend app\n mode http\n{lines}\n server a1 10.0.0.1:8080\n server a2 10.0.0.2:8080\n"
    )
}

#[test]
fn hashing_algorithms_translate_with_their_type() {
    let cases = [
        (
            " balance uri\n",
            hashing(HashKey::Path, HashMethod::MapBased, 0),
        ),
        (
            " balance uri whole\n hash-type consistent\n hash-balance-factor 150\n",
            hashing(HashKey::Uri, HashMethod::Consistent, 150),
        ),
        (
            " balance url_param userid\n hash-type consistent\n",
            hashing(
                HashKey::UrlParam("userid".into()),
                HashMethod::Consistent,
                0,
            ),
        ),
        (
            " balance hdr(Host)\n",
            hashing(HashKey::Header("host".into()), HashMethod::MapBased, 0),
        ),
        (
            " balance hash req.cookie(SESSION)\n hash-type consistent\n",
            hashing(HashKey::Cookie("SESSION".into()), HashMethod::Consistent, 0),
        ),
        (" balance random\n", Balance::Random { draws: 2 }),
        (" balance random(3)\n", Balance::Random { draws: 3 }),
    ];
    for (lines, want) in cases {
        let (t, c) = load(&backend(lines));
        assert_eq!(be(&c, "app").balance, want, "{lines}\n{}", t.toml);
        assert!(t.skipped.is_empty(), "{lines}: {:?}", t.skipped);
        if matches!(want, Balance::Hash(_)) {
            assert!(
                t.toml.contains("each key sticks to one server"),
                "{}",
                t.toml
            );
        }
    }
    // HAProxy's default hash type is said where it decides
    let (t, _) = load(&backend(" balance uri\n"));
    assert!(t.toml.contains("map-based: HAProxy's default hash-type"));
}

#[test]
fn defaults_hash_settings_reach_the_hashing_backends_only() {
    let cfg = "defaults\n mode http\n hash-type consistent avalanche\n hash-balance-factor 125\n\
               frontend www\n bind :80\n default_backend app\n use_backend api if { path_beg /api }\n\
               backend app\n balance url_param id\n server a1 10.0.0.1:8080\n\
               backend api\n balance roundrobin\n server b1 10.0.0.2:8080\n";
    let (t, c) = load(cfg);
    assert_eq!(
        be(&c, "app").balance,
        hashing(HashKey::UrlParam("id".into()), HashMethod::Consistent, 125)
    );
    assert_eq!(be(&c, "api").balance, Balance::RoundRobin);
    assert!(
        t.toml.contains("ringlb has one hash function"),
        "{}",
        t.toml
    );
    assert!(t.toml.contains("hash-type/hash-balance-factor dropped"));
}

#[test]
fn untranslatable_balance_parts_are_listed() {
    let t = translate(&backend(" balance uri len 10 depth 2 foo\n"), "h");
    assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
    assert!(
        t.skipped[0].why.contains("balance uri foo"),
        "{:?}",
        t.skipped
    );
    assert!(
        t.toml.contains("balance = \"uri len 10 depth 2\""),
        "{}",
        t.toml
    );
    let t = translate(&backend(" balance url_param id check_post 64\n"), "h");
    assert!(
        t.skipped[0].why.contains("check_post 64"),
        "{:?}",
        t.skipped
    );
    let t = translate(&backend(" balance hdr(host) use_domain_only\n"), "h");
    assert!(
        t.skipped[0].why.contains("use_domain_only"),
        "{:?}",
        t.skipped
    );
    for (line, why) in [
        (" balance rdp-cookie\n", "RDP"),
        (" balance rdp-cookie(mstshash)\n", "RDP"),
        (" balance hash src\n", "balance hash src"),
        (" balance random(0)\n", "draws must be 1 to 100"),
        (" hash-type weird\n", "consistent and map-based"),
    ] {
        let t = translate(&backend(line), "h");
        assert_eq!(t.skipped.len(), 1, "{line}: {:?}", t.skipped);
        assert!(t.skipped[0].why.contains(why), "{line}: {:?}", t.skipped);
        // the rest still loads
        load(&backend(line));
    }
}

#[test]
fn slowstart_and_maxqueue_come_from_servers_and_default_server() {
    let (t, c) = load(&backend(
        " default-server slowstart 30s maxqueue 20\n server a3 10.0.0.3:8080 slowstart 0 \
         maxqueue 5",
    ));
    let b = be(&c, "app");
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    // a3 (written first) sets its own; a1 and a2 take default-server's
    assert_eq!(b.servers[0].slowstart, Duration::ZERO);
    assert_eq!(b.servers[0].maxqueue, 5);
    for s in &b.servers[1..] {
        assert_eq!((s.slowstart, s.maxqueue), (Duration::from_secs(30), 20));
    }
    // HAProxy has no backend-wide bound: none is written
    assert_eq!(b.maxqueue, 0);
}
