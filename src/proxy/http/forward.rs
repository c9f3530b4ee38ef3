//! Forwarding a request: route it to a backend, read its persistence cookie, write the head
//! for the server once, get a server connection (queue, pool or connect, retried on a dead
//! reused one), send head and body, then hand over to the response relay.

use std::net::IpAddr;

use super::input::Input;
use super::relay::{self, Keep, Leg, Replies};
use super::session::{Next, Req};
use crate::config::ConnectionMode;
use crate::http::{
    write_request_head, BodyFraming, BodyState, FieldEdit, FieldSection, IpText, Method, NoEdit,
    RequestHead, RequestRewrite, TargetForm, CONTINUE_100,
};
use crate::proxy::client_ip;
use crate::proxy::exchange::{Outcome, Phase};
use crate::proxy::persist::{self, Sticky};
use crate::proxy::upstream::{connect, Fail, Reuse, Upstream, Want};
use crate::route::RequestView;
use crate::rules::answer::Target;
use crate::rules::{Answer, Edits, Fired, RuleSet, Verdict};
use crate::runtime;
use crate::snapshot::{BackendRt, FrontendRt};
use crate::transport::{Chunk, Transport, MAX_GATHER};

/// The request as it goes upstream: its head (and the body bytes that came with it), whether
/// the body is complete in it, and whether it may be sent again.
struct Outgoing {
    bytes: Vec<u8>,
    body: BodyState,
    body_done: bool,
    replayable: bool,
}

/// Forwards one request and its response.
pub(super) async fn forward<T: Transport>(
    r: &mut Req<'_, T>,
    head: &RequestHead,
) -> Result<Next, Outcome> {
    let fe = r.fe;
    let client = Client {
        src: client_ip(r.s.peer),
        sni: r.s.client.tls().map(|t| t.sni.as_bytes()),
    };
    // The client's counters, its request counted (a tracking table only).
    let sample = if fe.track.is_some() {
        super::track::request(r, head)
    } else {
        None
    };
    let tracked = sample.as_ref();
    // The frontend's request rules run first, before routing.
    let fe_rules = rules(&fe.request_rules, head, r.input.slice(), &client, tracked)?;
    if let Some(a) = fe_rules.answer {
        if fe_rules.by_tracking {
            if let Some(t) = &fe.track {
                t.denied();
            }
        }
        return answer(r, head, a).await;
    }
    // Answers held for pipelined requests before this one leave before it goes on.
    if !r.s.flush_held(ANSWER_SEND).await {
        return Err(Outcome::client_closed());
    }
    let backend = if fe.routed {
        // A path with malformed percent-escapes cannot be matched safely.
        route(fe, head, r.input.slice(), &client).ok_or(Outcome::refused(400, true))?
    } else {
        fe.backend
    };
    let Some(be) = r.snap.backends.get(backend) else {
        return Err(Outcome::refused(503, true));
    };
    r.x.backend = Some(backend);
    let be_rules = rules(&be.request_rules, head, r.input.slice(), &client, None)?;
    if let Some(a) = be_rules.answer {
        return answer(r, head, a).await;
    }
    // Response rules test the request too: which apply is known now, and only applied when
    // the response head is written.
    let replies = Replies {
        backend: rules(&be.response_rules, head, r.input.slice(), &client, None)?.fired,
        frontend: rules(&fe.response_rules, head, r.input.slice(), &client, tracked)?.fired,
    };
    let fired = (fe_rules.fired, be_rules.fired);
    // A request that may switch protocols goes on a new server connection, which never
    // returns to the pool: after a 101 it is the tunnel's, and after any other answer the
    // server was told `Connection: upgrade`, not that it would be reused.
    let upgrade = head.upgrade_to(r.input.slice(), &r.fe.upgrade);
    let keep = Keep {
        client: head.keep_alive
            && r.fe.connection != ConnectionMode::Close
            && !r.s.local.draining.is_raised(),
        upstream: r.fe.connection == ConnectionMode::KeepAlive && !upgrade,
    };
    let how = How {
        upstream_keep_alive: keep.upstream,
        upgrade,
        fired,
    };
    // Read before `outgoing` consumes the head.
    let key = crate::proxy::hashkey::request_key(&be.balance, r.input.slice(), head);
    let (out, sticky) = outgoing(r, head, be, how)?;
    let reuse = match (keep.upstream, out.replayable) {
        (false, _) => Reuse::Never,
        (true, true) => Reuse::Any,
        (true, false) => Reuse::FreshOnly,
    };
    let want = Want {
        backend,
        client: client_ip(r.s.peer),
        addrs: crate::proxy::client_addrs(r.s.peer, r.s.dst.as_deref().copied()),
        reuse,
        prefer: sticky.server,
        key,
    };
    let (up, first, mut body) = send_request(r, be, want, out).await?;
    if let Some(body) = body.as_mut() {
        if head.expect_continue && head.version_minor >= 1 {
            let _ = runtime::timeout(
                r.fe.timeouts.client,
                r.s.client.send(Chunk::Static(CONTINUE_100)),
            )
            .await;
        }
        upload(r, be, &up, body).await?;
    }
    let leg = Leg {
        be,
        up,
        first,
        sticky,
        keep,
        replies,
        upgrade,
    };
    relay::response(r, head, leg).await
}

