//! The platform's sessions and "who is signed in" extractors.
//!
//! [`page_session`] runs on every page route. It finds the realm from the path (`/staff`
//! → staff, `/ops` and `/dev` → operator, anything else → patient), loads that realm's
//! session from its cookie or starts an anonymous one and checks CSRF ([`run_session`]).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tsunagu_accounts::{Realm, Session};
use tsunagu_kernel::{DomainError, FacilityId};

pub use tsunagu_webkit::session::*;

use crate::error::AppError;
use crate::state::AppState;

/// Cookie name of a realm.
pub fn cookie_name(realm: Realm) -> &'static str {
    match realm {
        Realm::Patient => "tsunagu_patient",
        Realm::Staff => "tsunagu_staff",
        Realm::Operator => "tsunagu_ops",
    }
}

/// The realm a page path belongs to.
pub fn realm_of(path: &str) -> Realm {
    if path == "/staff" || path.starts_with("/staff/") {
        Realm::Staff
    } else if path == "/ops" || path.starts_with("/ops/") || path.starts_with("/dev/") {
        Realm::Operator
    } else {
        Realm::Patient
    }
}

/// Loads or starts the session, enforces CSRF on POST, applies cookie changes.
pub async fn page_session(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match page_session_inner(state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn page_session_inner(
    state: AppState,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let realm = realm_of(req.uri().path());
    run_session(
        &state.accounts.sessions,
        state.config.secure_cookies,
        realm,
        cookie_name(realm),
        req,
        next,
    )
    .await
}

/// Rejection of the signed-in extractors on pages: go to the realm's login page.
#[derive(Debug)]
pub struct ToLogin(&'static str);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        Redirect::to(self.0).into_response()
    }
}

/// A signed-in patient account on a page.
#[derive(Debug, Clone)]
pub struct PatientUser {
    /// The account.
    pub account: tsunagu_kernel::AccountId,
    /// The session.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for PatientUser {
    type Rejection = ToLogin;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let s = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(ToLogin("/login"))?;
        match (s.realm, s.principal()) {
            (Realm::Patient, Some(id)) => Ok(Self {
                account: tsunagu_kernel::AccountId(id),
                session: s,
            }),
            _ => Err(ToLogin("/login")),
        }
    }
}

/// A signed-in staff member on a page, with their facility.
#[derive(Debug, Clone)]
pub struct StaffMember {
    /// The staff record.
    pub user: tsunagu_accounts::StaffUser,
    /// Their facility.
    pub facility: tsunagu_clinics::Facility,
    /// The session.
    pub session: Session,
    /// The request's id, for the audit entries it causes.
    pub request_id: String,
    /// The client's address.
    pub ip: String,
}

impl StaffMember {
    /// The facility scope every patient query must use.
    pub fn scope(&self) -> FacilityId {
        self.facility.id
    }

    /// The audit actor for this staff member.
    pub fn actor(&self) -> tsunagu_audit::Actor {
        tsunagu_audit::Actor {
            kind: "staff",
            id: Some(self.user.id.0),
            label: format!("{} ({})", self.user.display_name, self.user.role.as_str()),
        }
    }

    /// This staff member acting in this request, for the use cases that record it.
    pub fn by(&self) -> tsunagu_audit::By {
        tsunagu_audit::By {
            actor: self.actor(),
            facility_id: Some(self.facility.id),
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// Fails unless the member is a facility admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.user.role == tsunagu_accounts::Role::Admin {
            Ok(())
        } else {
            Err(AppError(DomainError::Forbidden(
                "error.forbidden.admin_only",
            )))
        }
    }
}

impl FromRequestParts<AppState> for StaffMember {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/staff/login").into_response();
        let s = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(to_login)?;
        let (Realm::Staff, Some(id), Some(fid)) = (s.realm, s.principal(), s.facility_id) else {
            return Err(to_login());
        };
        let user = match state
            .accounts
            .staff
            .get(fid, tsunagu_kernel::StaffId(id))
            .await
        {
            Ok(u) if !u.disabled => u,
            Ok(_) | Err(DomainError::NotFound) => return Err(to_login()),
            Err(e) => return Err(AppError(e).into_response()),
        };
        let facility = state
            .facilities
            .get(fid)
            .await
            .map_err(|e| AppError(e).into_response())?;
        let me = Self {
            user,
            facility,
            session: s,
            request_id: request_id(parts),
            ip: client_ip(parts),
        };
        crate::denials::remember(parts, &me);
        Ok(me)
    }
}

/// A signed-in operator on a page.
#[derive(Debug, Clone)]
pub struct OperatorUser {
    /// The operator.
    pub operator: tsunagu_accounts::Operator,
    /// The session.
    pub session: Session,
    /// The request's id.
    pub request_id: String,
    /// The client's address.
    pub ip: String,
}

impl OperatorUser {
    /// The audit actor.
    pub fn actor(&self) -> tsunagu_audit::Actor {
        tsunagu_audit::Actor {
            kind: "operator",
            id: Some(self.operator.id.0),
            label: format!("{} (operator)", self.operator.login_id),
        }
    }

    /// This operator acting in this request, for the use cases that record it.
    pub fn by(&self) -> tsunagu_audit::By {
        tsunagu_audit::By {
            actor: self.actor(),
            facility_id: None,
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for OperatorUser {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/ops/login").into_response();
        let s = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(to_login)?;
        let (Realm::Operator, Some(id)) = (s.realm, s.principal()) else {
            return Err(to_login());
        };
        let operator = match state
            .accounts
            .staff
            .operator(tsunagu_kernel::OperatorId(id))
            .await
        {
            Ok(o) => o,
            Err(DomainError::NotFound) => return Err(to_login()),
            Err(e) => return Err(AppError(e).into_response()),
        };
        Ok(Self {
            operator,
            session: s,
            request_id: request_id(parts),
            ip: client_ip(parts),
        })
    }
}

/// Whether this pending session has proved an enrolment code.
pub fn enrol_proved(s: &Session) -> bool {
    s.data.get("enrol_ok") == Some(&serde_json::Value::Bool(true))
}
