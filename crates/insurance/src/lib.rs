//! Insurance registrations (A4): a patient's insurance card — 保険者番号 (check digit
//! verified), 記号, 番号, 枝番 and photos of both sides — or the choice of マイナ保険証.
//! Required before an insured visit can start; the last eligibility check's result is
//! kept with it (filled in by the eligibility integration).
//!
//! The card numbers are kept apart from any identity-document flow: since 2020-10 asking
//! for them for anything but insurance work is prohibited (DOMAIN §1, 告知要求制限).

use std::sync::Arc;

pub mod check;
pub mod links;
pub mod outage;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_eligibility_domain::insurer::{
    InsurerNumber, validate_branch, validate_number, validate_symbol,
};
use tsunagu_kernel::error::Validator;
use tsunagu_kernel::{Clock, DomainError, DomainResult, FieldError, PatientId};

/// Card or マイナ保険証.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A health insurance card (被保険者証) or 資格確認書.
    Card,
    /// マイナ保険証 (the My Number card used as insurance card).
    Myna,
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
            _ => Err(DomainError::Invalid(vec![FieldError::new(
                "insurer_number",
                "error.insurer.invalid",
            )])),
        }
    }
}

/// A stored registration.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Patient.
    pub patient_id: i64,
    /// Card or マイナ保険証.
    pub kind: Kind,
    /// Numbers (card only).
    pub insurer_number: Option<String>,
    /// 記号.
    pub symbol: Option<String>,
    /// 番号.
    pub number: Option<String>,
    /// 枝番.
    pub branch: Option<String>,
    /// Front photo's file id.
    pub front_file_id: Option<i64>,
    /// Back photo's file id.
    pub back_file_id: Option<i64>,
    /// When the eligibility service last confirmed it (ms).
    pub verified_at: Option<i64>,
    /// What it said (JSON of [`check::Outcome`]).
    pub verification: Option<String>,
    /// Last change (ms).
    pub updated_at: i64,
}

impl Registration {
    /// The eligibility service's last answer, if any.
    pub fn outcome(&self) -> Option<check::Outcome> {
        self.verification
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

/// Registration storage. Callers scope access: the account that manages the patient, or a
/// facility that knows the patient.
#[derive(Debug, Clone)]
pub struct InsuranceStore {
    db: Db,
    clock: Arc<dyn Clock>,
    audit: tsunagu_audit::AuditLog,
}

impl InsuranceStore {
    /// The store on `db`; staff actions on it are appended to `audit` in their own
    /// transaction.
    pub fn new(db: Db, clock: Arc<dyn Clock>, audit: tsunagu_audit::AuditLog) -> Self {
        Self { db, clock, audit }
    }

    /// Saves (replaces) a patient's registration in the caller's transaction.
    pub async fn save_in(
        &self,
        tx: &mut Tx,
        patient: PatientId,
        kind: Kind,
        numbers: Option<&CardNumbers>,
        front: Option<i64>,
        back: Option<i64>,
    ) -> DomainResult<()> {
        let now = self.clock.now_ms();
        sqlx::query("DELETE FROM insurance_registrations WHERE patient_id = $1")
            .bind(patient.0)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        sqlx::query(
            "INSERT INTO insurance_registrations (patient_id, kind, insurer_number, symbol, number, branch, \
             front_file_id, back_file_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(patient.0)
        .bind(match kind {
            Kind::Card => "card",
            Kind::Myna => "myna",
        })
        .bind(numbers.map(|n| n.insurer_number.clone()))
        .bind(numbers.and_then(|n| n.symbol.clone()))
        .bind(numbers.map(|n| n.number.clone()))
        .bind(numbers.and_then(|n| n.branch.clone()))
        .bind(front)
        .bind(back)
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()?;
        Ok(())
    }

    /// A patient's registration, if any.
    pub async fn get(&self, patient: PatientId) -> DomainResult<Option<Registration>> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            i64,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT kind, insurer_number, symbol, number, branch, front_file_id, back_file_id, verified_at, \
             verification, updated_at FROM insurance_registrations WHERE patient_id = $1",
        )
        .bind(patient.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        Ok(row.map(
            |(
                kind,
                insurer_number,
                symbol,
                number,
                branch,
                front_file_id,
                back_file_id,
                verified_at,
                verification,
                updated_at,
            )| Registration {
                patient_id: patient.0,
                kind: if kind == "myna" {
                    Kind::Myna
                } else {
                    Kind::Card
                },
                insurer_number,
                symbol,
                number,
                branch,
                front_file_id,
                back_file_id,
                verified_at,
                verification,
                updated_at,
            },
        ))
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
