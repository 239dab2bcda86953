//! The schedule grid staff read (B3): days × rows of a fixed length, each row knowing
//! whether the doctor is open then and which bookings it holds. A booking shows in its
//! first row in full and in every later row it still occupies as a continuation, so no
//! row of a long visit looks free; a cancelled booking shows only where it started. Rows
//! outside opening hours are kept only when they hold a booking, unless every row is
//! asked for. Pure: the page supplies the opening hours and the bookings.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::slots::local_instant;

/// What the grid needs of a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Start (ms).
    pub starts_at: i64,
    /// End (ms).
    pub ends_at: i64,
    /// Cancelled bookings free their time: they show only in their first row.
    pub cancelled: bool,
}

/// One row: its local start, whether it is open, and the bookings in it as (index into
/// the entries given, whether it continues from an earlier row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRow {
    /// Minutes after local midnight.
    pub minute: i64,
    /// The row's start (ms).
    pub at: i64,
    /// Within opening hours.
    pub open: bool,
    /// Bookings held: (entry index, continued from an earlier row).
    pub entries: Vec<(usize, bool)>,
}

/// One day of the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridDay {
    /// The date.
    pub date: Date,
    /// No opening hours at all that day.
    pub closed_all_day: bool,
    /// Its rows, earliest first.
    pub rows: Vec<GridRow>,
}

/// The grid of `days` days from `from` in `tz`, with rows of `row_minutes`. `open_on(day)`
/// gives the day's opening intervals in minutes after midnight.
pub fn build(
    tz: &TimeZone,
    from: Date,
    days: i64,
    row_minutes: i64,
    open_on: impl Fn(Date) -> Vec<(i64, i64)>,
    entries: &[Entry],
    all_rows: bool,
) -> Vec<GridDay> {
    let row_minutes = row_minutes.clamp(5, 60);
    let mut out = Vec::new();
    let mut day = from;
    for _ in 0..days.max(0) {
        let open = open_on(day);
        let mut rows = Vec::new();
        let mut m = 0;
        while m < 1440 {
            let is_open = open.iter().any(|(s, e)| m >= *s && m < *e);
            let start = local_instant(tz, day, m).unwrap_or(0);
            let end = local_instant(tz, day, m + row_minutes).unwrap_or(start);
            let held: Vec<(usize, bool)> = entries
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let starts_here = b.starts_at >= start && b.starts_at < end;
                    let runs_on = !b.cancelled && b.starts_at < start && b.ends_at > start;
                    (starts_here || runs_on).then_some((i, runs_on))
                })
                .collect();
            if all_rows || is_open || !held.is_empty() {
                rows.push(GridRow {
                    minute: m,
                    at: start,
                    open: is_open,
                    entries: held,
                });
            }
            m += row_minutes;
        }
        out.push(GridDay {
            date: day,
            closed_all_day: open.is_empty(),
            rows,
        });
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

