//! The HTTP/1.1 session: read a request head, pick a server, forward head and body, relay the
//! response, and keep both sides alive when allowed — one request at a time, so pipelined
//! requests are answered in order.
//!
//! Bodies are streamed in both directions: at most one provided buffer per direction is held
//! at a time, whatever the body size. Nothing ambiguous is forwarded: a head the codec rejects
//! gets its 4xx and the connection closes; a response the codec rejects becomes a 502 (before
//! any of it reached the client) or a cut connection (after).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{client_ip, connect, Fail, Local, Reuse, Upstream};
use crate::config::ConnectionMode;
use crate::http::TargetForm;
use crate::http::{
    error_response, parse_request, parse_response, write_request_head, write_response_head,
    BodyFraming, BodyState, IpText, Limits, RequestHead, RequestRewrite, ResponseFraming,
    ResponseRewrite, CONTINUE_100,
};
use crate::route::{RawFields, RequestView};
use crate::runtime::{self, Conn, IoBuf, PBuf};
use crate::snapshot::Snapshot;

/// Head size limits (request line 8 KiB, head 16 KiB, 100 fields).
const LIMITS: Limits = Limits {
    max_request_line: 8 * 1024,
    max_head: 16 * 1024,
    max_headers: crate::http::MAX_HEADERS,
};

/// While draining, how long an idle client connection may still send its next request.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// Most informational (1xx) responses relayed before one final response; more is a 502.
const MAX_INFORMATIONAL: usize = 8;

/// After an error response, how long the connection keeps reading (and discarding) what the
/// client still sends before closing, so the close does not turn into a reset that destroys
/// the error response in flight.
const LINGER: Duration = Duration::from_millis(500);

/// Bytes received and not consumed yet: in a provided buffer (the common case, no copy) or, when
/// a head spans several receives or bytes must outlive their buffer, gathered on the heap.
#[derive(Default)]
struct Input {
    pbuf: Option<PBuf>,
    carry: Vec<u8>,
}

/// A buffer to send: a provided buffer as received, or heap bytes.
enum Chunk {
    P(PBuf),
    V(Vec<u8>),
}

impl IoBuf for Chunk {
    fn io_ptr(&self) -> *const u8 {
        match self {
            Chunk::P(p) => p.io_ptr(),
            Chunk::V(v) => v.io_ptr(),
        }
    }
    fn io_len(&self) -> usize {
        match self {
            Chunk::P(p) => p.io_len(),
            Chunk::V(v) => v.io_len(),
        }
    }
}

impl Input {
    fn slice(&self) -> &[u8] {
        if !self.carry.is_empty() {
            &self.carry
        } else if let Some(p) = &self.pbuf {
            p.as_slice()
        } else {
            &[]
        }
    }

    fn is_empty(&self) -> bool {
        self.slice().is_empty()
    }

    fn consume(&mut self, n: usize) {
        if !self.carry.is_empty() {
            let n = n.min(self.carry.len());
            self.carry.drain(..n);
            if self.carry.is_empty() {
                // An idle connection keeps no heap buffer.
                self.carry = Vec::new();
            }
        } else if let Some(p) = self.pbuf.as_mut() {
            p.advance(n);
            if p.is_empty() {
                self.pbuf = None;
            }
        }
    }

    fn push(&mut self, buf: PBuf) {
        if self.is_empty() {
            self.carry = Vec::new();
            self.pbuf = Some(buf);
            return;
        }
        if let Some(p) = self.pbuf.take() {
            self.carry.extend_from_slice(p.as_slice());
        }
        self.carry.extend_from_slice(buf.as_slice());
    }

    /// Takes the first `n` bytes as a sendable chunk, without copying when they sit alone in a
    /// provided buffer.
    fn take(&mut self, n: usize) -> Chunk {
        if !self.carry.is_empty() {
            let n = n.min(self.carry.len());
            let rest = self.carry.split_off(n);
            let head = std::mem::replace(&mut self.carry, rest);
            if self.carry.is_empty() {
                self.carry = Vec::new();
            }
            return Chunk::V(head);
        }
        match self.pbuf.take() {
            Some(mut p) => {
                if n < p.len() {
                    self.carry
                        .extend_from_slice(p.as_slice().get(n..).unwrap_or(&[]));
                    p.truncate(n);
                }
                Chunk::P(p)
            }
            None => Chunk::V(Vec::new()),
        }
    }

    /// Moves unread bytes out of the provided buffer onto the heap, giving the buffer back.
    /// Done before a wait that can be long (a queue, a slow server): a session must not hold a
    /// receive buffer then, or a burst of waiting sessions could hold them all and starve the
    /// sessions that need one to make progress.
    fn detach(&mut self) {
        if let Some(p) = self.pbuf.take() {
            if !p.is_empty() {
                self.carry.extend_from_slice(p.as_slice());
            }
        }
    }

