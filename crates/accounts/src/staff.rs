//! Facility staff and platform operators.
//!
//! Staff log in per facility (the facility's booking slug plus a login id), with a role
//! that decides what they may do. Admins and doctors must use TOTP; a facility admin can
//! require it of every role. Operators run the platform and always use TOTP.

use std::sync::Arc;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, flag, on_unique, sqlx};
use tsunagu_kernel::{Clock, DomainError, DomainResult, FacilityId, OperatorId, StaffId};

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the facility: settings, staff, menus.
    Admin,
    /// Sees patients.
    Doctor,
    /// Assists.
    Nurse,
    /// Reception and accounting (医療事務).
    Clerk,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Doctor => "doctor",
            Role::Nurse => "nurse",
            Role::Clerk => "clerk",
        }
    }

    /// Parses a stored or submitted role.
    pub fn parse(field: &'static str, s: &str) -> DomainResult<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "doctor" => Ok(Role::Doctor),
            "nurse" => Ok(Role::Nurse),
            "clerk" => Ok(Role::Clerk),
            _ => Err(DomainError::invalid(field, "error.invalid_choice")),
        }
    }

    /// Whether this role must use a second factor regardless of facility policy.
    pub fn always_needs_totp(self) -> bool {
        matches!(self, Role::Admin | Role::Doctor)
    }

    /// Catalogue key of the role's label.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Admin => "role.admin",
            Role::Doctor => "role.doctor",
            Role::Nurse => "role.nurse",
            Role::Clerk => "role.clerk",
        }
    }
}

/// A staff member.
#[derive(Debug, Clone, Serialize)]
pub struct StaffUser {
    /// Id.
    pub id: StaffId,
    /// Facility.
    pub facility_id: FacilityId,
    /// Login id, unique within the facility.
    pub login_id: String,
    /// Name shown to colleagues (and, for doctors, to patients).
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// A doctor's year of registration in the 医籍 (patients may check it).
    pub medical_registration_year: Option<i64>,
    /// Whether TOTP is set up.
    pub totp_enabled: bool,
    /// The TOTP secret.
    #[serde(skip)]
    pub totp_secret: Option<String>,
    /// The last accepted TOTP step.
    #[serde(skip)]
    pub totp_last_step: i64,
    /// Password hash.
    #[serde(skip)]
    pub password_hash: String,
    /// Consecutive failed logins.
    #[serde(skip)]
    pub failed_logins: i64,
    /// No login before (ms).
    #[serde(skip)]
    pub next_login_at: i64,
    /// Disabled by an admin.
    pub disabled: bool,
}

/// A platform operator.
#[derive(Debug, Clone, Serialize)]
pub struct Operator {
    /// Id.
    pub id: OperatorId,
    /// Login id.
    pub login_id: String,
    /// Name.
    pub display_name: String,
    /// TOTP set up.
    pub totp_enabled: bool,
    /// Secret.
    #[serde(skip)]
    pub totp_secret: Option<String>,
    /// Last step.
    #[serde(skip)]
    pub totp_last_step: i64,
    /// Hash.
    #[serde(skip)]
    pub password_hash: String,
    /// Failures.
    #[serde(skip)]
    pub failed_logins: i64,
    /// No login before (ms).
    #[serde(skip)]
    pub next_login_at: i64,
}

/// Which table a login belongs to; staff and operators share the login and TOTP columns.
#[derive(Debug, Clone, Copy)]
pub enum LoginTable {
    /// `staff_users`.
    Staff,
    /// `operators`.
    Operators,
}

impl LoginTable {
    fn name(self) -> &'static str {
        match self {
            LoginTable::Staff => "staff_users",
            LoginTable::Operators => "operators",
        }
    }
}

const STAFF_COLUMNS: &str = "id, facility_id, login_id, display_name, role, \
    medical_registration_year, totp_enabled, totp_secret, totp_last_step, password_hash, \
    failed_logins, next_login_at, disabled";
const OPERATOR_COLUMNS: &str = "id, login_id, display_name, totp_enabled, totp_secret, \
    totp_last_step, password_hash, failed_logins, next_login_at";