/// How the head goes to the server: whether the connection may be kept, whether the request
/// asks to switch protocols, and which request rules (frontend's, backend's) edit it.
#[derive(Clone, Copy)]
struct How {
    upstream_keep_alive: bool,
    upgrade: bool,
    fired: (Fired, Fired),
}

/// Writes the head for the server (with the body bytes that arrived with it) and reads the
/// persistence cookie.
fn outgoing<T: Transport>(
    r: &mut Req<'_, T>,
    head: &RequestHead,
    be: &BackendRt,
    how: How,
) -> Result<(Outgoing, Sticky), Outcome> {
    let How {
        upstream_keep_alive,
        upgrade,
        fired,
    } = how;
    let mut bytes = r.s.local.out_buf();
    let xff = r.s.peer.map(|p| IpText::new(p.ip()));
    let forwardfor = if r.fe.forwardfor {
        xff.as_ref().map(|x| x.as_bytes())
    } else {
        None
    };
    let rewrite = RequestRewrite {
        upstream_keep_alive,
        forwardfor,
        https: r.s.client.tls().is_some(),
        strip_expect: true,
        upgrade,
    };
    let input: &mut Input = r.input;
    // The persistence cookie is read before the head is written, which edits it on the way.
    let sticky = match &be.cookie {
        Some(ck) => {
            let fields = input
                .slice()
                .get(head.headers_start..head.head_len)
                .unwrap_or(&[]);
            persist::read(be, ck, fields)
        }
        None => Sticky::default(),
    };
    let cookie_edits;
    let persistence: &dyn FieldEdit = match &be.cookie {
        Some(ck) => {
            cookie_edits = persist::request_edits(ck, &sticky, be);
            &cookie_edits
        }
        None => &NoEdit,
    };
    if fired.0.any() || fired.1.any() {
        let fe_rules = (&r.fe.request_rules, fired.0);
        let edits = Edits::new(fe_rules, (&be.request_rules, fired.1), persistence);
        write_request_head(input.slice(), head, &rewrite, &edits, &mut bytes);
    } else {
        write_request_head(input.slice(), head, &rewrite, persistence, &mut bytes);
    }
    input.consume(head.head_len);
    let mut body = BodyState::new(head.framing);
    let mut body_done = body.is_done();
    if !body_done && !input.is_empty() {
        match body.feed(input.slice()) {
            Ok(p) => {
                bytes.extend_from_slice(input.slice().get(..p.consumed).unwrap_or(&[]));
                r.x.bytes_in += p.consumed as u64;
                input.consume(p.consumed);
                body_done = p.done;
            }
            Err(e) => {
                r.s.local.give_back(bytes);
                return Err(Outcome::refused(e.status(), true));
            }
        }
    }
    // Pipelined bytes of the next request wait on the heap, not in a receive buffer.
    input.detach();
    let out = Outgoing {
        bytes,
        body,
        body_done,
        // The whole request is in `bytes`: it can be sent again if a reused connection was
        // dead.
        replayable: body_done && head.method.is_idempotent(),
    };
    Ok((out, sticky))
}

