//! The session loop: wait for a request, serve it as one exchange, keep the connection alive
//! or close it (lingering when the client may still be sending).

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::input::Input;
use super::{acme_challenge, forward, stats_page, LIMITS};
use crate::http::{error_response, parse_request, RequestHead};
use crate::proxy::exchange::{Exchange, Outcome};
use crate::proxy::{Accepted, FrontendRef, Local};
use crate::runtime;
use crate::snapshot::{FrontendRt, Snapshot};
use crate::state::FrontendState;
use crate::transport::{Chunk, Transport};

/// While draining, how long an idle client connection may still send its next request.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// After an error response, how long the connection keeps reading (and discarding) what the
/// client still sends before closing, so the close does not turn into a reset that destroys
/// the error response in flight.
const LINGER: Duration = Duration::from_millis(500);

/// How long ringlb's own error response may take to leave.
const ERROR_SEND: Duration = Duration::from_secs(2);

/// Most bytes of held answers (see [`Session::held`]) before they are sent.
pub(super) const HOLD_MAX: usize = 16 * 1024;

/// How an exchange ended, for the session loop.
pub(super) enum Next {
    /// Serve the next request on this connection.
    KeepAlive,
    /// Close (after lingering if the client may still be sending).
    Close { linger: bool },
}

/// Everything that stays the same for all requests of a connection.
pub(super) struct Session<T> {
    pub local: Rc<Local>,
    cell: Arc<ArcSwap<Snapshot>>,
    frontend: FrontendRef,
    pub client: T,
    pub peer: Option<SocketAddr>,
    /// The address the client connected to (see [`Accepted::dst`]).
    pub dst: Option<Box<SocketAddr>>,
    /// What few connections carry: their entry in a tracking table, and answers held for
    /// pipelined requests (see [`Cold`]). Boxed and empty for most: an idle connection keeps
    /// one pointer for both.
    cold: Cell<Option<Box<Cold>>>,
    /// The frontend whose open connections count this one, when the session takes it off the
    /// counts as it ends (see [`serve_counted`]).
    counted: Option<Arc<FrontendState>>,
}

impl<T> Session<T> {
    /// The session of one connection (a plain function: the future that runs it takes the
    /// session by value and keeps it once, where an async function would keep the
    /// `Accepted` and the transport beside the session made from them).
    fn new(accepted: Accepted, client: T, counted: Option<Arc<FrontendState>>) -> Session<T> {
        let Accepted {
            local,
            cell,
            frontend,
            peer,
            dst,
            track,
        } = accepted;
        Session {
            local,
            cell,
            frontend,
            client,
            peer,
            dst,
            // Counted when the connection opened (an HTTP/2 stream's connection holds its own).
            cold: Cell::new(track.map(|t| {
                Box::new(Cold {
                    track: Some(t),
                    held: Vec::new(),
                })
            })),
            counted,
        }
    }
}

impl<T> Drop for Session<T> {
    fn drop(&mut self) {
        if let Some(fe) = self.counted.take() {
            self.local.connection_closed(&fe);
        }
    }
}

/// A connection's rarely used state.
#[derive(Default)]
struct Cold {
    /// This connection counted in its frontend's tracking table (taken off when dropped).
    track: Option<Box<crate::proxy::track::Tracked>>,
    /// ringlb's own answers to pipelined requests not sent yet: an answer made while the next
    /// request's head is already here waits for the next one, and they leave in one send (a
    /// client pipelining requests that rules refuse would otherwise cost a send each). Empty
    /// whenever the session waits for the client or sends anything else (see [`HOLD_MAX`]).
    held: Vec<u8>,
}

impl<T> Session<T> {
    /// Runs `f` on the cold state, made if there is none; it is freed again when `f` leaves
    /// it empty.
    fn cold<R>(&self, f: impl FnOnce(&mut Cold) -> R) -> R {
        let mut c = self.cold.take().unwrap_or_default();
        let r = f(&mut c);
        self.keep_cold(c);
        r
    }

    /// Runs `f` on the cold state if there is any.
    fn cold_if_any<R>(&self, f: impl FnOnce(&mut Cold) -> R) -> Option<R> {
        let mut c = self.cold.take()?;
        let r = f(&mut c);
        self.keep_cold(c);
        Some(r)
    }

    fn keep_cold(&self, c: Box<Cold>) {
        if c.track.is_some() || !c.held.is_empty() {
            self.cold.set(Some(c));
        }
    }

    /// Takes the connection's tracking entry (put it back with [`Session::set_track`]).
    pub fn take_track(&self) -> Option<Box<crate::proxy::track::Tracked>> {
        self.cold_if_any(|c| c.track.take()).flatten()
    }

