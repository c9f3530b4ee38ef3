//! What an h2 connection's task and its streams' sessions share: the output buffer the
//! connection's writer drains, flow-control windows, and each open stream's received DATA.
//! One worker thread owns all of it (`Rc<RefCell>`); wakers connect the tasks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use crate::config::H2;
use crate::h2::frame::{self, ErrorCode};
use crate::h2::Limit;
use crate::proxy::Local;
use crate::state::FrontendState;
use crate::transport::TlsInfo;

/// Output queued past this makes a stream's `send` wait for the writer: response bodies are
/// pulled from servers no faster than the client takes them.
pub(super) const OUT_HIGH: usize = 64 * 1024;

/// The shared part of one h2 connection.
pub(super) struct Core {
    pub st: RefCell<State>,
    pub cfg: H2,
    /// The connection's TLS, for every stream's `X-Forwarded-Proto`, routing and log.
    pub tls: Option<TlsInfo>,
    pub local: Rc<Local>,
    pub counters: Arc<FrontendState>,
    pub key: Arc<str>,
    pub peer: Option<SocketAddr>,
}

pub(super) struct State {
    /// Frames waiting for the writer.
    pub out: Vec<u8>,
    /// Streams whose session runs.
    pub streams: Vec<Stream>,
    /// What ringlb may still send on the connection (the client's connection window).
    pub send_window: i64,
    /// The client's `SETTINGS_INITIAL_WINDOW_SIZE`.
    pub peer_window: i64,
    /// The client's `SETTINGS_MAX_FRAME_SIZE`.
    pub peer_max_frame: usize,
    /// The writer, waiting for output.
    pub writer: Option<Waker>,
    /// The connection task, waiting for anything (a stream ended).
    pub conn: Option<Waker>,
    /// Set when a stream ended, so that the connection task looks again.
    pub notified: bool,
    /// Streams waiting for `out` to drain below [`OUT_HIGH`].
    pub flush_waiters: Vec<Waker>,
    /// The connection is closing: the writer ends once `out` is empty.
    pub closing: bool,
    /// The connection is gone: every stream operation fails.
    pub dead: bool,
    /// Streams ringlb reset (or finished) while the client was still sending: frames it
    /// sent before it learnt that are dropped, not treated as errors (RFC 9113 §5.4.2).
    pub recent_reset: VecDeque<u32>,
    /// Streams closed otherwise (both sides ended, or the client reset it): a HEADERS frame on
    /// one is a connection error STREAM_CLOSED (RFC 9113 §5.1).
    pub recent_closed: VecDeque<u32>,
}

/// How many streams of each kind are remembered.
const RECENT_RESETS: usize = 32;

/// One stream, as the connection task and its session see it.
pub(super) struct Stream {
    pub id: u32,
    /// DATA payloads received and not yet taken by the session.
    pub data: VecDeque<Vec<u8>>,
    /// END_STREAM received.
    pub end: bool,
    /// Reset (by the client, or by ringlb for a stream error): the session's operations fail.
    pub reset: bool,
    pub recv_waker: Option<Waker>,
    /// What the client may still send on this stream.
    pub recv_window: i64,
    /// Bytes taken by the session and not yet granted back.
    pub unacked: u32,
    /// What ringlb may still send on this stream.
    pub send_window: i64,
    pub send_waker: Option<Waker>,
    /// ringlb sent END_STREAM (or RST_STREAM).
    pub local_end: bool,
    /// The request's `content-length`, checked against the DATA received.
    pub content_length: Option<u64>,
    pub received: u64,
    /// The request's trailers, as an HTTP/1.1 trailer section, once they came.
    pub trailers: Option<Vec<u8>>,
}

impl State {
    pub fn new() -> State {
        State {
            out: Vec::new(),
            streams: Vec::new(),
            send_window: frame::DEFAULT_WINDOW,
            peer_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::MAX_FRAME,
            writer: None,
            conn: None,
            notified: false,
            flush_waiters: Vec::new(),
            closing: false,
            dead: false,
            recent_reset: VecDeque::new(),
            recent_closed: VecDeque::new(),
        }
    }

    pub fn index(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    pub fn stream(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    /// Remembers that stream `id` was closed by ringlb before the client ended it.
    pub fn closed_early(&mut self, id: u32) {
        if self.recent_reset.len() >= RECENT_RESETS {
            self.recent_reset.pop_front();
        }
        self.recent_reset.push_back(id);
    }

    /// Whether `id` is such a stream.
    pub fn was_closed_early(&self, id: u32) -> bool {
        self.recent_reset.contains(&id)
    }

    /// Remembers that stream `id` closed, unless ringlb closed it early.
    pub fn closed(&mut self, id: u32) {
        if self.was_closed_early(id) {
            return;
        }
        if self.recent_closed.len() >= RECENT_RESETS {
            self.recent_closed.pop_front();
        }
        self.recent_closed.push_back(id);
    }

    /// Whether `id` is such a stream.
    pub fn was_closed(&self, id: u32) -> bool {
        self.recent_closed.contains(&id)
    }

    pub fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    pub fn wake_conn(&mut self) {
        self.notified = true;
        if let Some(w) = self.conn.take() {
            w.wake();
        }
    }

    /// Wakes every stream's sender (a window grew, or the connection is gone).
    pub fn wake_senders(&mut self) {
        for s in &mut self.streams {
            if let Some(w) = s.send_waker.take() {
                w.wake();
            }
        }
    }

    /// The connection is gone: every waiting operation fails.
    pub fn kill(&mut self) {
        self.dead = true;
        for s in &mut self.streams {
            s.reset = true;
            s.wake();
        }
        for w in self.flush_waiters.drain(..) {
            w.wake();
        }
        self.wake_writer();
    }

    /// Resets stream `id` with `code` (a stream error): RST_STREAM goes out, its session's
    /// operations fail.
    pub fn reset(&mut self, id: u32, code: ErrorCode) {
        frame::put_rst(&mut self.out, id, code);
        let mut open = true;
        if let Some(s) = self.stream(id) {
            open = !s.end;
            s.reset = true;
            s.local_end = true;
            s.wake();
        }
        if open {
            self.closed_early(id);
        }
        self.wake_writer();
    }
}

impl Stream {
    pub fn new(id: u32, send_window: i64, recv_window: i64) -> Stream {
        Stream {
            id,
            data: VecDeque::new(),
            end: false,
            reset: false,
            recv_waker: None,
            recv_window,
            unacked: 0,
            send_window,
            send_waker: None,
            local_end: false,
            content_length: None,
            received: 0,
            trailers: None,
        }
    }

    pub fn wake(&mut self) {
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
        if let Some(w) = self.send_waker.take() {
            w.wake();
        }
    }
}

impl Core {
    /// Counts and logs a limit hit; `action` says what ringlb did.
    pub fn limit(&self, limit: Limit, action: &impl std::fmt::Display) {
        self.counters.h2.limit_hit(limit);
        self.local.h2_limit(&self.key, limit, self.peer, action);
    }
}
