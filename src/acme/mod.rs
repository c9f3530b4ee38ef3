//! ACME (RFC 8555): certificates for the names TLS frontends list, got and renewed by ringlb
//! itself, on the control plane — one thread of its own (`ringlb-acme`), never a worker.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the ACME thread: which frontend needs a certificate when (none yet, names changed, a third of the lifetime left or the ARI window, a forced renewal), one attempt at a time, the status the stats page and `ringlb admin show certs` read, and the hand-over of a new certificate to the control thread |
//! | `client.rs` | the protocol on a blocking HTTPS client: directory, nonces, account, order, challenges, finalize, download; failures with the server's problem and `Retry-After` |
//! | `jws.rs` | the account key, ES256 signatures, JWK thumbprint, key authorizations |
//! | `store.rs` | the state directory (0700): account key and issued certificates, written atomically |
//! | `schedule.rs` | pure timing: renewal time, backoff, `Retry-After`, RFC 3339 |
//!
//! Challenges are answered by the data plane from state this thread publishes: `http-01`
//! tokens in `state::AcmeState` (read by `proxy/http/acme_challenge.rs`), `tls-alpn-01`
//! certificates in `tls::AlpnChallenges` (read by the frontend's certificate resolver). A
//! certificate is installed as a reload installs one: this thread writes it to the state
//! directory and asks the control thread to compile the running config again, which loads it;
//! new handshakes use it, connections already open keep theirs. A failed attempt changes
//! nothing that is served.
//!
//! May import `config`, `snapshot`, `state`, `tls`, `log`; ureq (HTTPS), aws-lc-rs (JWS),
//! rcgen (CSR), x509-parser (what a stored certificate says).

#![allow(
    clippy::disallowed_methods,
    reason = "the ACME thread sleeps between attempts and reads the clock to schedule them"
)]

mod client;
mod jws;
mod schedule;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::config::Acme as AcmeConfig;
use crate::snapshot::Snapshot;
use client::{Client, Failure, OrderRequest, Responders};
use store::Store;

/// Longest the thread sleeps without looking again (a reload or an admin command wakes it
/// earlier).
const IDLE: Duration = Duration::from_secs(3600);

/// Shortest wait between two looks at the same frontend.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Called with a frontend's name when its new certificate is in the state directory.
pub type Installer = Box<dyn Fn(String) + Send>;

enum Wake {
    /// The snapshot changed (reload, install): look again.
    Look,
    /// Renew now (one frontend, or every ACME frontend).
    Renew(Option<String>),
}

/// The running ACME thread.
pub struct Handle {
    tx: Sender<Wake>,
}

impl Handle {
    /// Asks the thread to look at the (new) snapshot.
    pub fn wake(&self) {
        let _ = self.tx.send(Wake::Look);
    }

    /// Starts a renewal now, whatever the certificate's age.
    pub fn renew(&self, frontend: Option<String>) {
        let _ = self.tx.send(Wake::Renew(frontend));
    }
}

/// Starts the ACME thread over the published snapshot.
pub fn start(cell: Arc<ArcSwap<Snapshot>>, installed: Installer) -> std::io::Result<Handle> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("ringlb-acme".into())
        .spawn(move || {
            let mut t = Thread {
                cell,
                installed,
                plans: HashMap::new(),
                client: None,
            };
            t.run(rx);
        })?;
    Ok(Handle { tx })
}

/// What the thread remembers of one frontend between looks.
#[derive(Default)]
struct Plan {
    /// Failed attempts in a row.
    failures: u32,
    /// No attempt before this (backoff or the server's `Retry-After`).
    retry_at: Option<SystemTime>,
    /// An operator asked for a renewal now.
    forced: bool,
    /// The ARI pick for the certificate with this serial.
    ari: Option<(Vec<u8>, SystemTime)>,
}

/// The settings a client was made with; another value makes a new client.
#[derive(PartialEq)]
struct ClientKey {
    directory: String,
    ca: PathBuf,
    contact: Vec<String>,
    state_dir: PathBuf,
}

