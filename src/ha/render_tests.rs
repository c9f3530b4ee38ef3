use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::VirtualIp;

fn ha() -> Ha {
    Ha {
        interface: "eth0".into(),
        virtual_ips: vec![VirtualIp {
            addr: "192.0.2.100".parse().unwrap(),
            prefix: 24,
        }],
        router_id: 51,
        priority: 100,
        state: VrrpState::Backup,
        unicast_src: None,
        peers: Vec::new(),
        auth_pass: None,
        advert_int: Duration::from_secs(1),
        check_interval: Duration::from_secs(1),
        sync: None,
        active_active: None,
        lvs: None,
    }
}

fn opts() -> RenderOptions<'static> {
    RenderOptions {
        router_name: "lb-a",
        binary: Path::new("/usr/bin/ringlb"),
        config: Path::new("/etc/ringlb/ringlb.toml"),
        script_user: "ringlb",
        notify_log: None,
    }
}

/// The rendered lines without comments and indentation, for exact comparisons.
fn directives(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn has(text: &str, line: &str) -> bool {
    directives(text).iter().any(|l| l == line)
}

#[test]
fn multicast_ipv4_defaults_whole_file() {
    let text = render(&ha(), &opts()).unwrap();
    assert_eq!(
        directives(&text),
        [
            "global_defs {",
            "router_id lb-a",
            "enable_script_security",
            "script_user ringlb",
            "}",
            "vrrp_script chk_ringlb {",
            "script \"/usr/bin/ringlb ha check -c /etc/ringlb/ringlb.toml\"",
            "interval 1",
            "timeout 3",
            "fall 2",
            "rise 2",
            "weight 0",
            "}",
            "vrrp_instance ringlb {",
            "state BACKUP",
            "nopreempt",
            "interface eth0",
            "virtual_router_id 51",
            "priority 100",
            "advert_int 1",
            "virtual_ipaddress {",
            "192.0.2.100/24 dev eth0",
            "}",
            "track_script {",
            "chk_ringlb",
            "}",
            "notify \"/usr/bin/ringlb ha notify\"",
            "}",
        ]
    );
    assert!(text.contains("multicast VRRP"));
    assert!(!text.contains("unicast_peer"));
}

#[test]
fn every_directive_is_commented() {
    let mut h = ha();
    h.peers = vec!["192.0.2.12".parse().unwrap()];
    h.unicast_src = Some("192.0.2.11".parse().unwrap());
    h.auth_pass = Some("s3cret".into());
    let text = render(&h, &opts()).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    // Each setting has a comment at most three lines above it (a comment may explain a group:
    // fall and rise, the unicast source and peers).
    for key in [
        "router_id ",
        "enable_script_security",
        "script_user ",
        "vrrp_script ",
        "interval ",
        "timeout ",
        "fall ",
        "rise ",
        "weight ",
        "state ",
        "nopreempt",
        "interface ",
        "virtual_router_id ",
        "priority ",
        "advert_int ",
        "unicast_src_ip ",
        "unicast_peer ",
        "authentication ",
        "virtual_ipaddress ",
        "track_script ",
        "notify ",
    ] {
        let at = lines
            .iter()
            .position(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key:?} in\n{text}"));
        assert!(
            lines[at.saturating_sub(3)..at]
                .iter()
                .any(|l| l.starts_with('#')),
            "{key:?} has no comment above it:\n{text}"
        );
    }
}

#[test]
fn unicast_with_source_and_peers() {
    let mut h = ha();
    h.unicast_src = Some("10.0.0.11".parse().unwrap());
    h.peers = vec!["10.0.0.12".parse().unwrap(), "10.0.0.13".parse().unwrap()];
    let text = render(&h, &opts()).unwrap();
    let d = directives(&text);
    let at = d
        .iter()
        .position(|l| l == "unicast_src_ip 10.0.0.11")
        .unwrap();
    assert_eq!(
        d[at..at + 5],
        [
            "unicast_src_ip 10.0.0.11",
            "unicast_peer {",
            "10.0.0.12",
            "10.0.0.13",
            "}"
        ]
    );
    assert!(!text.contains("multicast VRRP ("));
}

#[test]
fn unicast_peers_without_source() {
    let mut h = ha();
    h.peers = vec!["10.0.0.12".parse().unwrap()];
    let text = render(&h, &opts()).unwrap();
    assert!(has(&text, "unicast_peer {"));
    assert!(!text.contains("unicast_src_ip"));
}

#[test]
fn auth_pass() {
    let mut h = ha();
    h.auth_pass = Some("s3cret".into());
    let d = directives(&render(&h, &opts()).unwrap());
    let at = d.iter().position(|l| l == "authentication {").unwrap();
    assert_eq!(
        d[at..at + 4],
        [
            "authentication {",
            "auth_type PASS",
            "auth_pass s3cret",
            "}"
        ]
    );

    h.auth_pass = Some("a b".into());
    assert_eq!(render(&h, &opts()), Err(RenderError::AuthPassChars));
}

#[test]
fn several_virtual_ips() {
    let mut h = ha();
    h.virtual_ips = vec![
        VirtualIp {
            addr: "192.0.2.100".parse().unwrap(),
            prefix: 24,
        },
        VirtualIp {
            addr: "192.0.2.101".parse().unwrap(),
            prefix: 32,
        },
        VirtualIp {
            addr: "198.51.100.7".parse().unwrap(),
            prefix: 28,
        },
    ];
    let d = directives(&render(&h, &opts()).unwrap());
    let at = d.iter().position(|l| l == "virtual_ipaddress {").unwrap();
    assert_eq!(
        d[at..at + 5],
        [
            "virtual_ipaddress {",
            "192.0.2.100/24 dev eth0",
            "192.0.2.101/32 dev eth0",
            "198.51.100.7/28 dev eth0",
            "}"
        ]
    );
}

#[test]
fn master_preempts() {
    let mut h = ha();
    h.state = VrrpState::Master;
    h.priority = 150;
    let text = render(&h, &opts()).unwrap();
    assert!(has(&text, "state MASTER"));
    assert!(has(&text, "priority 150"));
    // keepalived ignores nopreempt with an initial MASTER state: not written.
    assert!(!has(&text, "nopreempt"));
}

#[test]
fn ipv6_uses_vrrp3_and_refuses_auth() {
    let mut h = ha();
    h.virtual_ips = vec![VirtualIp {
        addr: "2001:db8::100".parse().unwrap(),
        prefix: 64,
    }];
    h.peers = vec!["2001:db8::12".parse().unwrap()];
    let text = render(&h, &opts()).unwrap();
    assert!(has(&text, "version 3"));
    assert!(has(&text, "2001:db8::100/64 dev eth0"));
    assert!(has(&text, "2001:db8::12"));
    h.auth_pass = Some("x".into());
    assert_eq!(render(&h, &opts()), Err(RenderError::Ipv6WithAuth));
}

#[test]
fn peers_of_another_family_are_refused() {
    let mut h = ha();
    h.peers = vec!["2001:db8::12".parse().unwrap()];
    assert!(matches!(
        render(&h, &opts()),
        Err(RenderError::FamilyMismatch { what: "peers", .. })
    ));
}

#[test]
fn sub_second_advertisements_need_vrrp3() {
    let mut h = ha();
    h.advert_int = Duration::from_millis(500);
    let text = render(&h, &opts()).unwrap();
    assert!(has(&text, "version 3"));
    assert!(has(&text, "advert_int 0.50"));

    h.advert_int = Duration::from_millis(1500);
    assert!(has(&render(&h, &opts()).unwrap(), "advert_int 1.50"));

    h.auth_pass = Some("pw".into());
    assert!(matches!(
        render(&h, &opts()),
        Err(RenderError::SubSecondWithAuth(_))
    ));

    h.auth_pass = None;
    h.advert_int = Duration::from_millis(41_500);
    assert!(matches!(
        render(&h, &opts()),
        Err(RenderError::V3Interval(_))
    ));
}

#[test]
fn check_interval_rounds_up_to_whole_seconds() {
    let mut h = ha();
    h.check_interval = Duration::from_millis(500);
    let text = render(&h, &opts()).unwrap();
    assert!(has(&text, "interval 1"));
    assert!(text.contains("rounded up"));
    h.check_interval = Duration::from_millis(2500);
    assert!(has(&render(&h, &opts()).unwrap(), "interval 3"));
    h.check_interval = Duration::from_secs(5);
    let text = render(&h, &opts()).unwrap();
    assert!(has(&text, "interval 5"));
    assert!(!text.contains("rounded up"));
}

#[test]
fn notify_log_and_paths() {
    let log = Path::new("/run/ringlb/ha.log");
    let o = RenderOptions {
        binary: Path::new("/opt/ringlb/bin/ringlb"),
        config: Path::new("/srv/lb/ringlb.toml"),
        notify_log: Some(log),
        ..opts()
    };
    let text = render(&ha(), &o).unwrap();
    assert!(has(
        &text,
        "script \"/opt/ringlb/bin/ringlb ha check -c /srv/lb/ringlb.toml\""
    ));
    assert!(has(
        &text,
        "notify \"/opt/ringlb/bin/ringlb ha notify --log /run/ringlb/ha.log\""
    ));
}

#[test]
fn values_keepalived_cannot_carry_are_refused() {
    let o = RenderOptions {
        config: Path::new("/etc/my lb/ringlb.toml"),
        ..opts()
    };
    assert!(matches!(
        render(&ha(), &o),
        Err(RenderError::Unquotable {
            what: "ringlb config",
            ..
        })
    ));
    let o = RenderOptions {
        router_name: "a#b",
        ..opts()
    };
    assert!(render(&ha(), &o).is_err());
}

fn active_active() -> Ha {
    let mut h = ha();
    h.priority = 150;
    h.unicast_src = Some("192.0.2.11".parse().unwrap());
    h.peers = vec!["192.0.2.12".parse().unwrap()];
    h.active_active = Some(crate::config::ActiveActive {
        virtual_ips: vec![VirtualIp {
            addr: "192.0.2.101".parse().unwrap(),
            prefix: 24,
        }],
        router_id: 52,
        priority: 100,
    });
    h
}

/// The directives of one `vrrp_instance NAME { … }` block.
fn block(text: &str, head: &str) -> Vec<String> {
    let d = directives(text);
    let at = d
        .iter()
        .position(|l| l == head)
        .unwrap_or_else(|| panic!("no {head:?} in\n{text}"));
    let mut depth = 0;
    let mut out = Vec::new();
    for l in &d[at..] {
        out.push(l.clone());
        depth += l.matches('{').count();
        depth -= l.matches('}').count();
        if depth == 0 {
            break;
        }
    }
    out
}

#[test]
fn active_active_two_instances_both_preempt() {
    let text = render(&active_active(), &opts()).unwrap();
    let own = block(&text, "vrrp_instance ringlb {");
    let peer = block(&text, "vrrp_instance ringlb_peer {");
    let want = |state_and_prio: [&str; 3], vip: &str| -> Vec<String> {
        [
            state_and_prio[0],
            "state BACKUP",
            "interface eth0",
            state_and_prio[1],
            state_and_prio[2],
            "advert_int 1",
            "unicast_src_ip 192.0.2.11",
            "unicast_peer {",
            "192.0.2.12",
            "}",
            "virtual_ipaddress {",
            vip,
            "}",
            "track_script {",
            "chk_ringlb",
            "}",
            "notify \"/usr/bin/ringlb ha notify\"",
            "}",
        ]
        .map(String::from)
        .to_vec()
    };
    assert_eq!(
        own,
        want(
            [
                "vrrp_instance ringlb {",
                "virtual_router_id 51",
                "priority 150"
            ],
            "192.0.2.100/24 dev eth0"
        )
    );
    assert_eq!(
        peer,
        want(
            [
                "vrrp_instance ringlb_peer {",
                "virtual_router_id 52",
                "priority 100"
            ],
            "192.0.2.101/24 dev eth0"
        )
    );
    // Each host takes its own addresses back when it returns: no nopreempt anywhere, and one
    // track script for both instances.
    assert!(!has(&text, "nopreempt"));
    assert_eq!(text.matches("vrrp_script chk_ringlb {").count(), 1);
}

#[test]
fn active_active_refusals() {
    let mut h = active_active();
    if let Some(aa) = h.active_active.as_mut() {
        aa.virtual_ips[0].addr = "192.0.2.100".parse().unwrap();
    }
    assert_eq!(
        render(&h, &opts()),
        Err(RenderError::SharedAddress("192.0.2.100".parse().unwrap()))
    );
    if let Some(aa) = h.active_active.as_mut() {
        aa.virtual_ips[0].addr = "2001:db8::1".parse().unwrap();
    }
    assert!(matches!(
        render(&h, &opts()),
        Err(RenderError::FamilyMismatch {
            what: "[ha.active_active] virtual_ips",
            ..
        })
    ));
}

fn director() -> Ha {
    let mut h = ha();
    h.lvs = Some(crate::config::Lvs {
        ports: vec![80, 443],
        real_servers: vec!["192.0.2.21".parse().unwrap(), "192.0.2.22".parse().unwrap()],
        scheduler: crate::config::LvsScheduler::RoundRobin,
        check_path: "/".into(),
        check_port: 80,
    });
    h
}

#[test]
fn lvs_director_whole_virtual_server() {
    let text = render(&director(), &opts()).unwrap();
    // A director serves no ringlb: no track script.
    assert!(!text.contains("vrrp_script"), "{text}");
    assert!(!has(&text, "track_script {"), "{text}");
    let real = |ip: &str, port: u16| -> Vec<String> {
        vec![
            format!("real_server {ip} {port} {{"),
            "weight 1".into(),
            "HTTP_GET {".into(),
            "url {".into(),
            "path /".into(),
            "status_code 200".into(),
            "}".into(),
            format!("connect_ip {ip}"),
            "connect_port 80".into(),
            "connect_timeout 1".into(),
            "retry 1".into(),
            "delay_before_retry 1".into(),
            "}".into(),
            "}".into(),
        ]
    };
    for port in [80u16, 443] {
        let mut want: Vec<String> = vec![
            format!("virtual_server 192.0.2.100 {port} {{"),
            "delay_loop 1".into(),
            "lb_algo rr".into(),
            "lb_kind DR".into(),
            "protocol TCP".into(),
        ];
        want.extend(real("192.0.2.21", port));
        want.extend(real("192.0.2.22", port));
        want.push("}".into());
        assert_eq!(
            block(&text, &format!("virtual_server 192.0.2.100 {port} {{")),
            want
        );
    }
    // What each real server needs for direct routing is in the file.
    for needed in [
        "ip addr add 192.0.2.100/32 dev lo",
        "net.ipv4.conf.all.arp_ignore=1",
        "net.ipv4.conf.all.arp_announce=2",
    ] {
        assert!(text.contains(needed), "{needed:?} missing:\n{text}");
    }
}

#[test]
fn lvs_covers_both_instances_and_refuses_ipv6() {
    let mut h = director();
    h.active_active = active_active().active_active;
    h.priority = 150;
    let text = render(&h, &opts()).unwrap();
    for vs in [
        "virtual_server 192.0.2.100 80 {",
        "virtual_server 192.0.2.101 443 {",
    ] {
        assert!(has(&text, vs), "{vs:?} missing:\n{text}");
    }
    let mut h = director();
    h.virtual_ips = vec![VirtualIp {
        addr: "2001:db8::100".parse().unwrap(),
        prefix: 64,
    }];
    assert_eq!(render(&h, &opts()), Err(RenderError::LvsIpv6));
    let mut h = director();
    if let Some(l) = h.lvs.as_mut() {
        l.check_path = "/a b".into();
    }
    assert!(matches!(
        render(&h, &opts()),
        Err(RenderError::Unquotable {
            what: "[ha.lvs] check_path",
            ..
        })
    ));
}
