//! The exchange: one request and its response (HTTP) or one relayed connection (TCP) — the
//! phase it reached, how it ended, and the one place that turns that into counters, a
//! termination code and an access log line.
//!
//! An exchange that ends early ends with an [`Outcome`]: whose fault (client, server, ringlb
//! itself), the status ringlb answers, whether to linger and whether a retry is allowed. The
//! two-letter termination code is derived from the outcome and the [`Phase`] reached, in
//! [`term_code`] only — no error site picks a code.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Local;
use crate::log::format::Record;
use crate::snapshot::{BackendRt, FrontendRt, ServerRt, Snapshot};

/// How far an exchange got, in order. The letter is the second character of the termination
/// code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Reading the request head (and, before a server was chosen, its first body bytes).
    Request,
    /// Waiting in a backend's queue for a server slot.
    Queue,
    /// Connecting to the server.
    Connect,
    /// The request is (being) sent; waiting for the response head.
    Headers,
    /// The response head went to the client; relaying the body (or a TCP stream).
    Data,
}

impl Phase {
    fn letter(self) -> u8 {
        match self {
            Phase::Request => b'R',
            Phase::Queue => b'Q',
            Phase::Connect => b'C',
            Phase::Headers => b'H',
            Phase::Data => b'D',
        }
    }
}

/// Whose doing an early end was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The client closed, went silent, or stopped reading.
    Client,
    /// The server (or the backend: no server, full queue) failed the request.
    Server,
    /// ringlb refused the request: malformed, not allowed, nowhere to send it.
    Proxy,
}

/// How an exchange ended early: everything the session needs to answer and close, and
/// everything the log needs to say why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub fault: Fault,
    /// The side went silent (a timeout) rather than closing or misbehaving.
    pub timeout: bool,
    /// The response ringlb sends; 0 when nothing can be sent (a response already started, or
    /// nobody to send it to).
    pub status: u16,
    /// Read and discard what the client still sends for a moment before closing, so the close
    /// does not turn into a reset that destroys the answer in flight.
    pub linger: bool,
    /// Nothing reached the client and the request may be sent again on a new connection (a
    /// reused server connection turned out dead).
    pub retry: bool,
}

impl Outcome {
    /// The client closed (or its connection failed).
    pub fn client_closed() -> Outcome {
        Outcome::new(Fault::Client, 0, false)
    }

    /// The client stopped sending mid-request: 408.
    pub fn client_timeout(linger: bool) -> Outcome {
        Outcome {
            timeout: true,
            ..Outcome::new(Fault::Client, 408, linger)
        }
    }

    /// ringlb refuses the request with `status`.
    pub fn refused(status: u16, linger: bool) -> Outcome {
        Outcome::new(Fault::Proxy, status, linger)
    }

    /// The server failed: a 502 while nothing reached the client, a cut connection after.
    pub fn server_error(status: u16) -> Outcome {
        Outcome::new(Fault::Server, status, false)
    }

    /// The server went silent: a 504 while nothing reached the client, a cut after.
    pub fn server_timeout(status: u16) -> Outcome {
        Outcome {
            timeout: true,
            ..Outcome::new(Fault::Server, status, false)
        }
    }

    fn new(fault: Fault, status: u16, linger: bool) -> Outcome {
        Outcome {
            fault,
            timeout: false,
            status,
            linger,
            retry: false,
        }
    }

    /// Allows sending the request again on a new connection.
    pub fn retryable(self, retry: bool) -> Outcome {
        Outcome { retry, ..self }
    }

    /// Whether the server is charged with a bad or cut response (its `response_errors`): a
    /// failure once the request was on its way, except silence before the response head (a
    /// 504, counted as a timeout).
    fn response_error(self, phase: Phase) -> bool {
        self.fault == Fault::Server
            && phase >= Phase::Headers
            && !(self.timeout && phase == Phase::Headers)
    }
}

/// The termination code of an exchange that reached `phase` and ended with `end` (HAProxy's
/// two characters: the cause, then the phase; `--` for a normal end).
pub fn term_code(end: Option<Outcome>, phase: Phase) -> [u8; 2] {
    let Some(o) = end else {
        return *b"--";
    };
    let cause = match (o.fault, o.timeout) {
        (Fault::Client, false) => b'C',
        (Fault::Client, true) => b'c',
        (Fault::Server, false) => b'S',
        (Fault::Server, true) => b's',
        (Fault::Proxy, _) => b'P',
    };
    [cause, phase.letter()]
}

/// What one exchange did, for counters and the access log.
pub struct Exchange {
    /// First byte of the request (HTTP) or the accept (TCP), on the loop clock
    /// (`runtime::now`: read once per loop iteration, not once per timestamp). The wall-clock
    /// time of the log line is derived from it when a line is written.
    pub start: Instant,
    /// Request head complete.
    pub head_at: Option<Instant>,
    pub tw: Option<Duration>,
    pub tc: Option<Duration>,
    pub tr: Option<Duration>,
    /// The request went to the server: the response time counts from here.
    pub sent_at: Option<Instant>,
    /// The response status (ringlb's own or the server's); 0 while there is none.
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Of these, the bytes a tunnel already added to the counters while it ran.
    pub metered_in: u64,
    pub metered_out: u64,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub retries: u32,
    pub phase: Phase,
    /// How it ended early; `None` for a normal end.
    pub end: Option<Outcome>,
    /// ringlb answered with its own 4xx.
    pub own_error: bool,
    pub request_line: String,
}

