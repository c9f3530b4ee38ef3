//! HTTP/1.1 codec: bytes in, decisions out.
//!
//! This room owns everything ringlb knows about the HTTP/1.x wire format:
//! parsing request and response heads (`request`, `response`), deciding how a
//! body is framed and following it (`body`, `chunked`), writing the heads we
//! forward (`rewrite`), and the responses ringlb sends on its own (`canned`).
//!
//! One scanner reads field sections by name: [`FieldSection`] (`section`). The rewrite, cookie
//! persistence (`cookie`), routing's header criteria and the session's lookups
//! ([`field_value`]) all use it; `fields` holds the rules for the fields that decide framing
//! and hop-by-hop handling, read from `httparse`'s table at parse time.
//!
//! It is pure: no I/O, no clock, no threads, no logging. It imports only `std`
//! and `httparse`; nothing else in ringlb may be imported from here.
//!
//! Invariants the proxy relies on:
//! - Nothing here panics on network input: no `unwrap`, no slice indexing
//!   that input can push out of range.
//! - Parsed heads hold offsets ([`Span`]) into the caller's buffer, never
//!   borrowed slices, so the proxy keeps owning its buffers. A head is only
//!   meaningful together with the buffer it was parsed from.
//! - A head that parses is unambiguous: exactly one way to find the end of
//!   its body (RFC 9112 §6.3), CRLF line endings only, no obs-fold, no bare
//!   CR, no control bytes. Anything a downstream or upstream peer could read
//!   differently from us is an error (request smuggling defence).
//! - The hot path allocates nothing except growth of the caller's output
//!   `Vec`; bodies are validated in place and relayed as received.
//!
//! `docs/http-conformance.md` maps each RFC rule to the behaviour and the test
//! that pins it; change it together with the behaviour.
// Network input never panics here: no unwrap/expect, no indexing or slicing that input could
// push out of range, no panic!. Held by Cargo.toml `[lints.clippy]` (crate-wide; tests may
// unwrap, see .clippy.toml); docs/reliability.md says how this was audited.

mod body;
mod canned;
mod chunked;
pub mod cookie;
mod error;
mod fields;
mod request;
mod response;
mod rewrite;
mod section;

pub use body::BodyState;
pub use canned::{error_response, reason_phrase, response, CONTINUE_100, ERROR_STATUSES};
pub use chunked::{ChunkError, ChunkedDecoder, Progress, MAX_CHUNK_LINE, MAX_TRAILER_SECTION};
pub use error::{ErrorKind, HttpError};
pub use request::{parse_request, BodyFraming, Method, RequestHead, TargetForm};
pub use response::{parse_response, ResponseFraming, ResponseHead};
pub use rewrite::{
    write_request_head, write_response_head, FieldEdit, IpText, NoEdit, RequestRewrite,
    ResponseRewrite,
};
pub use section::{edit_fields, field_value, trim_ows, FieldLine, FieldLines, FieldSection};

/// Hard cap on header fields per head: the size of the on-stack table handed
/// to `httparse`. [`Limits::max_headers`] may lower it, never raise it.
pub const MAX_HEADERS: usize = 100;

/// Size limits applied while parsing a head; exceeding one is an error, not
/// a reason to wait for more bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version, CRLF); longer → 414.
    pub max_request_line: usize,
    /// Longest whole head, start line to the empty line included; longer → 431.
    pub max_head: usize,
    /// Most header fields; more → 431. Capped at [`MAX_HEADERS`].
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: MAX_HEADERS,
        }
    }
}

/// A byte range `start..end` in the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The bytes of this span in `buf`; empty if `buf` is not the buffer the
    /// span came from and the range does not fit.
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
