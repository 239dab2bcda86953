//! Documents a patient hands over before a visit (B5, B6): images shared with a booking, the
//! questionnaire and consent; and the scoped, audited serving of stored files. The rules are
//! `tsunagu_booking::Booker::{share_images, answer_questionnaire}` and `tsunagu_files`.

pub mod api;
pub mod pages;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    pages::router()
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/me/bookings/{id}/images", post(api::images_post))
        .route(
            "/me/bookings/{id}/answers",
            get(api::answers_get).put(api::answers_put),
        )
}
