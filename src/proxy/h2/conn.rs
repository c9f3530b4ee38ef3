//! The connection task: checks the preface, answers SETTINGS and PING, keeps the windows,
//! opens a session per stream, holds the client to the limits of `[frontend.X.h2]`, and
//! closes with GOAWAY naming the last stream it processed (on drain, idle, a limit or a
//! protocol error). Its writer drains the output the streams and this task queue; it exists
//! (boxed) only while there is output, so an idle connection keeps no room for a send.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::core::{Core, State};
use crate::h2::frame::{self, ErrorCode, Head};
use crate::h2::{hpack, Limit, PREFACE};
use crate::proxy::Accepted;
use crate::runtime;
use crate::transport::{Chunk, Transport};

/// The connection window ringlb grants (the streams' windows bound what is buffered).
pub(super) const CONN_WINDOW: i64 = 1 << 20;

/// After a GOAWAY, how long the connection keeps reading (and dropping) what the client
/// still sends, so the close is not a reset that destroys the GOAWAY in flight.
const LINGER: Duration = Duration::from_millis(500);

/// The PING sent with the first GOAWAY of a graceful close: its ACK tells that every stream
/// the client opened before it saw the GOAWAY has arrived.
const DRAIN_PING: [u8; 8] = *b"ringlbGA";

/// How long the first GOAWAY waits for that ACK before the final one goes anyway.
const DRAIN_PING_WAIT: Duration = Duration::from_secs(2);

/// Counts events in a fixed window.
struct Window {
    start: Instant,
    n: u32,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window { start: now, n: 0 }
    }

    /// Counts one at `now`; whether the count is now past `max` within `len`.
    fn hit(&mut self, now: Instant, len: Duration, max: u32) -> bool {
        if now.saturating_duration_since(self.start) > len {
            self.start = now;
            self.n = 0;
        }
        self.n += 1;
        self.n > max
    }
}

/// The windows of the flood limits (`max_resets`, `max_settings`, `max_pings`).
struct Floods {
    resets: Window,
    settings: Window,
    pings: Window,
}

/// A header block being received (HEADERS, then CONTINUATION until END_HEADERS).
pub(super) struct Block {
    pub(super) stream: u32,
    pub(super) end_stream: bool,
    pub(super) buf: Vec<u8>,
    pub(super) continuations: u32,
    pub(super) started: Instant,
    pub(super) purpose: Purpose,
}

/// What a header block is for, as far as the stream's state tells (RFC 9113 §5.1, §8.1).
/// Every block is decoded whatever its purpose: it updates the HPACK table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A new stream's request.
    Request,
    /// Trailers of an open stream: they end its request body.
    Trailers,
    /// On a stream ringlb closed while the client was still sending: dropped.
    Discard,
    /// A stream error: the stream is reset with this code.
    Reset(ErrorCode),
}

/// Why the connection ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Close {
    /// GOAWAY with this code, then close.
    Goaway(ErrorCode),
    /// A limit: counted, logged, then GOAWAY with this code.
    Limit(Limit, ErrorCode),
    /// The client went away (or the writer failed): nothing more to say.
    Gone,
    /// Every stream ended after the GOAWAY (ringlb's, or the client's): the connection
    /// closes once its output is out, and lingers — a client still sending (WINDOW_UPDATEs
    /// for the last DATA) would otherwise get a reset that can discard responses it has not
    /// read yet.
    Done,
}

pub(super) struct Conn<'a> {
    pub(super) core: Rc<Core>,
    pub(super) accepted: &'a Accepted,
    pub(super) decoder: hpack::Decoder,
    /// How long a send may wait for the client (`timeout.client`).
    client_timeout: Duration,
    /// Highest stream id the client opened.
    pub(super) last_stream: u32,
    /// Highest stream id given to a session (the GOAWAY's last stream).
    pub(super) last_processed: u32,
    /// The final GOAWAY went out: no stream after it is opened.
    pub(super) goaway_sent: bool,
    /// A graceful close began: GOAWAY with the highest stream id and a PING went out at
    /// this time; the final GOAWAY follows the PING's ACK (RFC 9113 §6.8).
    pub(super) announced: Option<Instant>,
    pub(super) peer_goaway: bool,
    pub(super) preface_done: bool,
    pub(super) settings_seen: bool,
    /// Boxed: a block split into CONTINUATION frames is rare, and an idle connection keeps
    /// the room.
    pub(super) block: Option<Box<Block>>,
    /// Resets, SETTINGS and PINGs counted against the flood limits: boxed when the first of
    /// them comes (an idle connection that never sent one keeps no room for them).
    floods: Option<Box<Floods>>,
    pub(super) started: Instant,
    pub(super) idle_since: Instant,
    /// What the client may still send on the connection.
    pub(super) recv_window: i64,
    /// Received connection bytes not yet granted back.
    pub(super) recv_unacked: i64,
}

