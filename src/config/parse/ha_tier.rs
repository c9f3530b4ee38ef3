//! `[ha.active_active]` and `[ha.lvs]`: a second VRRP instance led by the peer, and the IPVS
//! tier a director runs in front of ringlb hosts.

use std::net::IpAddr;

use toml::de::DeValue;

use super::global::{ip, missing, virtual_ip};
use super::walk::{expect_u32, Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::{ActiveActive, Lvs, LvsScheduler, VirtualIp};

const ACTIVE_ACTIVE: Schema = Schema {
    known: &["virtual_ips", "router_id", "priority"],
    elsewhere: &[],
    names: false,
};

const LVS: Schema = Schema {
    known: &[
        "ports",
        "real_servers",
        "scheduler",
        "check_path",
        "check_port",
    ],
    elsewhere: &[],
    names: false,
};

const SCHEDULERS: &[(&str, LvsScheduler)] = &[
    ("rr", LvsScheduler::RoundRobin),
    ("wrr", LvsScheduler::WeightedRoundRobin),
    ("lc", LvsScheduler::LeastConnection),
    ("wlc", LvsScheduler::WeightedLeastConnection),
    ("sh", LvsScheduler::SourceHashing),
    ("mh", LvsScheduler::MaglevHashing),
];

/// `[ha.active_active]`: virtual_ips and router_id required; router_id must differ from
/// `[ha] router_id` and priority must be below `[ha] priority` (this host leads `[ha]`, the
/// peer leads this one).
pub(super) fn parse_active_active(
    cx: &mut Cx<'_>,
    ha: &Table<'_, '_>,
    own_router_id: u8,
    own_priority: u8,
) -> Option<ActiveActive> {
    let t = ha.table(cx, "active_active", &ACTIVE_ACTIVE)?;
    let virtual_ips = addresses(cx, &t, "the peer's addresses, e.g. [\"192.0.2.101/24\"]");
    let router_id = match t.u32(cx, "router_id", 1..=255) {
        Some(n) => {
            let id = u8::try_from(n).unwrap_or(1);
            if id == own_router_id {
                let span = t.get("router_id").map_or(t.span.clone(), |v| v.span());
                cx.error_help(
                    &span,
                    format!("`router_id` {id} is also [ha] router_id"),
                    "the peer's instance needs its own virtual router id: the peer's [ha] \
                     router_id",
                );
            }
            id
        }
        None => {
            if t.lacks("router_id") {
                missing(
                    cx,
                    &t,
                    "router_id",
                    "add router_id = N: the [ha] router_id of the peer, whose instance this is",
                );
            }
            1
        }
    };
    let priority = t
        .u32(cx, "priority", 1..=254)
        .and_then(|n| u8::try_from(n).ok())
        .unwrap_or(def::HA_ACTIVE_ACTIVE_PRIORITY);
    if priority >= own_priority {
        let span = t.get("priority").map_or(t.span.clone(), |v| v.span());
        cx.error_help(
            &span,
            format!(
                "[ha.active_active] priority {priority} is not below [ha] priority {own_priority}"
            ),
            "this host backs up the peer's instance: give it a lower priority there than in \
             its own ([ha] priority), e.g. 150 and 100",
        );
    }
    Some(ActiveActive {
        virtual_ips,
        router_id,
        priority,
    })
}

/// `[ha.lvs]`: ports and real_servers required.
pub(super) fn parse_lvs(cx: &mut Cx<'_>, ha: &Table<'_, '_>) -> Option<Lvs> {
    let t = ha.table(cx, "lvs", &LVS)?;
    let ports = ports(cx, &t);
    let mut real_servers: Vec<IpAddr> = Vec::new();
    match t.strings(cx, "real_servers") {
        Some(list) if list.is_empty() => cx.error_help(
            &t.get("real_servers").map_or(t.span.clone(), |v| v.span()),
            "`real_servers` is empty",
            "list the ringlb hosts' own addresses, e.g. [\"192.0.2.21\", \"192.0.2.22\"]",
        ),
        Some(list) => {
            for (text, span) in &list {
                let Some(addr) = ip(cx, "real_servers", text, span) else {
                    continue;
                };
                if real_servers.contains(&addr) {
                    cx.error(span, format!("`real_servers` lists {addr} twice"));
                } else {
                    real_servers.push(addr);
                }
            }
        }
        None if t.lacks("real_servers") => missing(
            cx,
            &t,
            "real_servers",
            "add real_servers = [\"IP\", …]: the ringlb hosts this director forwards to",
        ),
        None => {}
    }
    let scheduler = t
        .enum_of(cx, "scheduler", "IPVS scheduler", SCHEDULERS)
        .unwrap_or(def::LVS_SCHEDULER);
    let check_path = match t.str(cx, "check_path") {
        Some((p, span)) => {
            let ok = p.starts_with('/')
                && p.chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '#' | '!'));
            if !ok {
                cx.error_help(
                    &span,
                    format!("invalid `check_path` \"{p}\""),
                    "a path starting with '/', printable ASCII without spaces, quotes, '\\', \
                     '#' or '!'",
                );
            }
            p.to_owned()
        }
        None => def::LVS_CHECK_PATH.to_owned(),
    };
    let check_port = t
        .u32(cx, "check_port", 1..=65535)
        .and_then(|p| u16::try_from(p).ok())
        .or_else(|| ports.first().copied())
        .unwrap_or(80);
    Some(Lvs {
        ports,
        real_servers,
        scheduler,
        check_path,
        check_port,
    })
}

/// `virtual_ips` of `[ha.active_active]`: required, non-empty.
fn addresses(cx: &mut Cx<'_>, t: &Table<'_, '_>, example: &str) -> Vec<VirtualIp> {
    let mut out = Vec::new();
    match t.strings(cx, "virtual_ips") {
        Some(list) if list.is_empty() => cx.error_help(
            &t.get("virtual_ips").map_or(t.span.clone(), |v| v.span()),
            "`virtual_ips` is empty",
            format!("list {example}"),
        ),
        Some(list) => {
            for (text, span) in &list {
                if let Some(v) = virtual_ip(cx, text, span) {
                    out.push(v);
                }
            }
        }
        None if t.lacks("virtual_ips") => missing(
            cx,
            t,
            "virtual_ips",
            &format!("add virtual_ips = {example}"),
        ),
        None => {}
    }
    out
}

/// `ports`: a non-empty array of distinct TCP ports (or one integer).
fn ports(cx: &mut Cx<'_>, t: &Table<'_, '_>) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    let Some(value) = t.get("ports") else {
        if t.lacks("ports") {
            missing(
                cx,
                t,
                "ports",
                "add ports = [80, 443]: the TCP ports balanced on each virtual address",
            );
        }
        return out;
    };
    let items: Vec<_> = match value.get_ref() {
        DeValue::Array(items) => items.iter().collect(),
        _ => vec![value],
    };
    if items.is_empty() {
        cx.error_help(
            &value.span(),
            "`ports` is empty",
            "list the TCP ports balanced on each virtual address, e.g. [80, 443]",
        );
    }
    for item in items {
        let Some(p) = expect_u32(cx, "ports", item, 1..=65535).and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        if out.contains(&p) {
            cx.error(&item.span(), format!("`ports` lists {p} twice"));
        } else {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
#[path = "ha_tier_tests.rs"]
mod tests;
