//! Receive staging: the bytes received from one side and not consumed yet.

use crate::runtime::PBuf;
use crate::transport::{Chunk, Transport};

/// Bytes received and not consumed yet: in a provided buffer (the common case, no copy) or, when
/// a head spans several receives or bytes must outlive their buffer, gathered on the heap.
#[derive(Default)]
pub(super) struct Input {
    pbuf: Option<PBuf>,
    carry: Vec<u8>,
}

impl Input {
    pub fn slice(&self) -> &[u8] {
        if !self.carry.is_empty() {
            &self.carry
        } else if let Some(p) = &self.pbuf {
            p.as_slice()
        } else {
            &[]
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slice().is_empty()
    }

    pub fn consume(&mut self, n: usize) {
        if !self.carry.is_empty() {
            let n = n.min(self.carry.len());
            self.carry.drain(..n);
            if self.carry.is_empty() {
                // An idle connection keeps no heap buffer.
                self.carry = Vec::new();
            }
        } else if let Some(p) = self.pbuf.as_mut() {
            p.advance(n);
            if p.is_empty() {
                self.pbuf = None;
            }
        }
    }

    pub fn push(&mut self, chunk: Chunk) {
        if self.is_empty() {
            self.pbuf = None;
            match chunk {
                Chunk::Pool(p) => {
                    self.carry = Vec::new();
                    self.pbuf = Some(p);
                }
                Chunk::Heap(v) => self.carry = v,
                Chunk::Static(s) => self.carry = s.to_vec(),
            }
            return;
        }
        if let Some(p) = self.pbuf.take() {
            self.carry.extend_from_slice(p.as_slice());
        }
        self.carry.extend_from_slice(chunk.as_slice());
    }

    /// Takes the first `n` bytes as a sendable chunk, without copying when they sit alone in a
    /// provided buffer.
    pub fn take(&mut self, n: usize) -> Chunk {
        if !self.carry.is_empty() {
            let n = n.min(self.carry.len());
            let rest = self.carry.split_off(n);
            let head = std::mem::replace(&mut self.carry, rest);
            if self.carry.is_empty() {
                self.carry = Vec::new();
            }
            return Chunk::Heap(head);
        }
        match self.pbuf.take() {
            Some(mut p) => {
                if n < p.len() {
                    self.carry
                        .extend_from_slice(p.as_slice().get(n..).unwrap_or(&[]));
                    p.truncate(n);
                }
                Chunk::Pool(p)
            }
            None => Chunk::Heap(Vec::new()),
        }
    }

    /// Moves unread bytes out of the provided buffer onto the heap, giving the buffer back.
    /// Done before a wait that can be long (a queue, a slow server): a session must not hold a
    /// receive buffer then, or a burst of waiting sessions could hold them all and starve the
    /// sessions that need one to make progress.
    pub fn detach(&mut self) {
        if let Some(p) = self.pbuf.take() {
            if !p.is_empty() {
                self.carry.extend_from_slice(p.as_slice());
            }
        }
    }

    /// Receives more bytes. `Ok(false)` at end of stream.
    pub async fn fill(&mut self, from: &impl Transport) -> std::io::Result<bool> {
        match from.recv().await? {
            Some(b) => {
                self.push(b);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
