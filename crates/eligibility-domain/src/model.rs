//! The qualification record (資格情報) returned by an eligibility check, and
//! the code tables of the オンライン資格確認 result XML (DOMAIN §4).
//!
//! A [`Qualification`] holds one `ResultOfQualificationConfirmation`: every
//! field the result carries and the detail screen of the outage-time search
//! shows (MISSION F5). Values are kept as the insurer sent them; only the
//! kana reading is normalised, to full-width katakana (the XML carries
//! half-width kana, which [`crate::xml`] converts on the way in and out).
//!
//! Code tables are enums with `code()` (the value in the XML), `name()` (the
//! Japanese label shown on screen) and `from_code()`. They serialise as their
//! codes so stored JSON matches the XML.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tsunagu_calendar::{age_on, is_preschool, normalize_kana};

use crate::InsurerNumber;

/// The common shape of the code-table enums below, for code that handles
/// any of them (the CSV importer accepts a code or its label).
pub trait CodeTable: Sized + Copy + 'static {
    /// Every value, in code order.
    const ALL: &'static [Self];
    /// The code as it appears in the XML.
    fn code(self) -> &'static str;
    /// The Japanese label.
    fn name(self) -> &'static str;
}

/// Defines a code-table enum with `TABLE`, `ALL`, `code()`, `name()`,
/// `from_code()`, [`CodeTable`], `Display` (the name) and serde as the code. A macro only
/// because the tables are many and identical in shape; each table below
/// still reads as a plain list of code → name.
macro_rules! code_table {
    (
        $(#[$meta:meta])*
        pub enum $name:ident = $table:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// The code table's identifier in the interface specification.
            pub const TABLE: &'static str = $table;
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as it appears in the XML.
            pub const fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// The Japanese label shown on screen.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// The value for an exact code, or `None`.
            pub fn from_code(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl CodeTable for $name {
            const ALL: &'static [Self] = $name::ALL;
            fn code(self) -> &'static str {
                $name::code(self)
            }
            fn name(self) -> &'static str {
                $name::name(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                $name::from_code(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{}（{}）のコード「{}」は定義されていません",
                        stringify!($name), $table, s
                    ))
                })
            }
        }
    };
}

code_table! {
    /// 証区分 (OQSCD010): the kind of card. Labels as on the detail screen.
    pub enum CardKind = "OQSCD010" {
        /// 被保険者証（一般）
        General = "01" => "被保険者証（一般）",
        /// 被保険者証（退職）
        Retired = "02" => "被保険者証（退職）",
        /// 短期被保険者証（一般）
        ShortTermGeneral = "03" => "短期被保険者証（一般）",
        /// 短期被保険者証（退職）
        ShortTermRetired = "04" => "短期被保険者証（退職）",
        /// 被保険者資格証明書
        QualificationCertificate = "05" => "被保険者資格証明書",
        /// 特例退職被保険者証
        SpecialRetired = "06" => "特例退職被保険者証",
        /// 自衛官診療証
        SelfDefenseForces = "07" => "自衛官診療証",
    }
}

impl CardKind {
    /// 短期被保険者証 (codes 03 and 04).
    pub fn is_short_term(self) -> bool {
        matches!(
            self,
            CardKind::ShortTermGeneral | CardKind::ShortTermRetired
        )
    }

    /// Whether the detail screen shows the kind in red: the manual lists the
    /// two short-term kinds and 被保険者資格証明書 (the patient may have to pay
    /// in full).
    pub fn shown_in_red(self) -> bool {
        self.is_short_term() || self == CardKind::QualificationCertificate
    }
}

code_table! {
    /// 本人・家族の別 (OQSCD009).
    pub enum PersonalFamily = "OQSCD009" {
        /// 本人 (the insured person)
        Personal = "1" => "本人",
        /// 家族 (a dependant)
        Family = "2" => "家族",
    }
}

code_table! {
    /// 性別 (OQSCD007), used for Sex1 (card front) and Sex2 (back side).
    pub enum Sex = "OQSCD007" {
        /// 男
        Male = "1" => "男",
        /// 女
        Female = "2" => "女",
        /// 未設定
        Unset = "3" => "未設定",
    }
}

