//! The state directory: `account.key` (the ACME account's key, PKCS#8 PEM) and
//! `certs/FRONTEND.pem` (the issued chain and its key). The directory is created 0700, files
//! 0600; every file is written to a temporary name, synced, renamed over the old one and the
//! directory synced, so a crash leaves the old file or the new one, never half of one.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;

use super::jws::AccountKey;

const ACCOUNT_KEY: &str = "account.key";

/// An open state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens `dir`, creating it (and `certs/`) 0700 if missing and tightening it to 0700 if
    /// it is wider: it holds private keys.
    pub fn open(dir: &Path) -> Result<Store, String> {
        let shown = dir.display();
        for d in [dir.to_path_buf(), dir.join("certs")] {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(|e| format!("cannot create the ACME state directory {shown}: {e}"))?;
            let meta = fs::metadata(&d)
                .map_err(|e| format!("ACME state directory {}: {e}", d.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).map_err(|e| {
                    format!(
                        "ACME state directory {} is readable by others and cannot be made 0700: {e}",
                        d.display()
                    )
                })?;
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The account key, made and stored the first time.
    pub fn account_key(&self) -> Result<AccountKey, String> {
        let path = self.dir.join(ACCOUNT_KEY);
        match fs::read(&path) {
            Ok(pem) => {
                let der = PrivatePkcs8KeyDer::from_pem_slice(&pem)
                    .map_err(|e| format!("{}: no PKCS#8 key in it: {e}", path.display()))?;
                AccountKey::from_pkcs8(der.secret_pkcs8_der())
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, der) = AccountKey::generate()?;
                write_atomic(&path, pem("PRIVATE KEY", &der).as_bytes())?;
                crate::log::event(format_args!("acme: new account key in {}", path.display()));
                Ok(key)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Where `frontend`'s certificate is kept.
    pub fn cert_path(&self, frontend: &str) -> PathBuf {
        crate::tls::stored_path(&self.dir, frontend)
    }

    /// Replaces `frontend`'s certificate: the chain as the CA sent it, then its key.
    pub fn write_cert(&self, frontend: &str, chain_pem: &str, key_pem: &str) -> Result<(), String> {
        let mut text = chain_pem.trim_end().to_owned();
        text.push('\n');
        text.push_str(key_pem);
        write_atomic(&self.cert_path(frontend), text.as_bytes())
    }

    /// The stored certificate of `frontend`, if any.
    pub fn read_cert(&self, frontend: &str) -> Option<Vec<u8>> {
        fs::read(self.cert_path(frontend)).ok()
    }
}

/// DER in PEM armour.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes `path` whole or not at all: a 0600 temporary file beside it, synced, renamed over
/// it, then the directory synced.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    let shown = path.display();
    let dir = path
        .parent()
        .ok_or_else(|| format!("{shown}: no directory"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{shown}: no file name"))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {shown}: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_private_and_files_replace_whole() {
        let dir = std::env::temp_dir().join(format!("ringlb-acme-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let store = Store::open(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let k1 = store.account_key().unwrap();
        let k2 = store.account_key().unwrap();
        assert_eq!(k1.thumbprint(), k2.thumbprint(), "the key is kept");
        let key_mode = fs::metadata(dir.join(ACCOUNT_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        store.write_cert("www", "CHAIN1\n", "KEY1\n").unwrap();
        store.write_cert("www", "CHAIN2", "KEY2\n").unwrap();
        assert_eq!(store.read_cert("www").unwrap(), b"CHAIN2\nKEY2\n");
        let left: Vec<_> = fs::read_dir(dir.join("certs")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        fs::remove_dir_all(&dir).unwrap();
    }
}
