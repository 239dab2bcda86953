//! 保険者番号 and the other numbers printed on an insurance card (記号・番号・枝番):
//! what a person may type, and how it is normalised.
//!
//! An insurer number is 8 digits, 法別番号(2), 都道府県番号(2), 保険者別番号(3)
//! and 検証番号(1), except 国民健康保険, which has no 法別番号 and so 6 digits.
//! The check digit is the Luhn calculation over the digits before it (DOMAIN §1).
//!
//! Typed input is validated with [`InsurerNumber::parse`]. Records that came
//! from an insurer are shown as sent (the operating manual itself shows
//! `019904`, whose check digit is wrong), so they go through
//! [`InsurerNumber::from_record`], which checks only the shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

use crate::FieldError;

/// 都道府県 by JIS X 0401 code (index 0 is `"01"` 北海道).
pub const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// The 都道府県 name for a two-digit code (`"13"` → 東京都).
pub fn prefecture_name(code: &str) -> Option<&'static str> {
    let n: usize = code.parse().ok()?;
    PREFECTURES.get(n.checked_sub(1)?).copied()
}

/// The insurance scheme a 法別番号 stands for (DOMAIN §1). Codes not listed
/// belong to 公費 programmes, which never appear as an insurer here.
pub fn law_name(law_code: &str) -> Option<&'static str> {
    Some(match law_code {
        "01" => "全国健康保険協会管掌健康保険",
        "02" => "船員保険",
        "03" => "日雇特例被保険者（一般療養）",
        "04" => "日雇特例被保険者（特別療養費）",
        "06" => "組合管掌健康保険",
        "07" => "自衛官等",
        "31" => "国家公務員共済組合",
        "32" => "地方公務員等共済組合",
        "33" => "警察共済組合",
        "34" => "公立学校共済組合・日本私立学校振興・共済事業団",
        "39" => "後期高齢者医療",
        "63" => "特定健康保険組合（特例退職）",
        "67" => "国民健康保険（退職者医療）",
        "72" => "国家公務員共済組合（特例退職）",
        "73" => "地方公務員等共済組合（特例退職）",
        "74" => "警察共済組合（特例退職）",
        "75" => "公立学校共済組合・日本私立学校振興・共済事業団（特例退職）",
        _ => return None,
    })
}

/// The 検証番号 for the digits before it: from the rightmost digit, weights
/// 2, 1, 2, 1…; two-digit products add their digits; the check digit is
/// 10 − (sum mod 10), or 0 when that is 10.
///
/// `body` must be ASCII digits; anything else counts as 0 (callers check
/// first, and a wrong digit then simply fails the comparison).
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0') % 10);
            let p = if i % 2 == 0 { d * 2 } else { d };
            p / 10 + p % 10
        })
        .sum();
    // `sum % 10` is below 10, so the result is a single digit.
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// A 保険者番号 of 6 (国保) or 8 digits.
///
/// Stored inline (no heap), so the generator can copy it freely.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsurerNumber {
    digits: [u8; 8],
    len: u8,
}

const FIELD: &str = "insurer_number";

impl InsurerNumber {
    /// Validate a number as typed: NFKC (full-width digits are fine),
    /// surrounding spaces ignored, 6 or 8 digits, correct check digit.
    pub fn parse(input: &str) -> Result<InsurerNumber, FieldError> {
        let number = Self::from_record(input)?;
        if !number.has_valid_check_digit() {
            return Err(FieldError::new(
                FIELD,
                "保険者番号が正しくありません。券面の保険者番号をもう一度確認してください。",
            ));
        }
        Ok(number)
    }