/// Runs one h2 connection to its end. A plain function that returns the connection's future:
/// the connection is built here and kept once by the future (an async function would keep
/// its by-value arguments beside the state made from them).
pub(super) fn run<'a, T: Transport>(
    accepted: &'a Accepted,
    io: &'a T,
    mut rbuf: Vec<u8>,
) -> impl Future<Output = ()> + 'a {
    let mut c = Conn::open(accepted, io.tls().cloned());
    async move {
        if let Some(c) = &mut c {
            c.drive(io, &mut rbuf).await;
            c.core.st.borrow_mut().kill();
        }
    }
}

impl<'a> Conn<'a> {
    /// The connection's state, with ringlb's SETTINGS queued; `None` when its frontend is
    /// gone.
    fn open(accepted: &'a Accepted, tls: Option<crate::transport::TlsInfo>) -> Option<Conn<'a>> {
        let snap = accepted.cell.load();
        let fe = accepted.frontend.resolve(&snap)?;
        let cfg = fe.h2;
        let client_timeout = fe.timeouts.client;
        let counters = fe.state.clone();
        drop(snap);
        counters.h2.connections.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let core = Rc::new(Core {
            st: std::cell::RefCell::new(State::new()),
            cfg,
            tls: tls.map(Box::new),
            counters,
        });
        {
            let mut st = core.st.borrow_mut();
            frame::put_settings(
                &mut st.out,
                &[
                    (
                        frame::SETTINGS_MAX_CONCURRENT_STREAMS,
                        cfg.max_concurrent_streams,
                    ),
                    (frame::SETTINGS_INITIAL_WINDOW_SIZE, cfg.initial_window_size),
                    (frame::SETTINGS_HEADER_TABLE_SIZE, cfg.header_table_size),
                    (
                        frame::SETTINGS_MAX_HEADER_LIST_SIZE,
                        cfg.max_header_list_size,
                    ),
                    (frame::SETTINGS_ENABLE_PUSH, 0),
                ],
            );
            frame::put_window_update(&mut st.out, 0, (CONN_WINDOW - frame::DEFAULT_WINDOW) as u32);
        }
        Some(Conn {
            core,
            accepted,
            decoder: hpack::Decoder::new(cfg.header_table_size as usize),
            client_timeout,
            last_stream: 0,
            last_processed: 0,
            goaway_sent: false,
            announced: None,
            peer_goaway: false,
            preface_done: false,
            settings_seen: false,
            block: None,
            floods: None,
            started: now,
            idle_since: now,
            recv_window: CONN_WINDOW,
            recv_unacked: 0,
        })
    }
}

/// Sends what is queued until nothing is left: true then, false when the connection is gone
/// or the client stopped taking it. It runs (boxed) only while there is output, so an idle
/// connection keeps no room for a send.
async fn write_out<T: Transport>(io: &T, core: &Core, limit: Duration) -> bool {
    loop {
        let buf = {
            let mut st = core.st.borrow_mut();
            if st.dead {
                return false;
            }
            if st.out.is_empty() {
                return true;
            }
            std::mem::take(&mut st.out)
        };
        let sent = runtime::timeout_at(runtime::now() + limit, io.send(Chunk::Heap(buf))).await;
        let mut st = core.st.borrow_mut();
        for w in st.flush_waiters.drain(..) {
            w.wake();
        }
        if !matches!(sent, Ok((Ok(()), _))) {
            st.kill();
            st.wake_conn();
            return false;
        }
    }
}

/// Why the connection task wakes by itself.
#[derive(Clone, Copy)]
enum Timer {
    Limit(Limit),
    /// The drain PING's ACK did not come: the final GOAWAY goes anyway.
    FinalGoaway,
    None,
}

/// What woke the connection task.
enum Ev {
    Recv(std::io::Result<Option<Chunk>>),
    Timer,
    Drain,
    Notified,
    WriterDone,
}

impl Conn<'_> {
    /// The flood windows, made on first use.
    fn floods(&mut self) -> &mut Floods {
        let start = self.started;
        self.floods.get_or_insert_with(|| {
            Box::new(Floods {
                resets: Window::new(start),
                settings: Window::new(start),
                pings: Window::new(start),
            })
        })
    }

