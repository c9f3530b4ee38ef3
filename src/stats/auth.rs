//! HTTP Basic authentication for the stats page (RFC 7617).
//!
//! Users come from the configuration as `"name:password"`. The password is either plain text
//! or a crypt(3) hash: `$5$…` (SHA-256-crypt) or `$6$…` (SHA-512-crypt), as written by
//! `mkpasswd -m sha-256` / `openssl passwd -5`. Any other `$id$…` form (`$1$`, `$2b$`, `$y$`)
//! is refused at parse time rather than silently taken as a plain password.
//!
//! Timing: a plain password is kept only as its SHA-256 digest and compared digest to digest
//! with an xor-accumulate over all 32 bytes, so neither the password's content nor its length
//! shows in the response time. Unknown user names still run one verification (against the
//! first hash, or a digest compare) so that hashed users cannot be enumerated by timing.
//! A hash costs its `rounds` (5000 by default, a few milliseconds) on every request that
//! carries credentials; the stats page is not a hot path, but keep `rounds` modest.

use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use base64::Engine;
use sha2::{Digest, Sha256};
use sha_crypt::{PasswordVerifier, ShaCrypt};

/// Longest `Authorization` value we decode: far above any real name and password, small
/// enough that a hostile header costs nothing.
const MAX_CREDENTIALS: usize = 4096;

/// Most SHA-crypt rounds accepted. Verification runs on a worker thread for every stats
/// request that carries credentials; 100k rounds of SHA-512 is already tens of milliseconds.
const MAX_ROUNDS: u64 = 100_000;

/// The users allowed to see the stats page.
#[derive(Clone)]
pub struct Users {
    users: Vec<User>,
}

#[derive(Clone)]
struct User {
    name: String,
    secret: Secret,
}

#[derive(Clone)]
enum Secret {
    /// SHA-256 of the plain password: compared in constant time, never kept in clear.
    Plain([u8; 32]),
    /// A `$5$` or `$6$` crypt string, checked with its own salt and rounds.
    Crypt(String),
}

impl std::fmt::Debug for Users {
    // Never print secrets, not even digests: Debug output ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.users.iter().map(|u| &u.name))
            .finish()
    }
}

impl Users {
    /// Parses `"name:password"` entries. Errors name the entry (by user name and position)
    /// and never echo the password.
    pub fn parse(entries: &[String]) -> Result<Users, String> {
        let mut users: Vec<User> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let n = i + 1;
            let Some((name, password)) = entry.split_once(':') else {
                return Err(format!(
                    "stats user #{n}: expected \"name:password\" (no ':' found)"
                ));
            };
            if name.is_empty() {
                return Err(format!("stats user #{n}: the user name is empty"));
            }
            if name.chars().any(char::is_control) {
                return Err(format!(
                    "stats user #{n}: the user name contains a control character"
                ));
            }
            if users.iter().any(|u| u.name == name) {
                return Err(format!("stats user \"{name}\" (#{n}) is defined twice"));
            }
            if password.is_empty() {
                return Err(format!(
                    "stats user \"{name}\" (#{n}): the password is empty"
                ));
            }
            let secret = parse_secret(password)
                .map_err(|why| format!("stats user \"{name}\" (#{n}): {why}"))?;
            users.push(User {
                name: name.to_string(),
                secret,
            });
        }
        Ok(Users { users })
    }

    /// No users configured: the page is open to whoever reaches it.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks an `Authorization` header value (`Basic dXNlcjpwYXNz`). Returns the user
    /// name when the credentials match; `None` when absent, malformed or wrong.
    pub fn check(&self, authorization_header_value: &[u8]) -> Option<&str> {
        let (name, password) = decode_basic(authorization_header_value)?;
        match self.users.iter().find(|u| u.name.as_bytes() == name) {
            Some(user) => verify(&user.secret, &password).then_some(user.name.as_str()),
            None => {
                // Spend the time a real user would cost, then refuse.
                if let Some(u) = self.users.first() {
                    let decoy = self
                        .users
                        .iter()
                        .find(|u| matches!(u.secret, Secret::Crypt(_)))
                        .unwrap_or(u);
                    let _ = verify(&decoy.secret, &password);
                }
                None
            }
        }
    }
}

