//! One h2 stream as a [`Transport`]: the HTTP/1.1 session reads the request as a head (made
//! from the HEADERS) and a body (the DATA payloads, chunk-encoded when the request had no
//! `content-length`), and writes an HTTP/1.1 response that becomes HEADERS and DATA frames.
//! Flow control is the backpressure both ways: the client's window is granted back only as
//! the session takes the body, and a response waits for the client's windows and for the
//! connection's writer.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::Poll;

use super::core::{Core, LimitLog, OUT_HIGH};
use crate::h2::frame::{self, ErrorCode};
use crate::h2::{conv, Limit};
use crate::http::{parse_response, BodyState, Method, ResponseHead};
use crate::runtime;
use crate::transport::{Chunk, TlsInfo, Transport};

/// The HTTP/1.1 response the session writes, as it is turned into frames.
#[derive(Default)]
struct Resp {
    /// Bytes of a head not yet complete.
    head: Vec<u8>,
    /// The final head went out: how its body is delimited.
    body: Option<BodyState>,
    /// END_STREAM went out (or will, with the body's last bytes).
    ended: bool,
}

pub struct H2Stream {
    core: Rc<Core>,
    /// Where its limit hits are logged.
    log: LimitLog,
    id: u32,
    /// The request head, until the session's first `recv` takes it.
    head: Cell<Option<Vec<u8>>>,
    /// The body is handed over chunk-encoded (the request had no `content-length`).
    chunked: bool,
    /// The last chunk went to the session.
    chunk_end: Cell<bool>,
    head_method: bool,
    resp: RefCell<Resp>,
    /// The session's parse of the response head its next send starts with
    /// ([`Transport::response_head`]).
    parsed: Cell<Option<ResponseHead>>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "h2 stream reset")
}

impl H2Stream {
    pub(super) fn new(core: Rc<Core>, log: LimitLog, id: u32, req: conv::Request) -> H2Stream {
        H2Stream {
            core,
            log,
            id,
            head: Cell::new(Some(req.head)),
            chunked: req.chunked,
            chunk_end: Cell::new(false),
            head_method: req.head_method,
            resp: RefCell::new(Resp::default()),
            parsed: Cell::new(None),
        }
    }

    /// Turns response bytes into HEADERS frames (queued now) and body payload (returned, to
    /// be sent under flow control), with whether the body ends with it.
    fn convert(&self, bytes: &[u8]) -> io::Result<(Vec<u8>, bool)> {
        let mut resp = self.resp.borrow_mut();
        if resp.ended {
            return Ok((Vec::new(), false));
        }
        let leftover;
        let rest: &[u8] = if resp.body.is_some() {
            bytes
        } else {
            resp.head.extend_from_slice(bytes);
            let method = if self.head_method {
                Method::Head
            } else {
                Method::Get
            };
            let mut parsed = self.parsed.take();
            loop {
                // The session's own parse when it gave one for these bytes (its head ends
                // where it says), else the bytes parsed here.
                let given = parsed.take().filter(|h| {
                    h.head_len >= 4
                        && resp.head.get(h.head_len - 4..h.head_len) == Some(b"\r\n\r\n")
                });
                let h = match given {
                    Some(h) => h,
                    None => match parse_response(&resp.head, method, &crate::proxy::http::LIMITS) {
                        Ok(Some(h)) => h,
                        Ok(None) => return Ok((Vec::new(), false)),
                        Err(_) => return Err(io::Error::other("response head not understood")),
                    },
                };
                if h.status == 101 {
                    return Err(io::Error::other("101 on an h2 stream"));
                }
                let body = (!h.informational).then(|| BodyState::new(h.framing));
                let done = body.as_ref().is_some_and(BodyState::is_done);
                self.queue_headers(&resp.head, &h, done)?;
                let at = h.head_len.min(resp.head.len());
                let rest = resp.head.split_off(at);
                let Some(body) = body else {
                    resp.head = rest;
                    continue;
                };
                resp.head = Vec::new();
                resp.body = Some(body);
                if done {
                    resp.ended = true;
                    return Ok((Vec::new(), false));
                }
                leftover = rest;
                break;
            }
            &leftover
        };
        let mut data = Vec::new();
        let Some(body) = resp.body.as_mut() else {
            return Ok((data, false));
        };
        let p = body
            .feed_with(rest, |d| data.extend_from_slice(d))
            .map_err(|_| io::Error::other("response body framing"))?;
        if p.done {
            resp.ended = true;
        }
        Ok((data, p.done))
    }

