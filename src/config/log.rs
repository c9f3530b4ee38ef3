//! `[log]`: the types of the log section.

use std::net::SocketAddr;
use std::path::PathBuf;

/// `[log]`: where log lines go and how client addresses appear in them.
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub target: LogTarget,
    /// Syslog facility of every line (ignored for stdout).
    pub facility: Facility,
    /// Lines less severe than this are not written.
    pub level: LogLevel,
    /// Mask client addresses in access logs (keeping `ipv4_mask` / `ipv6_mask` bits).
    pub anonymize_ip: bool,
    /// Leading bits of an IPv4 client address kept when anonymising (0–32).
    pub ipv4_mask: u8,
    /// Leading bits of an IPv6 client address kept when anonymising (0–128).
    pub ipv6_mask: u8,
    /// Lines waiting to be written; beyond it new lines are dropped and counted, so a slow
    /// log sink never slows the proxy.
    pub queue: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    /// Syslog over UDP (RFC 5424 framing is the log room's choice).
    Udp(SocketAddr),
    /// Syslog over a local datagram socket such as `/dev/log`.
    Unix(PathBuf),
}

/// Syslog facilities (RFC 5424 §6.2.1); [`Facility::code`] is the numeric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// Syslog severities, most severe first; [`LogLevel::severity`] is the numeric value, and a
/// line is written when its severity is ≤ the configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    pub fn severity(self) -> u8 {
        self as u8
    }
}