    async fn drive<T: Transport>(&mut self, io: &T, rbuf: &mut Vec<u8>) {
        let core = self.core.clone();
        // The writer, while there is output (`write_out`).
        let new_writer = {
            let (core, limit) = (&core, self.client_timeout);
            move || Box::pin(write_out(io, core, limit))
        };
        let mut writer = None;
        let mut recv = pin!(io.recv());
        // The drain signal is looked at, not waited on: raising it wakes every task of the
        // worker, so an idle connection is no waiter.
        let accepted = self.accepted;
        let draining = &accepted.local.draining;
        let mut drain_seen = false;
        let mut writer_done = false;
        let mut recv_done = false;
        let close = loop {
            // Frames already received.
            match self.process(rbuf) {
                Ok(()) => {}
                Err(close) => break close,
            }
            if !drain_seen && draining.is_raised() {
                drain_seen = true;
                self.announce();
            }
            let open = {
                let mut st = self.core.st.borrow_mut();
                if st.streams.is_empty() {
                    st.release_idle();
                }
                st.streams.len()
            };
            if open > 0 {
                self.idle_since = Instant::now();
            } else if self.goaway_sent || (self.peer_goaway && self.announced.is_none()) {
                break Close::Done;
            }
            let (mut sleep, on_timer) = {
                let (deadline, on_timer) = self.deadline();
                (runtime::sleep_until(deadline), on_timer)
            };
            let ev = poll_fn(|cx| {
                if !writer_done {
                    if writer.is_none() {
                        let st = core.st.borrow();
                        if !st.out.is_empty() || st.dead {
                            writer = Some(new_writer());
                        }
                    }
                    if let Some(w) = writer.as_mut() {
                        if let Poll::Ready(sent) = w.as_mut().poll(cx) {
                            writer = None;
                            if !sent {
                                writer_done = true;
                                return Poll::Ready(Ev::WriterDone);
                            }
                        }
                    }
                }
                if !recv_done {
                    if let Poll::Ready(r) = recv.as_mut().poll(cx) {
                        recv_done = true;
                        return Poll::Ready(Ev::Recv(r));
                    }
                }
                if !drain_seen && draining.is_raised() {
                    return Poll::Ready(Ev::Drain);
                }
                {
                    let mut st = core.st.borrow_mut();
                    if std::mem::take(&mut st.notified) {
                        return Poll::Ready(Ev::Notified);
                    }
                    st.conn = Some(cx.waker().clone());
                }
                if Pin::new(&mut sleep).poll(cx).is_ready() {
                    return Poll::Ready(Ev::Timer);
                }
                Poll::Pending
            })
            .await;
            match ev {
                Ev::Recv(Ok(Some(chunk))) => {
                    // Idle means nothing from the client: the wait starts again.
                    self.idle_since = Instant::now();
                    rbuf.extend_from_slice(chunk.as_slice());
                    drop(chunk);
                    recv.set(io.recv());
                    recv_done = false;
                }
                Ev::Recv(_) | Ev::WriterDone => break Close::Gone,
                Ev::Drain => {}
                Ev::Notified => {}
                Ev::Timer => match on_timer {
                    Timer::Limit(limit) => break Close::Limit(limit, ErrorCode::NoError),
                    Timer::FinalGoaway => self.goaway(ErrorCode::NoError),
                    Timer::None => {}
                },
            }
        };
        match close {
            Close::Gone | Close::Done => {}
            Close::Goaway(code) => self.goaway(code),
            Close::Limit(limit, code) => {
                self.limit(
                    limit,
                    &format_args!("connection closed (GOAWAY {})", code.name()),
                );
                self.goaway(code);
            }
        }
        // Flush what is queued, then close; the client gets the GOAWAY before the FIN. Boxed:
        // the connection's future keeps no room for its close while it idles.
        let linger = !recv_done && !matches!(close, Close::Gone);
        Box::pin(async {
            if !writer_done {
                if writer.is_none() && !core.st.borrow().out.is_empty() {
                    writer = Some(new_writer());
                }
                if let Some(w) = writer.as_mut() {
                    let _ = runtime::timeout(LINGER * 4, w.as_mut()).await;
                }
            }
            let _ = io.shutdown_write().await;
            if linger {
                let deadline = Instant::now() + LINGER;
                while let Ok(Ok(Some(_))) = runtime::timeout_at(deadline, recv.as_mut()).await {
                    recv.set(io.recv());
                }
            }
        })
        .await;
    }

