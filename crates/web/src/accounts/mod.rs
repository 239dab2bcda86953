//! Patient accounts (A1, A2, A5, A6): sign-up by phone, login, password reset, マイページ,
//! family members, e-mail and phone changes, notification choices and the access log.
//!
//! The rules live in `tsunagu_accounts`; this module shows their forms ([`signup`], [`my`])
//! and answers their API ([`auth_api`], [`me_api`]).

pub mod auth_api;
pub mod me_api;
pub mod my;
pub mod signup;

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    Router::new()
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
}

/// The API (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/signup/code", post(auth_api::signup_code))
        .route("/signup/verify", post(auth_api::signup_verify))
        .route("/signup/complete", post(auth_api::signup_complete))
        .route("/login", post(auth_api::login))
        .route("/logout", post(auth_api::logout))
        .route("/password/code", post(auth_api::password_code))
        .route("/password/reset", post(auth_api::password_reset))
        .route("/me", get(me_api::me))
        .route(
            "/me/family",
            get(me_api::family_list).post(me_api::family_add),
        )
        .route(
            "/me/family/{id}",
            put(me_api::family_update).delete(me_api::family_remove),
        )
        .route("/me/email", post(me_api::email_request))
        .route("/me/password", put(me_api::password_change))
        .route("/me/access-log", get(me_api::access_log))
        .route("/me/logout-everywhere", post(me_api::logout_everywhere))
}
