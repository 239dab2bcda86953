//! What a page template needs besides its own data: the language, the CSRF token, who is
//! signed in — and the form-error collection every form page shares.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tsunagu_accounts::Session;
use tsunagu_i18n::{Lang, t, t_args};

use crate::state::AppState;

pub use tsunagu_webkit::form::FormErrors;
pub use tsunagu_webkit::lang::{ReqLang, format_ms, request_lang};

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

    /// Translates a key with two arguments.
    pub fn ta2(
        &self,
        key: &str,
        n1: &str,
        v1: &dyn std::fmt::Display,
        n2: &str,
        v2: &dyn std::fmt::Display,
    ) -> String {
        t_args(
            self.lang,
            key,
            &[(n1, v1.to_string()), (n2, v2.to_string())],
        )
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