code_table! {
    /// 資格喪失事由.
    pub enum ReasonOfLoss = "資格喪失事由" {
        /// 死亡
        Death = "01" => "死亡",
        /// 生活保護受給開始
        PublicAssistance = "02" => "生活保護受給開始",
        /// 医療保険等の資格取得 (joined another scheme)
        OtherInsurance = "03" => "医療保険等の資格取得",
        /// その他
        Other = "99" => "その他",
    }
}

code_table! {
    /// 資格有効性 (OQSCD006).
    pub enum Validity = "OQSCD006" {
        /// 有効
        Valid = "1" => "有効",
        /// 無効
        Invalid = "2" => "無効",
        /// 無効（新しい資格あり）
        InvalidNewerExists = "3" => "無効（新しい資格あり）",
        /// 該当資格なし
        NotFound = "4" => "該当資格なし",
        /// 複数該当
        Multiple = "5" => "複数該当",
    }
}

impl Validity {
    /// 資格有効性 of a lookup's results at `date`: none, several, or the one record's.
    pub fn of_results(results: &[Qualification], date: Date) -> Validity {
        match results {
            [] => Validity::NotFound,
            [one] => one.validity_at(date),
            _ => Validity::Multiple,
        }
    }

    /// The banner of the detail screen (資格情報確認), or `None` for results
    /// that have no single record to show.
    pub fn banner(self) -> Option<&'static str> {
        match self {
            Validity::Valid => Some("この資格は有効です。"),
            Validity::Invalid | Validity::InvalidNewerExists => Some("この資格は無効です。"),
            Validity::NotFound | Validity::Multiple => None,
        }
    }
}

code_table! {
    /// 未就学区分: present only for children before compulsory school.
    pub enum PreschoolClassification = "未就学区分" {
        /// 未就学該当 (shown as 「義務教育就学前」)
        Preschool = "1" => "未就学該当",
    }
}

code_table! {
    /// 照会区分 (OQSCD002): what the patient presented.
    pub enum ReferenceClassification = "OQSCD002" {
        /// マイナンバーカード
        MyNumberCard = "1" => "マイナンバーカード",
        /// 被保険者証情報
        InsuranceCard = "2" => "被保険者証情報",
    }
}

code_table! {
    /// 処理結果区分 (OQSCD003), `SegmentOfResult` in the header.
    pub enum SegmentOfResult = "OQSCD003" {
        /// 正常終了
        Normal = "1" => "正常終了",
        /// 処理中
        InProgress = "2" => "処理中",
        /// 異常終了
        Abnormal = "9" => "異常終了",
    }
}

code_table! {
    /// 処理結果状況 (OQSCD004), `ProcessingResultStatus` in the body.
    pub enum ProcessingResultStatus = "OQSCD004" {
        /// 正常終了
        Normal = "1" => "正常終了",
        /// エラー
        Error = "2" => "エラー",
    }
}

code_table! {
    /// 文字コード (OQSCD005), `CharacterCodeIdentifier` in the header.
    pub enum CharacterCode = "OQSCD005" {
        /// UTF-8
        Utf8 = "0" => "UTF-8",
        /// Shift_JIS
        ShiftJis = "1" => "Shift_JIS",
    }
}

code_table! {
    /// 限度額適用認定証提供同意フラグ (OQSCD001).
    pub enum ConsentFlag = "OQSCD001" {
        /// 未同意
        NotConsented = "0" => "未同意",
        /// 同意
        Consented = "1" => "同意",
    }
}

/// 一部負担金割合 as the XML writes it: a percentage in three digits
/// (`"030"` = 3割). Held as the percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoPaymentRatio(u8);

impl CoPaymentRatio {
    /// 1割 (後期高齢者, general income).
    pub const TEN: CoPaymentRatio = CoPaymentRatio(10);
    /// 2割 (未就学, 70–74, 後期高齢者 with 一定以上所得).
    pub const TWENTY: CoPaymentRatio = CoPaymentRatio(20);
    /// 3割 (working age, 現役並み所得).
    pub const THIRTY: CoPaymentRatio = CoPaymentRatio(30);

    /// A ratio in percent, 0..=100.
    pub fn from_percent(percent: u8) -> Option<CoPaymentRatio> {
        (percent <= 100).then_some(CoPaymentRatio(percent))
    }

    /// Parse the three-digit code (`"010"`); shorter numeric forms (`"10"`)
    /// are accepted too, since spreadsheets drop leading zeros.
    pub fn from_code(code: &str) -> Option<CoPaymentRatio> {
        let code = code.trim();
        if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        code.parse().ok().and_then(CoPaymentRatio::from_percent)
    }

