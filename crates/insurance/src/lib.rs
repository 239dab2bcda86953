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
mod register;

pub use register::InsuranceInput;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::{Clock, DomainResult, PatientId};

/// Card or マイナ保険証.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A health insurance card (被保険者証) or 資格確認書.
    Card,
    /// マイナ保険証 (the My Number card used as insurance card).
    Myna,
}

pub use tsunagu_hoken::CardNumbers;

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
