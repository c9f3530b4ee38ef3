//! RFC 8555 over a blocking HTTPS client (`ureq` on rustls, the server verified against the
//! configured CA bundle): directory, nonces, account, order, authorizations and their
//! challenges, finalize with a CSR, download. Every request has a timeout; every failure
//! says which step failed, the server's problem document, and the `Retry-After` it sent.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::jws::{b64, AccountKey};
use super::schedule;
use crate::config::AcmeChallenge;
use crate::state::AcmeState;
use crate::tls::AlpnChallenges;

/// Longest one HTTP exchange with the ACME server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest an order may take from creation to the certificate (challenges, finalize).
const ORDER_TIMEOUT: Duration = Duration::from_secs(180);

/// Polling interval when the server gives no `Retry-After`.
const POLL: Duration = Duration::from_millis(500);

/// Longest poll interval honoured within an order (a longer `Retry-After` ends the attempt,
/// and the next attempt waits for it).
const MAX_POLL: Duration = Duration::from_secs(10);

/// A `badNonce` is retried this often with the fresh nonce it came with.
const NONCE_RETRIES: u32 = 5;

/// Largest response body read (a certificate chain is a few KiB).
const MAX_BODY: u64 = 1 << 20;

/// Why an attempt failed, and when the server wants to hear from us again.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The directory's endpoints.
#[derive(Debug, Clone)]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
    /// ACME Renewal Information (RFC 9773), when the server offers it.
    renewal_info: Option<String>,
}

/// One response, what ACME needs of it.
struct Resp {
    status: u16,
    location: Option<String>,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self, step: &str) -> Result<Value, Failure> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Failure::new(format!("{step}: the server's answer is not JSON: {e}")))
    }
}

/// Where challenge answers are published for the sessions and the TLS resolvers.
pub struct Responders {
    pub state: Arc<AcmeState>,
    pub alpn: Arc<AlpnChallenges>,
}

/// What an order asks for.
pub struct OrderRequest<'a> {
    pub names: &'a [String],
    pub challenge: AcmeChallenge,
    /// The ARI identifier of the certificate this one replaces.
    pub replaces: Option<String>,
}

/// A certificate issued: its chain and key, in PEM.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// An ACME client for one directory and account key.
pub struct Client {
    agent: ureq::Agent,
    directory_url: String,
    directory: Option<Directory>,
    nonce: Option<String>,
    key: AccountKey,
    /// The account URL, once the account is opened.
    kid: Option<String>,
    contact: Vec<String>,
}

