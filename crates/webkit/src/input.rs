//! Control characters are refused at the door, once, for every route.
//!
//! A NUL byte in any string that reached a query made PostgreSQL fail (a 500, even
//! unauthenticated) and was stored as is on SQLite. No text a person types contains one, so
//! rather than each field guarding itself, this layer looks at the decoded path, the query
//! and the body of JSON and form requests, and answers 422 naming the field. Line breaks and
//! tabs are kept in bodies and queries (text areas), never in the path. Uploads (multipart)
//! carry files; their text parts are checked by their one reader through [`bad_text`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tsunagu_kernel::{DomainError, FieldError};

use crate::error::AppError;

/// The largest form or JSON body read here (uploads are multipart and not read).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Whether `c` may appear in text a person sent: no C0 or C1 control characters except a
/// line break or tab (where `multiline`).
fn allowed(c: char, multiline: bool) -> bool {
    if multiline && matches!(c, '\n' | '\r' | '\t') {
        return true;
    }
    !c.is_control()
}

fn refuse(field: impl Into<std::borrow::Cow<'static, str>>) -> Response {
    AppError(DomainError::Invalid(vec![FieldError::new(
        field,
        "error.control_chars",
    )]))
    .into_response()
}

/// The middleware.
pub async fn refuse_control_chars(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
    if !path.chars().all(|c| allowed(c, false)) {
        return refuse("path");
    }
    if let Some(q) = parts.uri.query()
        && let Some(field) = bad_pair(q.as_bytes())
    {
        return refuse(field);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let is_json = content_type.starts_with("application/json");
    if !(is_form || is_json) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return AppError(DomainError::invalid("body", "error.form.too_large")).into_response();
    };
    let bad = if is_form {
        bad_pair(&bytes)
    } else {
        // Not JSON at all is the extractor's to report, in its own words.
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| bad_json(&v, "body"))
    };
    if let Some(field) = bad {
        return refuse(field);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The first `name=value` pair of an urlencoded string with a control character in it.
fn bad_pair(encoded: &[u8]) -> Option<String> {
    form_urlencoded::parse(encoded).find_map(|(k, v)| {
        let ok = k.chars().all(|c| allowed(c, false)) && v.chars().all(|c| allowed(c, true));
        (!ok).then(|| clean_name(&k))
    })
}

/// The field name to report if the text part `name` of a multipart form holds a control
/// character (uploads are not read by the layer, so their reader asks here).
pub fn bad_text(name: &str, value: &str) -> Option<String> {
    let ok = name.chars().all(|c| allowed(c, false)) && value.chars().all(|c| allowed(c, true));
    (!ok).then(|| clean_name(name))
}

/// The property holding the first string with a control character, by its name.
fn bad_json(v: &serde_json::Value, name: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) => {
            (!s.chars().all(|c| allowed(c, true))).then(|| clean_name(name))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|i| bad_json(i, name)),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.chars().all(|c| allowed(c, false)) {
                bad_json(v, k)
            } else {
                Some(clean_name(k))
            }
        }),
        _ => None,
    }
}

/// A field name safe to echo back: its control characters dropped, at most 64 characters.
fn clean_name(name: &str) -> String {
    let n: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if n.is_empty() { "body".into() } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field() {
        assert_eq!(bad_pair(b"a=1&memo=x%00y"), Some("memo".into()));
        assert_eq!(bad_pair(b"memo=line%0D%0Anext%09tab"), None);
        assert_eq!(bad_pair(b"a%00=1"), Some("a".into()));
        let v = serde_json::json!({"facility": "a\u{0000}", "ok": "b"});
        assert_eq!(bad_json(&v, "body"), Some("facility".into()));
        let v = serde_json::json!({"answers": [{"text": "x\u{7f}"}]});
        assert_eq!(bad_json(&v, "body"), Some("text".into()));
        let v = serde_json::json!({"memo": "two\nlines"});
        assert_eq!(bad_json(&v, "body"), None);
    }
}
