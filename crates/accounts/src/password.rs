//! Password hashing (argon2id) and the password rules.
//!
//! Parameters are argon2's defaults, which are OWASP's recommended minimum for argon2id:
//! 19 MiB of memory, 2 passes, 1 lane. Hashing runs on its own threads, one a core, so a
//! burst of logins neither stalls the async workers nor grows memory: 150 parallel logins
//! once took the server from 89 MB to 2.9 GB resident (each hash holds its 19 MiB). Each
//! hashing thread reuses one 19 MiB buffer; further requests queue for a bounded time and
//! are then told the service is busy.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;
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

/// How long a hash may wait for a free core before the caller is told to retry.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

type HashJob = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads, one a core, fed through a queue.
///
/// Fixed rather than tokio's blocking pool: each argon2 call allocates 19 MiB, and the
/// allocator keeps a freed block in the arena of the thread that used it. On a pool that
/// hands work to ever other threads, a burst left a 19 MiB block in every arena (2 GB a
/// minute after the burst); on these threads it is one block a thread, reused.
struct HashPool {
    permits: tokio::sync::Semaphore,
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>,
}

fn pool() -> &'static HashPool {
    static POOL: std::sync::OnceLock<HashPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for n in 0..cores {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        HashPool {
            permits: tokio::sync::Semaphore::new(cores),
            jobs: std::sync::Mutex::new(tx),
        }
    })
}

/// Runs `work` on a hashing thread once one is free, or answers `Busy` after waiting
/// [`QUEUE_WAIT`].
async fn gated<T: Send + 'static>(
    work: impl FnOnce() -> DomainResult<T> + Send + 'static,
) -> DomainResult<T> {
    let pool = pool();
    let _permit = tokio::time::timeout(QUEUE_WAIT, pool.permits.acquire())
        .await
        .map_err(|_| DomainError::Busy {
            retry_after_secs: 5,
        })?
        .map_err(DomainError::internal)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = tx.send(work());
    });
    pool.jobs
        .lock()
        .map_err(|_| DomainError::internal(anyhow::anyhow!("hashing queue poisoned")))?
        .send(job)
        .map_err(|_| DomainError::internal(anyhow::anyhow!("hashing threads stopped")))?;
    rx.await
        .map_err(|_| DomainError::internal(anyhow::anyhow!("hashing thread dropped a job")))?
}

/// Hashes a password (argon2id, random salt) on a hashing thread.
pub async fn hash(password: String) -> DomainResult<String> {
    gated(move || hash_blocking(&password)).await
}

/// Hashes synchronously (demo data, tests).
pub fn hash_blocking(password: &str) -> DomainResult<String> {
    let pw: String = password.nfkc().collect();
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(params.block_count(), |blocks| {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(pw.as_bytes(), &salt, &mut out, blocks)
            .map_err(|e| internal("hashing password", e))
    })?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal("hash parameters", e))?,
        salt: Some(Salt::new(&salt).map_err(|e| internal("salt", e))?),
        hash: Some(Output::new(&out).map_err(|e| internal("hash output", e))?),
    };
    Ok(phc.to_string())
}

/// Checks a password against a stored PHC string in constant time.
fn verify_blocking(password: &str, stored: &str) -> DomainResult<bool> {
    let pw: String = password.nfkc().collect();
    let parsed = PasswordHash::new(stored).map_err(|e| internal("stored hash unreadable", e))?;
    let params = Params::try_from(&parsed).map_err(|e| internal("stored hash parameters", e))?;
    let algorithm =
        Algorithm::new(parsed.algorithm.as_str()).map_err(|e| internal("stored algorithm", e))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| internal("stored version", e))?
        .unwrap_or_default();
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(internal("stored hash incomplete", "no salt or output"));
    };
    let mut out = vec![0u8; expected.len()];
    with_blocks(params.block_count(), |blocks| {
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(pw.as_bytes(), salt.as_ref(), &mut out, blocks)
            .map_err(|e| internal("verifying password", e))
    })?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

thread_local! {
    /// This thread's argon2 memory, allocated once and reused by every hash on it.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Lends `f` this thread's argon2 memory, grown to `count` blocks.
///
/// argon2's own calls allocate 19 MiB a hash and free it; with glibc's adaptive mmap
/// threshold those blocks end up in the heap and fragment it: 150 logins left ~260 MiB
/// resident even on two threads. One buffer a hashing thread keeps it at 19 MiB each.
fn with_blocks<T>(
    count: usize,
    f: impl FnOnce(&mut [Block]) -> DomainResult<T>,
) -> DomainResult<T> {
    BLOCKS.with(|cell| {
        let mut blocks = cell
            .try_borrow_mut()
            .map_err(|e| internal("argon2 memory in use", e))?;
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        let slice = blocks
            .get_mut(..count)
            .ok_or_else(|| internal("argon2 memory", "too small"))?;
        f(slice)
    })
}

fn internal(what: &str, e: impl std::fmt::Display) -> DomainError {
    DomainError::internal(anyhow::anyhow!("{what}: {e}"))
}

/// Verifies a password against a stored hash on a hashing thread.
pub async fn verify(password: String, stored: String) -> DomainResult<bool> {
    gated(move || verify_blocking(&password, &stored)).await
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
