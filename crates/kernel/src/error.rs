//! The domain error every store and service returns.
//!
//! Messages are catalogue keys (`error.phone.invalid`), never sentences: the web layer
//! renders them in the user's language. `Internal` carries the cause for the log only.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// One problem with one input field, as a message key plus named arguments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The form field or JSON property at fault (owned for fields named at run time, like
    /// a questionnaire's questions).
    pub field: Cow<'static, str>,
    /// The catalogue key of the message saying what to fix.
    pub key: &'static str,
    /// Values substituted into the message (`%{max}` and so on).
    pub args: BTreeMap<&'static str, String>,
}

impl FieldError {
    /// A field error with no arguments.
    pub fn new(field: impl Into<Cow<'static, str>>, key: &'static str) -> Self {
        Self {
            field: field.into(),
            key,
            args: BTreeMap::new(),
        }
    }

    /// Adds an argument to the message.
    #[must_use]
    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.insert(name, value.to_string());
        self
    }
}

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input failed validation; every field's problems are listed.
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The thing does not exist, or is outside the caller's scope (never say which).
    #[error("not found")]
    NotFound,
    /// The caller is not signed in, or the credentials are wrong (message key).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Signed in but not allowed (message key).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The request clashes with the current state (message key), e.g. a taken phone number.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too many attempts; try again after the given number of seconds.
    #[error("too many requests: {key}, retry after {retry_after_secs}s")]
    TooManyRequests {
        /// Message key.
        key: &'static str,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// Too much work at once (password hashing queued too long); the caller may retry.
    #[error("busy, retry after {retry_after_secs}s")]
    Busy {
        /// Seconds until a retry is likely to succeed.
        retry_after_secs: u64,
    },
    /// A fault of ours; logged with its cause and shown only as a request id.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl DomainError {
    /// Shorthand for a single invalid field.
    pub fn invalid(field: &'static str, key: &'static str) -> Self {
        Self::Invalid(vec![FieldError::new(field, key)])
    }

    /// Wraps any error as internal.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }
}

/// Result alias for domain operations.
pub type DomainResult<T> = Result<T, DomainError>;

/// Collects field errors while validating a form, then fails once with all of them.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error.
    pub fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    /// Takes the value of `r`, or records its field errors and returns `None`.
    pub fn check<T>(&mut self, r: DomainResult<T>) -> DomainResult<Option<T>> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(DomainError::Invalid(es)) => {
                self.errors.extend(es);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Fails with every recorded error, if any.
    pub fn finish(self) -> DomainResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.errors))
        }
    }
}