    /// The percentage.
    pub fn percent(self) -> u8 {
        self.0
    }

    /// The three-digit code (`"030"`).
    pub fn code(self) -> String {
        format!("{:03}", self.0)
    }

    /// The label shown on screen: `3割`, or `25%` for a value that is not a
    /// whole 割.
    pub fn label(self) -> String {
        if self.0.is_multiple_of(10) {
            format!("{}割", self.0 / 10)
        } else {
            format!("{}%", self.0)
        }
    }
}

impl fmt::Display for CoPaymentRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl Serialize for CoPaymentRatio {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.code())
    }
}

impl<'de> Deserialize<'de> for CoPaymentRatio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        CoPaymentRatio::from_code(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("負担割合「{s}」が正しくありません")))
    }
}

/// 高齢受給者証 information (ElderlyRecipientCertificateInfo), for 70–74.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElderlyCertificate {
    /// ElderlyRecipientCertificateDate: the day the certificate was issued.
    pub certificate_date: Option<Date>,
    /// ElderlyRecipientValidStartDate.
    pub valid_start: Option<Date>,
    /// ElderlyRecipientValidEndDate.
    pub valid_end: Option<Date>,
    /// ElderlyRecipientContributionRatio (2割, or 3割 for 現役並み所得).
    pub ratio: Option<CoPaymentRatio>,
}

/// One qualification (`ResultOfQualificationConfirmation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    /// InsuredCardClassification (証区分).
    pub card_kind: CardKind,
    /// InsurerNumber, as the insurer sent it.
    pub insurer_number: InsurerNumber,
    /// InsurerName (券面記載の保険者名称).
    pub insurer_name: String,
    /// InsuredCardSymbol (記号); absent for 後期高齢者 and others.
    pub symbol: Option<String>,
    /// InsuredIdentificationNumber (番号).
    pub number: String,
    /// InsuredBranchNumber (枝番, two digits).
    pub branch: Option<String>,
    /// PersonalFamilyClassification (本人・家族の別).
    pub personal_family: PersonalFamily,
    /// InsuredName: 被保険者氏名, or 世帯主氏名 for 国保.
    pub insured_name: Option<String>,
    /// Name (券面記載の氏名).
    pub name: String,
    /// NameKana, stored as full-width katakana (the XML has half-width).
    pub name_kana: String,
    /// NameOfOther (氏名（その他）, e.g. a 通称).
    pub name_of_other: Option<String>,
    /// NameOfOtherKana, full-width katakana.
    pub name_of_other_kana: Option<String>,
    /// Sex1: the sex printed on the card front.
    pub sex1: Sex,
    /// Sex2: the sex on the back side, when the insurer records one
    /// (性別表記の配慮).
    pub sex2: Option<Sex>,
    /// Birthdate.
    pub birth_date: Date,
    /// Address as registered with the insurer; absent when not sent.
    pub address: Option<String>,
    /// PostNumber: 7 digits without hyphen; absent when not sent.
    pub post_number: Option<String>,
    /// InsuredCertificateIssuanceDate (交付年月日).
    pub issuance_date: Option<Date>,
    /// InsuredCardValidDate: first day of validity (有効開始日).
    pub valid_from: Date,
    /// InsuredCardExpirationDate: last day of validity (有効終了日).
    pub valid_to: Option<Date>,
    /// ReasonOfLoss (資格喪失事由).
    pub reason_of_loss: Option<ReasonOfLoss>,
    /// InsuredPartialContributionRatio (後期高齢者の一部負担割合).
    pub copayment_ratio: Option<CoPaymentRatio>,
    /// ElderlyRecipientCertificateInfo (高齢受給者証).
    pub elderly: Option<ElderlyCertificate>,
    /// PreschoolClassification (未就学区分).
    pub preschool: Option<PreschoolClassification>,
}