    /// Queues the response head at the start of `buf` (read into `head`) as HEADERS, encoded
    /// here so that blocks reach the client in the order the encoder's table changed.
    fn queue_headers(&self, buf: &[u8], head: &ResponseHead, end: bool) -> io::Result<()> {
        let mut st = self.core.st.borrow_mut();
        if st.dead {
            return Err(gone());
        }
        let max = st.peer_max_frame;
        let Some(s) = st.stream(self.id) else {
            return Err(gone());
        };
        if s.reset {
            return Err(gone());
        }
        if end {
            s.local_end = true;
        }
        let st = &mut *st;
        let mut block = Vec::new();
        conv::response_block(buf, head, &mut st.encoder, &mut block);
        frame::put_headers(&mut st.out, self.id, &block, end, max);
        st.wake_writer();
        Ok(())
    }

    /// Sends `data` as DATA frames as the windows allow (END_STREAM on the last when `end`).
    /// A window that stays shut for `zero_window_timeout` resets the stream.
    async fn send_data(&self, data: &[u8], end: bool) -> io::Result<()> {
        let mut off = 0usize;
        loop {
            let step = poll_fn(|cx| {
                let mut st = self.core.st.borrow_mut();
                if st.dead {
                    return Poll::Ready(Err(gone()));
                }
                let Some(i) = st.index(self.id) else {
                    return Poll::Ready(Err(gone()));
                };
                let conn_window = st.send_window;
                let max_frame = st.peer_max_frame;
                let st = &mut *st;
                let Some(s) = st.streams.get_mut(i) else {
                    return Poll::Ready(Err(gone()));
                };
                if s.reset {
                    return Poll::Ready(Err(gone()));
                }
                let rest = data.get(off..).unwrap_or_default();
                if rest.is_empty() {
                    if end {
                        frame::put_data(&mut st.out, self.id, &[], true, max_frame);
                        s.local_end = true;
                        st.wake_writer();
                    }
                    return Poll::Ready(Ok(true));
                }
                let window = s.send_window.min(conn_window);
                if window <= 0 {
                    s.send_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                let n = rest.len().min(window as usize);
                let last = n == rest.len();
                let chunk = rest.get(..n).unwrap_or_default();
                frame::put_data(&mut st.out, self.id, chunk, last && end, max_frame);
                s.send_window -= n as i64;
                if last && end {
                    s.local_end = true;
                }
                st.send_window -= n as i64;
                off += n;
                st.wake_writer();
                Poll::Ready(Ok(last))
            });
            match runtime::timeout(self.core.cfg.zero_window_timeout, step).await {
                Ok(Ok(true)) => return Ok(()),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    self.log
                        .hit(&self.core, Limit::ZeroWindow, &"stream reset (CANCEL)");
                    self.core.st.borrow_mut().reset(self.id, ErrorCode::Cancel);
                    return Err(gone());
                }
            }
        }
    }

    /// Waits until the connection's output is below [`OUT_HIGH`].
    async fn flushed(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut st = self.core.st.borrow_mut();
            if st.dead {
                return Poll::Ready(Err(gone()));
            }
            if st.out.len() <= OUT_HIGH {
                return Poll::Ready(Ok(()));
            }
            st.flush_waiters.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    async fn send_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let (data, end) = self.convert(bytes)?;
        if !data.is_empty() || end {
            self.send_data(&data, end).await?;
        }
        self.flushed().await
    }
}