fn row_to_staff(r: &sqlx::any::AnyRow) -> Result<StaffUser, sqlx::Error> {
    use sqlx::Row;
    let role: String = r.try_get("role")?;
    Ok(StaffUser {
        id: StaffId(r.try_get("id")?),
        facility_id: FacilityId(r.try_get("facility_id")?),
        login_id: r.try_get("login_id")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse("role", &role).unwrap_or(Role::Clerk),
        medical_registration_year: r.try_get("medical_registration_year")?,
        totp_enabled: flag(r.try_get("totp_enabled")?),
        totp_secret: r.try_get("totp_secret")?,
        totp_last_step: r.try_get("totp_last_step")?,
        password_hash: r.try_get("password_hash")?,
        failed_logins: r.try_get("failed_logins")?,
        next_login_at: r.try_get("next_login_at")?,
        disabled: flag(r.try_get("disabled")?),
    })
}

fn row_to_operator(r: &sqlx::any::AnyRow) -> Result<Operator, sqlx::Error> {
    use sqlx::Row;
    Ok(Operator {
        id: OperatorId(r.try_get("id")?),
        login_id: r.try_get("login_id")?,
        display_name: r.try_get("display_name")?,
        totp_enabled: flag(r.try_get("totp_enabled")?),
        totp_secret: r.try_get("totp_secret")?,
        totp_last_step: r.try_get("totp_last_step")?,
        password_hash: r.try_get("password_hash")?,
        failed_logins: r.try_get("failed_logins")?,
        next_login_at: r.try_get("next_login_at")?,
    })
}

/// A staff member to create.
#[derive(Debug, Clone)]
pub struct NewStaff {
    /// Login id.
    pub login_id: String,
    /// Name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// 医籍登録年 for doctors.
    pub medical_registration_year: Option<i64>,
}

/// Storage of staff and operators.
#[derive(Debug, Clone)]
pub struct StaffStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl StaffStore {
    /// The store on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Validates a login id: 3–40 of `a-z 0-9 . _ -`.
    pub fn parse_login_id(field: &'static str, s: &str) -> DomainResult<String> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(DomainError::invalid(field, "error.required"));
        }
        let ok = (3..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !ok {
            return Err(DomainError::invalid(field, "error.login_id.invalid"));
        }
        Ok(s)
    }

    /// Creates a staff member at a facility.
    pub async fn create(
        &self,
        facility: FacilityId,
        s: &NewStaff,
        password_hash: &str,
    ) -> DomainResult<StaffId> {
        let mut tx = self.db.begin_write().await?;
        let id = self.create_in(&mut tx, facility, s, password_hash).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Creates a staff member in the caller's transaction.
    pub async fn create_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        s: &NewStaff,
        password_hash: &str,
    ) -> DomainResult<StaffId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO staff_users (facility_id, login_id, display_name, role, password_hash, \
             medical_registration_year, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(facility.0)
        .bind(&s.login_id)
        .bind(&s.display_name)
        .bind(s.role.as_str())
        .bind(password_hash)
        .bind(s.medical_registration_year)
        .bind(self.clock.now_ms())
        .fetch_one(&mut **tx)
        .await
        .map_err(on_unique("error.login_id.taken"))?;
        Ok(StaffId(id))
    }

