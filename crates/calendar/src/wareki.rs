//! Japanese era dates (和暦): conversion between Gregorian dates and
//! 明治/大正/昭和/平成/令和 dates, formatting (`昭和29年3月26日`,
//! `S29.03.26`) and a forgiving parser for what patients and staff type into
//! forms (birth dates on insurance cards are usually written in 和暦).
//!
//! Japan switched to the Gregorian calendar on 明治6年1月1日 = 1873-01-01.
//! Before that 明治 dates were lunisolar, so for 1868-01-25 (明治元年1月1日 in
//! the old calendar) to 1872-12-31 this module uses a proleptic mapping
//! (明治 year = Gregorian year − 1867, Gregorian month and day) that is
//! self-consistent but not the historical lunisolar date. Dates before
//! 1868-01-25 have no era here.

use std::fmt;

use jiff::civil::{Date, date};
use unicode_normalization::UnicodeNormalization;

/// A modern Japanese era (元号).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Era {
    /// 明治 (M, code 1)
    Meiji,
    /// 大正 (T, code 2)
    Taisho,
    /// 昭和 (S, code 3)
    Showa,
    /// 平成 (H, code 4)
    Heisei,
    /// 令和 (R, code 5)
    Reiwa,
}

impl Era {
    /// All eras, oldest first.
    pub const ALL: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

