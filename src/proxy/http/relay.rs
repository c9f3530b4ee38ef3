//! The response relay: read the server's head (relaying 1xx), write the client's head once,
//! stream the body, and give the server connection back to the pool when it is clean.

use super::input::Input;
use super::session::{Next, Req};
use super::LIMITS;
use crate::http::{
    parse_response, write_response_head, BodyFraming, BodyState, FieldEdit, NoEdit, Progress,
    RequestHead, ResponseFraming, ResponseHead, ResponseRewrite,
};
use crate::proxy::exchange::{Outcome, Phase};
use crate::proxy::persist::{self, Sticky};
use crate::proxy::upstream::Upstream;
use crate::proxy::Local;
use crate::rules::{Edits, Fired};
use crate::runtime;
use crate::snapshot::BackendRt;
use crate::transport::{Chunk, ServerConn, Transport, MAX_GATHER};
use std::io;
use std::time::Duration;

/// Most informational (1xx) responses relayed before one final response; more is a 502.
const MAX_INFORMATIONAL: usize = 8;

/// Body bytes that came with the response head and are at most this long go out copied
/// behind the head in one plain send; longer ones go out from their receive buffer in a
/// vectored send (`sendmsg`), where the copy would cost more than the vector saves.
const COPY_WITH_HEAD: usize = 2048;

/// Which sides may stay open after this exchange, as far as the request and config allow.
#[derive(Clone, Copy, Debug)]
pub(super) struct Keep {
    pub client: bool,
    pub upstream: bool,
}

/// The server side of an exchange whose request was sent.
pub(super) struct Leg<'a> {
    pub be: &'a BackendRt,
    pub up: Upstream,
    /// The first bytes of the response, when they were read before the relay started.
    pub first: Option<Chunk>,
    pub sticky: Sticky,
    pub keep: Keep,
    /// The response rules whose conditions held for the request.
    pub replies: Replies,
    /// The request's Upgrade was forwarded: a `101` turns the connection into a tunnel.
    pub upgrade: bool,
}

/// Which response rules apply to this exchange (their conditions test the request, so they
/// were evaluated with it).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Replies {
    pub backend: Fired,
    pub frontend: Fired,
}

impl Leg<'_> {
    /// Receives the next bytes from the server into `rin` within `timeout server`: `false` at
    /// its end of stream. A pooled connection's receive already in flight is used first.
    async fn recv(&mut self, rin: &mut Input) -> Result<bool, Outcome> {
        let recv = self.up.conn.recv_after(self.up.pending.take());
        match runtime::timeout(self.be.timeouts.server, recv).await {
            Ok(Ok(Some(b))) => {
                rin.push(b);
                Ok(true)
            }
            Ok(Ok(None)) => Ok(false),
            Ok(Err(_)) => Err(Outcome::server_error(0)),
            Err(_) => Err(Outcome::server_timeout(0)),
        }
    }
}

