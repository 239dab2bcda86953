//! The outage-time search by four facts (資格情報照会（システム障害時）,
//! MISSION F3–F4), following the operating manual of the real system
//! (seed 004).
//!
//! After an outage, a clinic confirms the eligibility of a patient seen
//! during it from four facts copied off the マイナンバーカード: ① name, ② birth
//! date, ③ sex, ④ insurer name or address. The form's rules:
//!
//! - 氏名 and 氏名（カナ）: at least one (※1); exact match (完全一致); if both
//!   are given both must match.
//! - 生年月日 (required): an era (明治…令和, default 昭和) with a 2-digit
//!   year, or 西暦 with a 4-digit year; month and day.
//! - 性別 (required): 1 男, 2 女, 3 未設定.
//! - 住所 and 保険者名: at least one (※2); partial match; several words
//!   may be given, separated by spaces; if both are given both must match.
//! - 資格確認日 (required, default today): 西暦 8 digits, e.g. 2020/10/10.
//!
//! "Exact" is taken after the normalisation every Japanese form needs:
//! full-/half-width (NFKC) and spaces, which people type inconsistently
//! (`新橋　太郎` = `新橋太郎` = `新橋 太郎`); hiragana in the kana field is
//! read as katakana. Nothing fuzzier is done: variant kanji (髙/高, 﨑/崎)
//! do not match each other, as the manual's "完全一致" implies.
//!
//! [`FourFactsInput::validate`] turns what was typed into a
//! [`FourFactsQuery`]; [`FourFactsQuery::matches`] is the matching rule,
//! kept here so the store's SQL can be checked against it; and
//! [`SearchOutcome::from_hits`] decides what the screen shows.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use tsunagu_calendar::wareki::{Era, WarekiError, from_wareki, parse_date, parse_era};
use tsunagu_calendar::{is_katakana, normalize_kana, normalize_name};
use unicode_normalization::UnicodeNormalization;

use crate::FieldError;
use crate::model::{Qualification, Sex};

/// Shown at the top of the search screen (verbatim from the manual).
pub const MONITORING_NOTICE: &str =
    "利用が制限された機能であるため、利用状況は実施機関で監視しています。";

/// Shown to a general account that opens the menu item (verbatim).
pub const GENERAL_ACCOUNT_MESSAGE: &str =
    "医療情報閲覧アカウント又は管理アカウントのユーザIDでログインし直してください。";

/// Shown when nothing matches (verbatim).
pub const NOT_FOUND_MESSAGE: &str = "検索条件に入力された情報が存在しません";

/// The manual's advice for a search that found nothing (from the 性別 row of
/// the field table, which applies to every field).
pub const NOT_FOUND_HINT: &str = "保険者が登録している情報で再度検索して下さい。";

/// Shown above a list of 2–5 hits (verbatim).
pub const LIST_MESSAGE: &str =
    "複数の資格該当者が見つかりました。資格確認の該当者を以下から選択してください。";

/// Shown instead of a list when there are more than five hits. The second
/// sentence is the manual's; the first states the manual's rule as a fact.
pub const TOO_MANY_MESSAGE: &str =
    "該当件数が5件を超えるため一覧表示できません。検索入力条件を見直して再度検索してください。";

/// Shown on the detail screen for a 未就学 child.
pub const PRESCHOOL_LABEL: &str = "義務教育就学前";

/// Shown after the 照会番号 was registered or updated (verbatim).
pub const INQUIRY_NUMBER_REGISTERED: &str = "照会番号を登録しました。";

/// The most hits that are listed; more must be narrowed down.
pub const MAX_LISTED: usize = 5;

/// Limits on free-text inputs. Not in the manual: they only keep absurd
/// input (pasted documents) out of the query.
const MAX_NAME_CHARS: usize = 100;
const MAX_WORDS_CHARS: usize = 200;

