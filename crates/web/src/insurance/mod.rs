//! Insurance (A4, F8): the patient's card ([`patient`]); on a booking, the staff's checks
//! with the eligibility service, the outage-time visit and the four-facts search
//! ([`staff`]); the facility's eligibility link; and their API ([`api`]). The rules are the
//! use cases of `tsunagu_booking::coverage` and `tsunagu_insurance`.

pub mod api;
pub mod patient;
pub mod staff;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(patient::router())
        .merge(staff::router())
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route(
            "/staff/bookings/{id}/insurance/check",
            post(api::staff_insurance_check),
        )
        .route(
            "/staff/bookings/{id}/insurance/my-number-card",
            post(api::staff_myna_check),
        )
        .route(
            "/staff/bookings/{id}/insurance/outage-visit",
            post(api::staff_outage_visit),
        )
        .route(
            "/staff/bookings/{id}/insurance/four-facts",
            post(api::staff_four_facts),
        )
        .route(
            "/me/patients/{id}/insurance",
            get(api::insurance_get).put(api::insurance_put),
        )
}