    /// The era name in kanji, e.g. `"昭和"`.
    pub const fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The one-letter abbreviation used on forms, e.g. `'S'`.
    pub const fn letter(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The numeric era code used by insurance systems (明治 = 1 … 令和 = 5).
    pub const fn code(self) -> u8 {
        match self {
            Era::Meiji => 1,
            Era::Taisho => 2,
            Era::Showa => 3,
            Era::Heisei => 4,
            Era::Reiwa => 5,
        }
    }

    /// First day of the era (元年 day one in Gregorian terms).
    pub const fn start(self) -> Date {
        match self {
            Era::Meiji => date(1868, 1, 25),
            Era::Taisho => date(1912, 7, 30),
            Era::Showa => date(1926, 12, 25),
            Era::Heisei => date(1989, 1, 8),
            Era::Reiwa => date(2019, 5, 1),
        }
    }

    /// Last day of the era, or `None` for the current era.
    pub const fn end(self) -> Option<Date> {
        match self {
            Era::Meiji => Some(date(1912, 7, 29)),
            Era::Taisho => Some(date(1926, 12, 24)),
            Era::Showa => Some(date(1989, 1, 7)),
            Era::Heisei => Some(date(2019, 4, 30)),
            Era::Reiwa => None,
        }
    }

    /// Last year number of the era (平成 → 31), or `None` for the current era.
    pub const fn max_year(self) -> Option<u16> {
        match self {
            Era::Meiji => Some(45),
            Era::Taisho => Some(15),
            Era::Showa => Some(64),
            Era::Heisei => Some(31),
            Era::Reiwa => None,
        }
    }

    /// The era with the given numeric code (1..=5).
    pub fn from_code(code: u8) -> Option<Era> {
        Era::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The era with the given letter, case-insensitive.
    pub fn from_letter(letter: char) -> Option<Era> {
        let upper = letter.to_ascii_uppercase();
        Era::ALL.into_iter().find(|e| e.letter() == upper)
    }

    /// The era abbreviated by one kanji (明, 大, 昭, 平, 令), as on some forms.
    fn from_kanji_abbreviation(c: char) -> Option<Era> {
        Era::ALL.into_iter().find(|e| e.name().starts_with(c))
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A date expressed in a Japanese era. `year` 1 is 元年.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WarekiDate {
    /// The era.
    pub era: Era,
    /// Year within the era, starting at 1 (元年).
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=31.
    pub day: u8,
}

impl WarekiDate {
    /// Short form used on forms and in CSV exports: `S29.03.26`,
    /// `H01.01.08` (year, month and day zero-padded to two digits).
    pub fn format_year_month_day_short(&self) -> String {
        format!(
            "{}{:02}.{:02}.{:02}",
            self.era.letter(),
            self.year,
            self.month,
            self.day
        )
    }

    /// The Gregorian date, validated the same way as [`from_wareki`].
    pub fn to_date(&self) -> Result<Date, WarekiError> {
        from_wareki(self.era, self.year, self.month, self.day)
    }
}

impl WarekiDate {
    /// `29年3月26日` / `元年1月8日`: the date without the era name, shared by
    /// `Display` and the error messages.
    fn without_era(&self) -> String {
        let year = if self.year == 1 {
            "元".to_string()
        } else {
            self.year.to_string()
        };
        format!("{year}年{}月{}日", self.month, self.day)
    }
}

impl fmt::Display for WarekiDate {
    /// `昭和29年3月26日`; year 1 is written `元年` (`平成元年1月8日`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.era.name(), self.without_era())
    }
}

/// Why a 和暦 date could not be converted or parsed. The `Display` text is
/// Japanese so it can be shown to the person filling in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarekiError {
    /// The input was empty (or only whitespace).
    Empty,
    /// The input is not in any accepted date format.
    Unrecognised,
    /// The era prefix is not one of 明治/大正/昭和/平成/令和 (M/T/S/H/R).
    UnknownEra(String),
    /// The year is past the era's last year (e.g. 平成32年).
    YearOutOfEra {
        /// The era given.
        era: Era,
        /// Its last year (平成 → 31).
        max_year: u16,
    },
    /// The date is before the era began (e.g. 昭和元年12月24日).
    BeforeEraStart {
        /// The era given.
        era: Era,
    },
    /// The date is in the era's last year but after it ended
    /// (e.g. 昭和64年1月8日).
    AfterEraEnd {
        /// The era given.
        era: Era,
    },
    /// No such calendar date (2月30日, 13月, year 0, …).
    InvalidDate,
}

impl fmt::Display for WarekiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarekiError::Empty => f.write_str("日付が入力されていません"),
            WarekiError::Unrecognised => f.write_str("日付の形式が認識できません"),
            WarekiError::UnknownEra(s) => write!(f, "元号「{s}」は使用できません"),
            WarekiError::YearOutOfEra { era, max_year } => {
                write!(f, "{era}は{max_year}年までです")
            }
            WarekiError::BeforeEraStart { era } => match to_wareki(era.start()) {
                Some(w) => write!(f, "{era}は{}からです", w.without_era()),
                None => write!(f, "{era}の開始日より前の日付です"),
            },
            WarekiError::AfterEraEnd { era } => match era.end().and_then(to_wareki) {
                Some(w) => write!(f, "{era}は{}までです", w.without_era()),
                None => write!(f, "{era}の終了日より後の日付です"),
            },
            WarekiError::InvalidDate => f.write_str("日付が正しくありません"),
        }
    }
}

impl std::error::Error for WarekiError {}

/// `date` as people read it on Japanese forms: 和暦 (`昭和29年3月26日`), or the
/// Western date for days before the eras.
pub fn display(date: Date) -> String {
    to_wareki(date).map_or_else(|| date.to_string(), |w| w.to_string())
}

/// The 和暦 form of `date`, or `None` before 1868-01-25 (see the module
/// docs for 1868–1872).
pub fn to_wareki(date: Date) -> Option<WarekiDate> {
    let era = Era::ALL.into_iter().rev().find(|era| date >= era.start())?;
    let year = u16::try_from(date.year() - era.start().year() + 1).ok()?;
    Some(WarekiDate {
        era,
        year,
        month: u8::try_from(date.month()).ok()?,
        day: u8::try_from(date.day()).ok()?,
    })
}

