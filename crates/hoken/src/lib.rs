//! Japanese health-insurance facts that both the platform and the eligibility service
//! rely on, with no database and no HTTP: 保険者番号 (its check digit and padding) and the
//! rules for the 記号・番号・枝番 printed on a card. The two services share them through
//! this crate, not through each other: the platform never links the eligibility service.

pub mod insurer;

use insurer::{InsurerNumber, validate_branch, validate_number, validate_symbol};
use serde::Serialize;
use tsunagu_kernel::error::Validator;
use tsunagu_kernel::{DomainError, DomainResult};

/// A problem with one input field, worded for the person who typed it.
///
/// `field` is a stable identifier the web layer uses to put the message next
/// to the right input (for rules that concern two inputs at once, such as
/// "name or kana", it names the pair, e.g. `"name_or_kana"`); `message` is
/// Japanese and says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// Which input (or pair of inputs) the message belongs to.
    pub field: &'static str,
    /// What is wrong and how to fix it, in Japanese.
    pub message: String,
}

impl FieldError {
    /// A message for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Validated card numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardNumbers {
    /// 保険者番号 (6 or 8 digits, check digit verified).
    pub insurer_number: String,
    /// 記号 (optional).
    pub symbol: Option<String>,
    /// 番号.
    pub number: String,
    /// 枝番 (2 digits, optional on older cards).
    pub branch: Option<String>,
}

impl CardNumbers {
    /// Validates what the patient typed, naming each field to fix.
    pub fn parse(
        insurer_number: &str,
        symbol: &str,
        number: &str,
        branch: &str,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        let ins = v.check(InsurerNumber::parse(insurer_number).map_err(|_| {
            let empty = insurer_number.trim().is_empty();
            DomainError::invalid(
                "insurer_number",
                if empty {
                    "error.insurer.required"
                } else {
                    "error.insurer.invalid"
                },
            )
        }))?;
        let sym = v.check(
            validate_symbol(symbol)
                .map_err(|_| DomainError::invalid("symbol", "error.card_symbol.invalid")),
        )?;
        let num = v.check(validate_number(number).map_err(|_| {
            let empty = number.trim().is_empty();
            DomainError::invalid(
                "number",
                if empty {
                    "error.card_number.required"
                } else {
                    "error.card_number.invalid"
                },
            )
        }))?;
        let br = v.check(
            validate_branch(branch)
                .map_err(|_| DomainError::invalid("branch", "error.branch.invalid")),
        )?;
        v.finish()?;
        match (ins, sym, num, br) {
            (Some(i), Some(symbol), Some(number), Some(branch)) => Ok(Self {
                insurer_number: i.as_str().to_string(),
                symbol,
                number,
                branch,
            }),
            _ => Err(DomainError::Invalid(vec![tsunagu_kernel::FieldError::new(
                "insurer_number",
                "error.insurer.invalid",
            )])),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn keys(e: DomainError) -> Vec<&'static str> {
        match e {
            DomainError::Invalid(es) => es.iter().map(|f| f.key).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn card_numbers() {
        let c = CardNumbers::parse("０６１３９０００", "札あ10", "１２３", "1").unwrap();
        assert_eq!(c.insurer_number, "06139000");
        assert_eq!(c.branch.as_deref(), Some("01"));
        assert_eq!(c.number, "123");
        // 138016 is a valid 6-digit 国保 number; 019904 fails its check digit.
        assert!(CardNumbers::parse("138016", "", "5", "").is_ok());
        assert_eq!(
            keys(CardNumbers::parse("019904", "", "5", "").unwrap_err()),
            vec!["error.insurer.invalid"]
        );
        assert_eq!(
            keys(CardNumbers::parse("", "", "", "123").unwrap_err()),
            vec![
                "error.insurer.required",
                "error.card_number.required",
                "error.branch.invalid"
            ]
        );
    }
}
