//! Setting a facility up (B9, G1): menus with their questionnaire and the admin's approval,
//! doctors' weekly hours and exceptions, suspending online care. The rules live in
//! `tsunagu_scheduling` and `tsunagu_clinics`.

pub mod api;
pub mod pages;

use axum::Router;
use axum::routing::{post, put};

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    pages::router()
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/staff/menus", post(api::menu_save))
        .route("/staff/menus/changes/{id}", post(api::menu_decide))
        .route("/staff/doctors/{id}/hours", put(api::hours_put))
        .route("/staff/facility/online-suspended", put(api::suspend_put))
        .route("/staff/facility/video-entry", put(api::video_entry_put))
}
