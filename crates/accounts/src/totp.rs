//! Time-based one-time passwords (RFC 6238) for staff and operators.
//!
//! SHA-1, 6 digits, 30-second steps: what every authenticator app (Google Authenticator,
//! Microsoft Authenticator, 1Password, IIJ SmartKey) understands. One step of clock skew is
//! accepted either way, and a code's step is remembered so the same code cannot be used
//! twice.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use tsunagu_kernel::{DomainError, DomainResult};

/// A new random secret, base32-encoded for storage and manual entry.
pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> DomainResult<Totp> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|e| DomainError::internal(anyhow::anyhow!("bad TOTP secret: {e:?}")))?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|e| DomainError::internal(anyhow::anyhow!("TOTP setup: {e}")))
}

/// The `otpauth://` URL an authenticator app scans.
pub fn provisioning_url(secret_b32: &str, issuer: &str, account: &str) -> DomainResult<String> {
    totp(secret_b32, issuer, account)?
        .to_url()
        .map_err(|e| DomainError::internal(anyhow::anyhow!("TOTP URL: {e}")))
}

/// Checks `code` at `unix_secs`; returns the matched step if it is newer than `last_step`.
pub fn verify(
    secret_b32: &str,
    code: &str,
    unix_secs: u64,
    last_step: i64,
) -> DomainResult<Option<i64>> {
    let code: String = code.chars().filter(char::is_ascii_digit).collect();
    if code.len() != 6 {
        return Ok(None);
    }
    let t = totp(secret_b32, "tsunagu", "x")?;
    let now_step = i64::try_from(unix_secs / 30).unwrap_or(i64::MAX);
    for step in [now_step - 1, now_step, now_step + 1] {
        if step <= last_step || step < 0 {
            continue;
        }
        let candidate = t
            .generate(u64::try_from(step).unwrap_or(0) * 30)
            .to_string();
        if bool::from(candidate.as_bytes().ct_eq(code.as_bytes())) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// The current code (tests and the CLI's `admin totp-code` for demo accounts).
pub fn current_code(secret_b32: &str, unix_secs: u64) -> DomainResult<String> {
    Ok(totp(secret_b32, "tsunagu", "x")?
        .generate(unix_secs)
        .to_string())
}

/// Letters and digits that cannot be mistaken for one another when read aloud or typed
/// from paper (no 0/O, 1/I/L).
const ENROL_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A one-time enrolment code: 10 characters (about 49 bits), shown as `XXXXX-XXXXX`.
pub fn new_enrolment_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let chars: String = (0..10)
        .map(|_| char::from(ENROL_ALPHABET[rng.random_range(0..ENROL_ALPHABET.len())]))
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// An enrolment code as typed, compared form: full-width folded, upper case, without
/// hyphens or spaces.
pub fn normalise_enrolment_code(input: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    input
        .nfkc()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The keyed digest an enrolment code is stored under.
pub fn enrolment_digest(sealer: &tsunagu_kernel::seal::Sealer, code: &str) -> String {
    sealer.mac(&format!("enrol:{}", normalise_enrolment_code(code)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_once() {
        let s = new_secret();
        let now = 1_800_000_000;
        let code = current_code(&s, now).unwrap();
        let step = verify(&s, &code, now, 0).unwrap().unwrap();
        assert_eq!(
            verify(&s, &code, now, step).unwrap(),
            None,
            "replay refused"
        );
        assert_eq!(
            verify(&s, &code, now + 31, 0).unwrap(),
            Some(step),
            "one step of skew"
        );
        assert_eq!(verify(&s, &code, now + 95, 0).unwrap(), None, "too old");
        assert_eq!(verify(&s, "12345", now, 0).unwrap(), None);
        assert!(
            provisioning_url(&s, "tsunagu", "doctor@clinic")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
    }
}
