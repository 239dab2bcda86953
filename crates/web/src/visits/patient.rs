//! The patient's side of a visit: a URL call's link (C2: open from one hour before the start
//! until the same clock time the next day, with the seed's messages outside it), and a
//! member's 「ビデオ通話画面へ進む」 (C1) — both open the pre-call check ([`super::check`]),
//! whose 「待合室へ進む」 (`?room=1`) is the waiting room. A browser that cannot make the call
//! gets the page naming the supported ones instead (C11).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tsunagu_booking::BookingStatus;
use tsunagu_kernel::AccountId;
use tsunagu_scheduling::Mode;
use tsunagu_visits::{LinkAccess, Visit, VisitState};

use super::check::{CheckOf, Entry, browser_of, check_page, unsupported_page};

use crate::ctx::PageCtx;
use crate::error::AppResult;
use crate::render::{page, page_status};
use crate::session::{PatientUser, see_other};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "visits/link_message.html")]
struct MessagePage {
    ctx: PageCtx,
    title_key: &'static str,
    message: String,
    facility: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "visits/waiting.html")]
struct WaitingPage {
    ctx: PageCtx,
    facility: String,
    starts: String,
    state_key: &'static str,
    /// The start has passed and the doctor has not started: the clinic may be running late.
    late: bool,
    in_progress: bool,
    ended: bool,
    back: Option<String>,
    /// The room's socket (presence and the doctor's start).
    ws_path: String,
    /// The check again (「カメラとマイクをもう一度確認する」).
    check: String,
}

/// How long after the start the waiting room says the clinic may be running late: a call
/// created 「現在時刻で作成」 starts the moment it is made, and its patient should not be
/// told the clinic is late as they arrive.
const LATE_AFTER_MS: i64 = 5 * 60_000;

/// Where a visit's patient pages are.
struct Place {
    /// The page's own path; the room's socket is `{base}/ws`.
    base: String,
    /// The member's booking page.
    back: Option<String>,
}

/// The pre-call check or the waiting room of an open visit, as asked; or, for a browser
/// that cannot make the call, the page naming the ones that can.
fn entry(
    st: &AppState,
    ctx: PageCtx,
    headers: &HeaderMap,
    want: &Entry,
    v: &Visit,
    facility: &tsunagu_clinics::Facility,
    Place { base, back }: Place,
) -> AppResult<Response> {
    let browser = browser_of(headers);
    if browser.is_unsupported() {
        return unsupported_page(st, ctx, browser, facility, &base);
    }
    if !want.wants_room(v.state) {
        return check_page(
            ctx,
            browser,
            CheckOf {
                facility,
                starts_at: v.starts_at,
                in_progress: v.state == VisitState::InProgress,
                base,
                back,
            },
        );
    }
    let now = st.booker.now_ms();
    page(&WaitingPage {
        facility: facility.name.clone(),
        starts: crate::ctx::format_ms(v.starts_at, &facility.time_zone),
        state_key: v.state.label_key(),
        late: now > v.starts_at + LATE_AFTER_MS
            && matches!(v.state, VisitState::Scheduled | VisitState::Waiting),
        in_progress: v.state == VisitState::InProgress,
        ended: v.state == VisitState::Ended,
        back,
        ws_path: format!("{base}/ws"),
        check: format!("{base}?check=1"),
        ctx,
    })
}

/// `/v/{token}`: a URL call's patient link.
pub async fn by_link(
    State(st): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(want): Query<Entry>,
) -> AppResult<Response> {
    let clinic = |f: &tsunagu_clinics::Facility| Some((f.name.clone(), f.phone.clone()));
    let (status, title_key, message, facility) = match st.visits.open_link(&token).await? {
        LinkAccess::Open(v, f) => {
            let place = Place {
                base: format!("/v/{token}"),
                back: None,
            };
            return entry(&st, ctx, &headers, &want, &v, &f, place);
        }
        LinkAccess::Early { opens_at, facility } => (
            StatusCode::OK,
            "visit.link_early_title",
            ctx.ta(
                "visit.link_early",
                "opens",
                &crate::ctx::format_ms(opens_at, &facility.time_zone),
            ),
            clinic(&facility),
        ),
        LinkAccess::Expired(f) => (
            StatusCode::GONE,
            "visit.link_expired_title",
            ctx.t("visit.link_expired").into_owned(),
            clinic(&f),
        ),
        LinkAccess::Ended(f) => (
            StatusCode::GONE,
            "visit.link_ended_title",
            ctx.t("visit.link_ended").into_owned(),
            clinic(&f),
        ),
        LinkAccess::Unknown => (
            StatusCode::NOT_FOUND,
            "visit.link_unknown_title",
            ctx.t("visit.link_unknown").into_owned(),
            None,
        ),
    };
    page_status(
        status,
        &MessagePage {
            ctx,
            title_key,
            message,
            facility,
        },
    )
}

/// A member's online booking whose waiting room is open now (from the facility's N minutes
/// before the start, C1), with its facility; `None` before that or for any other booking.
pub(super) async fn member_entry(
    st: &AppState,
    account: AccountId,
    id: i64,
) -> AppResult<Option<(tsunagu_booking::Booking, tsunagu_clinics::Facility)>> {
    let b = st.booker.bookings.get_for_account(account, id).await?;
    let facility = st.facilities.get(b.facility_id).await?;
    let opens =
        tsunagu_visits::window::member_entry_opens(b.starts_at, facility.video_entry_minutes);
    let open =
        b.mode == Mode::Online && b.status == BookingStatus::Booked && st.booker.now_ms() >= opens;
    Ok(open.then_some((b, facility)))
}

/// `/my/bookings/{id}/visit`: a member enters their online booking's check, then waiting
/// room, from the facility's N minutes before the start (C1).
pub async fn member(
    State(st): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    user: PatientUser,
    Path(id): Path<i64>,
    Query(want): Query<Entry>,
) -> AppResult<Response> {
    let Some((b, facility)) = member_entry(&st, user.account, id).await? else {
        return Ok(see_other(&format!("/my/bookings/{id}")));
    };
    let v = st
        .visits
        .of_booking(facility.id, b.id, b.doctor_id, b.starts_at)
        .await?;
    let place = Place {
        base: format!("/my/bookings/{id}/visit"),
        back: Some(format!("/my/bookings/{id}")),
    };
    entry(&st, ctx, &headers, &want, &v, &facility, place)
}