fn parse_secret(password: &str) -> Result<Secret, String> {
    let Some(rest) = password.strip_prefix('$') else {
        return Ok(Secret::Plain(sha256(password.as_bytes())));
    };
    // `$id$…`: a crypt(3) string. Only SHA-crypt is supported.
    let id = rest.split('$').next().unwrap_or("");
    if rest.len() == id.len() {
        // A '$' but no second one: not a crypt string, a plain password that starts with '$'.
        return Ok(Secret::Plain(sha256(password.as_bytes())));
    }
    match id {
        "5" | "6" => {
            let rounds = rest[id.len() + 1..]
                .strip_prefix("rounds=")
                .and_then(|r| r.split('$').next())
                .map(|r| {
                    r.parse::<u64>()
                        .map_err(|_| format!("the ${id}$ hash has a malformed rounds="))
                })
                .transpose()?;
            if let Some(rounds) = rounds.filter(|&r| r > MAX_ROUNDS) {
                return Err(format!(
                    "the ${id}$ hash uses rounds={rounds}: every stats request would stall its \
                     worker for that long; use at most rounds={MAX_ROUNDS} (the default is 5000)"
                ));
            }
            // Validate the shape now, so a typo is a config error rather than a page no
            // one can log into: verifying any password must not report a format error.
            let probe = ShaCrypt::default().verify_password(b"", password);
            match probe {
                Ok(()) | Err(sha_crypt::password_hash::Error::PasswordInvalid) => {
                    Ok(Secret::Crypt(password.to_string()))
                }
                Err(_) => Err(format!(
                    "the ${id}$ hash is malformed (expected ${id}$[rounds=N$]salt$hash)"
                )),
            }
        }
        _ => Err(format!(
            "unsupported password hash \"${id}$\": use $5$ (SHA-256-crypt) or $6$ \
             (SHA-512-crypt), e.g. from `mkpasswd -m sha-512`"
        )),
    }
}

/// `Basic <base64(name:password)>` → (name, password). Scheme is case-insensitive; the
/// password may contain ':' (only the first one separates).
fn decode_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.trim_ascii();
    if value.len() > MAX_CREDENTIALS {
        return None;
    }
    let scheme_len = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(scheme_len);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = STANDARD_PAD_INDIFFERENT
        .decode(token.trim_ascii_start())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let password = decoded.get(colon + 1..).unwrap_or(&[]).to_vec();
    let mut name = decoded;
    name.truncate(colon);
    Some((name, password))
}

