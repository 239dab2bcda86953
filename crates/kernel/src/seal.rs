//! Sealing secrets the platform must give back to someone else — a clinic's password at the
//! eligibility service, later a payment gateway's keys — so that a copy of the database
//! alone does not reveal them. XChaCha20-Poly1305 with a random 192-bit nonce per value;
//! the key lives outside the database (configuration, or a file in the data directory).
//! What the value belongs to is bound in as associated data, so a sealed value moved to
//! another row does not open.
//!
//! The same key (through a derived MAC key) also digests short secrets such as 6-digit SMS
//! codes with HMAC-SHA256: a plain digest of a million possible codes is undone in a moment
//! from a copy of the database; a keyed one is not.

use base64::Engine;
use chacha20poly1305::aead::{Aead, Generate, Key, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::{DomainError, DomainResult};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const NONCE_LEN: usize = 24;

/// Seals and opens values under one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    mac_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

/// A fresh key, base64url (43 characters), for the configuration or the key file.
pub fn new_key() -> String {
    B64.encode(Key::<XChaCha20Poly1305>::generate())
}

impl Sealer {
    /// A sealer for a base64url key of 32 bytes.
    pub fn from_key(key: &str) -> Result<Self, String> {
        let bytes = B64
            .decode(key.trim())
            .map_err(|_| "the secret key is not base64url".to_string())?;
        let key = Key::<XChaCha20Poly1305>::try_from(bytes.as_slice())
            .map_err(|_| "the secret key must be 32 bytes".to_string())?;
        // A separate key for the MAC: one key, one algorithm.
        let mac_key: [u8; 32] = Sha256::new()
            .chain_update(b"tsunagu-mac:")
            .chain_update(bytes.as_slice())
            .finalize()
            .into();
        Ok(Self {
            cipher: XChaCha20Poly1305::new(&key),
            mac_key,
        })
    }

    /// A keyed digest (HMAC-SHA256, hex) of `data`, for storing short secrets to compare.
    pub fn mac(&self, data: &str) -> String {
        let mut m = <hmac::Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(data.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// Seals `plain` for the owner named by `aad` (e.g. `eligibility-link:12`).
    pub fn seal(&self, plain: &str, aad: &str) -> DomainResult<String> {
        let nonce = XNonce::generate();
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| DomainError::internal(anyhow::anyhow!("sealing failed")))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    /// Opens a value sealed for `aad`; a changed value, another owner or another key fails.
    pub fn open(&self, sealed: &str, aad: &str) -> DomainResult<String> {
        let fail = || DomainError::internal(anyhow::anyhow!("a sealed value did not open"));
        let bytes = B64.decode(sealed).map_err(|_| fail())?;
        if bytes.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ct) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| fail())?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_what_it_sealed_for_the_same_owner() {
        let s = Sealer::from_key(&new_key()).unwrap();
        let sealed = s.seal("パスワード-2026", "link:1").unwrap();
        assert!(!sealed.contains("2026"));
        assert_eq!(s.open(&sealed, "link:1").unwrap(), "パスワード-2026");
        // Each sealing is different (fresh nonce).
        assert_ne!(
            s.seal("x", "link:1").unwrap(),
            s.seal("x", "link:1").unwrap()
        );
        assert!(s.open(&sealed, "link:2").is_err());
        let other = Sealer::from_key(&new_key()).unwrap();
        assert!(other.open(&sealed, "link:1").is_err());
        let mut bent = sealed.into_bytes();
        let last = bent.len() - 1;
        bent[last] = if bent[last] == b'A' { b'B' } else { b'A' };
        assert!(s.open(&String::from_utf8(bent).unwrap(), "link:1").is_err());
        assert!(Sealer::from_key("too-short").is_err());
    }

    #[test]
    fn macs_depend_on_the_key() {
        let a = Sealer::from_key(&new_key()).unwrap();
        let b = Sealer::from_key(&new_key()).unwrap();
        assert_eq!(a.mac("+819000000001:123456"), a.mac("+819000000001:123456"));
        assert_ne!(a.mac("+819000000001:123456"), b.mac("+819000000001:123456"));
        assert_ne!(a.mac("+819000000001:123456"), a.mac("+819000000001:123457"));
        assert_eq!(a.mac("x").len(), 64);
    }
}