/// Gets a server connection and sends the request's head on it. A request whose body is
/// complete also waits for the first bytes of the response here, so that a dead pooled
/// connection can still be swapped for a new one before anything reached the client. Returns
/// the connection, those first bytes, and the body still to upload (if any).
async fn send_request<T: Transport>(
    r: &mut Req<'_, T>,
    be: &BackendRt,
    mut want: Want,
    out: Outgoing,
) -> Result<(Upstream, Option<Chunk>, Option<BodyState>), Outcome> {
    let Outgoing {
        mut bytes,
        body,
        body_done,
        replayable,
    } = out;
    // The client may still be sending a body it will not get to send.
    let linger = !body_done;
    loop {
        let mut up = match connect(&r.s.local, r.snap, want).await {
            Ok(u) => u,
            Err(f) => {
                r.x.reach(f.phase());
                if f == Fail::ConnectFailed {
                    // Every retry was used.
                    r.x.retries = be.retries;
                }
                r.s.local.give_back(bytes);
                return Err(f.outcome(linger));
            }
        };
        r.x.server = Some(up.server);
        r.x.tw = Some(up.waited);
        r.x.tc = Some(up.connecting);
        r.x.retries = up.retries;
        r.x.reach(Phase::Headers);
        let retry = up.reused && replayable;
        let (sent, back) = up.conn.send(Chunk::Heap(bytes)).await;
        bytes = match back {
            Chunk::Heap(v) => v,
            _ => Vec::new(),
        };
        r.x.sent_at = Some(runtime::now());
        let got = match sent {
            Err(_) => Err(Outcome::server_error(502).retryable(retry)),
            Ok(()) if !body_done => Ok(None),
            Ok(()) => first_bytes(&mut up, be, retry).await.map(Some),
        };
        match got {
            Ok(first) => {
                r.s.local.give_back(bytes);
                let rest = if body_done { None } else { Some(body) };
                return Ok((up, first, rest));
            }
            Err(o) if o.retry => want.reuse = Reuse::Never,
            Err(o) => {
                r.s.local.give_back(bytes);
                return Err(Outcome { linger, ..o });
            }
        }
    }
}

/// The first bytes of the response; a closed reused connection may be retried.
async fn first_bytes(up: &mut Upstream, be: &BackendRt, retry: bool) -> Result<Chunk, Outcome> {
    let recv = up.conn.recv_after(up.pending.take());
    match runtime::timeout(be.timeouts.server, recv).await {
        Ok(Ok(Some(b))) => Ok(b),
        Ok(Ok(None)) | Ok(Err(_)) => Err(Outcome::server_error(502).retryable(retry)),
        Err(_) => Err(Outcome::server_timeout(Fail::ServerTimeout.status())),
    }
}

/// Streams the rest of the request body to the server. A pooled connection's receive stays in
/// flight meanwhile; the response read uses it.
async fn upload<T: Transport>(
    r: &mut Req<'_, T>,
    be: &BackendRt,
    up: &Upstream,
    body: &mut BodyState,
) -> Result<(), Outcome> {
    loop {
        if r.input.is_empty() {
            match runtime::timeout(r.fe.timeouts.client, r.input.fill(&r.s.client)).await {
                Ok(Ok(true)) => {}
                // Client gone or silent mid-body: the server got a partial request, so the
                // server connection cannot be reused; nothing to answer.
                Ok(_) => return Err(Outcome::client_closed()),
                Err(_) => return Err(Outcome::client_timeout(false)),
            }
        }
        let p = body
            .feed(r.input.slice())
            .map_err(|e| Outcome::refused(e.status(), true))?;
        let mut done = p.done;
        if p.consumed > 0 {
            r.x.bytes_in += p.consumed as u64;
            let chunk = r.input.take(p.consumed);
            // What the client sent meanwhile and was received already goes in the same
            // (vectored) send.
            let more = if done || !r.input.is_empty() {
                None
            } else {
                r.s.client.recv_ready()
            };
            let sent = match more {
                None => runtime::timeout(be.timeouts.server, up.conn.send(chunk))
                    .await
                    .map(|(res, _)| res),
                Some(next) => {
                    let mut batch = vec![chunk];
                    done = gather_body(r, body, next, &mut batch)?;
                    runtime::timeout(be.timeouts.server, up.conn.send_gather(batch))
                        .await
                        .map(|(res, _)| res)
                }
            };
            if !matches!(sent, Ok(Ok(()))) {
                return Err(Outcome {
                    linger: true,
                    ..Outcome::server_error(502)
                });
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// Feeds `next` and what else the client's connection received already into `batch`, one
/// sendable chunk each, while the body goes on. Returns whether the body is complete.
fn gather_body<T: Transport>(
    r: &mut Req<'_, T>,
    body: &mut BodyState,
    next: Chunk,
    batch: &mut Vec<Chunk>,
) -> Result<bool, Outcome> {
    let mut next = Some(next);
    while let Some(c) = next.take() {
        r.input.push(c);
        let p = body
            .feed(r.input.slice())
            .map_err(|e| Outcome::refused(e.status(), true))?;
        if p.consumed > 0 {
            r.x.bytes_in += p.consumed as u64;
            batch.push(r.input.take(p.consumed));
        }
        if p.done {
            return Ok(true);
        }
        if batch.len() < MAX_GATHER && r.input.is_empty() {
            next = r.s.client.recv_ready();
        }
    }
    Ok(false)
}

/// What routing knows of the client connection.
struct Client<'a> {
    src: IpAddr,
    /// The TLS server name (empty when none was sent); `None` for a plain connection.
    sni: Option<&'a [u8]>,
}

/// The path (and query) of the request target: an absolute-form target reduced to it.
fn target_path<'b>(head: &RequestHead, buf: &'b [u8]) -> &'b [u8] {
    let target = head.target.get(buf);
    match head.target_form {
        TargetForm::Absolute => super::absolute_path(target),
        _ => target,
    }
}

/// What routing and rule conditions see of the request.
fn view<'b>(
    head: &RequestHead,
    buf: &'b [u8],
    client: &Client<'b>,
    headers: &'b FieldSection<'b>,
) -> RequestView<'b> {
    RequestView {
        method: head.method.as_bytes(buf),
        path: target_path(head, buf),
        host: head.host.map(|h| h.get(buf)),
        src: client.src,
        headers,
        sni: client.sni,
        hello_sni: None,
    }
}