    pub fn set_track(&self, t: Option<Box<crate::proxy::track::Tracked>>) {
        match t {
            Some(t) => self.cold(|c| c.track = Some(t)),
            None => {
                self.cold_if_any(|c| c.track = None);
            }
        }
    }

    /// Takes the held answers, if any.
    fn take_held(&self) -> Option<Vec<u8>> {
        self.cold_if_any(|c| std::mem::take(&mut c.held))
            .filter(|h| !h.is_empty())
    }
}

/// One request on its way: the snapshot it runs on, its frontend (both resolved once), the
/// client's bytes, and the record of what happened.
pub(super) struct Req<'a, T> {
    pub s: &'a Session<T>,
    pub input: &'a mut Input,
    pub snap: &'a Snapshot,
    pub fe: &'a FrontendRt,
    pub x: Exchange,
    /// The client's entry in the frontend's tracking table, when it is tracked.
    pub track: Option<crate::track::Handle>,
}

/// Serves one client connection (or HTTP/2 stream) until it closes, times out, or the
/// worker drains.
pub fn serve<T: Transport>(accepted: Accepted, client: T) -> impl Future<Output = ()> {
    run(Session::new(accepted, client, None))
}

/// [`serve`] for a client connection counted open in its process's, frontend's (`counted`)
/// and worker's totals: the session takes it off them when it ends. The worker spawns this
/// future as the connection's task itself, so that an idle keep-alive connection costs its
/// session and nothing around it.
pub fn serve_counted<T: Transport>(
    accepted: Accepted,
    client: T,
    counted: Arc<FrontendState>,
) -> impl Future<Output = ()> {
    run(Session::new(accepted, client, Some(counted)))
}

/// The session loop. What it keeps while the connection idles is what an idle keep-alive
/// connection costs (see `idle_session_future_stays_small`): the session and the wait for the
/// next request's first byte. The bytes of a request (`Input`) exist only from that byte until
/// the connection is idle again, and share their room in this future with the wait.
///
/// An `async move` block, not an async function: an async function moves its by-value
/// arguments into locals of its own, so the session would be kept twice.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep the session twice (see above)"
)]
fn run<T: Transport>(session: Session<T>) -> impl Future<Output = ()> {
    async move {
        let s = &session;
        let mut first = true;
        let mut linger = false;
        'connection: loop {
            // The snapshot is looked up again for each request (a reload applies to the next
            // request) and not held while the connection idles. Waiting for the first byte: the
            // keep-alive timeout between requests, the request timeout for the first one; the
            // whole head must then arrive within `http_request`.
            let Some(idle) = s.frontend.resolve(&s.cell.load()).map(|fe| {
                if first {
                    fe.timeouts.http_request
                } else {
                    fe.timeouts.http_keep_alive
                }
            }) else {
                break;
            };
            let bytes = {
                let mut recv = std::pin::pin!(s.client.recv());
                match first_byte(recv.as_mut(), &s.local.draining, idle).await {
                    Some(Ok(Some(bytes))) => bytes,
                    _ => break,
                }
            };
            first = false;
            let mut input = Input::default();
            input.push(bytes);
            // Requests, as long as the next one's bytes are already here (pipelined).
            loop {
                // On the heap: a request's state (parsing, the upstream exchange, error paths)
                // lives there only while the request is in flight, so an idle keep-alive
                // connection keeps just the session and its wait for the next byte. In a block
                // of the worker's free list, not a fresh allocation each time.
                let _in_flight = InFlight::new(&s.local);
                match runtime::pooled(exchange(s, &mut input)).await {
                    Next::KeepAlive => {}
                    Next::Close { linger: l } => {
                        linger = l;
                        break 'connection;
                    }
                }
                if input.is_empty() {
                    break;
                }
                if s.frontend.resolve(&s.cell.load()).is_none() {
                    break 'connection;
                }
            }
        }
        if linger {
            Box::pin(linger_close(&s.client)).await;
        }
    }
}

impl<T: Transport> Session<T> {
    /// Sends the held answers, if any; `false` if they did not leave within `limit`.
    pub async fn flush_held(&self, limit: Duration) -> bool {
        let Some(held) = self.take_held() else {
            return true;
        };
        matches!(
            runtime::timeout(limit, self.client.send(Chunk::Heap(held))).await,
            Ok((Ok(()), _))
        )
    }

