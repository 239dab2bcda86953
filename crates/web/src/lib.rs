//! HTTP for the clinic platform.
//!
//! [`app`] builds the whole router from an [`AppState`]: server-rendered pages for patients
//! (mobile-first), staff (PC-first) and operators; the JSON API under `/api/v1` with its
//! OpenAPI document; `/healthz` and `/metrics`. Only this crate knows axum. Errors from the
//! domain map to HTTP in exactly one place, [`error`].
//!
//! Cross-cutting rules applied here for every route: a request id on every request and log
//! line; strict security headers (CSP without inline script); server-side sessions with a
//! cookie per realm; a CSRF token checked on every form POST; no patient data in logs;
//! no control character in any path, query, form or JSON body ([`input`]).

pub mod api;
pub mod apidoc;
pub mod ctx;
pub mod denials;
pub mod forms;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod session;
pub mod state;
pub mod ws;

pub use state::{AppState, WebConfig};
pub use tsunagu_webkit::{error, input, proxy, security};

use axum::Router;
use axum::routing::get;

/// The complete router for the platform.
pub fn app(state: AppState) -> Router {
    let pages = pages::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        state.clone(),
        session::page_session,
    ));
    let router = Router::new()
        .merge(pages)
        .merge(pages::sessionless())
        .nest("/api/v1", api::router())
        .route("/api/openapi.json", get(openapi::serve))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics::serve))
        .route("/static/app.css", get(security::css))
        .route("/static/app.js", get(security::js))
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
