//! sd_notify: readiness and status messages to systemd (or to a test) over the datagram
//! socket named by `NOTIFY_SOCKET`. No libsystemd needed; without the variable it is a no-op.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// How long a notification may wait for room in the receiver's queue. The control thread
/// sends them; a service manager that stops reading must not stop reloads and upgrades.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends one notification (newline-separated `KEY=VALUE` lines). Errors are ignored: the
/// service manager may be gone, and serving traffic matters more than telling it.
pub fn notify(msg: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let _ = sock.set_write_timeout(Some(SEND_TIMEOUT));
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name) {
            let _ = sock.send_to_addr(msg.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(msg.as_bytes(), &path);
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as `RELOADING=1` wants in `MONOTONIC_USEC`.
pub fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` when systemd set it (the unit has
/// `WatchdogSec=`). `WATCHDOG_PID` is not compared: after a binary upgrade the new process
/// inherits the old one's and sends the pings itself (`NotifyAccess=all`).
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| std::time::Duration::from_micros(usec / 2))
}