/// The search form as typed. Every field is the raw string from the page;
/// [`Default`] gives the form's initial state (era 昭和, everything else
/// empty, confirmation date = today when left empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FourFactsInput {
    /// 氏名 (※1).
    pub name: String,
    /// 氏名（カナ） (※1).
    pub kana: String,
    /// The calendar select: `明治`/`大正`/`昭和`/`平成`/`令和` (or M/T/S/H/R)
    /// or `西暦`. Empty means the default, 昭和.
    pub birth_calendar: String,
    /// Year: 2 digits for an era (`元` accepted), 4 for 西暦. A whole date
    /// typed here with month and day left empty (`S29.3.26`, `1954-03-26`)
    /// is accepted too.
    pub birth_year: String,
    /// Month.
    pub birth_month: String,
    /// Day.
    pub birth_day: String,
    /// 性別: `1` 男, `2` 女, `3` 未設定 (the labels are accepted too).
    pub sex: String,
    /// 住所 (※2), one or more words.
    pub address: String,
    /// 保険者名 (※2), one or more words.
    pub insurer_name: String,
    /// 資格確認日: `2020/10/10`, `20201010` or `2020-10-10`; empty = today.
    pub confirmation_date: String,
}

impl Default for FourFactsInput {
    fn default() -> Self {
        FourFactsInput {
            name: String::new(),
            kana: String::new(),
            birth_calendar: Era::Showa.name().to_string(),
            birth_year: String::new(),
            birth_month: String::new(),
            birth_day: String::new(),
            sex: String::new(),
            address: String::new(),
            insurer_name: String::new(),
            confirmation_date: String::new(),
        }
    }
}

/// A validated search, with every value in its comparison form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FourFactsQuery {
    /// 氏名, NFKC without spaces ([`normalize_name`]).
    pub name: Option<String>,
    /// 氏名（カナ）, katakana without spaces ([`normalize_kana`]).
    pub kana: Option<String>,
    /// 生年月日.
    pub birth_date: Date,
    /// 性別.
    pub sex: Sex,
    /// 住所 words, each in [`normalize_words`] form; empty = not searched.
    pub address_words: Vec<String>,
    /// 保険者名 words; empty = not searched.
    pub insurer_name_words: Vec<String>,
    /// 資格確認日: the date validity is judged on.
    pub confirmation_date: Date,
}

/// Which calendar the birth year is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calendar {
    Era(Era),
    Western,
}

