//! Finding a clinic (B1, A7): the home page, the list by prefecture, a clinic's own page and
//! its QR code, and the language switch. The rules live in `tsunagu_clinics`.

pub mod api;
pub mod pages;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The pages that need a session.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/clinics", get(pages::clinics))
        .route("/c/{slug}", get(pages::clinic))
        .route("/terms", get(pages::terms))
        .route("/privacy", get(pages::privacy))
        .route("/c/{slug}/terms", get(pages::clinic_terms))
        .route("/c/{slug}/privacy", get(pages::clinic_privacy))
}

/// The pages that need none: the QR image and the language switch.
pub fn sessionless() -> Router<AppState> {
    Router::new()
        .route("/c/{slug}/qr.svg", get(pages::clinic_qr))
        .route("/lang/{code}", get(pages::switch_lang))
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/facilities", get(api::facilities))
        .route("/facilities/{slug}", get(api::facility))
}
