//! Validated values: a [`Phone`] or an [`Email`] exists only if it parsed.
//!
//! Input arrives in every shape a Japanese user types: full-width digits, hyphens of
//! several widths, spaces, a leading `+81`. Everything is NFKC-normalised first.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::{DomainError, DomainResult, FieldError};

/// A Japanese mobile number in E.164 form (`+819012345678`).
///
/// Only mobile ranges (060, 070, 080, 090) are accepted: the number receives the sign-up
/// code by SMS, and fixed lines and 050 IP phones cannot receive SMS reliably.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Parses `090-1234-5678`, `09012345678`, `+81 90 1234 5678`, `０９０…` and the like.
    pub fn parse(field: &'static str, input: &str) -> DomainResult<Self> {
        let norm: String = input.nfkc().collect();
        let trimmed = norm.trim();
        if trimmed.is_empty() {
            return Err(DomainError::invalid(field, "error.phone.required"));
        }
        let mut digits = String::new();
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => digits.push('+'),
                '-' | ' ' | '(' | ')' | '.' | '‐' | '‑' | '–' | '—' | '−' | 'ー' => {}
                _ => return Err(DomainError::invalid(field, "error.phone.invalid")),
            }
        }
        let national = if let Some(rest) = digits.strip_prefix("+81") {
            // "+81 (0)90…" is a common mistake; tolerate the stray trunk zero.
            let rest = rest.strip_prefix('0').unwrap_or(rest);
            format!("0{rest}")
        } else if digits.starts_with('+') {
            return Err(DomainError::invalid(field, "error.phone.not_japanese"));
        } else {
            digits
        };
        let b = national.as_bytes();
        let mobile = b.len() == 11
            && b[0] == b'0'
            && matches!(b[1], b'6' | b'7' | b'8' | b'9')
            && b[2] == b'0';
        if !mobile {
            return Err(DomainError::invalid(field, "error.phone.not_mobile"));
        }
        Ok(Self(format!("+81{}", &national[1..])))
    }

    /// The E.164 form, as stored.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The domestic form with hyphens, as shown to Japanese users: `090-1234-5678`.
    pub fn display_domestic(&self) -> String {
        let n = &self.0[3..];
        format!("0{}-{}-{}", &n[0..2], &n[2..6], &n[6..])
    }

    /// The number with all but the last four digits hidden, for lists and logs.
    pub fn masked(&self) -> String {
        let n = &self.0[self.0.len() - 4..];
        format!("***-****-{n}")
    }

    /// Rebuilds a phone read back from the database (already validated when stored).
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse("phone", &s).map_err(|e| e.to_string())
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> Self {
        p.0
    }
}

/// An email address: one `@`, a dotted domain, no spaces, at most 254 bytes, stored lower-cased
/// in its domain part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// Validates the address's shape; whether it receives mail is proved by the
    /// verification link, not here.
    pub fn parse(field: &'static str, input: &str) -> DomainResult<Self> {
        let norm: String = input.nfkc().collect();
        let s = norm.trim();
        if s.is_empty() {
            return Err(DomainError::invalid(field, "error.email.required"));
        }
        let bad = || DomainError::invalid(field, "error.email.invalid");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds an address read back from the database.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// Sex as the insurance system codes it (OQSCD007): 1 male, 2 female, 3 not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
    /// 未設定
    Unset,
}

impl Sex {
    /// The code stored and exchanged.
    pub fn code(self) -> i64 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Unset => 3,
        }
    }

    /// Reads a stored or submitted code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            3 => Some(Sex::Unset),
            _ => None,
        }
    }

    /// Parses a form value (`1`, `2`, `3`, `male`, `female`, `unset`).
    pub fn parse(field: &'static str, s: &str) -> DomainResult<Self> {
        match s.trim() {
            "1" | "male" => Ok(Sex::Male),
            "2" | "female" => Ok(Sex::Female),
            "3" | "unset" => Ok(Sex::Unset),
            "" => Err(DomainError::invalid(field, "error.sex.required")),
            _ => Err(DomainError::invalid(field, "error.sex.invalid")),
        }
    }

    /// The catalogue key of its label.
    pub fn label_key(self) -> &'static str {
        match self {
            Sex::Male => "sex.male",
            Sex::Female => "sex.female",
            Sex::Unset => "sex.unset",
        }
    }
}

