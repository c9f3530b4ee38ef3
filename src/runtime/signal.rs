//! A one-way, worker-local signal: raised once, every waiter wakes (used for draining).
//! A waiter that gives up (its future dropped) removes itself, so thousands of short-lived
//! sessions waiting on one signal leave nothing behind.
//!
//! Raising it also wakes every task of the worker, so that a task may instead look at
//! [`Signal::is_raised`] each time it is polled and not be a waiter at all: an idle HTTP
//! connection does, and saves a waiter (a waker in the slab) per connection.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use slab::Slab;

#[derive(Clone, Default)]
pub struct Signal {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    raised: Cell<bool>,
    waiters: RefCell<Slab<std::task::Waker>>,
}

impl Signal {
    pub fn new() -> Signal {
        Signal::default()
    }

    pub fn raise(&self) {
        self.inner.raised.set(true);
        let wakers: Vec<_> = self.inner.waiters.borrow_mut().drain().collect();
        for w in wakers {
            w.wake();
        }
        super::executor::wake_all();
    }

    pub fn is_raised(&self) -> bool {
        self.inner.raised.get()
    }

    /// Completes once the signal is raised.
    pub fn wait(&self) -> Wait {
        Wait {
            inner: self.inner.clone(),
            key: None,
        }
    }
}

pub struct Wait {
    inner: Rc<Inner>,
    key: Option<usize>,
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.raised.get() {
            return Poll::Ready(());
        }
        let key = self.key;
        let mut w = self.inner.waiters.borrow_mut();
        match key.and_then(|k| w.get_mut(k)) {
            Some(existing) => {
                if !existing.will_wake(cx.waker()) {
                    *existing = cx.waker().clone();
                }
            }
            None => {
                let k = w.insert(cx.waker().clone());
                drop(w);
                self.key = Some(k);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            let mut w = self.inner.waiters.borrow_mut();
            if w.contains(k) && !self.inner.raised.get() {
                w.remove(k);
            }
        }
    }
}
