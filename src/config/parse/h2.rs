//! `[frontend.X.h2]`: HTTP/2 with prior knowledge on the plain listeners, and the limits of
//! every h2 connection of the frontend (TLS listeners speak h2 when their `alpn` offers it).

use super::walk::{Cx, Schema, Table};
use crate::config::defaults as def;
use crate::config::{Mode, H2};

const H2_SCHEMA: Schema = Schema {
    known: &[
        "cleartext",
        "max_concurrent_streams",
        "initial_window_size",
        "header_table_size",
        "max_header_list_size",
        "max_continuation_frames",
        "max_resets",
        "max_settings",
        "max_pings",
        "flood_window",
        "idle_timeout",
        "request_timeout",
        "zero_window_timeout",
    ],
    elsewhere: &[(
        "alpn",
        "h2 over TLS is offered by ALPN: set alpn = [\"h2\", \"http/1.1\"] in [frontend.NAME.tls]",
    )],
    names: false,
};

/// Largest flow-control window RFC 9113 allows.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The frontend's h2 settings: its `[h2]` table over [`def::H2`].
pub(super) fn frontend_h2(cx: &mut Cx<'_>, frontend: &Table<'_, '_>, mode: Mode) -> H2 {
    let d = def::H2;
    let Some(t) = frontend.table(cx, "h2", &H2_SCHEMA) else {
        return d;
    };
    if mode == Mode::Tcp {
        let span = frontend.key_span("h2").unwrap_or(t.span.clone());
        cx.error_help(
            &span,
            "[h2] needs an http frontend: a tcp frontend relays bytes and never reads HTTP/2",
            "remove [h2] or set mode = \"http\"",
        );
    }
    H2 {
        cleartext: t.bool(cx, "cleartext").unwrap_or(d.cleartext),
        max_concurrent_streams: t
            .u32(cx, "max_concurrent_streams", 1..=100_000)
            .unwrap_or(d.max_concurrent_streams),
        initial_window_size: t
            .u32(cx, "initial_window_size", 1024..=MAX_WINDOW)
            .unwrap_or(d.initial_window_size),
        header_table_size: t
            .u32(cx, "header_table_size", 0..=65_536)
            .unwrap_or(d.header_table_size),
        max_header_list_size: t
            .u32(cx, "max_header_list_size", 1024..=1 << 20)
            .unwrap_or(d.max_header_list_size),
        max_continuation_frames: t
            .u32(cx, "max_continuation_frames", 0..=10_000)
            .unwrap_or(d.max_continuation_frames),
        max_resets: t
            .u32(cx, "max_resets", 1..=1_000_000)
            .unwrap_or(d.max_resets),
        max_settings: t
            .u32(cx, "max_settings", 1..=1_000_000)
            .unwrap_or(d.max_settings),
        max_pings: t.u32(cx, "max_pings", 1..=1_000_000).unwrap_or(d.max_pings),
        flood_window: t
            .duration(cx, "flood_window", false)
            .unwrap_or(d.flood_window),
        idle_timeout: t
            .duration(cx, "idle_timeout", false)
            .unwrap_or(d.idle_timeout),
        request_timeout: t
            .duration(cx, "request_timeout", false)
            .unwrap_or(d.request_timeout),
        zero_window_timeout: t
            .duration(cx, "zero_window_timeout", false)
            .unwrap_or(d.zero_window_timeout),
    }
}
