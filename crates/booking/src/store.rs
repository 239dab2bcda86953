//! Booking storage and the capacity-safe claim.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::tz::TimeZone;
use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, flag, sqlx};
use tsunagu_kernel::{AccountId, Clock, DomainError, DomainResult, FacilityId, PatientId, StaffId};
use tsunagu_scheduling::slots::units;
use tsunagu_scheduling::{Mode, VisitKind};

/// Where a booking came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The patient, on the web.
    Web,
    /// Staff, for a member who called (B3).
    Phone,
    /// Staff, for a patient with no account (院内予約, B7).
    InClinic,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Web => "web",
            Source::Phone => "phone",
            Source::InClinic => "in_clinic",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "phone" => Source::Phone,
            "in_clinic" => Source::InClinic,
            _ => Source::Web,
        }
    }
}

/// Lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Upcoming.
    Booked,
    /// Cancelled.
    Cancelled,
    /// Seen.
    Completed,
    /// The patient did not come.
    NoShow,
}

impl BookingStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Cancelled => "cancelled",
            Self::Completed => "completed",
            Self::NoShow => "no_show",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "cancelled" => Self::Cancelled,
            "completed" => Self::Completed,
            "no_show" => Self::NoShow,
            _ => Self::Booked,
        }
    }
}

/// A booking to make.
#[derive(Debug, Clone)]
pub struct NewBooking {
    /// Facility.
    pub facility_id: FacilityId,
    /// Who is seen.
    pub patient_id: PatientId,
    /// The account that booked (and pays), if any.
    pub account_id: Option<AccountId>,
    /// The staff member who booked, if any.
    pub booked_by_staff: Option<StaffId>,
    /// Menu.
    pub menu_id: i64,
    /// Doctor.
    pub doctor_id: StaffId,
    /// Online or in person.
    pub mode: Mode,
    /// First or return visit.
    pub visit_kind: VisitKind,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// Origin.
    pub source: Source,
    /// Booking fee (0 for in-clinic bookings whatever the menu says).
    pub booking_fee_yen: i64,
    /// Staff-only same-day memo.
    pub staff_memo: String,
}

/// A stored booking.
#[derive(Debug, Clone, Serialize)]
pub struct Booking {
    /// Id.
    pub id: i64,
    /// Facility.
    pub facility_id: FacilityId,
    /// Patient.
    pub patient_id: PatientId,
    /// Booking account.
    pub account_id: Option<AccountId>,
    /// Menu.
    pub menu_id: i64,
    /// Doctor.
    pub doctor_id: StaffId,
    /// Mode.
    pub mode: Mode,
    /// Visit kind.
    pub visit_kind: VisitKind,
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// Status.
    pub status: BookingStatus,
    /// Origin.
    pub source: Source,
    /// Booking fee.
    pub booking_fee_yen: i64,
    /// Staff memo (never shown to patients).
    #[serde(skip)]
    pub staff_memo: String,
    /// Cancelled after the patient's deadline (cancellation fee may apply).
    pub late_cancel: bool,
    /// Last change (ms): when it was booked, moved or closed.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, facility_id, patient_id, account_id, menu_id, doctor_id, mode, visit_kind, \
                       starts_at, ends_at, status, source, booking_fee_yen, staff_memo, late_cancel, \
                       updated_at";

fn row_to_booking(r: &sqlx::any::AnyRow) -> Result<Booking, sqlx::Error> {
    use sqlx::Row;
    let mode: String = r.try_get("mode")?;
    let kind: String = r.try_get("visit_kind")?;
    Ok(Booking {
        id: r.try_get("id")?,
        facility_id: FacilityId(r.try_get("facility_id")?),
        patient_id: PatientId(r.try_get("patient_id")?),
        account_id: r.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        menu_id: r.try_get("menu_id")?,
        doctor_id: StaffId(r.try_get("doctor_id")?),
        mode: Mode::parse("mode", &mode).unwrap_or(Mode::Online),
        visit_kind: VisitKind::parse("visit_kind", &kind).unwrap_or(VisitKind::Return),
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        status: BookingStatus::parse(&r.try_get::<String, _>("status")?),
        source: Source::parse(&r.try_get::<String, _>("source")?),
        booking_fee_yen: r.try_get("booking_fee_yen")?,
        staff_memo: r.try_get("staff_memo")?,
        late_cancel: flag(r.try_get("late_cancel")?),
        updated_at: r.try_get("updated_at")?,
    })
}

/// The last instant a patient may cancel online: the start of the visit's local day.
pub fn cancel_deadline(starts_at: i64, tz: &TimeZone) -> i64 {
    let ts = tsunagu_kernel::clock::from_ms(starts_at);
    let day = ts.to_zoned(tz.clone()).date();
    day.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(starts_at)
}

/// Booking storage.
#[derive(Debug, Clone)]
pub struct BookingStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl BookingStore {
    /// The store on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// The pool, for the crate's read models that join bookings with their neighbours.
    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        self.db.pool()
    }

