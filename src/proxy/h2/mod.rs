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
//! Memory: an idle connection keeps its task (on a plain listener the task is the
//! connection's future itself), the shared core and the client's HPACK table (at most
//! `header_table_size`). No buffers (output and receive buffers are freed when empty), no
//! writer (it runs only while there is output), no room for streams once the last one ended,
//! no flood counters before the first frame that counts. DATA waiting for a session is
//! bounded by the stream windows.

mod conn;
mod core;
mod request;
mod stream;

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::h2::PREFACE;
use crate::proxy::{Accepted, Local};
use crate::runtime::{self, Conn};
use crate::state::FrontendState;
use crate::transport::prefixed::Prefixed;
use crate::transport::{Chunk, Transport};

pub use stream::H2Stream;

/// Serves an h2 connection (ALPN "h2", or a plain connection that opened with the preface,
/// whose first bytes are `first`).
pub async fn serve<T: Transport>(accepted: Accepted, io: T, first: Vec<u8>) {
    conn::run(&accepted, &io, first).await;
}

/// A plain listener of a frontend with `[h2] cleartext = true`: a connection that opens with
/// the h2 preface speaks h2, any other one HTTP/1.1. `wait`: how long its first bytes may
/// take. The worker spawns this future as the connection's task, so an idle h2 connection
/// costs the connection's state and nothing around it; `counted`: the frontend whose open
/// connections count this one, taken off when the future ends.
pub fn serve_plain(
    accepted: Accepted,
    conn: Conn,
    wait: Duration,
    counted: Option<Arc<FrontendState>>,
) -> impl Future<Output = ()> {
    let counted = counted.map(|fe| Counted {
        local: accepted.local.clone(),
        fe,
    });
    async move {
        let _counted = counted;
        match first_bytes(&conn, wait).await {
            Some(first) if first.as_slice().starts_with(PREFACE) => {
                conn::run(&accepted, &conn, into_vec(first)).await;
            }
            Some(first) => {
                Box::pin(crate::proxy::http::serve(
                    accepted,
                    Prefixed::new(first, conn),
                ))
                .await;
            }
            None => {}
        }
    }
}

/// The first bytes of a connection on a plain listener of an h2 cleartext frontend, enough
/// to tell the h2 preface from HTTP/1.1; `None` when they do not come within `wait`.
async fn first_bytes(conn: &Conn, wait: Duration) -> Option<Chunk> {
    let mut got: Vec<u8> = Vec::new();
    loop {
        let chunk = match runtime::timeout(wait, Transport::recv(conn)).await {
            Ok(Ok(Some(c))) => c,
            _ => return None,
        };
        if got.is_empty()
            && (chunk.len() >= PREFACE.len() || !PREFACE.starts_with(chunk.as_slice()))
        {
            return Some(chunk);
        }
        got.extend_from_slice(chunk.as_slice());
        if got.len() >= PREFACE.len() || !PREFACE.starts_with(&got) {
            return Some(Chunk::Heap(got));
        }
    }
}

/// The bytes of `first`, which is given back (a provided buffer returns to its ring).
fn into_vec(first: Chunk) -> Vec<u8> {
    match first {
        Chunk::Heap(v) => v,
        other => other.as_slice().to_vec(),
    }
}

/// A connection counted open in its process's, frontend's and worker's totals: taken off
/// them when dropped.
struct Counted {
    local: Rc<Local>,
    fe: Arc<FrontendState>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.local.connection_closed(&self.fe);
    }
}