/// Reads the response head, then streams the body to the client.
pub(super) async fn response<T: Transport>(
    r: &mut Req<'_, T>,
    req: &RequestHead,
    mut leg: Leg<'_>,
) -> Result<Next, Outcome> {
    let mut rin = Input::default();
    if let Some(b) = leg.first.take() {
        rin.push(b);
    }
    let head = read_head(r, req, &mut leg, &mut rin).await?;
    if head.status == 101 && !leg.upgrade {
        // Switching to something the request did not ask for (or ringlb did not forward).
        return Err(Outcome::server_error(502));
    }
    r.x.status = head.status;
    r.x.tr =
        r.x.sent_at
            .map(|t| runtime::now().saturating_duration_since(t));
    if let Some(srv) = leg.be.servers.get(leg.up.server) {
        srv.state.responses.count(head.status);
        if head.status >= 500 {
            crate::health::passive_failure(leg.be, srv);
        } else {
            crate::health::passive_success(srv);
        }
    }
    if head.status == 101 {
        // Boxed: a tunnel's two pumps are large, and few exchanges become one.
        return Box::pin(super::switch::tunnel(r, &head, leg, rin)).await;
    }
    let dechunk = head.framing == ResponseFraming::Chunked && req.version_minor == 0;
    let client_keep = leg.keep.client && head.framing != ResponseFraming::UntilClose && !dechunk;
    let server_keep =
        leg.keep.upstream && head.keep_alive && head.framing != ResponseFraming::UntilClose;
    let mut out = r.s.local.out_buf();
    let rewrite = ResponseRewrite {
        client_keep_alive: client_keep,
        client_version_minor: req.version_minor,
        dechunk,
    };
    let cookie_edits;
    let persistence: &dyn FieldEdit = match &leg.be.cookie {
        Some(ck) => {
            cookie_edits = persist::response_edits(ck, &leg.sticky, leg.be, leg.up.server);
            &cookie_edits
        }
        None => &NoEdit,
    };
    let replies = leg.replies;
    if replies.backend.any() || replies.frontend.any() {
        // The backend's response rules run before the frontend's, as in HAProxy.
        let edits = Edits::new(
            (&leg.be.response_rules, replies.backend),
            (&r.fe.response_rules, replies.frontend),
            persistence,
        );
        write_response_head(rin.slice(), &head, &rewrite, &edits, &mut out);
    } else {
        write_response_head(rin.slice(), &head, &rewrite, persistence, &mut out);
    }
    let written_head = out.len();
    rin.consume(head.head_len);
    let mut body = BodyState::new(head.framing);
    let mut done = body.is_done();
    // Body bytes that came with the head go out in the same send: as the provided buffer
    // they arrived in (a vectored send, no copy), or copied after the head when de-chunking.
    let mut with_head: Option<Chunk> = None;
    if !done && !rin.is_empty() {
        let fed = if dechunk {
            dechunk_into(&mut body, rin.slice(), &mut out)
        } else {
            body.feed(rin.slice()).map_err(|_| ())
        };
        let Ok(p) = fed else {
            r.s.local.give_back(out);
            return Err(Outcome::server_error(502));
        };
        done = p.done;
        if dechunk {
            rin.consume(p.consumed);
        } else if p.consumed <= COPY_WITH_HEAD {
            // A small body is copied after the head: one plain send (no vectored send, no
            // two-buffer box), and its receive buffer goes back to the ring at once.
            out.extend_from_slice(rin.slice().get(..p.consumed).unwrap_or(&[]));
            rin.consume(p.consumed);
        } else {
            with_head = Some(rin.take(p.consumed));
        }
    }
    // What the server's connection received already goes out with the head too (a large
    // response arrives as several deliveries in one batch).
    let s = r.s;
    let gather = Gather {
        local: &s.local,
        dechunk,
    };
    let mut batch: Vec<Chunk> = Vec::new();
    if !done && rin.is_empty() {
        if let Some(c) = leg.up.conn.recv_ready() {
            rin.push(c);
            match gather.take(&leg.up.conn, &mut body, &mut rin, &mut batch) {
                Ok(d) => done = d,
                Err(_) => {
                    // Nothing reached the client yet.
                    s.local.give_back(out);
                    return Err(Outcome::server_error(502));
                }
            }
        }
    }
    let mut stray = done && !rin.is_empty();
    r.x.reach(Phase::Data);
    let head_bytes =
        out.len() as u64 + with_head.as_ref().map_or(0, |c| c.len() as u64) + batch_len(&batch);
    let client_timeout = r.fe.timeouts.client;
    // What `out` starts with, for a client transport that would parse it again: the status
    // line as the server wrote it, then the rewritten fields (the body's framing is the
    // server's: the bytes that follow are delimited by it).
    s.client.response_head(&ResponseHead {
        head_len: written_head,
        line_start: 0,
        headers_start: head.headers_start - head.line_start,
        ..head
    });
    let sent = match (with_head, batch.is_empty()) {
        (None, true) => runtime::timeout(client_timeout, s.client.send(Chunk::Heap(out)))
            .await
            .map(|(res, c)| {
                s.local.give_back(into_vec(c));
                res
            }),
        (Some(chunk), true) => runtime::timeout(client_timeout, s.client.send_two(out, chunk))
            .await
            .map(|(res, head, _)| {
                s.local.give_back(head);
                res
            }),
        // The head first, in the same gathered send; its buffer goes back with the batch.
        (first, false) => {
            batch.splice(0..0, std::iter::once(Chunk::Heap(out)).chain(first));
            send_batch(&s.client, client_timeout, &mut batch).await
        }
    };
    if !matches!(sent, Ok(Ok(()))) {
        return Err(Outcome::client_closed());
    }
    // The body's receive buffers go back before the next wait for the server.
    gather.give_back(&mut batch);
    r.x.bytes_out += head_bytes;
    while !done {
        if rin.is_empty() && !leg.recv(&mut rin).await? {
            if body.complete_on_eof() {
                break;
            }
            // Cut short: the client must not take what it got for a complete response, so its
            // connection closes without more bytes.
            return Err(Outcome::server_error(0));
        }
        done = gather.take(&leg.up.conn, &mut body, &mut rin, &mut batch)?;
        stray = done && !rin.is_empty();
        let n = batch_len(&batch);
        if n == 0 {
            continue;
        }
        if !matches!(
            send_batch(&s.client, client_timeout, &mut batch).await,
            Ok(Ok(()))
        ) {
            return Err(Outcome::client_closed());
        }
        gather.give_back(&mut batch);
        r.x.bytes_out += n;
    }
    // The exchange is complete: the server connection goes back to the pool if both ends
    // allow it and it is clean (no stray bytes after the response).
    let up = leg.up;
    if server_keep && !stray && up.pending.is_none() && !r.s.local.draining.is_raised() {
        let probe = up.conn.recv_op();
        r.s.local
            .pool
            .borrow_mut()
            .put(up.key, up.conn, probe, runtime::now());
    }
    Ok(if client_keep {
        Next::KeepAlive
    } else {
        Next::Close {
            linger: req.framing != BodyFraming::None,
        }
    })
}

