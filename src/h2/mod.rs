//! HTTP/2 wire format (RFC 9113): frames, HPACK, and the conversions between an h2 request or
//! response and the HTTP/1.1 head ringlb's sessions and servers speak.
//!
//! | file | job |
//! |---|---|
//! | `frame.rs` | frame header, types, flags, error codes, settings; frame writers |
//! | `hpack.rs` | header block decoding (a bounded dynamic table, over `loona-hpack`) and a stateless encoder |
//! | `conv.rs` | RFC 9113 §8.2–8.3: a decoded request header list → an HTTP/1.1 request head; an HTTP/1.1 response head → an h2 header list |
//!
//! Pure: bytes in, bytes or decisions out; no I/O, no clock. May import `http` (the HTTP/1.1
//! codec, to read response heads).

pub mod conv;
pub mod frame;
pub mod hpack;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The limits an h2 connection is held to; each hit is counted
/// (`ringlb_frontend_h2_limit_total{limit}`) and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A stream opened past `max_concurrent_streams` (refused with REFUSED_STREAM).
    ConcurrentStreams,
    /// More than `max_resets` streams reset by the client per window (Rapid Reset).
    RapidReset,
    /// A header block of more than `max_continuation_frames` CONTINUATION frames.
    Continuation,
    /// A header list past `max_header_list_size`.
    HeaderList,
    /// More than `max_settings` SETTINGS frames per window.
    SettingsFlood,
    /// More than `max_pings` PING frames per window.
    PingFlood,
    /// A response stalled on a zero window for `zero_window_timeout`.
    ZeroWindow,
    /// No stream open for `idle_timeout`.
    IdleTimeout,
    /// The preface or a header block not complete within `request_timeout`.
    RequestTimeout,
}

impl Limit {
    pub const ALL: [Limit; 9] = [
        Limit::ConcurrentStreams,
        Limit::RapidReset,
        Limit::Continuation,
        Limit::HeaderList,
        Limit::SettingsFlood,
        Limit::PingFlood,
        Limit::ZeroWindow,
        Limit::IdleTimeout,
        Limit::RequestTimeout,
    ];

    /// The metric label and log word.
    pub fn name(self) -> &'static str {
        match self {
            Limit::ConcurrentStreams => "concurrent_streams",
            Limit::RapidReset => "rapid_reset",
            Limit::Continuation => "continuation",
            Limit::HeaderList => "header_list",
            Limit::SettingsFlood => "settings_flood",
            Limit::PingFlood => "ping_flood",
            Limit::ZeroWindow => "zero_window",
            Limit::IdleTimeout => "idle_timeout",
            Limit::RequestTimeout => "request_timeout",
        }
    }
}
