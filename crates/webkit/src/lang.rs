//! The language of a request (the `lang` cookie, else `Accept-Language`) and times as
//! people read them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use tsunagu_i18n::Lang;

/// The language of this request: the `lang` cookie, else `Accept-Language`, else Japanese.
pub fn request_lang(parts: &Parts) -> Lang {
    let jar = CookieJar::from_headers(&parts.headers);
    if let Some(l) = jar.get("lang").and_then(|c| Lang::parse(c.value())) {
        return l;
    }
    parts
        .headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

/// The request's language as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_lang(parts)))
    }
}

/// `YYYY/MM/DD HH:MM` in the given time zone.
pub fn format_ms(ms: i64, tz: &str) -> String {
    let ts = tsunagu_kernel::clock::from_ms(ms);
    match jiff::tz::TimeZone::get(tz) {
        Ok(zone) => ts.to_zoned(zone).strftime("%Y/%m/%d %H:%M").to_string(),
        Err(_) => ts.to_string(),
    }
}