impl FourFactsInput {
    /// Check the form against the manual's rules, given today's date (the
    /// default 資格確認日). Returns every problem at once, each tied to its
    /// field, so the page can show them all.
    pub fn validate(&self, today: Date) -> Result<FourFactsQuery, Vec<FieldError>> {
        let mut errors = Vec::new();

        let name = normalize_name(&self.name);
        let kana = normalize_kana(&self.kana);
        if name.is_empty() && kana.is_empty() {
            errors.push(FieldError::new(
                "name_or_kana",
                "氏名、氏名（カナ）のどちらか一方は入力してください（完全一致で検索します）。",
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("氏名は{MAX_NAME_CHARS}文字以内で入力してください。"),
            ));
        }
        if !kana.is_empty() && !is_katakana(&kana) {
            errors.push(FieldError::new(
                "kana",
                "氏名（カナ）はカタカナで入力してください。",
            ));
        } else if kana.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "kana",
                format!("氏名（カナ）は{MAX_NAME_CHARS}文字以内で入力してください。"),
            ));
        }

        let confirmation_date = match parse_confirmation_date(&self.confirmation_date, today) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(e);
                None
            }
        };

        let birth_date = match self.birth_date() {
            Ok(d) if d > today => {
                errors.push(FieldError::new(
                    "birth_date",
                    "生年月日に未来の日付は入力できません。",
                ));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(e);
                None
            }
        };

        let sex = parse_sex(&self.sex);
        if sex.is_none() {
            errors.push(FieldError::new("sex", "性別を選択してください。"));
        }

        let address_words = normalize_words(&self.address);
        let insurer_name_words = normalize_words(&self.insurer_name);
        if address_words.is_empty() && insurer_name_words.is_empty() {
            errors.push(FieldError::new(
                "address_or_insurer_name",
                "住所、保険者名のどちらか一方は入力してください。",
            ));
        }
        for (field, label, words) in [
            ("address", "住所", &address_words),
            ("insurer_name", "保険者名", &insurer_name_words),
        ] {
            if words.iter().map(|w| w.chars().count()).sum::<usize>() > MAX_WORDS_CHARS {
                errors.push(FieldError::new(
                    field,
                    format!("{label}は{MAX_WORDS_CHARS}文字以内で入力してください。"),
                ));
            }
        }

        match (birth_date, sex, confirmation_date) {
            (Some(birth_date), Some(sex), Some(confirmation_date)) if errors.is_empty() => {
                Ok(FourFactsQuery {
                    name: (!name.is_empty()).then_some(name),
                    kana: (!kana.is_empty()).then_some(kana),
                    birth_date,
                    sex,
                    address_words,
                    insurer_name_words,
                    confirmation_date,
                })
            }
            _ => Err(errors),
        }
    }

    fn calendar(&self) -> Result<Calendar, FieldError> {
        let selected: String = self
            .birth_calendar
            .nfkc()
            .filter(|c| !c.is_whitespace())
            .collect();
        if selected.is_empty() {
            return Ok(Calendar::Era(Era::Showa));
        }
        if selected == "西暦" || selected.eq_ignore_ascii_case("AD") {
            return Ok(Calendar::Western);
        }
        parse_era(&selected).map(Calendar::Era).map_err(|_| {
            FieldError::new(
                "birth_date",
                "生年月日の元号は明治・大正・昭和・平成・令和・西暦から選択してください。",
            )
        })
    }

    fn birth_date(&self) -> Result<Date, FieldError> {
        let clean = |s: &str| -> String { s.nfkc().filter(|c| !c.is_whitespace()).collect() };
        let (year, month, day) = (
            clean(&self.birth_year),
            clean(&self.birth_month),
            clean(&self.birth_day),
        );
        let calendar = self.calendar()?;
        if year.is_empty() && month.is_empty() && day.is_empty() {
            return Err(birth_error("生年月日を入力してください。"));
        }

        // A whole date typed into the year box.
        let year_is_number = year.bytes().all(|b| b.is_ascii_digit()) || year == "元";
        if !year_is_number && month.is_empty() && day.is_empty() {
            let default_era = match calendar {
                Calendar::Era(era) => Some(era),
                Calendar::Western => None,
            };
            return parse_date(&year, default_era).map_err(|e| birth_error(&wareki_message(&e)));
        }
        if year.is_empty() || month.is_empty() || day.is_empty() {
            return Err(birth_error(
                "生年月日は年・月・日をすべて入力してください。",
            ));
        }
        let number = |s: &str, max_digits: usize| -> Option<u16> {
            (s.len() <= max_digits && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let (Some(m), Some(d)) = (number(&month, 2), number(&day, 2)) else {
            return Err(birth_error(
                "生年月日の月・日は2桁以内の半角数字で入力してください。",
            ));
        };
        // Two digits at most, so these conversions cannot fail.
        let (Ok(m), Ok(d)) = (u8::try_from(m), u8::try_from(d)) else {
            return Err(birth_error("生年月日が正しくありません。"));
        };
        let (Ok(m8), Ok(d8)) = (i8::try_from(m), i8::try_from(d)) else {
            return Err(birth_error("生年月日が正しくありません。"));
        };
        match calendar {
            Calendar::Western => {
                let Some(y) = (year.len() == 4).then(|| number(&year, 4)).flatten() else {
                    return Err(birth_error(
                        "西暦の年は4桁の半角数字で入力してください（例：1954）。",
                    ));
                };
                let nonexistent = || {
                    birth_error(&format!(
                        "生年月日が正しくありません。{y}年{m}月{d}日という日付は存在しません。"
                    ))
                };
                let y = i16::try_from(y).map_err(|_| nonexistent())?;
                Date::new(y, m8, d8).map_err(|_| nonexistent())
            }
            Calendar::Era(era) => {
                let y = if year == "元" {
                    1
                } else if year.len() > 2 {
                    return Err(birth_error(&format!(
                        "{era}の年は2桁以内の半角数字で入力してください。西暦で入力する場合は「西暦」を選択してください。"
                    )));
                } else {
                    number(&year, 2)
                        .ok_or_else(|| birth_error("生年月日の年は半角数字で入力してください。"))?
                };
                from_wareki(era, y, m, d).map_err(|e| match e {
                    WarekiError::InvalidDate => birth_error(&format!(
                        "生年月日が正しくありません。{era}{}年{m}月{d}日という日付は存在しません。",
                        if y == 1 {
                            "元".to_string()
                        } else {
                            y.to_string()
                        }
                    )),
                    other => birth_error(&wareki_message(&other)),
                })
            }
        }
    }
}

fn birth_error(message: &str) -> FieldError {
    FieldError::new("birth_date", message)
}

/// A calendar-crate error as a sentence about the birth date.
fn wareki_message(e: &WarekiError) -> String {
    match e {
        WarekiError::Empty => "生年月日を入力してください。".to_string(),
        WarekiError::Unrecognised => {
            "生年月日の形式が正しくありません。元号・年・月・日を選択または入力してください。"
                .to_string()
        }
        other => format!("生年月日が正しくありません。{other}。"),
    }
}

/// 性別 from the select's value or label.
fn parse_sex(input: &str) -> Option<Sex> {
    let v: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
    match v.as_str() {
        "1" | "男" | "男性" => Some(Sex::Male),
        "2" | "女" | "女性" => Some(Sex::Female),
        "3" | "未設定" => Some(Sex::Unset),
        _ => None,
    }
}

/// 資格確認日: empty → `today`; otherwise 西暦年月日 8 digits with optional
/// `/` or `-` separators. A future date is refused: eligibility cannot be
/// confirmed for a day that has not come (this function serves visits that
/// already happened during an outage).
fn parse_confirmation_date(input: &str, today: Date) -> Result<Date, FieldError> {
    let v: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
    if v.is_empty() {
        return Ok(today);
    }
    let format_error = || {
        FieldError::new(
            "confirmation_date",
            "資格確認日は西暦年月日8桁（入力例 2020/10/10）で入力してください。",
        )
    };
    let digits: String = v.chars().filter(|c| !matches!(c, '/' | '-')).collect();
    let separators_ok = match v.len() {
        8 => true,
        10 => {
            let b = v.as_bytes();
            (b[4] == b'/' && b[7] == b'/') || (b[4] == b'-' && b[7] == b'-')
        }
        _ => false,
    };
    if !separators_ok || digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format_error());
    }
    let date = crate::xml::parse_date(&digits).ok_or_else(|| {
        FieldError::new(
            "confirmation_date",
            "資格確認日が正しくありません。存在しない日付です。",
        )
    })?;
    if date > today {
        return Err(FieldError::new(
            "confirmation_date",
            "資格確認日に未来の日付は指定できません。",
        ));
    }
    Ok(date)
}