impl Client {
    /// A client of `directory_url` that trusts the roots in the PEM bundle `ca`.
    pub fn new(
        directory_url: &str,
        ca: &std::path::Path,
        key: AccountKey,
        contact: Vec<String>,
    ) -> Result<Client, String> {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("cannot read the ACME CA bundle {}: {e}", ca.display()))?;
        let roots: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if roots.is_empty() {
            return Err(format!(
                "the ACME CA bundle {} holds no certificate",
                ca.display()
            ));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .unversioned_rustls_crypto_provider(crate::tls::provider())
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(true)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("ringlb/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        Ok(Client {
            agent,
            directory_url: directory_url.to_owned(),
            directory: None,
            nonce: None,
            key,
            kid: None,
            contact,
        })
    }

    /// The server offers ARI.
    pub fn has_renewal_info(&mut self) -> Result<bool, Failure> {
        Ok(self.directory()?.renewal_info.is_some())
    }

    /// The ARI suggested window's pick for the certificate `cert_id`, if the server says.
    pub fn renewal_time(&mut self, cert_id: &str) -> Result<Option<SystemTime>, Failure> {
        let Some(base) = self.directory()?.renewal_info else {
            return Ok(None);
        };
        let url = format!("{}/{cert_id}", base.trim_end_matches('/'));
        let r = self.get(&url, "renewalInfo")?;
        if r.status != 200 {
            return Ok(None);
        }
        let v = r.json("renewalInfo")?;
        let window = v.get("suggestedWindow").unwrap_or(&Value::Null);
        let start = text(window, "start").and_then(schedule::rfc3339);
        let end = text(window, "end").and_then(schedule::rfc3339);
        Ok(match (start, end) {
            (Some(s), Some(e)) => Some(schedule::in_window(s, e)),
            _ => None,
        })
    }

    fn directory(&mut self) -> Result<Directory, Failure> {
        if let Some(d) = &self.directory {
            return Ok(d.clone());
        }
        let url = self.directory_url.clone();
        let r = self.get(&url, "directory")?;
        if r.status != 200 {
            return Err(problem("directory", &r));
        }
        let v = r.json("directory")?;
        let field = |k: &str| {
            text(&v, k)
                .map(str::to_owned)
                .ok_or_else(|| Failure::new(format!("directory {url}: no \"{k}\" in it")))
        };
        let d = Directory {
            new_nonce: field("newNonce")?,
            new_account: field("newAccount")?,
            new_order: field("newOrder")?,
            renewal_info: text(&v, "renewalInfo").map(str::to_owned),
        };
        self.directory = Some(d.clone());
        Ok(d)
    }

    fn get(&self, url: &str, step: &str) -> Result<Resp, Failure> {
        let r = self
            .agent
            .get(url)
            .call()
            .map_err(|e| Failure::new(format!("{step} {url}: {e}")))?;
        read(r, step)
    }

    fn fresh_nonce(&mut self) -> Result<String, Failure> {
        if let Some(n) = self.nonce.take() {
            return Ok(n);
        }
        let url = self.directory()?.new_nonce;
        let r = self
            .agent
            .head(&url)
            .call()
            .map_err(|e| Failure::new(format!("newNonce {url}: {e}")))?;
        nonce_of(&r).ok_or_else(|| Failure::new(format!("newNonce {url}: no Replay-Nonce")))
    }

    /// A signed POST (`payload` `None`: POST-as-GET); a `badNonce` is retried. An error
    /// status becomes a [`Failure`] with the problem document's type and detail.
    fn post(&mut self, url: &str, payload: Option<&Value>, step: &str) -> Result<Resp, Failure> {
        let mut tries = 0;
        loop {
            let nonce = self.fresh_nonce()?;
            let body = self
                .key
                .sign(url, &nonce, self.kid.as_deref(), payload)
                .map_err(Failure::new)?;
            let r = self
                .agent
                .post(url)
                .header("content-type", "application/jose+json")
                .send(body.as_str())
                .map_err(|e| Failure::new(format!("{step} {url}: {e}")))?;
            self.nonce = nonce_of(&r);
            let r = read(r, step)?;
            if r.status < 400 {
                return Ok(r);
            }
            let bad_nonce = r.status == 400
                && r.json(step)
                    .is_ok_and(|v| text(&v, "type") == Some("urn:ietf:params:acme:error:badNonce"));
            tries += 1;
            if !bad_nonce || tries > NONCE_RETRIES {
                return Err(problem(step, &r));
            }
        }
    }

    /// Opens (or finds again: same key, same account) the account, agreeing to the terms.
    fn account(&mut self) -> Result<(), Failure> {
        if self.kid.is_some() {
            return Ok(());
        }
        let url = self.directory()?.new_account;
        let payload = json!({"termsOfServiceAgreed": true, "contact": self.contact});
        let r = self.post(&url, Some(&payload), "newAccount")?;
        let kid = r
            .location
            .ok_or_else(|| Failure::new("newAccount: no Location (account URL) in the answer"))?;
        self.kid = Some(kid);
        Ok(())
    }

    /// Runs one order to its certificate.
    pub fn issue(&mut self, req: &OrderRequest<'_>, resp: &Responders) -> Result<Issued, Failure> {
        let deadline = Instant::now() + ORDER_TIMEOUT;
        self.account()?;
        let new_order = self.directory()?.new_order;
        let ids: Vec<Value> = req
            .names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        let payload = match &req.replaces {
            Some(r) => json!({"identifiers": ids, "replaces": r}),
            None => json!({"identifiers": ids}),
        };
        let r = self.post(&new_order, Some(&payload), "newOrder")?;
        let order_url = r
            .location
            .clone()
            .ok_or_else(|| Failure::new("newOrder: no Location (order URL) in the answer"))?;
        let order = r.json("newOrder")?;
        let authzs: Vec<String> = order
            .get("authorizations")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let finalize = text(&order, "finalize")
            .map(str::to_owned)
            .ok_or_else(|| Failure::new("newOrder: no finalize URL in the order"))?;
        let mut published = Published::new(resp);
        for a in &authzs {
            self.authorize(a, req.challenge, &mut published, deadline)?;
        }
        drop(published);
        // Finalize with a CSR for a fresh key, then wait for the certificate.
        let key = rcgen::KeyPair::generate().map_err(|e| Failure::new(format!("key: {e}")))?;
        let params = rcgen::CertificateParams::new(req.names.to_vec())
            .map_err(|e| Failure::new(format!("CSR: {e}")))?;
        let csr = params
            .serialize_request(&key)
            .map_err(|e| Failure::new(format!("CSR: {e}")))?;
        let payload = json!({"csr": b64(csr.der())});
        self.post(&finalize, Some(&payload), "finalize")?;
        let order = self.poll(&order_url, "order", deadline, |v| match text(v, "status") {
            Some("valid") => Ok(true),
            Some("invalid") => Err(format!("order invalid: {}", error_of(v))),
            _ => Ok(false),
        })?;
        let cert_url = text(&order, "certificate")
            .map(str::to_owned)
            .ok_or_else(|| Failure::new("order valid without a certificate URL"))?;
        let r = self.post(&cert_url, None, "certificate")?;
        let chain_pem = String::from_utf8(r.body)
            .map_err(|_| Failure::new("certificate: the chain is not PEM text"))?;
        if !chain_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Failure::new(
                "certificate: no PEM certificate in the answer",
            ));
        }
        Ok(Issued {
            chain_pem,
            key_pem: key.serialize_pem(),
        })
    }

    /// Proves control of one authorization's name by the configured challenge.
    fn authorize(
        &mut self,
        url: &str,
        kind: AcmeChallenge,
        published: &mut Published<'_>,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let authz = self
            .post(url, None, "authorization")?
            .json("authorization")?;
        let name = authz
            .get("identifier")
            .and_then(|i| text(i, "value"))
            .unwrap_or("?")
            .to_owned();
        if text(&authz, "status") == Some("valid") {
            return Ok(());
        }
        let challenge = authz
            .get("challenges")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| text(c, "type") == Some(kind.name())))
            .ok_or_else(|| {
                Failure::new(format!(
                    "authorization for {name}: the server offers no {} challenge",
                    kind.name()
                ))
            })?;
        let token = text(challenge, "token")
            .ok_or_else(|| Failure::new(format!("{} for {name}: no token", kind.name())))?;
        let chall_url = text(challenge, "url")
            .map(str::to_owned)
            .ok_or_else(|| Failure::new(format!("{} for {name}: no URL", kind.name())))?;
        let key_auth = self.key.key_authorization(token);
        match kind {
            AcmeChallenge::Http01 => published.token(token, key_auth),
            AcmeChallenge::TlsAlpn01 => published.alpn(&name, &key_auth).map_err(Failure::new)?,
        }
        self.post(&chall_url, Some(&json!({})), "challenge")?;
        let what = format!("{} for {name}", kind.name());
        self.poll(url, "authorization", deadline, |v| {
            match text(v, "status") {
                Some("valid") => Ok(true),
                Some("pending" | "processing") | None => Ok(false),
                Some(other) => {
                    let detail = v
                        .get("challenges")
                        .and_then(Value::as_array)
                        .and_then(|cs| cs.iter().find(|c| c.get("error").is_some()))
                        .map(error_of)
                        .unwrap_or_else(|| "no reason given".to_owned());
                    Err(format!("{what} failed ({other}): {detail}"))
                }
            }
        })?;
        Ok(())
    }

    /// POST-as-GET `url` until `done` says so (or fails), waiting as `Retry-After` says.
    fn poll(
        &mut self,
        url: &str,
        step: &str,
        deadline: Instant,
        done: impl Fn(&Value) -> Result<bool, String>,
    ) -> Result<Value, Failure> {
        loop {
            let r = self.post(url, None, step)?;
            let v = r.json(step)?;
            if done(&v).map_err(Failure::new)? {
                return Ok(v);
            }
            let wait = r.retry_after.unwrap_or(POLL).max(POLL);
            if wait > MAX_POLL {
                return Err(Failure {
                    message: format!("{step}: the server asks to come back later"),
                    retry_after: Some(wait),
                });
            }
            if Instant::now() + wait > deadline {
                return Err(Failure::new(format!(
                    "{step}: not done after {}s",
                    ORDER_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(wait);
        }
    }
}

/// Challenge answers published for one order, withdrawn when it ends however it ends.
struct Published<'a> {
    resp: &'a Responders,
    tokens: Vec<String>,
    names: Vec<String>,
}

impl<'a> Published<'a> {
    fn new(resp: &'a Responders) -> Self {
        Published {
            resp,
            tokens: Vec::new(),
            names: Vec::new(),
        }
    }

    fn token(&mut self, token: &str, key_auth: String) {
        let mut t = self
            .resp
            .state
            .tokens
            .write()
            .unwrap_or_else(|p| p.into_inner());
        t.insert(token.to_owned(), key_auth);
        self.tokens.push(token.to_owned());
    }

    fn alpn(&mut self, name: &str, key_auth: &str) -> Result<(), String> {
        use sha2::{Digest, Sha256};
        self.resp
            .alpn
            .set(name, &Sha256::digest(key_auth.as_bytes()))?;
        self.names.push(name.to_owned());
        Ok(())
    }
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        let mut t = self
            .resp
            .state
            .tokens
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for tok in &self.tokens {
            t.remove(tok);
        }
        for n in &self.names {
            self.resp.alpn.clear(n);
        }
    }
}

fn nonce_of(r: &ureq::http::Response<ureq::Body>) -> Option<String> {
    r.headers()
        .get("replay-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn read(mut r: ureq::http::Response<ureq::Body>, step: &str) -> Result<Resp, Failure> {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let retry_after =
        header("retry-after").and_then(|v| schedule::retry_after(&v, SystemTime::now()));
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| Failure::new(format!("{step}: reading the answer: {e}")))?;
    Ok(Resp {
        status,
        location,
        retry_after,
        body,
    })
}

/// A failed request as an operator reads it: step, status, problem type and detail.
fn problem(step: &str, r: &Resp) -> Failure {
    let detail = match serde_json::from_slice::<Value>(&r.body) {
        Ok(v) => error_of(&v),
        Err(_) => String::from_utf8_lossy(r.body.get(..200).unwrap_or(&r.body)).into_owned(),
    };
    let mut message = format!("{step}: HTTP {}: {detail}", r.status);
    if let Some(wait) = r.retry_after {
        message.push_str(&format!(" (retry after {}s)", wait.as_secs()));
    }
    Failure {
        message,
        retry_after: r.retry_after,
    }
}

/// "type: detail" of a problem document (or of an object's `error` member).
fn error_of(v: &Value) -> String {
    let p = v.get("error").filter(|e| e.is_object()).unwrap_or(v);
    let kind = text(p, "type")
        .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"))
        .unwrap_or("error");
    let detail = text(p, "detail").unwrap_or("no detail");
    format!("{kind}: {detail}")
}

/// The string member `key` of an object.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}