    /// Holds `answer` behind the earlier held ones when the next request's head is complete in
    /// `input` and the held bytes stay under [`HOLD_MAX`]; `false` (nothing held) otherwise.
    pub fn hold(&self, input: &Input, answer: &[u8]) -> bool {
        let next_ready = matches!(parse_request(input.slice(), &LIMITS), Ok(Some(_)));
        if !next_ready {
            return false;
        }
        self.cold(|c| {
            let fits = c.held.len() + answer.len() <= HOLD_MAX;
            if fits {
                c.held.extend_from_slice(answer);
            }
            fits
        })
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

/// One exchange, from the first byte of its request to its log line.
async fn exchange<T: Transport>(s: &Session<T>, input: &mut Input) -> Next {
    let snap = s.cell.load_full();
    let Some(fe) = s.frontend.resolve(&snap) else {
        s.flush_held(ERROR_SEND).await;
        return Next::Close { linger: false };
    };
    let mut r = Req {
        s,
        input,
        snap: &snap,
        fe,
        x: Exchange::begin(),
        track: None,
    };
    let next = match request(&mut r).await {
        Ok(next) => next,
        Err(o) => r.fail(o).await,
    };
    r.finish();
    // Answers held for earlier pipelined requests leave before the connection closes (an
    // exchange that ended without a response of its own, e.g. the client stopped sending).
    if matches!(next, Next::Close { .. }) {
        s.flush_held(ERROR_SEND).await;
    }
    next
}

/// Reads the request head (its first byte has arrived), then hands it to the stats page or
/// forwards it.
async fn request<T: Transport>(r: &mut Req<'_, T>) -> Result<Next, Outcome> {
    let head = read_head(r).await?;
    r.fe.state.requests.add(1);
    r.x.head_at = Some(runtime::now());
    r.x.bytes_in = head.head_len as u64;
    if r.fe.log {
        let line = r
            .input
            .slice()
            .get(head.line_start..head.headers_start)
            .unwrap_or(&[]);
        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
        r.x.request_line = String::from_utf8_lossy(line).into_owned();
        if r.s.client.is_h2() {
            // The head was made from an h2 stream's HEADERS: log the protocol it came in.
            if let Some(l) = r.x.request_line.strip_suffix("HTTP/1.1") {
                r.x.request_line = format!("{l}HTTP/2.0");
            }
        }
    }
    if let Some(answer) = acme_challenge::wanted(r, &head) {
        return Ok(acme_challenge::serve(r, &head, answer).await);
    }
    if let Some(page) = stats_page::wanted(r, &head)? {
        return stats_page::serve(r, &head, page).await;
    }
    forward::forward(r, &head).await
}

/// Waits for a complete request head, at most `http_request` from its first byte.
async fn read_head<T: Transport>(r: &mut Req<'_, T>) -> Result<RequestHead, Outcome> {
    let deadline = runtime::now() + r.fe.timeouts.http_request;
    loop {
        match parse_request(r.input.slice(), &LIMITS) {
            Ok(Some(h)) => return Ok(h),
            Ok(None) => {}
            Err(e) => return Err(Outcome::refused(e.status(), true)),
        }
        // A partial head waits on the heap: slow clients must not pin receive buffers.
        r.input.detach();
        match runtime::timeout_at(deadline, r.input.fill(&r.s.client)).await {
            Ok(Ok(true)) => {}
            Ok(_) => return Err(Outcome::client_closed()),
            Err(_) => return Err(Outcome::client_timeout(true)),
        }
    }
}

impl<T: Transport> Req<'_, T> {
    /// Ends the exchange early: records the outcome, sends ringlb's own response if it has
    /// one, and says how to close.
    async fn fail(&mut self, o: Outcome) -> Next {
        let srv = self.x.target(self.snap).1;
        self.x.end_with(o, srv);
        if o.status != 0 {
            let page = self.error_page(o.status);
            self.answer(page, ERROR_SEND).await;
        }
        Next::Close { linger: o.linger }
    }

    /// ringlb's answer for `status`: the errorfile of the backend the request reached, else
    /// the frontend's, else ringlb's own page.
    fn error_page(&self, status: u16) -> Chunk {
        let be = self.x.target(self.snap).0;
        match be
            .and_then(|b| b.errors.get(status))
            .or_else(|| self.fe.errors.get(status))
        {
            Some(page) => Chunk::Heap(page.to_vec()),
            None => Chunk::Static(error_response(status)),
        }
    }

    /// Sends a response ringlb makes itself, counting its bytes; `false` if it did not leave
    /// within `limit`.
    pub async fn answer(&mut self, response: Chunk, limit: Duration) -> bool {
        let n = response.len() as u64;
        // Held answers to earlier requests go first, in the same send.
        let response = match self.s.take_held() {
            None => response,
            Some(mut held) => {
                held.extend_from_slice(response.as_slice());
                Chunk::Heap(held)
            }
        };
        match runtime::timeout(limit, self.s.client.send(response)).await {
            Ok((Ok(()), _)) => {
                self.x.bytes_out += n;
                true
            }
            _ => false,
        }
    }

    /// Counts the finished exchange and writes its log line.
    fn finish(&self) {
        self.x.count(self.snap, self.fe);
        super::track::finish(self);
        if !self.fe.log {
            return;
        }
        let logger = self.s.local.logger.borrow().clone();
        if !logger.enabled() || (self.fe.dontlognull && self.x.request_line.is_empty()) {
            return;
        }
        let mut rec = self
            .x
            .record(self.snap, self.fe, &self.s.local, self.s.peer);
        rec.tls = self.s.client.tls().map(crate::proxy::exchange::log_tls);
        logger.send(crate::log::format::httplog(&rec, logger.anonymize));
    }
}

/// Waits for the first bytes of the next request on `recv`, at most `idle`; `None` when the
/// wait timed out. When the worker starts draining meanwhile, waits at most [`DRAIN_IDLE`]
/// more: a request already on its way is still served (with `Connection: close`), an idle
/// connection closes soon. The receive stays in flight across that change, so no byte can be
/// lost to a cancellation.
///
/// Kept small, as every idle keep-alive connection holds it: a plain function whose future is
/// the receive (pinned in the caller), the timer and a flag. The drain signal is looked at,
/// not waited on (raising it wakes every task of the worker), so an idle connection is no
/// waiter of it.
fn first_byte<'a, R: Future>(
    mut recv: Pin<&'a mut R>,
    draining: &'a runtime::Signal,
    idle: Duration,
) -> impl Future<Output = Option<R::Output>> + 'a {
    let mut shortened = draining.is_raised();
    let now = runtime::now();
    let mut deadline = now + idle;
    if shortened {
        deadline = deadline.min(now + DRAIN_IDLE);
    }
    let mut sleep = runtime::sleep_until(deadline);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(r) = recv.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if !shortened && draining.is_raised() {
            shortened = true;
            sleep = runtime::sleep_until(sleep.deadline().min(runtime::now() + DRAIN_IDLE));
        }
        if Pin::new(&mut sleep).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
}

