//! Certificates from PEM files: the chain and its key (in the same file, in `FILE.key`, or in a
//! file of their own), checked when loaded — readable, parseable, the key matching the leaf,
//! not expired — and described for operators (names, key type, expiry). An OCSP response in
//! `FILE.ocsp` (DER, as HAProxy reads it) is stapled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::{CertSource, Diagnostic};

/// Sidecar files in a certificate directory that are not certificates themselves.
const SIDECARS: &[&str] = &["key", "ocsp", "issuer", "sctl"];

/// The key algorithm of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyKind {
    /// Listed first: ECDSA is offered to every client that accepts it (smaller, faster).
    Ecdsa(u16),
    Ed25519,
    Rsa(u32),
    Other,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Ecdsa(bits) => write!(f, "ECDSA P-{bits}"),
            KeyKind::Ed25519 => write!(f, "Ed25519"),
            KeyKind::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyKind::Other => write!(f, "other"),
        }
    }
}

/// What an operator wants to know about a loaded certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub path: PathBuf,
    /// DNS names it serves (subjectAltName, else the subject's CN), lowercase.
    pub names: Vec<String>,
    pub key: KeyKind,
    pub not_after: SystemTime,
    /// An OCSP response is stapled.
    pub ocsp: bool,
}

impl CertInfo {
    /// Time left before it expires (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// A certificate ready to serve.
pub(super) struct Loaded {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
}

/// Loads every source; all problems at once, each at the config line naming its source.
pub(super) fn load_all(
    sources: &[CertSource],
    provider: &CryptoProvider,
) -> Result<Vec<Loaded>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for src in sources {
        let files = if src.path.is_dir() {
            match dir_files(&src.path) {
                Ok(f) if f.is_empty() => {
                    errors.push(src.place.diagnostic(format!(
                        "certificate directory {} holds no certificate",
                        src.path.display()
                    )));
                    continue;
                }
                Ok(f) => f,
                Err(e) => {
                    errors.push(src.place.diagnostic(e));
                    continue;
                }
            }
        } else {
            vec![src.path.clone()]
        };
        for file in files {
            match load_file(&file, src.key.as_deref(), provider) {
                Ok(l) => out.push(l),
                Err(e) => errors.push(src.place.diagnostic(e).with_help(
                    "a certificate file holds the chain (leaf first) and its private key in \
                     PEM, or the key is in FILE.key or named by `key`",
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The certificate files of a directory, in name order (sidecars and hidden files skipped).
fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read certificate directory {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            !name.starts_with('.') && !SIDECARS.contains(&ext)
        })
        .collect();
    files.sort();
    Ok(files)
}

pub(super) fn load_file(
    path: &Path,
    key_path: Option<&Path>,
    provider: &CryptoProvider,
) -> Result<Loaded, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read certificate {shown}: {e}"))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate {shown}: not valid PEM: {e}"))?;
    let Some(leaf) = chain.first() else {
        return Err(format!("certificate {shown}: no CERTIFICATE block in it"));
    };
    let key = match key_path {
        Some(k) => read_key(k)?,
        None => match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(k) => k,
            Err(_) => {
                let mut sidecar = path.as_os_str().to_owned();
                sidecar.push(".key");
                let sidecar = PathBuf::from(sidecar);
                if sidecar.exists() {
                    read_key(&sidecar)?
                } else {
                    return Err(format!(
                        "certificate {shown}: no private key in it, nor in {}",
                        sidecar.display()
                    ));
                }
            }
        },
    };
    let info = describe(path, leaf.as_ref())?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("certificate {shown}: unusable private key: {e}"))?;
    let mut certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|_| {
        format!("certificate {shown}: the private key does not match the certificate")
    })?;
    let now = SystemTime::now();
    if info.not_after <= now {
        return Err(format!(
            "certificate {shown} expired on {}",
            crate::log::format::date(info.not_after)
        ));
    }
    let mut ocsp_path = path.as_os_str().to_owned();
    ocsp_path.push(".ocsp");
    let mut info = info;
    if let Ok(ocsp) = std::fs::read(PathBuf::from(&ocsp_path)) {
        if !ocsp.is_empty() {
            certified.ocsp = Some(ocsp);
            info.ocsp = true;
        }
    }
    Ok(Loaded {
        key: Arc::new(certified),
        info,
    })
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read private key {shown}: {e}"))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("private key {shown}: no usable PEM key in it: {e}"))
}

/// Names, key type and expiry of a DER certificate.
pub fn describe(path: &Path, der: &[u8]) -> Result<CertInfo, String> {
    let shown = path.display();
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("certificate {shown}: cannot parse the certificate: {e}"))?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_ascii_lowercase());
            }
        }
    }
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let key = match alg.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => KeyKind::Ecdsa(256),
                Some("1.3.132.0.34") => KeyKind::Ecdsa(384),
                Some("1.3.132.0.35") => KeyKind::Ecdsa(521),
                _ => KeyKind::Other,
            }
        }
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => KeyKind::Rsa(rsa.key_size() as u32),
            _ => KeyKind::Rsa(0),
        },
        "1.3.101.112" => KeyKind::Ed25519,
        _ => KeyKind::Other,
    };
    let secs = cert.validity().not_after.timestamp();
    let not_after = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH
    };
    Ok(CertInfo {
        path: path.to_path_buf(),
        names,
        key,
        not_after,
        ocsp: false,
    })
}