    /// Counts and logs a limit hit; `action` says what ringlb did.
    pub(super) fn limit(&self, limit: Limit, action: &impl std::fmt::Display) {
        let a = self.accepted;
        self.core.counters.h2.limit_hit(limit);
        a.local.h2_limit(a.frontend.key(), limit, a.peer, action);
    }

    /// When the task must wake by itself, and why.
    fn deadline(&self) -> (Instant, Timer) {
        let cfg = &self.core.cfg;
        if !self.settings_seen {
            return (
                self.started + cfg.request_timeout,
                Timer::Limit(Limit::RequestTimeout),
            );
        }
        if let Some(b) = &self.block {
            return (
                b.started + cfg.request_timeout,
                Timer::Limit(Limit::RequestTimeout),
            );
        }
        if let (Some(at), false) = (self.announced, self.goaway_sent) {
            return (at + DRAIN_PING_WAIT, Timer::FinalGoaway);
        }
        if self.core.st.borrow().streams.is_empty() {
            return (
                self.idle_since + cfg.idle_timeout,
                Timer::Limit(Limit::IdleTimeout),
            );
        }
        (Instant::now() + Duration::from_secs(3600), Timer::None)
    }

    /// Begins a graceful close: GOAWAY naming the highest possible stream, so the client
    /// opens no more, and a PING whose ACK says the streams it opened meanwhile arrived.
    fn announce(&mut self) {
        if self.goaway_sent || self.announced.is_some() {
            return;
        }
        self.announced = Some(Instant::now());
        let mut st = self.core.st.borrow_mut();
        frame::put_goaway(&mut st.out, (1 << 31) - 1, ErrorCode::NoError);
        frame::put_ping(&mut st.out, &DRAIN_PING);
        st.wake_writer();
    }

    /// Queues GOAWAY (once) naming the last stream given to a session.
    pub(super) fn goaway(&mut self, code: ErrorCode) {
        if self.goaway_sent && code == ErrorCode::NoError {
            return;
        }
        self.goaway_sent = true;
        self.core.counters.h2.goaway_sent(code);
        let mut st = self.core.st.borrow_mut();
        frame::put_goaway(&mut st.out, self.last_processed, code);
        st.wake_writer();
    }

    /// Handles every complete frame in `rbuf` and drops it from there.
    fn process(&mut self, rbuf: &mut Vec<u8>) -> Result<(), Close> {
        let mut at = 0usize;
        let result = loop {
            let buf = rbuf.get(at..).unwrap_or_default();
            if !self.preface_done {
                if buf.len() < PREFACE.len() {
                    if !PREFACE.starts_with(buf) {
                        break Err(Close::Goaway(ErrorCode::ProtocolError));
                    }
                    break Ok(());
                }
                if !buf.starts_with(PREFACE) {
                    break Err(Close::Goaway(ErrorCode::ProtocolError));
                }
                self.preface_done = true;
                at += PREFACE.len();
                continue;
            }
            let Some(head) = Head::parse(buf) else {
                break Ok(());
            };
            if head.len > frame::MAX_FRAME {
                break Err(Close::Goaway(ErrorCode::FrameSizeError));
            }
            let Some(payload) = buf.get(frame::HEADER_LEN..frame::HEADER_LEN + head.len) else {
                break Ok(());
            };
            at += frame::HEADER_LEN + head.len;
            if let Err(close) = self.frame(head, payload) {
                break Err(close);
            }
        };
        if at >= rbuf.len() {
            *rbuf = Vec::new();
        } else {
            rbuf.drain(..at);
        }
        result
    }

