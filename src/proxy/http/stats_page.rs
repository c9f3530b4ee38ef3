//! The stats page, its other formats and its admin form, on a frontend with `stats` (or the
//! `[stats]` listener). It answers before routing, through ringlb's own responses
//! (`http::response`), and never reaches a server.

use std::time::{Duration, Instant};

use super::session::{Next, Req};
use crate::http::{response, BodyFraming, Method, RequestHead, TargetForm};
use crate::proxy::exchange::Outcome;
use crate::runtime;
use crate::snapshot::StatsRt;
use crate::stats::StatsRequest;
use crate::transport::{Chunk, Transport};

/// How long the page (a few KiB to a few hundred) may take to leave.
const PAGE_SEND: Duration = Duration::from_secs(30);

/// How long the 401 challenge may take to leave.
const CHALLENGE_SEND: Duration = Duration::from_secs(5);

/// How long the admin form's body may take to arrive.
const FORM_READ: Duration = Duration::from_secs(10);

/// The stats request `head` makes, if it is one; a `[stats]` listener refuses anything else.
pub(super) fn wanted<T: Transport>(
    r: &Req<'_, T>,
    head: &RequestHead,
) -> Result<Option<StatsRequest>, Outcome> {
    let Some(st) = &r.fe.stats else {
        return Ok(None);
    };
    let target = head.target.get(r.input.slice());
    let path = match head.target_form {
        TargetForm::Absolute => super::absolute_path(target),
        _ => target,
    };
    match crate::stats::parse_target(path, st.page.uri.as_bytes(), st.metrics_path) {
        Some(req) => Ok(Some(req)),
        None if r.fe.stats_only => Err(Outcome::refused(404, head.framing != BodyFraming::None)),
        None => Ok(None),
    }
}

/// Answers a stats request: credentials first, then the page or the admin action.
pub(super) async fn serve<T: Transport>(
    r: &mut Req<'_, T>,
    head: &RequestHead,
    req: StatsRequest,
) -> Result<Next, Outcome> {
    let Some(st) = r.fe.stats.clone() else {
        return Ok(Next::Close { linger: false });
    };
    if !st.users.is_empty() {
        let fields = r
            .input
            .slice()
            .get(head.headers_start..head.head_len)
            .unwrap_or(&[]);
        let auth = crate::http::field_value(fields, b"authorization").unwrap_or(&[]);
        if st.users.check(auth).is_none() {
            let page = crate::stats::challenge(&st.page.realm);
            r.x.status = 401;
            r.answer(Chunk::Heap(page.into_bytes()), CHALLENGE_SEND)
                .await;
            return Ok(Next::Close {
                linger: head.framing != BodyFraming::None,
            });
        }
    }
    let keep = head.keep_alive && !r.s.local.draining.is_raised();
    r.input.consume(head.head_len);
    let (status, ctype, body, extra) = match req {
        StatsRequest::Page { format, refresh } => {
            if head.framing != BodyFraming::None {
                return Err(Outcome::refused(400, true));
            }
            let model = crate::admin::collect(r.snap, &r.s.local.process);
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
        StatsRequest::Admin => admin(r, head, &st).await?,
    };
    let out = response(status, ctype, &extra, body.as_bytes(), keep);
    r.x.status = status;
    if !r.answer(Chunk::Heap(out), PAGE_SEND).await {
        return Ok(Next::Close { linger: false });
    }
    Ok(if keep {
        Next::KeepAlive
    } else {
        Next::Close { linger: false }
    })
}

/// Applies an admin form post (ready / drain / maint of one server): status, content type,
/// body and extra field lines of the answer.
async fn admin<T: Transport>(
    r: &mut Req<'_, T>,
    head: &RequestHead,
    st: &StatsRt,
) -> Result<(u16, &'static str, String, String), Outcome> {
    let refusal = |allowed: u16| Outcome::refused(if st.page.admin { allowed } else { 403 }, true);
    let len = match head.framing {
        BodyFraming::Length(n) if n as usize <= crate::stats::MAX_ADMIN_FORM => n as usize,
        _ => return Err(refusal(400)),
    };
    if !st.page.admin || head.method != Method::Post {
        return Err(refusal(405));
    }
    let deadline = Instant::now() + FORM_READ;
    while r.input.slice().len() < len {
        if !matches!(
            runtime::timeout_at(deadline, r.input.fill(&r.s.client)).await,
            Ok(Ok(true))
        ) {
            return Err(Outcome::client_timeout(false));
        }
    }
    let form = crate::stats::parse_admin_form(r.input.slice().get(..len).unwrap_or(&[]));
    r.input.consume(len);
    let result = form.and_then(|f| crate::admin::apply_form(r.snap, &f));
    let text = "text/plain; charset=utf-8";
    Ok(match result {
        Ok(msg) => {
            // Back to the page, as a browser form submission expects.
            (
                303,
                text,
                format!("{msg}\n"),
                format!("Location: {}\r\n", st.page.uri),
            )
        }
        Err(e) => (400, text, format!("{e}\n"), String::new()),
    })
}
