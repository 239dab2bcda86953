//! When a visit's links open and close (C1, C2), as pure functions of the start and the
//! facility's time zone. The server runs in UTC; every day rule here is a civil-time rule in
//! the facility's zone.

use jiff::tz::TimeZone;

/// A URL call's patient link opens this long before the start (seed 001: 開始1時間前).
pub const URL_OPENS_BEFORE_MS: i64 = 3_600_000;

/// The window of a URL call's patient link: from one hour before the start until the same
/// clock time the next day in the facility's zone, as `[from, until)` in ms.
pub fn url_window(starts_at: i64, tz: &TimeZone) -> (i64, i64) {
    let from = starts_at - URL_OPENS_BEFORE_MS;
    let until = jiff::Timestamp::from_millisecond(starts_at)
        .ok()
        .map(|t| t.to_zoned(tz.clone()))
        .and_then(|z| z.checked_add(jiff::Span::new().days(1)).ok())
        .map_or(starts_at + 86_400_000, |z| z.timestamp().as_millisecond());
    (from, until)
}

/// Where `now` falls in a patient link's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTime {
    /// Before the window: it opens at this instant.
    Early { opens_at: i64 },
    /// Within the window.
    Open,
    /// After the window.
    Expired,
}

/// Where `now` falls in `[from, until)`.
pub fn link_time(now: i64, (from, until): (i64, i64)) -> LinkTime {
    if now < from {
        LinkTime::Early { opens_at: from }
    } else if now < until {
        LinkTime::Open
    } else {
        LinkTime::Expired
    }
}

/// When a member's 「ビデオ通話画面へ進む」 appears: `minutes` before the start (the
/// facility's setting), or at once when the facility lets patients wait any time before.
pub fn member_entry_opens(starts_at: i64, minutes: Option<i64>) -> i64 {
    match minutes {
        Some(m) => starts_at - m.clamp(0, 24 * 60) * 60_000,
        None => i64::MIN,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_late_evening_call_is_valid_until_the_same_time_next_day_in_tokyo() {
        // 23:00 JST on 24 Nov is 14:00 UTC: the link opens at 22:00 JST and closes at
        // 23:00 JST on 25 Nov, whatever the server's own zone.
        let start = at("2026-11-24T14:00:00Z");
        let (from, until) = url_window(start, &tokyo());
        assert_eq!(from, at("2026-11-24T13:00:00Z"));
        assert_eq!(until, at("2026-11-25T14:00:00Z"));
        assert_eq!(
            link_time(from - 1, (from, until)),
            LinkTime::Early { opens_at: from }
        );
        assert_eq!(link_time(from, (from, until)), LinkTime::Open);
        assert_eq!(link_time(until - 1, (from, until)), LinkTime::Open);
        assert_eq!(link_time(until, (from, until)), LinkTime::Expired);
    }

    #[test]
    fn the_next_day_is_a_civil_day_where_days_are_not_24_hours() {
        // In a zone with summer time the same clock time next day is 23 or 25 hours on.
        let ny = TimeZone::get("America/New_York").unwrap();
        let start = at("2026-03-07T15:00:00Z"); // 10:00 EST, the day before the change
        let (_, until) = url_window(start, &ny);
        assert_eq!(until - start, 23 * 3_600_000);
    }

    #[test]
    fn a_members_button_appears_minutes_before_or_at_any_time() {
        let start = at("2026-11-24T01:00:00Z");
        assert_eq!(member_entry_opens(start, Some(15)), start - 15 * 60_000);
        assert_eq!(member_entry_opens(start, Some(0)), start);
        assert_eq!(member_entry_opens(start, None), i64::MIN);
    }
}