/// Half-closes, then reads and discards for a moment so the peer gets our last bytes, not a
/// reset caused by data it sent that we never read.
async fn linger_close(client: &impl Transport) {
    let _ = client.shutdown_write().await;
    let deadline = runtime::now() + LINGER;
    let mut budget = 256 * 1024usize;
    while budget > 0 {
        match runtime::timeout_at(deadline, client.recv()).await {
            Ok(Ok(Some(b))) => budget = budget.saturating_sub(b.len()),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[frontend.a]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"b\"\n[backend.b]\n[[backend.b.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";

    /// An idle keep-alive connection costs its session future: keep it small (the benchmark
    /// measures memory per idle connection against HAProxy's).
    #[test]
    fn idle_session_future_stays_small() {
        let (accepted, conn) = crate::proxy::test_accepted(CONFIG);
        // What the worker spawns for a plain HTTP connection: the task is this future.
        let fut = serve_counted(accepted, conn, Arc::default());
        let size = std::mem::size_of_val(&fut);

        println!(
            "session future: {size} bytes; Session {} bytes; Input {} bytes; receive {} bytes; \
             timer {} bytes",
            std::mem::size_of::<Session<runtime::Conn>>(),
            std::mem::size_of::<Input>(),
            std::mem::size_of::<crate::runtime::Recv>(),
            std::mem::size_of::<runtime::Sleep>(),
        );
        assert!(size <= 256, "session future grew to {size} bytes");
    }

    /// A request's future is boxed for each request, and a move of a future copies all of
    /// it: what only tunnels, new server connections or TLS handshakes need is boxed apart
    /// (and `runtime::timeout` no longer stores the future it wraps twice), so each request
    /// copies and allocates a few KiB less (7,224 bytes before, release build).
    #[test]
    fn a_request_future_stays_small() {
        let (accepted, conn) = crate::proxy::test_accepted(CONFIG);
        let session = Session::new(accepted, conn, None);
        let mut input = Input::default();
        let size = std::mem::size_of_val(&exchange(&session, &mut input));
        println!("request future: {size} bytes");
        // 3,064 bytes now, in release and test builds alike; it must fit a block of the
        // worker's free list (`runtime::pooled`), or it is boxed anew for every request.
        assert!(
            size <= runtime::POOLED_BLOCK,
            "request future grew to {size} bytes"
        );
    }
}
