//! The small system layer: resource limits, CPU affinity, kernel capability checks,
//! privileges (`privileges`), the listening-socket handoff of a binary upgrade (`handoff`),
//! the kernel TLS socket options (`ktls`), a listener's deferred accept, the version stamp of
//! the binary (`version`) and zero-filled arrays the kernel backs as they are written
//! (`zeroed`).
//! With `runtime`, the only room where `unsafe` is allowed; every unsafe block carries a
//! `// SAFETY:` line.
//!
//! Imports std, `libc`, `nix` and `caps`; nothing of ringlb.
#![allow(unsafe_code)]

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

pub mod handoff;
pub mod ktls;
pub mod privileges;
pub mod version;
pub mod zeroed;

/// Online CPUs this process may run on.
pub fn cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1))
            .collect(),
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).map_err(io::Error::from)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(io::Error::from)
}

/// Raises the soft limit of `resource` to its hard limit; returns the resulting soft limit.
/// Used for `RLIMIT_NOFILE` and for `RLIMIT_MEMLOCK`, against which Linux 6.13+ counts the
/// memory of an io_uring ring (queues, buffer rings) of a process without `CAP_IPC_LOCK`,
/// summed over all processes of the same user.
pub fn raise_soft_limit(resource: Resource) -> io::Result<u64> {
    let (soft, hard) = getrlimit(resource).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(resource, hard, hard).map_err(io::Error::from)?;
        return Ok(hard);
    }
    Ok(soft)
}

/// Seconds a listener with deferred accept waits for a silent client: the kernel turns them
/// into one retransmitted SYN-ACK, after whose answer the connection is accepted anyway.
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// `TCP_DEFER_ACCEPT` on a listening socket: with `on`, a connection is accepted when its
/// first data arrives (or, from a client that sends nothing, after [`DEFER_ACCEPT_SECS`]), so
/// the accept brings its request along; without, at the end of the handshake. Neither nix nor
/// socket2 has this option.
pub fn set_defer_accept(fd: std::os::fd::BorrowedFd<'_>, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let secs: libc::c_int = if on { DEFER_ACCEPT_SECS } else { 0 };
    // SAFETY: `fd` is a live descriptor for the call's duration; the option value is a
    // `c_int` on the stack whose address and exact size are passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&secs).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The soft limit of `resource`, `None` when unlimited or unknown.
pub fn soft_limit(resource: Resource) -> Option<u64> {
    getrlimit(resource)
        .ok()
        .and_then(|(soft, _)| (soft != RLIM_INFINITY).then_some(soft))
}

/// `kernel.io_uring_disabled`: 0 allowed, 1 only for the `io_uring_group`, 2 disabled.
pub fn io_uring_disabled() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Explains why io_uring cannot be used here, if that is so, with the fix.
pub fn check_io_uring() -> Result<(), String> {
    match io_uring::IoUring::new(2) {
        Ok(_) => Ok(()),
        Err(e) => {
            let why = match io_uring_disabled() {
                Some(2) => "io_uring is disabled on this host (sysctl kernel.io_uring_disabled = 2); \
                            enable it with `sysctl -w kernel.io_uring_disabled=0`"
                    .to_string(),
                Some(1) => "io_uring is restricted to the group in kernel.io_uring_group \
                            (sysctl kernel.io_uring_disabled = 1); run ringlb in that group or set \
                            kernel.io_uring_disabled=0"
                    .to_string(),
                _ => format!("cannot create an io_uring instance: {e} (is the process confined by a seccomp filter or an old kernel?)"),
            };
            Err(why)
        }
    }
}

/// Returns free heap memory to the kernel (glibc `malloc_trim`). After a burst, the memory
/// of finished requests otherwise stays resident although nothing uses it.
pub fn trim_heap() {
    // SAFETY: malloc_trim has no preconditions; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