/// Split a partial-match field into words (half- or full-width spaces) in
/// comparison form: NFKC, ASCII lowercased, dash variants as `-`.
pub fn normalize_words(input: &str) -> Vec<String> {
    let normalized = normalize_text(input, true);
    normalized
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Comparison form of a stored address or insurer name: like
/// [`normalize_words`] but with all whitespace removed, so a word typed
/// without the record's spaces still matches.
fn normalize_haystack(input: &str) -> String {
    normalize_text(input, false)
}

fn normalize_text(input: &str, keep_spaces: bool) -> String {
    input
        .nfkc()
        .filter_map(|c| {
            if c.is_whitespace() {
                return keep_spaces.then_some(' ');
            }
            Some(match c {
                // Hyphen-like characters in addresses (５−１, 5‐1). The
                // katakana long vowel ー is left alone: it is part of names
                // such as センター.
                '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
                other => other.to_ascii_lowercase(),
            })
        })
        .collect()
}

impl FourFactsQuery {
    /// Whether `q` is a hit.
    ///
    /// - 生年月日 equal and 性別 equal to Sex1 (the card front, which is what
    ///   was copied; the manual's advice for a miss is to try the sex the
    ///   insurer registered).
    /// - 氏名, when given: equal (after [`normalize_name`]) to the record's
    ///   Name or to its NameOfOther (the 通称 printed on the card).
    /// - 氏名（カナ）, when given: equal (after [`normalize_kana`]) to NameKana
    ///   or NameOfOtherKana.
    /// - 住所 words, when given: every word occurs in the record's address;
    ///   a record without an address never matches.
    /// - 保険者名 words, when given: every word occurs in the insurer name.
    ///
    /// The 資格確認日 does not filter: records outside their validity are
    /// found and shown as 「この資格は無効です。」 (the manual shows such a
    /// screen); use [`Qualification::validity_at`] with
    /// [`confirmation_date`](Self::confirmation_date).
    pub fn matches(&self, q: &Qualification) -> bool {
        if q.birth_date != self.birth_date || q.sex1 != self.sex {
            return false;
        }
        if let Some(name) = &self.name {
            let other = q.name_of_other.as_deref().map(normalize_name);
            if normalize_name(&q.name) != *name && other.as_ref() != Some(name) {
                return false;
            }
        }
        if let Some(kana) = &self.kana {
            let other = q.name_of_other_kana.as_deref().map(normalize_kana);
            if normalize_kana(&q.name_kana) != *kana && other.as_ref() != Some(kana) {
                return false;
            }
        }
        if !self.address_words.is_empty() {
            let Some(address) = q.address.as_deref() else {
                return false;
            };
            if !contains_all(&normalize_haystack(address), &self.address_words) {
                return false;
            }
        }
        if !self.insurer_name_words.is_empty()
            && !contains_all(
                &normalize_haystack(&q.insurer_name),
                &self.insurer_name_words,
            )
        {
            return false;
        }
        true
    }

    /// The hits among `records`, in their order.
    pub fn filter<'a, I>(&self, records: I) -> Vec<&'a Qualification>
    where
        I: IntoIterator<Item = &'a Qualification>,
    {
        records.into_iter().filter(|q| self.matches(q)).collect()
    }
}

fn contains_all(haystack: &str, words: &[String]) -> bool {
    words.iter().all(|w| haystack.contains(w.as_str()))
}

/// What the screen does with a number of hits (MISSION F4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SearchOutcome {
    /// No hit: show [`NOT_FOUND_MESSAGE`].
    None,
    /// One hit: go straight to the detail screen, no list.
    Single,
    /// 2–5 hits: list them for the user to pick one.
    List {
        /// Number of hits.
        count: usize,
    },
    /// More than 5: no list, ask to narrow the search.
    TooMany {
        /// Number of hits.
        count: usize,
    },
}

