//! Server-side sessions.
//!
//! The cookie holds a random 256-bit token; the table holds only its SHA-256, so a copy of
//! the database cannot be replayed as live sessions. Each realm (patient, staff, operator)
//! has its own cookie, so a clinic worker can be signed in as staff and as a patient in one
//! browser without the two mixing. A session starts anonymous (to carry the CSRF token and
//! a sign-up in progress) and is replaced by a fresh one — a new token — at login.
//!
//! An anonymous session is not stored until it holds something: its CSRF token is a keyed
//! MAC of the cookie's token, so a visitor who only reads pages writes nothing (3,000
//! cookieless requests once left 1,846 rows). It becomes a row when flow state is saved.

use std::sync::Arc;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, sqlx};
use tsunagu_kernel::seal::Sealer;
use tsunagu_kernel::secret::{new_token, token_digest};
use tsunagu_kernel::{Clock, DomainResult, FacilityId};

/// Which kind of user a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    /// Patients (account holders).
    Patient,
    /// Facility staff.
    Staff,
    /// Platform operators.
    Operator,
}

impl Realm {
    /// Stored name, also the cookie suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Patient => "patient",
            Realm::Staff => "staff",
            Realm::Operator => "operator",
        }
    }

    /// Idle lifetime: a patient stays signed in on their own phone; staff for a shift;
    /// operators briefly.
    fn idle_ms(self, stage: Stage) -> i64 {
        const MIN: i64 = 60 * 1000;
        match (self, stage) {
            (_, Stage::Anonymous) => 2 * 60 * MIN,
            (_, Stage::NeedsTotp | Stage::NeedsTotpEnrol) => 10 * MIN,
            (Realm::Patient, Stage::Full) => 14 * 24 * 60 * MIN,
            (Realm::Staff, Stage::Full) => 12 * 60 * MIN,
            (Realm::Operator, Stage::Full) => 2 * 60 * MIN,
        }
    }
}

/// How far the holder has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not signed in; carries CSRF and flow state only.
    Anonymous,
    /// Password accepted, TOTP code still to enter.
    NeedsTotp,
    /// Password accepted, TOTP must be set up before anything else.
    NeedsTotpEnrol,
    /// Fully signed in.
    Full,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Anonymous => "anonymous",
            Stage::NeedsTotp => "needs_totp",
            Stage::NeedsTotpEnrol => "needs_totp_enrol",
            Stage::Full => "full",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "needs_totp" => Stage::NeedsTotp,
            "needs_totp_enrol" => Stage::NeedsTotpEnrol,
            "full" => Stage::Full,
            _ => Stage::Anonymous,
        }
    }
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Digest of the token (the row key).
    pub digest: String,
    /// Realm.
    pub realm: Realm,
    /// Account, staff or operator id once signed in.
    pub principal_id: Option<i64>,
    /// The staff member's facility.
    pub facility_id: Option<FacilityId>,
    /// Progress.
    pub stage: Stage,
    /// The CSRF token every form of this session must echo.
    pub csrf: String,
    /// Flow state (a sign-up in progress, a pending phone change…).
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl Session {
    /// The signed-in principal, if the session is fully signed in.
    pub fn principal(&self) -> Option<i64> {
        match self.stage {
            Stage::Full => self.principal_id,
            _ => None,
        }
    }
}

/// A session row: principal, facility, stage, csrf, data, last seen, expiry.
type SessionRow = (Option<i64>, Option<i64>, String, String, String, i64, i64);

/// Session storage.
#[derive(Debug, Clone)]
pub struct SessionStore {
    db: Db,
    clock: Arc<dyn Clock>,
    sealer: Sealer,
}

/// Who is starting a session, from where.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Client IP.
    pub ip: String,
    /// User agent (trimmed).
    pub user_agent: String,
}

impl SessionStore {
    /// Sessions on `db`; `sealer` keys the CSRF tokens of anonymous sessions.
    pub fn new(db: Db, clock: Arc<dyn Clock>, sealer: Sealer) -> Self {
        Self { db, clock, sealer }
    }

    /// A new anonymous session, not stored: its token (for the cookie) and the session.
    pub fn anonymous(&self, realm: Realm) -> (String, Session) {
        let token = new_token();
        let s = self.anonymous_for(realm, &token);
        (token, s)
    }

    /// The anonymous session of a cookie token that has no stored session (never saved,
    /// expired or ended): the same token, a CSRF token derived from it.
    pub fn anonymous_for(&self, realm: Realm, token: &str) -> Session {
        Session {
            digest: token_digest(token),
            realm,
            principal_id: None,
            facility_id: None,
            stage: Stage::Anonymous,
            csrf: self.sealer.mac(&format!("csrf:{}:{token}", realm.as_str())),
            data: serde_json::Map::new(),
        }
    }

