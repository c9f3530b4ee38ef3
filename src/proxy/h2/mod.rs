//! HTTP/2 for clients: one task per connection reads frames and writes the connection's
//! output; each stream is served by the HTTP/1.1 session code over an [`H2Stream`]
//! transport, so it goes through the same rules, routing, persistence, balancing, queueing
//! and upstream pool as an HTTP/1.1 request (servers stay HTTP/1.1).
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | entry points: h2 after TLS ALPN, and prior-knowledge detection on plain listeners |
//! | `conn.rs` | the connection task: preface, SETTINGS, PING, windows, resets, limits, GOAWAY, the writer |
//! | `request.rs` | HEADERS/CONTINUATION (a header block becomes a session, trailers, refusals) and DATA |
//! | `core.rs` | what the connection and its streams share: output, windows, received DATA |
//! | `stream.rs` | one stream as a `Transport`: HTTP/1.1 head and body in, HEADERS/DATA out |
//!
//! Memory: an idle connection keeps its task, the shared core (no buffers: output and
//! receive buffers are freed when empty) and the client's HPACK table (at most
//! `header_table_size`). DATA waiting for a session is bounded by the stream windows.

mod conn;
mod core;
mod request;
mod stream;

use std::time::Duration;

use crate::h2::PREFACE;
use crate::proxy::Accepted;
use crate::runtime::{self, Conn};
use crate::transport::prefixed::Prefixed;
use crate::transport::{Chunk, Transport};

pub use stream::H2Stream;

/// Serves an h2 connection (ALPN "h2", or a plain connection that opened with the preface,
/// whose first bytes are `first`).
pub async fn serve<T: Transport + 'static>(accepted: Accepted, io: T, first: Vec<u8>) {
    conn::run(accepted, io, first).await;
}

/// A plain listener of a frontend with `[h2] cleartext = true`: a connection that opens with
/// the h2 preface speaks h2, any other one HTTP/1.1. `wait`: how long its first bytes may
/// take.
pub async fn serve_plain(accepted: Accepted, conn: Conn, wait: Duration) {
    let mut got: Vec<u8> = Vec::new();
    let first = loop {
        let chunk = match runtime::timeout(wait, Transport::recv(&conn)).await {
            Ok(Ok(Some(c))) => c,
            _ => return,
        };
        if got.is_empty()
            && (chunk.len() >= PREFACE.len() || !PREFACE.starts_with(chunk.as_slice()))
        {
            break chunk;
        }
        got.extend_from_slice(chunk.as_slice());
        if got.len() >= PREFACE.len() || !PREFACE.starts_with(&got) {
            break Chunk::Heap(std::mem::take(&mut got));
        }
    };
    if first.as_slice().starts_with(PREFACE) {
        let bytes = first.as_slice().to_vec();
        drop(first);
        Box::pin(serve(accepted, conn, bytes)).await;
    } else {
        Box::pin(crate::proxy::http::serve(
            accepted,
            Prefixed::new(first, conn),
        ))
        .await;
    }
}
