//! Free slots: open intervals cut into visits of the menu's length, minus what is claimed.
//!
//! A booking claims every 5-minute unit it covers (`slot_claims`); a slot is free when
//! each of its units has fewer claims than the doctor's capacity. The database's unique
//! key on (doctor, unit, seat) is what finally decides, so this computation only offers
//! slots — a slot shown free may still be "just taken" when booked.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use tsunagu_kernel::StaffId;

use crate::schedule::{Exception, WeeklyHours, open_intervals};

/// The claim unit.
pub const UNIT_MINUTES: i64 = 5;
const UNIT_MS: i64 = UNIT_MINUTES * 60 * 1000;

/// A bookable (or taken) time of one doctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Slot {
    /// Doctor.
    pub doctor_id: StaffId,
    /// Start (ms since epoch).
    pub starts_at: i64,
    /// End (ms since epoch).
    pub ends_at: i64,
    /// Whether it can still be booked.
    pub free: bool,
}

/// One day's open intervals of a doctor (for staff views).
#[derive(Debug, Clone, Serialize)]
pub struct DayPlan {
    /// Local date.
    pub day: Date,
    /// Open intervals in minutes from local midnight.
    pub open: Vec<(i64, i64)>,
}

/// Everything the computation needs, loaded by the caller.
#[derive(Debug, Clone)]
pub struct SlotQuery<'a> {
    /// The facility's zone.
    pub tz: &'a TimeZone,
    /// Doctor.
    pub doctor_id: StaffId,
    /// First local date.
    pub from: Date,
    /// Number of days.
    pub days: i64,
    /// Visit length in minutes (a multiple of 5).
    pub minutes: i64,
    /// Weekly hours.
    pub weekly: &'a [WeeklyHours],
    /// Exceptions in the range.
    pub exceptions: &'a [Exception],
    /// Whether holidays follow the weekly hours.
    pub open_on_holidays: bool,
    /// Claims per unit start (ms) in the range.
    pub claims: &'a HashMap<i64, i64>,
    /// Seats per unit.
    pub capacity: i64,
    /// Only slots starting after this instant are offered (ms).
    pub not_before: i64,
}

/// The instant of local `minute` on `day` in `tz` (ms), if it exists.
pub fn local_instant(tz: &TimeZone, day: Date, minute: i64) -> Option<i64> {
    let midnight = day.to_zoned(tz.clone()).ok()?;
    let t = midnight
        .checked_add(jiff::SignedDuration::from_mins(minute))
        .ok()?;
    Some(t.timestamp().as_millisecond())
}

/// The unit starts a booking from `starts_at` to `ends_at` covers.
pub fn units(starts_at: i64, ends_at: i64) -> impl Iterator<Item = i64> {
    let first = starts_at - starts_at.rem_euclid(UNIT_MS);
    (0..)
        .map(move |i| first + i * UNIT_MS)
        .take_while(move |u| *u < ends_at)
}

/// Every slot of the range, free or not, in time order.
pub fn compute(q: &SlotQuery<'_>) -> Vec<Slot> {
    let mut out = Vec::new();
    let mut day = q.from;
    for _ in 0..q.days {
        for (s, e) in open_intervals(day, q.weekly, q.exceptions, q.open_on_holidays) {
            let mut m = s;
            while m + q.minutes <= e {
                if let (Some(starts_at), Some(ends_at)) = (
                    local_instant(q.tz, day, m),
                    local_instant(q.tz, day, m + q.minutes),
                ) && starts_at > q.not_before
                {
                    let free = units(starts_at, ends_at)
                        .all(|u| q.claims.get(&u).copied().unwrap_or(0) < q.capacity);
                    out.push(Slot {
                        doctor_id: q.doctor_id,
                        starts_at,
                        ends_at,
                        free,
                    });
                }
                m += q.minutes;
            }
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_hours_and_claims_in_tokyo() {
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        let weekly = [WeeklyHours {
            weekday: 5,
            start_minute: 9 * 60,
            end_minute: 10 * 60,
        }];
        let day: Date = "2026-11-20".parse().unwrap(); // Friday
        let nine = local_instant(&tz, day, 540).unwrap();
        assert_eq!(
            nine,
            "2026-11-20T00:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond()
        );
        let mut claims = HashMap::new();
        // A 15-minute return visit at 9:15 takes three units.
        for u in units(nine + 15 * 60_000, nine + 30 * 60_000) {
            claims.insert(u, 1);
        }
        let q = SlotQuery {
            tz: &tz,
            doctor_id: StaffId(1),
            from: day,
            days: 7,
            minutes: 30,
            weekly: &weekly,
            exceptions: &[],
            open_on_holidays: false,
            claims: &claims,
            capacity: 1,
            not_before: 0,
        };
        let slots = compute(&q);
        assert_eq!(slots.len(), 2, "one Friday in the week: 9:00 and 9:30");
        assert!(!slots[0].free, "9:00–9:30 overlaps the 9:15 booking");
        assert!(slots[1].free);
        let q2 = SlotQuery {
            capacity: 2,
            ..q.clone()
        };
        assert!(compute(&q2)[0].free, "a second seat is still open");
        let q3 = SlotQuery {
            not_before: nine,
            ..q
        };
        assert_eq!(compute(&q3).len(), 1, "past slots are not offered");
    }

    #[test]
    fn units_cover_the_booking() {
        let u: Vec<i64> = units(0, 30 * 60_000).collect();
        assert_eq!(u.len(), 6);
        assert_eq!(
            units(60_000, 6 * 60_000).count(),
            2,
            "a misaligned start still claims its unit"
        );
    }
}
