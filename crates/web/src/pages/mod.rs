//! Server-rendered pages: patients (`/`, `/signup`, `/login`, `/my`…), staff (`/staff`),
//! operators (`/ops`, `/dev/outbox`).

pub(crate) mod book;
mod my;
mod ops;
mod patient_docs;
mod public;
mod signup;
mod staff;
pub(crate) mod staff_booking;
pub(crate) mod staff_insurance;
mod staff_setup;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::AppResult;
use crate::state::AppState;

/// Page routes that need a session (the session layer is added by `app`).
pub fn router(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(public::home))
        .route("/clinics", get(public::clinics))
        .route("/c/{slug}", get(public::clinic))
        .route("/c/{slug}/book", get(book::book_form).post(book::book_post))
        .route("/c/{slug}/book/confirm", get(book::confirm_form))
        .route("/my/bookings/{id}", get(book::booking_detail))
        .route("/my/bookings/{id}/cancel", post(book::cancel_post))
        .route("/my/bookings/{id}/share", post(book::share_post))
        .route(
            "/signup",
            get(signup::signup_form).post(signup::signup_post),
        )
        .route(
            "/signup/verify",
            get(signup::verify_form).post(signup::verify_post),
        )
        .route("/signup/resend", post(signup::resend))
        .route(
            "/signup/profile",
            get(signup::profile_form).post(signup::profile_post),
        )
        .route("/login", get(signup::login_form).post(signup::login_post))
        .route("/logout", post(signup::logout))
        .route(
            "/password/forgot",
            get(signup::forgot_form).post(signup::forgot_post),
        )
        .route(
            "/password/reset",
            get(signup::reset_form).post(signup::reset_post),
        )
        .route("/password/resend", post(signup::reset_resend))
        .route("/my", get(my::home))
        .route("/my/logout-everywhere", post(my::logout_everywhere))
        .route(
            "/my/family/new",
            get(my::family_new).post(my::family_create),
        )
        .route(
            "/my/family/{id}/edit",
            get(my::family_edit).post(my::family_update),
        )
        .route("/my/family/{id}/delete", post(my::family_delete))
        .route("/my/email", get(my::email_form).post(my::email_post))
        .route("/my/email/verify", get(my::email_verify))
        .route("/my/notify", post(my::notify_post))
        .route("/my/login", get(my::login_details))
        .route("/my/password", post(my::password_post))
        .route("/my/phone", post(my::phone_post))
        .route(
            "/my/phone/verify",
            get(my::phone_verify_form).post(my::phone_verify_post),
        )
        .route("/my/phone/resend", post(my::phone_resend))
        .route("/my/access-log", get(my::access_log))
        .route("/ws", get(crate::ws::patient_ws))
        .route("/staff/ws", get(crate::ws::staff_ws))
        .route("/ops/ws", get(crate::ws::ops_ws))
        .merge(staff::router())
        .merge(staff_booking::router())
        .merge(staff_setup::router())
        .merge(patient_docs::router())
        .merge(ops::router())
}

/// Page routes that need no session: the QR image and the language switch.
pub fn sessionless() -> Router<AppState> {
    Router::new()
        .route("/c/{slug}/qr.svg", get(public::clinic_qr))
        .route("/lang/{code}", get(public::switch_lang))
}

/// Renders a template as a 200 page.
pub fn page<T: Template>(t: &T) -> AppResult<Response> {
    Ok(Html(t.render()?).into_response())
}

/// Renders a template with a status (a form shown again with errors answers 422).
pub fn page_status<T: Template>(status: StatusCode, t: &T) -> AppResult<Response> {
    Ok((status, Html(t.render()?)).into_response())
}

/// Status for a form re-rendered after `errors`.
pub fn form_status(errors: &crate::ctx::FormErrors) -> StatusCode {
    if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}
