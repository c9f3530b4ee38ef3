//! The TLS side of ACME: the certificate a frontend serves for its `acme` names (the one
//! issued, kept in the state directory, or a self-signed placeholder until then), and the
//! `tls-alpn-01` challenge certificates (RFC 8737), served only to a client whose ALPN is
//! `acme-tls/1`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::certs::{describe, Loaded};

/// The ALPN protocol of `tls-alpn-01`.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Where the certificate issued for `frontend` is kept (chain and key, PEM, 0600).
pub fn stored_path(state_dir: &Path, frontend: &str) -> PathBuf {
    state_dir.join("certs").join(format!("{frontend}.pem"))
}

/// The `tls-alpn-01` certificates of the challenges pending now, by DNS name; shared by every
/// frontend's resolver and kept across reloads.
#[derive(Debug, Default)]
pub struct AlpnChallenges {
    certs: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl AlpnChallenges {
    /// Serves a challenge certificate for `name` (a self-signed certificate for `name` with
    /// the acmeIdentifier extension holding SHA-256 of the key authorization).
    pub fn set(&self, name: &str, key_authorization_sha256: &[u8]) -> Result<(), String> {
        let key = challenge_certificate(name, key_authorization_sha256)?;
        let mut certs = self.certs.write().unwrap_or_else(|p| p.into_inner());
        certs.insert(name.to_owned(), key);
        Ok(())
    }

    pub fn clear(&self, name: &str) {
        let mut certs = self.certs.write().unwrap_or_else(|p| p.into_inner());
        certs.remove(name);
    }

    fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.read().unwrap_or_else(|p| p.into_inner());
        certs
            .get(&name.trim_end_matches('.').to_ascii_lowercase())
            .cloned()
    }
}

/// A frontend's resolver when it answers `tls-alpn-01`: a ClientHello offering ALPN
/// `acme-tls/1` gets the challenge certificate of its name (or no handshake); every other
/// ClientHello goes to the frontend's own resolver.
#[derive(Debug)]
pub(super) struct ChallengeResolver<R> {
    pub inner: R,
    pub challenges: Arc<AlpnChallenges>,
}

impl<R: ResolvesServerCert> ResolvesServerCert for ChallengeResolver<R> {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if acme {
            return self.challenges.get(hello.server_name()?);
        }
        self.inner.resolve(hello)
    }
}

/// The certificate stored for an ACME frontend: like a configured certificate file, except
/// that an expired one still loads (a failing renewal keeps serving what it has; the stats
/// page and the log say why).
pub(super) fn load_stored(path: &Path, provider: &CryptoProvider) -> Result<Loaded, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{shown}: not valid PEM: {e}"))?;
    let leaf = chain
        .first()
        .ok_or_else(|| format!("{shown}: no certificate in it"))?;
    let info = describe(path, leaf.as_ref())?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{shown}: no private key in it: {e}"))?;
    certified(chain, key, provider, info)
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    info: super::CertInfo,
) -> Result<Loaded, String> {
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("{}: unusable private key: {e}", info.path.display()))?;
    let key = CertifiedKey::new(chain, signer);
    key.keys_match()
        .map_err(|_| format!("{}: the key does not match", info.path.display()))?;
    Ok(Loaded {
        key: Arc::new(key),
        info,
    })
}

/// A self-signed certificate for `names`, served until the first one is issued. No client
/// trusts it; it lets the TLS listener run (and answer `tls-alpn-01`) meanwhile.
pub(super) fn placeholder(names: &[String], provider: &CryptoProvider) -> Result<Loaded, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("placeholder key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())
        .map_err(|e| format!("placeholder certificate: {e}"))?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "ringlb placeholder (no ACME certificate issued yet)",
    );
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("placeholder certificate: {e}"))?;
    let der = cert.der().clone();
    let mut info = describe(Path::new("(placeholder)"), der.as_ref())?;
    info.names = names.to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    certified(vec![der], key, provider, info)
}

/// The `tls-alpn-01` certificate for `name` (RFC 8737 §3): self-signed, `name` as its only
/// subjectAltName, the critical acmeIdentifier extension holding `digest`.
fn challenge_certificate(name: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("challenge key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()])
        .map_err(|e| format!("challenge certificate for {name}: {e}"))?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest));
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("challenge certificate for {name}: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("challenge key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signer,
    )))
}
