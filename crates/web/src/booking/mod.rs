//! Booking (B2, B3, B4, B7, B10): the patient's booking page, confirmation, move and cancel
//! ([`patient`]); the staff schedule, reception list, phone bookings and closing a visit
//! ([`staff`]); and their API ([`api`]). The rules and their audit entries and live events
//! are the use cases of `tsunagu_booking::Booker`.

pub mod api;
pub mod patient;
pub mod staff;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/c/{slug}/book",
            get(patient::book_form).post(patient::book_post),
        )
        .route("/c/{slug}/book/confirm", get(patient::confirm_form))
        .route("/my/bookings/{id}", get(patient::booking_detail))
        .route("/my/bookings/{id}/cancel", post(patient::cancel_post))
        .route("/my/bookings/{id}/share", post(patient::share_post))
        .merge(staff::router())
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/facilities/{slug}/menus", get(api::menus))
        .route("/facilities/{slug}/slots", get(api::slots))
        .route("/me/bookings", get(api::my_bookings).post(api::book))
        .route(
            "/me/bookings/{id}",
            get(api::my_booking)
                .put(api::move_booking)
                .delete(api::cancel),
        )
        .route("/me/bookings/{id}/share", post(api::share))
        .route(
            "/staff/bookings",
            get(api::staff_bookings).post(api::staff_book),
        )
        .route("/staff/bookings/{id}/close", post(api::staff_close))
        .route("/staff/bookings/{id}/reopen", post(api::staff_reopen))
}