impl SearchOutcome {
    /// Classify `n` hits.
    pub fn from_hits(n: usize) -> SearchOutcome {
        match n {
            0 => SearchOutcome::None,
            1 => SearchOutcome::Single,
            n if n <= MAX_LISTED => SearchOutcome::List { count: n },
            n => SearchOutcome::TooMany { count: n },
        }
    }

    /// The message above the results, if any.
    pub fn message(self) -> Option<&'static str> {
        match self {
            SearchOutcome::None => Some(NOT_FOUND_MESSAGE),
            SearchOutcome::Single => None,
            SearchOutcome::List { .. } => Some(LIST_MESSAGE),
            SearchOutcome::TooMany { .. } => Some(TOO_MANY_MESSAGE),
        }
    }

    /// The count line of a list: `検索結果： 2 件`.
    pub fn count_label(self) -> Option<String> {
        match self {
            SearchOutcome::List { count } => Some(format!("検索結果： {count} 件")),
            _ => None,
        }
    }
}

/// One row of the hit list: 氏名, 生年月日 (和暦), 性別, 住所 (first 10
/// characters; empty when the insurer sent none), 保険者名.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListRow {
    /// 氏名 as stored.
    pub name: String,
    /// 生年月日 in 和暦, e.g. `昭和29年3月26日`.
    pub birth_date: String,
    /// 性別 label of Sex1.
    pub sex: &'static str,
    /// First 10 characters of the address.
    pub address: String,
    /// 保険者名.
    pub insurer_name: String,
}

/// Characters of the address shown in the list.
pub const LIST_ADDRESS_CHARS: usize = 10;

