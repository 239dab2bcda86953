//! Random tokens and their stored digests.
//!
//! Every link and session id is a key: 256 random bits, URL-safe, and only its SHA-256
//! digest is stored, so a leaked database does not leak live sessions or links.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh 256-bit random token, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The digest under which a token is stored and looked up.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A uniformly random numeric code of `digits` digits (leading zeros kept), for SMS.
pub fn numeric_code(digits: u32) -> String {
    let max = 10u32.pow(digits);
    // rand's range sampling is unbiased, unlike `next_u32() % max`.
    let n = rand::Rng::random_range(&mut rand::rng(), 0..max);
    format!("{n:0width$}", width = digits as usize)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(token_digest(&a).len(), 64);
    }

    #[test]
    fn codes_have_six_digits() {
        for _ in 0..100 {
            let c = numeric_code(6);
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|c| c.is_ascii_digit()));
        }
    }
}