    /// Receives more bytes. `Ok(false)` at end of stream.
    async fn fill(&mut self, conn: &Conn) -> std::io::Result<bool> {
        match conn.recv().await? {
            Some(b) => {
                self.push(b);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// How a request ended, for the session loop.
enum Next {
    /// Serve the next request on this connection.
    KeepAlive,
    /// Close (after lingering if the client may still be sending).
    Close { linger: bool },
}

/// Everything that stays the same for all requests of a connection.
struct Session {
    local: Rc<Local>,
    cell: Arc<ArcSwap<Snapshot>>,
    frontend: Arc<str>,
    client: Conn,
    peer: Option<SocketAddr>,
    /// The request being served; allocated per request, `None` while the connection idles.
    exchange: Option<Box<Exchange>>,
}

/// Serves one client connection until it closes, times out, or the worker drains.
pub async fn serve(
    local: Rc<Local>,
    cell: Arc<ArcSwap<Snapshot>>,
    frontend: Arc<str>,
    client: Conn,
    peer: Option<SocketAddr>,
) {
    let mut s = Session {
        local,
        cell,
        frontend,
        client,
        peer,
        exchange: None,
    };
    let mut input = Input::default();
    let mut served = 0u64;
    loop {
        // The snapshot is looked up again for each request (a reload applies to the next
        // request) and not held while the connection idles.
        let timeouts = {
            let snap = s.cell.load();
            match snap.frontends.iter().find(|f| *f.name == *s.frontend) {
                Some(fe) => fe.timeouts,
                None => break,
            }
        };
        // Waiting for the first byte: the keep-alive timeout between requests, the request
        // timeout for the first one; the whole head must then arrive within `http_request`.
        if input.is_empty() {
            let idle = if served == 0 {
                timeouts.http_request
            } else {
                timeouts.http_keep_alive
            };
            match wait_first_byte(&s, &mut input, idle).await {
                Ok(true) => {}
                _ => break,
            }
        }
        served += 1;
        // Boxed: a request's state (parsing, the upstream exchange, error paths) lives on the
        // heap only while the request is in flight, so an idle keep-alive connection keeps
        // just the session and its wait for the next byte.
        let _in_flight = InFlight::new(&s.local);
        match Box::pin(request(&mut s, &mut input)).await {
            Next::KeepAlive => {}
            Next::Close { linger } => {
                if linger {
                    Box::pin(linger_close(&s.client)).await;
                }
                return;
            }
        }
    }
}

/// Counts a request in flight on the worker for as long as it lives.
struct InFlight(Rc<Local>);

impl InFlight {
    fn new(local: &Rc<Local>) -> InFlight {
        let n = local.requests.get() + 1;
        local.requests.set(n);
        local.requests_peak.set(local.requests_peak.get().max(n));
        InFlight(local.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests.set(self.0.requests.get().saturating_sub(1));
    }
}

/// Reads one request head (its first byte has arrived) and serves it.
async fn request(s: &mut Session, input: &mut Input) -> Next {
    let snap = s.cell.load_full();
    let snap = &*snap;
    let Some(fe_idx) = snap.frontends.iter().position(|f| *f.name == *s.frontend) else {
        return Next::Close { linger: false };
    };
    let Some(fe) = snap.frontends.get(fe_idx) else {
        return Next::Close { linger: false };
    };
    s.exchange = Some(Box::new(Exchange::begin()));
    let deadline = Instant::now() + fe.timeouts.http_request;
    let head = loop {
        match parse_request(input.slice(), &LIMITS) {
            Ok(Some(h)) => break Ok(h),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        // A partial head waits on the heap: slow clients must not pin receive buffers.
        input.detach();
        match runtime::timeout_at(deadline, input.fill(&s.client)).await {
            Ok(Ok(true)) => {}
            Ok(_) => {
                s.x().term = *b"CR";
                s.finish(snap, fe_idx);
                return Next::Close { linger: false };
            }
            Err(_) => {
                s.error(408).await;
                s.finish(snap, fe_idx);
                return Next::Close { linger: true };
            }
        }
    };
    let head = match head {
        Ok(h) => h,
        Err(e) => {
            s.error(e.status()).await;
            s.finish(snap, fe_idx);
            return Next::Close { linger: true };
        }
    };
    fe.state.requests.fetch_add(1, Ordering::Relaxed);
    s.x().head_at = Some(Instant::now());
    s.x().bytes_in = head.head_len as u64;
    if fe.log {
        let line = input
            .slice()
            .get(head.line_start..head.headers_start)
            .unwrap_or(&[]);
        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
        s.x().request_line = String::from_utf8_lossy(line).into_owned();
    }
    let next = forward(s, snap, fe_idx, &head, input).await;
    s.finish(snap, fe_idx);
    next
}

/// Waits for the first byte of the next request, at most `idle`; `Ok(false)` when the client
/// closed or the wait timed out. When the worker starts draining meanwhile, waits at most
/// [`DRAIN_IDLE`] more: a request already on its way is still served (with
/// `Connection: close`), an idle connection closes soon. The receive stays in flight across
/// that change, so no byte can be lost to a cancellation.
async fn wait_first_byte(s: &Session, input: &mut Input, idle: Duration) -> std::io::Result<bool> {
    use std::task::Poll;
    let draining = s.local.draining.clone();
    let mut deadline = Instant::now() + idle;
    if draining.is_raised() {
        deadline = deadline.min(Instant::now() + DRAIN_IDLE);
    }
    let mut recv = s.client.recv_op();
    let mut sleep = runtime::sleep_until(deadline);
    let mut drain = draining.wait();
    let mut shortened = draining.is_raised();
    let got = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = std::pin::Pin::new(&mut recv).poll(cx) {
            return Poll::Ready(Some(r));
        }
        if !shortened && std::pin::Pin::new(&mut drain).poll(cx).is_ready() {
            shortened = true;
            sleep = runtime::sleep_until(sleep.deadline().min(Instant::now() + DRAIN_IDLE));
        }
        if std::pin::Pin::new(&mut sleep).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match got {
        Some(Ok(Some(b))) => {
            input.push(b);
            Ok(true)
        }
        Some(Ok(None)) | None => Ok(false),
        Some(Err(e)) => Err(e),
    }
}

/// HAProxy's termination state for an error ringlb answers itself, unless the flow already
/// set a more precise one.
fn default_term(status: u16) -> [u8; 2] {
    match status {
        408 => *b"cR",
        400..=499 | 501 | 505 => *b"PR",
        502 => *b"SH",
        503 => *b"SC",
        504 => *b"sH",
        _ => *b"PR",
    }
}

impl Session {
    /// The request being served (created on first use, e.g. when the first byte never came).
    fn x(&mut self) -> &mut Exchange {
        self.exchange
            .get_or_insert_with(|| Box::new(Exchange::begin()))
    }

    /// Sends one of ringlb's own error responses and records it for the log.
    async fn error(&mut self, status: u16) {
        let page = error_response(status);
        self.x().status = status;
        self.x().own_error = status < 500;
        if self.x().term == *b"--" {
            self.x().term = default_term(status);
        }
        if let Ok((Ok(()), _)) =
            runtime::timeout(Duration::from_secs(2), self.client.send_all(page)).await
        {
            self.x().bytes_out += page.len() as u64;
        }
    }

    /// Counts the finished request and writes its log line.
    fn finish(&mut self, snap: &Snapshot, fe_idx: usize) {
        let Some(x) = self.exchange.take() else {
            return;
        };
        let Some(fe) = snap.frontends.get(fe_idx) else {
            return;
        };
        fe.state.bytes_out.fetch_add(x.bytes_out, Ordering::Relaxed);
        fe.state.bytes_in.fetch_add(x.bytes_in, Ordering::Relaxed);
        if x.status != 0 {
            fe.state.responses.count(x.status);
        }
        if x.own_error {
            fe.state.req_errors.fetch_add(1, Ordering::Relaxed);
        }
        let be = x.backend.and_then(|b| snap.backends.get(b));
        let srv = be.and_then(|b| x.server.and_then(|i| b.servers.get(i)));
        if let Some(srv) = srv {
            srv.state
                .bytes_out
                .fetch_add(x.bytes_out, Ordering::Relaxed);
            srv.state.bytes_in.fetch_add(x.bytes_in, Ordering::Relaxed);
        }
        if !fe.log {
            return;
        }
        let logger = self.local.logger.borrow().clone();
        if !logger.enabled() || (fe.dontlognull && x.request_line.is_empty()) {
            return;
        }
        let Some((started, wall)) = x.start else {
            return;
        };
        let beconn = be
            .map(|b| {
                b.servers
                    .iter()
                    .map(|s| s.state.inflight.load(Ordering::Relaxed))
                    .sum()
            })
            .unwrap_or(0);
        let rec = crate::log::format::Record {
            client: self.peer,
            start: wall,
            frontend: fe.name.clone(),
            backend: be
                .map(|b| b.name.clone())
                .unwrap_or_else(|| fe.name.clone()),
            server: srv.map(|s| s.name.clone()),
            tq: x.head_at.map(|h| h.saturating_duration_since(started)),
            tw: x.tw,
            tc: x.tc,
            tr: x.tr,
            ta: started.elapsed(),
            status: x.status,
            bytes: x.bytes_out,
            term: x.term,
            actconn: self.local.sessions.get() as u32,
            feconn: fe.state.conns.load(Ordering::Relaxed),
            beconn,
            srvconn: srv
                .map(|s| s.state.inflight.load(Ordering::Relaxed))
                .unwrap_or(0),
            retries: x.retries,
            srv_queue: 0,
            backend_queue: 0,
            request_line: x.request_line,
        };
        logger.send(crate::log::format::httplog(&rec, logger.anonymize));
    }
}

/// What one request did, for counters and the access log.
#[derive(Default)]
struct Exchange {
    /// First byte of the request: monotonic and wall clock.
    start: Option<(Instant, std::time::SystemTime)>,
    /// Request head complete.
    head_at: Option<Instant>,
    tw: Option<Duration>,
    tc: Option<Duration>,
    tr: Option<Duration>,
    /// Sent to the server: the response time counts from here.
    sent_at: Option<Instant>,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    backend: Option<usize>,
    server: Option<usize>,
    retries: u32,
    term: [u8; 2],
    /// ringlb answered with its own 4xx.
    own_error: bool,
    request_line: String,
}

impl Exchange {
    fn begin() -> Exchange {
        Exchange {
            start: Some((Instant::now(), std::time::SystemTime::now())),
            term: *b"--",
            ..Exchange::default()
        }
    }
}

/// Half-closes, then reads and discards for a moment so the peer gets our last bytes, not a
/// reset caused by data it sent that we never read.
async fn linger_close(client: &Conn) {
    let _ = client.shutdown_write();
    let deadline = Instant::now() + LINGER;
    let mut budget = 256 * 1024usize;
    while budget > 0 {
        match runtime::timeout_at(deadline, client.recv()).await {
            Ok(Ok(Some(b))) => budget = budget.saturating_sub(b.len()),
            _ => return,
        }
    }
}

/// Forwards one request and its response.
async fn forward(
    s: &mut Session,
    snap: &Snapshot,
    fe_idx: usize,
    head: &RequestHead,
    input: &mut Input,
) -> Next {
    let Some(fe) = snap.frontends.get(fe_idx) else {
        return Next::Close { linger: false };
    };
    if let Some(st) = &fe.stats {
        let target = head.target.get(input.slice());
        let path = match head.target_form {
            TargetForm::Absolute => absolute_path(target),
            _ => target,
        };
        if let Some(req) = crate::stats::parse_target(path, st.page.uri.as_bytes(), st.metrics_path)
        {
            return serve_stats(s, snap, st, req, head, input).await;
        }
        if fe.stats_only {
            s.error(404).await;
            return Next::Close {
                linger: head.framing != BodyFraming::None,
            };
        }
    }
    let backend = if fe.routed {
        match route(fe, head, input.slice(), client_ip(s.peer)) {
            Some(b) => b,
            None => {
                // A path with malformed percent-escapes cannot be matched safely.
                s.error(400).await;
                return Next::Close { linger: true };
            }
        }
    } else {
        fe.backend
    };
    let Some(be) = snap.backends.get(backend) else {
        return Next::Close { linger: false };
    };
    s.x().backend = Some(backend);
    let client_ka =
        head.keep_alive && fe.connection != ConnectionMode::Close && !s.local.draining.is_raised();
    let upstream_ka = fe.connection == ConnectionMode::KeepAlive;

    // The upstream head, plus whatever body bytes arrived with it.
    let mut out = s.local.out_buf();
    let xff = s.peer.map(|p| IpText::new(p.ip()));
    let forwardfor = if fe.forwardfor {
        xff.as_ref().map(|x| x.as_bytes())
    } else {
        None
    };
    let rewrite = RequestRewrite {
        upstream_keep_alive: upstream_ka,
        forwardfor,
        strip_expect: true,
    };
    write_request_head(input.slice(), head, &rewrite, &mut out);
    let sticky = match &be.cookie {
        Some(ck) => {
            let fields = input
                .slice()
                .get(head.headers_start..head.head_len)
                .unwrap_or(&[]);
            let st = super::persist::read(be, ck, fields);
            if let Some(edited) = super::persist::edit_request(ck, &st, be, &out) {
                out = edited;
            }
            st
        }
        None => super::persist::Sticky::default(),
    };
    input.consume(head.head_len);
    let mut body = BodyState::new(head.framing);
    let mut body_done = body.is_done();
    if !body_done && !input.is_empty() {
        match body.feed(input.slice()) {
            Ok(p) => {
                out.extend_from_slice(input.slice().get(..p.consumed).unwrap_or(&[]));
                s.x().bytes_in += p.consumed as u64;
                input.consume(p.consumed);
                body_done = p.done;
            }
            Err(e) => {
                s.local.give_back(out);
                s.error(e.status()).await;
                return Next::Close { linger: true };
            }
        }
    }
    // Pipelined bytes of the next request wait on the heap, not in a receive buffer.
    input.detach();
    // The whole request is in `out`: it can be sent again if a reused connection was dead.
    let replayable = body_done && head.method.is_idempotent();
    let reuse = match (upstream_ka, replayable) {
        (false, _) => Reuse::Never,
        (true, true) => Reuse::Any,
        (true, false) => Reuse::FreshOnly,
    };
    let client_ip = client_ip(s.peer);

    let mut attempt_reuse = reuse;
    let (up, resp_first) = loop {
        let mut up = match connect(
            &s.local,
            snap,
            backend,
            client_ip,
            attempt_reuse,
            sticky.server,
        )
        .await
        {
            Ok(u) => u,
            Err(f) => {
                s.x().term = match f {
                    Fail::QueueTimeout => *b"sQ",
                    _ => *b"SC",
                };
                if f == Fail::ConnectFailed {
                    // Every retry was used.
                    s.x().retries = be.retries;
                }
                s.local.give_back(out);
                s.error(f.status()).await;
                return Next::Close { linger: !body_done };
            }
        };
        s.x().server = Some(up.server);
        s.x().tw = Some(up.waited);
        s.x().tc = Some(up.connecting);
        s.x().retries = up.retries;
        let (r, back) = up.conn.send_all(out).await;
        out = back;
        s.x().sent_at = Some(Instant::now());
        if r.is_err() {
            if up.reused && replayable {
                attempt_reuse = Reuse::Never;
                continue;
            }
            note_response_error(snap, backend, up.server);
            s.local.give_back(out);
            s.error(502).await;
            return Next::Close { linger: !body_done };
        }
        if body_done {
            // Wait for the head of the response here, so a dead pooled connection can still
            // be swapped for a new one before anything reached the client.
            let recv = up.pending.take().unwrap_or_else(|| up.conn.recv_op());
            match runtime::timeout(be.timeouts.server, recv).await {
                Ok(Ok(Some(b))) => break (up, Some(b)),
                Ok(Ok(None)) | Ok(Err(_)) if up.reused && replayable => {
                    attempt_reuse = Reuse::Never;
                    continue;
                }
                Ok(_) => {
                    note_response_error(snap, backend, up.server);
                    s.local.give_back(out);
                    s.error(502).await;
                    return Next::Close { linger: false };
                }
                Err(_) => {
                    s.local.give_back(out);
                    s.error(Fail::ServerTimeout.status()).await;
                    return Next::Close { linger: false };
                }
            }
        }
        break (up, None);
    };
    s.local.give_back(out);

    // Stream the rest of the request body.
    if !body_done {
        if head.expect_continue && head.version_minor >= 1 {
            let _ = runtime::timeout(fe.timeouts.client, s.client.send_all(CONTINUE_100)).await;
        }
        // A pooled connection's receive stays in flight; the response read uses it.
        while !body_done {
            if input.is_empty() {
                match runtime::timeout(fe.timeouts.client, input.fill(&s.client)).await {
                    Ok(Ok(true)) => {}
                    // Client gone or silent mid-body: the server got a partial request, so the
                    // server connection cannot be reused; nothing to answer.
                    Ok(_) => return Next::Close { linger: false },
                    Err(_) => {
                        s.error(408).await;
                        return Next::Close { linger: false };
                    }
                }
            }
            let p = match body.feed(input.slice()) {
                Ok(p) => p,
                Err(e) => {
                    s.error(e.status()).await;
                    return Next::Close { linger: true };
                }
            };
            body_done = p.done;
            if p.consumed == 0 {
                continue;
            }
            s.x().bytes_in += p.consumed as u64;
            let chunk = input.take(p.consumed);
            let sent = runtime::timeout(be.timeouts.server, up.conn.send_all(chunk)).await;
            if !matches!(sent, Ok((Ok(()), _))) {
                note_response_error(snap, backend, up.server);
                s.error(502).await;
                return Next::Close { linger: true };
            }
        }
    }

    relay_response(
        s,
        snap,
        backend,
        head,
        up,
        resp_first,
        client_ka,
        upstream_ka,
        fe.timeouts.client,
        sticky,
    )
    .await
}

fn note_response_error(snap: &Snapshot, backend: usize, server: usize) {
    if let Some(srv) = snap
        .backends
        .get(backend)
        .and_then(|b| b.servers.get(server))
    {
        srv.state.response_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads the response head (relaying 1xx), then streams the body to the client.
#[allow(clippy::too_many_arguments)]
async fn relay_response(
    s: &mut Session,
    snap: &Snapshot,
    backend: usize,
    req: &RequestHead,
    mut up: Upstream,
    first: Option<PBuf>,
    client_ka: bool,
    upstream_ka: bool,
    client_timeout: Duration,
    sticky: super::persist::Sticky,
) -> Next {
    let Some(be) = snap.backends.get(backend) else {
        return Next::Close { linger: false };
    };
    let server_timeout = be.timeouts.server;
    let mut rin = Input::default();
    if let Some(b) = first {
        rin.push(b);
    }
    let mut pending = up.pending.take();
    let mut informational = 0usize;
    let head = loop {
        match parse_response(rin.slice(), req.method, &LIMITS) {
            Ok(Some(h)) if h.informational => {
                informational += 1;
                if informational > MAX_INFORMATIONAL {
                    note_response_error(snap, backend, up.server);
                    s.error(502).await;
                    return Next::Close { linger: false };
                }
                // HTTP/1.0 clients do not understand 1xx; ringlb answered 100-continue itself.
                let n = h.head_len;
                if req.version_minor >= 1 && h.status != 100 {
                    let chunk = rin.take(n);
                    if !matches!(
                        runtime::timeout(client_timeout, s.client.send_all(chunk)).await,
                        Ok((Ok(()), _))
                    ) {
                        return Next::Close { linger: false };
                    }
                } else {
                    rin.consume(n);
                }
                continue;
            }
            Ok(Some(h)) => break h,
            Ok(None) => {}
            Err(_) => {
                note_response_error(snap, backend, up.server);
                s.error(502).await;
                return Next::Close { linger: false };
            }
        }
        rin.detach();
        let recv = pending.take().unwrap_or_else(|| up.conn.recv_op());
        match runtime::timeout(server_timeout, recv).await {
            Ok(Ok(Some(b))) => rin.push(b),
            Ok(_) => {
                note_response_error(snap, backend, up.server);
                s.error(502).await;
                return Next::Close { linger: false };
            }
            Err(_) => {
                s.error(504).await;
                return Next::Close { linger: false };
            }
        }
    };

    s.x().status = head.status;
    s.x().tr = s.x().sent_at.map(|t| t.elapsed());
    if let Some(srv) = be.servers.get(up.server) {
        srv.state.responses.count(head.status);
        if head.status >= 500 {
            crate::health::passive_failure(be, srv);
        } else {
            crate::health::passive_success(srv);
        }
    }
    let dechunk = head.framing == ResponseFraming::Chunked && req.version_minor == 0;
    let client_keep = client_ka && head.framing != ResponseFraming::UntilClose && !dechunk;
    let server_keep = upstream_ka && head.keep_alive && head.framing != ResponseFraming::UntilClose;
    let mut out = s.local.out_buf();
    let rewrite = ResponseRewrite {
        client_keep_alive: client_keep,
        client_version_minor: req.version_minor,
        dechunk,
    };
    write_response_head(rin.slice(), &head, &rewrite, &mut out);
    if let Some(ck) = &be.cookie {
        super::persist::edit_response(ck, &sticky, be, up.server, &mut out);
    }
    rin.consume(head.head_len);
    let mut body = BodyState::new(head.framing);
    let mut done = body.is_done();
    let mut stray = false;
    // Body bytes that came with the head go out in the same send: as the provided buffer
    // they arrived in (a vectored send, no copy), or copied after the head when de-chunking.
    let mut with_head: Option<Chunk> = None;
    if !done && !rin.is_empty() && !dechunk {
        match body.feed(rin.slice()) {
            Ok(p) => {
                done = p.done;
                with_head = Some(rin.take(p.consumed));
            }
            Err(_) => {
                s.local.give_back(out);
                note_response_error(snap, backend, up.server);
                s.error(502).await;
                return Next::Close { linger: false };
            }
        }
    } else if !done && !rin.is_empty() {
        match feed_into(&mut body, rin.slice(), dechunk, &mut out) {
            Ok(p) => {
                rin.consume(p.consumed);
                done = p.done;
            }
            Err(()) => {
                s.local.give_back(out);
                note_response_error(snap, backend, up.server);
                s.error(502).await;
                return Next::Close { linger: false };
            }
        }
    }
    if done && !rin.is_empty() {
        stray = true;
    }
    let head_bytes = out.len() as u64 + with_head.as_ref().map_or(0, |c| c.io_len() as u64);
    let timed_out = || std::io::Error::from(std::io::ErrorKind::TimedOut);
    let (r, back) = match with_head {
        Some(chunk) => runtime::timeout(client_timeout, s.client.send_two(out, chunk))
            .await
            .map(|(r, h, _)| (r, h))
            .unwrap_or_else(|_| (Err(timed_out()), Vec::new())),
        None => runtime::timeout(client_timeout, s.client.send_all(out))
            .await
            .unwrap_or_else(|_| (Err(timed_out()), Vec::new())),
    };
    s.local.give_back(back);
    if r.is_err() {
        s.x().term = *b"CD";
        return Next::Close { linger: false };
    }
    s.x().bytes_out += head_bytes;
    while !done {
        if rin.is_empty() {
            let recv = pending.take().unwrap_or_else(|| up.conn.recv_op());
            match runtime::timeout(server_timeout, recv).await {
                Ok(Ok(Some(b))) => rin.push(b),
                Ok(Ok(None)) if body.complete_on_eof() => break,
                // Cut short, or the server went silent: the client must not take what it got
                // for a complete response, so its connection closes without more bytes.
                Ok(_) => {
                    s.x().term = *b"SD";
                    note_response_error(snap, backend, up.server);
                    return Next::Close { linger: false };
                }
                Err(_) => {
                    s.x().term = *b"sD";
                    note_response_error(snap, backend, up.server);
                    return Next::Close { linger: false };
                }
            }
        }
        let chunk = if dechunk {
            let mut v = s.local.out_buf();
            match feed_into(&mut body, rin.slice(), true, &mut v) {
                Ok(p) => {
                    rin.consume(p.consumed);
                    done = p.done;
                    Chunk::V(v)
                }
                Err(()) => {
                    note_response_error(snap, backend, up.server);
                    return Next::Close { linger: false };
                }
            }
        } else {
            match body.feed(rin.slice()) {
                Ok(p) => {
                    done = p.done;
                    rin.take(p.consumed)
                }
                Err(_) => {
                    note_response_error(snap, backend, up.server);
                    return Next::Close { linger: false };
                }
            }
        };
        if done && !rin.is_empty() {
            stray = true;
        }
        let n = chunk.io_len() as u64;
        if n > 0 {
            match runtime::timeout(client_timeout, s.client.send_all(chunk)).await {
                Ok((Ok(()), Chunk::V(v))) => s.local.give_back(v),
                Ok((Ok(()), _)) => {}
                _ => {
                    s.x().term = *b"CD";
                    return Next::Close { linger: false };
                }
            }
            s.x().bytes_out += n;
        }
    }

    // The exchange is complete: the server connection goes back to the pool if both ends
    // allow it and it is clean (no stray bytes after the response).
    if server_keep && !stray && pending.is_none() && !s.local.draining.is_raised() {
        if let Some(srv) = be.servers.get(up.server) {
            let probe = up.conn.recv_op();
            s.local
                .pool
                .borrow_mut()
                .put(srv.addr, up.conn, probe, Instant::now());
        }
    }
    if client_keep {
        Next::KeepAlive
    } else {
        Next::Close {
            linger: req.framing != BodyFraming::None,
        }
    }
}

/// Feeds body bytes, appending what goes to the client to `out` (data only when de-chunking).
fn feed_into(
    body: &mut BodyState,
    input: &[u8],
    dechunk: bool,
    out: &mut Vec<u8>,
) -> Result<crate::http::Progress, ()> {
    if dechunk {
        body.feed_with(input, |d| out.extend_from_slice(d))
            .map_err(|_| ())
    } else {
        let p = body.feed(input).map_err(|_| ())?;
        out.extend_from_slice(input.get(..p.consumed).unwrap_or(&[]));
        Ok(p)
    }
}

/// Answers the stats page, its other formats and its admin form.
async fn serve_stats(
    s: &mut Session,
    snap: &Snapshot,
    st: &crate::snapshot::StatsRt,
    req: crate::stats::StatsRequest,
    head: &RequestHead,
    input: &mut Input,
) -> Next {
    use crate::stats::StatsRequest;
    let fields = input
        .slice()
        .get(head.headers_start..head.head_len)
        .unwrap_or(&[]);
    if !st.users.is_empty() {
        let auth = header_value(fields, b"authorization").unwrap_or(&[]);
        if st.users.check(auth).is_none() {
            let page = crate::stats::challenge(&st.page.realm);
            s.x().status = 401;
            let n = page.len() as u64;
            if let Ok((Ok(()), _)) =
                runtime::timeout(Duration::from_secs(5), s.client.send_all(page.into_bytes())).await
            {
                s.x().bytes_out += n;
            }
            return Next::Close {
                linger: head.framing != BodyFraming::None,
            };
        }
    }
    let keep = head.keep_alive && !s.local.draining.is_raised();
    input.consume(head.head_len);
    let (status, ctype, body, extra) = match req {
        StatsRequest::Page { format, refresh } => {
            if head.framing != BodyFraming::None {
                s.error(400).await;
                return Next::Close { linger: true };
            }
            let model = crate::admin::collect(snap, &s.local.process);
            let opts = crate::stats::HtmlOptions {
                uri: st.page.uri.clone(),
                refresh_s: if refresh {
                    st.page.refresh.map(|d| d.as_secs().max(1))
                } else {
                    None
                },
                admin: st.page.admin,
                realm: st.page.realm.clone(),
            };
            let (ctype, body) = crate::stats::render(format, &model, &opts);
            (200u16, ctype, body, String::new())
        }
        StatsRequest::Admin => {
            let len = match head.framing {
                BodyFraming::Length(n) if n as usize <= crate::stats::MAX_ADMIN_FORM => n as usize,
                _ => {
                    s.error(if st.page.admin { 400 } else { 403 }).await;
                    return Next::Close { linger: true };
                }
            };
            if !st.page.admin || head.method != crate::http::Method::Post {
                s.error(if st.page.admin { 405 } else { 403 }).await;
                return Next::Close { linger: true };
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while input.slice().len() < len {
                if !matches!(
                    runtime::timeout_at(deadline, input.fill(&s.client)).await,
                    Ok(Ok(true))
                ) {
                    s.error(408).await;
                    return Next::Close { linger: false };
                }
            }
            let form = crate::stats::parse_admin_form(input.slice().get(..len).unwrap_or(&[]));
            input.consume(len);
            let result = form.and_then(|f| crate::admin::apply_form(snap, &f));
            match result {
                Ok(msg) => {
                    // Back to the page, as a browser form submission expects.
                    (
                        303,
                        "text/plain; charset=utf-8",
                        format!("{msg}\n"),
                        format!("Location: {}\r\n", st.page.uri),
                    )
                }
                Err(e) => (
                    400,
                    "text/plain; charset=utf-8",
                    format!("{e}\n"),
                    String::new(),
                ),
            }
        }
    };
    let reason = match status {
        200 => "OK",
        303 => "See Other",
        _ => "Bad Request",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n{extra}{}\r\n",
        body.len(),
        if keep { "" } else { "Connection: close\r\n" }
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    s.x().status = status;
    let n = out.len() as u64;
    match runtime::timeout(Duration::from_secs(30), s.client.send_all(out)).await {
        Ok((Ok(()), _)) => s.x().bytes_out += n,
        _ => return Next::Close { linger: false },
    }
    if keep {
        Next::KeepAlive
    } else {
        Next::Close { linger: false }
    }
}

/// The value of the first field `name` (lowercase) in a field section.
fn header_value<'a>(fields: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    fields.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        if !line.get(..colon)?.eq_ignore_ascii_case(name) {
            return None;
        }
        let v = line.get(colon + 1..)?;
        let start = v
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(v.len());
        v.get(start..)
    })
}

/// The backend the frontend's routes pick for this request; `None` when the path is invalid.
fn route(
    fe: &crate::snapshot::FrontendRt,
    head: &RequestHead,
    buf: &[u8],
    src: IpAddr,
) -> Option<usize> {
    let target = head.target.get(buf);
    let path = match head.target_form {
        TargetForm::Absolute => absolute_path(target),
        _ => target,
    };
    let view = RequestView {
        method: head.method.as_bytes(buf),
        path,
        host: head.host.map(|h| h.get(buf)),
        src,
        headers: &RawFields(buf.get(head.headers_start..head.head_len).unwrap_or(&[])),
    };
    match fe.router.select(&view) {
        Ok(Some(&b)) => Some(b),
        Ok(None) => Some(fe.backend),
        Err(_) => None,
    }
}

/// The path (and query) of an absolute-form target `scheme://authority/path?q`.
fn absolute_path(target: &[u8]) -> &[u8] {
    let after_scheme = match target.windows(3).position(|w| w == b"://") {
        Some(i) => target.get(i + 3..).unwrap_or(&[]),
        None => return target,
    };
    match after_scheme.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) => after_scheme.get(i..).unwrap_or(b"/"),
        None => b"/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle keep-alive connection costs its session future: keep it small (the benchmark
    /// measures memory per idle connection against HAProxy's).
    #[test]
    fn idle_session_future_stays_small() {
        let cfg = crate::config::parse_str(
            "[frontend.a]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"b\"\n[backend.b]\n[[backend.b.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n",
            "t",
        )
        .expect("config");
        let snap = Snapshot::compile(cfg, None).expect("snapshot");
        let cell = Arc::new(ArcSwap::from_pointee(snap));
        let stats = Arc::new(crate::log::LogStats::default());
        let local = Rc::new(Local::new(
            0,
            crate::log::Logger::disabled(stats),
            Arc::default(),
        ));
        let fd: std::os::fd::OwnedFd = std::fs::File::open("/dev/null").expect("fd").into();
        let fut = serve(local, cell, Arc::from("a"), Conn::from_fd(fd), None);
        let size = std::mem::size_of_val(&fut);

        println!(
            "session future: {size} bytes; Session {} bytes; Input {} bytes",
            std::mem::size_of::<Session>(),
            std::mem::size_of::<Input>()
        );
        assert!(size <= 512, "session future grew to {size} bytes");
    }
}