impl Exchange {
    pub fn begin() -> Exchange {
        Exchange {
            start: crate::runtime::now(),
            head_at: None,
            tw: None,
            tc: None,
            tr: None,
            sent_at: None,
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            metered_in: 0,
            metered_out: 0,
            backend: None,
            server: None,
            retries: 0,
            phase: Phase::Request,
            end: None,
            own_error: false,
            request_line: String::new(),
        }
    }

    /// Records that the exchange got to `phase` (never backwards).
    pub fn reach(&mut self, phase: Phase) {
        self.phase = self.phase.max(phase);
    }

    /// Records an early end (and the status ringlb answers, if any). Charges `server` with a
    /// response error where the outcome says so.
    pub fn end_with(&mut self, o: Outcome, server: Option<&ServerRt>) {
        if o.status != 0 {
            self.status = o.status;
            self.own_error = o.status < 500;
        }
        if o.response_error(self.phase) {
            if let Some(srv) = server {
                srv.state.response_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.end = Some(o);
    }

    pub fn term(&self) -> [u8; 2] {
        term_code(self.end, self.phase)
    }

    /// The backend and server this exchange went to, in `snap`.
    pub fn target<'s>(&self, snap: &'s Snapshot) -> (Option<&'s BackendRt>, Option<&'s ServerRt>) {
        let be = self.backend.and_then(|b| snap.backends.get(b));
        let srv = be.and_then(|b| self.server.and_then(|i| b.servers.get(i)));
        (be, srv)
    }

    /// Adds the exchange to the frontend's and server's counters (bytes a tunnel metered
    /// already are left out).
    pub fn count(&self, snap: &Snapshot, fe: &FrontendRt) {
        let bytes_out = self.bytes_out.saturating_sub(self.metered_out);
        let bytes_in = self.bytes_in.saturating_sub(self.metered_in);
        fe.state.bytes_out.add(bytes_out);
        fe.state.bytes_in.add(bytes_in);
        if self.status != 0 {
            fe.state.responses.count(self.status);
        }
        if self.own_error {
            fe.state.req_errors.add(1);
        }
        if let (_, Some(srv)) = self.target(snap) {
            srv.state.bytes_out.add(bytes_out);
            srv.state.bytes_in.add(bytes_in);
        }
    }

    /// The access log record of this exchange (HTTP or TCP format alike).
    pub fn record(
        &self,
        snap: &Snapshot,
        fe: &FrontendRt,
        local: &Local,
        client: Option<SocketAddr>,
    ) -> Record {
        let (be, srv) = self.target(snap);
        let beconn = be
            .map(|b| {
                b.servers
                    .iter()
                    .map(|s| s.state.inflight.load(Ordering::Relaxed))
                    .sum()
            })
            .unwrap_or(0);
        let now = crate::runtime::now();
        let age = now.saturating_duration_since(self.start);
        Record {
            client,
            start: SystemTime::now().checked_sub(age).unwrap_or(UNIX_EPOCH),
            frontend: fe.name.clone(),
            backend: be.map_or_else(|| fe.name.clone(), |b| b.name.clone()),
            server: srv.map(|s| s.name.clone()),
            tq: self
                .head_at
                .map(|h| h.saturating_duration_since(self.start)),
            tw: self.tw,
            tc: self.tc,
            tr: self.tr,
            ta: age,
            status: self.status,
            bytes: self.bytes_out,
            term: self.term(),
            actconn: local.sessions.get() as u32,
            feconn: fe.state.conns.load(Ordering::Relaxed),
            beconn,
            srvconn: srv.map_or(0, |s| s.state.inflight.load(Ordering::Relaxed)),
            retries: self.retries,
            srv_queue: 0,
            backend_queue: 0,
            request_line: self.request_line.clone(),
            tls: None,
        }
    }
}

/// The client connection's TLS as a log line shows it.
pub fn log_tls(info: &crate::transport::TlsInfo) -> crate::log::format::TlsFields {
    crate::log::format::TlsFields {
        sni: info.sni.clone(),
        version: info.version,
        cipher: info.cipher,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_cause_and_phase() {
        assert_eq!(&term_code(None, Phase::Data), b"--");
        let bad = Outcome::refused(400, true);
        assert_eq!(&term_code(Some(bad), Phase::Request), b"PR");
        assert_eq!(
            &term_code(Some(Outcome::client_timeout(true)), Phase::Request),
            b"cR"
        );
        assert_eq!(
            &term_code(Some(Outcome::server_timeout(504)), Phase::Headers),
            b"sH"
        );
        assert_eq!(
            &term_code(Some(Outcome::server_error(503)), Phase::Connect),
            b"SC"
        );
        assert_eq!(
            &term_code(Some(Outcome::server_timeout(503)), Phase::Queue),
            b"sQ"
        );
        assert_eq!(
            &term_code(Some(Outcome::client_closed()), Phase::Data),
            b"CD"
        );
    }

    #[test]
    fn silence_before_the_response_head_is_no_response_error() {
        assert!(!Outcome::server_timeout(504).response_error(Phase::Headers));
        assert!(Outcome::server_timeout(0).response_error(Phase::Data));
        assert!(Outcome::server_error(502).response_error(Phase::Headers));
        assert!(!Outcome::server_error(503).response_error(Phase::Connect));
        assert!(!Outcome::client_closed().response_error(Phase::Data));
    }
}
