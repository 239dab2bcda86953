//! Who may use which confirmation method, when (F2, F8), and the records the operating
//! body keeps: emergency periods with their notices, outage-time visits, inquiry numbers,
//! and the monitoring log of every restricted search and view (F7).
//!
//! The rules are enforced here, below any page or API: a general account, an institution
//! outside the period, or a patient who did not come during the outage is refused whatever
//! the caller shows or hides.

use std::sync::Arc;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, on_unique, sqlx};
use tsunagu_kernel::{Clock, DomainError, DomainResult};

/// How long a search's results stay open to their searcher: long enough to read a list,
/// open one, note the inquiry number and download it.
pub const LISTED_FOR_MS: i64 = 30 * 60 * 1000;

/// An eligibility account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 一般アカウント: sees the emergency menu item but may not use it.
    General,
    /// 医療情報閲覧アカウント.
    Viewer,
    /// 管理アカウント.
    Admin,
    /// The operating body (実施機関): opens periods, reads the monitoring log.
    Operator,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::General => "general",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
    /// The name shown on the operating body's screen.
    pub fn label(self) -> &'static str {
        match self {
            Role::General => "一般",
            Role::Viewer => "医療情報閲覧",
            Role::Admin => "管理",
            Role::Operator => "実施機関",
        }
    }
    /// Parses a stored role.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "general" => Some(Role::General),
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// The state of the national system as seen by one institution at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// 通常時.
    Normal,
    /// システム障害発生時.
    Outage,
    /// システム復旧後, inside an emergency period opened for this institution.
    Recovered,
}

/// The three ways of confirming a qualification (seed 004's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// 方法1: マイナンバーカード.
    MyNumberCard,
    /// 方法2: 保険証の記号・番号等.
    CardNumbers,
    /// 方法3: 4情報 (緊急時医療情報・資格確認機能).
    FourFacts,
}

/// When the patient came, for the recovered state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Came while the system was down (their four facts were noted then).
    DuringOutage,
    /// Came after recovery.
    AfterRecovery,
}

/// Seed 004's table of which method works when (F8). `Err` carries the message key.
pub fn method_allowed(mode: Mode, method: Method, arrival: Arrival) -> Result<(), &'static str> {
    use Method::*;
    match (mode, method, arrival) {
        (Mode::Outage, _, _) => Err("error.eligibility.outage"),
        (Mode::Normal, MyNumberCard | CardNumbers, _) => Ok(()),
        (Mode::Normal, FourFacts, _) => Err("error.eligibility.four_facts_closed"),
        // After recovery, for patients who came during the outage: the card copy (2) or the
        // four facts noted then (3); their My Number card was not read (1 does not apply).
        (Mode::Recovered, CardNumbers | FourFacts, Arrival::DuringOutage) => Ok(()),
        (Mode::Recovered, MyNumberCard, Arrival::DuringOutage) => {
            Err("error.eligibility.not_applicable")
        }
        (Mode::Recovered, MyNumberCard | CardNumbers, Arrival::AfterRecovery) => Ok(()),
        (Mode::Recovered, FourFacts, Arrival::AfterRecovery) => {
            Err("error.eligibility.four_facts_new_patient")
        }
    }
}

/// How the emergency menu item shows for an account (F2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuItem {
    /// Not shown.
    Hidden,
    /// Shown, but choosing it says to log in again with a viewer or admin account.
    ShownRefused,
    /// Shown and usable.
    Usable,
}

/// F2: the item exists only while a period is open for the institution; viewers and admins
/// use it; general accounts see it and are refused; others never see it.
pub fn emergency_menu(role: Role, open_for_institution: bool) -> MenuItem {
    match (open_for_institution, role) {
        (false, _) | (true, Role::Operator) => MenuItem::Hidden,
        (true, Role::General) => MenuItem::ShownRefused,
        (true, Role::Viewer | Role::Admin) => MenuItem::Usable,
    }
}

fn operator(by: &Account) -> DomainResult<()> {
    if by.role == Role::Operator {
        Ok(())
    } else {
        Err(DomainError::Forbidden("error.eligibility.operator_only"))
    }
}