    /// Creates a session and returns its token (for the cookie) and the session.
    pub async fn create(
        &self,
        realm: Realm,
        principal: Option<i64>,
        facility: Option<FacilityId>,
        stage: Stage,
        origin: &Origin,
        data: serde_json::Map<String, serde_json::Value>,
    ) -> DomainResult<(String, Session)> {
        let now = self.clock.now_ms();
        let token = new_token();
        let digest = token_digest(&token);
        let csrf = new_token();
        let ua: String = origin.user_agent.chars().take(200).collect();
        sqlx::query(
            "INSERT INTO sessions (id_digest, realm, principal_id, facility_id, stage, csrf, data, \
             ip, user_agent, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)",
        )
        .bind(&digest)
        .bind(realm.as_str())
        .bind(principal)
        .bind(facility.map(|f| f.0))
        .bind(stage.as_str())
        .bind(&csrf)
        .bind(serde_json::Value::Object(data.clone()).to_string())
        .bind(&origin.ip)
        .bind(ua)
        .bind(now)
        .bind(now + realm.idle_ms(stage))
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok((
            token,
            Session {
                digest,
                realm,
                principal_id: principal,
                facility_id: facility,
                stage,
                csrf,
                data,
            },
        ))
    }

    /// The live session for a cookie token in `realm`, extending its idle lifetime.
    pub async fn get(&self, realm: Realm, token: &str) -> DomainResult<Option<Session>> {
        let now = self.clock.now_ms();
        let digest = token_digest(token);
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT principal_id, facility_id, stage, csrf, data, last_seen_at, expires_at \
             FROM sessions WHERE id_digest = $1 AND realm = $2",
        )
        .bind(&digest)
        .bind(realm.as_str())
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        let Some((principal_id, facility_id, stage, csrf, data, last_seen, expires_at)) = row
        else {
            return Ok(None);
        };
        if expires_at <= now {
            self.delete_digest(&digest).await?;
            return Ok(None);
        }
        let stage = Stage::parse(&stage);
        // Touch at most once a minute: a page with many requests should not write each time.
        // A session waiting for its second factor keeps the lifetime it was given at the
        // password step: guessing codes must not keep it alive.
        let pending = matches!(stage, Stage::NeedsTotp | Stage::NeedsTotpEnrol);
        if now - last_seen > 60_000 && !pending {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_digest = $1",
            )
            .bind(&digest)
            .bind(now)
            .bind(now + realm.idle_ms(stage))
            .execute(self.db.pool())
            .await
            .or_internal()?;
        }
        let data = match serde_json::from_str::<serde_json::Value>(&data) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        Ok(Some(Session {
            digest,
            realm,
            principal_id,
            facility_id: facility_id.map(FacilityId),
            stage,
            csrf,
            data,
        }))
    }

    /// Saves the flow-state map of a session, storing an anonymous session the first time
    /// it holds something.
    pub async fn save_data(&self, s: &Session) -> DomainResult<()> {
        let now = self.clock.now_ms();
        sqlx::query(
            "INSERT INTO sessions (id_digest, realm, principal_id, facility_id, stage, csrf, data, \
             ip, user_agent, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', $8, $8, $9) \
             ON CONFLICT (id_digest) DO UPDATE SET data = excluded.data",
        )
        .bind(&s.digest)
        .bind(s.realm.as_str())
        .bind(s.principal_id)
        .bind(s.facility_id.map(|f| f.0))
        .bind(s.stage.as_str())
        .bind(&s.csrf)
        .bind(serde_json::Value::Object(s.data.clone()).to_string())
        .bind(now)
        .bind(now + s.realm.idle_ms(s.stage))
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Ends one session.
    pub async fn delete_digest(&self, digest: &str) -> DomainResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_digest = $1")
            .bind(digest)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(())
    }

    /// Ends every session of a principal ("log out everywhere", password reset).
    pub async fn delete_all(&self, realm: Realm, principal: i64) -> DomainResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE realm = $1 AND principal_id = $2")
            .bind(realm.as_str())
            .bind(principal)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(r.rows_affected())
    }

    /// Ends every session of a principal except `keep` (the one that asked).
    pub async fn delete_others(
        &self,
        realm: Realm,
        principal: i64,
        keep: &str,
    ) -> DomainResult<u64> {
        let r = sqlx::query(
            "DELETE FROM sessions WHERE realm = $1 AND principal_id = $2 AND id_digest <> $3",
        )
        .bind(realm.as_str())
        .bind(principal)
        .bind(keep)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(r.rows_affected())
    }

    /// Number of live sessions of a principal (shown on the my page).
    pub async fn count_for(&self, realm: Realm, principal: i64) -> DomainResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE realm = $1 AND principal_id = $2 AND expires_at > $3",
        )
        .bind(realm.as_str())
        .bind(principal)
        .bind(self.clock.now_ms())
        .fetch_one(self.db.pool())
        .await
        .or_internal()
    }

    /// Deletes expired sessions (periodic).
    pub async fn purge(&self) -> DomainResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(self.clock.now_ms())
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(r.rows_affected())
    }
}
