//! A facility's video usage (C12) for its admins: a line per visit of the month (the
//! doctor's time in the room, 30-minute units, extra participants, yen) and the month's
//! total with consumption tax, as the operator will invoice it.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tsunagu_visits::VisitKind;
use tsunagu_visits::usage::MonthUsage;

use crate::ctx::PageCtx;
use crate::error::AppResult;
use crate::render::page;
use crate::session::StaffMember;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct MonthQuery {
    #[serde(default)]
    month: String,
}

/// One line as shown.
pub struct Line {
    entered: String,
    what: String,
    href: String,
    minutes: i64,
    units: i64,
    extra: i64,
    yen: i64,
}

#[derive(Template)]
#[template(path = "visits/usage.html")]
struct UsagePage {
    ctx: PageCtx,
    month: String,
    prev: String,
    next: String,
    lines: Vec<Line>,
    total: MonthUsage,
}

/// `YYYY-MM` to its first day; anything else is this month.
pub fn parse_month(s: &str, today: jiff::civil::Date) -> jiff::civil::Date {
    s.trim()
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i16>().ok()?, m.parse::<i8>().ok()?)))
        .filter(|(y, m)| (2000..=2100).contains(y) && (1..=12).contains(m))
        .and_then(|(y, m)| jiff::civil::Date::new(y, m, 1).ok())
        .unwrap_or_else(|| today.first_of_month())
}

pub async fn facility_month(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(q): Query<MonthQuery>,
) -> AppResult<Response> {
    me.require_admin()?;
    let f = &me.facility;
    let month = parse_month(&q.month, st.booker.today(f));
    let (lines, total) = st.visits.month_usage(f, month).await?;
    let lines = lines
        .into_iter()
        .map(|l| Line {
            entered: crate::ctx::format_ms(l.entered, &f.time_zone),
            what: match l.visit.kind {
                VisitKind::Url => format!("{} {}", ctx.t("schedule.url_call"), l.visit.title),
                VisitKind::Booking => ctx.ta(
                    "usage.booking",
                    "id",
                    &l.visit.booking_id.unwrap_or_default(),
                ),
            },
            href: match l.visit.booking_id {
                Some(b) => format!("/staff/bookings/{b}"),
                None => format!("/staff/visits/{}", l.visit.id),
            },
            minutes: (l.usage.doctor_ms + 59_999) / 60_000,
            units: l.usage.units,
            extra: l.usage.extra_participant_units,
            yen: l.usage.yen,
        })
        .collect();
    let fmt = |d: jiff::civil::Date| d.strftime("%Y-%m").to_string();
    page(&UsagePage {
        month: fmt(month),
        prev: month
            .checked_sub(jiff::Span::new().months(1))
            .map(fmt)
            .unwrap_or_default(),
        next: month
            .checked_add(jiff::Span::new().months(1))
            .map(fmt)
            .unwrap_or_default(),
        lines,
        total,
        ctx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_read_or_defaults_to_this_one() {
        let today = jiff::civil::date(2026, 11, 29);
        assert_eq!(
            parse_month("2026-10", today),
            jiff::civil::date(2026, 10, 1)
        );
        assert_eq!(
            parse_month("2026-13", today),
            jiff::civil::date(2026, 11, 1)
        );
        assert_eq!(parse_month("x", today), jiff::civil::date(2026, 11, 1));
        assert_eq!(
            parse_month("1800-01", today),
            jiff::civil::date(2026, 11, 1)
        );
    }
}
