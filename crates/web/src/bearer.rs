//! Who an API call comes from: the bearer token (a server-side session of the realm the
//! endpoint belongs to, never a cookie, so API calls need no CSRF token) resolved to a
//! patient account ([`ApiPatient`]) or a fully signed-in staff member ([`ApiStaff`]), and the
//! body readers every API module shares.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tsunagu_accounts::{Realm, Session};
use tsunagu_kernel::DomainError;

use crate::error::AppError;
use crate::state::AppState;

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
