//! The patient's side of a visit: a URL call's link (C2: open from one hour before the start
//! until the same clock time the next day, with the seed's messages outside it), and a
//! member's 「ビデオ通話画面へ進む」 (C1) — both into the waiting room.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tsunagu_booking::BookingStatus;
use tsunagu_scheduling::Mode;
use tsunagu_visits::{LinkAccess, Visit, VisitState};

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
}

fn waiting(
    st: &AppState,
    ctx: PageCtx,
    v: &Visit,
    facility: &tsunagu_clinics::Facility,
    back: Option<String>,
    ws_path: String,
) -> AppResult<Response> {
    let now = st.booker.now_ms();
    page(&WaitingPage {
        facility: facility.name.clone(),
        starts: crate::ctx::format_ms(v.starts_at, &facility.time_zone),
        state_key: v.state.label_key(),
        late: now > v.starts_at && matches!(v.state, VisitState::Scheduled | VisitState::Waiting),
        in_progress: v.state == VisitState::InProgress,
        ended: v.state == VisitState::Ended,
        back,
        ws_path,
        ctx,
    })
}

/// `/v/{token}`: a URL call's patient link.
pub async fn by_link(
    State(st): State<AppState>,
    ctx: PageCtx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let clinic = |f: &tsunagu_clinics::Facility| Some((f.name.clone(), f.phone.clone()));
    let (status, title_key, message, facility) = match st.visits.open_link(&token).await? {
        LinkAccess::Open(v, f) => {
            let ws = format!("/v/{token}/ws");
            return waiting(&st, ctx, &v, &f, None, ws);
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

/// `/my/bookings/{id}/visit`: a member enters their online booking's waiting room, from the
/// facility's N minutes before the start (C1).
pub async fn member(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let b = st.booker.bookings.get_for_account(user.account, id).await?;
    let facility = st.facilities.get(b.facility_id).await?;
    let opens =
        tsunagu_visits::window::member_entry_opens(b.starts_at, facility.video_entry_minutes);
    if b.mode != Mode::Online || b.status != BookingStatus::Booked || st.booker.now_ms() < opens {
        return Ok(see_other(&format!("/my/bookings/{id}")));
    }
    let v = st
        .visits
        .of_booking(facility.id, b.id, b.doctor_id, b.starts_at)
        .await?;
    let ws = format!("/my/bookings/{id}/visit/ws");
    waiting(
        &st,
        ctx,
        &v,
        &facility,
        Some(format!("/my/bookings/{id}")),
        ws,
    )
}
