//! Normalisation of Japanese names and their kana readings, so that a name
//! typed by a patient can be compared with the one returned by the
//! eligibility check (オンライン資格確認), which carries the reading as
//! half-width katakana.
//!
//! Comparison forms ([`normalize_name`], [`normalize_kana`]) drop all
//! whitespace because people separate family and given names
//! inconsistently (half-width space, 全角スペース, none).

use unicode_normalization::UnicodeNormalization;

/// Name for comparison: NFKC (full-width ASCII → ASCII, half-width kana →
/// full-width) with every whitespace character removed, including the
/// ideographic space U+3000. `新橋　太郎` and `新橋太郎` become equal.
pub fn normalize_name(s: &str) -> String {
    s.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// Kana reading for comparison: NFKC (so `ｼﾝﾊﾞｼ` becomes `シンバシ`),
/// hiragana turned into katakana, whitespace removed.
pub fn normalize_kana(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace())
        .map(hiragana_to_katakana)
        .collect()
}

/// Convert to half-width katakana as used in the eligibility XML: full-width
/// katakana (and hiragana) become half-width, voiced kana are split into base
/// plus `ﾞ`/`ﾟ` (`ガ` → `ｶﾞ`, `パ` → `ﾊﾟ`), `ー` → `ｰ`, the ideographic space
/// becomes an ASCII space and full-width ASCII becomes ASCII. Kana with no
/// half-width form fall back to the nearest one (`ヵ` → `ｶ`, `ヰ` → `ｲ`);
/// anything else is left unchanged.
pub fn to_halfwidth_kana(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // NFC first so input with separate combining marks (カ + U+3099) is
    // handled the same as precomposed ガ. NFKC is not used here because it
    // would turn a standalone ゛ into a space plus a combining mark.
    for c in s.nfc().map(hiragana_to_katakana) {
        match c {
            '\u{3000}' => out.push(' '),
            '\u{FF01}'..='\u{FF5E}' => {
                // Full-width ASCII block is a fixed offset from ASCII.
                out.push(char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c));
            }
            _ if is_fullwidth_katakana(c) => {
                // Decompose only this character: ガ → カ + U+3099.
                for part in std::iter::once(c).nfd() {
                    out.push(halfwidth_char(part).unwrap_or(part));
                }
            }
            _ => out.push(halfwidth_char(c).unwrap_or(c)),
        }
    }
    out
}

/// Whether `s` is a katakana reading: at least one katakana character and
/// nothing but katakana (full- or half-width, including `ー`, `・` and the
/// sound marks) and whitespace, so `シンバシ タロウ` qualifies.
pub fn is_katakana(s: &str) -> bool {
    let mut any = false;
    for c in s.chars() {
        if c.is_whitespace() {
            continue;
        }
        if !(is_fullwidth_katakana(c) || is_halfwidth_katakana(c)) {
            return false;
        }
        any = true;
    }
    any
}

/// Hiragana → katakana by the fixed offset between the two Unicode blocks.
fn hiragana_to_katakana(c: char) -> char {
    match c {
        // ぁ..ゖ and the iteration marks ゝゞ.
        '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => {
            char::from_u32(u32::from(c) + 0x60).unwrap_or(c)
        }
        _ => c,
    }
}

/// Katakana block letters, `・`, `ー`, iteration marks, and the (combining
/// and spacing) sound marks.
fn is_fullwidth_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FE}' | '\u{3099}'..='\u{309C}')
}

/// Half-width katakana block (｡ and the brackets excluded): ･ through ﾟ.
fn is_halfwidth_katakana(c: char) -> bool {
    matches!(c, '\u{FF65}'..='\u{FF9F}')
}

/// Half-width form of an undecomposed full-width kana or punctuation mark.
fn halfwidth_char(c: char) -> Option<char> {
    HALFWIDTH
        .iter()
        .find_map(|&(full, half)| (full == c).then_some(half))
}

