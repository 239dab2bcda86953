//! Accounts (logins) and patients (people), and the facility-scoped view staff get.
//!
//! Every query that returns patient data takes either the owning [`AccountId`] or a
//! [`FacilityId`]; there is deliberately no "get patient by id" without a scope.

use std::sync::Arc;

use jiff::civil::Date;
use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, on_unique, sqlx};
use tsunagu_kernel::values::{human_name, kana_name};
use tsunagu_kernel::{
    AccountId, Clock, DomainError, DomainResult, Email, FacilityId, FieldError, PatientId, Phone,
    Sex,
};

/// A login: a proved mobile number and a password.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Mobile number (E.164).
    pub phone: Phone,
    /// Verified email address, if any.
    pub email: Option<Email>,
    /// Where notices go: `sms` or `email`.
    pub notify_channel: String,
    /// argon2id hash.
    #[serde(skip)]
    pub password_hash: String,
    /// Consecutive failed logins.
    #[serde(skip)]
    pub failed_logins: i64,
    /// No login is accepted before this instant (ms).
    #[serde(skip)]
    pub next_login_at: i64,
}

/// How a patient relates to the account that manages it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The account holder.
    #[serde(rename = "self")]
    Myself,
    /// A family member managed by the holder.
    Family,
    /// Created by staff with no account.
    None,
}

impl Relation {
    fn as_str(self) -> &'static str {
        match self {
            Relation::Myself => "self",
            Relation::Family => "family",
            Relation::None => "none",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "self" => Relation::Myself,
            "family" => Relation::Family,
            _ => Relation::None,
        }
    }
}

/// A person who receives care.
#[derive(Debug, Clone, Serialize)]
pub struct Patient {
    /// Id.
    pub id: PatientId,
    /// The managing account, if any.
    pub account_id: Option<AccountId>,
    /// Relation to that account.
    pub relation: Relation,
    /// 姓.
    pub family_name: String,
    /// 名.
    pub given_name: String,
    /// セイ.
    pub family_name_kana: String,
    /// メイ.
    pub given_name_kana: String,
    /// Birth date.
    pub birth_date: Option<Date>,
    /// Sex.
    pub sex: Option<Sex>,
}

impl Patient {
    /// 姓 名.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.family_name, self.given_name)
            .trim()
            .to_string()
    }
    /// セイ メイ.
    pub fn full_kana(&self) -> String {
        format!("{} {}", self.family_name_kana, self.given_name_kana)
    }
}

/// A patient's details as entered, validated.
#[derive(Debug, Clone)]
pub struct NewPatient {
    /// 姓.
    pub family_name: String,
    /// 名.
    pub given_name: String,
    /// セイ.
    pub family_name_kana: String,
    /// メイ.
    pub given_name_kana: String,
    /// Birth date.
    pub birth_date: Date,
    /// Sex.
    pub sex: Sex,
}

impl NewPatient {
    /// Validates form input, reporting every bad field at once.
    pub fn parse(
        family_name: &str,
        given_name: &str,
        family_name_kana: &str,
        given_name_kana: &str,
        birth_date: &str,
        sex: &str,
        today: Date,
    ) -> DomainResult<Self> {
        let mut v = tsunagu_kernel::error::Validator::new();
        let f = v.check(human_name("family_name", family_name, 40))?;
        let g = v.check(human_name("given_name", given_name, 40))?;
        let fk = v.check(kana_name("family_name_kana", family_name_kana, 40))?;
        let gk = v.check(kana_name("given_name_kana", given_name_kana, 40))?;
        let b = v.check(parse_birth_date("birth_date", birth_date, today))?;
        let s = v.check(Sex::parse("sex", sex))?;
        v.finish()?;
        match (f, g, fk, gk, b, s) {
            (Some(f), Some(g), Some(fk), Some(gk), Some(b), Some(s)) => Ok(Self {
                family_name: f,
                given_name: g,
                family_name_kana: fk,
                given_name_kana: gk,
                birth_date: b,
                sex: s,
            }),
            _ => Err(DomainError::internal(anyhow::anyhow!(
                "validator accepted incomplete input"
            ))),
        }
    }
}

