//! Active-active pair, end to end: two appliances, each the VRRP master of its own virtual
//! address and backup of the other's (`[ha]` + `[ha.active_active]`, rendered by `ringlb ha
//! render`), two nginx web servers and a client using both addresses in turn, as clients of a
//! DNS round robin over them do. Each host is a network namespace the test creates, on a
//! bridge in a "switch" namespace of its own (10.204.0.0/24); nothing touches the host's
//! interfaces or routes.
//!
//! ```text
//!             switch netns: bridge br0
//!   lb1 .11   lb2 .12   web1 .21   web2 .22   client .31
//!   VIP1 10.204.0.100 (lb1 leads, router 204)   VIP2 10.204.0.101 (lb2 leads, router 205)
//! ```
//!
//! Shown: both addresses serve, through lb1 and lb2 respectively (traffic on both hosts);
//! ringlb on lb1 crashes (SIGKILL): its check fails, lb1 gives VIP1 up and lb2 takes it, while
//! VIP2 keeps serving without a failure. Prints `FIGURE: active-active: VIP1 moved to lb2 in
//! X.XX s, …`, asserts the share moved within 3 s; then ringlb comes back on lb1, which takes
//! VIP1 back (both instances preempt) and the traffic is spread over both hosts again.
//!
//! Needs root, `ip`, keepalived and nginx (`scripts/test` installs them); otherwise it prints a
//! SKIP line with the reason (`RINGLB_HA_TEST_REQUIRED=1` turns that into a failure).

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod ha_support;
use ha_support::{
    render, ringlb_healthy, start_client, tools, wait_for, Lab, Sample, PREFIX, RINGLB,
};

const TEST: &str = "ha_active_active";
const VIP1: &str = "10.204.0.100";
const VIP2: &str = "10.204.0.101";
const HOSTS: &[(&str, &str)] = &[
    ("lb1", "10.204.0.11"),
    ("lb2", "10.204.0.12"),
    ("web1", "10.204.0.21"),
    ("web2", "10.204.0.22"),
    ("client", "10.204.0.31"),
];
/// A dead balancer's share must be carried by the other within this (the goal of the design).
const FAILOVER_LIMIT: Duration = Duration::from_secs(3);
/// How long the test waits for anything to happen before it reports a failure.
const WAIT: Duration = Duration::from_secs(15);

/// lb's ringlb.toml: it leads `own` (router `own_id`, priority 150) and backs up `other`
/// (router `other_id`, priority 100).
fn ringlb_conf(lab: &Lab, lb: &str, peer: &str, own: (&str, u8), other: (&str, u8)) -> String {
    format!(
        "[global]\nworkers = 1\nadmin_socket = \"{d}/{lb}.sock\"\n\n\
         [frontend.www]\nbind = \"0.0.0.0:80\"\ndefault_backend = \"web\"\n\n\
         [backend.web]\n\
         [[backend.web.server]]\nname = \"web1\"\naddress = \"{w1}:80\"\n\
         [[backend.web.server]]\nname = \"web2\"\naddress = \"{w2}:80\"\n\n\
         [ha]\ninterface = \"eth0\"\nvirtual_ips = [\"{own_vip}/{PREFIX}\"]\nrouter_id = {own_id}\n\
         priority = 150\nunicast_src = \"{src}\"\npeers = [\"{peer}\"]\n\
         auth_pass = \"ringlbA\"\nadvert_int = \"1s\"\ncheck_interval = \"1s\"\n\n\
         [ha.active_active]\nvirtual_ips = [\"{other_vip}/{PREFIX}\"]\nrouter_id = {other_id}\n\
         priority = 100\n",
        d = lab.dir.display(),
        w1 = lab.addr_of("web1"),
        w2 = lab.addr_of("web2"),
        src = lab.addr_of(lb),
        peer = lab.addr_of(peer),
        own_vip = own.0,
        own_id = own.1,
        other_vip = other.0,
        other_id = other.1,
    )
}

fn start_ringlb(lab: &Lab, lb: &str, log: &str) -> std::process::Child {
    let conf = lab.dir.join(format!("{lb}.toml")).display().to_string();
    lab.spawn(lb, log, Path::new(RINGLB), &["run", "-c", &conf])
}