impl Qualification {
    /// 資格有効性 on `date`. The rule:
    ///
    /// 1. invalid before `valid_from`;
    /// 2. invalid after `valid_to` when there is one;
    /// 3. a reason of loss takes effect the day after `valid_to` (the
    ///    manual's example shows 喪失事由「その他」 with an end date still in
    ///    the future and the banner 「この資格は有効です。」); with a reason
    ///    but no end date the loss date is unknown, so the record is treated
    ///    as lost (invalid) on every date rather than risk a false "valid";
    /// 4. otherwise valid.
    ///
    /// Only [`Validity::Valid`] and [`Validity::Invalid`] come out of one
    /// record; the other codes describe a whole lookup.
    pub fn validity_at(&self, date: Date) -> Validity {
        if date < self.valid_from {
            return Validity::Invalid;
        }
        match self.valid_to {
            Some(to) if date > to => Validity::Invalid,
            None if self.reason_of_loss.is_some() => Validity::Invalid,
            _ => Validity::Valid,
        }
    }

    /// Whether the detail screen shows 「義務教育就学前」 on `date`: the
    /// insurer's 未就学区分 when present, else the age rule of DOMAIN §3.
    pub fn is_preschool_at(&self, date: Date) -> bool {
        self.preschool.is_some() || is_preschool(self.birth_date, date)
    }

    /// Legal age on `date`.
    pub fn age_at(&self, date: Date) -> i32 {
        age_on(self.birth_date, date)
    }

    /// Whether the card is a 短期被保険者証.
    pub fn is_short_term(&self) -> bool {
        self.card_kind.is_short_term()
    }

    /// Whether this is 後期高齢者医療 (法別番号 39).
    pub fn is_late_elderly(&self) -> bool {
        self.insurer_number.law_code() == Some("39")
    }

    /// The postal code as `151-1234`, when present and 7 digits.
    pub fn post_number_display(&self) -> Option<String> {
        let p = self.post_number.as_deref()?;
        (p.len() == 7 && p.is_ascii()).then(|| format!("{}-{}", &p[..3], &p[3..]))
    }
}

/// A kana reading in the stored form: full-width katakana (half-width kana
/// and hiragana converted), words separated by one full-width space.
pub fn fullwidth_kana(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push('\u{3000}');
        }
        out.push_str(&normalize_kana(word));
    }
    out
}