impl ListRow {
    /// The row for `q`.
    pub fn from_qualification(q: &Qualification) -> ListRow {
        ListRow {
            name: q.name.clone(),
            birth_date: tsunagu_calendar::wareki::display(q.birth_date),
            sex: q.sex1.name(),
            address: q
                .address
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(LIST_ADDRESS_CHARS)
                .collect(),
            insurer_name: q.insurer_name.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generate::seed_examples;
    use jiff::civil::date;

    const TODAY: Date = date(2021, 1, 19);

    /// The search of the manual's screenshot.
    fn manual_input() -> FourFactsInput {
        FourFactsInput {
            name: "新橋太郎".into(),
            birth_year: "29".into(),
            birth_month: "3".into(),
            birth_day: "26".into(),
            sex: "1".into(),
            address: "東京都".into(),
            confirmation_date: "2021/01/19".into(),
            ..FourFactsInput::default()
        }
    }

    fn records() -> Vec<Qualification> {
        seed_examples().into_iter().map(|(_, q)| q).collect()
    }

    fn fields(errors: &[FieldError]) -> Vec<&'static str> {
        errors.iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_manuals_search_lists_two_shimbashi_records() {
        let query = manual_input().validate(TODAY).unwrap();
        assert_eq!(query.birth_date, date(1954, 3, 26));
        assert_eq!(query.sex, Sex::Male);
        let all = records();
        let hits = query.filter(&all);
        assert_eq!(hits.len(), 2);
        let outcome = SearchOutcome::from_hits(hits.len());
        assert_eq!(outcome, SearchOutcome::List { count: 2 });
        assert_eq!(outcome.message(), Some(LIST_MESSAGE));
        assert_eq!(outcome.count_label().as_deref(), Some("検索結果： 2 件"));

        let rows: Vec<ListRow> = hits
            .iter()
            .map(|q| ListRow::from_qualification(q))
            .collect();
        assert_eq!(rows[0].name, "新橋　太郎");
        assert_eq!(rows[0].birth_date, "昭和29年3月26日");
        assert_eq!(rows[0].sex, "男");
        assert_eq!(rows[0].address, "東京都港区〇〇5丁目");
        assert_eq!(rows[0].insurer_name, "東京新橋サンプル保険者");
        assert_eq!(rows[1].address, "東京都足立区皇居裏1");
        assert_eq!(rows[1].insurer_name, "北海道新聞社健康保険組合");
    }

    #[test]
    fn narrowing_by_words() {
        let all = records();
        let search = |address: &str, insurer: &str| {
            let input = FourFactsInput {
                address: address.into(),
                insurer_name: insurer.into(),
                ..manual_input()
            };
            input.validate(TODAY).unwrap().filter(&all).len()
        };
        assert_eq!(search("東京都 港区", ""), 1);
        assert_eq!(search("東京都　足立区", ""), 1);
        assert_eq!(search("港区 足立区", ""), 0, "all words must match");
        assert_eq!(search("", "新聞社"), 1);
        assert_eq!(search("", "サンプル"), 1);
        assert_eq!(search("", "保険"), 2);
        // Both given: both apply.
        assert_eq!(search("港区", "新聞社"), 0);
        assert_eq!(search("足立区", "新聞社"), 1);
        // Width and dash variants.
        assert_eq!(search("５００－１", ""), 1);
        assert_eq!(search("５丁目５００−１", ""), 1);
    }

    #[test]
    fn name_and_kana_rules() {
        let all = records();
        let hits = |name: &str, kana: &str| {
            let input = FourFactsInput {
                name: name.into(),
                kana: kana.into(),
                ..manual_input()
            };
            input.validate(TODAY).unwrap().filter(&all).len()
        };
        assert_eq!(hits("新橋　太郎", ""), 2);
        assert_eq!(hits(" 新橋 太郎 ", ""), 2);
        assert_eq!(hits("新橋", ""), 0, "exact, not partial");
        assert_eq!(hits("", "シンバシ タロウ"), 2);
        assert_eq!(hits("", "ｼﾝﾊﾞｼﾀﾛｳ"), 2);
        assert_eq!(hits("", "しんばし　たろう"), 2);
        assert_eq!(hits("", "シンバシ"), 0);
        // Both given: both must match.
        assert_eq!(hits("新橋太郎", "シンバシタロウ"), 2);
        assert_eq!(hits("新橋太郎", "シンバシジロウ"), 0);
        // The 通称 (NameOfOther) matches too; only the first record has one.
        assert_eq!(hits("新橋他太郎", ""), 1);
    }

    #[test]
    fn birth_date_and_sex_must_match() {
        let all = records();
        let mut input = manual_input();
        input.birth_day = "27".into();
        assert_eq!(input.validate(TODAY).unwrap().filter(&all).len(), 0);
        let mut input = manual_input();
        input.sex = "2".into();
        assert_eq!(input.validate(TODAY).unwrap().filter(&all).len(), 0);
        let mut input = manual_input();
        input.sex = "男性".into();
        assert_eq!(input.validate(TODAY).unwrap().filter(&all).len(), 2);
    }

    #[test]
    fn birth_date_forms() {
        let birth = |calendar: &str, y: &str, m: &str, d: &str| {
            FourFactsInput {
                birth_calendar: calendar.into(),
                birth_year: y.into(),
                birth_month: m.into(),
                birth_day: d.into(),
                ..manual_input()
            }
            .validate(TODAY)
            .map(|q| q.birth_date)
        };
        let showa = Ok(date(1954, 3, 26));
        assert_eq!(birth("昭和", "29", "03", "26"), showa);
        assert_eq!(birth("", "29", "3", "26"), showa, "default era is 昭和");
        assert_eq!(birth("S", "２９", "３", "２６"), showa);
        assert_eq!(birth("西暦", "1954", "3", "26"), showa);
        assert_eq!(birth("昭和", "S29.3.26", "", ""), showa);
        assert_eq!(birth("西暦", "1954-03-26", "", ""), showa);
        assert_eq!(birth("平成", "元", "1", "8"), Ok(date(1989, 1, 8)));
        assert_eq!(birth("令和", "2", "2", "29"), Ok(date(2020, 2, 29)));

        let message = |r: Result<Date, Vec<FieldError>>| {
            let errors = r.unwrap_err();
            assert_eq!(fields(&errors), ["birth_date"]);
            errors[0].message.clone()
        };
        assert_eq!(
            message(birth("平成", "32", "1", "1")),
            "生年月日が正しくありません。平成は31年までです。"
        );
        assert_eq!(
            message(birth("昭和", "29", "2", "30")),
            "生年月日が正しくありません。昭和29年2月30日という日付は存在しません。"
        );
        assert_eq!(
            message(birth("西暦", "1954", "2", "30")),
            "生年月日が正しくありません。1954年2月30日という日付は存在しません。"
        );
        assert_eq!(
            message(birth("昭和", "64", "1", "8")),
            "生年月日が正しくありません。昭和は64年1月7日までです。"
        );
        assert_eq!(
            message(birth("平成", "元", "1", "7")),
            "生年月日が正しくありません。平成は元年1月8日からです。"
        );
        assert!(message(birth("昭和", "1954", "3", "26")).contains("「西暦」を選択"));
        assert!(message(birth("西暦", "54", "3", "26")).contains("4桁"));
        assert_eq!(
            message(birth("昭和", "", "", "")),
            "生年月日を入力してください。"
        );
        assert!(message(birth("昭和", "29", "3", "")).contains("年・月・日をすべて"));
        assert!(message(birth("昭和", "29", "x", "26")).contains("月・日"));
        assert!(message(birth("慶応", "3", "1", "1")).contains("元号"));
        assert!(message(birth("令和", "9", "1", "1")).contains("未来"));
        assert!(message(birth("昭和", "??", "", "")).contains("形式"));
    }

    #[test]
    fn required_fields_all_reported_at_once() {
        let errors = FourFactsInput::default().validate(TODAY).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "name_or_kana",
                "birth_date",
                "sex",
                "address_or_insurer_name"
            ]
        );
        assert_eq!(
            errors[0].message,
            "氏名、氏名（カナ）のどちらか一方は入力してください（完全一致で検索します）。"
        );
        assert_eq!(errors[2].message, "性別を選択してください。");
        assert_eq!(
            errors[3].message,
            "住所、保険者名のどちらか一方は入力してください。"
        );
        // Spaces only count as empty.
        let blank = FourFactsInput {
            name: "　".into(),
            address: " 　 ".into(),
            ..manual_input()
        };
        assert_eq!(
            fields(&blank.validate(TODAY).unwrap_err()),
            ["name_or_kana", "address_or_insurer_name"]
        );
    }

