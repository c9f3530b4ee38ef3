//! ACME `http-01` answers (RFC 8555 §8.3): a `GET /.well-known/acme-challenge/TOKEN` for a
//! token the ACME thread is waiting on is answered here, with the key authorization, before
//! request rules and routing. Any other request under that path goes on as usual (a server
//! behind ringlb may run its own ACME client).

use std::time::Duration;

use super::session::{Next, Req};
use crate::http::{response, BodyFraming, Method, RequestHead, TargetForm};
use crate::transport::{Chunk, Transport};

/// The path prefix of `http-01` challenges.
const PREFIX: &[u8] = b"/.well-known/acme-challenge/";

/// How long the answer (a hundred bytes) may take to leave.
const ANSWER_SEND: Duration = Duration::from_secs(10);

/// The key authorization to answer `head` with, if it asks for a pending challenge.
pub(super) fn wanted<T: Transport>(r: &Req<'_, T>, head: &RequestHead) -> Option<String> {
    if r.fe.stats_only || head.method != Method::Get || head.framing != BodyFraming::None {
        return None;
    }
    let target = head.target.get(r.input.slice());
    let path = match head.target_form {
        TargetForm::Absolute => super::absolute_path(target),
        _ => target,
    };
    let token = path.strip_prefix(PREFIX)?;
    let token = std::str::from_utf8(token).ok()?;
    if token.is_empty() || token.contains(['/', '?', '#']) {
        return None;
    }
    r.snap.acme.state.answer(token)
}

/// Sends the key authorization.
pub(super) async fn serve<T: Transport>(
    r: &mut Req<'_, T>,
    head: &RequestHead,
    key_authorization: String,
) -> Next {
    let keep = head.keep_alive && !r.s.local.draining.is_raised();
    r.input.consume(head.head_len);
    let out = response(
        200,
        "application/octet-stream",
        "",
        key_authorization.as_bytes(),
        keep,
    );
    r.x.status = 200;
    if !r.answer(Chunk::Heap(out), ANSWER_SEND).await {
        return Next::Close { linger: false };
    }
    if keep {
        Next::KeepAlive
    } else {
        Next::Close { linger: false }
    }
}