/// Parses `YYYY-MM-DD` (what `<input type=date>` sends) and rejects future or absurd dates.
pub fn parse_birth_date(field: &'static str, s: &str, today: Date) -> DomainResult<Date> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "error.birth_date.required"));
    }
    let d: Date = s
        .parse()
        .map_err(|_| DomainError::invalid(field, "error.birth_date.invalid"))?;
    if d > today {
        return Err(DomainError::invalid(field, "error.birth_date.future"));
    }
    if d.year() < 1868 {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.birth_date.too_old").arg("year", 1868),
        ]));
    }
    Ok(d)
}

/// A birth date entered in 和暦 (元号 code 1–5 as on insurance systems, 年 with 元 for 1,
/// 月, 日; full-width digits accepted), as `YYYY-MM-DD` for [`parse_birth_date`]. An elderly
/// patient knows 「昭和30年」 better than 1955, so forms offer it beside the Western date.
pub fn birth_from_wareki(
    field: &'static str,
    era: &str,
    year: &str,
    month: &str,
    day: &str,
) -> DomainResult<String> {
    use tsunagu_calendar::wareki::{Era, WarekiError, from_wareki};
    let num = |s: &str| -> Option<u16> {
        let s: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                c => c,
            })
            .collect();
        let s = s.trim_end_matches(['年', '月', '日']);
        if s == "元" { Some(1) } else { s.parse().ok() }
    };
    let era = era.trim().parse::<u8>().ok().and_then(Era::from_code);
    let (Some(era), Some(y), Some(m), Some(d)) = (era, num(year), num(month), num(day)) else {
        return Err(DomainError::invalid(
            field,
            "error.birth_date.wareki_incomplete",
        ));
    };
    let (Ok(m), Ok(d)) = (u8::try_from(m), u8::try_from(d)) else {
        return Err(DomainError::invalid(
            field,
            "error.birth_date.wareki_invalid",
        ));
    };
    match from_wareki(era, y, m, d) {
        Ok(date) => Ok(date.to_string()),
        Err(WarekiError::YearOutOfEra { era, max_year }) => Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.birth_date.wareki_year")
                .arg("era", era.name())
                .arg("max", max_year),
        ])),
        Err(WarekiError::BeforeEraStart { era } | WarekiError::AfterEraEnd { era }) => {
            Err(DomainError::Invalid(vec![
                FieldError::new(field, "error.birth_date.wareki_range").arg("era", era.name()),
            ]))
        }
        Err(_) => Err(DomainError::invalid(
            field,
            "error.birth_date.wareki_invalid",
        )),
    }
}

const ACCOUNT_COLUMNS: &str = "id, phone, email, email_verified_at, notify_channel, password_hash, failed_logins, next_login_at";
const PATIENT_COLUMNS: &str = "id, account_id, relation, family_name, given_name, \
    family_name_kana, given_name_kana, birth_date, sex";

fn row_to_account(r: &sqlx::any::AnyRow) -> Result<Account, sqlx::Error> {
    use sqlx::Row;
    let email: Option<String> = r.try_get("email")?;
    let verified: Option<i64> = r.try_get("email_verified_at")?;
    Ok(Account {
        id: AccountId(r.try_get("id")?),
        phone: Phone::from_stored(r.try_get("phone")?),
        email: email.filter(|_| verified.is_some()).map(Email::from_stored),
        notify_channel: r.try_get("notify_channel")?,
        password_hash: r.try_get("password_hash")?,
        failed_logins: r.try_get("failed_logins")?,
        next_login_at: r.try_get("next_login_at")?,
    })
}

fn row_to_patient(r: &sqlx::any::AnyRow) -> Result<Patient, sqlx::Error> {
    use sqlx::Row;
    let birth: Option<String> = r.try_get("birth_date")?;
    let sex: Option<i64> = r.try_get("sex")?;
    Ok(Patient {
        id: PatientId(r.try_get("id")?),
        account_id: r.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        relation: Relation::parse(&r.try_get::<String, _>("relation")?),
        family_name: r.try_get("family_name")?,
        given_name: r.try_get("given_name")?,
        family_name_kana: r.try_get("family_name_kana")?,
        given_name_kana: r.try_get("given_name_kana")?,
        birth_date: birth.and_then(|b| b.parse().ok()),
        sex: sex.and_then(Sex::from_code),
    })
}

/// A patient as a facility's staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct FacilityPatient {
    /// The patient.
    #[serde(flatten)]
    pub patient: Patient,
    /// The facility's chart number (カルテ番号 / 診察券番号).
    pub chart_number: Option<String>,
    /// Whether the patient has shared their record (insurance, documents) with the
    /// facility: they booked there themselves, or confirmed a booking staff made.
    pub shared: bool,
}