/// Trims and NFKC-normalises a person's name part; rejects empty and over-long values.
pub fn person_name(field: &'static str, input: &str, max_chars: usize) -> DomainResult<String> {
    let norm: String = input.nfkc().collect();
    let s = norm.trim().to_string();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "error.required"));
    }
    if s.chars().count() > max_chars {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.too_long").arg("max", max_chars),
        ]));
    }
    if s.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(DomainError::invalid(field, "error.invalid_chars"));
    }
    Ok(s)
}

/// Text shown to people as staff typed it (a menu's name): trimmed, not normalised —
/// 「（自費）」 stays full-width — with the same refusals as a name (empty, too long,
/// control or invisible characters). Compare and search with NFKC, never store it.
pub fn display_text(field: &'static str, input: &str, max_chars: usize) -> DomainResult<String> {
    let s = input.trim().to_string();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "error.required"));
    }
    if s.chars().count() > max_chars {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.too_long").arg("max", max_chars),
        ]));
    }
    if s.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(DomainError::invalid(field, "error.invalid_chars"));
    }
    Ok(s)
}

/// The dates the service works with: a birth date of 1900 to a booking in 2100. Anything
/// outside is a typo or a probe, and would overflow the day arithmetic that follows.
pub const FIRST_DAY: jiff::civil::Date = jiff::civil::date(1900, 1, 1);
/// The last date accepted (see [`FIRST_DAY`]).
pub const LAST_DAY: jiff::civil::Date = jiff::civil::date(2100, 12, 31);

/// A calendar date typed as `YYYY-MM-DD`, within [`FIRST_DAY`]..=[`LAST_DAY`].
pub fn day(field: &'static str, input: &str) -> DomainResult<jiff::civil::Date> {
    let d: jiff::civil::Date = input
        .trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, "error.date.invalid"))?;
    if !(FIRST_DAY..=LAST_DAY).contains(&d) {
        return Err(DomainError::Invalid(vec![
            FieldError::new(field, "error.date.range")
                .arg("from", FIRST_DAY.year())
                .arg("to", LAST_DAY.year()),
        ]));
    }
    Ok(d)
}

/// Characters that change how text around them shows without showing themselves:
/// bidi overrides and isolates (which can make a name read backwards on a staff screen),
/// zero-width spaces and joiners, the byte-order mark and soft hyphen.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// A person's name part: what Japanese names (and the Latin-script names of patients from
/// abroad) are written with, and nothing else.
///
/// Kanji (including the rarer extensions), hiragana, katakana, 々 〆 ヶ, the long-vowel
/// mark, Latin letters with their accented forms, spaces, and the punctuation names carry
/// (・ . ' - ‐ ＝). No digits, markup characters, emoji or invisible characters: a name is
/// shown on staff screens, documents and prescriptions.
pub fn human_name(field: &'static str, input: &str, max_chars: usize) -> DomainResult<String> {
    let s = person_name(field, input, max_chars)?;
    if !s.chars().all(is_name_char) {
        return Err(DomainError::invalid(field, "error.name.chars"));
    }
    Ok(s)
}

fn is_name_char(c: char) -> bool {
    matches!(c,
        // Kanji: unified ideographs, extension A, compatibility ideographs, extensions B+.
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3134F}'
        // Hiragana and katakana (NFKC has already widened half-width kana).
        | '\u{3041}'..='\u{3096}' | '\u{309D}' | '\u{309E}'
        | '\u{30A1}'..='\u{30FA}' | '\u{30FC}'..='\u{30FE}'
        // 々 〆 〇, the middle dot.
        | '\u{3005}' | '\u{3006}' | '\u{3007}' | '\u{30FB}'
        // Latin letters, with accents (Latin-1 letters, Extended-A and -B).
        | 'A'..='Z' | 'a'..='z'
        | '\u{00C0}'..='\u{00D6}' | '\u{00D8}'..='\u{00F6}' | '\u{00F8}'..='\u{024F}'
        // Space and the punctuation names are written with.
        | ' ' | '.' | '\'' | '-' | '\u{2010}' | '\u{2019}' | '=' | '\u{30A0}')
}