    /// Accept a number as an insurer sent it: same shape rules as
    /// [`parse`](Self::parse) but the check digit is not verified.
    pub fn from_record(input: &str) -> Result<InsurerNumber, FieldError> {
        let normalized: String = input.nfkc().collect();
        let trimmed = normalized.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(FIELD, "保険者番号を入力してください。"));
        }
        if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                FIELD,
                "保険者番号は数字のみで入力してください。",
            ));
        }
        let bytes = trimmed.as_bytes();
        if bytes.len() != 6 && bytes.len() != 8 {
            return Err(FieldError::new(
                FIELD,
                "保険者番号は6桁（国民健康保険）または8桁で入力してください。",
            ));
        }
        let mut digits = [b'0'; 8];
        digits[..bytes.len()].copy_from_slice(bytes);
        Ok(InsurerNumber {
            digits,
            len: if bytes.len() == 6 { 6 } else { 8 },
        })
    }

    /// Build a number from its body (5 or 7 digits) by appending the check
    /// digit. Used by the generator and by tests.
    pub fn from_body(body: &str) -> Result<InsurerNumber, FieldError> {
        let bytes = body.as_bytes();
        if (bytes.len() != 5 && bytes.len() != 7) || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(FieldError::new(
                FIELD,
                "保険者番号の本体は5桁または7桁の数字です。",
            ));
        }
        Ok(Self::with_check_digit(bytes))
    }

    /// [`from_body`](Self::from_body) for bodies built in code from digits
    /// (the generator, fixed examples): no error path. A body that is not 5
    /// or 7 digits is cut or zero-filled to 7, which callers never rely on.
    pub fn with_check_digit(body: &[u8]) -> InsurerNumber {
        let body_len = if body.len() == 5 { 5 } else { 7 };
        let mut digits = [b'0'; 8];
        for (slot, b) in digits.iter_mut().zip(body.iter().take(body_len)) {
            *slot = if b.is_ascii_digit() { *b } else { b'0' };
        }
        digits[body_len] = b'0' + check_digit(&digits[..body_len]);
        InsurerNumber {
            digits,
            len: if body_len == 5 { 6 } else { 8 },
        }
    }

    /// A number written in code as the insurer sent it (fixed examples),
    /// check digit not verified; non-digits become `0`. No error path.
    pub fn literal(s: &str) -> InsurerNumber {
        let len = if s.len() == 6 { 6 } else { 8 };
        let mut digits = [b'0'; 8];
        for (slot, b) in digits.iter_mut().zip(s.bytes().take(len)) {
            *slot = if b.is_ascii_digit() { b } else { b'0' };
        }
        InsurerNumber {
            digits,
            len: if len == 6 { 6 } else { 8 },
        }
    }

    /// The digits, 6 or 8 of them.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this cannot fail.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether this is a 6-digit 国民健康保険 number.
    pub fn is_kokuho(&self) -> bool {
        self.len == 6
    }

    /// Whether the last digit matches the check-digit calculation.
    pub fn has_valid_check_digit(&self) -> bool {
        let len = usize::from(self.len);
        self.digits[len - 1] == b'0' + check_digit(&self.digits[..len - 1])
    }

    /// The 8-character form for オンライン資格確認 requests. A 6-digit 国保
    /// number is left-padded with two **spaces** (`"  138016"`), following the
    /// one source we have (DOMAIN §1). Zero-padding would read as 法別番号
    /// `00`, which does not exist, so spaces are the safer guess; it is kept in
    /// this one function so it can be changed if the interface spec says
    /// otherwise.
    pub fn padded8(&self) -> String {
        format!("{:>8}", self.as_str())
    }

    /// The 法別番号 (first two digits of an 8-digit number); `None` for 国保.
    pub fn law_code(&self) -> Option<&str> {
        (self.len == 8).then(|| &self.as_str()[..2])
    }

    /// The scheme named by the 法別番号, or 国民健康保険 / 国民健康保険組合 for a
    /// 6-digit number (国保組合 have a 保険者別番号 starting with 3).
    pub fn scheme_name(&self) -> Option<&'static str> {
        match self.law_code() {
            Some(code) => law_name(code),
            None if self.digits[2] == b'3' => Some("国民健康保険組合"),
            None => Some("国民健康保険"),
        }
    }

    /// The 都道府県番号 (`"13"` for Tokyo).
    pub fn prefecture_code(&self) -> &str {
        let s = self.as_str();
        if self.len == 8 { &s[2..4] } else { &s[..2] }
    }

    /// The 都道府県 name for [`prefecture_code`](Self::prefecture_code).
    pub fn prefecture_name(&self) -> Option<&'static str> {
        prefecture_name(self.prefecture_code())
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InsurerNumber({})", self.as_str())
    }
}

impl FromStr for InsurerNumber {
    type Err = FieldError;

    /// Same as [`InsurerNumber::parse`] (check digit verified).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for InsurerNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InsurerNumber {
    /// Stored data is trusted to the same degree as an insurer's record:
    /// shape checked, check digit not.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        InsurerNumber::from_record(&s).map_err(serde::de::Error::custom)
    }
}

/// Maximum length of 記号 and of 番号 in bytes (レセ電 記録条件仕様).
pub const MAX_CARD_TEXT_BYTES: usize = 38;

