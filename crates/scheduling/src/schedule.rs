//! Doctors' weekly hours and the exceptions to them, and what a day's open hours are.

use jiff::civil::Date;
use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::{DomainError, DomainResult, FacilityId, FieldError, StaffId};

/// One weekly interval: `weekday` 1 = Monday … 7 = Sunday, minutes from local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WeeklyHours {
    /// ISO weekday.
    pub weekday: i64,
    /// Start minute.
    pub start_minute: i64,
    /// End minute (exclusive).
    pub end_minute: i64,
}

/// Closed (休診) or extra hours (臨時診療).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// No bookings in this interval.
    Closed,
    /// Bookable although outside the weekly hours (or on a holiday).
    Extra,
}

/// A dated exception, for one doctor or (with no doctor) the whole facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    /// Doctor, or `None` for the facility.
    pub doctor_id: Option<StaffId>,
    /// Local date.
    pub day: Date,
    /// Kind.
    pub kind: ExceptionKind,
    /// Start minute.
    pub start_minute: i64,
    /// End minute.
    pub end_minute: i64,
    /// Note for staff.
    pub note: String,
}

/// Parses `HH:MM` into minutes from midnight (24:00 allowed as an end).
pub fn parse_hhmm(field: &'static str, s: &str) -> DomainResult<i64> {
    let bad = || DomainError::Invalid(vec![FieldError::new(field, "error.time.invalid")]);
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) || m % 5 != 0 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Schedule storage, scoped to a facility.
#[derive(Debug, Clone)]
pub struct ScheduleStore {
    db: Db,
}

impl ScheduleStore {
    /// The store on `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Replaces a doctor's weekly hours.
    pub async fn set_weekly(
        &self,
        facility: FacilityId,
        doctor: StaffId,
        hours: &[WeeklyHours],
    ) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        self.set_weekly_in(&mut tx, facility, doctor, hours).await?;
        tx.commit().await.or_internal()
    }

    /// Replaces a doctor's weekly hours in the caller's transaction; each interval must lie
    /// within one day and end after it starts.
    pub async fn set_weekly_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        doctor: StaffId,
        hours: &[WeeklyHours],
    ) -> DomainResult<()> {
        for h in hours {
            if !(1..=7).contains(&h.weekday)
                || h.start_minute >= h.end_minute
                || h.end_minute > 1440
            {
                return Err(DomainError::invalid("hours", "error.time.invalid"));
            }
        }
        sqlx::query("DELETE FROM weekly_hours WHERE facility_id = $1 AND doctor_id = $2")
            .bind(facility.0)
            .bind(doctor.0)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        for h in hours {
            sqlx::query(
                "INSERT INTO weekly_hours (facility_id, doctor_id, weekday, start_minute, end_minute) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(facility.0)
            .bind(doctor.0)
            .bind(h.weekday)
            .bind(h.start_minute)
            .bind(h.end_minute)
            .execute(&mut **tx)
            .await
            .or_internal()?;
        }
        Ok(())
    }

    /// A doctor's weekly hours.
    pub async fn weekly(
        &self,
        facility: FacilityId,
        doctor: StaffId,
    ) -> DomainResult<Vec<WeeklyHours>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT weekday, start_minute, end_minute FROM weekly_hours \
             WHERE facility_id = $1 AND doctor_id = $2 ORDER BY weekday, start_minute",
        )
        .bind(facility.0)
        .bind(doctor.0)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows
            .into_iter()
            .map(|(weekday, start_minute, end_minute)| WeeklyHours {
                weekday,
                start_minute,
                end_minute,
            })
            .collect())
    }

    /// Adds an exception.
    pub async fn add_exception(&self, facility: FacilityId, e: &Exception) -> DomainResult<i64> {
        let mut tx = self.db.begin_write().await?;
        let id = self.add_exception_in(&mut tx, facility, e).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Adds an exception in the caller's transaction.
    pub async fn add_exception_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        e: &Exception,
    ) -> DomainResult<i64> {
        if e.start_minute >= e.end_minute || e.end_minute > 1440 || e.start_minute < 0 {
            return Err(DomainError::invalid("end", "error.time.order"));
        }
        sqlx::query_scalar(
            "INSERT INTO schedule_exceptions (facility_id, doctor_id, day, kind, start_minute, end_minute, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(facility.0)
        .bind(e.doctor_id.map(|d| d.0))
        .bind(e.day.to_string())
        .bind(match e.kind {
            ExceptionKind::Closed => "closed",
            ExceptionKind::Extra => "extra",
        })
        .bind(e.start_minute)
        .bind(e.end_minute)
        .bind(&e.note)
        .fetch_one(&mut **tx)
        .await
        .or_internal()
    }

    /// Exceptions of a facility between two dates (inclusive) for a doctor (and the
    /// facility-wide ones).
    pub async fn exceptions(
        &self,
        facility: FacilityId,
        doctor: StaffId,
        from: Date,
        to: Date,
    ) -> DomainResult<Vec<Exception>> {
        let rows: Vec<(Option<i64>, String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT doctor_id, day, kind, start_minute, end_minute, note FROM schedule_exceptions \
             WHERE facility_id = $1 AND (doctor_id IS NULL OR doctor_id = $2) AND day >= $3 AND day <= $4",
        )
        .bind(facility.0)
        .bind(doctor.0)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows
            .into_iter()
            .filter_map(|(d, day, kind, s, e, note)| {
                Some(Exception {
                    doctor_id: d.map(StaffId),
                    day: day.parse().ok()?,
                    kind: if kind == "closed" {
                        ExceptionKind::Closed
                    } else {
                        ExceptionKind::Extra
                    },
                    start_minute: s,
                    end_minute: e,
                    note,
                })
            })
            .collect())
    }
}

