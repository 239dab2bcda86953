//! Response headers, request ids, and the static assets.
//!
//! The CSP allows scripts and styles from this origin only (no inline script, no CDN), and
//! media from this origin; pages carrying patient data are never cached by the browser.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// Adds the security headers to every response.
pub async fn headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A response may set a stricter policy of its own (uploaded files: a sandbox).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Links carry tokens (email verification, video rooms): never leak them as referrers.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
    );
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Adds the request id (set if absent, echoed back) and a trace span per request that
/// records the method, the path without its query (queries may hold tokens) and the id.
pub fn with_request_layers<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    let x_request_id = HeaderName::from_static("x-request-id");
    // Layers run outside-in in reverse order of `.layer` calls: the id is set first,
    // then traced, then copied onto the response.
    router
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(span as fn(&Request) -> tracing::Span))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

fn span(req: &Request) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// The stylesheet.
pub async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("../static/app.css"))
}

/// The script (progressive enhancement only; every page works without it).
pub async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    )
}

/// The visit pages' pre-call check and self view (loaded by those pages only).
pub async fn precheck_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/precheck.js"),
    )
}

/// `/static/call.js`: the video call of a visit page.
pub async fn call_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/call.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
