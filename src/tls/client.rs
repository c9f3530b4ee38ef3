//! TLS to servers: a server's `tls` settings compiled into a rustls client config — trust
//! roots (a CA file, or the system's bundle), verification (or explicitly none), an optional
//! client certificate, ALPN `http/1.1` for HTTP backends — and the name sent as SNI and
//! verified. Servers with the same settings share one config (and its session cache).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{Diagnostic, ServerTls};

/// Where the system's CA bundle is looked for (Debian/Ubuntu first, then Fedora/RHEL).
pub const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// TLS to one server, ready for the workers and the checker.
#[derive(Debug)]
pub struct ServerTlsRt {
    pub config: Arc<ClientConfig>,
    /// Sent as SNI (a DNS name) and checked against the certificate.
    pub name: ServerName<'static>,
    /// Active checks speak TLS too.
    pub check: bool,
    /// The server's certificate is verified.
    pub verify: bool,
}

/// The settings one client config is built from (the server name is not among them: it is
/// given per connection).
#[derive(Hash, PartialEq, Eq)]
struct Key {
    verify: bool,
    ca_file: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    http: bool,
}

/// Client configs built while compiling one snapshot, shared by servers with equal settings
/// (the system roots are read once, not once per server).
#[derive(Default)]
pub struct ClientConfigs {
    built: HashMap<Key, Arc<ClientConfig>>,
    system: Option<Arc<RootCertStore>>,
}

impl ClientConfigs {
    /// TLS to a server at `ip` with settings `tls`; `http` offers ALPN `http/1.1`. Problems
    /// are reported at the config line of the `tls` table, naming the file.
    pub fn compile(
        &mut self,
        tls: &ServerTls,
        ip: IpAddr,
        http: bool,
    ) -> Result<ServerTlsRt, Diagnostic> {
        let name = match &tls.sni {
            Some(n) => ServerName::try_from(n.clone()).map_err(|_| {
                tls.place
                    .diagnostic(format!("invalid server name \"{n}\" for `sni`"))
            })?,
            None => ServerName::IpAddress(ip.into()),
        };
        let key = Key {
            verify: tls.verify,
            ca_file: tls.ca_file.clone(),
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            http,
        };
        let config = match self.built.get(&key) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(self.build(tls, http)?);
                self.built.insert(key, c.clone());
                c
            }
        };
        Ok(ServerTlsRt {
            config,
            name,
            check: tls.check,
            verify: tls.verify,
        })
    }

    /// The client config of `tls`; a problem is reported at the line naming the file it is
    /// about (or at the `tls` table).
    fn build(&mut self, tls: &ServerTls, http: bool) -> Result<ClientConfig, Diagnostic> {
        let at = |place: &Option<crate::config::Place>, e: String| {
            place.as_ref().unwrap_or(&tls.place).diagnostic(e)
        };
        let provider = super::provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls.place.diagnostic(format!("TLS settings: {e}")))?;
        let builder = if tls.verify {
            let roots = match &tls.ca_file {
                Some(f) => Arc::new(roots_from(f).map_err(|e| at(&tls.ca_place, e))?),
                None => self.system_roots().map_err(|e| tls.place.diagnostic(e))?,
            };
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider.clone())))
        };
        let mut config = match &tls.cert {
            Some(cert) => {
                let loaded = super::certs::load_file(cert, tls.key.as_deref(), &provider)
                    .map_err(|e| at(&tls.cert_place, format!("client certificate: {e}")))?;
                builder.with_client_cert_resolver(Arc::new(ClientCert(loaded.key)))
            }
            None if tls.key.is_some() => {
                return Err(tls
                    .place
                    .diagnostic("`key` without `cert`: name the client certificate too"))
            }
            None => builder.with_no_client_auth(),
        };
        if http {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(config)
    }

    fn system_roots(&mut self) -> Result<Arc<RootCertStore>, String> {
        if let Some(r) = &self.system {
            return Ok(r.clone());
        }
        let file = SYSTEM_ROOTS
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "no system CA bundle ({}): install ca-certificates or set `ca_file`",
                    SYSTEM_ROOTS.join(", ")
                )
            })?;
        let roots = Arc::new(roots_from(file)?);
        self.system = Some(roots.clone());
        Ok(roots)
    }
}

/// The CA certificates of a PEM bundle.
fn roots_from(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read CA file {shown}: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA file {shown}: not valid PEM: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("CA file {shown}: no usable CA certificate in it"));
    }
    Ok(roots)
}

/// The client certificate, offered to every server that asks for one.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `verify = "none"`: any certificate is accepted (the handshake's signatures are still
/// checked, so the connection is encrypted to whoever holds the key of the certificate shown).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
