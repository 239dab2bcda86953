//! Video visits (B8, C1–C8): staff create, send, edit and cancel video-call URLs and start
//! and end visits ([`staff`]); a patient opens a URL call's link or a member's booking into
//! the waiting room ([`patient`]). The rules, their audit entries and live events are the
//! use cases of `tsunagu_visits::Visits`; the media (the SFU) will join the same page.

pub mod check;
pub mod guest;
pub mod patient;
pub mod room;
pub mod staff;
pub mod usage;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The connection check's upload sample is at most 1 MB (plus slack).
const PROBE_UPLOAD_LIMIT: usize = 1024 * 1024 + 4096;

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/visits/new", get(staff::new_form))
        .route("/staff/visits", post(staff::create))
        .route("/staff/visits/{id}", get(staff::detail))
        .route("/staff/visits/{id}/send", post(staff::send))
        .route("/staff/visits/{id}/edit", post(staff::edit))
        .route("/staff/visits/{id}/cancel", post(staff::cancel))
        .route("/staff/visits/{id}/start", post(staff::start))
        .route("/staff/visits/{id}/end", post(staff::end))
        .route("/staff/visits/{id}/nudge", post(staff::nudge))
        .route("/staff/visits/{id}/guests", post(staff::invite_guest))
        .route(
            "/staff/visits/{id}/guests/{guest}/admit",
            post(staff::admit_guest),
        )
        .route(
            "/staff/visits/{id}/guests/{guest}/revoke",
            post(staff::revoke_guest),
        )
        .route("/g/{token}", get(guest::by_link))
        .route("/g/{token}/ws", get(room::guest))
        .route("/staff/bookings/{id}/nudge", post(staff::nudge_booking))
        .route("/staff/usage", get(usage::facility_month))
        .route("/staff/visits/{id}/ws", get(room::staff))
        .route("/v/{token}", get(patient::by_link))
        .route("/v/{token}/ws", get(room::by_link))
        .route(
            "/v/{token}/probe",
            get(check::probe_link)
                .post(check::upload_link)
                .layer(axum::extract::DefaultBodyLimit::max(PROBE_UPLOAD_LIMIT)),
        )
        .route("/my/bookings/{id}/visit", get(patient::member))
        .route("/my/bookings/{id}/visit/ws", get(room::member))
        .route(
            "/my/bookings/{id}/visit/probe",
            get(check::probe_member)
                .post(check::upload_member)
                .layer(axum::extract::DefaultBodyLimit::max(PROBE_UPLOAD_LIMIT)),
        )
}
