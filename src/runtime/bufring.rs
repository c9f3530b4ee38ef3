//! The provided-buffer ring: receive buffers the kernel picks at completion time, so a
//! connection waiting for data holds no buffer at all.
//!
//! One ring (buffer group 0) per worker. A buffer handed out by a receive completion is a
//! [`PBuf`]; dropping the `PBuf` gives it back to the ring.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use super::executor::try_with_cx;

/// The buffer group id receives select from.
pub(crate) const BGID: u16 = 0;

pub(crate) struct BufRing {
    ring: NonNull<BufRingEntry>,
    ring_bytes: usize,
    bufs: NonNull<u8>,
    bufs_bytes: usize,
    entries: u16,
    buf_size: u32,
    /// Our copy of the tail; published to the kernel after each push.
    tail: u16,
    /// Buffers currently handed out (for stats and leak checks).
    pub(crate) out: u32,
}

fn mmap(bytes: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

impl BufRing {
    pub(crate) fn new(ring: &IoUring, entries: u16, buf_size: u32) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count must be a power of two ≤ 32768",
            ));
        }
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        let ring_mem = mmap(ring_bytes)?;
        let bufs_bytes = entries as usize * buf_size as usize;
        let bufs = match mmap(bufs_bytes) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: unmapping the region mapped just above, unused since.
                unsafe { libc::munmap(ring_mem.as_ptr().cast(), ring_bytes) };
                return Err(e);
            }
        };
        let mut br = BufRing {
            ring: ring_mem.cast(),
            ring_bytes,
            bufs,
            bufs_bytes,
            entries,
            buf_size,
            tail: 0,
            out: entries as u32,
        };
        // SAFETY: the ring memory is page aligned (mmap), sized for `entries`, and stays mapped
        // until this BufRing drops, which happens after the io_uring is closed (see `Cx`).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                ring_mem.as_ptr() as u64,
                entries,
                BGID,
                0,
            )?
        };
        for bid in 0..entries {
            br.push(bid);
        }
        Ok(br)
    }

    pub(crate) fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// More than half of the buffers are with the kernel: a connection may keep several
    /// queued unread for a moment (see `multishot`) without starving the others.
    pub(crate) fn roomy(&self) -> bool {
        self.out < u32::from(self.entries) / 2
    }

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn push(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let mask = self.entries - 1;
        // SAFETY: `tail & mask` < entries, inside the mapped ring; the kernel reads an entry only
        // after the tail store below publishes it.
        unsafe {
            let entry = &mut *self.ring.as_ptr().add((self.tail & mask) as usize);
            entry.set_addr(
                self.bufs
                    .as_ptr()
                    .add(bid as usize * self.buf_size as usize) as u64,
            );
            entry.set_len(self.buf_size);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field lives in the first entry of the mapped ring; the kernel reads it
        // concurrently, hence the atomic release store.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
        self.out = self.out.saturating_sub(1);
    }

    /// Takes ownership of buffer `bid` that a completion reported filled with `len` bytes.
    pub(crate) fn take(&mut self, bid: u16, len: u32) -> PBuf {
        self.out += 1;
        let len = len.min(self.buf_size);
        // SAFETY: bid < entries (the kernel only reports ids we pushed), so the offset is inside
        // the buffer mapping.
        let base = unsafe {
            self.bufs
                .as_ptr()
                .add(bid.min(self.entries - 1) as usize * self.buf_size as usize)
        };
        PBuf {
            base,
            bid,
            start: 0,
            end: len,
            cap: 0,
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both regions were mapped in `new` with these sizes; the ring that used them is
        // closed before `Cx` drops this field.
        unsafe {
            libc::munmap(self.ring.as_ptr().cast(), self.ring_bytes);
            libc::munmap(self.bufs.as_ptr().cast(), self.bufs_bytes);
        }
    }
}

/// Returns a buffer id to this thread's ring (used for completions nobody reads).
pub(crate) fn recycle(bid: u16) {
    try_with_cx(|cx| {
        if let Ok(mut b) = cx.bufs.try_borrow_mut() {
            if let Some(b) = b.as_mut() {
                b.push(bid);
            }
        }
    });
}

/// A received buffer from the worker's ring: `[start, end)` are the unread bytes.
/// Dropping it returns the buffer to the kernel.
///
/// It may instead hold a heap copy of received bytes (`bid` is [`HEAP_BID`]; a multishot
/// receive copies what arrives while nobody reads, see `multishot`), so readers never tell
/// the two apart.
pub struct PBuf {
    base: *mut u8,
    bid: u16,
    start: u32,
    end: u32,
    /// Length of the heap allocation of a heap copy; 0 for a ring buffer.
    cap: u32,
}

/// The `bid` of a heap copy: never a ring buffer's (a ring has at most 32768).
const HEAP_BID: u16 = u16::MAX;

impl PBuf {
    /// Holds no bytes and no buffer.
    pub(crate) fn empty() -> PBuf {
        PBuf {
            base: std::ptr::NonNull::<u8>::dangling().as_ptr(),
            bid: HEAP_BID,
            start: 0,
            end: 0,
            cap: 0,
        }
    }

    /// Whether this is a buffer of the ring (not a heap copy).
    pub(crate) fn is_pool(&self) -> bool {
        self.bid != HEAP_BID
    }

    /// The unread bytes copied to the heap; a ring buffer goes back to the ring at once.
    pub(crate) fn into_heap(self) -> PBuf {
        if !self.is_pool() {
            return self;
        }
        let bytes: Box<[u8]> = self.as_slice().into();
        let cap = bytes.len() as u32;
        if cap == 0 {
            return PBuf::empty();
        }
        PBuf {
            base: Box::into_raw(bytes).cast::<u8>(),
            bid: HEAP_BID,
            start: 0,
            end: cap,
            cap,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the kernel filled [0, end) and does not touch this buffer until it is pushed
        // back, which only Drop does; the mapping outlives every PBuf (runtime teardown order).
        unsafe {
            std::slice::from_raw_parts(
                self.base.add(self.start as usize),
                (self.end - self.start) as usize,
            )
        }
    }

    /// The unread bytes, writable: a TLS record is decrypted where it lies.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; `&mut self` makes this the only view of the buffer, which
        // the kernel does not write until Drop pushes it back.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.add(self.start as usize),
                (self.end - self.start) as usize,
            )
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Forgets the first `n` unread bytes (they were consumed or sent).
    pub fn advance(&mut self, n: usize) {
        self.start = (self.start + n.min(self.len()) as u32).min(self.end);
    }

    /// Keeps only the first `n` unread bytes.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.end = self.start + n as u32;
        }
    }

    pub(crate) fn ptr(&self) -> *const u8 {
        // SAFETY: start ≤ end ≤ buffer size, inside this buffer.
        unsafe { self.base.add(self.start as usize) }
    }
}

impl Drop for PBuf {
    fn drop(&mut self) {
        if self.is_pool() {
            recycle(self.bid);
        } else if self.cap > 0 {
            let bytes = std::ptr::slice_from_raw_parts_mut(self.base, self.cap as usize);
            // SAFETY: `base` and `cap` are those of the boxed slice `into_heap` leaked, and
            // nothing else frees it.
            drop(unsafe { Box::from_raw(bytes) });
        }
    }
}

impl std::fmt::Debug for PBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PBuf")
            .field("bid", &self.bid)
            .field("len", &self.len())
            .finish()
    }
}
