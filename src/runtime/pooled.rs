//! A per-worker free list of heap blocks for a future boxed once per request.
//!
//! A request's future (about 3 KiB) is boxed so that an idle keep-alive connection keeps only
//! its session; a block that size is past glibc's per-thread cache, so each request paid a
//! `malloc` and a `free` from the shared bins. [`pooled`] places the future in a block of
//! [`POOLED_BLOCK`] bytes taken from this thread's free list, and the block goes back to the
//! list when the future is dropped. The list keeps at most [`KEEP`] blocks, and gives them
//! all back when the worker trims its heap ([`release_pooled`]); a future that does not fit
//! a block is boxed as before.

use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Bytes of one block: a request's future fits (`a_request_future_stays_small`).
pub const POOLED_BLOCK: usize = 3584;

/// Alignment of a block; a future that needs more is boxed.
const ALIGN: usize = 16;

/// The memory of one block.
#[repr(C, align(16))]
struct Block([u8; POOLED_BLOCK]);

/// Blocks kept for reuse per worker: as many as requests usually in flight on one worker
/// (224 KiB at most); past that, blocks go back to the allocator.
const KEEP: usize = 64;

const LAYOUT: Layout = Layout::new::<Block>();

/// Free blocks, each of [`LAYOUT`], given back to the allocator when the thread ends.
struct FreeList(Vec<NonNull<u8>>);

impl Drop for FreeList {
    fn drop(&mut self) {
        for block in self.0.drain(..) {
            // SAFETY: every block in the list was allocated with `LAYOUT` and is owned by the
            // list alone.
            unsafe { dealloc(block.as_ptr(), LAYOUT) };
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeList> = const { RefCell::new(FreeList(Vec::new())) };
}

/// Gives this worker's free blocks back to the allocator (after a burst of requests ended,
/// before the heap is trimmed).
pub fn release_pooled() {
    let blocks = FREE.try_with(|l| std::mem::take(&mut l.borrow_mut().0));
    drop(blocks.map(FreeList));
}

/// A future in a block of the free list (or, when it does not fit, in a box).
pub struct Pooled<F> {
    inner: Inner<F>,
}

enum Inner<F> {
    /// Owns the `F` at this address, in a block of [`LAYOUT`]; it never moves.
    Block(NonNull<F>),
    Boxed(Pin<Box<F>>),
}

/// `f` on the heap, in a block of this worker's free list where it fits.
pub fn pooled<F: Future>(f: F) -> Pooled<F> {
    let fits = std::mem::size_of::<F>() <= POOLED_BLOCK && std::mem::align_of::<F>() <= ALIGN;
    let block = fits
        .then(|| {
            FREE.try_with(|l| l.borrow_mut().0.pop())
                .ok()
                .flatten()
                // SAFETY: `LAYOUT` has a non-zero size.
                .or_else(|| NonNull::new(unsafe { alloc(LAYOUT) }))
        })
        .flatten();
    let Some(block) = block else {
        return Pooled {
            inner: Inner::Boxed(Box::pin(f)),
        };
    };
    let at = block.cast::<F>();
    // SAFETY: the block is unused, `POOLED_BLOCK` bytes aligned to `ALIGN`, which hold an `F`
    // (checked above); from here `Pooled` owns that `F`.
    unsafe { at.as_ptr().write(f) };
    Pooled {
        inner: Inner::Block(at),
    }
}

impl<F: Future> Future for Pooled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match &mut self.get_mut().inner {
            // SAFETY: the `F` in the block is owned by this `Pooled`, alive until it is
            // dropped, and never moved: pinning it is sound.
            Inner::Block(at) => unsafe { Pin::new_unchecked(at.as_mut()) }.poll(cx),
            Inner::Boxed(b) => b.as_mut().poll(cx),
        }
    }
}

impl<F> Drop for Pooled<F> {
    fn drop(&mut self) {
        let Inner::Block(at) = self.inner else {
            return;
        };
        // SAFETY: the `F` in the block is alive and owned by this `Pooled`, dropped once here.
        unsafe { std::ptr::drop_in_place(at.as_ptr()) };
        let block = at.cast::<u8>();
        let kept = FREE
            .try_with(|l| {
                let mut l = l.borrow_mut();
                (l.0.len() < KEEP).then(|| l.0.push(block)).is_some()
            })
            .unwrap_or(false);
        if !kept {
            // SAFETY: the block was allocated with `LAYOUT`, and nothing refers to it any more.
            unsafe { dealloc(block.as_ptr(), LAYOUT) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn runtime() -> crate::runtime::Runtime {
        crate::runtime::Runtime::new(crate::runtime::RuntimeOptions {
            ring_entries: 8,
            buffers: 8,
            buffer_size: 4096,
            ..crate::runtime::RuntimeOptions::default()
        })
        .unwrap()
    }

    fn free() -> usize {
        FREE.with(|l| l.borrow().0.len())
    }

    /// A block goes back to the list when its future is dropped, finished or not, and the
    /// next future takes it; what the future owned is dropped with it.
    #[test]
    fn blocks_are_reused_and_futures_dropped() {
        let owned = Rc::new(());
        let held = owned.clone();
        let before = free();
        let f = pooled(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        assert_eq!(Rc::strong_count(&owned), 2);
        drop(f);
        assert_eq!(Rc::strong_count(&owned), 1, "the future was dropped");
        assert_eq!(free(), before + 1);
        let rt = runtime();
        let n = free();
        let got = Rc::new(std::cell::Cell::new(0));
        let out = got.clone();
        rt.block_on(async move {
            out.set(pooled(async { 7 }).await + pooled(async { 35 }).await);
        });
        assert_eq!(got.get(), 42);
        assert_eq!(free(), n, "both blocks came back");
    }

    /// Released blocks leave the list.
    #[test]
    fn released_blocks_leave_the_list() {
        drop(pooled(async {}));
        assert!(free() > 0);
        release_pooled();
        assert_eq!(free(), 0);
    }

    /// A future larger than a block is boxed, and still runs.
    #[test]
    fn a_large_future_is_boxed() {
        let big = [1u8; POOLED_BLOCK + 1];
        let f = pooled(async move { big.iter().map(|&b| u32::from(b)).sum::<u32>() });
        assert!(matches!(f.inner, Inner::Boxed(_)));
        let got = Rc::new(std::cell::Cell::new(0));
        let out = got.clone();
        runtime().block_on(async move { out.set(f.await) });
        assert_eq!(got.get(), POOLED_BLOCK as u32 + 1);
    }
}
