//! What a booking keeps of its insurance confirmation (A4, F8): every answer the eligibility
//! service gave for it, and, for a visit while that service was down, the four facts noted
//! then (name, kana, birth date, sex, address or insurer name), with which the qualification
//! is confirmed after recovery.
//!
//! The four facts are the patient's own statement (the paper form is 被保険者資格申立書);
//! they are kept with the booking only, never logged.

use serde::Serialize;
use tsunagu_db::{DbResultExt, on_unique, sqlx};
use tsunagu_kernel::error::Validator;
use tsunagu_kernel::values::{kana_name, person_name};
use tsunagu_kernel::{DomainError, DomainResult, FieldError, PatientId, Sex};

use crate::InsuranceStore;
use crate::check::Outcome;

/// How a booking's insurance was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// 方法2: by the card's numbers.
    CardNumbers,
    /// 方法1: by the My Number card, as a reader identified it.
    MyNumberCard,
    /// 方法3: by the four facts of an outage-time visit, after recovery.
    FourFacts,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::CardNumbers => "card_numbers",
            Method::MyNumberCard => "my_number_card",
            Method::FourFacts => "four_facts",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "four_facts" => Method::FourFacts,
            "my_number_card" => Method::MyNumberCard,
            _ => Method::CardNumbers,
        }
    }
    /// The catalogue key of its label.
    pub fn label_key(self) -> &'static str {
        match self {
            Method::CardNumbers => "insurance.method_card_numbers",
            Method::MyNumberCard => "insurance.method_my_number_card",
            Method::FourFacts => "insurance.method_four_facts",
        }
    }
}

/// One answer recorded for a booking.
#[derive(Debug, Clone, Serialize)]
pub struct BookingCheck {
    /// How.
    pub method: Method,
    /// The answer.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// When (ms).
    pub checked_at: i64,
}

/// The four facts as the patient stated them, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FourFacts {
    /// 氏名 (may be empty when the kana is given).
    pub name: String,
    /// 氏名（カナ） (may be empty when the name is given).
    pub kana: String,
    /// 生年月日.
    pub birth_date: jiff::civil::Date,
    /// 性別.
    pub sex: Sex,
    /// 住所 (may be empty when the insurer name is given).
    pub address: String,
    /// 保険者名 (may be empty when the address is given).
    pub insurer_name: String,
}

fn optional(
    v: &mut Validator,
    f: impl FnOnce() -> DomainResult<String>,
    raw: &str,
) -> DomainResult<Option<String>> {
    if raw.trim().is_empty() {
        Ok(Some(String::new()))
    } else {
        v.check(f())
    }
}

impl FourFacts {
    /// Validates the form: name or kana, birth date, sex, address or insurer name, as the
    /// search itself requires (F3), so a recorded visit can always be searched later.
    pub fn parse(
        name: &str,
        kana: &str,
        birth_date: &str,
        sex: &str,
        address: &str,
        insurer_name: &str,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        let name_v = optional(&mut v, || person_name("name", name, 60), name)?;
        let kana_v = optional(&mut v, || kana_name("kana", kana, 60), kana)?;
        if name.trim().is_empty() && kana.trim().is_empty() {
            v.push(FieldError::new("name", "error.insurance.name_or_kana"));
        }
        let birth = birth_date.trim().parse::<jiff::civil::Date>().ok();
        if birth.is_none() {
            v.push(FieldError::new("birth_date", "error.birth_date.invalid"));
        }
        let sex = v.check(Sex::parse("sex", sex))?;
        let address_v = optional(&mut v, || person_name("address", address, 120), address)?;
        let insurer_v = optional(
            &mut v,
            || person_name("insurer_name", insurer_name, 60),
            insurer_name,
        )?;
        if address.trim().is_empty() && insurer_name.trim().is_empty() {
            v.push(FieldError::new(
                "address",
                "error.insurance.address_or_insurer",
            ));
        }
        v.finish()?;
        match (name_v, kana_v, birth, sex, address_v, insurer_v) {
            (
                Some(name),
                Some(kana),
                Some(birth_date),
                Some(sex),
                Some(address),
                Some(insurer_name),
            ) => Ok(FourFacts {
                name,
                kana,
                birth_date,
                sex,
                address,
                insurer_name,
            }),
            _ => Err(DomainError::invalid("name", "error.required")),
        }
    }
}

