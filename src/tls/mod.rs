//! TLS for listeners: certificates and settings compiled into a rustls server config that every
//! worker shares — PEM loading and checks (`certs.rs`), certificate choice by SNI and key type
//! (`sni.rs`), versions, suites, ALPN, and session-ticket keys that rotate and survive reloads.
//! TLS to servers: trust roots, verification, client certificates → one rustls client config
//! per distinct setting (`client.rs`).
//!
//! May import `config`, `log` (dates in messages), rustls and x509-parser; reads certificate files when a config is compiled (start,
//! reload, `ringlb check`), never on a worker. The record layer itself is a transport
//! (`transport::tls`).

#![allow(
    clippy::disallowed_methods,
    reason = "certificates are checked for expiry when loaded, at start and reload"
)]

mod acme;
mod certs;
mod client;
mod sni;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ProducesTickets;
use rustls::ServerConfig;

use crate::config::{Diagnostic, Ktls, Tls, TlsVersion};

pub use acme::{stored_path, AlpnChallenges, ACME_TLS_ALPN};
pub use certs::{describe, CertInfo, KeyKind};
pub use client::{ClientConfigs, ServerTlsRt};

/// The crypto provider every TLS config uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Session-ticket keys: one rotating set per frontend, kept across reloads so that a reload
/// does not turn every resumption into a full handshake.
pub type Tickets = Arc<dyn ProducesTickets>;

/// A new rotating ticket key set.
pub fn new_tickets() -> Result<Tickets, String> {
    rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| format!("session ticket keys: {e}"))
}

/// Certificates expiring sooner than this get a warning from `ringlb check`.
pub const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// One line about a certificate for `ringlb check`, and whether it deserves a warning.
pub fn report(c: &CertInfo) -> (String, bool) {
    let left = c.remaining(std::time::SystemTime::now());
    let days = left.as_secs() / 86_400;
    let line = format!(
        "certificate {}: {}; {}; expires {} ({days} days){}",
        c.path.display(),
        if c.names.is_empty() {
            "no DNS name".to_owned()
        } else {
            c.names.join(", ")
        },
        c.key,
        crate::log::format::date(c.not_after),
        if c.ocsp { "; OCSP stapled" } else { "" },
    );
    (line, left < EXPIRY_WARNING)
}

/// A frontend's TLS, ready for the workers.
#[derive(Debug)]
pub struct TlsRt {
    pub config: Arc<ServerConfig>,
    /// Sessions move to kernel TLS after their handshake where the kernel can take them
    /// (`config` then allows secret extraction).
    pub ktls: bool,
    /// Every certificate loaded, for `ringlb check`, the stats page and the log.
    pub certs: Vec<CertInfo>,
    /// The certificate for the frontend's `acme` names, as served now.
    pub acme: Option<AcmeServed>,
}

/// What a frontend serves for its `acme` names.
#[derive(Debug, Clone)]
pub struct AcmeServed {
    pub names: Vec<String>,
    /// No certificate was issued yet: a self-signed placeholder is served.
    pub placeholder: bool,
    /// The issued certificate (its names, expiry), when there is one.
    pub cert: Option<CertInfo>,
    /// Why the stored certificate could not be used, if there is one that could not.
    pub problem: Option<String>,
}

/// What `compile` needs for a frontend with `acme` names.
pub struct AcmeInput<'a> {
    pub state_dir: &'a std::path::Path,
    pub frontend: &'a str,
    pub challenges: &'a Arc<AlpnChallenges>,
}

/// Loads the certificates of `tls` and builds its server config; `tickets` are the frontend's
/// ticket keys (new or carried over). Every problem is reported at the config line that
/// names the certificate.
/// A frontend with `acme` names (and `acme` given) also serves the certificate issued for
/// them, or a placeholder until there is one, and answers `tls-alpn-01` if so configured.
pub fn compile(
    tls: &Tls,
    tickets: Option<Tickets>,
    acme: Option<AcmeInput<'_>>,
) -> Result<TlsRt, Vec<Diagnostic>> {
    let provider = provider();
    let mut loaded = certs::load_all(&tls.certificates, &provider)?;
    let mut served = None;
    if let (Some(names), Some(input)) = (&tls.acme, &acme) {
        let path = acme::stored_path(input.state_dir, input.frontend);
        let (stored, problem) = if path.exists() {
            match acme::load_stored(&path, &provider) {
                Ok(l) => (Some(l), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        let cert = stored.as_ref().map(|l| l.info.clone());
        let placeholder = stored.is_none();
        let l = match stored {
            Some(l) => l,
            None => acme::placeholder(&names.names, &provider)
                .map_err(|e| vec![names.place.diagnostic(e)])?,
        };
        // The ACME certificate is the default when the frontend has no other.
        if tls.certificates.is_empty() {
            loaded.insert(0, l);
        } else {
            loaded.push(l);
        }
        served = Some(AcmeServed {
            names: names.names.clone(),
            placeholder,
            cert,
            problem,
        });
    }
    let resolver = sni::Resolver::new(&loaded, tls.default_name.as_deref()).map_err(|e| {
        let place = tls.certificates.first().map(|c| c.place.clone());
        vec![match place {
            Some(p) => p.diagnostic(e),
            None => Diagnostic::file("", e),
        }]
    })?;
    let suites: Vec<_> = if tls.ciphersuites.is_empty() {
        provider.cipher_suites.clone()
    } else {
        provider
            .cipher_suites
            .iter()
            .filter(|s| {
                let name = format!("{:?}", s.suite());
                tls.ciphersuites.contains(&name)
            })
            .copied()
            .collect()
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..(*provider).clone()
    });
    let place = |msg: String| {
        let d = match tls.certificates.first() {
            Some(c) => c.place.diagnostic(msg),
            None => Diagnostic::file("", msg),
        };
        vec![d]
    };
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| {
            place(format!(
                "TLS settings: {e} (check min_version and ciphersuites)"
            ))
        })?
        .with_no_client_auth();
    let alpn_challenge = tls
        .acme
        .as_ref()
        .filter(|n| n.challenge == crate::config::AcmeChallenge::TlsAlpn01)
        .and(acme.as_ref());
    let mut config = match alpn_challenge {
        Some(input) => config.with_cert_resolver(Arc::new(acme::ChallengeResolver {
            inner: resolver,
            challenges: input.challenges.clone(),
        })),
        None => config.with_cert_resolver(Arc::new(resolver)),
    };
    let ktls = tls.ktls == Ktls::Auto;
    // kTLS takes the traffic secrets out of rustls after the handshake.
    config.enable_secret_extraction = ktls;
    config.alpn_protocols = tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    if alpn_challenge.is_some() {
        // Last: a client offering it alone is the ACME server validating (RFC 8737).
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    if tls.session_tickets {
        config.ticketer = match tickets {
            Some(t) => t,
            None => new_tickets().map_err(place)?,
        };
    }
    Ok(TlsRt {
        config: Arc::new(config),
        ktls,
        certs: loaded.into_iter().map(|l| l.info).collect(),
        acme: served,
    })
}
