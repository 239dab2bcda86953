//! Guests of a visit (groundwork for C9): a family member, an interpreter or a remote
//! specialist, each invited with a link of their own and a validity, waiting in the same
//! room until the doctor admits them; staff or the doctor can revoke a link, which stops it
//! at once and closes the guest's page. At most [`MAX_GUESTS`] live guests, so a call has at
//! most six people (doctor, patient and four more).

use tsunagu_audit::By;
use tsunagu_clinics::Facility;
use tsunagu_db::{DbResultExt, sqlx};
use tsunagu_events::{Event, Topic};
use tsunagu_kernel::error::Validator;
use tsunagu_kernel::{DomainError, DomainResult, StaffId};

use crate::store::Visit;
use crate::{VisitState, Visits};

/// Live guests a visit may have.
pub const MAX_GUESTS: i64 = 4;

/// Who a guest is to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRole {
    /// ご家族.
    Family,
    /// 通訳.
    Interpreter,
    /// 専門医.
    Specialist,
}

impl GuestRole {
    /// Reads the form's value.
    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "family" => Ok(Self::Family),
            "interpreter" => Ok(Self::Interpreter),
            "specialist" => Ok(Self::Specialist),
            _ => Err(DomainError::invalid("role", "error.guest.role")),
        }
    }

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Family => "family",
            Self::Interpreter => "interpreter",
            Self::Specialist => "specialist",
        }
    }

    /// Its label's message key.
    pub fn label_key(self) -> &'static str {
        match self {
            Self::Family => "guest.role_family",
            Self::Interpreter => "guest.role_interpreter",
            Self::Specialist => "guest.role_specialist",
        }
    }
}

/// A guest of a visit.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Id.
    pub id: i64,
    /// The visit.
    pub visit_id: i64,
    /// The name staff gave.
    pub name: String,
    /// Family, interpreter or specialist.
    pub role: GuestRole,
    pub(crate) link_nonce: String,
    /// The link works until then (ms).
    pub valid_until: i64,
    /// When the doctor admitted them.
    pub admitted_at: Option<i64>,
    /// When the link was revoked.
    pub revoked_at: Option<i64>,
}

impl Guest {
    /// Usable now: not revoked and within its validity.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.valid_until
    }
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn to_guest(r: Row) -> Guest {
    Guest {
        id: r.0,
        visit_id: r.1,
        name: r.2,
        role: GuestRole::parse(&r.3).unwrap_or(GuestRole::Family),
        link_nonce: r.4,
        valid_until: r.5,
        admitted_at: r.6,
        revoked_at: r.7,
    }
}

const COLUMNS: &str = "id, visit_id, name, role, link_nonce, valid_until, admitted_at, revoked_at";

/// What a guest link opens.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // One per request, moved once: boxing buys nothing.
pub enum GuestAccess {
    /// The visit's waiting room, as this guest.
    Open(Visit, Guest, Facility),
    /// Revoked, past its validity, ended, or no such link: the page says to ask the clinic.
    Closed,
}

impl Visits {
    fn guest_token(&self, nonce: &str) -> String {
        self.sealer.mac(&format!("visit-guest:{nonce}"))
    }

    /// A guest's own URL (derived again from its nonce; never stored).
    pub fn guest_url(&self, g: &Guest) -> String {
        format!("{}/g/{}", self.public_url, self.guest_token(&g.link_nonce))
    }