struct Thread {
    cell: Arc<ArcSwap<Snapshot>>,
    installed: Installer,
    plans: HashMap<String, Plan>,
    client: Option<(ClientKey, Store, Client)>,
}

/// What a stored certificate says, for scheduling.
struct Stored {
    names: Vec<String>,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: Vec<u8>,
    /// The ARI identifier (RFC 9773 §4.1), when the certificate has an AKI.
    ari_id: Option<String>,
}

impl Thread {
    fn run(&mut self, rx: Receiver<Wake>) {
        loop {
            let snap = self.cell.load_full();
            let wait = self.round(&snap);
            drop(snap);
            match rx.recv_timeout(wait) {
                Ok(Wake::Look) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Wake::Renew(which)) => {
                    let snap = self.cell.load();
                    for f in snap.frontends.iter().filter(|f| f.acme.is_some()) {
                        if which.as_deref().is_none_or(|w| w == f.name) {
                            let plan = self.plans.entry(f.name.clone()).or_default();
                            plan.forced = true;
                            plan.retry_at = None;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One look at every ACME frontend: runs the attempts that are due; returns how long to
    /// sleep until the next one.
    fn round(&mut self, snap: &Snapshot) -> Duration {
        let Some(cfg) = &snap.acme.config else {
            return IDLE;
        };
        let wanting: Vec<(String, crate::config::AcmeNames)> = snap
            .frontends
            .iter()
            .filter_map(|f| Some((f.name.clone(), f.acme.clone()?)))
            .collect();
        self.plans
            .retain(|k, _| wanting.iter().any(|(n, _)| n == k));
        if wanting.is_empty() {
            return IDLE;
        }
        let state = snap.acme.state.clone();
        if let Err(e) = self.client_for(cfg) {
            // Nothing can be tried: every frontend reports why.
            let mut next = IDLE;
            for (fe, _) in &wanting {
                next = next.min(self.failed(
                    snap,
                    fe,
                    &Failure {
                        message: e.clone(),
                        retry_after: None,
                    },
                    cfg,
                ));
            }
            return next;
        }
        let responders = Responders {
            state: state.clone(),
            alpn: snap.acme.challenges.clone(),
        };
        let mut next = IDLE;
        for (fe, names) in &wanting {
            let now = SystemTime::now();
            let Some((_, store, client)) = self.client.as_mut() else {
                return IDLE;
            };
            let stored = store.read_cert(fe).and_then(|pem| read_stored(&pem));
            let plan = self.plans.entry(fe.clone()).or_default();
            let due = match &stored {
                None => now,
                Some(s) if !names.names.iter().all(|n| s.names.contains(n)) => now,
                Some(s) => {
                    let third = schedule::renew_at(s.not_before, s.not_after, cfg.renew_before);
                    let ari = match (&plan.ari, &s.ari_id) {
                        (Some((serial, at)), _) if *serial == s.serial => Some(*at),
                        (_, Some(id)) if cfg.renew_before.is_none() => {
                            match client.renewal_time(id) {
                                Ok(Some(at)) => {
                                    plan.ari = Some((s.serial.clone(), at));
                                    Some(at)
                                }
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    ari.unwrap_or(third)
                }
            };
            state.update(fe, |st| st.renew_at = stored.as_ref().map(|_| due));
            let due = if plan.forced { now } else { due };
            let at = match plan.retry_at {
                Some(r) if r > due => r,
                _ => due,
            };
            if at > now {
                next = next.min(at.duration_since(now).unwrap_or(MIN_WAIT));
                continue;
            }
            plan.forced = false;
            // A renewal names the certificate it replaces where the server offers ARI.
            let replaces = match &stored {
                Some(s) => client
                    .has_renewal_info()
                    .map(|ari| s.ari_id.clone().filter(|_| ari)),
                None => Ok(None),
            };
            state.update(fe, |st| st.running = true);
            crate::log::event(format_args!(
                "acme: frontend {fe}: ordering a certificate for {} ({})",
                names.names.join(", "),
                names.challenge.name()
            ));
            let result = replaces
                .and_then(|replaces| {
                    let req = OrderRequest {
                        names: &names.names,
                        challenge: names.challenge,
                        replaces,
                    };
                    client.issue(&req, &responders)
                })
                .and_then(|issued| {
                    store
                        .write_cert(fe, &issued.chain_pem, &issued.key_pem)
                        .map_err(|message| Failure {
                            message,
                            retry_after: None,
                        })
                });
            state.update(fe, |st| st.running = false);
            match result {
                Ok(()) => {
                    *plan = Plan::default();
                    let expiry = store
                        .read_cert(fe)
                        .and_then(|pem| read_stored(&pem))
                        .map(|s| crate::log::format::date(s.not_after))
                        .unwrap_or_default();
                    state.update(fe, |st| {
                        st.issued_total += 1;
                        st.failures = 0;
                        st.last_error = None;
                        st.next_attempt = None;
                    });
                    crate::log::event(format_args!(
                        "acme: frontend {fe}: certificate issued for {}, expires {expiry}; installing",
                        names.names.join(", ")
                    ));
                    (self.installed)(fe.clone());
                    next = MIN_WAIT;
                }
                Err(f) => next = next.min(self.failed(snap, fe, &f, cfg)),
            }
        }
        next.max(MIN_WAIT)
    }

    /// Records a failed attempt: backoff (or the server's `Retry-After`), the status, a log
    /// line saying what keeps being served. Returns the wait before the next attempt.
    fn failed(&mut self, snap: &Snapshot, fe: &str, f: &Failure, cfg: &AcmeConfig) -> Duration {
        let plan = self.plans.entry(fe.to_owned()).or_default();
        plan.failures += 1;
        let wait = f
            .retry_after
            .unwrap_or_else(|| schedule::backoff(plan.failures, cfg.retry_min, cfg.retry_max))
            .max(MIN_WAIT);
        let at = SystemTime::now() + wait;
        plan.retry_at = Some(at);
        let failures = plan.failures;
        snap.acme.state.update(fe, |st| {
            st.failures = failures;
            st.failed_total += 1;
            st.last_error = Some(f.message.clone());
            st.next_attempt = Some(at);
        });
        let serving = snap
            .frontends
            .iter()
            .find(|x| x.name == fe)
            .and_then(|x| x.tls.as_ref())
            .and_then(|t| t.acme.as_ref())
            .map(|a| match &a.cert {
                Some(c) if !a.placeholder => format!(
                    "the current certificate (expires {})",
                    crate::log::format::date(c.not_after)
                ),
                _ => "the self-signed placeholder".to_owned(),
            })
            .unwrap_or_default();
        crate::log::event(format_args!(
            "acme: frontend {fe}: no certificate: {}; next attempt in {}s; still serving {serving}",
            f.message,
            wait.as_secs()
        ));
        wait
    }

    /// The client (and store) for `cfg`, made again when the settings changed.
    fn client_for(&mut self, cfg: &AcmeConfig) -> Result<(), String> {
        let key = ClientKey {
            directory: cfg.directory.clone(),
            ca: cfg.ca.clone(),
            contact: cfg.contact.clone(),
            state_dir: cfg.state_dir.clone(),
        };
        if self.client.as_ref().is_some_and(|(k, _, _)| *k == key) {
            return Ok(());
        }
        let store = Store::open(&cfg.state_dir)?;
        let account = store.account_key()?;
        let client = Client::new(&cfg.directory, &cfg.ca, account, cfg.contact.clone())?;
        self.client = Some((key, store, client));
        Ok(())
    }
}

/// Names, validity, serial and ARI identifier of the leaf of a stored chain.
fn read_stored(pem: &[u8]) -> Option<Stored> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()?
        .ok()?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let time = |t: x509_parser::time::ASN1Time| {
        let secs = u64::try_from(t.timestamp()).unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    let serial = cert.tbs_certificate.raw_serial().to_vec();
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        });
    let ari_id = aki.map(|k| format!("{}.{}", jws::b64(&k), jws::b64(&serial)));
    Some(Stored {
        names,
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        serial,
        ari_id,
    })
}
