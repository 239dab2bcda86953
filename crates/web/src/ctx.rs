//! What a page template needs besides its own data: the language, the CSRF token, who is
//! signed in — and the form-error collection every form page shares.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use tsunagu_accounts::Session;
use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_kernel::DomainError;

use crate::state::AppState;

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

/// Page-wide context for templates.
#[derive(Debug, Clone)]
pub struct PageCtx {
    /// Language of the page.
    pub lang: Lang,
    /// CSRF token for forms.
    pub csrf: String,
    /// Current path (for the language switch to come back to).
    pub path: String,
    /// Realm of the page: `patient`, `staff` or `operator`.
    pub realm: &'static str,
    /// Whether someone is fully signed in in this realm.
    pub signed_in: bool,
    /// Whether `/dev/outbox` exists.
    pub dev_outbox: bool,
}

impl PageCtx {
    /// Translates a key.
    pub fn t<'a>(&self, key: &'a str) -> Cow<'a, str> {
        t(self.lang, key)
    }

    /// Translates a key with one `%{name}` argument.
    pub fn ta(&self, key: &str, name: &str, value: &dyn std::fmt::Display) -> String {
        t_args(self.lang, key, &[(name, value.to_string())])
    }

    /// The page's live-event socket, for signed-in pages (empty otherwise).
    pub fn ws_path(&self) -> &'static str {
        if !self.signed_in {
            return "";
        }
        match self.realm {
            "staff" => "/staff/ws",
            "operator" => "/ops/ws",
            _ => "/ws",
        }
    }

    /// `lang` attribute value.
    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    /// Link that switches to the other language and comes back here.
    pub fn switch_href(&self) -> String {
        let back: String = url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect();
        format!("/lang/{}?back={back}", self.lang.other().code())
    }

    /// Label of the other language.
    pub fn switch_label(&self) -> &'static str {
        match self.lang {
            Lang::Ja => "English",
            Lang::En => "日本語",
        }
    }

    /// Formats stored milliseconds as a local date-time in Japan.
    pub fn datetime(&self, ms: &i64) -> String {
        format_ms(*ms, "Asia/Tokyo")
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

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = parts.extensions.get::<Session>();
        Ok(Self {
            lang: request_lang(parts),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            path: parts.uri.path().to_string(),
            realm: session.map_or("patient", |s| s.realm.as_str()),
            signed_in: session.and_then(Session::principal).is_some(),
            dev_outbox: state.config.dev_outbox,
        })
    }
}

/// Messages to show on a form after a failed submission.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    /// Per field: (field name, message).
    pub fields: Vec<(String, String)>,
    /// Not tied to a field (wrong password, too many tries…).
    pub general: Vec<String>,
}

impl FormErrors {
    /// No errors.
    pub fn none() -> Self {
        Self::default()
    }

    /// Splits a domain error into form messages. Errors a form cannot show (not found,
    /// forbidden, internal) are handed back to go to the error page.
    pub fn from_error(e: DomainError, lang: Lang) -> Result<Self, DomainError> {
        let mut out = Self::default();
        match e {
            DomainError::Invalid(fields) => {
                for f in fields {
                    let args: Vec<(&str, String)> =
                        f.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                    out.fields
                        .push((f.field.to_string(), t_args(lang, f.key, &args)));
                }
            }
            DomainError::Unauthorized(key) | DomainError::Conflict(key) => {
                out.general.push(t(lang, key).into_owned());
            }
            DomainError::TooManyRequests {
                key,
                retry_after_secs,
            } => {
                out.general.push(t_args(
                    lang,
                    key,
                    &[("seconds", retry_after_secs.to_string())],
                ));
            }
            DomainError::Busy { retry_after_secs } => {
                out.general.push(t_args(
                    lang,
                    "error.busy",
                    &[("seconds", retry_after_secs.to_string())],
                ));
            }
            other => return Err(other),
        }
        Ok(out)
    }

    /// A general message by key.
    pub fn general(lang: Lang, key: &str) -> Self {
        Self {
            fields: Vec::new(),
            general: vec![t(lang, key).into_owned()],
        }
    }

    /// Moves field messages to the general list (for pages whose inputs are not fields
    /// the user typed, like a list of slots).
    #[must_use]
    pub fn flattened(mut self) -> Self {
        let fields = std::mem::take(&mut self.fields);
        self.general.extend(fields.into_iter().map(|(_, m)| m));
        self
    }

    /// The first message for `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether `field` has a message (for `aria-invalid`).
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// Whether there is anything to show.
    pub fn any(&self) -> bool {
        !self.fields.is_empty() || !self.general.is_empty()
    }
}
