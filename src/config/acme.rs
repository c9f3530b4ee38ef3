//! `[acme]` and the names a TLS frontend wants certificates for, as the config loader checked
//! them.

use std::path::PathBuf;
use std::time::Duration;

use super::Place;

/// `[acme]`: the ACME (RFC 8555) server and where ringlb keeps what it gets from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Acme {
    /// The directory URL (`https://…/directory`).
    pub directory: String,
    /// `mailto:` addresses the CA may write to about the account.
    pub contact: Vec<String>,
    /// PEM bundle of the roots that verify the ACME server's own HTTPS certificate.
    pub ca: PathBuf,
    /// The operator agreed to the CA's terms of service (required to open an account).
    pub agree_terms: bool,
    /// Account key and issued certificates; created 0700, kept across restarts.
    pub state_dir: PathBuf,
    /// Renew this long before expiry instead of when a third of the lifetime remains.
    pub renew_before: Option<Duration>,
    /// First wait after a failed attempt (doubling up to `retry_max`), unless the server
    /// said `Retry-After`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub place: Place,
}

/// `acme = [NAME, …]` in a frontend's `[tls]`: one certificate for these names.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeNames {
    /// Lowercase DNS names; the first is the certificate's subject.
    pub names: Vec<String>,
    pub challenge: AcmeChallenge,
    pub place: Place,
}

/// How the ACME server checks that ringlb answers for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// `http-01`: a file under `/.well-known/acme-challenge/` on a plain HTTP listener (:80).
    Http01,
    /// `tls-alpn-01`: a special certificate for ALPN `acme-tls/1` on a TLS listener (:443).
    TlsAlpn01,
}

impl AcmeChallenge {
    pub fn name(self) -> &'static str {
        match self {
            AcmeChallenge::Http01 => "http-01",
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}