/// The Gregorian date of `era` `year`年`month`月`day`日 (year 1 = 元年).
///
/// Rejects year 0 and impossible dates ([`WarekiError::InvalidDate`]), years
/// past the era ([`WarekiError::YearOutOfEra`]), and days of the first or
/// last year outside the era ([`WarekiError::BeforeEraStart`],
/// [`WarekiError::AfterEraEnd`]).
pub fn from_wareki(era: Era, year: u16, month: u8, day: u8) -> Result<Date, WarekiError> {
    if year == 0 {
        return Err(WarekiError::InvalidDate);
    }
    if let Some(max_year) = era.max_year()
        && year > max_year
    {
        return Err(WarekiError::YearOutOfEra { era, max_year });
    }
    let gregorian_year = i32::from(era.start().year()) + i32::from(year) - 1;
    let gregorian_year = i16::try_from(gregorian_year).map_err(|_| WarekiError::InvalidDate)?;
    let month = i8::try_from(month).map_err(|_| WarekiError::InvalidDate)?;
    let day = i8::try_from(day).map_err(|_| WarekiError::InvalidDate)?;
    let date = Date::new(gregorian_year, month, day).map_err(|_| WarekiError::InvalidDate)?;
    if date < era.start() {
        return Err(WarekiError::BeforeEraStart { era });
    }
    if let Some(end) = era.end()
        && date > end
    {
        return Err(WarekiError::AfterEraEnd { era });
    }
    Ok(date)
}

/// Parse an era written as kanji (`昭和`, or the abbreviation `昭`), a
/// letter (`S`/`s`), or a numeric code (`3`). NFKC is applied first, so
/// full-width letters and the ligature `㍼` work too.
pub fn parse_era(s: &str) -> Result<Era, WarekiError> {
    let normalized: String = s.nfkc().filter(|c| !c.is_whitespace()).collect();
    if normalized.is_empty() {
        return Err(WarekiError::Empty);
    }
    if let Some(era) = Era::ALL.into_iter().find(|e| e.name() == normalized) {
        return Ok(era);
    }
    let mut chars = normalized.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let by_char = Era::from_letter(c)
            .or_else(|| Era::from_kanji_abbreviation(c))
            .or_else(|| {
                c.to_digit(10)
                    .and_then(|d| u8::try_from(d).ok())
                    .and_then(Era::from_code)
            });
        if let Some(era) = by_char {
            return Ok(era);
        }
    }
    Err(WarekiError::UnknownEra(normalized))
}

/// Parse a date as typed into a form, in 和暦 or Western notation.
///
/// The input is NFKC-normalised (full-width digits and letters become
/// ASCII) and all whitespace is removed. Accepted shapes:
///
/// - era + year + month + day: `S29.3.26`, `S29/03/26`, `S29-3-26`,
///   `s29.3.26`, `昭29.3.26`, `昭和29年3月26日`, `昭和元年12月30日`, `H元.1.8`;
/// - the same without an era (`29年3月26日`, `29.3.26`) when `default_era`
///   is given (the eligibility form defaults to 昭和);
/// - Western: `1954-03-26`, `1954/3/26`, `1954.3.26`, `19540326`,
///   `1954年3月26日`.
///
/// Separators must be used consistently (`.`, `/`, `-` throughout, or
/// `年`/`月` with an optional trailing `日`).
pub fn parse_date(input: &str, default_era: Option<Era>) -> Result<Date, WarekiError> {
    let normalized: String = input
        .nfkc()
        .filter(|c| !c.is_whitespace())
        .map(normalize_dash)
        .collect();
    if normalized.is_empty() {
        return Err(WarekiError::Empty);
    }
    let (era, rest) = split_era(&normalized)?;

    // Compact YYYYMMDD (as printed by many systems).
    if era.is_none() && rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit()) {
        let (y, md) = rest.split_at(4);
        let (m, d) = md.split_at(2);
        return western(digits(y), digits(m), digits(d));
    }

    let fields = split_fields(rest).ok_or(WarekiError::Unrecognised)?;
    if let YearToken::Number { value, width: 4 } = fields.year {
        // A four-digit year is Western; an era followed by one is a typo we
        // should not guess at.
        if era.is_some() {
            return Err(WarekiError::Unrecognised);
        }
        return western(Some(value), Some(fields.month), Some(fields.day));
    }
    let era = era.or(default_era).ok_or(WarekiError::Unrecognised)?;
    let year = match fields.year {
        YearToken::Gan => 1,
        YearToken::Number { value, .. } => {
            u16::try_from(value).map_err(|_| WarekiError::InvalidDate)?
        }
    };
    let month = u8::try_from(fields.month).map_err(|_| WarekiError::InvalidDate)?;
    let day = u8::try_from(fields.day).map_err(|_| WarekiError::InvalidDate)?;
    from_wareki(era, year, month, day)
}

