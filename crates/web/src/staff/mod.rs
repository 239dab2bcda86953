//! Staff accounts and the patient register: staff login with TOTP, the staff
//! home, patients of the facility and their chart numbers, staff and enrolment codes, the
//! facility's settings, failed jobs and the audit log. The rules live in `tsunagu_accounts`.

pub mod api;
pub mod pages;

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    pages::router()
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/staff/login", post(api::staff_login))
        .route("/staff/totp", post(api::totp))
        .route("/staff/totp/enrol", post(api::totp_enrol))
        .route("/staff/patients", get(api::patients))
        .route("/staff/patients/{id}", get(api::patient))
        .route(
            "/staff/patients/{id}/chart-number",
            put(api::set_chart_number),
        )
        .route("/staff/jobs/failed", get(api::failed_jobs))
}