    #[test]
    fn other_field_checks() {
        let check = |f: fn(&mut FourFactsInput)| {
            let mut input = manual_input();
            f(&mut input);
            input.validate(TODAY).unwrap_err()
        };
        let e = check(|i| i.kana = "shinbashi".into());
        assert_eq!(e[0].message, "氏名（カナ）はカタカナで入力してください。");
        let e = check(|i| i.sex = "4".into());
        assert_eq!(fields(&e), ["sex"]);
        let e = check(|i| i.name = "あ".repeat(101));
        assert_eq!(fields(&e), ["name"]);
        let e = check(|i| i.address = "東".repeat(201));
        assert_eq!(fields(&e), ["address"]);
    }

    #[test]
    fn confirmation_date() {
        let date_of = |s: &str| {
            FourFactsInput {
                confirmation_date: s.into(),
                ..manual_input()
            }
            .validate(TODAY)
            .map(|q| q.confirmation_date)
            .map_err(|e| e[0].message.clone())
        };
        assert_eq!(date_of(""), Ok(TODAY), "default is today");
        assert_eq!(date_of("2020/10/10"), Ok(date(2020, 10, 10)));
        assert_eq!(date_of("20201010"), Ok(date(2020, 10, 10)));
        assert_eq!(date_of("２０２０－１０－１０"), Ok(date(2020, 10, 10)));
        let format =
            Err("資格確認日は西暦年月日8桁（入力例 2020/10/10）で入力してください。".to_string());
        assert_eq!(date_of("2020/1/1"), format);
        assert_eq!(date_of("R2.10.10"), format);
        assert_eq!(date_of("2020/10-10"), format);
        assert_eq!(
            date_of("2020/02/30"),
            Err("資格確認日が正しくありません。存在しない日付です。".into())
        );
        assert_eq!(
            date_of("2021/01/20"),
            Err("資格確認日に未来の日付は指定できません。".into())
        );
    }

