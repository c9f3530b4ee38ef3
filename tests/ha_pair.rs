//! HA pair, end to end: two appliances (ringlb + keepalived with the config `ringlb ha render`
//! writes, unicast VRRP), two nginx web servers and a client, each in a network namespace the
//! test creates, joined by a bridge in a "switch" namespace of its own. Nothing touches the
//! host's interfaces or routes; all addresses live inside those namespaces (10.203.0.0/24).
//!
//! ```text
//!             switch netns: bridge br0
//!   lb1 .11   lb2 .12   web1 .21   web2 .22   client .31      VIP 10.203.0.100
//! ```
//!
//! The client requests the VIP every 20 ms; ringlb on the master is killed (SIGKILL, a crash);
//! its track script fails twice, keepalived gives the VIP up (FAULT) and the backup takes it.
//! Prints `FIGURE: VIP moved in X.XX s, N of M requests failed during failover`. Then ringlb
//! comes back on the old master, which must not take the VIP back (`nopreempt`).
//!
//! Needs root, `ip`, keepalived and nginx (`scripts/test` installs them); otherwise it prints a
//! SKIP line with the reason (`RINGLB_HA_TEST_REQUIRED=1` turns that into a failure). Every
//! namespace and process is removed by the lab's `Drop` (`tests/ha_support`), also when an
//! assertion fails.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod ha_support;
use ha_support::{
    render, ringlb_healthy, start_client, tools, wait_for, Lab, Sample, PREFIX, RINGLB,
};

const TEST: &str = "ha_pair";
const VIP: &str = "10.203.0.100";
/// Host part → (name, address) of every namespace on the bridge.
const HOSTS: &[(&str, &str)] = &[
    ("lb1", "10.203.0.11"),
    ("lb2", "10.203.0.12"),
    ("web1", "10.203.0.21"),
    ("web2", "10.203.0.22"),
    ("client", "10.203.0.31"),
];
/// Upper bound accepted for the failover (the goal is 3 s; see docs/ha.md for the figure).
const FAILOVER_LIMIT: Duration = Duration::from_secs(8);

fn addr_of(host: &str) -> &'static str {
    HOSTS
        .iter()
        .find(|(h, _)| *h == host)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no host {host}"))
}

// ---- configs ------------------------------------------------------------------------------

fn ringlb_conf(dir: &Path, lb: &str, peer: &str, priority: u8) -> String {
    format!(
        "[global]\nworkers = 1\nadmin_socket = \"{d}/{lb}.sock\"\n\n\
         [frontend.www]\nbind = \"0.0.0.0:80\"\ndefault_backend = \"web\"\n\n\
         [backend.web]\n\
         [[backend.web.server]]\nname = \"web1\"\naddress = \"{w1}:80\"\n\
         [[backend.web.server]]\nname = \"web2\"\naddress = \"{w2}:80\"\n\n\
         [ha]\ninterface = \"eth0\"\nvirtual_ips = [\"{VIP}/{PREFIX}\"]\nrouter_id = 203\n\
         priority = {priority}\nstate = \"BACKUP\"\nunicast_src = \"{src}\"\npeers = [\"{peer}\"]\n\
         auth_pass = \"ringlbT\"\nadvert_int = \"1s\"\ncheck_interval = \"1s\"\n",
        d = dir.display(),
        w1 = addr_of("web1"),
        w2 = addr_of("web2"),
        src = addr_of(lb),
        peer = addr_of(peer),
    )
}

// ---- the test -------------------------------------------------------------------------------