/// Normalises kana input (NFKC, hiragana folded to katakana) and requires katakana.
pub fn kana_name(field: &'static str, input: &str, max_chars: usize) -> DomainResult<String> {
    let s = person_name(field, input, max_chars)?;
    let folded: String = s
        .chars()
        .map(|c| match c {
            // Hiragana ぁ..ゖ map onto katakana ァ..ヶ at a fixed offset.
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace())
        .collect();
    let ok = folded
        .chars()
        .all(|c| matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | '・'));
    if !ok {
        return Err(DomainError::invalid(field, "error.kana.invalid"));
    }
    Ok(folded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn phone_accepts_the_usual_shapes() {
        for s in [
            "090-1234-5678",
            "09012345678",
            "+81 90 1234 5678",
            "+81-90-1234-5678",
            "０９０－１２３４－５６７８",
            "＋８１ ９０ １２３４ ５６７８",
            " 090 1234 5678 ",
            "+81 (0)90-1234-5678",
        ] {
            assert_eq!(
                Phone::parse("phone", s).unwrap().e164(),
                "+819012345678",
                "{s}"
            );
        }
        assert_eq!(
            Phone::parse("phone", "070-1111-2222").unwrap().e164(),
            "+817011112222"
        );
    }

    #[test]
    fn phone_rejects_what_cannot_get_sms() {
        for (s, key) in [
            ("", "error.phone.required"),
            ("03-1234-5678", "error.phone.not_mobile"),
            ("050-1234-5678", "error.phone.not_mobile"),
            ("090-1234-567", "error.phone.not_mobile"),
            ("090-1234-56789", "error.phone.not_mobile"),
            ("+1 415 555 0100", "error.phone.not_japanese"),
            ("090-abcd-5678", "error.phone.invalid"),
        ] {
            match Phone::parse("phone", s) {
                Err(DomainError::Invalid(es)) => assert_eq!(es[0].key, key, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn phone_display_and_mask() {
        let p = Phone::parse("phone", "09012345678").unwrap();
        assert_eq!(p.display_domestic(), "090-1234-5678");
        assert_eq!(p.masked(), "***-****-5678");
    }

    #[test]
    fn email_shapes() {
        assert_eq!(
            Email::parse("email", " Taro@Example.JP ").unwrap().as_str(),
            "Taro@example.jp"
        );
        assert_eq!(
            Email::parse("email", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ")
                .unwrap()
                .as_str(),
            "taro@example.jp"
        );
        for s in [
            "",
            "taro",
            "taro@",
            "@example.jp",
            "taro@example",
            "ta ro@example.jp",
            "taro@ex..jp",
        ] {
            assert!(Email::parse("email", s).is_err(), "{s}");
        }
    }

    #[test]
    fn kana_folds_hiragana_and_halfwidth() {
        assert_eq!(kana_name("k", "しんばし", 40).unwrap(), "シンバシ");
        assert_eq!(kana_name("k", "ｼﾝﾊﾞｼ", 40).unwrap(), "シンバシ");
        assert!(kana_name("k", "新橋", 40).is_err());
        assert!(person_name("n", "   ", 40).is_err());
        assert_eq!(
            day("d", "2026-11-20").unwrap(),
            jiff::civil::date(2026, 11, 20)
        );
        assert!(day("d", "9999-12-31").is_err());
        assert!(day("d", "1899-12-31").is_err());
        assert!(day("d", "2026-02-30").is_err());
        assert!(
            person_name("n", "山田\u{202E}太郎", 40).is_err(),
            "bidi override"
        );
        assert!(
            person_name("n", "山\u{200B}田", 40).is_err(),
            "zero-width space"
        );
        for ok in [
            "山田",
            "やまだ",
            "ヤマダ",
            "佐々木",
            "〆木",
            "Smith",
            "O'Brien",
            "Jean-Luc",
            "José",
            "ｱｲｳ",
            "山田 太郎",
            "アン・マリー",
            "𠮷田",
        ] {
            assert!(human_name("n", ok, 40).is_ok(), "{ok}");
        }
        for bad in [
            "山田😀",
            "<script>",
            "a&b",
            "山田1",
            "太郎\"",
            "\u{FEFF}山田",
            "名\u{2066}",
        ] {
            assert!(human_name("n", bad, 40).is_err(), "{bad}");
        }
        assert!(person_name("n", &"あ".repeat(41), 40).is_err());
    }
}
