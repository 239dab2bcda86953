//! The JSON API under `/api/v1`, for apps and integrations (EMR/レセコン).
//!
//! Authentication is a bearer token (the same server-side sessions as the pages, realm by
//! endpoint), never a cookie, so API calls need no CSRF token. Errors are an
//! [`crate::error::ErrorBody`]: `{"error": {"code", "reason", "message", "fields": [{"field",
//! "code", "message"}], "request_id"}}` with messages in the caller's `Accept-Language`
//! (Japanese by default). Bodies are read by [`ApiJson`] and [`ApiMultipart`], which refuse
//! what they cannot read with a 422 naming the field, like every other input error.

mod auth;
mod booking;
mod docs;
mod patient;
mod staff;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use tsunagu_accounts::{Realm, Session};
use tsunagu_kernel::DomainError;

use crate::error::AppError;
use crate::state::AppState;

pub use auth::*;
pub use booking::*;
pub use docs::*;
pub use patient::*;
pub use staff::*;

/// The API routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup/code", post(auth::signup_code))
        .route("/signup/verify", post(auth::signup_verify))
        .route("/signup/complete", post(auth::signup_complete))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/password/code", post(auth::password_code))
        .route("/password/reset", post(auth::password_reset))
        .route("/me", get(patient::me))
        .route(
            "/me/family",
            get(patient::family_list).post(patient::family_add),
        )
        .route(
            "/me/family/{id}",
            put(patient::family_update).delete(patient::family_remove),
        )
        .route("/me/email", post(patient::email_request))
        .route("/me/password", put(patient::password_change))
        .route("/me/access-log", get(patient::access_log))
        .route("/me/logout-everywhere", post(patient::logout_everywhere))
        .route("/facilities", get(patient::facilities))
        .route("/facilities/{slug}", get(patient::facility))
        .route("/staff/login", post(staff::staff_login))
        .route("/staff/totp", post(staff::totp))
        .route("/staff/totp/enrol", post(staff::totp_enrol))
        .route("/staff/patients", get(staff::patients))
        .route("/staff/patients/{id}", get(staff::patient))
        .route(
            "/staff/patients/{id}/chart-number",
            put(staff::set_chart_number),
        )
        .route("/staff/jobs/failed", get(staff::failed_jobs))
        .route("/facilities/{slug}/menus", get(booking::menus))
        .route("/facilities/{slug}/slots", get(booking::slots))
        .route(
            "/me/bookings",
            get(booking::my_bookings).post(booking::book),
        )
        .route(
            "/me/bookings/{id}",
            get(booking::my_booking)
                .put(booking::move_booking)
                .delete(booking::cancel),
        )
        .route("/me/bookings/{id}/share", post(booking::share))
        .route(
            "/staff/bookings",
            get(booking::staff_bookings).post(booking::staff_book),
        )
        .route("/staff/bookings/{id}/close", post(booking::staff_close))
        .route("/staff/bookings/{id}/reopen", post(booking::staff_reopen))
        .route(
            "/staff/bookings/{id}/insurance/check",
            post(booking::staff_insurance_check),
        )
        .route(
            "/staff/bookings/{id}/insurance/my-number-card",
            post(booking::staff_myna_check),
        )
        .route(
            "/staff/bookings/{id}/insurance/outage-visit",
            post(booking::staff_outage_visit),
        )
        .route(
            "/staff/bookings/{id}/insurance/four-facts",
            post(booking::staff_four_facts),
        )
        .route(
            "/me/patients/{id}/insurance",
            get(docs::insurance_get).put(docs::insurance_put),
        )
        .route("/me/bookings/{id}/images", post(docs::images_post))
        .route(
            "/me/bookings/{id}/answers",
            get(docs::answers_get).put(docs::answers_put),
        )
        .route("/staff/menus", post(docs::menu_save))
        .route("/staff/menus/changes/{id}", post(docs::menu_decide))
        .route("/staff/doctors/{id}/hours", put(docs::hours_put))
        .route("/staff/facility/online-suspended", put(docs::suspend_put))
        .layer(axum::extract::DefaultBodyLimit::max(
            3 * tsunagu_files::MAX_BYTES + 64 * 1024,
        ))
}

/// The bearer token of a request.
fn bearer(parts: &Parts) -> Option<String> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

/// Loads the session behind the bearer token in `realm` (any stage).
pub async fn bearer_session(
    parts: &Parts,
    state: &AppState,
    realm: Realm,
) -> Result<(String, Session), AppError> {
    let token = bearer(parts).ok_or(AppError(DomainError::Unauthorized(
        "error.api.token_missing",
    )))?;
    let s = state
        .accounts
        .sessions
        .get(realm, &token)
        .await?
        .ok_or(AppError(DomainError::Unauthorized(
            "error.api.token_invalid",
        )))?;
    Ok((token, s))
}

/// A patient account authenticated by bearer token.
#[derive(Debug, Clone)]
pub struct ApiPatient {
    /// The account.
    pub account: tsunagu_kernel::AccountId,
    /// Its session.
    pub session: Session,
}

impl FromRequestParts<AppState> for ApiPatient {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (_, s) = bearer_session(parts, state, Realm::Patient).await?;
        let id = s.principal().ok_or(AppError(DomainError::Unauthorized(
            "error.api.token_invalid",
        )))?;
        Ok(Self {
            account: tsunagu_kernel::AccountId(id),
            session: s,
        })
    }
}

/// A staff member authenticated by bearer token (fully signed in, second factor done).
#[derive(Debug, Clone)]
pub struct ApiStaff(pub crate::session::StaffMember);

impl FromRequestParts<AppState> for ApiStaff {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (_, s) = bearer_session(parts, state, Realm::Staff).await?;
        let unauthorized = || AppError(DomainError::Unauthorized("error.api.token_invalid"));
        let (Some(id), Some(fid)) = (s.principal(), s.facility_id) else {
            return Err(unauthorized());
        };
        let user = match state
            .accounts
            .staff
            .get(fid, tsunagu_kernel::StaffId(id))
            .await
        {
            Ok(u) if !u.disabled => u,
            Ok(_) | Err(DomainError::NotFound) => return Err(unauthorized()),
            Err(e) => return Err(e.into()),
        };
        let facility = state.facilities.get(fid).await?;
        let me = crate::session::StaffMember {
            user,
            facility,
            session: s,
            request_id: crate::session::request_id(parts),
            ip: crate::session::client_ip(parts),
        };
        crate::denials::remember(parts, &me);
        Ok(Self(me))
    }
}

pub use tsunagu_webkit::json::{ApiJson, ApiMultipart, parse_json};
