//! Frames: the 9-byte header, types, flags, error codes and settings, and writers that append
//! a frame to an output buffer.

/// Frame header length.
pub const HEADER_LEN: usize = 9;
/// `SETTINGS_MAX_FRAME_SIZE` ringlb announces (the protocol's default and minimum): a peer's
/// frame larger than this is a connection error.
pub const MAX_FRAME: usize = 16_384;
/// Largest window (RFC 9113 §6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;
/// The window every stream and the connection start with before SETTINGS change it.
pub const DEFAULT_WINDOW: i64 = 65_535;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Error codes (RFC 9113 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    ConnectError = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

impl ErrorCode {
    /// The code's name as RFC 9113 writes it (metric label, log line).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
        }
    }

    /// Every code, in wire order (the GOAWAY counters are indexed by it).
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::NoError,
        ErrorCode::ProtocolError,
        ErrorCode::InternalError,
        ErrorCode::FlowControlError,
        ErrorCode::SettingsTimeout,
        ErrorCode::StreamClosed,
        ErrorCode::FrameSizeError,
        ErrorCode::RefusedStream,
        ErrorCode::Cancel,
        ErrorCode::CompressionError,
        ErrorCode::ConnectError,
        ErrorCode::EnhanceYourCalm,
        ErrorCode::InadequateSecurity,
        ErrorCode::Http11Required,
    ];
}

/// A frame header as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// The header at the start of `buf`, if 9 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<Head> {
        let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Head {
            len: (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A big-endian u32 at the start of `b` (0 when shorter).
pub fn u32_at(b: &[u8]) -> u32 {
    match b.get(..4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Appends a frame header.
pub fn put_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = len.min(0xff_ffff) as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a SETTINGS frame with `settings`.
pub fn put_settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    put_head(out, settings.len() * 6, SETTINGS, 0, 0);
    for (id, v) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
}

pub fn put_settings_ack(out: &mut Vec<u8>) {
    put_head(out, 0, SETTINGS, ACK, 0);
}

pub fn put_ping(out: &mut Vec<u8>, payload: &[u8; 8]) {
    put_head(out, 8, PING, 0, 0);
    out.extend_from_slice(payload);
}

pub fn put_ping_ack(out: &mut Vec<u8>, payload: &[u8; 8]) {
    put_head(out, 8, PING, ACK, 0);
    out.extend_from_slice(payload);
}

pub fn put_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    put_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}

pub fn put_rst(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    put_head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

pub fn put_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode) {
    put_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&(code as u32).to_be_bytes());
}

/// Appends DATA frames carrying `data` (at most `max_frame` each), the last with END_STREAM
/// when `end`. Empty `data` with `end` is one empty frame.
pub fn put_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end: bool, max_frame: usize) {
    let max_frame = max_frame.max(1);
    if data.is_empty() {
        if end {
            put_head(out, 0, DATA, END_STREAM, stream);
        }
        return;
    }
    let mut chunks = data.chunks(max_frame).peekable();
    while let Some(c) = chunks.next() {
        let last = chunks.peek().is_none();
        let flags = if last && end { END_STREAM } else { 0 };
        put_head(out, c.len(), DATA, flags, stream);
        out.extend_from_slice(c);
    }
}

/// Appends a header block as HEADERS and CONTINUATION frames of at most `max_frame` bytes.
pub fn put_headers(out: &mut Vec<u8>, stream: u32, block: &[u8], end: bool, max_frame: usize) {
    let max_frame = max_frame.max(1);
    let end_flag = if end { END_STREAM } else { 0 };
    if block.len() <= max_frame {
        put_head(out, block.len(), HEADERS, END_HEADERS | end_flag, stream);
        out.extend_from_slice(block);
        return;
    }
    let mut chunks = block.chunks(max_frame).enumerate().peekable();
    while let Some((i, c)) = chunks.next() {
        let last = chunks.peek().is_none();
        let kind = if i == 0 { HEADERS } else { CONTINUATION };
        let mut flags = if last { END_HEADERS } else { 0 };
        if i == 0 {
            flags |= end_flag;
        }
        put_head(out, c.len(), kind, flags, stream);
        out.extend_from_slice(c);
    }
}

/// The payload of a padded frame without its padding; `None` when the padding is longer than
/// the frame (a PROTOCOL_ERROR).
pub fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len()
        .checked_sub(usize::from(pad))
        .and_then(|n| rest.get(..n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trip() {
        let mut out = Vec::new();
        put_head(&mut out, 0x01_0203, HEADERS, END_HEADERS, 0x8000_0005);
        let h = Head::parse(&out).unwrap();
        assert_eq!(
            h,
            Head {
                len: 0x01_0203,
                kind: HEADERS,
                flags: END_HEADERS,
                stream: 5
            }
        );
        assert!(Head::parse(&out[..8]).is_none());
    }

    #[test]
    fn data_is_split_at_max_frame() {
        let mut out = Vec::new();
        put_data(&mut out, 1, &[7u8; 10], true, 4);
        let mut at = 0;
        let mut lens = Vec::new();
        while let Some(h) = Head::parse(&out[at..]) {
            lens.push((h.len, h.flags));
            at += HEADER_LEN + h.len;
        }
        assert_eq!(lens, vec![(4, 0), (4, 0), (2, END_STREAM)]);
    }

    #[test]
    fn headers_continue_past_max_frame() {
        let mut out = Vec::new();
        put_headers(&mut out, 3, &[1u8; 9], true, 4);
        let a = Head::parse(&out).unwrap();
        assert_eq!((a.kind, a.flags), (HEADERS, END_STREAM));
        let b = Head::parse(&out[13..]).unwrap();
        assert_eq!((b.kind, b.flags), (CONTINUATION, 0));
        let c = Head::parse(&out[26..]).unwrap();
        assert_eq!((c.kind, c.flags, c.len), (CONTINUATION, END_HEADERS, 1));
    }

    #[test]
    fn padding_is_checked() {
        assert_eq!(unpad(PADDED, &[2, 9, 9, 0, 0]), Some(&[9u8, 9][..]));
        assert_eq!(unpad(PADDED, &[5, 1]), None);
        assert_eq!(unpad(PADDED, &[]), None);
        assert_eq!(unpad(0, &[1, 2]), Some(&[1u8, 2][..]));
    }
}