/// The four facts as typed on a form or sent to the API (dates `YYYY-MM-DD`, sex 1/2/3),
/// kept as typed so a refused form can be shown again unchanged.
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
pub struct StatedFacts {
    /// 氏名 (name or kana, at least one).
    #[serde(default)]
    pub name: String,
    /// 氏名（カナ）.
    #[serde(default)]
    pub kana: String,
    /// 生年月日 `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: String,
    /// 性別: 1 男, 2 女, 3 未設定.
    #[serde(default)]
    pub sex: String,
    /// 住所 (address or insurer name, at least one).
    #[serde(default)]
    pub address: String,
    /// 保険者名.
    #[serde(default)]
    pub insurer_name: String,
}

impl StatedFacts {
    /// Validates them ([`FourFacts::parse`]).
    pub fn parse(&self) -> DomainResult<FourFacts> {
        FourFacts::parse(
            &self.name,
            &self.kana,
            &self.birth_date,
            &self.sex,
            &self.address,
            &self.insurer_name,
        )
    }
}

/// A visit recorded while the eligibility system was down.
#[derive(Debug, Clone, Serialize)]
pub struct OutageVisit {
    /// The eligibility service's id of the visit.
    pub remote_id: i64,
    /// The day of the visit in Japan: validity is judged at this date.
    pub visit_date: jiff::civil::Date,
    /// The facts noted.
    pub facts: FourFacts,
    /// When recorded (ms).
    pub recorded_at: i64,
}

type VisitRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
);

/// method, validity, validity_name, confirmation_date, institution, checked_at, holder_json.
type CheckRowSql = (String, String, String, String, String, i64, Option<String>);

