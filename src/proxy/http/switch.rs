//! After `101 Switching Protocols` (to a protocol the request asked for and the frontend
//! allows, WebSocket by default): the head goes to the client, then the connection is a
//! two-way byte tunnel (`proxy/tunnel.rs`) until it ends. The exchange is counted and logged
//! once, at that end, with the tunnel's bytes and duration. The server connection is the
//! tunnel's and is closed with it, never pooled.

use super::input::Input;
use super::relay::Leg;
use super::session::{Next, Req};
use crate::http::{write_response_head, NoEdit, ResponseHead, ResponseRewrite};
use crate::proxy::exchange::{Outcome, Phase};
use crate::proxy::{persist, tunnel};
use crate::runtime;
use crate::transport::{Chunk, Transport};

/// Relays the 101 head `head` (at the start of `rin`, the server's bytes) and tunnels.
pub(super) async fn tunnel<T: Transport>(
    r: &mut Req<'_, T>,
    head: &ResponseHead,
    leg: Leg<'_>,
    mut rin: Input,
) -> Result<Next, Outcome> {
    if leg.up.pending.is_some() {
        // A receive already in flight on the server connection would race the tunnel's. A
        // request that may upgrade never takes a pooled connection, so this does not happen.
        return Err(Outcome::server_error(0));
    }
    let mut out = r.s.local.out_buf();
    let rewrite = ResponseRewrite {
        client_keep_alive: false,
        client_version_minor: 1,
        dechunk: false,
    };
    match &leg.be.cookie {
        Some(ck) => {
            let edits = persist::response_edits(ck, &leg.sticky, leg.be, leg.up.server);
            write_response_head(rin.slice(), head, &rewrite, &edits, &mut out);
        }
        None => write_response_head(rin.slice(), head, &rewrite, &NoEdit, &mut out),
    }
    rin.consume(head.head_len);
    r.x.reach(Phase::Data);
    // The new protocol's first bytes may have come with the head: they follow it.
    let head_bytes = (out.len() + rin.slice().len()) as u64;
    let client_timeout = r.fe.timeouts.client;
    let sent = if rin.is_empty() {
        runtime::timeout(client_timeout, r.s.client.send(Chunk::Heap(out)))
            .await
            .map(|(res, _)| res)
    } else {
        let rest = rin.take(rin.slice().len());
        runtime::timeout(client_timeout, r.s.client.send_two(out, rest))
            .await
            .map(|(res, _, _)| res)
    };
    if !matches!(sent, Ok(Ok(()))) {
        return Err(Outcome::client_closed());
    }
    r.x.bytes_out += head_bytes;
    // And the client's, sent after its request head without waiting for the answer.
    let early = r.input.slice().len();
    if early > 0 {
        let chunk = r.input.take(early);
        let sent = runtime::timeout(leg.be.timeouts.server, leg.up.conn.send(chunk)).await;
        if !matches!(sent, Ok((Ok(()), _))) {
            return Err(Outcome::server_error(0));
        }
        r.x.bytes_in += early as u64;
    }
    let idle = crate::config::Timeouts::tunnel_for(&r.fe.timeouts, &leg.be.timeouts);
    let meters = tunnel::Meters {
        frontend: &r.fe.state,
        server: leg.be.servers.get(leg.up.server).map(|s| &*s.state),
    };
    let moved = tunnel::relay(&r.s.client, &leg.up.conn, idle, meters).await;
    r.x.bytes_in += moved.up;
    r.x.bytes_out += moved.down;
    r.x.metered_in = moved.up;
    r.x.metered_out = moved.down;
    match moved.end.outcome() {
        None => Ok(Next::Close { linger: false }),
        Some(o) => Err(o),
    }
}
