//! Each facility's account at the eligibility service, as its admin set it on the settings
//! screen. The password is sealed (see `tsunagu_kernel::seal`) under the facility's id, so
//! the database alone does not give it away and a sealed value cannot be moved to another
//! facility. Links in the configuration (and the demo's) apply where none is stored.

use std::sync::Arc;

use tsunagu_db::{Db, DbResultExt, sqlx};
use tsunagu_kernel::seal::Sealer;
use tsunagu_kernel::{Clock, DomainError, DomainResult, FacilityId, FieldError};

use crate::check::Link;

/// Stored links.
#[derive(Debug, Clone)]
pub struct LinkStore {
    db: Db,
    clock: Arc<dyn Clock>,
    sealer: Sealer,
    audit: tsunagu_audit::AuditLog,
}

fn aad(facility: FacilityId) -> String {
    format!("eligibility-link:{}", facility.0)
}

impl Link {
    /// Validates what an admin typed: a 10-digit 医療機関コード, a user id, a password.
    pub fn parse(institution: &str, login_id: &str, password: &str) -> DomainResult<Link> {
        let code: String = institution.trim().chars().filter(|c| *c != '-').collect();
        let mut errs = Vec::new();
        if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
            errs.push(FieldError::new(
                "institution",
                "error.eligibility.institution_code",
            ));
        }
        let login = login_id.trim();
        if login.is_empty() || login.len() > 40 || login.chars().any(char::is_control) {
            errs.push(FieldError::new("login_id", "error.login_id.invalid"));
        }
        if password.is_empty() || password.len() > 200 {
            errs.push(FieldError::new("password", "error.required"));
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs));
        }
        Ok(Link {
            institution: code,
            login_id: login.to_string(),
            password: password.to_string(),
        })
    }
}

impl LinkStore {
    /// The store, sealing with `sealer`; changes are audited in their own transaction.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        sealer: Sealer,
        audit: tsunagu_audit::AuditLog,
    ) -> Self {
        Self {
            db,
            clock,
            sealer,
            audit,
        }
    }

    /// The facility's stored link, if any.
    pub async fn get(&self, facility: FacilityId) -> DomainResult<Option<Link>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT institution, login_id, password_sealed FROM facility_eligibility_links WHERE facility_id = $1",
        )
        .bind(facility.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        let Some((institution, login_id, sealed)) = row else {
            return Ok(None);
        };
        Ok(Some(Link {
            institution,
            login_id,
            password: self.sealer.open(&sealed, &aad(facility))?,
        }))
    }

    /// Stores (or replaces) the facility's link (an admin), with its audit entry.
    pub async fn save(
        &self,
        facility: FacilityId,
        link: &Link,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let sealed = self.sealer.seal(&link.password, &aad(facility))?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO facility_eligibility_links (facility_id, institution, login_id, password_sealed, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (facility_id) DO UPDATE SET institution = $2, login_id = $3, \
             password_sealed = $4, updated_by = $5, updated_at = $6",
        )
        .bind(facility.0)
        .bind(&link.institution)
        .bind(&link.login_id)
        .bind(sealed)
        .bind(by.actor.id.unwrap_or_default())
        .bind(self.clock.now_ms())
        .execute(&mut *tx)
        .await
        .or_internal()?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    None,
                    "facility.eligibility_link",
                    format!(
                        "institution={} login_id={}",
                        link.institution, link.login_id
                    ),
                ),
            )
            .await?;
        tx.commit().await.or_internal()
    }

    /// Removes the facility's stored link (an admin), with its audit entry.
    pub async fn remove(&self, facility: FacilityId, by: &tsunagu_audit::By) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM facility_eligibility_links WHERE facility_id = $1")
            .bind(facility.0)
            .execute(&mut *tx)
            .await
            .or_internal()?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "facility.eligibility_link", "removed".into()),
            )
            .await?;
        tx.commit().await.or_internal()
    }
}
