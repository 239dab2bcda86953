//! Visit rows.

use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::{DomainError, DomainResult, FacilityId, StaffId};

/// What a visit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitKind {
    /// A booking's online visit (a member, or an in-clinic booking in online mode).
    Booking,
    /// A video-call URL for a patient without an account (B8).
    Url,
}

/// Where a visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitState {
    /// Not started; nobody waiting.
    Scheduled,
    /// The patient is in the waiting room.
    Waiting,
    /// The doctor started it.
    InProgress,
    /// The doctor ended it.
    Ended,
    /// The clinic cancelled it.
    Cancelled,
}

impl VisitState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Waiting => "waiting",
            Self::InProgress => "in_progress",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "waiting" => Self::Waiting,
            "in_progress" => Self::InProgress,
            "ended" => Self::Ended,
            "cancelled" => Self::Cancelled,
            _ => Self::Scheduled,
        }
    }

    /// Its label's message key.
    pub fn label_key(self) -> &'static str {
        match self {
            Self::Scheduled => "visit.state_scheduled",
            Self::Waiting => "visit.state_waiting",
            Self::InProgress => "visit.state_in_progress",
            Self::Ended => "visit.state_ended",
            Self::Cancelled => "visit.state_cancelled",
        }
    }

    /// Not ended or cancelled.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Ended | Self::Cancelled)
    }
}

/// A visit.
#[derive(Debug, Clone)]
pub struct Visit {
    /// Id.
    pub id: i64,
    /// Facility.
    pub facility_id: FacilityId,
    /// The booking, for a booking's visit.
    pub booking_id: Option<i64>,
    /// Booking or URL call.
    pub kind: VisitKind,
    /// The doctor.
    pub doctor_id: StaffId,
    /// A URL call's title (staff only).
    pub title: String,
    /// Start (ms).
    pub starts_at: i64,
    /// State.
    pub state: VisitState,
    /// The patient link's nonce (URL calls).
    pub(crate) link_nonce: Option<String>,
    /// Where the patient URL was last sent: (`sms` or `email`, destination, when).
    pub sent: Option<(String, String, i64)>,
    /// When the doctor started it.
    pub started_at: Option<i64>,
    /// When the doctor ended it.
    pub ended_at: Option<i64>,
    /// When the patient was last nudged to enter, and how many times.
    pub nudged: Option<(i64, i64)>,
}

const COLUMNS: &str = "id, facility_id, booking_id, kind, doctor_id, title, starts_at, state, \
                       link_nonce, sent_channel, sent_to, sent_at, started_at, ended_at, \
                       nudged_at, nudges";

type Row = (
    i64,
    i64,
    Option<i64>,
    String,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
);

fn to_visit(r: Row) -> Visit {
    Visit {
        id: r.0,
        facility_id: FacilityId(r.1),
        booking_id: r.2,
        kind: if r.3 == "url" {
            VisitKind::Url
        } else {
            VisitKind::Booking
        },
        doctor_id: StaffId(r.4),
        title: r.5,
        starts_at: r.6,
        state: VisitState::parse(&r.7),
        link_nonce: r.8,
        sent: match (r.9, r.10, r.11) {
            (Some(c), Some(t), Some(at)) => Some((c, t, at)),
            _ => None,
        },
        started_at: r.12,
        ended_at: r.13,
        nudged: r.14.map(|at| (at, r.15)),
    }
}

/// Visit storage; every read is scoped to a facility or to a link's digest.
#[derive(Debug, Clone)]
pub(crate) struct VisitStore {
    db: Db,
}

/// A new visit's row.
pub(crate) struct NewVisit<'a> {
    pub facility: FacilityId,
    pub booking: Option<i64>,
    pub kind: VisitKind,
    pub doctor: StaffId,
    pub title: &'a str,
    pub starts_at: i64,
    pub link: Option<(&'a str, &'a str)>,
    pub created_by: Option<StaffId>,
}