#[test]
fn each_vip_moves_to_the_survivor_and_back() {
    let Some((ip, keepalived, nginx)) = tools(TEST) else {
        return;
    };
    let mut lab = Lab::new("rlbaa", ip, HOSTS);
    let dir = lab.dir.clone();
    if let Err(e) = lab.build() {
        return ha_support::skip(TEST, &format!("cannot build the test network: {e}"));
    }
    let test_start = Instant::now();
    for web in ["web1", "web2"] {
        lab.start_nginx(&nginx, web);
    }
    let lbs = [
        ("lb1", "lb2", (VIP1, 204u8), (VIP2, 205u8)),
        ("lb2", "lb1", (VIP2, 205u8), (VIP1, 204u8)),
    ];
    for (lb, peer, own, other) in lbs {
        fs::write(
            dir.join(format!("{lb}.toml")),
            ringlb_conf(&lab, lb, peer, own, other),
        )
        .unwrap();
        let child = start_ringlb(&lab, lb, &format!("{lb}-ringlb"));
        lab.ringlbs.push(child);
    }
    for (lb, ..) in lbs {
        assert!(
            wait_for(Duration::from_secs(10), || ringlb_healthy(&dir, lb)).is_some(),
            "ringlb in {lb} never answered `ringlb ha check`{}",
            lab.logs()
        );
    }
    for (lb, ..) in lbs {
        let conf = render(&dir, lb);
        let text = fs::read_to_string(&conf).unwrap();
        assert!(
            text.contains("vrrp_instance ringlb {") && text.contains("vrrp_instance ringlb_peer {"),
            "{lb}: two instances expected:\n{text}"
        );
        lab.start_keepalived(&keepalived, lb, &conf);
    }

    // Each host is elected for its own address.
    let elected = wait_for(WAIT, || lab.holds("lb1", VIP1) && lab.holds("lb2", VIP2));
    assert!(
        elected.is_some(),
        "lb1 did not take VIP1 and lb2 VIP2{}",
        lab.logs()
    );
    assert!(
        !lab.holds("lb1", VIP2) && !lab.holds("lb2", VIP1),
        "an address is held twice{}",
        lab.logs()
    );
    println!(
        "{TEST}: lb1 holds VIP1, lb2 holds VIP2, {:.2} s after keepalived started",
        elected.map_or(0.0, |d| d.as_secs_f64())
    );

    let vip1: Ipv4Addr = VIP1.parse().unwrap();
    let vip2: Ipv4Addr = VIP2.parse().unwrap();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop_client = Arc::new(AtomicBool::new(false));
    let client = start_client(
        PathBuf::from("/run/netns").join(lab.ns("client")),
        vec![vip1, vip2],
        samples.clone(),
        stop_client.clone(),
    );
    let snapshot = || samples.lock().map(|s| s.clone()).unwrap_or_default();
    let lb1 = lab.addr_of("lb1").to_string();
    let lb2 = lab.addr_of("lb2").to_string();
    let count = |all: &[Sample], vip: Ipv4Addr, via: &str| {
        all.iter()
            .filter(|s| s.vip == vip && s.via.as_deref() == Ok(via))
            .count()
    };

    // Traffic spread: VIP1 through lb1, VIP2 through lb2.
    let spread = wait_for(WAIT, || {
        let all = snapshot();
        count(&all, vip1, &lb1) >= 20 && count(&all, vip2, &lb2) >= 20
    });
    let before = snapshot();
    assert!(
        spread.is_some(),
        "no traffic on both hosts: {:?}{}",
        before.last(),
        lab.logs()
    );
    let wrong: Vec<_> = before
        .iter()
        .filter(|s| {
            let want = if s.vip == vip1 { &lb1 } else { &lb2 };
            s.via.as_ref() != Ok(want)
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "before the crash, requests failed or went through the wrong host: {wrong:?}"
    );
    println!(
        "{TEST}: spread: {} requests on VIP1 through lb1, {} on VIP2 through lb2",
        count(&before, vip1, &lb1),
        count(&before, vip2, &lb2)
    );

    // Crash ringlb on lb1.
    let killed_at = Instant::now();
    let _ = lab.ringlbs[0].kill();
    let _ = lab.ringlbs[0].wait();
    let moved = wait_for(WAIT, || lab.holds("lb2", VIP1));
    let served = wait_for(WAIT, || {
        snapshot()
            .iter()
            .any(|s| s.at > killed_at && s.vip == vip1 && s.via.as_deref() == Ok(lb2.as_str()))
    });
    // A second of traffic after the takeover, then ringlb comes back on lb1.
    std::thread::sleep(Duration::from_secs(1));
    let all = snapshot();
    let after: Vec<&Sample> = all.iter().filter(|s| s.at >= killed_at).collect();
    let Some(moved) = moved else {
        panic!("VIP1 did not reach lb2{}", lab.logs());
    };
    assert!(
        served.is_some(),
        "VIP1 never served through lb2{}",
        lab.logs()
    );
    let first_via_lb2 = after
        .iter()
        .find(|s| s.vip == vip1 && s.via.as_deref() == Ok(lb2.as_str()))
        .map(|s| s.at.duration_since(killed_at))
        .unwrap();
    let failed1 = after
        .iter()
        .filter(|s| s.vip == vip1 && s.via.is_err())
        .count();
    let total1 = after.iter().filter(|s| s.vip == vip1).count();
    let failed2: Vec<_> = after
        .iter()
        .filter(|s| s.vip == vip2 && s.via.as_ref() != Ok(&lb2))
        .collect();
    let total2 = after.iter().filter(|s| s.vip == vip2).count();
    println!(
        "FIGURE: active-active: VIP1 moved to lb2 in {:.2} s, its first request served through \
         lb2 {:.2} s after the crash; {failed1} of {total1} requests on VIP1 failed, {} of \
         {total2} on VIP2",
        moved.as_secs_f64(),
        first_via_lb2.as_secs_f64(),
        failed2.len()
    );
    assert!(
        failed2.is_empty(),
        "VIP2 (lb2, alive) was disturbed by lb1's crash: {failed2:?}"
    );
    assert!(
        first_via_lb2 <= FAILOVER_LIMIT,
        "lb1's share moved to lb2 in {:.2} s, more than {FAILOVER_LIMIT:?}{}",
        first_via_lb2.as_secs_f64(),
        lab.logs()
    );
    let late: Vec<_> = after
        .iter()
        .filter(|s| s.at.duration_since(killed_at) > first_via_lb2 && s.via.is_err())
        .collect();
    assert!(
        late.is_empty(),
        "requests failed after the takeover: {late:?}"
    );
    assert!(!lab.holds("lb1", VIP1), "lb1 kept VIP1{}", lab.logs());

    // ringlb comes back on lb1: its check rises again and lb1 takes VIP1 back (preemption),
    // so both hosts carry traffic again.
    lab.ringlbs[0] = start_ringlb(&lab, "lb1", "lb1-ringlb-again");
    let back_at = Instant::now();
    let back = wait_for(WAIT, || {
        snapshot()
            .iter()
            .any(|s| s.at > back_at && s.vip == vip1 && s.via.as_deref() == Ok(lb1.as_str()))
    });
    stop_client.store(true, Ordering::SeqCst);
    let client_result = client.join();
    assert!(
        matches!(client_result, Ok(Ok(()))),
        "client: {client_result:?}"
    );
    assert!(
        back.is_some(),
        "lb1 never served VIP1 again after ringlb came back{}",
        lab.logs()
    );
    assert!(
        lab.holds("lb1", VIP1) && !lab.holds("lb2", VIP1) && lab.holds("lb2", VIP2),
        "addresses after the return: lb1 should hold VIP1, lb2 VIP2{}",
        lab.logs()
    );
    let all = snapshot();
    let failed_back = all
        .iter()
        .filter(|s| s.at >= back_at && s.via.is_err())
        .count();
    println!(
        "{TEST}: ringlb back on lb1: VIP1 served through lb1 again {:.2} s after its restart \
         ({failed_back} requests failed during the move back)",
        back.map_or(f64::NAN, |d| d.as_secs_f64())
    );

    let n1 = lab.log("lb1-notify");
    let n2 = lab.log("lb2-notify");
    for (log, want) in [
        (&n1, "instance ringlb is now MASTER"),
        (&n1, "instance ringlb is now FAULT"),
        (&n2, "instance ringlb is now MASTER"),
        (&n2, "instance ringlb_peer is now MASTER"),
        (&n2, "instance ringlb_peer is now BACKUP"),
    ] {
        assert!(
            log.contains(want),
            "notify log lacks {want:?}:\n{log}{}",
            lab.logs()
        );
    }
    println!(
        "{TEST}: done in {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
}
