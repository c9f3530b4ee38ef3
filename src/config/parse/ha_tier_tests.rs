//! `[ha.active_active]` and `[ha.lvs]`: values, defaults, and every error with its place.

use crate::config::defaults as def;
use crate::config::{parse_str, Config, LvsScheduler, VirtualIp};

const HA: &str = "[ha]\ninterface = \"eth0\"\nvirtual_ips = [\"192.0.2.100/24\"]\nrouter_id = 51\n\
                  priority = 150\n";

fn site(extra: &str) -> String {
    format!(
        "{HA}{extra}\n[frontend.www]\nbind = \"127.0.0.1:8080\"\ndefault_backend = \"web\"\n\
         [backend.web]\n[[backend.web.server]]\nname = \"web1\"\naddress = \"127.0.0.1:9001\"\n"
    )
}

fn ok(extra: &str) -> Config {
    match parse_str(&site(extra), "t.toml") {
        Ok(c) => c,
        Err(d) => panic!("{:?}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>()),
    }
}

fn errors(extra: &str) -> Vec<String> {
    match parse_str(&site(extra), "t.toml") {
        Ok(_) => panic!("accepted: {extra}"),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn active_active_values_and_default_priority() {
    let c = ok("[ha.active_active]\nvirtual_ips = [\"192.0.2.101/24\"]\nrouter_id = 52\n");
    let aa = c.ha.and_then(|h| h.active_active).unwrap();
    assert_eq!(
        aa.virtual_ips,
        [VirtualIp {
            addr: "192.0.2.101".parse().unwrap(),
            prefix: 24
        }]
    );
    assert_eq!(
        (aa.router_id, aa.priority),
        (52, def::HA_ACTIVE_ACTIVE_PRIORITY)
    );
}

#[test]
fn active_active_errors() {
    // Line 6 is [ha.active_active]; its keys follow.
    assert_eq!(
        errors("[ha.active_active]\nvirtual_ips = [\"192.0.2.101\"]\nrouter_id = 51\n"),
        [
            "t.toml:8:13: error: `router_id` 51 is also [ha] router_id\n  help: the peer's \
          instance needs its own virtual router id: the peer's [ha] router_id"
        ]
    );
    let e = errors(
        "[ha.active_active]\nvirtual_ips = [\"192.0.2.101\"]\nrouter_id = 52\npriority = 150\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "t.toml:9:12: error: [ha.active_active] priority 150 is not below [ha] priority 150"
        ),
        "{e:?}"
    );
    let e = errors("[ha.active_active]\npriority = 10\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("[ha.active_active] has no `virtual_ips`"),
        "{e:?}"
    );
    assert!(
        e[1].contains("[ha.active_active] has no `router_id`"),
        "{e:?}"
    );
    let e = errors("[ha.active_active]\nvirtual_ips = []\nrouter_id = 52\nlouder = 1\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter().any(|e| e.contains("`virtual_ips` is empty")),
        "{e:?}"
    );
    assert!(e.iter().any(|e| e.contains("louder")), "{e:?}");
}

#[test]
fn lvs_values_and_defaults() {
    let c = ok("[ha.lvs]\nports = [80, 443]\nreal_servers = [\"192.0.2.21\", \"192.0.2.22\"]\n");
    let l = c.ha.and_then(|h| h.lvs).unwrap();
    assert_eq!(l.ports, [80, 443]);
    assert_eq!(
        l.real_servers,
        [
            "192.0.2.21".parse::<std::net::IpAddr>().unwrap(),
            "192.0.2.22".parse().unwrap()
        ]
    );
    assert_eq!(l.scheduler, def::LVS_SCHEDULER);
    assert_eq!(
        (l.check_path.as_str(), l.check_port),
        (def::LVS_CHECK_PATH, 80)
    );

    let c = ok(
        "[ha.lvs]\nports = 443\nreal_servers = \"192.0.2.21\"\nscheduler = \"mh\"\n\
                check_path = \"/health?full=1\"\ncheck_port = 8404\n",
    );
    let l = c.ha.and_then(|h| h.lvs).unwrap();
    assert_eq!(l.ports, [443]);
    assert_eq!(l.scheduler, LvsScheduler::MaglevHashing);
    assert_eq!(l.scheduler.name(), "mh");
    assert_eq!(
        (l.check_path.as_str(), l.check_port),
        ("/health?full=1", 8404)
    );
}

#[test]
fn lvs_errors() {
    let e = errors("[ha.lvs]\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("[ha.lvs] has no `ports`"), "{e:?}");
    assert!(e[1].contains("[ha.lvs] has no `real_servers`"), "{e:?}");
    let e = errors(
        "[ha.lvs]\nports = [80, 80, 0]\nreal_servers = [\"192.0.2.21\", \"192.0.2.21\", \"x\"]\n\
         scheduler = \"rrr\"\ncheck_path = \"health\"\n",
    );
    assert_eq!(
        e.iter()
            .map(|e| e.lines().next().unwrap_or(""))
            .collect::<Vec<_>>(),
        [
            "t.toml:7:14: error: `ports` lists 80 twice",
            "t.toml:7:18: error: `ports` must be between 1 and 65535, found 0",
            "t.toml:8:31: error: `real_servers` lists 192.0.2.21 twice",
            "t.toml:8:45: error: invalid IP address \"x\" in `real_servers`",
            "t.toml:9:13: error: unknown IPVS scheduler \"rrr\" (expected one of: rr, wrr, lc, \
             wlc, sh, mh)",
            "t.toml:10:14: error: invalid `check_path` \"health\"",
        ]
    );
    let e = errors("[ha.lvs]\nports = []\nreal_servers = []\n");
    assert_eq!(e.len(), 2, "{e:?}");
}
