//! Facility storage and validation.

use std::sync::Arc;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, flag, on_unique, sqlx};
use tsunagu_kernel::values::person_name;
use tsunagu_kernel::{Clock, DomainError, DomainResult, FacilityId, OrganisationId};

/// A medical corporation or hospital group.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    /// Id.
    pub id: OrganisationId,
    /// Name.
    pub name: String,
}

/// Clinic or hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FacilityKind {
    /// 診療所.
    Clinic,
    /// 病院.
    Hospital,
}

impl FacilityKind {
    fn as_str(self) -> &'static str {
        match self {
            FacilityKind::Clinic => "clinic",
            FacilityKind::Hospital => "hospital",
        }
    }
    /// Parses a stored or submitted kind.
    pub fn parse(field: &'static str, s: &str) -> DomainResult<Self> {
        match s {
            "clinic" => Ok(FacilityKind::Clinic),
            "hospital" => Ok(FacilityKind::Hospital),
            _ => Err(DomainError::invalid(field, "error.invalid_choice")),
        }
    }
}

/// A clinic or hospital.
#[derive(Debug, Clone, Serialize)]
pub struct Facility {
    /// Id.
    pub id: FacilityId,
    /// Owning organisation.
    pub organisation_id: Option<OrganisationId>,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: FacilityKind,
    /// Prefecture code (1–47).
    pub prefecture: i64,
    /// Address.
    pub address: String,
    /// Phone for patients (bookings by phone, late cancellations).
    pub phone: String,
    /// IANA time zone of its day rules.
    pub time_zone: String,
    /// Booking URL slug: `/c/{slug}`.
    pub slug: String,
    /// Whether every staff role must use TOTP.
    pub require_totp_all: bool,
    /// Patients one doctor can be booked for in the same time (seats per unit).
    pub capacity_per_doctor: i64,
    /// Whether public holidays follow the weekly hours instead of being closed.
    pub open_on_holidays: bool,
    /// Online menus suspended for maintenance: no new bookings (G1).
    pub online_suspended: bool,
    /// When a member's 「ビデオ通話画面へ進む」 appears: minutes before the start, or `None`
    /// for any time before (C1).
    pub video_entry_minutes: Option<i64>,
}

impl Facility {
    /// The facility's time zone (Asia/Tokyo if the stored name is unknown).
    pub fn tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.time_zone)
            .or_else(|_| jiff::tz::TimeZone::get("Asia/Tokyo"))
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

/// A facility to create.
#[derive(Debug, Clone)]
pub struct NewFacility {
    /// Organisation.
    pub organisation_id: Option<OrganisationId>,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: FacilityKind,
    /// Prefecture.
    pub prefecture: i64,
    /// Address.
    pub address: String,
    /// Phone.
    pub phone: String,
    /// Slug.
    pub slug: String,
}

impl NewFacility {
    /// Validates operator input.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        organisation_id: Option<OrganisationId>,
        name: &str,
        kind: &str,
        prefecture: &str,
        address: &str,
        phone: &str,
        slug: &str,
    ) -> DomainResult<Self> {
        let mut v = tsunagu_kernel::error::Validator::new();
        let name = v.check(person_name("name", name, 100))?;
        let kind = v.check(FacilityKind::parse("kind", kind))?;
        let pref = match prefecture.trim().parse::<i64>() {
            Ok(p) if (1..=47).contains(&p) => Some(p),
            _ => {
                v.push(tsunagu_kernel::FieldError::new(
                    "prefecture",
                    "error.prefecture.invalid",
                ));
                None
            }
        };
        let slug = v.check(parse_slug("slug", slug))?;
        v.finish()?;
        match (name, kind, pref, slug) {
            (Some(name), Some(kind), Some(prefecture), Some(slug)) => Ok(Self {
                organisation_id,
                name,
                kind,
                prefecture,
                address: address.trim().chars().take(200).collect(),
                phone: phone.trim().chars().take(30).collect(),
                slug,
            }),
            _ => Err(DomainError::internal(anyhow::anyhow!(
                "validator accepted incomplete input"
            ))),
        }
    }
}

/// A booking slug: 3–40 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn parse_slug(field: &'static str, s: &str) -> DomainResult<String> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "error.required"));
    }
    let ok = (3..=40).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !ok {
        return Err(DomainError::invalid(field, "error.slug.invalid"));
    }
    Ok(s)
}

const COLUMNS: &str = "id, organisation_id, name, kind, prefecture, address, phone, time_zone, slug, \
                       require_totp_all, capacity_per_doctor, open_on_holidays, online_suspended, \
                       video_entry_minutes";