/// A postal code in the stored form (7 ASCII digits): NFKC, hyphens and
/// spaces and a leading 〒 removed. `None` if what remains is not 7 digits.
pub fn normalize_post_number(s: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let digits: String = s
        .nfkc()
        .filter(|c| !matches!(c, '-' | '〒' | '\u{2010}'..='\u{2015}' | '\u{2212}' | 'ー'))
        .filter(|c| !c.is_whitespace())
        .collect();
    (digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn sample() -> Qualification {
        Qualification {
            card_kind: CardKind::General,
            insurer_number: InsurerNumber::parse("06139000").unwrap(),
            insurer_name: "東京新橋サンプル保険者".into(),
            symbol: Some("9000".into()),
            number: "10001".into(),
            branch: Some("01".into()),
            personal_family: PersonalFamily::Personal,
            insured_name: Some("新橋　太郎".into()),
            name: "新橋　太郎".into(),
            name_kana: "シンバシ　タロウ".into(),
            name_of_other: Some("新橋　他太郎".into()),
            name_of_other_kana: Some("シンバシ　タタロウ".into()),
            sex1: Sex::Male,
            sex2: None,
            birth_date: date(1954, 3, 26),
            address: Some("東京都港区〇〇5丁目500-1".into()),
            post_number: Some("1511234".into()),
            issuance_date: Some(date(2019, 12, 20)),
            valid_from: date(2020, 1, 1),
            valid_to: None,
            reason_of_loss: None,
            copayment_ratio: None,
            elderly: None,
            preschool: None,
        }
    }

    #[test]
    fn code_tables() {
        assert_eq!(CardKind::ALL.len(), 7);
        for kind in CardKind::ALL {
            assert_eq!(CardKind::from_code(kind.code()), Some(*kind));
        }
        assert_eq!(CardKind::from_code("03"), Some(CardKind::ShortTermGeneral));
        assert_eq!(CardKind::from_code("3"), None);
        assert!(CardKind::ShortTermRetired.is_short_term());
        assert!(!CardKind::QualificationCertificate.is_short_term());
        assert!(CardKind::QualificationCertificate.shown_in_red());
        assert!(!CardKind::General.shown_in_red());
        assert_eq!(CardKind::General.name(), "被保険者証（一般）");
        assert_eq!(CardKind::TABLE, "OQSCD010");

        assert_eq!(Sex::from_code("3").map(Sex::name), Some("未設定"));
        assert_eq!(PersonalFamily::Family.to_string(), "家族");
        assert_eq!(ReasonOfLoss::from_code("99"), Some(ReasonOfLoss::Other));
        assert_eq!(ReasonOfLoss::OtherInsurance.name(), "医療保険等の資格取得");
        let validities: Vec<&str> = Validity::ALL.iter().map(|v| v.code()).collect();
        assert_eq!(validities, ["1", "2", "3", "4", "5"]);
        assert_eq!(Validity::Valid.banner(), Some("この資格は有効です。"));
        assert_eq!(Validity::Invalid.banner(), Some("この資格は無効です。"));
        assert_eq!(Validity::Multiple.banner(), None);
        assert_eq!(
            SegmentOfResult::from_code("9"),
            Some(SegmentOfResult::Abnormal)
        );
        assert_eq!(CharacterCode::Utf8.code(), "0");
    }

    #[test]
    fn ratio() {
        let r = CoPaymentRatio::from_code("030").unwrap();
        assert_eq!(r, CoPaymentRatio::THIRTY);
        assert_eq!(r.label(), "3割");
        assert_eq!(r.code(), "030");
        assert_eq!(CoPaymentRatio::from_code("10"), Some(CoPaymentRatio::TEN));
        assert_eq!(CoPaymentRatio::from_percent(25).unwrap().label(), "25%");
        for bad in ["", "abc", "101", "0300", "-10"] {
            assert_eq!(CoPaymentRatio::from_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn validity_rule() {
        let mut q = sample();
        assert_eq!(q.validity_at(date(2019, 12, 31)), Validity::Invalid);
        assert_eq!(q.validity_at(date(2020, 1, 1)), Validity::Valid);
        assert_eq!(q.validity_at(date(2030, 1, 1)), Validity::Valid);

        // The manual's 資格 三郎: 喪失事由 その他, ends 令和3年3月31日, shown
        // as valid when checked before that.
        q.valid_to = Some(date(2021, 3, 31));
        q.reason_of_loss = Some(ReasonOfLoss::Other);
        assert_eq!(q.validity_at(date(2021, 1, 19)), Validity::Valid);
        assert_eq!(q.validity_at(date(2021, 3, 31)), Validity::Valid);
        assert_eq!(q.validity_at(date(2021, 4, 1)), Validity::Invalid);

        // A reason without an end date: loss date unknown, never valid.
        q.valid_to = None;
        assert_eq!(q.validity_at(date(2021, 1, 19)), Validity::Invalid);
    }

    #[test]
    fn preschool() {
        let mut q = sample();
        q.birth_date = date(2019, 4, 2);
        assert!(q.is_preschool_at(date(2026, 3, 31)));
        assert!(!q.is_preschool_at(date(2026, 4, 1)));
        // The insurer's flag wins over the calculation.
        q.preschool = Some(PreschoolClassification::Preschool);
        assert!(q.is_preschool_at(date(2026, 4, 1)));
        assert_eq!(q.age_at(date(2026, 4, 1)), 6);
    }

    #[test]
    fn helpers() {
        let q = sample();
        assert_eq!(q.post_number_display().as_deref(), Some("151-1234"));
        assert!(!q.is_late_elderly());
        assert!(!q.is_short_term());
        assert_eq!(fullwidth_kana("ｼﾝﾊﾞｼ ﾀﾛｳ"), "シンバシ　タロウ");
        assert_eq!(fullwidth_kana(" しんばし　　たろう "), "シンバシ　タロウ");
        assert_eq!(
            normalize_post_number("〒151-1234").as_deref(),
            Some("1511234")
        );
        assert_eq!(
            normalize_post_number("１５１ー１２３４").as_deref(),
            Some("1511234")
        );
        assert_eq!(normalize_post_number("151-123"), None);
    }

    #[test]
    fn json_uses_codes() {
        let q = sample();
        let json = serde_json::to_value(&q).unwrap();
        assert_eq!(json["card_kind"], "01");
        assert_eq!(json["sex1"], "1");
        assert_eq!(json["birth_date"], "1954-03-26");
        let back: Qualification = serde_json::from_value(json).unwrap();
        assert_eq!(back, q);
        let bad = serde_json::from_str::<Sex>("\"4\"").unwrap_err();
        assert!(bad.to_string().contains("OQSCD007"));
    }
}