/// An account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Id.
    pub id: i64,
    /// Institution (none for the operating body).
    pub institution_code: Option<String>,
    /// Login id.
    pub login_id: String,
    /// Name shown in the header.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// argon2id hash.
    #[serde(skip)]
    pub password_hash: String,
}

/// An emergency period.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// Id.
    pub id: i64,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// Notice shown to the institutions.
    pub notice: String,
}

/// One monitoring record.
#[derive(Debug, Clone, Serialize)]
pub struct Monitoring {
    /// When (ms).
    pub at: i64,
    /// Institution.
    pub institution_code: Option<String>,
    /// Account.
    pub account_id: i64,
    /// The account's user id.
    pub account_login: String,
    /// `search`, `view`, `download`, `inquiry_number`.
    pub action: String,
    /// The search conditions (JSON) or the record viewed.
    pub conditions: String,
    /// Hits of a search.
    pub hits: Option<i64>,
    /// Record viewed.
    pub qualification_id: Option<i64>,
}

/// A patient who came while the system was down, as the institution recorded them.
#[derive(Debug, Clone, Serialize)]
pub struct OutageVisit {
    /// Id (what the four-facts search is given).
    pub id: i64,
    /// The institution's own reference (chart or booking number).
    pub label: String,
    /// The name noted from the card, when the institution gave it.
    pub name: Option<String>,
    /// When it was recorded (ms).
    pub visited_at: i64,
}

impl OutageVisit {
    fn from_row((id, label, name, visited_at): (i64, String, Option<String>, i64)) -> Self {
        Self {
            id,
            label,
            name,
            visited_at,
        }
    }
}

/// Which part of the monitoring log to read; the default is all of it.
#[derive(Debug, Clone, Default)]
pub struct MonitoringFilter {
    /// One institution only.
    pub institution: Option<String>,
    /// From this instant (ms), inclusive.
    pub from_ms: Option<i64>,
    /// Until this instant (ms), exclusive.
    pub to_ms: Option<i64>,
}

/// Access storage.
#[derive(Debug, Clone)]
pub struct AccessStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

type AccountRow = (i64, Option<String>, String, String, String, String);

fn to_account(r: AccountRow) -> Account {
    Account {
        id: r.0,
        institution_code: r.1,
        login_id: r.2,
        display_name: r.3,
        role: Role::parse(&r.4).unwrap_or(Role::General),
        password_hash: r.5,
    }
}

