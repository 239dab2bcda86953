//! Sessions for pages, CSRF on every form, and the "who is signed in" extractors.
//!
//! [`page_session`] runs on every page route. It finds the realm from the path (`/staff`
//! → staff, `/ops` and `/dev` → operator, anything else → patient), loads that realm's
//! session from its cookie or starts an anonymous one, checks the CSRF token of every
//! POST, and writes any cookie change a handler asked for through [`SetSession`].

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use tsunagu_accounts::sessions::Origin;
use tsunagu_accounts::{Realm, Session};
use tsunagu_kernel::{DomainError, FacilityId};

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

/// A handler's instruction to replace (login) or clear (logout) the realm's cookie.
#[derive(Debug, Clone)]
pub enum SetSession {
    /// Set the cookie to this new token.
    Token(Realm, String),
    /// Remove the cookie.
    Clear(Realm),
}

impl SetSession {
    /// Attaches the instruction to a response.
    pub fn on(self, resp: impl IntoResponse) -> Response {
        let mut r = resp.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The request's id (set on every request before anything else runs), for the audit log
/// to match the structured log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_id(parts)))
    }
}

/// The id of a request.
pub fn request_id(parts: &Parts) -> String {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The client's address, or `unknown` when there is no socket (in-process tests).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts)))
    }
}

/// The peer address of a request.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// Where a request came from, for new sessions.
pub fn origin_of(parts: &Parts) -> Origin {
    Origin {
        ip: client_ip(parts),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    }
}

fn build_cookie(secure: bool, realm: Realm, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_path("/");
    c.set_secure(secure);
    // Patients arrive from links in SMS and email, so their cookie must travel on
    // top-level navigations from elsewhere; staff and operator cookies never need to.
    c.set_same_site(match realm {
        Realm::Patient => SameSite::Lax,
        _ => SameSite::Strict,
    });
    c
}

/// Whether a cookie value has the shape of our tokens (32 random bytes, base64url).
fn looks_like_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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

/// The session machinery of any page router: loads the session of `cookie` from `sessions`
/// or starts an anonymous one, checks the CSRF token of every POST, and writes the cookie
/// changes a handler asked for. The eligibility service uses it with its own store.
pub async fn run_session(
    sessions: &tsunagu_accounts::SessionStore,
    secure: bool,
    realm: Realm,
    cookie: &'static str,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let (mut parts, body) = req.into_parts();
    let jar = CookieJar::from_headers(&parts.headers);
    let token = jar
        .get(cookie)
        .map(|c| c.value().to_string())
        .filter(|t| looks_like_token(t));
    let existing = match &token {
        Some(t) => sessions.get(realm, t).await?,
        None => None,
    };
    // Nothing is stored for a visitor until their session holds something.
    let (session, new_token) = match (existing, token) {
        (Some(s), _) => (s, None),
        (None, Some(t)) => (sessions.anonymous_for(realm, &t), None),
        (None, None) => {
            let (t, s) = sessions.anonymous(realm);
            (s, Some(t))
        }
    };
    let body = if parts.method == Method::POST {
        let (ok, body) = check_csrf(&parts, body, &session.csrf).await?;
        if !ok {
            return Err(AppError(DomainError::Forbidden("error.csrf")));
        }
        body
    } else {
        body
    };
    parts.extensions.insert(session);
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    let mut set_cookie = new_token.map(|t| build_cookie(secure, realm, cookie, t));
    if let Some(set) = resp.extensions_mut().remove::<SetSession>() {
        set_cookie = Some(match set {
            SetSession::Token(r, t) => build_cookie(secure, r, cookie, t),
            SetSession::Clear(r) => {
                let mut c = build_cookie(secure, r, cookie, String::new());
                c.make_removal();
                c
            }
        });
    }
    if let Some(c) = set_cookie
        && let Ok(v) = HeaderValue::from_str(&c.to_string())
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The largest multipart body read for its token: the uploads' own limit (card photos,
/// images, an eligibility import) is below it, and the handler reads it afterwards anyway.
const MULTIPART_LIMIT: usize = 40 * 1024 * 1024;

/// Reads the `csrf` form field (of an urlencoded or a multipart form) or the
/// `x-csrf-token` header and compares it with the session's. Gives the body back intact.
/// Never from the query string: a token in a URL ends up in logs, history and referrers.
async fn check_csrf(parts: &Parts, body: Body, expected: &str) -> Result<(bool, Body), AppError> {
    use subtle_eq::eq;
    if let Some(h) = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Ok((eq(h, expected), body));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let too_large = || AppError(DomainError::invalid("form", "error.form.too_large"));
    if content_type.starts_with("multipart/form-data") {
        let Ok(boundary) = multer::parse_boundary(content_type) else {
            return Ok((false, body));
        };
        let bytes = axum::body::to_bytes(body, MULTIPART_LIMIT)
            .await
            .map_err(|_| too_large())?;
        let chunk = bytes.clone();
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(chunk) });
        let mut form = multer::Multipart::new(stream, boundary);
        let mut ok = false;
        while let Ok(Some(field)) = form.next_field().await {
            if field.name() == Some("csrf") {
                ok = field.text().await.is_ok_and(|v| eq(&v, expected));
                break;
            }
        }
        return Ok((ok, Body::from(bytes)));
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok((false, body));
    }
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| too_large())?;
    let ok = url::form_urlencoded::parse(&bytes).any(|(k, v)| k == "csrf" && eq(&v, expected));
    Ok((ok, Body::from(bytes)))
}

/// Constant-time string comparison without another dependency.
mod subtle_eq {
    /// Compares in time that depends only on the lengths.
    pub fn eq(a: &str, b: &str) -> bool {
        if a.len() != b.len() || a.is_empty() {
            return false;
        }
        a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// The raw session of the current page request.
#[derive(Debug, Clone)]
pub struct Sess(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Sess {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .map(Sess)
            .ok_or_else(|| {
                AppError(DomainError::internal(anyhow::anyhow!(
                    "page without session layer"
                )))
            })
    }
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

/// A `303 See Other` redirect (after a POST).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
