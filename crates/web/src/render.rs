//! Rendering a page: a template as 200, or with a status (a form shown again with errors
//! answers 422).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::AppResult;

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
