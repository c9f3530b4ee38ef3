//! A transport whose first bytes were already received (read to tell an h2 preface from an
//! HTTP/1.1 request on a plain listener): they come out of the first `recv`.

use std::cell::Cell;
use std::io;

use super::{Chunk, TlsInfo, Transport};

pub struct Prefixed<T> {
    first: Cell<Option<Chunk>>,
    inner: T,
}

impl<T> Prefixed<T> {
    pub fn new(first: Chunk, inner: T) -> Prefixed<T> {
        Prefixed {
            first: Cell::new(Some(first)),
            inner,
        }
    }
}

impl<T: Transport> Transport for Prefixed<T> {
    async fn recv(&self) -> io::Result<Option<Chunk>> {
        match self.first.take() {
            Some(c) => Ok(Some(c)),
            None => self.inner.recv().await,
        }
    }

    fn send(&self, buf: Chunk) -> impl std::future::Future<Output = (io::Result<()>, Chunk)> {
        self.inner.send(buf)
    }

    fn send_two(
        &self,
        head: Vec<u8>,
        body: Chunk,
    ) -> impl std::future::Future<Output = (io::Result<()>, Vec<u8>, Chunk)> {
        self.inner.send_two(head, body)
    }

    fn send_gather(
        &self,
        chunks: Vec<Chunk>,
    ) -> impl std::future::Future<Output = (io::Result<()>, Vec<Chunk>)> {
        self.inner.send_gather(chunks)
    }

    fn shutdown_write(&self) -> impl std::future::Future<Output = io::Result<()>> {
        self.inner.shutdown_write()
    }

    fn tls(&self) -> Option<&TlsInfo> {
        self.inner.tls()
    }
}
