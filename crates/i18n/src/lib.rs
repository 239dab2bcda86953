//! Message catalogues.
//!
//! Every sentence a person reads — page text, validation messages, SMS and email bodies —
//! lives in `locales/{ja,en}.yml`, keyed by a dotted name. Code passes keys around and
//! renders them here in the reader's language. Japanese is the default and the fallback:
//! a key missing in English shows in Japanese rather than as a raw key.

use std::borrow::Cow;

rust_i18n::i18n!("locales", fallback = "ja");

/// A language the interface is offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// 日本語 (default).
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// Parses `ja`/`en` (and region variants like `en-US`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("ja") {
            Some(Lang::Ja)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks the first supported language of an `Accept-Language` header, else Japanese.
    pub fn from_accept_language(header: &str) -> Self {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .find_map(Lang::parse)
            .unwrap_or_default()
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Self {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

/// The message for `key` in `lang`.
pub fn t<'a>(lang: Lang, key: &'a str) -> Cow<'a, str> {
    rust_i18n::t!(key, locale = lang.code())
}

/// The message for `key` with `%{name}` placeholders filled in.
pub fn t_args<K: AsRef<str>, V: AsRef<str>>(lang: Lang, key: &str, args: &[(K, V)]) -> String {
    let mut s = t(lang, key).into_owned();
    for (k, v) in args {
        s = s.replace(&format!("%{{{}}}", k.as_ref()), v.as_ref());
    }
    s
}

/// Whether `key` exists in the catalogue (tests check every key the code uses).
pub fn has_key(lang: Lang, key: &str) -> bool {
    t(lang, key) != key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_first() {
        assert_eq!(Lang::from_accept_language("fr-FR,en;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr-FR"), Lang::Ja);
        assert_eq!(Lang::from_accept_language(""), Lang::Ja);
        assert_eq!(t(Lang::Ja, "app.name"), "tsunagu");
        assert_ne!(t(Lang::Ja, "error.required"), t(Lang::En, "error.required"));
        assert_eq!(
            t_args(Lang::En, "error.too_long", &[("max", "40")]),
            "Use at most 40 characters."
        );
    }
}
