//! Legal age (年齢計算ニ関スル法律) and school-year status (未就学), which
//! decide insurance co-payment rates and subsidies.
//!
//! Under 年齢計算ニ関スル法律 the day of birth counts as the first day and
//! 民法第143条 applies: a person attains age *n* at the **end** of the day
//! before the *n*th anniversary of their birth (for someone born on 2月29日
//! in a year without that day, at the end of 2月28日, the last day of the
//! month). So during any given day the age is the number of anniversaries
//! (2月29日 → 3月1日 in common years) that have been reached on or before
//! that day:
//!
//! - born 2000-05-10: 0 on 2001-05-09, 1 on 2001-05-10;
//! - born 2000-02-29: 0 on 2001-02-28, 1 on 2001-03-01 (the age is attained
//!   at the end of 02-28, i.e. at 03-01 00:00), 4 on 2004-02-29.
//!
//! The "end of the previous day" rule is what puts children born on 4月1日
//! into the earlier school year and what some benefits key on (the day an
//! age is attained, see [`age_attained_on`]).

use jiff::civil::Date;

/// Age in whole years during the day `on` for someone born on `birth`.
///
/// Negative if `on` is before `birth` (−1 for the year before birth, and so
/// on), so callers can detect swapped arguments instead of getting a
/// plausible-looking 0.
pub fn age_on(birth: Date, on: Date) -> i32 {
    let years = i32::from(on.year()) - i32::from(birth.year());
    // Comparing (month, day) makes a 2月29日 birth reach its anniversary on
    // 3月1日 in common years, which matches the legal rule above.
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years - 1
    } else {
        years
    }
}

/// The day at whose end someone born on `birth` legally attains `age`
/// (年齢到達日): the day before the anniversary, or 2月28日 for a 2月29日
/// birth in a common year. `None` if the result is outside the range of
/// [`Date`] or `age` is negative.
///
/// Example: born 1955-04-01 attains 70 on 2025-03-31.
pub fn age_attained_on(birth: Date, age: i16) -> Option<Date> {
    if age < 0 {
        return None;
    }
    let year = birth.year().checked_add(age)?;
    if birth.month() == 2 && birth.day() == 29 {
        // No 応当日 in a common year: the period ends on the month's last day.
        return match Date::new(year, 2, 29) {
            Ok(anniversary) => anniversary.yesterday().ok(),
            Err(_) => Date::new(year, 2, 28).ok(),
        };
    }
    Date::new(year, birth.month(), birth.day())
        .ok()?
        .yesterday()
        .ok()
}

/// Whether a child born on `birth` is 未就学 (has not yet reached the
/// 4月1日 after turning 6) on `on`.
///
/// Japanese school years start on 4月1日 and a child enters elementary
/// school in the school year after the one in which they turn 6 — legally,
/// including those born on 4月1日, who turn 6 at the end of 3月31日. So in
/// the fiscal year starting 4月1日 of year `FY`, preschool children are those
/// born on or after `(FY − 6)-04-02`.
pub fn is_preschool(birth: Date, on: Date) -> bool {
    let fiscal_year = if on.month() >= 4 {
        on.year()
    } else {
        on.year() - 1
    };
    fiscal_year
        .checked_sub(6)
        .and_then(|y| Date::new(y, 4, 2).ok())
        .is_some_and(|cutoff| birth >= cutoff)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn ordinary_birthdays() {
        let birth = d("2000-05-10");
        assert_eq!(age_on(birth, d("2000-05-10")), 0);
        assert_eq!(age_on(birth, d("2001-05-09")), 0);
        assert_eq!(age_on(birth, d("2001-05-10")), 1);
        assert_eq!(age_on(birth, d("2025-12-31")), 25);
        assert_eq!(age_on(d("1954-03-26"), d("2024-03-25")), 69);
        assert_eq!(age_on(d("1954-03-26"), d("2024-03-26")), 70);
    }

    #[test]
    fn before_birth_is_negative() {
        assert_eq!(age_on(d("2000-05-10"), d("2000-05-09")), -1);
        assert_eq!(age_on(d("2000-05-10"), d("1999-05-10")), -1);
        assert_eq!(age_on(d("2000-05-10"), d("1999-05-09")), -2);
    }

    #[test]
    fn leap_day_birth() {
        let birth = d("2000-02-29");
        assert_eq!(age_on(birth, d("2001-02-28")), 0);
        assert_eq!(age_on(birth, d("2001-03-01")), 1);
        assert_eq!(age_on(birth, d("2004-02-28")), 3);
        assert_eq!(age_on(birth, d("2004-02-29")), 4);
        assert_eq!(age_attained_on(birth, 1), Some(d("2001-02-28")));
        assert_eq!(age_attained_on(birth, 4), Some(d("2004-02-28")));
    }

    #[test]
    fn attained_day_is_the_day_before_the_birthday() {
        assert_eq!(age_attained_on(d("1955-04-01"), 70), Some(d("2025-03-31")));
        assert_eq!(age_attained_on(d("1955-03-01"), 70), Some(d("2025-02-28")));
        assert_eq!(age_attained_on(d("1955-01-01"), 70), Some(d("2024-12-31")));
        assert_eq!(age_attained_on(d("1955-01-01"), -1), None);
        // Consistent with age_on: the age applies from the next day.
        for birth in ["1955-04-01", "2000-02-29", "2001-03-01", "1999-12-31"] {
            let birth = d(birth);
            for age in 1..=80 {
                let attained = age_attained_on(birth, age).unwrap();
                assert_eq!(age_on(birth, attained), i32::from(age) - 1);
                assert_eq!(age_on(birth, attained.tomorrow().unwrap()), i32::from(age));
            }
        }
    }

    #[test]
    fn preschool_cutoff() {
        let april_first = d("2019-04-01");
        assert!(is_preschool(april_first, d("2025-03-31")));
        assert!(!is_preschool(april_first, d("2025-04-01")));
        let april_second = d("2019-04-02");
        assert!(is_preschool(april_second, d("2025-04-01")));
        assert!(is_preschool(april_second, d("2026-03-31")));
        assert!(!is_preschool(april_second, d("2026-04-01")));
        // Infants are preschool; school children are not.
        assert!(is_preschool(d("2025-01-01"), d("2025-06-01")));
        assert!(!is_preschool(d("2015-06-01"), d("2025-06-01")));
    }
}
