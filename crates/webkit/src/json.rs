//! JSON and multipart bodies of an API: an unreadable body (bad JSON, a non-object body,
//! an unknown property, another content type) is a normal API error in the caller's
//! language, naming the field, instead of the framework's plain-text answer.

use tsunagu_kernel::DomainError;

use crate::error::AppError;

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