/// A chart number (カルテ番号 / 診察券番号) as typed: up to 20 letters, digits or hyphens;
/// empty means none.
pub fn parse_chart_number(s: &str) -> DomainResult<Option<String>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 20 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(DomainError::invalid(
            "chart_number",
            "error.chart_number.invalid",
        ));
    }
    Ok(Some(s.to_string()))
}

/// Storage of accounts and patients.
#[derive(Debug, Clone)]
pub struct PatientStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl PatientStore {
    /// The store on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Creates an account and its holder's patient profile in the caller's transaction.
    pub async fn create_account_in(
        &self,
        tx: &mut Tx,
        phone: &Phone,
        password_hash: &str,
        me: &NewPatient,
    ) -> DomainResult<(AccountId, PatientId)> {
        let now = self.clock.now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (phone, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(phone.e164())
        .bind(password_hash)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .map_err(on_unique("error.phone.taken"))?;
        let account = AccountId(id);
        let pid = self
            .insert_patient_in(tx, Some(account), Relation::Myself, me)
            .await?;
        Ok((account, pid))
    }

    async fn insert_patient_in(
        &self,
        tx: &mut Tx,
        account: Option<AccountId>,
        relation: Relation,
        p: &NewPatient,
    ) -> DomainResult<PatientId> {
        let now = self.clock.now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO patients (account_id, relation, family_name, given_name, \
             family_name_kana, given_name_kana, birth_date, sex, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(account.map(|a| a.0))
        .bind(relation.as_str())
        .bind(&p.family_name)
        .bind(&p.given_name)
        .bind(&p.family_name_kana)
        .bind(&p.given_name_kana)
        .bind(p.birth_date.to_string())
        .bind(p.sex.code())
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .or_internal()?;
        Ok(PatientId(id))
    }

    /// Finds an account by its number.
    pub async fn account_by_phone(&self, phone: &Phone) -> DomainResult<Option<Account>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE phone = $1"
        )))
        .bind(phone.e164())
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        row.as_ref().map(row_to_account).transpose().or_internal()
    }

    /// An account by id.
    pub async fn account(&self, id: AccountId) -> DomainResult<Account> {
        fetch_account(self.db.pool(), id).await
    }

    /// The same, inside a transaction the caller holds (see [`Self::patient_of_in`]).
    pub async fn account_in(&self, tx: &mut Tx, id: AccountId) -> DomainResult<Account> {
        fetch_account(&mut **tx, id).await
    }

    /// Records a login outcome: failures and the earliest next attempt.
    pub async fn set_login_state(
        &self,
        id: AccountId,
        failed: i64,
        next_at: i64,
    ) -> DomainResult<()> {
        sqlx::query("UPDATE accounts SET failed_logins = $2, next_login_at = $3 WHERE id = $1")
            .bind(id.0)
            .bind(failed)
            .bind(next_at)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(())
    }

    /// Replaces the password hash and clears the failure counter.
    pub async fn set_password(&self, id: AccountId, hash: &str) -> DomainResult<()> {
        sqlx::query(
            "UPDATE accounts SET password_hash = $2, failed_logins = 0, next_login_at = 0, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(id.0)
        .bind(hash)
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Changes the login number (already proved by a code).
    pub async fn set_phone(&self, id: AccountId, phone: &Phone) -> DomainResult<()> {
        sqlx::query("UPDATE accounts SET phone = $2, updated_at = $3 WHERE id = $1")
            .bind(id.0)
            .bind(phone.e164())
            .bind(self.clock.now_ms())
            .execute(self.db.pool())
            .await
            .map_err(on_unique("error.phone.taken"))?;
        Ok(())
    }

    /// Sets a verified email address.
    pub async fn set_verified_email(&self, id: AccountId, email: &Email) -> DomainResult<()> {
        let now = self.clock.now_ms();
        sqlx::query(
            "UPDATE accounts SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id.0)
        .bind(email.as_str())
        .bind(now)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Chooses where notices go; email requires a verified address.
    pub async fn set_notify_channel(&self, id: AccountId, channel: &str) -> DomainResult<()> {
        let account = self.account(id).await?;
        match channel {
            "sms" => {}
            "email" if account.email.is_some() => {}
            "email" => {
                return Err(DomainError::invalid(
                    "notify_channel",
                    "error.notify.needs_email",
                ));
            }
            _ => {
                return Err(DomainError::invalid(
                    "notify_channel",
                    "error.invalid_choice",
                ));
            }
        }
        sqlx::query("UPDATE accounts SET notify_channel = $2 WHERE id = $1")
            .bind(id.0)
            .bind(channel)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(())
    }

    /// Every patient the account manages: itself first, then family by creation.
    pub async fn patients_of(&self, account: AccountId) -> DomainResult<Vec<Patient>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE account_id = $1 \
             ORDER BY CASE relation WHEN 'self' THEN 0 ELSE 1 END, id"
        )))
        .bind(account.0)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_patient)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// One patient the account manages; `NotFound` for anyone else's.
    pub async fn patient_of(&self, account: AccountId, id: PatientId) -> DomainResult<Patient> {
        fetch_patient_of(self.db.pool(), account, id).await
    }

    /// The same, inside a transaction the caller holds. A writer holding SQLite's lock must
    /// not wait for a second pool connection: those may all be held by writers queued on that
    /// very lock (they would wait out the busy timeout and fail).
    pub async fn patient_of_in(
        &self,
        tx: &mut Tx,
        account: AccountId,
        id: PatientId,
    ) -> DomainResult<Patient> {
        fetch_patient_of(&mut **tx, account, id).await
    }

    /// Adds a family member to an account.
    pub async fn add_family(&self, account: AccountId, p: &NewPatient) -> DomainResult<PatientId> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM patients WHERE account_id = $1")
            .bind(account.0)
            .fetch_one(self.db.pool())
            .await
            .or_internal()?;
        // A household, not a clinic: a cap keeps a hijacked account from becoming a registry.
        if count >= 11 {
            return Err(DomainError::Conflict("error.family.too_many"));
        }
        let mut tx = self.db.begin().await?;
        let id = self
            .insert_patient_in(&mut tx, Some(account), Relation::Family, p)
            .await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Updates a patient the account manages.
    pub async fn update_of(
        &self,
        account: AccountId,
        id: PatientId,
        p: &NewPatient,
    ) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE patients SET family_name = $3, given_name = $4, family_name_kana = $5, \
             given_name_kana = $6, birth_date = $7, sex = $8, updated_at = $9 \
             WHERE account_id = $1 AND id = $2",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(&p.family_name)
        .bind(&p.given_name)
        .bind(&p.family_name_kana)
        .bind(&p.given_name_kana)
        .bind(p.birth_date.to_string())
        .bind(p.sex.code())
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Removes a family member (never the holder) from the account. The person's record
    /// stays for facilities that treated them; only the account's link goes.
    pub async fn remove_family(&self, account: AccountId, id: PatientId) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE patients SET account_id = NULL, relation = 'none', updated_at = $3 \
             WHERE account_id = $1 AND id = $2 AND relation = 'family'",
        )
        .bind(account.0)
        .bind(id.0)
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Creates a patient with no account at a facility (院内予約): a name as given and an
    /// optional chart number. Name parts are not split: staff type what the patient said.
    /// Runs in the caller's transaction, so a booking that then fails leaves no patient.
    pub async fn create_walk_in_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        name: &str,
        chart_number: Option<&str>,
    ) -> DomainResult<PatientId> {
        let now = self.clock.now_ms();
        let chart_number = chart_number.map(str::trim).filter(|c| !c.is_empty());
        // A returning patient with a chart number is the same person, if the name agrees;
        // a different name under the same number is a mix-up (取り違え) to stop, not merge.
        if let Some(chart) = chart_number {
            let existing: Option<(i64, String, String)> = sqlx::query_as(
                "SELECT p.id, p.family_name, p.given_name FROM patients p JOIN facility_patients fp \
                 ON fp.patient_id = p.id WHERE fp.facility_id = $1 AND fp.chart_number = $2",
            )
            .bind(facility.0)
            .bind(chart)
            .fetch_optional(&mut **tx)
            .await
            .or_internal()?;
            if let Some((id, f, g)) = existing {
                let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
                if squash(&format!("{f}{g}")) == squash(name) {
                    return Ok(PatientId(id));
                }
                return Err(DomainError::invalid(
                    "chart_number",
                    "error.chart_number.other_name",
                ));
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO patients (account_id, relation, family_name, given_name, created_at, updated_at) \
             VALUES (NULL, 'none', $1, '', $2, $2) RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .or_internal()?;
        sqlx::query(
            "INSERT INTO facility_patients (facility_id, patient_id, chart_number, created_at, shared_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(facility.0)
        .bind(id)
        .bind(chart_number)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(on_unique("error.chart_number.taken"))?;
        Ok(PatientId(id))
    }

    /// Makes a patient known to a facility with their record shared (idempotent): the
    /// patient booked there themselves (or, in demo data, is a known patient), optionally
    /// with a chart number.
    pub async fn register_at(
        &self,
        facility: FacilityId,
        patient: PatientId,
        chart_number: Option<&str>,
    ) -> DomainResult<()> {
        let now = self.clock.now_ms();
        sqlx::query(
            "INSERT INTO facility_patients (facility_id, patient_id, chart_number, created_at, shared_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (facility_id, patient_id) \
             DO UPDATE SET shared_at = COALESCE(facility_patients.shared_at, excluded.shared_at)",
        )
        .bind(facility.0)
        .bind(patient.0)
        .bind(chart_number)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(on_unique("error.chart_number.taken"))?;
        Ok(())
    }

    /// Makes a member known to a facility whose staff booked them by phone, without their
    /// record: until the patient shares it, the facility sees the booking and the name,
    /// not the insurance or documents. In the booking's transaction.
    pub async fn link_by_staff_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        patient: PatientId,
    ) -> DomainResult<bool> {
        sqlx::query(
            "INSERT INTO facility_patients (facility_id, patient_id, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (facility_id, patient_id) DO NOTHING",
        )
        .bind(facility.0)
        .bind(patient.0)
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        let shared: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT shared_at FROM facility_patients WHERE facility_id = $1 AND patient_id = $2",
        )
        .bind(facility.0)
        .bind(patient.0)
        .fetch_optional(&mut **tx)
        .await
        .or_internal()?;
        Ok(shared.flatten().is_some())
    }

    /// The account's patient shares their record with a facility that already knows them
    /// (a booking staff made by phone). `NotFound` for anyone else's patient.
    pub async fn share_with(
        &self,
        account: AccountId,
        facility: FacilityId,
        patient: PatientId,
    ) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE facility_patients SET shared_at = $4 \
             WHERE facility_id = $1 AND patient_id = $2 AND shared_at IS NULL \
             AND patient_id IN (SELECT id FROM patients WHERE account_id = $3)",
        )
        .bind(facility.0)
        .bind(patient.0)
        .bind(account.0)
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await
        .or_internal()?;
        if r.rows_affected() == 0 && !self.is_shared(facility, patient).await? {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Whether `patient` has shared their record with `facility`.
    pub async fn is_shared(&self, facility: FacilityId, patient: PatientId) -> DomainResult<bool> {
        let shared: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT shared_at FROM facility_patients WHERE facility_id = $1 AND patient_id = $2",
        )
        .bind(facility.0)
        .bind(patient.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        Ok(shared.flatten().is_some())
    }

    /// Refuses a facility's look at a patient's insurance or documents until the patient
    /// has shared their record with it (see [`Self::link_by_staff_in`]).
    pub async fn ensure_shared(
        &self,
        facility: FacilityId,
        patient: PatientId,
    ) -> DomainResult<()> {
        if self.is_shared(facility, patient).await? {
            Ok(())
        } else {
            Err(DomainError::Forbidden("error.patient.not_shared"))
        }
    }

    /// The member a caller describes by phone: the account's registered number and the
    /// birth date of the person to be seen. One answer for every miss (no account, no such
    /// person, two people born the same day), so neither the number nor the family can be
    /// probed.
    pub async fn find_member(
        &self,
        field: &'static str,
        phone: &Phone,
        birth_date: Date,
    ) -> DomainResult<(AccountId, PatientId)> {
        let miss = || DomainError::invalid(field, "error.staff_book.no_member");
        let account = self.account_by_phone(phone).await?.ok_or_else(miss)?;
        let born: Vec<Patient> = self
            .patients_of(account.id)
            .await?
            .into_iter()
            .filter(|p| p.birth_date == Some(birth_date))
            .collect();
        match born.as_slice() {
            [one] => Ok((account.id, one.id)),
            _ => Err(miss()),
        }
    }

    /// The patients known to a facility.
    pub async fn list_at(
        &self,
        facility: FacilityId,
        limit: i64,
    ) -> DomainResult<Vec<FacilityPatient>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT p.{}, fp.chart_number, fp.shared_at FROM patients p \
             JOIN facility_patients fp ON fp.patient_id = p.id \
             WHERE fp.facility_id = $1 ORDER BY p.family_name_kana, p.given_name_kana, p.id LIMIT $2",
            PATIENT_COLUMNS.replace(", ", ", p.")
        )))
        .bind(facility.0)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                Ok(FacilityPatient {
                    patient: row_to_patient(r)?,
                    chart_number: r.try_get("chart_number")?,
                    shared: r.try_get::<Option<i64>, _>("shared_at")?.is_some(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .or_internal()
    }

    /// One patient as a facility sees them; `NotFound` if unknown to that facility.
    pub async fn get_at(
        &self,
        facility: FacilityId,
        id: PatientId,
    ) -> DomainResult<FacilityPatient> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT p.{}, fp.chart_number, fp.shared_at FROM patients p \
             JOIN facility_patients fp ON fp.patient_id = p.id \
             WHERE fp.facility_id = $1 AND p.id = $2",
            PATIENT_COLUMNS.replace(", ", ", p.")
        )))
        .bind(facility.0)
        .bind(id.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        use sqlx::Row;
        Ok(FacilityPatient {
            patient: row_to_patient(&row).or_internal()?,
            chart_number: row.try_get("chart_number").or_internal()?,
            shared: row
                .try_get::<Option<i64>, _>("shared_at")
                .or_internal()?
                .is_some(),
        })
    }

    /// Sets a facility's chart number for a patient it knows, in the caller's transaction;
    /// `NotFound` for a patient it does not know.
    pub async fn set_chart_number_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        id: PatientId,
        chart_number: Option<&str>,
    ) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE facility_patients SET chart_number = $3 WHERE facility_id = $1 AND patient_id = $2",
        )
        .bind(facility.0)
        .bind(id.0)
        .bind(chart_number)
        .execute(&mut **tx)
        .await
        .map_err(on_unique("error.chart_number.taken"))?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }
}