    /// Creates a booking and claims its units in the caller's transaction (which must have
    /// been started with `begin_write`). `Conflict("error.slot.taken")` if the time is full;
    /// the caller must then drop the transaction.
    pub async fn create_in(&self, tx: &mut Tx, b: &NewBooking, capacity: i64) -> DomainResult<i64> {
        let now = self.clock.now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bookings (facility_id, patient_id, account_id, booked_by_staff, menu_id, doctor_id, \
             mode, visit_kind, starts_at, ends_at, status, source, booking_fee_yen, staff_memo, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'booked', $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(b.facility_id.0)
        .bind(b.patient_id.0)
        .bind(b.account_id.map(|a| a.0))
        .bind(b.booked_by_staff.map(|s| s.0))
        .bind(b.menu_id)
        .bind(b.doctor_id.0)
        .bind(b.mode.as_str())
        .bind(b.visit_kind.as_str())
        .bind(b.starts_at)
        .bind(b.ends_at)
        .bind(b.source.as_str())
        .bind(b.booking_fee_yen)
        .bind(&b.staff_memo)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .or_internal()?;
        self.claim_units(tx, id, b.doctor_id, b.starts_at, b.ends_at, capacity)
            .await?;
        Ok(id)
    }

    /// Creates a booking in its own transaction.
    pub async fn create(&self, b: &NewBooking, capacity: i64) -> DomainResult<i64> {
        let mut tx = self.db.begin_write().await?;
        let id = self.create_in(&mut tx, b, capacity).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Claims per unit of a doctor between two instants (for free-slot computation).
    pub async fn claims(
        &self,
        doctor: StaffId,
        from: i64,
        to: i64,
    ) -> DomainResult<HashMap<i64, i64>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT unit_start, COUNT(*) FROM slot_claims WHERE doctor_id = $1 AND unit_start >= $2 \
             AND unit_start < $3 GROUP BY unit_start",
        )
        .bind(doctor.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows.into_iter().collect())
    }