/// Reads the final response head, relaying informational (1xx) responses on the way.
async fn read_head<T: Transport>(
    r: &mut Req<'_, T>,
    req: &RequestHead,
    leg: &mut Leg<'_>,
    rin: &mut Input,
) -> Result<ResponseHead, Outcome> {
    let mut informational = 0usize;
    loop {
        match parse_response(rin.slice(), req.method, &LIMITS) {
            Ok(Some(h)) if h.informational => {
                informational += 1;
                if informational > MAX_INFORMATIONAL {
                    return Err(Outcome::server_error(502));
                }
                // HTTP/1.0 clients do not understand 1xx; ringlb answered 100-continue itself.
                let n = h.head_len;
                if req.version_minor >= 1 && h.status != 100 {
                    let chunk = rin.take(n);
                    if !matches!(
                        runtime::timeout(r.fe.timeouts.client, r.s.client.send(chunk)).await,
                        Ok((Ok(()), _))
                    ) {
                        return Err(Outcome::client_closed());
                    }
                } else {
                    rin.consume(n);
                }
                continue;
            }
            Ok(Some(h)) => return Ok(h),
            Ok(None) => {}
            Err(_) => return Err(Outcome::server_error(502)),
        }
        rin.detach();
        // Nothing reached the client yet: a failure here gets ringlb's own answer.
        match leg.recv(rin).await {
            Ok(true) => {}
            Ok(false) => return Err(Outcome::server_error(502)),
            Err(o) if o.timeout => return Err(Outcome::server_timeout(504)),
            Err(_) => return Err(Outcome::server_error(502)),
        }
    }
}

/// Where a response's body chunks come from and how they are made.
struct Gather<'a> {
    local: &'a Local,
    /// De-chunked into heap buffers, for an HTTP/1.0 client.
    dechunk: bool,
}

impl Gather<'_> {
    /// Empties `batch` after its send: heap buffers back to the worker's spares, receive
    /// buffers back to the ring.
    fn give_back(&self, batch: &mut Vec<Chunk>) {
        for c in batch.drain(..) {
            if let Chunk::Heap(v) = c {
                self.local.give_back(v);
            }
        }
    }

    /// Moves body bytes from `rin` into `batch` as sendable chunks, then those `server`'s
    /// connection received already and that wait unread, one chunk each, while the body goes
    /// on: so a response that arrived as several deliveries leaves in one vectored send.
    /// Returns whether the body is complete.
    fn take(
        &self,
        server: &ServerConn,
        body: &mut BodyState,
        rin: &mut Input,
        batch: &mut Vec<Chunk>,
    ) -> Result<bool, Outcome> {
        loop {
            let done = if self.dechunk {
                let mut v = self.local.out_buf();
                let p = dechunk_into(body, rin.slice(), &mut v)
                    .map_err(|()| Outcome::server_error(0))?;
                rin.consume(p.consumed);
                if v.is_empty() {
                    self.local.give_back(v);
                } else {
                    batch.push(Chunk::Heap(v));
                }
                p.done
            } else {
                let p = body
                    .feed(rin.slice())
                    .map_err(|_| Outcome::server_error(0))?;
                if p.consumed > 0 {
                    batch.push(rin.take(p.consumed));
                }
                p.done
            };
            if done || batch.len() >= MAX_GATHER || !rin.is_empty() {
                return Ok(done);
            }
            match server.recv_ready() {
                Some(c) => rin.push(c),
                None => return Ok(false),
            }
        }
    }
}

/// Sends `batch` to the client within `timeout`: one chunk alone, several in one gathered
/// send. The chunks stay in `batch` for `Gather::give_back`.
async fn send_batch<T: Transport>(
    client: &T,
    timeout: Duration,
    batch: &mut Vec<Chunk>,
) -> Result<io::Result<()>, runtime::Elapsed> {
    if batch.len() == 1 {
        if let Some(c) = batch.pop() {
            return runtime::timeout(timeout, client.send(c))
                .await
                .map(|(res, c)| {
                    batch.push(c);
                    res
                });
        }
    }
    let chunks = std::mem::take(batch);
    runtime::timeout(timeout, client.send_gather(chunks))
        .await
        .map(|(res, back)| {
            *batch = back;
            res
        })
}

fn batch_len(batch: &[Chunk]) -> u64 {
    batch.iter().map(|c| c.len() as u64).sum()
}

/// A heap buffer back from a send, for reuse.
fn into_vec(c: Chunk) -> Vec<u8> {
    match c {
        Chunk::Heap(v) => v,
        _ => Vec::new(),
    }
}

/// Feeds chunked body bytes, appending only their data to `out` (for an HTTP/1.0 client).
fn dechunk_into(body: &mut BodyState, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, ()> {
    body.feed_with(input, |d| out.extend_from_slice(d))
        .map_err(|_| ())
}