    #[test]
    fn outcome_thresholds() {
        assert_eq!(SearchOutcome::from_hits(0), SearchOutcome::None);
        assert_eq!(
            SearchOutcome::from_hits(0).message(),
            Some(NOT_FOUND_MESSAGE)
        );
        assert_eq!(SearchOutcome::from_hits(1), SearchOutcome::Single);
        assert_eq!(SearchOutcome::from_hits(1).message(), None);
        assert_eq!(
            SearchOutcome::from_hits(5),
            SearchOutcome::List { count: 5 }
        );
        let six = SearchOutcome::from_hits(6);
        assert_eq!(six, SearchOutcome::TooMany { count: 6 });
        assert_eq!(six.count_label(), None);
        assert!(
            six.message()
                .unwrap()
                .contains("検索入力条件を見直して再度検索してください")
        );
    }

    #[test]
    fn list_row_without_address() {
        let q = records()
            .into_iter()
            .find(|q| q.name.starts_with("資格"))
            .unwrap();
        let row = ListRow::from_qualification(&q);
        assert_eq!(row.address, "");
        assert_eq!(row.birth_date, "平成2年1月3日");
        // A record without an address never matches an address search.
        let input = FourFactsInput {
            name: "資格三郎".into(),
            birth_calendar: "平成".into(),
            birth_year: "2".into(),
            birth_month: "1".into(),
            birth_day: "3".into(),
            sex: "1".into(),
            address: "札幌".into(),
            ..FourFactsInput::default()
        };
        assert!(!input.validate(TODAY).unwrap().matches(&q));
        let input = FourFactsInput {
            address: String::new(),
            insurer_name: "*".into(),
            ..input
        };
        assert!(input.validate(TODAY).unwrap().matches(&q));
    }
}
