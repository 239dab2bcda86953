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

/// A JSON body whose rejection (bad JSON, wrong content type) is a normal API error in
/// the caller's language instead of axum's plain-text answer.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| {
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(AppError(DomainError::invalid(
                "body",
                "error.json.content_type",
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError(DomainError::invalid("body", "error.json.invalid")))?;
        parse_json(&bytes).map(Self)
    }
}

/// Reads a JSON body as `T`, with the API's rules: the body is one JSON object; a number
/// with no fractional part is an integer (`3.0` is `3`, as JSON Schema counts it); a
/// property `T` does not define is refused by name.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| AppError(DomainError::invalid("body", "error.json.invalid")))?;
    // `[]` once deserialised into an empty chart number and cleared it, because serde
    // reads a struct from a sequence too.
    if !v.is_object() {
        return Err(AppError(DomainError::invalid("body", "error.json.object")));
    }
    integral_numbers(&mut v);
    T::deserialize(v).map_err(|e| {
        let message = e.to_string();
        AppError(
            if let Some(name) = named_field(&message, "unknown field `") {
                // Bodies refuse properties they do not define (the documents say
                // `additionalProperties: false`): name the stray one.
                DomainError::Invalid(vec![tsunagu_kernel::FieldError::new(
                    name,
                    "error.json.unknown_field",
                )])
            } else if let Some(name) = named_field(&message, "missing field `") {
                DomainError::Invalid(vec![tsunagu_kernel::FieldError::new(
                    name,
                    "error.required",
                )])
            } else {
                DomainError::invalid("body", "error.json.invalid")
            },
        )
    })
}

/// Turns every float with an integral value that fits an `i64` into that integer.
fn integral_numbers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && (-9_007_199_254_740_992.0..=9_007_199_254_740_992.0).contains(&f)
            {
                // Exact: |f| ≤ 2^53, so the cast loses nothing.
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *v = serde_json::Value::from(i);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// The property a serde message such as "unknown field `name`, expected …" names after
/// `prefix`.
fn named_field(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].chars().take(64).collect())
}

/// A `multipart/form-data` body (uploads) whose rejection (another content type, no
/// boundary) is a 422 like any other unreadable body, not the router's 400 for a bad URL.
pub struct ApiMultipart(pub axum::extract::Multipart);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiMultipart {
    type Rejection = AppError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(Self)
            .map_err(|_| AppError(DomainError::invalid("body", "error.multipart.content_type")))
    }
}

#[cfg(test)]
mod tests {
    use super::named_field;

    #[test]
    fn names_the_field() {
        let unknown = "unknown field `";
        let message = "unknown field `colour`, expected `phone` at line 1 column 9";
        assert_eq!(named_field(message, unknown).as_deref(), Some("colour"));
        assert_eq!(named_field("missing field `phone`", unknown), None);
        assert_eq!(
            named_field("missing field `phone`", "missing field `").as_deref(),
            Some("phone")
        );
    }

    #[test]
    fn integral_floats_are_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct B {
            n: i64,
            list: Vec<i64>,
        }
        let b = super::parse_json::<B>(br#"{"n": 120.0, "list": [1.0, -2e0]}"#).ok();
        assert_eq!(
            b,
            Some(B {
                n: 120,
                list: vec![1, -2]
            })
        );
        assert!(super::parse_json::<B>(br#"{"n": 1.5, "list": []}"#).is_err());
        assert!(super::parse_json::<B>(br#"{"n": 1, "list": [], "x": 0}"#).is_err());
    }
}