    /// One frame.
    fn frame(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        let proto = Err(Close::Goaway(ErrorCode::ProtocolError));
        if !self.settings_seen && (head.kind != frame::SETTINGS || head.has(frame::ACK)) {
            // The preface continues with the client's SETTINGS.
            return proto;
        }
        if self.block.is_some() && head.kind != frame::CONTINUATION {
            return proto;
        }
        match head.kind {
            frame::DATA => self.data(head, payload),
            frame::HEADERS => self.headers(head, payload),
            frame::CONTINUATION => self.continuation(head, payload),
            frame::PRIORITY => {
                if head.stream == 0 {
                    return proto;
                }
                if payload.len() != 5 {
                    self.core
                        .st
                        .borrow_mut()
                        .reset(head.stream, ErrorCode::FrameSizeError);
                } else if frame::u32_at(payload) & 0x7fff_ffff == head.stream {
                    self.core
                        .st
                        .borrow_mut()
                        .reset(head.stream, ErrorCode::ProtocolError);
                }
                Ok(())
            }
            frame::RST_STREAM => self.rst(head, payload),
            frame::SETTINGS => self.settings(head, payload),
            frame::PUSH_PROMISE => proto,
            frame::PING => {
                if head.stream != 0 {
                    return proto;
                }
                let Ok(p) = <[u8; 8]>::try_from(payload) else {
                    return Err(Close::Goaway(ErrorCode::FrameSizeError));
                };
                if head.has(frame::ACK) {
                    if p == DRAIN_PING && self.announced.is_some() {
                        self.goaway(ErrorCode::NoError);
                    }
                    return Ok(());
                }
                let cfg = self.core.cfg;
                if self
                    .floods()
                    .pings
                    .hit(Instant::now(), cfg.flood_window, cfg.max_pings)
                {
                    return Err(Close::Limit(Limit::PingFlood, ErrorCode::EnhanceYourCalm));
                }
                let mut st = self.core.st.borrow_mut();
                frame::put_ping_ack(&mut st.out, &p);
                st.wake_writer();
                Ok(())
            }
            frame::GOAWAY => {
                if head.stream != 0 {
                    return proto;
                }
                if payload.len() < 8 {
                    return Err(Close::Goaway(ErrorCode::FrameSizeError));
                }
                self.peer_goaway = true;
                Ok(())
            }
            frame::WINDOW_UPDATE => self.window_update(head, payload),
            // Unknown frame types are ignored (RFC 9113 §4.1).
            _ => Ok(()),
        }
    }