    /// The guests of a visit of the facility, newest last.
    pub async fn guests(&self, facility: &Facility, visit: i64) -> DomainResult<Vec<Guest>> {
        let v = self.store.get(facility.id, visit).await?;
        Ok(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visit_guests WHERE visit_id = $1 ORDER BY id"
        )))
        .bind(v.id)
        .fetch_all(self.store.db().pool())
        .await
        .or_internal()?
        .into_iter()
        .map(to_guest)
        .collect())
    }

    /// Invites a guest: a name, a role and a validity of 1–72 hours (24 by default).
    pub async fn invite_guest(
        &self,
        by: &By,
        facility: &Facility,
        visit: i64,
        name: &str,
        role: &str,
        hours: &str,
    ) -> DomainResult<Guest> {
        let v = self.store.get(facility.id, visit).await?;
        let mut val = Validator::new();
        let name = val.check(tsunagu_kernel::values::person_name("name", name, 40))?;
        let role = val.check(GuestRole::parse(role))?;
        let hours = val.check(match hours.trim() {
            "" => Ok(24),
            h => h
                .parse::<i64>()
                .ok()
                .filter(|h| (1..=72).contains(h))
                .ok_or_else(|| DomainError::invalid("hours", "error.guest.hours")),
        })?;
        val.finish()?;
        let (Some(name), Some(role), Some(hours)) = (name, role, hours) else {
            return Err(DomainError::internal(anyhow::anyhow!(
                "validated guest incomplete"
            )));
        };
        if !v.state.is_open() {
            return Err(DomainError::Conflict("error.visit.closed"));
        }
        let now = self.clock.now_ms();
        let nonce = tsunagu_kernel::secret::new_token();
        let digest = tsunagu_kernel::secret::token_digest(&self.guest_token(&nonce));
        let mut tx = self.store.db().begin_write().await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM visit_guests WHERE visit_id = $1 AND revoked_at IS NULL \
             AND valid_until > $2",
        )
        .bind(v.id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .or_internal()?;
        if live >= MAX_GUESTS {
            return Err(DomainError::Conflict("error.guest.too_many"));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO visit_guests (visit_id, name, role, link_nonce, link_digest, valid_until, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(v.id)
        .bind(&name)
        .bind(role.as_str())
        .bind(&nonce)
        .bind(&digest)
        .bind(now + hours * 3_600_000)
        .bind(by.actor.id.map(|i| StaffId(i).0))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .or_internal()?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    None,
                    "visit.guest_invite",
                    format!("visit={} guest={id} role={}", v.id, role.as_str()),
                ),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, v.id).await;
        self.guest(v.id, id).await
    }

    pub(crate) async fn guest(&self, visit: i64, id: i64) -> DomainResult<Guest> {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visit_guests WHERE visit_id = $1 AND id = $2"
        )))
        .bind(visit)
        .bind(id)
        .fetch_optional(self.store.db().pool())
        .await
        .or_internal()?
        .map(to_guest)
        .ok_or(DomainError::NotFound)
    }

    /// Revokes a guest's link (staff or the doctor): it stops at once and the guest's page
    /// is closed.
    pub async fn revoke_guest(
        &self,
        by: &By,
        facility: &Facility,
        visit: i64,
        guest: i64,
    ) -> DomainResult<()> {
        let v = self.store.get(facility.id, visit).await?;
        let g = self.guest(v.id, guest).await?;
        self.change_guest(
            by,
            &v,
            g.id,
            "UPDATE visit_guests SET revoked_at = $3, link_digest = NULL \
             WHERE visit_id = $1 AND id = $2 AND revoked_at IS NULL",
            "visit.guest_revoke",
        )
        .await?;
        self.tell_guest(v.id, "visit.guest_revoked", g.id).await;
        Ok(())
    }

    /// The doctor admits a waiting guest into the call.
    pub async fn admit_guest(
        &self,
        by: &By,
        role: tsunagu_accounts::Role,
        facility: &Facility,
        visit: i64,
        guest: i64,
    ) -> DomainResult<()> {
        let v = self.store.get(facility.id, visit).await?;
        let g = self.guest(v.id, guest).await?;
        if role != tsunagu_accounts::Role::Doctor {
            return Err(DomainError::Forbidden("error.visit.doctor_only"));
        }
        if !g.is_live(self.clock.now_ms()) || !v.state.is_open() {
            return Err(DomainError::Conflict("error.guest.closed"));
        }
        self.change_guest(
            by,
            &v,
            g.id,
            "UPDATE visit_guests SET admitted_at = $3 WHERE visit_id = $1 AND id = $2",
            "visit.admit",
        )
        .await?;
        self.tell_guest(v.id, "visit.guest_admitted", g.id).await;
        Ok(())
    }

    /// One change to a guest (`sql` binds the visit, the guest and now) and its audit entry
    /// in the same transaction; then the facility's screens are told (the caller tells the
    /// room what happened).
    async fn change_guest(
        &self,
        by: &By,
        v: &Visit,
        guest: i64,
        sql: &'static str,
        action: &'static str,
    ) -> DomainResult<()> {
        let mut tx = self.store.db().begin_write().await?;
        sqlx::query(sql)
            .bind(v.id)
            .bind(guest)
            .bind(self.clock.now_ms())
            .execute(&mut *tx)
            .await
            .or_internal()?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, action, format!("visit={} guest={guest}", v.id)),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(v.facility_id, v.id).await;
        Ok(())
    }

    async fn tell_guest(&self, visit: i64, kind: &str, guest: i64) {
        self.events
            .publish(Event {
                topic: Topic::Visit(visit),
                kind: kind.into(),
                data: serde_json::json!({ "guest": guest }),
            })
            .await;
    }

    /// What a guest link opens now. A link of another visit never opens this one: the
    /// digest names one guest of one visit.
    pub async fn open_guest_link(&self, token: &str) -> DomainResult<GuestAccess> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(GuestAccess::Closed);
        }
        let digest = tsunagu_kernel::secret::token_digest(token);
        let Some(g) = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visit_guests WHERE link_digest = $1"
        )))
        .bind(&digest)
        .fetch_optional(self.store.db().pool())
        .await
        .or_internal()?
        .map(to_guest) else {
            return Ok(GuestAccess::Closed);
        };
        if !g.is_live(self.clock.now_ms()) {
            return Ok(GuestAccess::Closed);
        }
        let facility_id: i64 = sqlx::query_scalar("SELECT facility_id FROM visits WHERE id = $1")
            .bind(g.visit_id)
            .fetch_one(self.store.db().pool())
            .await
            .or_internal()?;
        let facility = self
            .facilities
            .get(tsunagu_kernel::FacilityId(facility_id))
            .await?;
        let v = self.store.get(facility.id, g.visit_id).await?;
        if matches!(v.state, VisitState::Ended | VisitState::Cancelled) {
            return Ok(GuestAccess::Closed);
        }
        Ok(GuestAccess::Open(v, g, facility))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_and_a_guest_lives_until_revoked_or_expired() {
        assert_eq!(
            GuestRole::parse("interpreter").unwrap_or(GuestRole::Family),
            GuestRole::Interpreter
        );
        assert!(GuestRole::parse("doctor").is_err());
        let g = Guest {
            id: 1,
            visit_id: 1,
            name: "山田 花子".into(),
            role: GuestRole::Family,
            link_nonce: String::new(),
            valid_until: 100,
            admitted_at: None,
            revoked_at: None,
        };
        assert!(g.is_live(99));
        assert!(!g.is_live(100));
        assert!(
            !Guest {
                revoked_at: Some(5),
                ..g
            }
            .is_live(1)
        );
    }
}
