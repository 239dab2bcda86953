//! The messages a form shows again after a refusal: per field and general, in the
//! request's language, from any [`DomainError`] a form can show.

use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_kernel::DomainError;

/// Messages to show on a form after a failed submission.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    /// Per field: (field name, message).
    pub fields: Vec<(String, String)>,
    /// Not tied to a field (wrong password, too many tries…).
    pub general: Vec<String>,
}

impl FormErrors {
    /// No errors.
    pub fn none() -> Self {
        Self::default()
    }

    /// Splits a domain error into form messages. Errors a form cannot show (not found,
    /// forbidden, internal) are handed back to go to the error page.
    pub fn from_error(e: DomainError, lang: Lang) -> Result<Self, DomainError> {
        let mut out = Self::default();
        match e {
            DomainError::Invalid(fields) => {
                for f in fields {
                    let args: Vec<(&str, String)> =
                        f.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                    out.fields
                        .push((f.field.to_string(), t_args(lang, f.key, &args)));
                }
            }
            DomainError::Unauthorized(key) | DomainError::Conflict(key) => {
                out.general.push(t(lang, key).into_owned());
            }
            DomainError::TooManyRequests {
                key,
                retry_after_secs,
            } => {
                out.general.push(t_args(
                    lang,
                    key,
                    &[("seconds", retry_after_secs.to_string())],
                ));
            }
            DomainError::Busy { retry_after_secs } => {
                out.general.push(t_args(
                    lang,
                    "error.busy",
                    &[("seconds", retry_after_secs.to_string())],
                ));
            }
            other => return Err(other),
        }
        Ok(out)
    }

    /// A general message by key.
    pub fn general(lang: Lang, key: &str) -> Self {
        Self {
            fields: Vec::new(),
            general: vec![t(lang, key).into_owned()],
        }
    }

    /// Moves field messages to the general list (for pages whose inputs are not fields
    /// the user typed, like a list of slots).
    #[must_use]
    pub fn flattened(mut self) -> Self {
        let fields = std::mem::take(&mut self.fields);
        self.general.extend(fields.into_iter().map(|(_, m)| m));
        self
    }

    /// The first message for `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether `field` has a message (for `aria-invalid`).
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// Whether there is anything to show.
    pub fn any(&self) -> bool {
        !self.fields.is_empty() || !self.general.is_empty()
    }
}
