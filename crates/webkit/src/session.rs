//! Session machinery any page router shares: [`run_session`] loads a session from its
//! cookie or starts an anonymous one, checks the CSRF token of every POST and writes any
//! cookie change a handler asked for through [`SetSession`]; extractors for the request id,
//! the client address, the origin and the raw session.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use tsunagu_accounts::sessions::Origin;
use tsunagu_accounts::{Realm, Session};
use tsunagu_kernel::DomainError;

use crate::error::AppError;

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

/// A `303 See Other` redirect (after a POST).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The client's address and browser, as a session records them.
#[derive(Debug, Clone)]
pub struct OriginExt(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for OriginExt {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(origin_of(parts)))
    }
}
