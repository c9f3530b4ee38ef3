//! Which certificate answers a ClientHello: by server name (exact, then `*.` wildcard of one
//! label, then the default), and among the certificates for that name the first whose key
//! the client can verify (ECDSA before RSA).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use super::certs::Loaded;

type Keys = Vec<Arc<CertifiedKey>>;

#[derive(Debug)]
pub(super) struct Resolver {
    exact: HashMap<String, Keys>,
    /// `*.example.com` certificates, by `example.com`.
    wildcard: HashMap<String, Keys>,
    default: Keys,
}

impl Resolver {
    pub fn new(loaded: &[Loaded], default_name: Option<&str>) -> Result<Resolver, String> {
        let mut order: Vec<&Loaded> = loaded.iter().collect();
        // Stable: file order within a key kind, ECDSA first.
        order.sort_by_key(|l| l.info.key);
        let mut exact: HashMap<String, Keys> = HashMap::new();
        let mut wildcard: HashMap<String, Keys> = HashMap::new();
        for l in &order {
            for name in &l.info.names {
                let slot = match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_owned()).or_default(),
                    None => exact.entry(name.clone()).or_default(),
                };
                slot.push(l.key.clone());
            }
        }
        let mut r = Resolver {
            exact,
            wildcard,
            default: Vec::new(),
        };
        r.default = match default_name {
            Some(name) => r
                .lookup(name)
                .cloned()
                .ok_or_else(|| format!("no certificate serves the default name \"{name}\""))?,
            None => {
                let Some(first) = loaded.first() else {
                    return Err("no certificate".to_owned());
                };
                // Every key type loaded for the first certificate's names.
                order
                    .iter()
                    .filter(|l| l.info.names == first.info.names)
                    .map(|l| l.key.clone())
                    .collect()
            }
        };
        Ok(r)
    }

    fn lookup(&self, name: &str) -> Option<&Keys> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }
}

fn pick(keys: &[Arc<CertifiedKey>], schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
    keys.iter()
        .find(|k| k.key.choose_scheme(schemes).is_some())
        .cloned()
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        let named = hello.server_name().and_then(|n| self.lookup(n));
        named
            .and_then(|k| pick(k, schemes))
            .or_else(|| pick(&self.default, schemes))
    }
}