    /// A booking of an account (its own or its family's); `NotFound` otherwise.
    pub async fn get_for_account(&self, account: AccountId, id: i64) -> DomainResult<Booking> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bookings WHERE account_id = $1 AND id = $2"
        )))
        .bind(account.0)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_booking(&row).or_internal()
    }

    /// A booking of a facility; `NotFound` for other facilities'.
    pub async fn get_at(&self, facility: FacilityId, id: i64) -> DomainResult<Booking> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bookings WHERE facility_id = $1 AND id = $2"
        )))
        .bind(facility.0)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_booking(&row).or_internal()
    }

    /// An account's live bookings ending after `after` (ms), soonest first.
    pub async fn upcoming_for_account(
        &self,
        account: AccountId,
        after: i64,
    ) -> DomainResult<Vec<Booking>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bookings WHERE account_id = $1 AND status = 'booked' AND ends_at > $2 \
             ORDER BY starts_at"
        )))
        .bind(account.0)
        .bind(after)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_booking)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// A facility's bookings starting in [from, to), any status, in time order.
    pub async fn list_at(
        &self,
        facility: FacilityId,
        from: i64,
        to: i64,
    ) -> DomainResult<Vec<Booking>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM bookings WHERE facility_id = $1 AND starts_at >= $2 AND starts_at < $3 \
             ORDER BY starts_at, id"
        )))
        .bind(facility.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_booking)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// Moves a live booking to another time (and doctor), releasing its old units and
    /// claiming the new ones in the caller's write transaction; `Conflict` if the new time
    /// is full, in which case the caller drops the transaction and nothing changed.
    pub async fn reschedule_in(
        &self,
        tx: &mut Tx,
        b: &Booking,
        doctor: StaffId,
        starts_at: i64,
        ends_at: i64,
        capacity: i64,
    ) -> DomainResult<()> {
        sqlx::query("DELETE FROM slot_claims WHERE booking_id = $1")
            .bind(b.id)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        let r = sqlx::query(
            "UPDATE bookings SET doctor_id = $2, starts_at = $3, ends_at = $4, updated_at = $5 WHERE id = $1 AND status = 'booked'",
        )
        .bind(b.id)
        .bind(doctor.0)
        .bind(starts_at)
        .bind(ends_at)
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::Conflict("error.booking.not_live"));
        }
        self.claim_units(tx, b.id, doctor, starts_at, ends_at, capacity)
            .await
    }

    async fn claim_units(
        &self,
        tx: &mut Tx,
        id: i64,
        doctor: StaffId,
        starts_at: i64,
        ends_at: i64,
        capacity: i64,
    ) -> DomainResult<()> {
        for unit in units(starts_at, ends_at) {
            let mut claimed = false;
            for seat in 1..=capacity.max(1) {
                let got: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO slot_claims (doctor_id, unit_start, seat, booking_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (doctor_id, unit_start, seat) DO NOTHING RETURNING seat",
                )
                .bind(doctor.0)
                .bind(unit)
                .bind(seat)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .or_internal()?;
                if got.is_some() {
                    claimed = true;
                    break;
                }
            }
            if !claimed {
                return Err(DomainError::Conflict("error.slot.taken"));
            }
        }
        Ok(())
    }

    /// Marks a live booking seen (`Completed`) or not attended (`NoShow`, flagged for the
    /// cancellation fee); the time is released either way.
    pub async fn close_in(
        &self,
        tx: &mut Tx,
        b: &Booking,
        status: BookingStatus,
    ) -> DomainResult<()> {
        let (s, late) = match status {
            BookingStatus::Completed => ("completed", 0),
            BookingStatus::NoShow => ("no_show", 1),
            _ => return Err(DomainError::invalid("status", "error.invalid_choice")),
        };
        let r = sqlx::query(
            "UPDATE bookings SET status = $2, late_cancel = $3, updated_at = $4 WHERE id = $1 AND status = 'booked'",
        )
        .bind(b.id)
        .bind(s)
        .bind(late)
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::Conflict("error.booking.not_live"));
        }
        Ok(())
    }

    /// Puts a booking marked seen or no-show back to booked and claims its time again
    /// (the caller checked who may and when).
    pub async fn reopen_in(&self, tx: &mut Tx, b: &Booking, capacity: i64) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE bookings SET status = 'booked', late_cancel = 0, updated_at = $2 \
             WHERE id = $1 AND status IN ('completed', 'no_show')",
        )
        .bind(b.id)
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::Conflict("error.booking.reopen_not_closed"));
        }
        self.claim_units(tx, b.id, b.doctor_id, b.starts_at, b.ends_at, capacity)
            .await
            .map_err(|e| match e {
                DomainError::Conflict(_) => DomainError::Conflict("error.booking.reopen_taken"),
                other => other,
            })
    }

    /// Cancels a live booking and frees its time. `late` flags a cancellation after the
    /// patient's deadline (for the clinic's cancellation fee).
    pub async fn cancel_in(&self, tx: &mut Tx, b: &Booking, late: bool) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let r = sqlx::query(
            "UPDATE bookings SET status = 'cancelled', cancelled_at = $2, late_cancel = $3, updated_at = $2 \
             WHERE id = $1 AND status = 'booked'",
        )
        .bind(b.id)
        .bind(now)
        .bind(i64::from(late))
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::Conflict("error.booking.not_live"));
        }
        sqlx::query("DELETE FROM slot_claims WHERE booking_id = $1")
            .bind(b.id)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        Ok(())
    }
}

/// A booking's questionnaire answers and consent signature.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answers {
    /// Answer per question id.
    pub answers: std::collections::BTreeMap<String, String>,
    /// Name signed under the consent form.
    pub consent_signed_name: Option<String>,
    /// When it was signed (ms).
    pub consent_signed_at: Option<i64>,
}

impl BookingStore {
    /// The answers of a booking, if given.
    pub async fn answers(&self, booking: i64) -> DomainResult<Option<Answers>> {
        let row: Option<(String, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT answers, consent_signed_name, consent_signed_at FROM booking_answers WHERE booking_id = $1",
        )
        .bind(booking)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?;
        Ok(row.map(|(a, n, at)| Answers {
            answers: serde_json::from_str(&a).unwrap_or_default(),
            consent_signed_name: n,
            consent_signed_at: at,
        }))
    }

    /// Saves (replaces) the answers of a booking.
    pub async fn save_answers(&self, booking: i64, a: &Answers) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let json = serde_json::to_string(&a.answers).map_err(DomainError::internal)?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM booking_answers WHERE booking_id = $1")
            .bind(booking)
            .execute(&mut *tx)
            .await
            .or_internal()?;
        sqlx::query(
            "INSERT INTO booking_answers (booking_id, answers, consent_signed_name, consent_signed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(booking)
        .bind(json)
        .bind(&a.consent_signed_name)
        .bind(a.consent_signed_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_internal()?;
        tx.commit().await.or_internal()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_start_of_the_visit_day_in_the_facility_zone() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        // 2026-11-21 09:00 JST = 2026-11-21T00:00Z; deadline 2026-11-21 00:00 JST = 2026-11-20T15:00Z.
        let visit = "2026-11-21T00:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let deadline = cancel_deadline(visit, &tokyo);
        assert_eq!(
            deadline,
            "2026-11-20T15:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond()
        );
        // In UTC the same visit's day starts 9 hours later: the zone matters.
        assert_ne!(deadline, cancel_deadline(visit, &TimeZone::UTC));
    }
}