/// Dashes people type instead of `-` (NFKC leaves most of them alone; the
/// long-vowel mark appears when typing with a Japanese IME).
fn normalize_dash(c: char) -> char {
    match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}' => '-',
        other => other,
    }
}

fn digits(s: &str) -> Option<u32> {
    s.parse().ok()
}

fn western(year: Option<u32>, month: Option<u32>, day: Option<u32>) -> Result<Date, WarekiError> {
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return Err(WarekiError::Unrecognised);
    };
    let year = i16::try_from(year).map_err(|_| WarekiError::InvalidDate)?;
    let month = i8::try_from(month).map_err(|_| WarekiError::InvalidDate)?;
    let day = i8::try_from(day).map_err(|_| WarekiError::InvalidDate)?;
    Date::new(year, month, day).map_err(|_| WarekiError::InvalidDate)
}

/// Split a leading era marker off `s`. An alphabetic prefix that is not an
/// era (e.g. `慶応`, `X`) is reported as [`WarekiError::UnknownEra`] rather
/// than as an unrecognised format, since that is the more useful message.
fn split_era(s: &str) -> Result<(Option<Era>, &str), WarekiError> {
    for era in Era::ALL {
        if let Some(rest) = s.strip_prefix(era.name()) {
            return Ok((Some(era), rest));
        }
    }
    let Some(first) = s.chars().next() else {
        return Ok((None, s));
    };
    let rest = &s[first.len_utf8()..];
    if let Some(era) = Era::from_kanji_abbreviation(first) {
        return Ok((Some(era), rest));
    }
    if first.is_ascii_alphabetic() {
        return match Era::from_letter(first) {
            Some(era) => Ok((Some(era), rest)),
            None => Err(WarekiError::UnknownEra(first.to_string())),
        };
    }
    if first.is_alphabetic() && first != '元' {
        let prefix: String = s
            .chars()
            .take_while(|c| !c.is_ascii_digit() && *c != '元')
            .collect();
        return Err(WarekiError::UnknownEra(prefix));
    }
    Ok((None, s))
}

#[derive(Debug, Clone, Copy)]
enum YearToken {
    /// 元 (year 1 of an era).
    Gan,
    /// A number and how many digits it was written with (4 digits means a
    /// Western year).
    Number { value: u32, width: usize },
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    year: YearToken,
    month: u32,
    day: u32,
}

/// Parse `Y<sep>M<sep>D` with `<sep>` one of `.`, `/`, `-` used twice, or
/// `Y年M月D[日]`.
fn split_fields(s: &str) -> Option<Fields> {
    let (year, rest) = if let Some(rest) = s.strip_prefix('元') {
        (YearToken::Gan, rest)
    } else {
        let (value, width, rest) = take_number(s, 4)?;
        (YearToken::Number { value, width }, rest)
    };
    let mut chars = rest.chars();
    let sep = chars.next()?;
    let second_sep = match sep {
        '.' | '/' | '-' => sep,
        '年' => '月',
        _ => return None,
    };
    let (month, _, rest) = take_number(chars.as_str(), 2)?;
    let rest = rest.strip_prefix(second_sep)?;
    let (day, _, rest) = take_number(rest, 2)?;
    let rest = if sep == '年' {
        rest.strip_prefix('日').unwrap_or(rest)
    } else {
        rest
    };
    rest.is_empty().then_some(Fields { year, month, day })
}

