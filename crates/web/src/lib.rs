//! HTTP for the clinic platform.
//!
//! [`app`] builds the whole router from an [`AppState`]: server-rendered pages for patients
//! (mobile-first), staff (PC-first) and operators; the JSON API under `/api/v1` with its
//! OpenAPI document; `/healthz` and `/metrics`. Errors from the domain map to HTTP in exactly
//! one place, [`error`].
//!
//! The crate is organised by domain: `accounts`, `clinics`, `booking`, `insurance`,
//! `documents`, `setup`, `staff`, `ops`. Each module holds its pages, its API handlers, a
//! `router()` for the pages and an `api_router()` for `/api/v1`, and its templates live under
//! `templates/<domain>/`. Handlers only read input, call one use case of the domain crate
//! and render its answer: the rule, its audit entry and its live event live in the domain
//! crate, so a page and its API cannot drift. API modules import nothing from pages.
//!
//! Cross-cutting rules applied here for every route: a request id on every request and log
//! line; strict security headers (CSP without inline script); server-side sessions with a
//! cookie per realm; a CSRF token checked on every form POST; no patient data in logs;
//! no control character in any path, query, form or JSON body ([`input`]).

// Kit: what every domain module shares.
pub mod apidoc;
pub mod bearer;
pub mod ctx;
pub mod denials;
pub mod forms;
pub mod metrics;
pub mod openapi;
pub mod render;
pub mod session;
pub mod state;
pub mod ws;

// Domains: each a module with its pages, its API and their routers.
pub mod accounts;
pub mod booking;
pub mod clinics;
pub mod documents;
pub mod insurance;
pub mod ops;
pub mod setup;
pub mod staff;
pub mod visits;

pub use state::{AppState, WebConfig};
pub use tsunagu_webkit::{error, input, proxy, security};

use axum::Router;
use axum::routing::get;

/// The largest upload: two card photos or several images, plus the form around them.
pub(crate) const UPLOAD_LIMIT: usize = 3 * tsunagu_files::MAX_BYTES + 64 * 1024;

/// Page routes of every domain (they need a session: `app` adds the layer).
fn pages() -> Router<AppState> {
    Router::new()
        .merge(clinics::router())
        .merge(accounts::router())
        .merge(booking::router())
        .merge(insurance::router())
        .merge(documents::router())
        .merge(setup::router())
        .merge(staff::router())
        .merge(ops::router())
        .merge(visits::router())
        .route("/ws", get(ws::patient_ws))
        .route("/staff/ws", get(ws::staff_ws))
        .route("/ops/ws", get(ws::ops_ws))
}

/// The JSON API of every domain, mounted at `/api/v1`.
fn api() -> Router<AppState> {
    Router::new()
        .merge(clinics::api_router())
        .merge(accounts::api_router())
        .merge(booking::api_router())
        .merge(insurance::api_router())
        .merge(documents::api_router())
        .merge(setup::api_router())
        .merge(staff::api_router())
        .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_LIMIT))
}

/// The complete router for the platform.
pub fn app(state: AppState) -> Router {
    let pages = pages().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        session::page_session,
    ));
    let router = Router::new()
        .merge(pages)
        .merge(clinics::sessionless())
        .nest("/api/v1", api())
        .route("/api/openapi.json", get(openapi::serve))
        .route("/healthz", get(health))
        // Browsers ask for it on their own; an empty answer keeps their consoles clean.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route("/metrics", get(metrics::serve))
        .route("/static/app.css", get(security::css))
        .route("/static/app.js", get(security::js))
        .route("/static/precheck.js", get(security::precheck_js))
        .route("/static/call.js", get(security::call_js))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            denials::audit_denials,
        ))
        .layer(axum::middleware::from_fn(input::refuse_control_chars))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(error::render_errors))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(state.config.trusted_proxies.clone()),
            proxy::real_client,
        ));
    security::with_request_layers(router).with_state(state)
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.db.ping().await {
        (axum::http::StatusCode::OK, "ok").into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        )
            .into_response()
    }
}
