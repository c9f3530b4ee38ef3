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
use crate::h2::{hpack, Limit};
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
    /// The connection's TLS, for every stream's `X-Forwarded-Proto`, routing and log (boxed:
    /// a cleartext connection keeps no room for it).
    pub tls: Option<Box<TlsInfo>>,
    pub counters: Arc<FrontendState>,
}

/// Where a stream's limit hit is logged: the worker, the frontend's name, the client (the
/// connection task logs its own from its `Accepted`; an idle connection keeps no copy).
pub(super) struct LimitLog {
    pub local: Rc<Local>,
    pub key: Arc<str>,
    pub peer: Option<SocketAddr>,
}

pub(super) struct State {
    /// Frames waiting for the writer.
    pub out: Vec<u8>,
    /// The response header blocks' HPACK state: a block is encoded as it is queued on `out`,
    /// so the client decodes the blocks in the order the table changed.
    pub encoder: hpack::Encoder,
    /// Streams whose session runs.
    pub streams: Vec<Stream>,
    /// What ringlb may still send on the connection (the client's connection window).
    pub send_window: i64,
    /// The client's `SETTINGS_INITIAL_WINDOW_SIZE`.
    pub peer_window: i64,
    /// The client's `SETTINGS_MAX_FRAME_SIZE`.
    pub peer_max_frame: usize,
    /// The connection task, waiting for anything (output to send, a stream ended). Its
    /// writer exists only while there is output, so output wakes the task.
    pub conn: Option<Waker>,
    /// Set when a stream ended, so that the connection task looks again.
    pub notified: bool,
    /// Streams waiting for `out` to drain below [`OUT_HIGH`].
    pub flush_waiters: Vec<Waker>,
    /// The connection is gone: every stream operation fails.
    pub dead: bool,
    /// Streams closed lately, oldest first, at most [`RECENT`] of each kind, for frames the
    /// client sent on them. Marked [`EARLY`]: ringlb reset (or finished) the stream while the
    /// client was still sending, so frames it sent before it learnt that are dropped, not
    /// treated as errors (RFC 9113 §5.4.2). Unmarked: closed otherwise (both sides ended, or
    /// the client reset it), so a HEADERS frame on one is a connection error STREAM_CLOSED
    /// (RFC 9113 §5.1). One list of ids (stream ids have 31 bits) is what a connection keeps.
    pub recent: Vec<u32>,
}

/// How many streams of each kind are remembered.
const RECENT: usize = 32;

/// The mark of a stream ringlb closed early in [`State::recent`].
const EARLY: u32 = 1 << 31;

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
            encoder: hpack::Encoder::new(),
            streams: Vec::new(),
            send_window: frame::DEFAULT_WINDOW,
            peer_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::MAX_FRAME,
            conn: None,
            notified: false,
            flush_waiters: Vec::new(),
            dead: false,
            recent: Vec::new(),
        }
    }

    pub fn index(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    pub fn stream(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    /// Remembers `entry` (an id, marked or not), forgetting the oldest of its kind past
    /// [`RECENT`].
    fn remember(&mut self, entry: u32) {
        let kind = |e: &u32| e & EARLY == entry & EARLY;
        if self.recent.iter().filter(|e| kind(e)).count() >= RECENT {
            if let Some(oldest) = self.recent.iter().position(kind) {
                self.recent.remove(oldest);
            }
        }
        self.recent.push(entry);
    }

    /// Remembers that stream `id` was closed by ringlb before the client ended it.
    pub fn closed_early(&mut self, id: u32) {
        self.remember(id | EARLY);
    }

    /// Whether `id` is such a stream.
    pub fn was_closed_early(&self, id: u32) -> bool {
        self.recent.contains(&(id | EARLY))
    }

    /// Remembers that stream `id` closed, unless ringlb closed it early.
    pub fn closed(&mut self, id: u32) {
        if self.was_closed_early(id) {
            return;
        }
        self.remember(id & !EARLY);
    }

    /// Whether `id` is such a stream.
    pub fn was_closed(&self, id: u32) -> bool {
        id & EARLY == 0 && self.recent.contains(&id)
    }

    /// The connection has no open stream: what only open streams need gives its memory back
    /// (an idle connection keeps its windows, settings and recent stream ids, no capacity).
    pub fn release_idle(&mut self) {
        if self.streams.is_empty() && self.streams.capacity() > 0 {
            self.streams = Vec::new();
        }
        if self.flush_waiters.is_empty() && self.flush_waiters.capacity() > 0 {
            self.flush_waiters = Vec::new();
        }
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = Vec::new();
        }
        if self.recent.capacity() >= self.recent.len() + 8 {
            self.recent.shrink_to_fit();
        }
    }

    /// Output was queued: the connection task starts its writer.
    pub fn wake_writer(&mut self) {
        if let Some(w) = self.conn.take() {
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

impl LimitLog {
    /// Counts and logs a limit hit; `action` says what ringlb did.
    pub fn hit(&self, core: &Core, limit: Limit, action: &impl std::fmt::Display) {
        core.counters.h2.limit_hit(limit);
        self.local.h2_limit(&self.key, limit, self.peer, action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose streams ended keeps no capacity for them, and still knows how each
    /// of the latest ones closed.
    #[test]
    fn an_idle_connection_keeps_no_stream_room() {
        let mut st = State::new();
        for id in (1..40).step_by(2) {
            st.streams.push(Stream::new(id, 65_535, 65_535));
        }
        st.flush_waiters.push(std::task::Waker::noop().clone());
        st.flush_waiters.clear();
        while let Some(s) = st.streams.pop() {
            st.closed(s.id);
        }
        st.release_idle();
        assert_eq!(st.streams.capacity(), 0);
        assert_eq!(st.flush_waiters.capacity(), 0);
        assert_eq!(st.out.capacity(), 0);
        assert!(st.recent.capacity() < st.recent.len() + 8);
        assert!(st.was_closed(1) && st.was_closed(39));
    }

    /// Each kind of closed stream is remembered up to [`RECENT`], the oldest forgotten first;
    /// the kinds do not push each other out.
    #[test]
    fn recent_streams_are_remembered_per_kind() {
        let mut st = State::new();
        st.closed_early(1);
        st.closed(1); // closed early: stays that kind
        assert!(st.was_closed_early(1) && !st.was_closed(1));
        for id in (3..3 + 2 * RECENT as u32).step_by(2) {
            st.closed(id);
        }
        assert!(
            st.was_closed_early(1),
            "a reset stream pushed out by closed ones"
        );
        assert!(st.was_closed(3) && st.was_closed(1 + 2 * RECENT as u32));
        st.closed(1001);
        assert!(!st.was_closed(3), "the oldest closed stream is forgotten");
        assert!(st.was_closed(5) && st.was_closed(1001));
        for id in (2001..2001 + 2 * RECENT as u32).step_by(2) {
            st.closed_early(id);
        }
        assert!(!st.was_closed_early(1));
        assert!(st.was_closed_early(2001) && st.was_closed(5));
        assert!(!st.was_closed_early(5) && !st.was_closed(2001));
        assert_eq!(st.recent.len(), 2 * RECENT);
    }
}