/// A week as one table: the union of the days' row times, earliest first, and for each time
/// the index of that day's row at it, or `None` where the day shows no row then (closed, or
/// outside its hours). Days × times on one screen, each booking in its own day's column.
pub fn by_time(days: &[GridDay]) -> Vec<(i64, Vec<Option<usize>>)> {
    let mut minutes: Vec<i64> = days
        .iter()
        .flat_map(|d| d.rows.iter().map(|r| r.minute))
        .collect();
    minutes.sort_unstable();
    minutes.dedup();
    minutes
        .into_iter()
        .map(|m| {
            let cells = days
                .iter()
                .map(|d| d.rows.iter().position(|r| r.minute == m))
                .collect();
            (m, cells)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    fn at(day: Date, minute: i64) -> i64 {
        local_instant(&tokyo(), day, minute).unwrap()
    }

    /// 09:00–12:00 on weekdays, closed at weekends.
    fn hours(d: Date) -> Vec<(i64, i64)> {
        if d.weekday().to_monday_one_offset() >= 6 {
            Vec::new()
        } else {
            vec![(540, 720)]
        }
    }

    #[test]
    fn a_day_lists_its_open_rows_and_a_long_visit_in_every_row_it_takes() {
        let day = jiff::civil::date(2026, 11, 24);
        let visit = Entry {
            starts_at: at(day, 600),
            ends_at: at(day, 630),
            cancelled: false,
        };
        let g = build(&tokyo(), day, 1, 15, hours, &[visit], false);
        assert_eq!(g.len(), 1);
        let rows = &g[0].rows;
        assert_eq!(rows.len(), 12, "09:00 to 11:45 in 15-minute rows");
        assert!(rows.iter().all(|r| r.open));
        let held: Vec<(i64, Vec<(usize, bool)>)> = rows
            .iter()
            .filter(|r| !r.entries.is_empty())
            .map(|r| (r.minute, r.entries.clone()))
            .collect();
        assert_eq!(held, vec![(600, vec![(0, false)]), (615, vec![(0, true)])]);
    }

    #[test]
    fn closed_times_show_only_when_booked_or_asked_for() {
        let day = jiff::civil::date(2026, 11, 24);
        let lunch = Entry {
            starts_at: at(day, 780),
            ends_at: at(day, 795),
            cancelled: false,
        };
        let g = build(&tokyo(), day, 1, 15, hours, &[lunch], false);
        let closed: Vec<i64> = g[0]
            .rows
            .iter()
            .filter(|r| !r.open)
            .map(|r| r.minute)
            .collect();
        assert_eq!(closed, vec![780], "13:00 shows because it is booked");
        let all = build(&tokyo(), day, 1, 15, hours, &[lunch], true);
        assert_eq!(all[0].rows.len(), 96, "every row of the day");
    }

    #[test]
    fn a_cancelled_visit_frees_its_later_rows() {
        let day = jiff::civil::date(2026, 11, 24);
        let gone = Entry {
            starts_at: at(day, 600),
            ends_at: at(day, 630),
            cancelled: true,
        };
        let g = build(&tokyo(), day, 1, 15, hours, &[gone], false);
        let held: Vec<i64> = g[0]
            .rows
            .iter()
            .filter(|r| !r.entries.is_empty())
            .map(|r| r.minute)
            .collect();
        assert_eq!(held, vec![600]);
    }

    #[test]
    fn a_week_has_seven_days_and_weekends_are_closed() {
        let monday = jiff::civil::date(2026, 11, 23);
        let g = build(&tokyo(), monday, 7, 15, hours, &[], false);
        assert_eq!(g.len(), 7);
        assert_eq!(g[6].date, jiff::civil::date(2026, 11, 29));
        assert_eq!(
            g.iter().map(|d| d.closed_all_day).collect::<Vec<_>>(),
            [false, false, false, false, false, true, true]
        );
        assert!(
            g[5].rows.is_empty(),
            "a closed day with no booking has no rows"
        );
    }

    #[test]
    fn a_week_is_one_table_of_times_by_days() {
        let monday = jiff::civil::date(2026, 11, 23);
        let tuesday = jiff::civil::date(2026, 11, 24);
        // An early visit on Tuesday at 08:00 (outside hours) adds a time only Tuesday shows.
        let early = Entry {
            starts_at: at(tuesday, 480),
            ends_at: at(tuesday, 495),
            cancelled: false,
        };
        let g = build(&tokyo(), monday, 7, 60, hours, &[early], false);
        let t = by_time(&g);
        let times: Vec<i64> = t.iter().map(|r| r.0).collect();
        assert_eq!(times, vec![480, 540, 600, 660], "08:00 and 09:00–11:00");
        // 08:00: only Tuesday has a row; weekends have none at any time.
        assert_eq!(t[0].1[0], None);
        assert_eq!(t[0].1[1], Some(0));
        assert!(t.iter().all(|r| r.1[5].is_none() && r.1[6].is_none()));
        // 09:00: Monday's first row, Tuesday's second.
        assert_eq!(t[1].1[0], Some(0));
        assert_eq!(t[1].1[1], Some(1));
        assert!(t.iter().all(|r| r.1.len() == 7));
    }
}
