//! Plain TCP: the ring's socket operations as they are.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Chunk, Transport};
use crate::runtime::{Conn, Recv};

/// A receive into a provided buffer, yielding it as a [`Chunk`] (no copy, no extra state: an
/// idle session's future holds one).
pub struct PlainRecv(Recv);

impl Future for PlainRecv {
    type Output = io::Result<Option<Chunk>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|got| got.map(|b| b.map(Chunk::Pool)))
    }
}

impl Transport for Conn {
    fn recv(&self) -> impl Future<Output = io::Result<Option<Chunk>>> {
        PlainRecv(self.recv_op())
    }

    /// Zero-copy where the worker's lever says so (`Conn::send_relay`); a buffer the kernel
    /// still holds comes back as an empty chunk.
    async fn send(&self, buf: Chunk) -> (io::Result<()>, Chunk) {
        let (r, back) = self.send_relay(buf).await;
        (r, back.unwrap_or(Chunk::Static(b"")))
    }

    fn send_two(
        &self,
        head: Vec<u8>,
        body: Chunk,
    ) -> impl Future<Output = (io::Result<()>, Vec<u8>, Chunk)> {
        Conn::send_two(self, head, body)
    }

    /// One vectored send, unless relays send zero-copy (`Conn::send_relay`, one by one).
    async fn send_gather(&self, chunks: Vec<Chunk>) -> (io::Result<()>, Vec<Chunk>) {
        if crate::runtime::zero_copy_relay() {
            return super::send_each(self, chunks).await;
        }
        self.send_vectored(chunks).await
    }

    fn recv_ready(&self) -> Option<Chunk> {
        self.received().map(Chunk::Pool)
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        Conn::shutdown_write(self).await
    }
}
