//! The one place where errors become HTTP responses.
//!
//! Handlers return [`AppError`] (a [`DomainError`] underneath). Its `IntoResponse` only
//! sets the status and parks the error in the response's extensions; the
//! [`render_errors`] middleware, which knows the request's language, id and whether it was
//! an API call, writes the body: JSON under `/api`, an HTML page elsewhere. Internal errors
//! are logged with the request id and shown only as that id.
//!
//! [`ErrorBody`] is that JSON body as a type: the renderer serialises it, and both OpenAPI
//! documents reference its schema from every error response, so the two cannot drift.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_kernel::DomainError;
use utoipa::ToSchema;

use crate::lang::request_lang;

/// A handler error.
#[derive(Debug)]
pub struct AppError(pub DomainError);

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        Self(e)
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self(DomainError::internal(e))
    }
}

/// Result alias for handlers.
pub type AppResult<T> = Result<T, AppError>;

/// The body of every JSON error (everything under `/api`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`, `reason`, `fields[].code`) and for people
/// (`message`, `fields[].message`, in the caller's `Accept-Language`, Japanese by default).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The kind of error; it follows from the HTTP status.
    pub code: ErrorCode,
    /// The message's catalogue key (`error.login.failed`, `error.slot.taken`…): the precise
    /// reason, stable across languages.
    pub reason: String,
    /// The message, translated.
    pub message: String,
    /// For `invalid`: each field at fault (JSON property, query parameter or form part).
    pub fields: Vec<FieldErrorBody>,
    /// The request's id (also the `x-request-id` header); quote it when reporting a problem.
    pub request_id: String,
}

/// One field at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// The field's name.
    pub field: String,
    /// The message's catalogue key (`error.required`, `error.date.invalid`…).
    pub code: String,
    /// The message, translated.
    pub message: String,
}

/// The kind of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400 (the URL: a malformed id or query), 405 (a method the URL does not take) or 422
    /// (the input: see `fields`).
    Invalid,
    /// 401: no, an unknown or an expired bearer token, or wrong credentials.
    Unauthorized,
    /// 403: signed in, but not allowed to do this now.
    Forbidden,
    /// 404: no such resource, or not one the caller may see.
    NotFound,
    /// 409: the resource's state forbids it (a slot taken, a booking already closed…).
    Conflict,
    /// 429: too many attempts; retry after `Retry-After` seconds.
    TooManyRequests,
    /// 503: the server is too busy (password hashing); retry after `Retry-After` seconds.
    Busy,
    /// 500: a fault of ours, logged under `request_id`.
    Internal,
}

/// The error parked in a response for [`render_errors`].
#[derive(Debug)]
struct Parked {
    code: ErrorCode,
    key: &'static str,
    fields: Vec<tsunagu_kernel::FieldError>,
    retry_after: Option<u64>,
    internal: Option<String>,
}

fn status_of(e: &DomainError) -> StatusCode {
    match e {
        DomainError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::NotFound => StatusCode::NOT_FOUND,
        DomainError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        DomainError::Conflict(_) => StatusCode::CONFLICT,
        DomainError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        DomainError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let parked = match self.0 {
            DomainError::Invalid(fields) => Parked {
                code: ErrorCode::Invalid,
                key: "error.invalid_input",
                fields,
                retry_after: None,
                internal: None,
            },
            DomainError::NotFound => Parked {
                code: ErrorCode::NotFound,
                key: "error.not_found",
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::Unauthorized(key) => Parked {
                code: ErrorCode::Unauthorized,
                key,
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::Forbidden(key) => Parked {
                code: ErrorCode::Forbidden,
                key,
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::Conflict(key) => Parked {
                code: ErrorCode::Conflict,
                key,
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::TooManyRequests {
                key,
                retry_after_secs,
            } => Parked {
                code: ErrorCode::TooManyRequests,
                key,
                fields: vec![],
                retry_after: Some(retry_after_secs),
                internal: None,
            },
            DomainError::Busy { retry_after_secs } => Parked {
                code: ErrorCode::Busy,
                key: "error.busy",
                fields: vec![],
                retry_after: Some(retry_after_secs),
                internal: None,
            },
            DomainError::Internal(e) => Parked {
                code: ErrorCode::Internal,
                key: "error.internal",
                fields: vec![],
                retry_after: None,
                internal: Some(format!("{e:#}")),
            },
        };
        let mut resp = status.into_response();
        resp.extensions_mut().insert(Arc::new(parked));
        resp
    }
}

/// Writes the body of every parked error, in the request's language.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let lang = request_lang(&parts);
    let is_api = parts.uri.path().starts_with("/api/");
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some(parked) = resp
        .extensions()
        .get::<Arc<Parked>>()
        .cloned()
        .or_else(|| framework_rejection(&resp))
    else {
        return resp;
    };
    let status = resp.status();
    if let Some(detail) = &parked.internal {
        tracing::error!(request_id = %request_id, error = %detail, "internal error");
    }
    let message = match parked.retry_after {
        Some(s) => t_args(lang, parked.key, &[("seconds", s.to_string())]),
        None => t(lang, parked.key).into_owned(),
    };
    let mut out = if is_api {
        let body = ErrorBody {
            error: ErrorDetail {
                code: parked.code,
                reason: parked.key.to_string(),
                message,
                fields: parked
                    .fields
                    .iter()
                    .map(|f| {
                        let args: Vec<(&str, String)> =
                            f.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                        FieldErrorBody {
                            field: f.field.to_string(),
                            code: f.key.to_string(),
                            message: t_args(lang, f.key, &args),
                        }
                    })
                    .collect(),
                request_id,
            },
        };
        (status, axum::Json(body)).into_response()
    } else {
        let mut lines: Vec<String> = vec![message];
        for f in &parked.fields {
            let args: Vec<(&str, String)> = f.args.iter().map(|(k, v)| (*k, v.clone())).collect();
            lines.push(t_args(lang, f.key, &args));
        }
        (status, Html(error_page(lang, status, &lines, &request_id))).into_response()
    };
    if let Some(s) = parked.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        out.headers_mut().insert(header::RETRY_AFTER, v);
    }
    out
}

/// The router's own refusals (an id in the URL that is not a number, a method the route
/// does not take) come as English plain text; they get the same translated shape as ours.
fn framework_rejection(resp: &Response) -> Option<Arc<Parked>> {
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    let key = match resp.status() {
        StatusCode::BAD_REQUEST if plain => "error.request.bad_path",
        StatusCode::METHOD_NOT_ALLOWED if plain => "error.request.method",
        _ => return None,
    };
    Some(Arc::new(Parked {
        code: ErrorCode::Invalid,
        key,
        fields: Vec::new(),
        retry_after: None,
        internal: None,
    }))
}

/// A minimal, dependency-free error page (it must render even when templates cannot).
fn error_page(lang: Lang, status: StatusCode, lines: &[String], request_id: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let items: String = lines.iter().map(|l| format!("<p>{}</p>", esc(l))).collect();
    let rid = if request_id.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"muted\">{}: <code>{}</code></p>",
            esc(&t(lang, "error.request_id")),
            esc(request_id)
        )
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body><main class=\"narrow\"><h1>{title}</h1>{items}{rid}\
         <p><a class=\"button\" href=\"/\">{home}</a></p></main></body></html>",
        lang = lang.code(),
        title = esc(&format!("{} {}", status.as_u16(), t(lang, "error.title"))),
        home = esc(&t(lang, "nav.home")),
    )
}

/// 404 for unknown routes.
pub async fn not_found() -> AppError {
    AppError(DomainError::NotFound)
}