impl AccessStore {
    /// The store on the eligibility database.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Registers an institution (医療機関コード, 10 digits).
    pub async fn create_institution(&self, code: &str, name: &str) -> DomainResult<()> {
        if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid(
                "code",
                "error.eligibility.institution_code",
            ));
        }
        sqlx::query("INSERT INTO institutions (code, name) VALUES ($1, $2)")
            .bind(code)
            .bind(name)
            .execute(self.db.pool())
            .await
            .map_err(on_unique("error.eligibility.institution_taken"))?;
        Ok(())
    }

    /// Creates an account of an institution (or of the operating body, with `None`).
    pub async fn create_account(
        &self,
        institution: Option<&str>,
        login_id: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> DomainResult<i64> {
        if (role == Role::Operator) != institution.is_none() {
            return Err(DomainError::invalid("role", "error.invalid_choice"));
        }
        sqlx::query_scalar(
            "INSERT INTO accounts (institution_code, login_id, display_name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(institution)
        .bind(login_id)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(self.clock.now_ms())
        .fetch_one(self.db.pool())
        .await
        .map_err(on_unique("error.login_id.taken"))
    }

    /// Institutions (code, name) with their accounts, for the operating body's screen.
    pub async fn institutions(&self, by: &Account) -> DomainResult<Vec<(String, String)>> {
        operator(by)?;
        sqlx::query_as("SELECT code, name FROM institutions ORDER BY code")
            .fetch_all(self.db.pool())
            .await
            .or_internal()
    }

    /// Every institution account, by institution then login id.
    pub async fn institution_accounts(&self, by: &Account) -> DomainResult<Vec<Account>> {
        operator(by)?;
        let rows: Vec<AccountRow> = sqlx::query_as(
            "SELECT id, institution_code, login_id, display_name, role, password_hash FROM accounts \
             WHERE institution_code IS NOT NULL ORDER BY institution_code, login_id",
        )
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows.into_iter().map(to_account).collect())
    }

    /// Sets an institution account's password (the operating body issues a new one) and
    /// lifts any login slow-down.
    pub async fn reset_password(&self, by: &Account, id: i64, hash: &str) -> DomainResult<()> {
        operator(by)?;
        let r = sqlx::query(
            "UPDATE accounts SET password_hash = $1, failed_logins = 0, next_login_at = 0 \
             WHERE id = $2 AND institution_code IS NOT NULL",
        )
        .bind(hash)
        .bind(id)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Finds an account by institution (none: operating body) and login id.
    pub async fn find_account(
        &self,
        institution: Option<&str>,
        login_id: &str,
    ) -> DomainResult<Option<Account>> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT id, institution_code, login_id, display_name, role, password_hash FROM accounts \
             WHERE login_id = $2 AND ((institution_code IS NULL AND $1 IS NULL) OR institution_code = $1)",
        )
        .bind(institution)
        .bind(login_id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        Ok(row.map(to_account))
    }

    /// An account by id.
    pub async fn account(&self, id: i64) -> DomainResult<Account> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT id, institution_code, login_id, display_name, role, password_hash FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        row.map(to_account).ok_or(DomainError::NotFound)
    }

    /// Login throttling state: (failed logins, earliest next attempt in ms).
    pub async fn login_state(&self, id: i64) -> DomainResult<(i64, i64)> {
        sqlx::query_as("SELECT failed_logins, next_login_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_one(self.db.pool())
            .await
            .or_internal()
    }

    /// Records a login outcome.
    pub async fn set_login_state(&self, id: i64, failed: i64, next_at: i64) -> DomainResult<()> {
        sqlx::query("UPDATE accounts SET failed_logins = $2, next_login_at = $3 WHERE id = $1")
            .bind(id)
            .bind(failed)
            .bind(next_at)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(())
    }

    /// Whether the system is declared down.
    pub async fn outage(&self) -> DomainResult<bool> {
        let since: Option<i64> =
            sqlx::query_scalar("SELECT outage_since FROM system_state WHERE id = 1")
                .fetch_one(self.db.pool())
                .await
                .or_internal()?;
        Ok(since.is_some())
    }

    /// Outage-time visits recorded by an institution, newest first.
    pub async fn outage_visits(&self, institution: &str) -> DomainResult<Vec<OutageVisit>> {
        let rows: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, label, name, visited_at FROM outage_visits WHERE institution_code = $1 \
             ORDER BY id DESC LIMIT 200",
        )
        .bind(institution)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows.into_iter().map(OutageVisit::from_row).collect())
    }

    /// One outage-time visit of the institution (none for another institution's).
    pub async fn outage_visit(
        &self,
        institution: &str,
        id: i64,
    ) -> DomainResult<Option<OutageVisit>> {
        let row: Option<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, label, name, visited_at FROM outage_visits WHERE id = $1 AND institution_code = $2",
        )
        .bind(id)
        .bind(institution)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        Ok(row.map(OutageVisit::from_row))
    }

    /// The name of an institution (for the header beside the signed-in user).
    pub async fn institution_name(&self, code: &str) -> DomainResult<Option<String>> {
        sqlx::query_scalar("SELECT name FROM institutions WHERE code = $1")
            .bind(code)
            .fetch_optional(self.db.pool())
            .await
            .or_internal()
    }

    /// Declares the national system down (`true`) or recovered (`false`). Operators only.
    pub async fn set_outage(&self, by: &Account, down: bool) -> DomainResult<()> {
        if by.role != Role::Operator {
            return Err(DomainError::Forbidden("error.eligibility.operator_only"));
        }
        let now = self.clock.now_ms();
        sqlx::query(
            "UPDATE system_state SET outage_since = CASE WHEN $1 = 1 THEN COALESCE(outage_since, $2) ELSE NULL END, \
             updated_at = $2 WHERE id = 1",
        )
        .bind(i64::from(down))
        .bind(now)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Opens the emergency function for a period and chosen institutions, with a notice
    /// they will see (F2). Operators only.
    pub async fn open_period(
        &self,
        by: &Account,
        starts_at: i64,
        ends_at: i64,
        notice: &str,
        institutions: &[String],
    ) -> DomainResult<i64> {
        if by.role != Role::Operator {
            return Err(DomainError::Forbidden("error.eligibility.operator_only"));
        }
        let mut v = tsunagu_kernel::error::Validator::new();
        if starts_at >= ends_at {
            v.push(tsunagu_kernel::FieldError::new(
                "ends_at",
                "error.time.order",
            ));
        }
        if notice.trim().is_empty() {
            v.push(tsunagu_kernel::FieldError::new("notice", "error.required"));
        }
        if institutions.is_empty() {
            v.push(tsunagu_kernel::FieldError::new(
                "institutions",
                "error.eligibility.no_institutions",
            ));
        }
        v.finish()?;
        let mut tx = self.db.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO emergency_periods (starts_at, ends_at, notice, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(starts_at)
        .bind(ends_at)
        .bind(notice.trim())
        .bind(by.id)
        .bind(self.clock.now_ms())
        .fetch_one(&mut *tx)
        .await
        .or_internal()?;
        for code in institutions {
            let known: Option<String> =
                sqlx::query_scalar("SELECT code FROM institutions WHERE code = $1")
                    .bind(code)
                    .fetch_optional(&mut *tx)
                    .await
                    .or_internal()?;
            if known.is_none() {
                return Err(DomainError::invalid(
                    "institutions",
                    "error.eligibility.unknown_institution",
                ));
            }
            sqlx::query("INSERT INTO emergency_institutions (period_id, institution_code) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(code)
                .execute(&mut *tx)
                .await
                .or_internal()?;
        }
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// The periods open now for an institution (their notices are shown to it).
    pub async fn open_periods(&self, institution: &str) -> DomainResult<Vec<Period>> {
        let now = self.clock.now_ms();
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT p.id, p.starts_at, p.ends_at, p.notice FROM emergency_periods p \
             JOIN emergency_institutions i ON i.period_id = p.id \
             WHERE i.institution_code = $1 AND p.starts_at <= $2 AND $2 < p.ends_at ORDER BY p.starts_at",
        )
        .bind(institution)
        .bind(now)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows
            .into_iter()
            .map(|(id, starts_at, ends_at, notice)| Period {
                id,
                starts_at,
                ends_at,
                notice,
            })
            .collect())
    }

    /// Periods that have not ended, with their institutions, for the operating body.
    pub async fn current_periods(&self, by: &Account) -> DomainResult<Vec<(Period, Vec<String>)>> {
        operator(by)?;
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT id, starts_at, ends_at, notice FROM emergency_periods WHERE ends_at > $1 ORDER BY starts_at",
        )
        .bind(self.clock.now_ms())
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, starts_at, ends_at, notice) in rows {
            let codes: Vec<String> = sqlx::query_scalar(
                "SELECT institution_code FROM emergency_institutions WHERE period_id = $1 ORDER BY institution_code",
            )
            .bind(id)
            .fetch_all(self.db.pool())
            .await
            .or_internal()?;
            out.push((
                Period {
                    id,
                    starts_at,
                    ends_at,
                    notice,
                },
                codes,
            ));
        }
        Ok(out)
    }

    /// Ends a period now (one not yet begun is withdrawn): the function closes for its
    /// institutions at once.
    pub async fn end_period(&self, by: &Account, id: i64) -> DomainResult<()> {
        operator(by)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let starts: Option<i64> = sqlx::query_scalar(
            "SELECT starts_at FROM emergency_periods WHERE id = $1 AND ends_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .or_internal()?;
        let Some(starts) = starts else {
            return Err(DomainError::NotFound);
        };
        if starts >= now {
            sqlx::query("DELETE FROM emergency_institutions WHERE period_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .or_internal()?;
            sqlx::query("DELETE FROM emergency_periods WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .or_internal()?;
        } else {
            sqlx::query("UPDATE emergency_periods SET ends_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .or_internal()?;
        }
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// The state for an institution now: outage beats everything; an open period means
    /// recovered; otherwise normal.
    pub async fn mode_for(&self, institution: &str) -> DomainResult<Mode> {
        let outage: Option<i64> =
            sqlx::query_scalar("SELECT outage_since FROM system_state WHERE id = 1")
                .fetch_one(self.db.pool())
                .await
                .or_internal()?;
        if outage.is_some() {
            return Ok(Mode::Outage);
        }
        Ok(if self.open_periods(institution).await?.is_empty() {
            Mode::Normal
        } else {
            Mode::Recovered
        })
    }

    /// Records a patient who came while the system was down (only then), by a label the
    /// institution recognises (e.g. its chart number); method 3 later needs this record.
    pub async fn record_outage_visit(&self, by: &Account, label: &str) -> DomainResult<i64> {
        self.record_outage_visit_named(by, label, None).await
    }

    /// [`Self::record_outage_visit`] with the name noted from the patient's card (the first
    /// of the four facts), which the search screen's list of visits shows with the date.
    pub async fn record_outage_visit_named(
        &self,
        by: &Account,
        label: &str,
        name: Option<&str>,
    ) -> DomainResult<i64> {
        let institution = by
            .institution_code
            .as_deref()
            .ok_or(DomainError::Forbidden("error.eligibility.institution_only"))?;
        if self.mode_for(institution).await? != Mode::Outage {
            return Err(DomainError::Conflict("error.eligibility.not_in_outage"));
        }
        let mut v = tsunagu_kernel::error::Validator::new();
        let label = v.check(tsunagu_kernel::values::person_name("label", label, 60))?;
        // An empty name is no name: the field is optional on every form and body.
        let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => v.check(tsunagu_kernel::values::person_name("name", n, 60))?,
            None => None,
        };
        v.finish()?;
        let Some(label) = label else {
            return Err(DomainError::invalid("label", "error.required"));
        };
        sqlx::query_scalar(
            "INSERT INTO outage_visits (institution_code, label, name, visited_at, recorded_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(institution)
        .bind(label)
        .bind(name)
        .bind(self.clock.now_ms())
        .bind(by.id)
        .fetch_one(self.db.pool())
        .await
        .or_internal()
    }

    /// Whether `visit` is an outage-time visit of the institution.
    pub async fn is_outage_visit(&self, institution: &str, visit: i64) -> DomainResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM outage_visits WHERE id = $1 AND institution_code = $2",
        )
        .bind(visit)
        .bind(institution)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        Ok(found.is_some())
    }

    /// Remembers what a search listed for `by`, for [`Self::was_listed`].
    pub async fn remember_results(
        &self,
        by: &Account,
        ids: impl Iterator<Item = i64>,
    ) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        for id in ids {
            sqlx::query(
                "INSERT INTO search_results (account_id, qualification_id, searched_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, qualification_id) DO UPDATE SET searched_at = $3",
            )
            .bind(by.id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .or_internal()?;
        }
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Refuses a record that no search of `by` listed within [`LISTED_FOR_MS`].
    pub async fn was_listed(&self, by: &Account, id: i64) -> DomainResult<()> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT searched_at FROM search_results WHERE account_id = $1 AND qualification_id = $2",
        )
        .bind(by.id)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        match at {
            Some(t) if self.clock.now_ms() - t <= LISTED_FOR_MS => Ok(()),
            _ => Err(DomainError::Forbidden("error.eligibility.not_listed")),
        }
    }

    /// Appends to the monitoring log.
    pub async fn monitor(
        &self,
        by: &Account,
        action: &str,
        conditions: &str,
        hits: Option<i64>,
        qualification: Option<i64>,
    ) -> DomainResult<()> {
        sqlx::query(
            "INSERT INTO monitoring_events (at, institution_code, account_id, action, conditions, hits, qualification_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.clock.now_ms())
        .bind(by.institution_code.as_deref())
        .bind(by.id)
        .bind(action)
        .bind(conditions)
        .bind(hits)
        .bind(qualification)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// The newest monitoring records (the operating body's review screen).
    pub async fn monitoring(
        &self,
        by: &Account,
        filter: &MonitoringFilter,
        limit: i64,
    ) -> DomainResult<Vec<Monitoring>> {
        if by.role != Role::Operator {
            return Err(DomainError::Forbidden("error.eligibility.operator_only"));
        }
        type Row = (
            i64,
            Option<String>,
            i64,
            String,
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT m.at, m.institution_code, m.account_id, m.action, m.conditions, m.hits, m.qualification_id, \
             a.login_id FROM monitoring_events m LEFT JOIN accounts a ON a.id = m.account_id \
             WHERE ($1 = '' OR m.institution_code = $1) AND m.at >= $2 AND m.at < $3 \
             ORDER BY m.id DESC LIMIT $4",
        )
        .bind(filter.institution.as_deref().unwrap_or(""))
        .bind(filter.from_ms.unwrap_or(i64::MIN))
        .bind(filter.to_ms.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    at,
                    institution_code,
                    account_id,
                    action,
                    conditions,
                    hits,
                    qualification_id,
                    login,
                )| {
                    Monitoring {
                        at,
                        institution_code,
                        account_id,
                        account_login: login.unwrap_or_default(),
                        action,
                        conditions,
                        hits,
                        qualification_id,
                    }
                },
            )
            .collect())
    }

    /// Registers or updates the institution's inquiry number (照会番号) for a record.
    pub async fn set_inquiry_number(
        &self,
        by: &Account,
        qualification: i64,
        number: &str,
    ) -> DomainResult<()> {
        let institution = by
            .institution_code
            .as_deref()
            .ok_or(DomainError::Forbidden("error.eligibility.institution_only"))?;
        // Full-width letters, digits and hyphens (what a Japanese IME types) are the same
        // number: read them as ASCII, as every other field does.
        let number: String = number
            .trim()
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                c => c,
            })
            .collect();
        let number = number.as_str();
        if number.is_empty()
            || number.chars().count() > 20
            || !number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(DomainError::invalid(
                "inquiry_number",
                "error.eligibility.inquiry_number",
            ));
        }
        let now = self.clock.now_ms();
        sqlx::query(
            "INSERT INTO inquiry_numbers (institution_code, qualification_id, inquiry_number, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (institution_code, qualification_id) DO UPDATE SET inquiry_number = $3, updated_at = $4",
        )
        .bind(institution)
        .bind(qualification)
        .bind(number)
        .bind(now)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        self.monitor(by, "inquiry_number", "", None, Some(qualification))
            .await
    }

    /// The institution's inquiry number for a record, if registered.
    pub async fn inquiry_number(
        &self,
        institution: &str,
        qualification: i64,
    ) -> DomainResult<Option<String>> {
        sqlx::query_scalar("SELECT inquiry_number FROM inquiry_numbers WHERE institution_code = $1 AND qualification_id = $2")
            .bind(institution)
            .bind(qualification)
            .fetch_optional(self.db.pool())
            .await
            .or_internal()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn seed_004_method_table() {
        use Arrival::*;
        use Method::*;
        use Mode::*;
        // 通常時: 1 ○ 2 ○ 3 ×
        assert!(method_allowed(Normal, MyNumberCard, AfterRecovery).is_ok());
        assert!(method_allowed(Normal, CardNumbers, AfterRecovery).is_ok());
        assert!(method_allowed(Normal, FourFacts, AfterRecovery).is_err());
        // システム障害発生時: × × ×
        for m in [MyNumberCard, CardNumbers, FourFacts] {
            assert!(method_allowed(Outage, m, DuringOutage).is_err());
        }
        // 復旧後, 障害中に来院: 1 —, 2 ○, 3 ○
        assert!(method_allowed(Recovered, MyNumberCard, DuringOutage).is_err());
        assert!(method_allowed(Recovered, CardNumbers, DuringOutage).is_ok());
        assert!(method_allowed(Recovered, FourFacts, DuringOutage).is_ok());
        // 復旧後, 復旧後に来院: 1 ○, 2 ○, 3 ×
        assert!(method_allowed(Recovered, MyNumberCard, AfterRecovery).is_ok());
        assert!(method_allowed(Recovered, CardNumbers, AfterRecovery).is_ok());
        assert!(method_allowed(Recovered, FourFacts, AfterRecovery).is_err());
    }

    #[test]
    fn emergency_menu_visibility() {
        assert_eq!(emergency_menu(Role::General, true), MenuItem::ShownRefused);
        assert_eq!(emergency_menu(Role::Viewer, true), MenuItem::Usable);
        assert_eq!(emergency_menu(Role::Admin, true), MenuItem::Usable);
        assert_eq!(emergency_menu(Role::Operator, true), MenuItem::Hidden);
        for r in [Role::General, Role::Viewer, Role::Admin] {
            assert_eq!(emergency_menu(r, false), MenuItem::Hidden);
        }
    }
}