impl InsuranceStore {
    /// Keeps an answer with the booking and, when `registration` names the patient's
    /// registration as it was asked about (its `updated_at`), on that registration, in one
    /// transaction. Answers `false`, writing nothing, when the registration changed since.
    /// The staff member's audit entry is appended in the same transaction.
    pub async fn record_answer(
        &self,
        booking: i64,
        patient: PatientId,
        method: Method,
        outcome: &Outcome,
        by: &tsunagu_audit::By,
        registration: Option<(PatientId, i64)>,
    ) -> DomainResult<bool> {
        let now = self.clock.now_ms();
        let staff = by.actor.id.unwrap_or_default();
        let mut tx = self.db.begin_write().await?;
        if let Some((patient, seen)) = registration {
            let json = serde_json::to_string(outcome).map_err(DomainError::internal)?;
            let r = sqlx::query(
                "UPDATE insurance_registrations SET verified_at = $1, verification = $2 \
                 WHERE patient_id = $3 AND updated_at = $4",
            )
            .bind(now)
            .bind(json)
            .bind(patient.0)
            .bind(seen)
            .execute(&mut *tx)
            .await
            .or_internal()?;
            if r.rows_affected() != 1 {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO booking_insurance_checks (booking_id, method, validity, validity_name, \
             confirmation_date, institution, checked_by, checked_at, holder_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(booking)
        .bind(method.as_str())
        .bind(&outcome.validity)
        .bind(&outcome.validity_name)
        .bind(&outcome.confirmation_date)
        .bind(&outcome.institution)
        .bind(staff)
        .bind(now)
        .bind(
            serde_json::to_string(&(&outcome.holder, &outcome.differences))
                .map_err(DomainError::internal)?,
        )
        .execute(&mut *tx)
        .await
        .or_internal()?;
        let action = match method {
            Method::CardNumbers | Method::MyNumberCard => "insurance.check",
            Method::FourFacts => "insurance.four_facts",
        };
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    Some(patient),
                    action,
                    format!("booking={booking} validity={}", outcome.validity),
                ),
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(true)
    }

    /// A booking's answers, newest first.
    pub async fn booking_checks(&self, booking: i64) -> DomainResult<Vec<BookingCheck>> {
        let rows: Vec<CheckRowSql> = sqlx::query_as(
            "SELECT method, validity, validity_name, confirmation_date, institution, checked_at, \
             holder_json FROM booking_insurance_checks WHERE booking_id = $1 ORDER BY checked_at DESC, id DESC",
        )
        .bind(booking)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows
            .into_iter()
            .map(|r| {
                // Checks kept before the holder was recorded have none.
                let (holder, differences) =
                    r.6.as_deref()
                        .and_then(|j| serde_json::from_str(j).ok())
                        .unwrap_or_default();
                BookingCheck {
                    method: Method::parse(&r.0),
                    outcome: Outcome {
                        validity: r.1,
                        validity_name: r.2,
                        confirmation_date: r.3,
                        institution: r.4,
                        holder,
                        differences,
                    },
                    checked_at: r.5,
                }
            })
            .collect())
    }

    /// Keeps an outage-time visit with its booking (a booking has at most one), and the
    /// staff member's audit entry in the same transaction.
    pub async fn record_outage_visit(
        &self,
        booking: i64,
        patient: PatientId,
        remote_id: i64,
        visit_date: jiff::civil::Date,
        facts: &FourFacts,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO booking_outage_visits (booking_id, remote_id, visit_date, name, kana, birth_date, \
             sex, address, insurer_name, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(booking)
        .bind(remote_id)
        .bind(visit_date.to_string())
        .bind(&facts.name)
        .bind(&facts.kana)
        .bind(facts.birth_date.to_string())
        .bind(facts.sex.code())
        .bind(&facts.address)
        .bind(&facts.insurer_name)
        .bind(by.actor.id.unwrap_or_default())
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await
        .map_err(on_unique("error.insurance.outage_visit_recorded"))?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    Some(patient),
                    "insurance.outage_visit",
                    format!("booking={booking}"),
                ),
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// The booking's outage-time visit, if one was recorded.
    pub async fn outage_visit(&self, booking: i64) -> DomainResult<Option<OutageVisit>> {
        let row: Option<VisitRow> = sqlx::query_as(
            "SELECT remote_id, visit_date, name, kana, birth_date, sex, address, insurer_name, recorded_at \
             FROM booking_outage_visits WHERE booking_id = $1",
        )
        .bind(booking)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        let Some(r) = row else { return Ok(None) };
        let date = |s: &str| {
            s.parse::<jiff::civil::Date>()
                .map_err(DomainError::internal)
        };
        Ok(Some(OutageVisit {
            remote_id: r.0,
            visit_date: date(&r.1)?,
            facts: FourFacts {
                name: r.2,
                kana: r.3,
                birth_date: date(&r.4)?,
                sex: Sex::from_code(r.5).unwrap_or(Sex::Unset),
                address: r.6,
                insurer_name: r.7,
            },
            recorded_at: r.8,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Invalid(fs) => fs.into_iter().map(|f| f.field.into_owned()).collect(),
            other => vec![other.to_string()],
        }
    }

    #[test]
    fn four_facts_need_one_of_each_pair() {
        let ok = FourFacts::parse("新橋　太郎", "", "1954-03-26", "1", "東京都", "").unwrap();
        assert_eq!(ok.name, "新橋 太郎");
        assert_eq!(ok.sex, Sex::Male);
        let kana = FourFacts::parse("", "しんばし たろう", "1954-03-26", "1", "", "協会").unwrap();
        assert_eq!(kana.kana, "シンバシタロウ");
        let e = FourFacts::parse("", "", "1954-02-30", "", "", "").unwrap_err();
        assert_eq!(fields(e), ["name", "birth_date", "sex", "address"]);
    }
}