fn verify(secret: &Secret, password: &[u8]) -> bool {
    match secret {
        Secret::Plain(digest) => ct_eq(digest, &sha256(password)),
        Secret::Crypt(hash) => ShaCrypt::default()
            .verify_password(password, hash.as_str())
            .is_ok(),
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality of two digests: every byte is looked at whatever differs.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early-exit compare.
    std::hint::black_box(diff) == 0
}

/// The complete `401 Unauthorized` response that asks the browser for credentials.
pub fn challenge(realm: &str) -> String {
    let body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
                <title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1>\
                <p>This page requires a user name and password.</p></body></html>\n";
    format!(
        "HTTP/1.1 401 Unauthorized\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         WWW-Authenticate: Basic realm=\"{}\", charset=\"UTF-8\"\r\n\
         Cache-Control: no-store\r\n\
         \r\n\
         {body}",
        body.len(),
        quote_realm(realm)
    )
}

/// The inside of an RFC 9110 quoted-string: `\` and `"` escaped; control characters (which
/// would let a realm split the header) replaced by spaces.
fn quote_realm(realm: &str) -> String {
    let mut out = String::with_capacity(realm.len());
    for c in realm.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha_crypt::{Algorithm, Params, PasswordHasher};

    fn header(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    fn users(entries: &[&str]) -> Users {
        Users::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn crypt(alg: Algorithm, password: &str) -> String {
        ShaCrypt::new(alg, Params::default())
            .hash_password_with_salt(password.as_bytes(), b"ringlb-salt")
            .unwrap()
            .to_string()
    }

    #[test]
    fn plain_password_ok_wrong_and_absent() {
        let u = users(&["admin:s3cret", "ops:pa:ss"]);
        assert_eq!(u.check(&header("admin:s3cret")), Some("admin"));
        assert_eq!(
            u.check(&header("ops:pa:ss")),
            Some("ops"),
            "':' inside a password"
        );
        assert_eq!(u.check(&header("admin:s3cre")), None);
        assert_eq!(u.check(&header("admin:s3cret ")), None);
        assert_eq!(u.check(&header("admin:")), None);
        assert_eq!(u.check(&header("nobody:s3cret")), None);
        assert_eq!(u.check(b""), None);
        assert_eq!(u.check(b"Basic"), None);
        assert_eq!(u.check(b"Basic "), None);
    }

    #[test]
    fn scheme_is_case_insensitive_and_whitespace_tolerated() {
        let u = users(&["admin:s3cret"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("admin:s3cret");
        assert_eq!(u.check(format!("basic {b64}").as_bytes()), Some("admin"));
        assert_eq!(
            u.check(format!("  BASIC   {b64}  ").as_bytes()),
            Some("admin")
        );
        assert_eq!(u.check(format!("Bearer {b64}").as_bytes()), None);
        // Unpadded base64 is accepted too (some clients strip '=').
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode("admin:s3cret");
        assert_eq!(
            u.check(format!("Basic {unpadded}").as_bytes()),
            Some("admin")
        );
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let u = users(&["admin:s3cret"]);
        assert_eq!(u.check(b"Basic !!!not-base64!!!"), None);
        assert_eq!(u.check(b"Basic YWRtaW4"), None, "no colon in 'admin'");
        assert_eq!(u.check(&[b'B', b'a', 0xff, 0xfe]), None);
        let huge = format!("Basic {}", "A".repeat(MAX_CREDENTIALS * 2));
        assert_eq!(u.check(huge.as_bytes()), None);
        // Non-UTF-8 passwords are bytes like any other.
        let raw = base64::engine::general_purpose::STANDARD.encode(b"admin:\xff\xfe");
        assert_eq!(u.check(format!("Basic {raw}").as_bytes()), None);
    }

    #[test]
    fn sha256_crypt_hash() {
        let hash = crypt(Algorithm::Sha256Crypt, "hunter2");
        assert!(hash.starts_with("$5$"), "{hash}");
        let u = users(&[&format!("alice:{hash}")]);
        assert_eq!(u.check(&header("alice:hunter2")), Some("alice"));
        assert_eq!(u.check(&header("alice:hunter3")), None);
        assert_eq!(
            u.check(&header(&format!("alice:{hash}"))),
            None,
            "the hash is not the password"
        );
    }

    #[test]
    fn sha512_crypt_hash_with_rounds() {
        let hash = ShaCrypt::new(Algorithm::Sha512Crypt, Params::new(1000).unwrap())
            .hash_password_with_salt(b"correct horse", b"NaCl")
            .unwrap()
            .to_string();
        assert!(hash.starts_with("$6$rounds=1000$"), "{hash}");
        let u = users(&[&format!("bob:{hash}"), "carol:plain"]);
        assert_eq!(u.check(&header("bob:correct horse")), Some("bob"));
        assert_eq!(u.check(&header("bob:correct horsE")), None);
        assert_eq!(u.check(&header("carol:plain")), Some("carol"));
        // An unknown user goes through the decoy verification and is still refused.
        assert_eq!(u.check(&header("mallory:correct horse")), None);
    }

    #[test]
    fn interoperates_with_glibc_crypt() {
        // Made by `openssl passwd -5|-6 -salt saltstring 'Hello world!'` (the SHA-crypt
        // specification's example), so hashes from the usual tools verify.
        let u = users(&[
            "a:$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
            concat!(
                "b:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4",
                "OTLiBFdcbYEdFCoEOfaS35inz1"
            ),
        ]);
        assert_eq!(u.check(&header("a:Hello world!")), Some("a"));
        assert_eq!(u.check(&header("b:Hello world!")), Some("b"));
    }

    #[test]
    fn parse_errors_name_the_entry_not_the_password() {
        let err = |entries: &[&str]| {
            Users::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err()
        };
        let e = err(&["adminTOPSECRET"]);
        assert!(e.contains("#1") && !e.contains("TOPSECRET"), "{e}");
        let e = err(&["ok:x", ":TOPSECRET"]);
        assert!(
            e.contains("#2") && e.contains("empty") && !e.contains("TOPSECRET"),
            "{e}"
        );
        let e = err(&["admin:$1$TOPSECRET$abc"]);
        assert!(
            e.contains("admin") && e.contains("$1$") && !e.contains("TOPSECRET"),
            "{e}"
        );
        let e = err(&["admin:$5$TOPSECRET"]);
        assert!(e.contains("admin") && !e.contains("TOPSECRET"), "{e}");
        let e = err(&["admin:$6$rounds=999999999$salt$hash"]);
        assert!(
            e.contains("rounds=999999999") && e.contains("100000"),
            "{e}"
        );
        let e = err(&["admin:a", "admin:b"]);
        assert!(e.contains("twice"), "{e}");
        assert!(err(&["admin:"]).contains("empty"));
        // A plain password may start with '$' when it is not a crypt string.
        let u = users(&["x:$dollars"]);
        assert_eq!(u.check(&header("x:$dollars")), Some("x"));
        assert!(users(&[]).is_empty());
        assert!(!format!("{u:?}").contains("dollars"));
    }

    #[test]
    fn constant_time_compare_is_the_plain_path() {
        let a = sha256(b"one");
        let mut b = a;
        assert!(ct_eq(&a, &b));
        b[31] ^= 1;
        assert!(!ct_eq(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!ct_eq(&a, &b));
        // Plain secrets keep only the digest, so comparison length never depends on input.
        let Secret::Plain(d) = parse_secret("s3cret").unwrap() else {
            panic!("plain password parsed as a hash");
        };
        assert_eq!(d, sha256(b"s3cret"));
        assert!(verify(&Secret::Plain(d), b"s3cret"));
        assert!(!verify(&Secret::Plain(d), b"s3cret-and-more-bytes"));
    }

    #[test]
    fn challenge_is_a_complete_401() {
        let r = challenge("Ops \"only\"\r\nX-Evil: 1");
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        assert!(head.contains("WWW-Authenticate: Basic realm=\"Ops \\\"only\\\"  X-Evil: 1\""));
        assert!(
            !head.contains("\r\nX-Evil"),
            "realm must not split the header"
        );
        assert!(head.contains("\r\nCache-Control: no-store"));
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        assert!(body.contains("401"));
    }
}