/// Bytes `s` takes when recorded the way レセ電 records 記号 and 番号.
///
/// A value is recorded either in 英数 mode (all half-width, 1 byte each) or
/// in 漢字 mode (all full-width, 2 bytes each, as in Shift_JIS); the two
/// must not be mixed within one value. So once a value contains any
/// non-ASCII character, *every* character is recorded full-width and counts
/// 2 bytes: `札あ10` is `札あ１０`, 8 bytes.
pub fn card_text_bytes(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        2 * s.chars().count()
    }
}

/// The form in which `s` is recorded: unchanged in 英数 mode; in 漢字 mode
/// half-width ASCII is turned full-width so the value does not mix modes.
pub fn recording_form(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// NFKC, whitespace removed (people copy 記号 with spaces or not), and the
/// character checks shared by 記号 and 番号.
fn normalize_card_text(
    input: &str,
    field: &'static str,
    label: &str,
) -> Result<String, FieldError> {
    let value: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
    for c in value.chars() {
        let allowed = if c.is_ascii() {
            // 英数 mode: letters, digits and the hyphen some insurers print.
            c.is_ascii_alphanumeric() || c == '-'
        } else {
            // 漢字 mode: anything Shift_JIS can hold; approximate that as
            // non-control characters of the Basic Multilingual Plane.
            !c.is_control() && u32::from(c) <= 0xFFFF
        };
        if !allowed {
            return Err(FieldError::new(
                field,
                format!("{label}に使用できない文字「{c}」が含まれています。"),
            ));
        }
    }
    if card_text_bytes(&value) > MAX_CARD_TEXT_BYTES {
        return Err(FieldError::new(
            field,
            format!(
                "{label}が長すぎます。半角英数字のみなら38文字、漢字・かなを含む場合は全体で19文字以内で入力してください。"
            ),
        ));
    }
    Ok(value)
}

/// Validate a typed 記号 (optional: 後期高齢者 cards and some others have a
/// 番号 only). Returns the NFKC form without spaces, or `None` when empty.
/// See [`card_text_bytes`] for the length rule and how mixed input such as
/// `札あ10` is handled (accepted, recorded in 漢字 mode).
pub fn validate_symbol(input: &str) -> Result<Option<String>, FieldError> {
    let value = normalize_card_text(input, "symbol", "記号")?;
    Ok((!value.is_empty()).then_some(value))
}

/// Validate a typed 番号 (required). Same rules as [`validate_symbol`].
pub fn validate_number(input: &str) -> Result<String, FieldError> {
    let value = normalize_card_text(input, "number", "番号")?;
    if value.is_empty() {
        return Err(FieldError::new("number", "番号を入力してください。"));
    }
    Ok(value)
}

/// Validate a typed 枝番: after NFKC, one or two digits; one digit is
/// zero-padded (`1` → `01`). Empty means "not printed on the card" (older
/// cards, 後期高齢者) and gives `None`.
pub fn validate_branch(input: &str) -> Result<Option<String>, FieldError> {
    let value: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
    if value.is_empty() {
        return Ok(None);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 2 {
        return Err(FieldError::new(
            "branch",
            "枝番は2桁の数字で入力してください（例：01）。",
        ));
    }
    Ok(Some(format!("{value:0>2}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn worked_examples_from_domain() {
        assert_eq!(check_digit(b"3312001"), 5);
        assert_eq!(check_digit(b"13801"), 6);
        for valid in ["33120015", "138016", "06139000", "02199990"] {
            let n = InsurerNumber::parse(valid).unwrap();
            assert_eq!(n.as_str(), valid);
            assert!(n.has_valid_check_digit());
        }
        // Shown in the seed's screen, but its check digit should be 1.
        let err = InsurerNumber::parse("019904").unwrap_err();
        assert_eq!(err.field, "insurer_number");
        assert!(err.message.contains("確認"));
        let as_sent = InsurerNumber::from_record("019904").unwrap();
        assert!(!as_sent.has_valid_check_digit());
        assert_eq!(
            InsurerNumber::from_body("01990").unwrap().as_str(),
            "019901"
        );
    }

    #[test]
    fn shape_and_width() {
        assert_eq!(
            InsurerNumber::parse("０６１３９０００").unwrap().as_str(),
            "06139000"
        );
        assert_eq!(InsurerNumber::parse(" 138016 ").unwrap().as_str(), "138016");
        // The padded request form reads back as the same number.
        assert_eq!(InsurerNumber::parse("  138016").unwrap().as_str(), "138016");
        for (bad, fragment) in [
            ("", "入力"),
            ("1380", "6桁"),
            ("1380160", "6桁"),
            ("061390001", "6桁"),
            ("0613-9000", "数字"),
            ("abcdef", "数字"),
        ] {
            let err = InsurerNumber::parse(bad).unwrap_err();
            assert!(err.message.contains(fragment), "{bad}: {}", err.message);
        }
        assert!(InsurerNumber::from_body("123").is_err());
    }

    #[test]
    fn parts() {
        let n = InsurerNumber::parse("33120015").unwrap();
        assert_eq!(n.law_code(), Some("33"));
        assert_eq!(n.scheme_name(), Some("警察共済組合"));
        assert_eq!(n.prefecture_code(), "12");
        assert_eq!(n.prefecture_name(), Some("千葉県"));
        assert_eq!(n.padded8(), "33120015");
        assert!(!n.is_kokuho());

        let k = InsurerNumber::parse("138016").unwrap();
        assert_eq!(k.law_code(), None);
        assert_eq!(k.prefecture_code(), "13");
        assert_eq!(k.prefecture_name(), Some("東京都"));
        assert_eq!(k.padded8(), "  138016");
        assert_eq!(k.scheme_name(), Some("国民健康保険"));
        assert!(k.is_kokuho());
        let kumiai = InsurerNumber::from_body("13301").unwrap();
        assert_eq!(kumiai.scheme_name(), Some("国民健康保険組合"));

        assert_eq!(prefecture_name("47"), Some("沖縄県"));
        assert_eq!(prefecture_name("00"), None);
        assert_eq!(prefecture_name("48"), None);
    }

    #[test]
    fn serde_as_string() {
        let n = InsurerNumber::parse("06139000").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"06139000\"");
        let back: InsurerNumber = serde_json::from_str("\"019904\"").unwrap();
        assert_eq!(back.as_str(), "019904");
        assert!(serde_json::from_str::<InsurerNumber>("\"12\"").is_err());
        assert_eq!(format!("{n:?}"), "InsurerNumber(06139000)");
        assert_eq!("06139000".parse::<InsurerNumber>().unwrap(), n);
    }

    #[test]
    fn symbol_and_number() {
        assert_eq!(validate_symbol("").unwrap(), None);
        assert_eq!(validate_symbol("　").unwrap(), None);
        assert_eq!(
            validate_symbol("９０００").unwrap().as_deref(),
            Some("9000")
        );
        assert_eq!(
            validate_symbol("札あ10").unwrap().as_deref(),
            Some("札あ10")
        );
        assert_eq!(recording_form("札あ10"), "札あ１０");
        assert_eq!(recording_form("9000"), "9000");
        assert_eq!(card_text_bytes("札あ10"), 8);
        assert_eq!(card_text_bytes("9000"), 4);

        // 38 ASCII characters fit, 39 do not.
        let ascii38 = "1".repeat(38);
        assert!(validate_number(&ascii38).is_ok());
        assert!(validate_number(&"1".repeat(39)).is_err());
        // 19 kanji fit (38 bytes), 20 do not; one digit more pushes a
        // 19-character kanji value over because it is recorded full-width.
        assert!(validate_symbol(&"札".repeat(19)).is_ok());
        assert!(validate_symbol(&"札".repeat(20)).is_err());
        let mixed = format!("{}1", "札".repeat(18));
        assert!(validate_symbol(&mixed).is_ok());
        let mixed = format!("{}1", "札".repeat(19));
        let err = validate_symbol(&mixed).unwrap_err();
        assert_eq!(err.field, "symbol");
        assert!(err.message.contains("19文字"));

        assert_eq!(validate_number(" 10001 ").unwrap(), "10001");
        assert_eq!(validate_number("12 34").unwrap(), "1234");
        let err = validate_number("").unwrap_err();
        assert_eq!(err.field, "number");
        assert_eq!(err.message, "番号を入力してください。");
        assert!(
            validate_number("12/34")
                .unwrap_err()
                .message
                .contains("「/」")
        );
        assert!(validate_symbol("a\u{7}").is_err());
    }

    #[test]
    fn branch() {
        assert_eq!(validate_branch("").unwrap(), None);
        assert_eq!(validate_branch("1").unwrap().as_deref(), Some("01"));
        assert_eq!(validate_branch("０１").unwrap().as_deref(), Some("01"));
        assert_eq!(validate_branch("12").unwrap().as_deref(), Some("12"));
        for bad in ["123", "a1", "-1"] {
            let err = validate_branch(bad).unwrap_err();
            assert_eq!(err.field, "branch");
        }
    }
}