fn row_to_facility(r: &sqlx::any::AnyRow) -> Result<Facility, sqlx::Error> {
    use sqlx::Row;
    let kind: String = r.try_get("kind")?;
    Ok(Facility {
        id: FacilityId(r.try_get("id")?),
        organisation_id: r
            .try_get::<Option<i64>, _>("organisation_id")?
            .map(OrganisationId),
        name: r.try_get("name")?,
        kind: FacilityKind::parse("kind", &kind).unwrap_or(FacilityKind::Clinic),
        prefecture: r.try_get("prefecture")?,
        address: r.try_get("address")?,
        phone: r.try_get("phone")?,
        time_zone: r.try_get("time_zone")?,
        slug: r.try_get("slug")?,
        require_totp_all: flag(r.try_get("require_totp_all")?),
        capacity_per_doctor: r.try_get("capacity_per_doctor")?,
        open_on_holidays: flag(r.try_get("open_on_holidays")?),
        online_suspended: flag(r.try_get("online_suspended")?),
        video_entry_minutes: r.try_get("video_entry_minutes")?,
    })
}

/// Storage of organisations and facilities.
#[derive(Debug, Clone)]
pub struct FacilityStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl FacilityStore {
    /// The store on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Creates an organisation.
    pub async fn create_organisation(&self, name: &str) -> DomainResult<OrganisationId> {
        let name = person_name("name", name, 100)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(name)
        .bind(self.clock.now_ms())
        .fetch_one(self.db.pool())
        .await
        .or_internal()?;
        Ok(OrganisationId(id))
    }

    /// All organisations.
    pub async fn organisations(&self) -> DomainResult<Vec<Organisation>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM organisations ORDER BY id")
                .fetch_all(self.db.pool())
                .await
                .or_internal()?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Organisation {
                id: OrganisationId(id),
                name,
            })
            .collect())
    }

    /// Creates a facility.
    pub async fn create(&self, f: &NewFacility) -> DomainResult<FacilityId> {
        let mut tx = self.db.begin_write().await?;
        let id = self.create_in(&mut tx, f).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Registers a facility in the caller's transaction.
    pub async fn create_in(&self, tx: &mut Tx, f: &NewFacility) -> DomainResult<FacilityId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO facilities (organisation_id, name, kind, prefecture, address, phone, slug, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(f.organisation_id.map(|o| o.0))
        .bind(&f.name)
        .bind(f.kind.as_str())
        .bind(f.prefecture)
        .bind(&f.address)
        .bind(&f.phone)
        .bind(&f.slug)
        .bind(self.clock.now_ms())
        .fetch_one(&mut **tx)
        .await
        .map_err(on_unique("error.slug.taken"))?;
        Ok(FacilityId(id))
    }

    /// A facility by id.
    pub async fn get(&self, id: FacilityId) -> DomainResult<Facility> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM facilities WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_facility(&row).or_internal()
    }

    /// A facility by its booking slug.
    pub async fn by_slug(&self, slug: &str) -> DomainResult<Facility> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM facilities WHERE slug = $1"
        )))
        .bind(slug.trim().to_ascii_lowercase())
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_facility(&row).or_internal()
    }

    /// All facilities, optionally of one prefecture.
    pub async fn list(&self, prefecture: Option<i64>) -> DomainResult<Vec<Facility>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM facilities WHERE ($1 IS NULL OR prefecture = $1) ORDER BY prefecture, name"
        )))
        .bind(prefecture)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_facility)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// Sets whether every staff role must use TOTP.
    pub async fn set_require_totp_all(
        &self,
        tx: &mut Tx,
        id: FacilityId,
        on: bool,
    ) -> DomainResult<()> {
        sqlx::query("UPDATE facilities SET require_totp_all = $2 WHERE id = $1")
            .bind(id.0)
            .bind(i64::from(on))
            .execute(&mut **tx)
            .await
            .or_internal()?;
        Ok(())
    }

    /// Sets how many minutes before the start 「ビデオ通話画面へ進む」 appears to a member
    /// (`None`: any time before).
    pub async fn set_video_entry_minutes(
        &self,
        tx: &mut Tx,
        id: FacilityId,
        minutes: Option<i64>,
    ) -> DomainResult<()> {
        sqlx::query("UPDATE facilities SET video_entry_minutes = $2 WHERE id = $1")
            .bind(id.0)
            .bind(minutes)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        Ok(())
    }

    /// Suspends or resumes the facility's online menus (G1).
    pub async fn set_online_suspended(
        &self,
        tx: &mut Tx,
        id: FacilityId,
        on: bool,
    ) -> DomainResult<()> {
        sqlx::query("UPDATE facilities SET online_suspended = $2 WHERE id = $1")
            .bind(id.0)
            .bind(i64::from(on))
            .execute(&mut **tx)
            .await
            .or_internal()?;
        Ok(())
    }

    /// Sets how many patients one doctor can be booked for at the same time.
    pub async fn set_capacity(&self, id: FacilityId, capacity: i64) -> DomainResult<()> {
        if !(1..=20).contains(&capacity) {
            return Err(DomainError::invalid("capacity", "error.capacity.invalid"));
        }
        sqlx::query("UPDATE facilities SET capacity_per_doctor = $2 WHERE id = $1")
            .bind(id.0)
            .bind(capacity)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(())
    }

    /// Counts facilities (to decide whether demo data is needed).
    pub async fn count(&self) -> DomainResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM facilities")
            .fetch_one(self.db.pool())
            .await
            .or_internal()
    }
}