#[test]
fn vip_moves_when_ringlb_dies_on_the_master() {
    let Some((ip, keepalived, nginx)) = tools(TEST) else {
        return;
    };
    let mut lab = Lab::new("rlbha", ip, HOSTS);
    let dir = lab.dir.clone();
    if let Err(e) = lab.build() {
        // Cannot make namespaces, a bridge or veths here (a container without the rights):
        // an environment limit, not a ringlb failure.
        return ha_support::skip(TEST, &format!("cannot build the test network: {e}"));
    }
    let test_start = Instant::now();

    // Web servers.
    for web in ["web1", "web2"] {
        lab.start_nginx(&nginx, web);
    }

    // Load balancers: ringlb first, then keepalived with the rendered config.
    let lbs = [("lb1", "lb2", 150u8), ("lb2", "lb1", 100u8)];
    for (lb, peer, prio) in lbs {
        fs::write(
            dir.join(format!("{lb}.toml")),
            ringlb_conf(&dir, lb, peer, prio),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let conf = dir.join(format!("{lb}.toml")).display().to_string();
        let child = lab.spawn(
            lb,
            &format!("{lb}-ringlb"),
            Path::new(RINGLB),
            &["run", "-c", &conf],
        );
        lab.ringlbs.push(child);
    }
    for (lb, _, _) in lbs {
        assert!(
            wait_for(Duration::from_secs(10), || ringlb_healthy(&dir, lb)).is_some(),
            "ringlb in {lb} never answered `ringlb ha check`{}",
            lab.logs()
        );
    }
    for (lb, _, _) in lbs {
        let conf = render(&dir, lb);
        lab.start_keepalived(&keepalived, lb, &conf);
    }

    // Election: both start BACKUP, the higher priority (lb1) becomes MASTER after about
    // 3 advertisement intervals.
    let elected = wait_for(Duration::from_secs(15), || lab.holds("lb1", VIP));
    assert!(elected.is_some(), "lb1 never took the VIP{}", lab.logs());
    assert!(!lab.holds("lb2", VIP), "both hold the VIP{}", lab.logs());
    println!(
        "ha_pair: lb1 MASTER {:.2} s after keepalived started",
        elected.map_or(0.0, |d| d.as_secs_f64())
    );

    // Traffic through lb1.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop_client = Arc::new(AtomicBool::new(false));
    let client = start_client(
        PathBuf::from("/run/netns").join(lab.ns("client")),
        vec![VIP.parse::<Ipv4Addr>().unwrap()],
        samples.clone(),
        stop_client.clone(),
    );
    let snapshot = || samples.lock().map(|s| s.clone()).unwrap_or_default();
    let lb1 = addr_of("lb1").to_string();
    let lb2 = addr_of("lb2").to_string();
    let warm = wait_for(Duration::from_secs(10), || {
        snapshot()
            .iter()
            .filter(|s| s.via.as_deref() == Ok(lb1.as_str()))
            .count()
            >= 20
    });
    assert!(
        warm.is_some(),
        "no traffic through lb1 on the VIP: {:?}{}",
        snapshot().last(),
        lab.logs()
    );

    // Crash ringlb on the master.
    let killed_at = Instant::now();
    let _ = lab.ringlbs[0].kill();
    let _ = lab.ringlbs[0].wait();
    let moved = wait_for(FAILOVER_LIMIT, || lab.holds("lb2", VIP));
    let served = wait_for(FAILOVER_LIMIT, || {
        snapshot()
            .iter()
            .any(|s| s.at > killed_at && s.via.as_deref() == Ok(lb2.as_str()))
    });
    thread::sleep(Duration::from_secs(1));
    stop_client.store(true, Ordering::SeqCst);
    let client_result = client.join();

    let all = snapshot();
    let after: Vec<&Sample> = all.iter().filter(|s| s.at >= killed_at).collect();
    let failed: Vec<&Sample> = after.iter().copied().filter(|s| s.via.is_err()).collect();
    let first_ok_via_lb2 = after
        .iter()
        .find(|s| s.via.as_deref() == Ok(lb2.as_str()))
        .map(|s| s.at.duration_since(killed_at));
    let last_failure = failed.last().map(|s| s.at.duration_since(killed_at));
    let Some(moved) = moved else {
        panic!(
            "the VIP did not reach lb2 within {FAILOVER_LIMIT:?} of the crash{}",
            lab.logs()
        );
    };
    println!(
        "FIGURE: VIP moved in {:.2} s, {} of {} requests failed during failover",
        moved.as_secs_f64(),
        failed.len(),
        after.len()
    );
    println!(
        "ha_pair: first request served through lb2 {:.2} s after the crash; last failed request \
         started at {:.2} s; failures: {:?}",
        first_ok_via_lb2.map_or(f64::NAN, |d| d.as_secs_f64()),
        last_failure.map_or(0.0, |d| d.as_secs_f64()),
        failed
            .iter()
            .map(|s| s.via.as_ref().err().cloned().unwrap_or_default())
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(
        matches!(client_result, Ok(Ok(()))),
        "client: {client_result:?}"
    );
    assert!(
        served.is_some(),
        "no request served through lb2{}",
        lab.logs()
    );
    assert!(
        !lab.holds("lb1", VIP),
        "lb1 kept the VIP after its check failed{}",
        lab.logs()
    );
    // After the move every request succeeds.
    if let Some(t) = first_ok_via_lb2 {
        let late: Vec<_> = after
            .iter()
            .filter(|s| s.at.duration_since(killed_at) > t && s.via.is_err())
            .collect();
        assert!(
            late.is_empty(),
            "requests failed after the takeover: {late:?}"
        );
    }

    // ringlb comes back on lb1: its check rises again, but the VIP stays on lb2 (nopreempt),
    // so the pair moved the addresses once, not twice.
    let conf = dir.join("lb1.toml").display().to_string();
    lab.ringlbs[0] = lab.spawn(
        "lb1",
        "lb1-ringlb-again",
        Path::new(RINGLB),
        &["run", "-c", &conf],
    );
    assert!(
        wait_for(Duration::from_secs(10), || ringlb_healthy(&dir, "lb1")).is_some(),
        "ringlb did not come back in lb1{}",
        lab.logs()
    );
    // rise 2 at 1 s intervals, plus margin for a preemption that must not happen.
    thread::sleep(Duration::from_secs(4));
    assert!(
        lab.holds("lb2", VIP),
        "lb2 lost the VIP when lb1 came back{}",
        lab.logs()
    );
    assert!(
        !lab.holds("lb1", VIP),
        "lb1 preempted despite nopreempt{}",
        lab.logs()
    );

    // The notify hook logged each side's transitions.
    let n1 = lab.log("lb1-notify");
    let n2 = lab.log("lb2-notify");
    for (log, want) in [
        (&n1, "instance ringlb is now MASTER"),
        (&n1, "instance ringlb is now FAULT"),
        (&n1, "instance ringlb is now BACKUP"),
        (&n2, "instance ringlb is now MASTER"),
    ] {
        assert!(
            log.contains(want),
            "notify log lacks {want:?}:\n{log}{}",
            lab.logs()
        );
    }
    println!(
        "ha_pair: done in {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
}
