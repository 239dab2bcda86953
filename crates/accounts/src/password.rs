//! Password hashing (argon2id) and the password rules.
//!
//! Parameters are argon2's defaults, which are OWASP's recommended minimum for argon2id:
//! 19 MiB of memory, 2 passes, 1 lane. Hashing runs on the blocking pool so a burst of
//! logins does not stall the async workers.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params};
use tsunagu_kernel::{DomainError, DomainResult, FieldError};
use unicode_normalization::UnicodeNormalization;

/// The argon2id parameters in use, for the docs and the benchmark note.
pub fn params() -> Params {
    Params::default()
}

/// Checks a new password against the rules and returns it normalised (NFKC, so a password
/// typed with a full-width keyboard still matches later).
pub fn validate_new(field: &'static str, input: &str) -> DomainResult<String> {
    let pw: String = input.nfkc().collect();
    let n = pw.chars().count();
    if n == 0 {
        return Err(DomainError::invalid(field, "error.password.required"));
    }
    if n < 8 {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.password.too_short").arg("min", 8),
        ]));
    }
    if n > 128 {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.password.too_long").arg("max", 128),
        ]));
    }
    let has_letter = pw.chars().any(char::is_alphabetic);
    let has_other = pw.chars().any(|c| !c.is_alphabetic());
    if !(has_letter && has_other) {
        return Err(DomainError::invalid(field, "error.password.too_simple"));
    }
    Ok(pw)
}

/// Hashes a password (argon2id, random salt) on the blocking pool.
pub async fn hash(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(DomainError::internal)?
}

/// Hashes synchronously (demo data, tests).
pub fn hash_blocking(password: &str) -> DomainResult<String> {
    let pw: String = password.nfkc().collect();
    Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DomainError::internal(anyhow::anyhow!("hashing password: {e}")))
}

/// Verifies a password against a stored hash on the blocking pool.
pub async fn verify(password: String, stored: String) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || {
        let pw: String = password.nfkc().collect();
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| DomainError::internal(anyhow::anyhow!("stored hash unreadable: {e}")))?;
        Ok(Argon2::default()
            .verify_password(pw.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(DomainError::internal)?
}

/// A hash of a random password, verified against when the login id is unknown so that
/// "no such user" takes as long as "wrong password".
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eA"
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(validate_new("p", "").is_err());
        assert!(validate_new("p", "abc123").is_err());
        assert!(validate_new("p", "12345678").is_err());
        assert!(validate_new("p", "abcdefgh").is_err());
        assert_eq!(validate_new("p", "ｐａｓｓ１２３４").unwrap(), "pass1234");
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("pass1234".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("pass1234".into(), h.clone()).await.unwrap());
        assert!(verify("ｐａｓｓ１２３４".into(), h.clone()).await.unwrap());
        assert!(!verify("pass12345".into(), h).await.unwrap());
        assert!(!verify("x".into(), dummy_hash().into()).await.unwrap());
    }
}
