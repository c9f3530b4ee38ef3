//! Frames that carry requests: HEADERS and CONTINUATION (a header block becomes a session,
//! or trailers that end a body, or a refusal) and DATA (a request body, under flow control).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::conn::{Block, Close, Conn, CONN_WINDOW};
use super::core::Stream;
use super::stream::H2Stream;
use crate::h2::conv::{Refusal, RequestBuilder};
use crate::h2::frame::{self, ErrorCode, Head};
use crate::h2::{hpack, Limit};
use crate::proxy::Accepted;
use crate::runtime;

impl Conn {
    pub(super) fn data(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        if head.stream == 0 || head.stream > self.last_stream {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        }
        let len = payload.len() as i64;
        self.recv_window -= len;
        if self.recv_window < 0 {
            return Err(Close::Goaway(ErrorCode::FlowControlError));
        }
        // The connection window is granted back as DATA arrives: the streams' windows bound
        // what waits for sessions.
        self.recv_unacked += len;
        let mut st = self.core.st.borrow_mut();
        if self.recv_unacked >= CONN_WINDOW / 2 {
            frame::put_window_update(&mut st.out, 0, self.recv_unacked as u32);
            self.recv_window += self.recv_unacked;
            self.recv_unacked = 0;
            st.wake_writer();
        }
        let Some(data) = frame::unpad(head.flags, payload) else {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        };
        let end = head.has(frame::END_STREAM);
        let early = st.was_closed_early(head.stream);
        let verdict = match st.stream(head.stream) {
            // Sent before the client learnt that ringlb closed the stream.
            None if early => None,
            None => Some(ErrorCode::StreamClosed),
            Some(s) if s.reset => None,
            Some(s) if s.end => Some(ErrorCode::StreamClosed),
            Some(s) => {
                s.recv_window -= len;
                // Padding is granted back with the data it came with.
                s.unacked = s
                    .unacked
                    .saturating_add((payload.len() - data.len()) as u32);
                s.received += data.len() as u64;
                let over = s.content_length.is_some_and(|n| s.received > n);
                let short = end && s.content_length.is_some_and(|n| s.received != n);
                if s.recv_window < 0 {
                    Some(ErrorCode::FlowControlError)
                } else if over || short {
                    Some(ErrorCode::ProtocolError)
                } else {
                    if !data.is_empty() {
                        s.data.push_back(data.to_vec());
                    }
                    s.end = end;
                    if let Some(w) = s.recv_waker.take() {
                        w.wake();
                    }
                    None
                }
            }
        };
        if let Some(code) = verdict {
            st.reset(head.stream, code);
        }
        Ok(())
    }

    pub(super) fn headers(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        let proto = Err(Close::Goaway(ErrorCode::ProtocolError));
        if head.stream == 0 || head.stream.is_multiple_of(2) {
            return proto;
        }
        let Some(mut block) = frame::unpad(head.flags, payload) else {
            return proto;
        };
        let mut refuse = None;
        if head.has(frame::PRIORITY_FLAG) {
            // Priority signals are ignored (RFC 9113 §5.3.2), but a stream may not depend
            // on itself.
            if frame::u32_at(block) & 0x7fff_ffff == head.stream {
                refuse = Some(ErrorCode::ProtocolError);
            }
            let Some(rest) = block.get(5..) else {
                return Err(Close::Goaway(ErrorCode::FrameSizeError));
            };
            block = rest;
        }
        let end_stream = head.has(frame::END_STREAM);
        let trailers = head.stream <= self.last_stream;
        if trailers {
            let st = self.core.st.borrow();
            let open = st.index(head.stream).is_some();
            if open && !end_stream {
                // A second HEADERS on a stream must be trailers, which end it.
                return proto;
            }
            if !open && !st.was_closed_early(head.stream) {
                // An id below one already used (RFC 9113 §5.1.1), or a closed stream.
                return proto;
            }
        }
        if !trailers {
            self.last_stream = head.stream;
        }
        let b = Block {
            stream: head.stream,
            end_stream,
            buf: block.to_vec(),
            continuations: 0,
            started: Instant::now(),
            trailers,
            refuse,
        };
        if head.has(frame::END_HEADERS) {
            self.finish_block(b)
        } else {
            self.block = Some(b);
            Ok(())
        }
    }

