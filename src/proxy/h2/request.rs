//! Frames that carry requests: HEADERS and CONTINUATION (a header block becomes a session,
//! or trailers that end a body, or a refusal) and DATA (a request body, under flow control).

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::conn::{Block, Close, Conn, Purpose, CONN_WINDOW};
use super::core::{LimitLog, Stream};
use super::stream::H2Stream;
use crate::h2::conv::{Refusal, RequestBuilder, TrailerBuilder};
use crate::h2::frame::{self, ErrorCode, Head};
use crate::h2::{hpack, Limit};
use crate::http::MAX_TRAILER_SECTION;
use crate::proxy::Accepted;
use crate::runtime;

impl Conn<'_> {
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
        let mut self_dependent = false;
        if head.has(frame::PRIORITY_FLAG) {
            // Priority signals are ignored (RFC 9113 §5.3.2), but a stream may not depend
            // on itself.
            self_dependent = frame::u32_at(block) & 0x7fff_ffff == head.stream;
            let Some(rest) = block.get(5..) else {
                return Err(Close::Goaway(ErrorCode::FrameSizeError));
            };
            block = rest;
        }
        let end_stream = head.has(frame::END_STREAM);
        let mut purpose = if head.stream > self.last_stream {
            self.last_stream = head.stream;
            Purpose::Request
        } else {
            self.known_stream(head.stream, end_stream)?
        };
        if self_dependent && purpose != Purpose::Discard {
            purpose = Purpose::Reset(ErrorCode::ProtocolError);
        }
        let b = Block {
            stream: head.stream,
            end_stream,
            buf: block.to_vec(),
            continuations: 0,
            started: Instant::now(),
            purpose,
        };
        if head.has(frame::END_HEADERS) {
            self.finish_block(b)
        } else {
            self.block = Some(Box::new(b));
            Ok(())
        }
    }

    /// What a HEADERS frame on stream `id`, not above the highest id the client opened, is
    /// for (RFC 9113 §5.1), or the connection error it is.
    fn known_stream(&self, id: u32, end_stream: bool) -> Result<Purpose, Close> {
        let st = self.core.st.borrow();
        if st.was_closed_early(id) {
            // ringlb reset the stream (or answered it) while the client was still sending:
            // what the client sent before it learnt that is dropped (§5.1 "closed").
            return Ok(Purpose::Discard);
        }
        match st.streams.iter().find(|s| s.id == id) {
            // The client reset it, or ended it and ringlb reset it: closed (§5.1).
            Some(s) if s.reset => Err(Close::Goaway(ErrorCode::StreamClosed)),
            // half-closed (remote): the request ended already (§5.1).
            Some(s) if s.end => Ok(Purpose::Reset(ErrorCode::StreamClosed)),
            // A header block after the request's must end the stream: trailers (§8.1).
            Some(_) if !end_stream => Ok(Purpose::Reset(ErrorCode::ProtocolError)),
            Some(_) => Ok(Purpose::Trailers),
            None if st.was_closed(id) => Err(Close::Goaway(ErrorCode::StreamClosed)),
            // An id below one the client already opened, never used (§5.1.1), or a stream
            // closed too long ago to be remembered.
            None => Err(Close::Goaway(ErrorCode::ProtocolError)),
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
            self.finish_block(*b)
        } else {
            self.block = Some(b);
            Ok(())
        }
    }

    /// A complete header block: trailers end their stream, a request opens a session.
    fn finish_block(&mut self, b: Block) -> Result<(), Close> {
        let cfg = self.core.cfg;
        let mut req = RequestBuilder::default();
        let mut trailers = TrailerBuilder::default();
        let within = match self
            .decoder
            .decode(&b.buf, cfg.max_header_list_size as usize, |n, v| {
                match b.purpose {
                    Purpose::Request => req.field(n, v),
                    Purpose::Trailers => trailers.field(n, v),
                    Purpose::Discard | Purpose::Reset(_) => {}
                }
            }) {
            Ok(w) => w,
            Err(hpack::CompressionError) => return Err(Close::Goaway(ErrorCode::CompressionError)),
        };
        let id = b.stream;
        let mut st = self.core.st.borrow_mut();
        match b.purpose {
            Purpose::Request => {}
            Purpose::Discard => return Ok(()),
            Purpose::Reset(code) => {
                st.reset(id, code);
                return Ok(());
            }
            Purpose::Trailers => {
                drop(st);
                self.trailers(id, within, trailers);
                return Ok(());
            }
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
            self.limit(Limit::HeaderList, &format_args!("stream {id} answered 431"));
            self.answer(id, 431, b.end_stream);
            return Ok(());
        }
        if st.streams.len() >= cfg.max_concurrent_streams as usize {
            st.reset(id, ErrorCode::RefusedStream);
            drop(st);
            self.limit(
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
        let log = LimitLog {
            local: self.accepted.local.clone(),
            key: self.accepted.frontend.shared_key(),
            peer: self.accepted.peer,
        };
        let stream = H2Stream::new(self.core.clone(), log, id, request);
        let _ = runtime::spawn(crate::proxy::http::serve(accepted, stream));
        Ok(())
    }

    /// Trailers that end stream `id`'s request: forwarded at the end of a chunked body; a
    /// body sent with `content-length` cannot carry them, so they are dropped, counted and
    /// logged. Malformed ones, or past the header list limit, reset the stream.
    fn trailers(&mut self, id: u32, within: bool, trailers: TrailerBuilder) {
        let section = trailers.finish();
        let mut st = self.core.st.borrow_mut();
        let Some(s) = st.stream(id) else {
            return;
        };
        // Malformed (RFC 9113 §8.1.1), too large for an HTTP/1.1 trailer section, or the
        // DATA short of `content-length`: a stream error, like a malformed request.
        let refused = !within
            || section
                .as_ref()
                .map_or(true, |t| t.len() + 2 > MAX_TRAILER_SECTION)
            || s.content_length.is_some_and(|n| s.received != n);
        if refused {
            st.reset(id, ErrorCode::ProtocolError);
            drop(st);
            if !within {
                self.limit(
                    Limit::HeaderList,
                    &format_args!("stream {id} reset (PROTOCOL_ERROR)"),
                );
            }
            return;
        }
        let section = section.unwrap_or_default();
        let dropped = s.content_length.is_some() && !section.is_empty();
        if !dropped {
            s.trailers = Some(section);
        }
        s.end = true;
        if let Some(w) = s.recv_waker.take() {
            w.wake();
        }
        drop(st);
        if dropped {
            self.core
                .counters
                .h2
                .trailers_dropped
                .fetch_add(1, Ordering::Relaxed);
            self.accepted.local.h2_trailers_dropped(
                self.accepted.frontend.key(),
                self.accepted.peer,
                id,
            );
        }
    }

    /// Answers stream `id` with a bodiless `status` (a request not forwarded).
    fn answer(&mut self, id: u32, status: u16, ended: bool) {
        let mut st = self.core.st.borrow_mut();
        let mut block = Vec::new();
        st.encoder.start(&mut block);
        hpack::encode_status(&mut block, status);
        st.encoder.field(&mut block, b"content-length", b"0");
        let max = st.peer_max_frame;
        frame::put_headers(&mut st.out, id, &block, true, max);
        if ended {
            st.closed(id);
        } else {
            frame::put_rst(&mut st.out, id, ErrorCode::NoError);
            st.closed_early(id);
        }
        st.wake_writer();
    }
}
