//! `[ha.lvs]` → keepalived `virtual_server` blocks: this host is an IPVS director forwarding
//! each virtual address's ports to ringlb hosts by direct routing. Pure, like [`super::render`].
//!
//! Choices, each also explained in a comment of the rendered file:
//! - Direct routing (`lb_kind DR`): the director only rewrites the destination MAC address;
//!   replies go from each ringlb host straight to the client, so the director carries the
//!   requests only. The hosts must accept the virtual address without announcing it (the
//!   commands are written into the file).
//! - One `HTTP_GET` per real server every `[ha] check_interval` (whole seconds), expecting 200;
//!   one retry a second later, so one lost answer does not remove a host and a stopped ringlb
//!   leaves the tier within about two check intervals.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::Lvs;

/// Seconds keepalived waits for the check's connection and answer.
pub const CONNECT_TIMEOUT_SECS: u64 = 1;
/// Failed attempts retried before a real server is removed.
pub const RETRY: u32 = 1;
/// Seconds between a failed attempt and its retry.
pub const DELAY_BEFORE_RETRY_SECS: u64 = 1;

/// Appends the `virtual_server` blocks for `addrs` (every address of the file's instances).
pub(super) fn render(
    line: &mut impl FnMut(&str),
    lvs: &Lvs,
    addrs: &[IpAddr],
    check_secs: u64,
    check_interval: Duration,
) {
    line("");
    line("# [ha.lvs]: IPVS (the kernel's ip_vs module, loaded by keepalived) forwards these");
    line("# addresses' ports to the ringlb hosts below by direct routing: only the destination");
    line("# MAC address changes, and each host replies to the client itself, from the virtual");
    line("# address. So every ringlb host needs, once per boot (docs/ha.md, \"IPVS tier\"):");
    for a in addrs {
        line(&format!(
            "#     ip addr add {a}/32 dev lo      # accept packets sent to the virtual address"
        ));
    }
    line("#     sysctl -w net.ipv4.conf.all.arp_ignore=1    # answer ARP only for addresses of");
    line("#                                                 # the asking interface: not lo's");
    line("#     sysctl -w net.ipv4.conf.all.arp_announce=2  # never the virtual address as ARP source");
    line("# and a frontend bound to 0.0.0.0 (or the virtual address) on the balanced ports.");
    line("# On this director, net.ipv4.vs.expire_nodest_conn=1 drops the connections of a host");
    line("# that left the tier at their next packet instead of letting them time out.");
    for a in addrs {
        for port in &lvs.ports {
            line("");
            line(&format!("virtual_server {a} {port} {{"));
            if check_interval.as_nanos() == u128::from(check_secs) * 1_000_000_000 {
                line("    # Seconds between two checks of each real server: [ha] check_interval.");
            } else {
                line(&format!(
                    "    # Seconds between two checks: [ha] check_interval ({check_interval:?}) rounded up."
                ));
            }
            line(&format!("    delay_loop {check_secs}"));
            line("    # [ha.lvs] scheduler.");
            line(&format!("    lb_algo {}", lvs.scheduler.name()));
            line("    # Direct routing: replies bypass the director.");
            line("    lb_kind DR");
            line("    protocol TCP");
            for r in &lvs.real_servers {
                line(&format!("    real_server {r} {port} {{"));
                line("        # All ringlb hosts alike.");
                line("        weight 1");
                line(&format!(
                    "        # Healthy while GET {} on port {} of the host answers 200.",
                    lvs.check_path, lvs.check_port
                ));
                line("        HTTP_GET {");
                line("            url {");
                line(&format!("                path {}", lvs.check_path));
                line("                status_code 200");
                line("            }");
                line("            # The host's own address, not the virtual one.");
                line(&format!("            connect_ip {r}"));
                line(&format!("            connect_port {}", lvs.check_port));
                line("            # Seconds for the connection and the answer.");
                line(&format!(
                    "            connect_timeout {CONNECT_TIMEOUT_SECS}"
                ));
                line(&format!(
                    "            # {RETRY} retry {DELAY_BEFORE_RETRY_SECS} s after a failure: one lost answer does not remove"
                ));
                line("            # the host; a stopped ringlb leaves the tier within two intervals.");
                line(&format!("            retry {RETRY}"));
                line(&format!(
                    "            delay_before_retry {DELAY_BEFORE_RETRY_SECS}"
                ));
                line("        }");
                line("    }");
            }
            line("}");
        }
    }
}