/// One patient of an account, through a pool or a held transaction.
async fn fetch_account<'e>(
    e: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: AccountId,
) -> DomainResult<Account> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_optional(e)
    .await
    .or_internal()?
    .ok_or(DomainError::NotFound)?;
    row_to_account(&row).or_internal()
}

async fn fetch_patient_of<'e>(
    e: impl sqlx::Executor<'e, Database = sqlx::Any>,
    account: AccountId,
    id: PatientId,
) -> DomainResult<Patient> {
    let sql = format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE account_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account.0)
        .bind(id.0)
        .fetch_optional(e)
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
    row_to_patient(&row).or_internal()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn key(e: DomainError) -> (&'static str, Vec<(String, String)>) {
        match e {
            DomainError::Invalid(v) => (
                v[0].key,
                v[0].args
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wareki_birth_date_becomes_the_western_one() {
        assert_eq!(
            birth_from_wareki("b", "3", "30", "4", "12").unwrap(),
            "1955-04-12"
        );
        assert_eq!(
            birth_from_wareki("b", "3", "３０", "４", "１２").unwrap(),
            "1955-04-12"
        );
        assert_eq!(
            birth_from_wareki("b", "4", "元", "1", "8").unwrap(),
            "1989-01-08"
        );
        assert_eq!(
            birth_from_wareki("b", "5", "2年", "5", "1").unwrap(),
            "2020-05-01"
        );
    }

    #[test]
    fn an_impossible_wareki_date_says_what_is_wrong() {
        assert_eq!(
            key(birth_from_wareki("b", "3", "65", "1", "1").unwrap_err()),
            (
                "error.birth_date.wareki_year",
                vec![("era".into(), "昭和".into()), ("max".into(), "64".into())]
            )
        );
        assert_eq!(
            key(birth_from_wareki("b", "3", "64", "1", "8").unwrap_err()).0,
            "error.birth_date.wareki_range"
        );
        assert_eq!(
            key(birth_from_wareki("b", "3", "30", "2", "30").unwrap_err()).0,
            "error.birth_date.wareki_invalid"
        );
        assert_eq!(
            key(birth_from_wareki("b", "3", "", "2", "3").unwrap_err()).0,
            "error.birth_date.wareki_incomplete"
        );
        assert_eq!(
            key(birth_from_wareki("b", "9", "3", "2", "3").unwrap_err()).0,
            "error.birth_date.wareki_incomplete"
        );
        assert_eq!(
            key(birth_from_wareki("b", "3", "30", "300", "3").unwrap_err()).0,
            "error.birth_date.wareki_invalid"
        );
    }
}