impl Transport for H2Stream {
    async fn recv(&self) -> io::Result<Option<Chunk>> {
        if let Some(head) = self.head.take() {
            return Ok(Some(Chunk::Heap(head)));
        }
        poll_fn(|cx| {
            let mut st = self.core.st.borrow_mut();
            let grant_at = self.core.cfg.initial_window_size / 2;
            let Some(i) = st.index(self.id) else {
                return Poll::Ready(Err(gone()));
            };
            let st = &mut *st;
            let Some(s) = st.streams.get_mut(i) else {
                return Poll::Ready(Err(gone()));
            };
            if s.local_end && !s.reset {
                // The response is complete: nothing more of the request is wanted.
                return Poll::Ready(Ok(None));
            }
            if s.reset || st.dead {
                return Poll::Ready(Err(gone()));
            }
            if let Some(d) = s.data.pop_front() {
                s.unacked = s.unacked.saturating_add(d.len() as u32);
                if !s.end && s.unacked >= grant_at {
                    frame::put_window_update(&mut st.out, self.id, s.unacked);
                    s.recv_window += i64::from(s.unacked);
                    s.unacked = 0;
                    st.wake_writer();
                }
                if !self.chunked {
                    return Poll::Ready(Ok(Some(Chunk::Heap(d))));
                }
                let mut c = format!("{:x}\r\n", d.len()).into_bytes();
                c.extend_from_slice(&d);
                c.extend_from_slice(b"\r\n");
                return Poll::Ready(Ok(Some(Chunk::Heap(c))));
            }
            if s.end {
                if self.chunked && !self.chunk_end.replace(true) {
                    // The last chunk, with the request's trailers when it had some.
                    let Some(t) = s.trailers.take() else {
                        return Poll::Ready(Ok(Some(Chunk::Static(b"0\r\n\r\n"))));
                    };
                    let mut c = Vec::with_capacity(t.len() + 5);
                    c.extend_from_slice(b"0\r\n");
                    c.extend_from_slice(&t);
                    c.extend_from_slice(b"\r\n");
                    return Poll::Ready(Ok(Some(Chunk::Heap(c))));
                }
                return Poll::Ready(Ok(None));
            }
            s.recv_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    async fn send(&self, buf: Chunk) -> (io::Result<()>, Chunk) {
        let r = self.send_bytes(buf.as_slice()).await;
        (r, buf)
    }

    async fn send_two(&self, head: Vec<u8>, body: Chunk) -> (io::Result<()>, Vec<u8>, Chunk) {
        let mut r = self.send_bytes(&head).await;
        if r.is_ok() {
            r = self.send_bytes(body.as_slice()).await;
        }
        (r, head, body)
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        let until_close = {
            let resp = self.resp.borrow();
            !resp.ended && matches!(resp.body, Some(BodyState::UntilClose))
        };
        if until_close {
            self.resp.borrow_mut().ended = true;
            return self.send_data(&[], true).await;
        }
        Ok(())
    }

    fn tls(&self) -> Option<&TlsInfo> {
        self.core.tls.as_deref()
    }

    fn is_h2(&self) -> bool {
        true
    }

    fn response_head(&self, head: &ResponseHead) {
        self.parsed.set(Some(*head));
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        let resp = self.resp.get_mut();
        let until_close = !resp.ended && matches!(resp.body, Some(BodyState::UntilClose));
        let mut st = self.core.st.borrow_mut();
        let Some(i) = st.index(self.id) else {
            return;
        };
        let s = st.streams.swap_remove(i);
        if !st.dead {
            if !s.local_end && !s.reset {
                if until_close {
                    // The body ran until the server closed, and it did: that is its end.
                    frame::put_data(&mut st.out, self.id, &[], true, frame::MAX_FRAME);
                    if !s.end {
                        frame::put_rst(&mut st.out, self.id, ErrorCode::NoError);
                    }
                } else {
                    // The exchange ended without a complete response.
                    frame::put_rst(&mut st.out, self.id, ErrorCode::InternalError);
                }
                if !s.end {
                    st.closed_early(self.id);
                }
            } else if !s.end && !s.reset {
                // The response is complete and the request is not: the client may stop
                // sending it (RFC 9113 §8.1).
                frame::put_rst(&mut st.out, self.id, ErrorCode::NoError);
                st.closed_early(self.id);
            }
            st.closed(self.id);
            st.wake_writer();
        }
        st.wake_conn();
    }
}