/// The open intervals of one day: weekly hours (none on a public holiday unless the
/// facility opens on holidays), plus extra hours, minus closures; sorted and merged.
pub fn open_intervals(
    day: Date,
    weekly: &[WeeklyHours],
    exceptions: &[Exception],
    open_on_holidays: bool,
) -> Vec<(i64, i64)> {
    let weekday = i64::from(day.weekday().to_monday_one_offset());
    let holiday = tsunagu_calendar::holiday::is_holiday(day);
    let mut open: Vec<(i64, i64)> = if holiday && !open_on_holidays {
        Vec::new()
    } else {
        weekly
            .iter()
            .filter(|w| w.weekday == weekday)
            .map(|w| (w.start_minute, w.end_minute))
            .collect()
    };
    for e in exceptions
        .iter()
        .filter(|e| e.day == day && e.kind == ExceptionKind::Extra)
    {
        open.push((e.start_minute, e.end_minute));
    }
    let mut merged = merge(open);
    for e in exceptions
        .iter()
        .filter(|e| e.day == day && e.kind == ExceptionKind::Closed)
    {
        merged = subtract(&merged, (e.start_minute, e.end_minute));
    }
    merged
}

fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn subtract(v: &[(i64, i64)], cut: (i64, i64)) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(s, e) in v {
        if cut.1 <= s || cut.0 >= e {
            out.push((s, e));
            continue;
        }
        if s < cut.0 {
            out.push((s, cut.0));
        }
        if cut.1 < e {
            out.push((cut.1, e));
        }
    }
    out
}

/// `09:00-12:00, 14:00-17:00` into weekly intervals of one weekday.
pub fn parse_day(field: String, weekday: i64, text: &str) -> Result<Vec<WeeklyHours>, DomainError> {
    let mut out = Vec::new();
    for part in text
        .split([',', '、'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let bad =
            || DomainError::Invalid(vec![FieldError::new(field.clone(), "error.hours.invalid")]);
        let (a, b) = part.split_once(['-', '〜', '~']).ok_or_else(bad)?;
        let s = parse_hhmm("start", a).map_err(|_| bad())?;
        let e = parse_hhmm("end", b).map_err(|_| bad())?;
        if s >= e {
            return Err(bad());
        }
        out.push(WeeklyHours {
            weekday,
            start_minute: s,
            end_minute: e,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn week() -> Vec<WeeklyHours> {
        (1..=5)
            .flat_map(|d| {
                [
                    WeeklyHours {
                        weekday: d,
                        start_minute: 9 * 60,
                        end_minute: 12 * 60,
                    },
                    WeeklyHours {
                        weekday: d,
                        start_minute: 14 * 60,
                        end_minute: 17 * 60,
                    },
                ]
            })
            .collect()
    }

    #[test]
    fn holidays_close_unless_extra_hours() {
        let d: Date = "2026-11-23".parse().unwrap(); // 勤労感謝の日, a Monday
        assert!(open_intervals(d, &week(), &[], false).is_empty());
        assert_eq!(open_intervals(d, &week(), &[], true).len(), 2);
        let extra = Exception {
            doctor_id: None,
            day: d,
            kind: ExceptionKind::Extra,
            start_minute: 600,
            end_minute: 660,
            note: String::new(),
        };
        assert_eq!(
            open_intervals(d, &week(), &[extra], false),
            vec![(600, 660)]
        );
        // The next day is an ordinary Tuesday.
        assert_eq!(
            open_intervals("2026-11-24".parse().unwrap(), &week(), &[], false).len(),
            2
        );
    }

    #[test]
    fn closures_cut_and_extras_merge() {
        let d: Date = "2026-11-25".parse().unwrap();
        let close = Exception {
            doctor_id: None,
            day: d,
            kind: ExceptionKind::Closed,
            start_minute: 10 * 60,
            end_minute: 15 * 60,
            note: String::new(),
        };
        let extra = Exception {
            doctor_id: None,
            day: d,
            kind: ExceptionKind::Extra,
            start_minute: 17 * 60,
            end_minute: 18 * 60,
            note: String::new(),
        };
        assert_eq!(
            open_intervals(d, &week(), &[close, extra], false),
            vec![(540, 600), (900, 1080)]
        );
    }

    #[test]
    fn hhmm() {
        assert_eq!(parse_hhmm("t", "09:30").unwrap(), 570);
        assert_eq!(parse_hhmm("t", "24:00").unwrap(), 1440);
        assert!(parse_hhmm("t", "24:05").is_err());
        assert!(parse_hhmm("t", "9:07").is_err());
        assert!(parse_hhmm("t", "nine").is_err());
    }

    #[test]
    fn a_day_of_hours_is_read_from_its_text() {
        let h = super::parse_day("d1".into(), 1, "09:00-12:00、14:00〜17:30").unwrap();
        assert_eq!(
            h.iter()
                .map(|w| (w.start_minute, w.end_minute))
                .collect::<Vec<_>>(),
            vec![(540, 720), (840, 1050)]
        );
        assert!(super::parse_day("d1".into(), 1, "").unwrap().is_empty());
        assert!(super::parse_day("d1".into(), 1, "12:00-09:00").is_err());
        assert!(super::parse_day("d1".into(), 1, "9時から").is_err());
    }
}