    fn settings(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        if head.stream != 0 {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        }
        if head.has(frame::ACK) {
            if !payload.is_empty() {
                return Err(Close::Goaway(ErrorCode::FrameSizeError));
            }
            return Ok(());
        }
        if !payload.len().is_multiple_of(6) {
            return Err(Close::Goaway(ErrorCode::FrameSizeError));
        }
        let cfg = self.core.cfg;
        if self.settings_seen
            && self
                .floods()
                .settings
                .hit(Instant::now(), cfg.flood_window, cfg.max_settings)
        {
            return Err(Close::Limit(
                Limit::SettingsFlood,
                ErrorCode::EnhanceYourCalm,
            ));
        }
        self.settings_seen = true;
        let mut st = self.core.st.borrow_mut();
        for s in payload.chunks_exact(6) {
            let id = (frame::u32_at(s) >> 16) as u16;
            let v = frame::u32_at(s.get(2..).unwrap_or_default());
            match id {
                frame::SETTINGS_ENABLE_PUSH if v > 1 => {
                    return Err(Close::Goaway(ErrorCode::ProtocolError));
                }
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if i64::from(v) > frame::MAX_WINDOW {
                        return Err(Close::Goaway(ErrorCode::FlowControlError));
                    }
                    let delta = i64::from(v) - st.peer_window;
                    st.peer_window = i64::from(v);
                    for s in &mut st.streams {
                        s.send_window += delta;
                        if s.send_window > frame::MAX_WINDOW {
                            return Err(Close::Goaway(ErrorCode::FlowControlError));
                        }
                    }
                    st.wake_senders();
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(16_384..=16_777_215).contains(&v) {
                        return Err(Close::Goaway(ErrorCode::ProtocolError));
                    }
                    st.peer_max_frame = v as usize;
                }
                frame::SETTINGS_HEADER_TABLE_SIZE => st.encoder.peer_table_size(v as usize),
                // Concurrent streams and header list size: ringlb pushes nothing and sends
                // small heads.
                _ => {}
            }
        }
        frame::put_settings_ack(&mut st.out);
        st.wake_writer();
        Ok(())
    }

    fn window_update(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        if payload.len() != 4 {
            return Err(Close::Goaway(ErrorCode::FrameSizeError));
        }
        let inc = i64::from(frame::u32_at(payload) & 0x7fff_ffff);
        let mut st = self.core.st.borrow_mut();
        if head.stream == 0 {
            if inc == 0 {
                return Err(Close::Goaway(ErrorCode::ProtocolError));
            }
            st.send_window += inc;
            if st.send_window > frame::MAX_WINDOW {
                return Err(Close::Goaway(ErrorCode::FlowControlError));
            }
            st.wake_senders();
            return Ok(());
        }
        if head.stream > self.last_stream {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        }
        let code = match st.stream(head.stream) {
            None => return Ok(()),
            Some(_) if inc == 0 => Some(ErrorCode::ProtocolError),
            Some(s) => {
                s.send_window += inc;
                if let Some(w) = s.send_waker.take() {
                    w.wake();
                }
                (s.send_window > frame::MAX_WINDOW).then_some(ErrorCode::FlowControlError)
            }
        };
        if let Some(code) = code {
            st.reset(head.stream, code);
        }
        Ok(())
    }

    fn rst(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        if head.stream == 0 || head.stream > self.last_stream {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        }
        if payload.len() != 4 {
            return Err(Close::Goaway(ErrorCode::FrameSizeError));
        }
        let cfg = self.core.cfg;
        if self
            .floods()
            .resets
            .hit(Instant::now(), cfg.flood_window, cfg.max_resets)
        {
            return Err(Close::Limit(Limit::RapidReset, ErrorCode::EnhanceYourCalm));
        }
        let mut st = self.core.st.borrow_mut();
        if let Some(s) = st.stream(head.stream) {
            s.reset = true;
            s.local_end = true;
            s.wake();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle h2 connection costs its task (the future below, spawned by the worker for a
    /// plain listener of an h2 cleartext frontend) and its shared `Core`: keep both small (the
    /// benchmark measures memory per idle h2 connection against nginx's). No writer, flood
    /// counters or split header block has room in them while the connection idles.
    #[test]
    fn idle_h2_connection_stays_small() {
        let (accepted, io) = crate::proxy::test_accepted(
            "[frontend.a]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"b\"\n[frontend.a.h2]\ncleartext = true\n[backend.b]\n[[backend.b.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n",
        );
        let conn = run(&accepted, &io, Vec::new());
        let conn_size = std::mem::size_of_val(&conn);
        drop(conn);
        // What the worker spawns: the task is this future.
        let task = super::super::serve_plain(accepted, io, Duration::from_secs(1), None);
        let task_size = std::mem::size_of_val(&task);
        println!(
            "task {task_size} bytes; connection future {conn_size}; Conn {}; Core {}; State {}; \
             decoder {}",
            std::mem::size_of::<Conn>(),
            std::mem::size_of::<Core>(),
            std::mem::size_of::<State>(),
            std::mem::size_of::<hpack::Decoder>(),
        );
        assert!(task_size <= 744, "idle h2 task grew to {task_size} bytes");
        assert!(
            std::mem::size_of::<Core>() <= 320,
            "h2 Core grew to {} bytes",
            std::mem::size_of::<Core>()
        );
    }
}
