//! Zero-filled arrays that cost memory only where they are used: an anonymous private mapping,
//! whose pages the kernel makes (filled with zeros) when they are first written. A table sized
//! for a flood holds resident only the pages its entries have touched; reading an untouched
//! page maps the kernel's shared zero page and costs nothing either.
//!
//! The mapping starts on a page boundary, so elements whose size is a multiple of 64 bytes each
//! sit on whole cache lines. It is marked `MADV_NOHUGEPAGE`: on a host whose transparent huge
//! pages are `always`, the first write into each 2 MiB would otherwise make all of it resident,
//! and a hash table's writes land everywhere.

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

/// Types for which all bytes zero is a valid value, and that need no drop.
///
/// # Safety
/// An implementor must be valid when every byte of it is zero, must not implement `Drop` (nor
/// hold anything that does), and must be safe to share between threads.
pub unsafe trait Zeroable: Sync {}

// SAFETY: an atomic integer whose bytes are zero holds 0; atomics need no drop and are `Sync`.
unsafe impl Zeroable for AtomicU64 {}
// SAFETY: as above.
unsafe impl Zeroable for AtomicU32 {}
// SAFETY: an `AtomicBool` of a zero byte holds `false`; no drop; `Sync`.
unsafe impl Zeroable for AtomicBool {}
// SAFETY: an array of zero-valid, drop-free, `Sync` elements is all three itself (an array
// has no padding between its elements beyond the elements' own).
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// `len` values of `T`, every one all zeros until written.
pub struct Zeroed<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    /// Bytes mapped (0: nothing mapped, for an empty array or zero-sized `T`).
    bytes: usize,
}

// SAFETY: `Zeroed` owns its mapping like a `Box<[T]>`; it hands out only shared references to
// `T`, which is `Sync` (a `Zeroable` bound), so sending or sharing it between threads shares
// `&T` only.
unsafe impl<T: Zeroable> Send for Zeroed<T> {}
// SAFETY: as above: only `&T` is reachable through `&Zeroed<T>`, and `T: Sync`.
unsafe impl<T: Zeroable> Sync for Zeroed<T> {}

impl<T: Zeroable> Zeroed<T> {
    /// `len` zeroed values. Out of address space (or over `RLIMIT_AS`) it ends the process, as a
    /// failed `Box` allocation does.
    pub fn new(len: usize) -> Zeroed<T> {
        let Some(bytes) = len.checked_mul(std::mem::size_of::<T>()) else {
            capacity_overflow();
        };
        if bytes == 0 {
            return Zeroed {
                ptr: NonNull::dangling(),
                len,
                bytes: 0,
            };
        }
        // SAFETY: a fresh anonymous private mapping: no address hint, no descriptor; the kernel
        // picks the address and hands back memory that nothing else refers to.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        let ptr = if p == libc::MAP_FAILED {
            None
        } else {
            NonNull::new(p.cast::<T>())
        };
        let Some(ptr) = ptr else {
            match std::alloc::Layout::from_size_align(bytes, std::mem::align_of::<T>()) {
                Ok(layout) => std::alloc::handle_alloc_error(layout),
                Err(_) => capacity_overflow(),
            }
        };
        // SAFETY: advice on the mapping just made, of exactly its length; it changes only how
        // the kernel backs the pages, never their contents. A refusal (a kernel without THP)
        // leaves the default, which is all it would change.
        unsafe {
            libc::madvise(ptr.as_ptr().cast(), bytes, libc::MADV_NOHUGEPAGE);
        }
        Zeroed { ptr, len, bytes }
    }
}

fn capacity_overflow() -> ! {
    // Only a size no table could have (more than the address space) reaches this.
    #[allow(clippy::panic)]
    {
        panic!("zeroed array larger than the address space")
    }
}

impl<T: Zeroable> Deref for Zeroed<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` is either dangling with `len` zero-sized or no elements, or the start of
        // a mapping of `len × size_of::<T>()` bytes, page-aligned (so aligned for `T`), zero
        // filled (a valid `T` each, by `Zeroable`), owned by `self` and unmapped only on drop;
        // only shared references are ever made to it.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for Zeroed<T> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            // SAFETY: `ptr` and `bytes` are exactly the mapping `new` made; no reference to it
            // outlives `self`, and `T` needs no drop (`Zeroable`).
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.bytes);
            }
        }
    }
}

impl<T: Zeroable> fmt::Debug for Zeroed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zeroed")
            .field("len", &self.len)
            .field("bytes", &self.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// Resident memory of this process, in KiB (`VmRSS`).
    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    #[test]
    fn values_start_at_zero_and_keep_what_is_written() {
        let a: Zeroed<[AtomicU64; 16]> = Zeroed::new(1000);
        assert_eq!(a.len(), 1000);
        assert!(a.iter().flatten().all(|w| w.load(Ordering::Relaxed) == 0));
        a[999][15].store(7, Ordering::Relaxed);
        a[0][0].store(9, Ordering::Relaxed);
        assert_eq!(a[999][15].load(Ordering::Relaxed), 7);
        assert_eq!(a[0][0].load(Ordering::Relaxed), 9);
        // Elements of 128 bytes on a page-aligned start sit on whole cache lines.
        assert!(a
            .iter()
            .all(|e| (e as *const _ as usize).is_multiple_of(64)));
        let empty: Zeroed<AtomicBool> = Zeroed::new(0);
        assert!(empty.is_empty());
    }

    #[test]
    fn untouched_pages_are_not_resident() {
        // 256 MiB: allocated and read through, then a thousandth of it written.
        let before = rss_kib();
        let a: Zeroed<[AtomicU64; 16]> = Zeroed::new(2 * 1024 * 1024);
        assert_eq!(
            a.iter()
                .filter(|e| e[3].load(Ordering::Relaxed) != 0)
                .count(),
            0
        );
        for e in a.iter().step_by(1024) {
            e[0].store(1, Ordering::Relaxed);
        }
        let grown = rss_kib().saturating_sub(before);
        // 2,048 pages written: 8 MiB, plus the page tables of the pages read.
        assert!(grown < 32 * 1024, "RSS grew by {grown} KiB");
        drop(a);
    }
}