    /// Finds a staff login at a facility.
    pub async fn find_login(
        &self,
        facility: FacilityId,
        login_id: &str,
    ) -> DomainResult<Option<StaffUser>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STAFF_COLUMNS} FROM staff_users WHERE facility_id = $1 AND login_id = $2"
        )))
        .bind(facility.0)
        .bind(login_id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        row.as_ref().map(row_to_staff).transpose().or_internal()
    }

    /// A staff member of `facility`; `NotFound` for other facilities' staff.
    pub async fn get(&self, facility: FacilityId, id: StaffId) -> DomainResult<StaffUser> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STAFF_COLUMNS} FROM staff_users WHERE facility_id = $1 AND id = $2"
        )))
        .bind(facility.0)
        .bind(id.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_staff(&row).or_internal()
    }

    /// All staff of a facility.
    pub async fn list(&self, facility: FacilityId) -> DomainResult<Vec<StaffUser>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STAFF_COLUMNS} FROM staff_users WHERE facility_id = $1 ORDER BY role, login_id"
        )))
        .bind(facility.0)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_staff)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// Creates an operator.
    pub async fn create_operator(
        &self,
        login_id: &str,
        name: &str,
        password_hash: &str,
    ) -> DomainResult<OperatorId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operators (login_id, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(login_id)
        .bind(name)
        .bind(password_hash)
        .bind(self.clock.now_ms())
        .fetch_one(self.db.pool())
        .await
        .map_err(on_unique("error.login_id.taken"))?;
        Ok(OperatorId(id))
    }

    /// Finds an operator by login id.
    pub async fn find_operator(&self, login_id: &str) -> DomainResult<Option<Operator>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE login_id = $1"
        )))
        .bind(login_id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        row.as_ref().map(row_to_operator).transpose().or_internal()
    }

    /// An operator by id.
    pub async fn operator(&self, id: OperatorId) -> DomainResult<Operator> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_operator(&row).or_internal()
    }

    /// Records a login outcome.
    pub async fn set_login_state(
        &self,
        t: LoginTable,
        id: i64,
        failed: i64,
        next_at: i64,
    ) -> DomainResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET failed_logins = $2, next_login_at = $3 WHERE id = $1",
            t.name()
        )))
        .bind(id)
        .bind(failed)
        .bind(next_at)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Stores a TOTP secret being enrolled (not yet enabled).
    pub async fn set_totp_secret(&self, t: LoginTable, id: i64, secret: &str) -> DomainResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET totp_secret = $2, totp_enabled = 0, totp_last_step = 0 WHERE id = $1",
            t.name()
        )))
        .bind(id)
        .bind(secret)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Stores an enrolment code's digest and removes any enrolled authenticator: the next
    /// login must enrol anew, with the code.
    pub async fn set_enrolment_code(
        &self,
        t: LoginTable,
        id: i64,
        digest: &str,
        expires_at: i64,
    ) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        self.set_enrolment_code_in(&mut tx, t, id, digest, expires_at)
            .await?;
        tx.commit().await.or_internal()
    }

    /// [`Self::set_enrolment_code`] in the caller's transaction.
    pub async fn set_enrolment_code_in(
        &self,
        tx: &mut Tx,
        t: LoginTable,
        id: i64,
        digest: &str,
        expires_at: i64,
    ) -> DomainResult<()> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET enrol_code_digest = $2, enrol_code_expires_at = $3, \
             totp_enabled = 0, totp_secret = NULL, totp_last_step = 0 WHERE id = $1",
            t.name()
        )))
        .bind(id)
        .bind(digest)
        .bind(expires_at)
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Uses an enrolment code once: if `digest` is the live code of `id`, clears it and
    /// stores `secret` to enrol (not yet enabled). Atomic, so a code works once.
    pub async fn take_enrolment_code(
        &self,
        t: LoginTable,
        id: i64,
        digest: &str,
        now: i64,
        secret: &str,
    ) -> DomainResult<bool> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET enrol_code_digest = NULL, enrol_code_expires_at = NULL, \
             totp_secret = $4, totp_enabled = 0, totp_last_step = 0 \
             WHERE id = $1 AND enrol_code_digest = $2 AND enrol_code_expires_at > $3",
            t.name()
        )))
        .bind(id)
        .bind(digest)
        .bind(now)
        .bind(secret)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(r.rows_affected() == 1)
    }

    /// The TOTP secret (enabled or being enrolled) and the last accepted step.
    pub async fn totp_state(&self, t: LoginTable, id: i64) -> DomainResult<(Option<String>, i64)> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT totp_secret, totp_last_step FROM {} WHERE id = $1",
            t.name()
        )))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)
    }

    /// Marks TOTP enabled and records the step used, atomically refusing a replayed step.
    pub async fn accept_totp_step(&self, t: LoginTable, id: i64, step: i64) -> DomainResult<bool> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET totp_enabled = 1, totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            t.name()
        )))
        .bind(id)
        .bind(step)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces a password hash.
    pub async fn set_password(&self, t: LoginTable, id: i64, hash: &str) -> DomainResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET password_hash = $2, failed_logins = 0, next_login_at = 0 WHERE id = $1",
            t.name()
        )))
        .bind(id)
        .bind(hash)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }
}
