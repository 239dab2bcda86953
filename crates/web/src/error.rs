//! The one place where errors become HTTP responses.
//!
//! Handlers return [`AppError`] (a [`DomainError`] underneath). Its `IntoResponse` only
//! sets the status and parks the error in the response's extensions; the
//! [`render_errors`] middleware, which knows the request's language, id and whether it was
//! an API call, writes the body: JSON under `/api`, an HTML page elsewhere. Internal errors
//! are logged with the request id and shown only as that id.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_kernel::DomainError;

use crate::ctx::request_lang;

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

/// The error parked in a response for [`render_errors`].
#[derive(Debug)]
struct Parked {
    code: &'static str,
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
                code: "invalid",
                key: "error.invalid_input",
                fields,
                retry_after: None,
                internal: None,
            },
            DomainError::NotFound => Parked {
                code: "not_found",
                key: "error.not_found",
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::Unauthorized(key) => Parked {
                code: "unauthorized",
                key,
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::Forbidden(key) => Parked {
                code: "forbidden",
                key,
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::Conflict(key) => Parked {
                code: "conflict",
                key,
                fields: vec![],
                retry_after: None,
                internal: None,
            },
            DomainError::TooManyRequests {
                key,
                retry_after_secs,
            } => Parked {
                code: "too_many_requests",
                key,
                fields: vec![],
                retry_after: Some(retry_after_secs),
                internal: None,
            },
            DomainError::Busy { retry_after_secs } => Parked {
                code: "busy",
                key: "error.busy",
                fields: vec![],
                retry_after: Some(retry_after_secs),
                internal: None,
            },
            DomainError::Internal(e) => Parked {
                code: "internal",
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
        let fields: Vec<serde_json::Value> = parked
            .fields
            .iter()
            .map(|f| {
                let args: Vec<(&str, String)> =
                    f.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                serde_json::json!({
                    "field": f.field,
                    "code": f.key,
                    "message": t_args(lang, f.key, &args),
                })
            })
            .collect();
        let body = serde_json::json!({
            "error": {
                "code": parked.code,
                "reason": parked.key,
                "message": message,
                "fields": fields,
                "request_id": request_id,
            }
        });
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
        code: "invalid",
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