impl VisitStore {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) async fn insert_in(
        &self,
        tx: &mut Tx,
        v: &NewVisit<'_>,
        now: i64,
    ) -> DomainResult<i64> {
        let (nonce, digest) = v.link.unzip();
        sqlx::query_scalar(
            "INSERT INTO visits (facility_id, booking_id, kind, doctor_id, title, starts_at, state, \
             link_nonce, link_digest, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9, $10, $10) RETURNING id",
        )
        .bind(v.facility.0)
        .bind(v.booking)
        .bind(match v.kind {
            VisitKind::Booking => "booking",
            VisitKind::Url => "url",
        })
        .bind(v.doctor.0)
        .bind(v.title)
        .bind(v.starts_at)
        .bind(nonce)
        .bind(digest)
        .bind(v.created_by.map(|s| s.0))
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .or_internal()
    }

    /// A visit of the facility.
    pub(crate) async fn get(&self, facility: FacilityId, id: i64) -> DomainResult<Visit> {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visits WHERE facility_id = $1 AND id = $2"
        )))
        .bind(facility.0)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .map(to_visit)
        .ok_or(DomainError::NotFound)
    }

    /// The facility's visits whose ids `subquery` selects (its parameters: the facility,
    /// `from`, `to`).
    pub(crate) async fn in_set(
        &self,
        facility: FacilityId,
        subquery: &str,
        from: i64,
        to: i64,
    ) -> DomainResult<Vec<Visit>> {
        Ok(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visits WHERE facility_id = $1 AND id IN ({subquery})"
        )))
        .bind(facility.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?
        .into_iter()
        .map(to_visit)
        .collect())
    }

    /// The visit of a booking of the facility, if it has one.
    pub(crate) async fn of_booking(
        &self,
        facility: FacilityId,
        booking: i64,
    ) -> DomainResult<Option<Visit>> {
        Ok(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visits WHERE facility_id = $1 AND booking_id = $2"
        )))
        .bind(facility.0)
        .bind(booking)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .map(to_visit))
    }

    /// The same, read inside a write transaction.
    pub(crate) async fn of_booking_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        booking: i64,
    ) -> DomainResult<Option<i64>> {
        sqlx::query_scalar("SELECT id FROM visits WHERE facility_id = $1 AND booking_id = $2")
            .bind(facility.0)
            .bind(booking)
            .fetch_optional(&mut **tx)
            .await
            .or_internal()
    }

    /// The visit a patient link's digest names.
    pub(crate) async fn by_link(&self, digest: &str) -> DomainResult<Option<Visit>> {
        Ok(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visits WHERE link_digest = $1"
        )))
        .bind(digest)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .map(to_visit))
    }

    /// The facility's URL calls starting in `[from, to)`, optionally of one doctor.
    pub(crate) async fn url_calls(
        &self,
        facility: FacilityId,
        from: i64,
        to: i64,
        doctor: Option<StaffId>,
    ) -> DomainResult<Vec<Visit>> {
        Ok(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM visits WHERE facility_id = $1 AND kind = 'url' \
             AND starts_at >= $2 AND starts_at < $3 AND ($4 = 0 OR doctor_id = $4) \
             ORDER BY starts_at, id"
        )))
        .bind(facility.0)
        .bind(from)
        .bind(to)
        .bind(doctor.map_or(0, |d| d.0))
        .fetch_all(self.db.pool())
        .await
        .or_internal()?
        .into_iter()
        .map(to_visit)
        .collect())
    }

    /// Moves the state from one of `from` to `to`, setting `started_at`/`ended_at` as it
    /// goes; `Conflict` when the visit is not in one of `from` (someone else moved it).
    pub(crate) async fn set_state_in(
        &self,
        tx: &mut Tx,
        v: &Visit,
        from: &[VisitState],
        to: VisitState,
        now: i64,
    ) -> DomainResult<()> {
        if !from.contains(&v.state) || !self.move_state_in(tx, v, from, to, now).await? {
            return Err(DomainError::Conflict("error.visit.state"));
        }
        Ok(())
    }

    /// Moves the visit to `to` if it is in one of `from` now, as the database has it (not as
    /// `v` was read: another request may have moved it since, say the patient arriving while
    /// the doctor starts). Whether it moved.
    pub(crate) async fn move_state_in(
        &self,
        tx: &mut Tx,
        v: &Visit,
        from: &[VisitState],
        to: VisitState,
        now: i64,
    ) -> DomainResult<bool> {
        if from.is_empty() {
            return Ok(false);
        }
        let states: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 5)).collect();
        let sql = format!(
            "UPDATE visits SET state = $3, updated_at = $4, \
             started_at = CASE WHEN $3 = 'in_progress' THEN $4 ELSE started_at END, \
             ended_at = CASE WHEN $3 IN ('ended', 'cancelled') THEN $4 ELSE ended_at END, \
             link_digest = CASE WHEN $3 = 'cancelled' THEN NULL ELSE link_digest END \
             WHERE id = $1 AND facility_id = $2 AND state IN ({})",
            states.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(v.id)
            .bind(v.facility_id.0)
            .bind(to.as_str())
            .bind(now);
        for s in from {
            q = q.bind(s.as_str());
        }
        let done = q.execute(&mut **tx).await.or_internal()?.rows_affected();
        Ok(done > 0)
    }

    pub(crate) async fn set_sent_in(
        &self,
        tx: &mut Tx,
        v: &Visit,
        channel: &str,
        to: &str,
        now: i64,
    ) -> DomainResult<()> {
        sqlx::query(
            "UPDATE visits SET sent_channel = $3, sent_to = $4, sent_at = $5, updated_at = $5 \
             WHERE id = $1 AND facility_id = $2",
        )
        .bind(v.id)
        .bind(v.facility_id.0)
        .bind(channel)
        .bind(to)
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()
        .map(|_| ())
    }

    pub(crate) async fn set_nudged_in(&self, tx: &mut Tx, v: &Visit, now: i64) -> DomainResult<()> {
        sqlx::query(
            "UPDATE visits SET nudged_at = $3, nudges = nudges + 1, updated_at = $3 \
             WHERE id = $1 AND facility_id = $2",
        )
        .bind(v.id)
        .bind(v.facility_id.0)
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()
        .map(|_| ())
    }

    pub(crate) async fn set_title_doctor_in(
        &self,
        tx: &mut Tx,
        v: &Visit,
        title: &str,
        doctor: StaffId,
        now: i64,
    ) -> DomainResult<()> {
        sqlx::query(
            "UPDATE visits SET title = $3, doctor_id = $4, updated_at = $5 \
             WHERE id = $1 AND facility_id = $2",
        )
        .bind(v.id)
        .bind(v.facility_id.0)
        .bind(title)
        .bind(doctor.0)
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()
        .map(|_| ())
    }
}