/// Leading ASCII digits of `s` (1 to `max_width` of them): value, width, rest.
fn take_number(s: &str, max_width: usize) -> Option<(u32, usize, &str)> {
    let width = s.bytes().take_while(u8::is_ascii_digit).count();
    if width == 0 || width > max_width {
        return None;
    }
    let (num, rest) = s.split_at(width);
    Some((num.parse().ok()?, width, rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn w(era: Era, year: u16, month: u8, day: u8) -> WarekiDate {
        WarekiDate {
            era,
            year,
            month,
            day,
        }
    }

    #[test]
    fn era_metadata() {
        let letters: String = Era::ALL.iter().map(|e| e.letter()).collect();
        assert_eq!(letters, "MTSHR");
        let codes: Vec<u8> = Era::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5]);
        assert_eq!(Era::Showa.name(), "昭和");
        assert_eq!(Era::Reiwa.start(), d("2019-05-01"));
        for pair in Era::ALL.windows(2) {
            // Each era ends the day before the next begins.
            assert_eq!(pair[0].end().unwrap().tomorrow().unwrap(), pair[1].start());
            // And its last year is the one containing that end.
            assert_eq!(
                to_wareki(pair[0].end().unwrap()).unwrap().year,
                pair[0].max_year().unwrap()
            );
        }
        assert_eq!(Era::from_code(3), Some(Era::Showa));
        assert_eq!(Era::from_code(6), None);
        assert_eq!(Era::from_letter('h'), Some(Era::Heisei));
    }

    #[test]
    fn boundaries_both_ways() {
        let cases = [
            ("1989-01-07", w(Era::Showa, 64, 1, 7), "昭和64年1月7日"),
            ("1989-01-08", w(Era::Heisei, 1, 1, 8), "平成元年1月8日"),
            ("2019-04-30", w(Era::Heisei, 31, 4, 30), "平成31年4月30日"),
            ("2019-05-01", w(Era::Reiwa, 1, 5, 1), "令和元年5月1日"),
            ("1926-12-24", w(Era::Taisho, 15, 12, 24), "大正15年12月24日"),
            ("1926-12-25", w(Era::Showa, 1, 12, 25), "昭和元年12月25日"),
            ("1912-07-29", w(Era::Meiji, 45, 7, 29), "明治45年7月29日"),
            ("1912-07-30", w(Era::Taisho, 1, 7, 30), "大正元年7月30日"),
            ("1873-01-01", w(Era::Meiji, 6, 1, 1), "明治6年1月1日"),
            ("1954-03-26", w(Era::Showa, 29, 3, 26), "昭和29年3月26日"),
        ];
        for (greg, wareki, text) in cases {
            assert_eq!(to_wareki(d(greg)), Some(wareki), "{greg}");
            assert_eq!(
                from_wareki(wareki.era, wareki.year, wareki.month, wareki.day),
                Ok(d(greg)),
                "{text}"
            );
            assert_eq!(wareki.to_string(), text);
            assert_eq!(parse_date(text, None), Ok(d(greg)), "{text}");
        }
    }

    #[test]
    fn before_meiji_has_no_era() {
        assert_eq!(to_wareki(d("1868-01-24")), None);
        assert_eq!(to_wareki(d("1868-01-25")), Some(w(Era::Meiji, 1, 1, 25)));
        assert_eq!(
            from_wareki(Era::Meiji, 1, 1, 24),
            Err(WarekiError::BeforeEraStart { era: Era::Meiji })
        );
    }

    #[test]
    fn rejects_out_of_era_and_impossible_dates() {
        assert_eq!(
            from_wareki(Era::Heisei, 32, 1, 1),
            Err(WarekiError::YearOutOfEra {
                era: Era::Heisei,
                max_year: 31
            })
        );
        assert_eq!(
            from_wareki(Era::Showa, 64, 1, 8),
            Err(WarekiError::AfterEraEnd { era: Era::Showa })
        );
        assert_eq!(
            from_wareki(Era::Heisei, 1, 1, 7),
            Err(WarekiError::BeforeEraStart { era: Era::Heisei })
        );
        assert_eq!(
            from_wareki(Era::Reiwa, 1, 4, 30),
            Err(WarekiError::BeforeEraStart { era: Era::Reiwa })
        );
        assert_eq!(
            from_wareki(Era::Showa, 1, 12, 24),
            Err(WarekiError::BeforeEraStart { era: Era::Showa })
        );
        assert_eq!(
            from_wareki(Era::Showa, 29, 2, 30),
            Err(WarekiError::InvalidDate)
        );
        assert_eq!(
            from_wareki(Era::Showa, 29, 13, 1),
            Err(WarekiError::InvalidDate)
        );
        assert_eq!(
            from_wareki(Era::Showa, 0, 1, 1),
            Err(WarekiError::InvalidDate)
        );
        assert_eq!(
            from_wareki(Era::Reiwa, 20000, 1, 1),
            Err(WarekiError::InvalidDate)
        );
        // Leap day only in leap years.
        assert_eq!(from_wareki(Era::Reiwa, 2, 2, 29), Ok(d("2020-02-29")));
        assert_eq!(
            from_wareki(Era::Reiwa, 3, 2, 29),
            Err(WarekiError::InvalidDate)
        );

        // The same through the parser.
        for (text, err) in [
            (
                "平成32年1月1日",
                WarekiError::YearOutOfEra {
                    era: Era::Heisei,
                    max_year: 31,
                },
            ),
            (
                "昭和64年1月8日",
                WarekiError::AfterEraEnd { era: Era::Showa },
            ),
            (
                "平成元年1月7日",
                WarekiError::BeforeEraStart { era: Era::Heisei },
            ),
            (
                "令和元年4月30日",
                WarekiError::BeforeEraStart { era: Era::Reiwa },
            ),
            ("昭和29年2月30日", WarekiError::InvalidDate),
            ("昭和29年13月1日", WarekiError::InvalidDate),
            ("S0.1.1", WarekiError::InvalidDate),
            ("1954-02-30", WarekiError::InvalidDate),
            ("19541301", WarekiError::InvalidDate),
        ] {
            assert_eq!(parse_date(text, None), Err(err), "{text}");
        }
    }

    #[test]
    fn error_messages_are_japanese() {
        let msg = |e: WarekiError| e.to_string();
        assert_eq!(
            msg(WarekiError::YearOutOfEra {
                era: Era::Heisei,
                max_year: 31
            }),
            "平成は31年までです"
        );
        assert_eq!(msg(WarekiError::InvalidDate), "日付が正しくありません");
        assert_eq!(
            msg(WarekiError::BeforeEraStart { era: Era::Showa }),
            "昭和は元年12月25日からです"
        );
        assert_eq!(
            msg(WarekiError::AfterEraEnd { era: Era::Showa }),
            "昭和は64年1月7日までです"
        );
        assert_eq!(msg(WarekiError::Empty), "日付が入力されていません");
        let boxed: Box<dyn std::error::Error> = Box::new(WarekiError::Unrecognised);
        assert!(!boxed.to_string().is_empty());
    }

    #[test]
    fn short_format() {
        assert_eq!(
            w(Era::Showa, 29, 3, 26).format_year_month_day_short(),
            "S29.03.26"
        );
        assert_eq!(
            w(Era::Heisei, 1, 1, 8).format_year_month_day_short(),
            "H01.01.08"
        );
    }

    #[test]
    fn parses_accepted_forms() {
        let showa = d("1954-03-26");
        for text in [
            "S29.3.26",
            "S29/03/26",
            "S29-3-26",
            "s29.3.26",
            "S 29.3.26",
            "  S29.3.26  ",
            "Ｓ２９．３．２６",
            "ｓ２９／３／２６",
            "S29ー3ー26",
            "昭29.3.26",
            "昭和29年3月26日",
            "昭和29年3月26",
            "昭和 29 年 3 月 26 日",
            "昭和２９年３月２６日",
            "㍼29年3月26日",
            "1954-03-26",
            "1954/3/26",
            "1954.3.26",
            "19540326",
            "１９５４０３２６",
            "1954年3月26日",
        ] {
            assert_eq!(parse_date(text, None), Ok(showa), "{text}");
            assert_eq!(parse_date(text, Some(Era::Showa)), Ok(showa), "{text}");
        }
        for text in ["29年3月26日", "29.3.26", "29/3/26", "２９．３．２６"] {
            assert_eq!(parse_date(text, Some(Era::Showa)), Ok(showa), "{text}");
            assert_eq!(
                parse_date(text, None),
                Err(WarekiError::Unrecognised),
                "{text}"
            );
        }
        // An explicit era wins over the default.
        assert_eq!(parse_date("H1.1.8", Some(Era::Showa)), Ok(d("1989-01-08")));
        assert_eq!(parse_date("昭和元年12月30日", None), Ok(d("1926-12-30")));
        assert_eq!(parse_date("H元.1.8", None), Ok(d("1989-01-08")));
        assert_eq!(
            parse_date("元年12月30日", Some(Era::Showa)),
            Ok(d("1926-12-30"))
        );
        assert_eq!(parse_date("R7.4.1", None), Ok(d("2025-04-01")));
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(parse_date("", None), Err(WarekiError::Empty));
        assert_eq!(parse_date(" 　", None), Err(WarekiError::Empty));
        for text in [
            "S29.3",
            "S29.3.26.1",
            "S29.3/26",
            "S29..3.26",
            "S2903.26",
            "1954年3/26",
            "S1954.3.26",
            "S29年3月26日x",
            "5432101",
            "1954-003-26",
            "?",
        ] {
            assert_eq!(
                parse_date(text, Some(Era::Showa)),
                Err(WarekiError::Unrecognised),
                "{text}"
            );
        }
        assert_eq!(
            parse_date("X29.3.26", None),
            Err(WarekiError::UnknownEra("X".into()))
        );
        assert_eq!(
            parse_date("慶応3年1月1日", None),
            Err(WarekiError::UnknownEra("慶応".into()))
        );
    }

    #[test]
    fn parse_era_forms() {
        for (text, era) in [
            ("昭和", Era::Showa),
            ("昭", Era::Showa),
            ("S", Era::Showa),
            ("s", Era::Showa),
            ("Ｓ", Era::Showa),
            ("3", Era::Showa),
            ("㍻", Era::Heisei),
            (" 令和 ", Era::Reiwa),
            ("M", Era::Meiji),
            ("大正", Era::Taisho),
        ] {
            assert_eq!(parse_era(text), Ok(era), "{text}");
        }
        assert_eq!(parse_era(""), Err(WarekiError::Empty));
        assert_eq!(parse_era("X"), Err(WarekiError::UnknownEra("X".into())));
        assert_eq!(parse_era("6"), Err(WarekiError::UnknownEra("6".into())));
        assert_eq!(
            parse_era("慶応"),
            Err(WarekiError::UnknownEra("慶応".into()))
        );
    }

    #[test]
    fn round_trip_every_day_1873_to_2100() {
        let mut day = d("1873-01-01");
        let last = d("2100-12-31");
        let mut count = 0;
        while day <= last {
            let wareki = to_wareki(day).unwrap();
            assert_eq!(
                from_wareki(wareki.era, wareki.year, wareki.month, wareki.day),
                Ok(day)
            );
            day = day.tomorrow().unwrap();
            count += 1;
        }
        assert_eq!(count, 83_275);
    }
}