/// Full-width → half-width pairs. Voiced kana are not listed: they are
/// decomposed first and their marks map through the U+3099/U+309A entries.
const HALFWIDTH: &[(char, char)] = &[
    ('ア', 'ｱ'),
    ('イ', 'ｲ'),
    ('ウ', 'ｳ'),
    ('エ', 'ｴ'),
    ('オ', 'ｵ'),
    ('カ', 'ｶ'),
    ('キ', 'ｷ'),
    ('ク', 'ｸ'),
    ('ケ', 'ｹ'),
    ('コ', 'ｺ'),
    ('サ', 'ｻ'),
    ('シ', 'ｼ'),
    ('ス', 'ｽ'),
    ('セ', 'ｾ'),
    ('ソ', 'ｿ'),
    ('タ', 'ﾀ'),
    ('チ', 'ﾁ'),
    ('ツ', 'ﾂ'),
    ('テ', 'ﾃ'),
    ('ト', 'ﾄ'),
    ('ナ', 'ﾅ'),
    ('ニ', 'ﾆ'),
    ('ヌ', 'ﾇ'),
    ('ネ', 'ﾈ'),
    ('ノ', 'ﾉ'),
    ('ハ', 'ﾊ'),
    ('ヒ', 'ﾋ'),
    ('フ', 'ﾌ'),
    ('ヘ', 'ﾍ'),
    ('ホ', 'ﾎ'),
    ('マ', 'ﾏ'),
    ('ミ', 'ﾐ'),
    ('ム', 'ﾑ'),
    ('メ', 'ﾒ'),
    ('モ', 'ﾓ'),
    ('ヤ', 'ﾔ'),
    ('ユ', 'ﾕ'),
    ('ヨ', 'ﾖ'),
    ('ラ', 'ﾗ'),
    ('リ', 'ﾘ'),
    ('ル', 'ﾙ'),
    ('レ', 'ﾚ'),
    ('ロ', 'ﾛ'),
    ('ワ', 'ﾜ'),
    ('ヲ', 'ｦ'),
    ('ン', 'ﾝ'),
    ('ァ', 'ｧ'),
    ('ィ', 'ｨ'),
    ('ゥ', 'ｩ'),
    ('ェ', 'ｪ'),
    ('ォ', 'ｫ'),
    ('ッ', 'ｯ'),
    ('ャ', 'ｬ'),
    ('ュ', 'ｭ'),
    ('ョ', 'ｮ'),
    // No half-width forms exist for these; use the nearest letter.
    ('ヮ', 'ﾜ'),
    ('ヵ', 'ｶ'),
    ('ヶ', 'ｹ'),
    ('ヰ', 'ｲ'),
    ('ヱ', 'ｴ'),
    ('ー', 'ｰ'),
    ('・', '･'),
    ('。', '｡'),
    ('「', '｢'),
    ('」', '｣'),
    ('、', '､'),
    ('\u{3099}', 'ﾞ'),
    ('\u{309A}', 'ﾟ'),
    ('゛', 'ﾞ'),
    ('゜', 'ﾟ'),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_whitespace_and_width() {
        assert_eq!(normalize_name("新橋　太郎"), normalize_name("新橋太郎"));
        assert_eq!(normalize_name(" 新橋 太郎\t"), "新橋太郎");
        assert_eq!(normalize_name("ＪＯＨＮ　ＳＭＩＴＨ"), "JOHNSMITH");
        assert_eq!(normalize_name("ｼﾝﾊﾞｼ"), "シンバシ");
    }

    #[test]
    fn kana_comparison_form() {
        assert_eq!(normalize_kana("ｼﾝﾊﾞｼ ﾀﾛｳ"), "シンバシタロウ");
        assert_eq!(normalize_kana("しんばし　たろう"), "シンバシタロウ");
        assert_eq!(normalize_kana("シンバシ　タロウ"), "シンバシタロウ");
        assert_eq!(normalize_kana("ﾊﾟｰﾙ"), "パール");
        assert_eq!(normalize_kana("ゔぁ"), "ヴァ");
        assert_eq!(normalize_kana("いすゞ"), "イスヾ");
    }

    #[test]
    fn halfwidth_conversion() {
        assert_eq!(to_halfwidth_kana("シンバシ　タロウ"), "ｼﾝﾊﾞｼ ﾀﾛｳ");
        assert_eq!(to_halfwidth_kana("ガ"), "ｶﾞ");
        assert_eq!(to_halfwidth_kana("パ"), "ﾊﾟ");
        assert_eq!(to_halfwidth_kana("ー"), "ｰ");
        assert_eq!(to_halfwidth_kana("ヴィクトリア"), "ｳﾞｨｸﾄﾘｱ");
        assert_eq!(to_halfwidth_kana("ジョン・スミス"), "ｼﾞｮﾝ･ｽﾐｽ");
        assert_eq!(to_halfwidth_kana("きょうこ"), "ｷｮｳｺ");
        assert_eq!(to_halfwidth_kana("カ\u{3099}"), "ｶﾞ");
        assert_eq!(to_halfwidth_kana("ｼﾝﾊﾞｼ"), "ｼﾝﾊﾞｼ");
        assert_eq!(to_halfwidth_kana("ＡＢＣ１２３"), "ABC123");
        assert_eq!(to_halfwidth_kana("ヶ"), "ｹ");
        // Non-kana text is left alone.
        assert_eq!(to_halfwidth_kana("山田"), "山田");
        // Round trip through the comparison form.
        let kana = "ダイバ パーク";
        assert_eq!(
            normalize_kana(&to_halfwidth_kana(kana)),
            normalize_kana(kana)
        );
    }

    #[test]
    fn katakana_detection() {
        assert!(is_katakana("シンバシ"));
        assert!(is_katakana("シンバシ　タロウ"));
        assert!(is_katakana("ｼﾝﾊﾞｼ ﾀﾛｳ"));
        assert!(is_katakana("ジョン・スミス"));
        assert!(is_katakana("パール"));
        assert!(!is_katakana("しんばし"));
        assert!(!is_katakana("新橋"));
        assert!(!is_katakana("シンバシ1"));
        assert!(!is_katakana(""));
        assert!(!is_katakana("　"));
    }
}