    pub(super) fn continuation(&mut self, head: Head, payload: &[u8]) -> Result<(), Close> {
        let Some(mut b) = self.block.take() else {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        };
        if b.stream != head.stream {
            return Err(Close::Goaway(ErrorCode::ProtocolError));
        }
        b.continuations += 1;
        let cfg = self.core.cfg;
        if b.continuations > cfg.max_continuation_frames {
            return Err(Close::Limit(
                Limit::Continuation,
                ErrorCode::EnhanceYourCalm,
            ));
        }
        // The compressed block may not outgrow the decoded list it stands for by much: past
        // that it is refused before being decoded.
        let cap = (cfg.max_header_list_size as usize).max(frame::MAX_FRAME) * 2;
        if b.buf.len() + payload.len() > cap {
            return Err(Close::Limit(Limit::HeaderList, ErrorCode::EnhanceYourCalm));
        }
        b.buf.extend_from_slice(payload);
        if head.has(frame::END_HEADERS) {
            self.finish_block(b)
        } else {
            self.block = Some(b);
            Ok(())
        }
    }

    /// A complete header block: trailers end their stream, a request opens a session.
    fn finish_block(&mut self, b: Block) -> Result<(), Close> {
        let cfg = self.core.cfg;
        let mut req = RequestBuilder::default();
        let within = match self
            .decoder
            .decode(&b.buf, cfg.max_header_list_size as usize, |n, v| {
                if !b.trailers {
                    req.field(n, v)
                }
            }) {
            Ok(w) => w,
            Err(hpack::CompressionError) => return Err(Close::Goaway(ErrorCode::CompressionError)),
        };
        let id = b.stream;
        let mut st = self.core.st.borrow_mut();
        if b.trailers {
            // Trailers are not forwarded: they end the request body.
            if let Some(s) = st.stream(id) {
                if s.content_length.is_some_and(|n| s.received != n) {
                    st.reset(id, ErrorCode::ProtocolError);
                } else if !s.end {
                    s.end = true;
                    if let Some(w) = s.recv_waker.take() {
                        w.wake();
                    }
                }
            }
            return Ok(());
        }
        if let Some(code) = b.refuse {
            st.reset(id, code);
            return Ok(());
        }
        if self.goaway_sent {
            // Not processed: the client may send it again on a new connection.
            st.reset(id, ErrorCode::RefusedStream);
            return Ok(());
        }
        if self
            .accepted
            .frontend
            .resolve(&self.accepted.cell.load())
            .is_none()
        {
            // A reload removed the frontend: the connection goes away, the stream was not
            // processed.
            st.reset(id, ErrorCode::RefusedStream);
            drop(st);
            self.goaway(ErrorCode::NoError);
            return Ok(());
        }
        if !within {
            drop(st);
            self.core
                .limit(Limit::HeaderList, &format_args!("stream {id} answered 431"));
            self.answer(id, 431, b.end_stream);
            return Ok(());
        }
        if st.streams.len() >= cfg.max_concurrent_streams as usize {
            st.reset(id, ErrorCode::RefusedStream);
            drop(st);
            self.core.limit(
                Limit::ConcurrentStreams,
                &format_args!("stream {id} refused (REFUSED_STREAM)"),
            );
            return Ok(());
        }
        drop(st);
        let request = match req.finish(b.end_stream) {
            Ok(r) => r,
            Err(Refusal::Malformed(_)) => {
                self.core
                    .st
                    .borrow_mut()
                    .reset(id, ErrorCode::ProtocolError);
                return Ok(());
            }
            Err(Refusal::Status(status)) => {
                self.answer(id, status, b.end_stream);
                return Ok(());
            }
        };
        let mut st = self.core.st.borrow_mut();
        let mut s = Stream::new(id, st.peer_window, i64::from(cfg.initial_window_size));
        s.end = b.end_stream;
        s.content_length = request.content_length;
        st.streams.push(s);
        drop(st);
        self.last_processed = id;
        self.core
            .counters
            .h2
            .streams
            .fetch_add(1, Ordering::Relaxed);
        let accepted = Accepted {
            local: self.accepted.local.clone(),
            cell: self.accepted.cell.clone(),
            frontend: self.accepted.frontend.clone(),
            peer: self.accepted.peer,
            dst: self.accepted.dst.clone(),
            track: None,
        };
        let stream = H2Stream::new(self.core.clone(), id, request);
        let _ = runtime::spawn(crate::proxy::http::serve(accepted, stream));
        Ok(())
    }

    /// Answers stream `id` with a bodiless `status` (a request not forwarded).
    fn answer(&mut self, id: u32, status: u16, ended: bool) {
        let mut block = Vec::new();
        hpack::encode_status(&mut block, status);
        hpack::encode_field(&mut block, b"content-length", b"0");
        let mut st = self.core.st.borrow_mut();
        let max = st.peer_max_frame;
        frame::put_headers(&mut st.out, id, &block, true, max);
        if !ended {
            frame::put_rst(&mut st.out, id, ErrorCode::NoError);
        }
        st.wake_writer();
    }
}