/// The backend the frontend's routes pick for this request; `None` when the path is invalid.
fn route(fe: &FrontendRt, head: &RequestHead, buf: &[u8], client: &Client<'_>) -> Option<usize> {
    let headers = FieldSection::within(buf, head.headers_start..head.head_len);
    match fe.router.select(&view(head, buf, client, &headers)) {
        Ok(Some(&b)) => Some(b),
        Ok(None) => Some(fe.backend),
        Err(_) => None,
    }
}

/// Evaluates a rule set on the request; an empty set costs a length test. A malformed path
/// that a condition had to read is a 400, as in routing.
fn rules<'s>(
    set: &'s RuleSet,
    head: &RequestHead,
    buf: &[u8],
    client: &Client<'_>,
    track: Option<&crate::track::Sample>,
) -> Result<Verdict<'s>, Outcome> {
    if set.is_empty() {
        return Ok(Verdict::default());
    }
    let headers = FieldSection::within(buf, head.headers_start..head.head_len);
    set.eval_tracked(&view(head, buf, client, &headers), track)
        .map_err(|_| Outcome::refused(400, true))
}

/// How long a rule's answer (redirect, return) may take to leave.
const ANSWER_SEND: std::time::Duration = std::time::Duration::from_secs(2);

/// Answers the request as a rule says: a deny ends the exchange with ringlb's page for its
/// status (or the errorfile), like every refusal; a redirect or a return is sent, and the
/// connection stays open when the request allows it and has no body.
async fn answer<T: Transport>(
    r: &mut Req<'_, T>,
    head: &RequestHead,
    a: &Answer,
) -> Result<Next, Outcome> {
    let has_body = head.framing != BodyFraming::None;
    let keep = head.keep_alive
        && !has_body
        && r.fe.connection != ConnectionMode::Close
        && !r.s.local.draining.is_raised();
    let target = Target {
        path: target_path(head, r.input.slice()),
        host: head.host.map(|h| h.get(r.input.slice())),
        head_only: head.method == Method::Head,
    };
    if let Answer::Tarpit { delay, .. } = a {
        // Held, then refused like a deny: the connection closes after the page (answers to
        // earlier pipelined requests leave first).
        if !r.s.flush_held(ANSWER_SEND).await {
            return Ok(Next::Close { linger: false });
        }
        runtime::sleep(*delay).await;
        return Err(Outcome::refused(a.status(), has_body));
    }
    let Some(bytes) = a.response(target, keep) else {
        return Err(Outcome::refused(a.status(), has_body));
    };
    r.input.consume(head.head_len);
    r.x.status = a.status();
    if keep && r.s.hold(r.input, &bytes) {
        // Sent with the answer to the next request, or before anything else reaches the client.
        r.x.bytes_out += bytes.len() as u64;
        return Ok(Next::KeepAlive);
    }
    if !r.answer(Chunk::Heap(bytes), ANSWER_SEND).await {
        return Ok(Next::Close { linger: false });
    }
    Ok(if keep {
        Next::KeepAlive
    } else {
        Next::Close { linger: has_body }
    })
}
