//! The account key and the JSON Web Signatures of ACME requests (RFC 8555 §6.2, RFC 7515):
//! ES256 (ECDSA P-256, SHA-256) with aws-lc-rs, the JWK and its thumbprint (RFC 7638).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// base64url without padding, as JOSE writes every binary value.
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// The ACME account key.
pub struct AccountKey {
    pair: EcdsaKeyPair,
    /// The public JWK, members in lexicographic order (the form RFC 7638 hashes).
    jwk: String,
}

impl AccountKey {
    /// A new key and its PKCS#8 DER (to be stored).
    pub fn generate() -> Result<(AccountKey, Vec<u8>), String> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| "cannot generate an account key".to_owned())?;
        let der = doc.as_ref().to_vec();
        Ok((AccountKey::from_pkcs8(&der)?, der))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<AccountKey, String> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| format!("not an ECDSA P-256 PKCS#8 key: {e}"))?;
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let (x, y) = match point {
            [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err("unexpected public key encoding".to_owned()),
        };
        let jwk = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64(x),
            b64(y)
        );
        Ok(AccountKey { pair, jwk })
    }

    /// The JWK thumbprint: the account's half of every key authorization.
    pub fn thumbprint(&self) -> String {
        b64(&Sha256::digest(self.jwk.as_bytes()))
    }

    /// `token.thumbprint`, the key authorization of a challenge (RFC 8555 §8.1).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint())
    }

    /// A flattened JWS of `payload` (`None`: POST-as-GET, an empty payload) for `url`,
    /// identified by the account URL `kid`, or by the JWK itself before the account exists.
    pub fn sign(
        &self,
        url: &str,
        nonce: &str,
        kid: Option<&str>,
        payload: Option<&serde_json::Value>,
    ) -> Result<String, String> {
        let protected = match kid {
            Some(k) => serde_json::json!({"alg": "ES256", "kid": k, "nonce": nonce, "url": url}),
            None => {
                let jwk: serde_json::Value =
                    serde_json::from_str(&self.jwk).map_err(|e| e.to_string())?;
                serde_json::json!({"alg": "ES256", "jwk": jwk, "nonce": nonce, "url": url})
            }
        };
        let protected = b64(protected.to_string().as_bytes());
        let payload = match payload {
            Some(p) => b64(p.to_string().as_bytes()),
            None => String::new(),
        };
        let signing_input = format!("{protected}.{payload}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| "signing failed".to_owned())?;
        Ok(serde_json::json!({
            "protected": protected,
            "payload": payload,
            "signature": b64(sig.as_ref()),
        })
        .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn a_signature_verifies_and_the_thumbprint_is_stable() {
        let (key, der) = AccountKey::generate().unwrap();
        let again = AccountKey::from_pkcs8(&der).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint());
        assert_eq!(key.thumbprint().len(), 43);
        assert!(key.key_authorization("tok").starts_with("tok."));
        let jws = key
            .sign(
                "https://ca/new-acct",
                "n1",
                None,
                Some(&serde_json::json!({"a": 1})),
            )
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&jws).unwrap();
        let input = format!(
            "{}.{}",
            v["protected"].as_str().unwrap(),
            v["payload"].as_str().unwrap()
        );
        let sig = URL_SAFE_NO_PAD
            .decode(v["signature"].as_str().unwrap())
            .unwrap();
        assert_eq!(sig.len(), 64);
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.pair.public_key().as_ref());
        public.verify(input.as_bytes(), &sig).unwrap();
        let protected = URL_SAFE_NO_PAD
            .decode(v["protected"].as_str().unwrap())
            .unwrap();
        let protected: serde_json::Value = serde_json::from_slice(&protected).unwrap();
        assert_eq!(protected["jwk"]["kty"], "EC");
        assert_eq!(protected["url"], "https://ca/new-acct");
        let get = key
            .sign("https://ca/x", "n2", Some("https://ca/acct/1"), None)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&get).unwrap();
        assert_eq!(v["payload"], "");
    }
}
