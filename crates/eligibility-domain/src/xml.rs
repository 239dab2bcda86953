//! The オンライン資格確認 result XML (`XmlMsg`): rendering it (the
//! 「ダウンロード」 button of the detail screen, MISSION F6) and reading it
//! back into [`Qualification`] records (importing results saved from the
//! real system).
//!
//! Layout, following the element names of DOMAIN §4 and the open-source
//! parsers it cites (the official 外部インターフェイス仕様書 was not
//! available):
//!
//! ```text
//! XmlMsg
//! ├─ MessageHeader   ProcessExecutionTime (yyyyMMddHHmmss), QualificationConfirmationDate
//! │                  (yyyyMMdd), MedicalInstitutionCode (10 digits), ArbitraryFileIdentifier?,
//! │                  ReferenceClassification, SegmentOfResult, ErrorCode?, ErrorMessage?,
//! │                  CharacterCodeIdentifier
//! └─ MessageBody     ProcessingResultStatus, QualificationValidity?,
//!                    QualificationConfirmSearchInfo?, ResultList/ResultOfQualificationConfirmation*
//! ```
//!
//! Dates are `yyyyMMdd`; kana readings are half-width in the XML and
//! full-width in [`Qualification`]. Optional values that are absent are left
//! out rather than written empty. The reader is lenient about layout: it
//! finds `ResultOfQualificationConfirmation` elements at any depth, ignores
//! elements it does not know (限度額・特定疾病 information, newer additions)
//! and namespace prefixes.

use std::io;

use jiff::civil::{Date, DateTime};
use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use tsunagu_calendar::to_halfwidth_kana;

use crate::InsurerNumber;
use crate::model::{
    CardKind, CharacterCode, CoPaymentRatio, ConsentFlag, ElderlyCertificate, PersonalFamily,
    PreschoolClassification, ProcessingResultStatus, Qualification, ReasonOfLoss,
    ReferenceClassification, SegmentOfResult, Sex, Validity, fullwidth_kana,
};

/// Why an XML document could not be read. Messages are Japanese because
/// they are shown to the staff member importing the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("XMLの形式が正しくありません（{0}）")]
    Syntax(String),
    /// A required element is absent.
    #[error("{element}がありません")]
    Missing {
        /// Path of the missing element, e.g. `ResultOfQualificationConfirmation/Name`.
        element: String,
    },
    /// An element has a value that cannot be used.
    #[error("{element}の値「{value}」が正しくありません（{reason}）")]
    Invalid {
        /// Path of the element.
        element: String,
        /// The value found.
        value: String,
        /// What was expected.
        reason: String,
    },
}

/// The `MessageHeader` of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// ProcessExecutionTime: when the check ran.
    pub process_execution_time: DateTime,
    /// QualificationConfirmationDate: the date eligibility was checked for.
    pub qualification_confirmation_date: Date,
    /// MedicalInstitutionCode: the 10-digit 医療機関コード.
    pub medical_institution_code: String,
    /// ArbitraryFileIdentifier: free for the facility's own use.
    pub arbitrary_file_identifier: Option<String>,
    /// ReferenceClassification (照会区分).
    pub reference_classification: ReferenceClassification,
    /// SegmentOfResult (処理結果区分).
    pub segment_of_result: SegmentOfResult,
    /// ErrorCode, when the result is not a normal end.
    pub error_code: Option<String>,
    /// ErrorMessage, when the result is not a normal end.
    pub error_message: Option<String>,
    /// CharacterCodeIdentifier; this crate writes UTF-8 (`0`).
    pub character_code: CharacterCode,
}

/// `QualificationConfirmSearchInfo`: the request's card information echoed
/// back (method 2, insurance-card numbers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchInfo {
    /// InsurerNumber as requested.
    pub insurer_number: Option<InsurerNumber>,
    /// InsuredCardSymbol.
    pub symbol: Option<String>,
    /// InsuredIdentificationNumber.
    pub number: Option<String>,
    /// InsuredBranchNumber.
    pub branch: Option<String>,
    /// Birthdate.
    pub birth_date: Option<Date>,
    /// LimitApplicationCertificateRelatedConsFlg.
    pub limit_consent: Option<ConsentFlag>,
}

/// The `MessageBody` of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody {
    /// ProcessingResultStatus (処理結果状況).
    pub processing_result_status: ProcessingResultStatus,
    /// QualificationValidity (資格有効性).
    pub qualification_validity: Option<Validity>,
    /// QualificationConfirmSearchInfo, for insurance-card lookups.
    pub search_info: Option<SearchInfo>,
    /// The qualifications (`ResultList/ResultOfQualificationConfirmation`).
    pub results: Vec<Qualification>,
}

/// A whole result document (`XmlMsg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultMessage {
    /// MessageHeader.
    pub header: MessageHeader,
    /// MessageBody.
    pub body: MessageBody,
}

impl ResultMessage {
    /// A normal-end result for `results`, checked on `confirmation_date`.
    /// QualificationValidity is 4 (該当資格なし) for none, 5 (複数該当) for
    /// several, else the single record's [`Qualification::validity_at`].
    pub fn for_results(
        executed_at: DateTime,
        confirmation_date: Date,
        medical_institution_code: &str,
        reference_classification: ReferenceClassification,
        results: Vec<Qualification>,
    ) -> ResultMessage {
        let validity = Validity::of_results(&results, confirmation_date);
        ResultMessage {
            header: MessageHeader {
                process_execution_time: executed_at,
                qualification_confirmation_date: confirmation_date,
                medical_institution_code: medical_institution_code.to_string(),
                arbitrary_file_identifier: None,
                reference_classification,
                segment_of_result: SegmentOfResult::Normal,
                error_code: None,
                error_message: None,
                character_code: CharacterCode::Utf8,
            },
            body: MessageBody {
                processing_result_status: ProcessingResultStatus::Normal,
                qualification_validity: Some(validity),
                search_info: None,
                results,
            },
        }
    }

    /// The document as UTF-8 XML with a declaration, indented by two spaces.
    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing into a Vec cannot fail; should it ever, an empty string
        // is returned rather than a truncated document.
        if write_message(&mut writer, self).is_err() {
            return String::new();
        }
        String::from_utf8(writer.into_inner()).unwrap_or_default()
    }

    /// Read a whole result document.
    pub fn parse(xml: &str) -> Result<ResultMessage, XmlError> {
        let root = parse_tree(xml)?;
        if root.name != "XmlMsg" {
            return Err(XmlError::Missing {
                element: "XmlMsg".into(),
            });
        }
        let header = root.required_child("MessageHeader", "XmlMsg")?;
        let body = root.required_child("MessageBody", "XmlMsg")?;
        Ok(ResultMessage {
            header: read_header(header)?,
            body: read_body(body)?,
        })
    }
}

/// Every `ResultOfQualificationConfirmation` in `xml`, wherever it sits (a
/// whole `XmlMsg`, a bare `ResultList`, or a single result element).
pub fn parse_qualifications(xml: &str) -> Result<Vec<Qualification>, XmlError> {
    let root = parse_tree(xml)?;
    let mut found = Vec::new();
    root.find_all("ResultOfQualificationConfirmation", &mut found);
    found.into_iter().map(read_qualification).collect()
}

// ---------------------------------------------------------------------------
// Writing

type W = Writer<Vec<u8>>;

fn write_message(w: &mut W, msg: &ResultMessage) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new(
        "1.0",
        Some("UTF-8"),
        Some("no"),
    )))?;
    w.create_element("XmlMsg").write_inner_content(|w| {
        write_header(w, &msg.header)?;
        write_body(w, &msg.body)
    })?;
    Ok(())
}

fn write_header(w: &mut W, h: &MessageHeader) -> io::Result<()> {
    w.create_element("MessageHeader")
        .write_inner_content(|w| {
            leaf(
                w,
                "ProcessExecutionTime",
                &format_datetime(h.process_execution_time),
            )?;
            leaf(
                w,
                "QualificationConfirmationDate",
                &format_date(h.qualification_confirmation_date),
            )?;
            leaf(w, "MedicalInstitutionCode", &h.medical_institution_code)?;
            opt_leaf(
                w,
                "ArbitraryFileIdentifier",
                h.arbitrary_file_identifier.as_deref(),
            )?;
            leaf(
                w,
                "ReferenceClassification",
                h.reference_classification.code(),
            )?;
            leaf(w, "SegmentOfResult", h.segment_of_result.code())?;
            opt_leaf(w, "ErrorCode", h.error_code.as_deref())?;
            opt_leaf(w, "ErrorMessage", h.error_message.as_deref())?;
            leaf(w, "CharacterCodeIdentifier", h.character_code.code())
        })
        .map(|_| ())
}

fn write_body(w: &mut W, b: &MessageBody) -> io::Result<()> {
    w.create_element("MessageBody")
        .write_inner_content(|w| {
            leaf(
                w,
                "ProcessingResultStatus",
                b.processing_result_status.code(),
            )?;
            opt_leaf(
                w,
                "QualificationValidity",
                b.qualification_validity.map(Validity::code),
            )?;
            if let Some(info) = &b.search_info {
                write_search_info(w, info)?;
            }
            if !b.results.is_empty() {
                w.create_element("ResultList").write_inner_content(|w| {
                    b.results.iter().try_for_each(|q| write_qualification(w, q))
                })?;
            }
            Ok(())
        })
        .map(|_| ())
}

fn write_search_info(w: &mut W, s: &SearchInfo) -> io::Result<()> {
    w.create_element("QualificationConfirmSearchInfo")
        .write_inner_content(|w| {
            opt_leaf(
                w,
                "InsurerNumber",
                s.insurer_number.as_ref().map(InsurerNumber::as_str),
            )?;
            opt_leaf(w, "InsuredCardSymbol", s.symbol.as_deref())?;
            opt_leaf(w, "InsuredIdentificationNumber", s.number.as_deref())?;
            opt_leaf(w, "InsuredBranchNumber", s.branch.as_deref())?;
            opt_leaf(w, "Birthdate", s.birth_date.map(format_date).as_deref())?;
            opt_leaf(
                w,
                "LimitApplicationCertificateRelatedConsFlg",
                s.limit_consent.map(ConsentFlag::code),
            )
        })
        .map(|_| ())
}

fn write_qualification(w: &mut W, q: &Qualification) -> io::Result<()> {
    w.create_element("ResultOfQualificationConfirmation")
        .write_inner_content(|w| {
            leaf(w, "InsuredCardClassification", q.card_kind.code())?;
            leaf(w, "InsurerNumber", q.insurer_number.as_str())?;
            opt_leaf(w, "InsuredCardSymbol", q.symbol.as_deref())?;
            leaf(w, "InsuredIdentificationNumber", &q.number)?;
            opt_leaf(w, "InsuredBranchNumber", q.branch.as_deref())?;
            leaf(w, "PersonalFamilyClassification", q.personal_family.code())?;
            opt_leaf(w, "InsuredName", q.insured_name.as_deref())?;
            leaf(w, "Name", &q.name)?;
            opt_leaf(w, "NameOfOther", q.name_of_other.as_deref())?;
            leaf(w, "NameKana", &to_halfwidth_kana(&q.name_kana))?;
            opt_leaf(
                w,
                "NameOfOtherKana",
                q.name_of_other_kana
                    .as_deref()
                    .map(to_halfwidth_kana)
                    .as_deref(),
            )?;
            leaf(w, "Sex1", q.sex1.code())?;
            opt_leaf(w, "Sex2", q.sex2.map(Sex::code))?;
            leaf(w, "Birthdate", &format_date(q.birth_date))?;
            opt_leaf(w, "Address", q.address.as_deref())?;
            opt_leaf(w, "PostNumber", q.post_number.as_deref())?;
            opt_leaf(
                w,
                "InsuredCertificateIssuanceDate",
                q.issuance_date.map(format_date).as_deref(),
            )?;
            leaf(w, "InsuredCardValidDate", &format_date(q.valid_from))?;
            opt_leaf(
                w,
                "InsuredCardExpirationDate",
                q.valid_to.map(format_date).as_deref(),
            )?;
            opt_leaf(
                w,
                "InsuredPartialContributionRatio",
                q.copayment_ratio.map(CoPaymentRatio::code).as_deref(),
            )?;
            opt_leaf(
                w,
                "PreschoolClassification",
                q.preschool.map(PreschoolClassification::code),
            )?;
            opt_leaf(w, "ReasonOfLoss", q.reason_of_loss.map(ReasonOfLoss::code))?;
            leaf(w, "InsurerName", &q.insurer_name)?;
            if let Some(e) = &q.elderly {
                w.create_element("ElderlyRecipientCertificateInfo")
                    .write_inner_content(|w| {
                        opt_leaf(
                            w,
                            "ElderlyRecipientCertificateDate",
                            e.certificate_date.map(format_date).as_deref(),
                        )?;
                        opt_leaf(
                            w,
                            "ElderlyRecipientValidStartDate",
                            e.valid_start.map(format_date).as_deref(),
                        )?;
                        opt_leaf(
                            w,
                            "ElderlyRecipientValidEndDate",
                            e.valid_end.map(format_date).as_deref(),
                        )?;
                        opt_leaf(
                            w,
                            "ElderlyRecipientContributionRatio",
                            e.ratio.map(CoPaymentRatio::code).as_deref(),
                        )
                    })?;
            }
            Ok(())
        })
        .map(|_| ())
}

fn leaf(w: &mut W, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))
        .map(|_| ())
}

fn opt_leaf(w: &mut W, name: &str, value: Option<&str>) -> io::Result<()> {
    match value {
        Some(v) => leaf(w, name, v),
        None => Ok(()),
    }
}

/// `yyyyMMdd`.
pub fn format_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

/// `yyyyMMddHHmmss`.
pub fn format_datetime(t: DateTime) -> String {
    format!(
        "{}{:02}{:02}{:02}",
        format_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parse `yyyyMMdd`.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i16 = s[..4].parse().ok()?;
    let month: i8 = s[4..6].parse().ok()?;
    let day: i8 = s[6..].parse().ok()?;
    Date::new(year, month, day).ok()
}

/// Parse `yyyyMMddHHmmss`.
pub fn parse_datetime(s: &str) -> Option<DateTime> {
    let s = s.trim();
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = parse_date(&s[..8])?;
    let hour: i8 = s[8..10].parse().ok()?;
    let minute: i8 = s[10..12].parse().ok()?;
    let second: i8 = s[12..].parse().ok()?;
    let time = jiff::civil::Time::new(hour, minute, second, 0).ok()?;
    Some(date.to_datetime(time))
}

// ---------------------------------------------------------------------------
// Reading

/// A minimal element tree: the documents are small and a tree makes the
/// field mapping read like the layout above.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn required_child(&self, name: &str, parent: &str) -> Result<&Element, XmlError> {
        self.child(name).ok_or_else(|| XmlError::Missing {
            element: format!("{parent}/{name}"),
        })
    }

    /// Trimmed text of a child; `None` when the child is absent or empty
    /// (both mean "not sent").
    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }

    fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        if self.name == name {
            out.push(self);
            // Results do not nest; no need to look inside one.
            return;
        }
        for c in &self.children {
            c.find_all(name, out);
        }
    }
}

fn syntax(e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(e.to_string())
}

/// The local part of a possibly prefixed element name.
fn local_name(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_string()
}

fn parse_tree(xml: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(syntax)?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::Syntax("ルート要素が複数あります".into()));
                }
                stack.push(Element {
                    name: local_name(start.name().as_ref()),
                    ..Element::default()
                });
            }
            Event::Empty(start) => {
                let element = Element {
                    name: local_name(start.name().as_ref()),
                    ..Element::default()
                };
                close(element, &mut stack, &mut root)?;
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches.
                let element = stack
                    .pop()
                    .ok_or_else(|| XmlError::Syntax("対応する開始タグがありません".into()))?;
                close(element, &mut stack, &mut root)?;
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    let raw = data.into_inner();
                    top.text.push_str(&raw);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(syntax)? {
                    Some(c) => c,
                    None => match reference.into_inner().as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(XmlError::Syntax(format!("未定義の実体参照 &{other};")));
                        }
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Syntax(format!(
            "<{}> が閉じられていません",
            open.name
        )));
    }
    root.ok_or_else(|| XmlError::Syntax("要素がありません".into()))
}

fn close(
    element: Element,
    stack: &mut [Element],
    root: &mut Option<Element>,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(XmlError::Syntax("ルート要素が複数あります".into())),
    }
    Ok(())
}

/// Reads the children of one element, naming them by path in errors.
struct Fields<'a> {
    element: &'a Element,
    path: &'static str,
}

impl<'a> Fields<'a> {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.element.text_of(name).map(str::to_string)
    }

    fn req(&self, name: &str) -> Result<&'a str, XmlError> {
        self.element.text_of(name).ok_or_else(|| XmlError::Missing {
            element: self.path(name),
        })
    }

    fn invalid(&self, name: &str, value: &str, reason: &str) -> XmlError {
        XmlError::Invalid {
            element: self.path(name),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    fn code<T>(&self, name: &str, from: fn(&str) -> Option<T>) -> Result<T, XmlError> {
        let v = self.req(name)?;
        from(v).ok_or_else(|| self.invalid(name, v, "コード表にない値です"))
    }

    fn opt_code<T>(&self, name: &str, from: fn(&str) -> Option<T>) -> Result<Option<T>, XmlError> {
        match self.element.text_of(name) {
            None => Ok(None),
            Some(v) => from(v)
                .map(Some)
                .ok_or_else(|| self.invalid(name, v, "コード表にない値です")),
        }
    }

    fn date(&self, name: &str) -> Result<Date, XmlError> {
        let v = self.req(name)?;
        parse_date(v).ok_or_else(|| self.invalid(name, v, "yyyyMMdd形式の日付ではありません"))
    }

    fn opt_date(&self, name: &str) -> Result<Option<Date>, XmlError> {
        match self.element.text_of(name) {
            None => Ok(None),
            Some(v) => parse_date(v)
                .map(Some)
                .ok_or_else(|| self.invalid(name, v, "yyyyMMdd形式の日付ではありません")),
        }
    }

    fn opt_ratio(&self, name: &str) -> Result<Option<CoPaymentRatio>, XmlError> {
        self.opt_code(name, CoPaymentRatio::from_code)
    }
}

fn read_header(e: &Element) -> Result<MessageHeader, XmlError> {
    let f = Fields {
        element: e,
        path: "MessageHeader",
    };
    let time = f.req("ProcessExecutionTime")?;
    let process_execution_time = parse_datetime(time).ok_or_else(|| {
        f.invalid(
            "ProcessExecutionTime",
            time,
            "yyyyMMddHHmmss形式の日時ではありません",
        )
    })?;
    let code = f.req("MedicalInstitutionCode")?;
    if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(f.invalid("MedicalInstitutionCode", code, "10桁の数字ではありません"));
    }
    Ok(MessageHeader {
        process_execution_time,
        qualification_confirmation_date: f.date("QualificationConfirmationDate")?,
        medical_institution_code: code.to_string(),
        arbitrary_file_identifier: f.opt("ArbitraryFileIdentifier"),
        reference_classification: f.code(
            "ReferenceClassification",
            ReferenceClassification::from_code,
        )?,
        segment_of_result: f.code("SegmentOfResult", SegmentOfResult::from_code)?,
        error_code: f.opt("ErrorCode"),
        error_message: f.opt("ErrorMessage"),
        character_code: f.code("CharacterCodeIdentifier", CharacterCode::from_code)?,
    })
}

fn read_body(e: &Element) -> Result<MessageBody, XmlError> {
    let f = Fields {
        element: e,
        path: "MessageBody",
    };
    let search_info = match e.child("QualificationConfirmSearchInfo") {
        None => None,
        Some(info) => Some(read_search_info(info)?),
    };
    let mut found = Vec::new();
    for c in &e.children {
        c.find_all("ResultOfQualificationConfirmation", &mut found);
    }
    Ok(MessageBody {
        processing_result_status: f
            .code("ProcessingResultStatus", ProcessingResultStatus::from_code)?,
        qualification_validity: f.opt_code("QualificationValidity", Validity::from_code)?,
        search_info,
        results: found
            .into_iter()
            .map(read_qualification)
            .collect::<Result<_, _>>()?,
    })
}

fn read_search_info(e: &Element) -> Result<SearchInfo, XmlError> {
    let f = Fields {
        element: e,
        path: "QualificationConfirmSearchInfo",
    };
    let insurer_number = match e.text_of("InsurerNumber") {
        None => None,
        Some(v) => Some(
            InsurerNumber::from_record(v)
                .map_err(|err| f.invalid("InsurerNumber", v, &err.message))?,
        ),
    };
    Ok(SearchInfo {
        insurer_number,
        symbol: f.opt("InsuredCardSymbol"),
        number: f.opt("InsuredIdentificationNumber"),
        branch: f.opt("InsuredBranchNumber"),
        birth_date: f.opt_date("Birthdate")?,
        limit_consent: f.opt_code(
            "LimitApplicationCertificateRelatedConsFlg",
            ConsentFlag::from_code,
        )?,
    })
}

fn read_qualification(e: &Element) -> Result<Qualification, XmlError> {
    let f = Fields {
        element: e,
        path: "ResultOfQualificationConfirmation",
    };
    let number_text = f.req("InsurerNumber")?;
    let insurer_number = InsurerNumber::from_record(number_text)
        .map_err(|err| f.invalid("InsurerNumber", number_text, &err.message))?;
    let post_number = match e.text_of("PostNumber") {
        None => None,
        Some(v) => Some(
            crate::model::normalize_post_number(v)
                .ok_or_else(|| f.invalid("PostNumber", v, "7桁の郵便番号ではありません"))?,
        ),
    };
    let elderly = match e.child("ElderlyRecipientCertificateInfo") {
        None => None,
        Some(info) => {
            let g = Fields {
                element: info,
                path: "ElderlyRecipientCertificateInfo",
            };
            Some(ElderlyCertificate {
                certificate_date: g.opt_date("ElderlyRecipientCertificateDate")?,
                valid_start: g.opt_date("ElderlyRecipientValidStartDate")?,
                valid_end: g.opt_date("ElderlyRecipientValidEndDate")?,
                ratio: g.opt_ratio("ElderlyRecipientContributionRatio")?,
            })
        }
    };
    Ok(Qualification {
        card_kind: f.code("InsuredCardClassification", CardKind::from_code)?,
        insurer_number,
        insurer_name: f.req("InsurerName")?.to_string(),
        symbol: f.opt("InsuredCardSymbol"),
        number: f.req("InsuredIdentificationNumber")?.to_string(),
        branch: f.opt("InsuredBranchNumber"),
        personal_family: f.code("PersonalFamilyClassification", PersonalFamily::from_code)?,
        insured_name: f.opt("InsuredName"),
        name: f.req("Name")?.to_string(),
        name_kana: f
            .opt("NameKana")
            .map(|k| fullwidth_kana(&k))
            .unwrap_or_default(),
        name_of_other: f.opt("NameOfOther"),
        name_of_other_kana: f.opt("NameOfOtherKana").map(|k| fullwidth_kana(&k)),
        sex1: f.code("Sex1", Sex::from_code)?,
        sex2: f.opt_code("Sex2", Sex::from_code)?,
        birth_date: f.date("Birthdate")?,
        address: f.opt("Address"),
        post_number,
        issuance_date: f.opt_date("InsuredCertificateIssuanceDate")?,
        valid_from: f.date("InsuredCardValidDate")?,
        valid_to: f.opt_date("InsuredCardExpirationDate")?,
        reason_of_loss: f.opt_code("ReasonOfLoss", ReasonOfLoss::from_code)?,
        copayment_ratio: f.opt_ratio("InsuredPartialContributionRatio")?,
        elderly,
        preschool: f.opt_code(
            "PreschoolClassification",
            PreschoolClassification::from_code,
        )?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generate::{Generator, seed_examples};
    use jiff::civil::date;

    fn message(results: Vec<Qualification>) -> ResultMessage {
        ResultMessage::for_results(
            date(2021, 1, 19).at(10, 30, 5, 0),
            date(2021, 1, 19),
            "1312345678",
            ReferenceClassification::MyNumberCard,
            results,
        )
    }

    #[test]
    fn renders_the_documented_layout() {
        let shimbashi = seed_examples().remove(0).1;
        let xml = message(vec![shimbashi]).to_xml();
        for fragment in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>",
            "<ProcessExecutionTime>20210119103005</ProcessExecutionTime>",
            "<QualificationConfirmationDate>20210119</QualificationConfirmationDate>",
            "<MedicalInstitutionCode>1312345678</MedicalInstitutionCode>",
            "<ReferenceClassification>1</ReferenceClassification>",
            "<SegmentOfResult>1</SegmentOfResult>",
            "<CharacterCodeIdentifier>0</CharacterCodeIdentifier>",
            "<ProcessingResultStatus>1</ProcessingResultStatus>",
            "<QualificationValidity>1</QualificationValidity>",
            "<InsuredCardClassification>01</InsuredCardClassification>",
            "<InsurerNumber>06139000</InsurerNumber>",
            "<InsuredCardSymbol>9000</InsuredCardSymbol>",
            "<InsuredIdentificationNumber>10001</InsuredIdentificationNumber>",
            "<InsuredBranchNumber>01</InsuredBranchNumber>",
            "<Name>新橋　太郎</Name>",
            "<NameKana>ｼﾝﾊﾞｼ ﾀﾛｳ</NameKana>",
            "<NameOfOther>新橋　他太郎</NameOfOther>",
            "<Birthdate>19540326</Birthdate>",
            "<PostNumber>1511234</PostNumber>",
            "<InsuredCardValidDate>20200101</InsuredCardValidDate>",
            "<InsurerName>東京新橋サンプル保険者</InsurerName>",
        ] {
            assert!(xml.contains(fragment), "missing {fragment} in\n{xml}");
        }
        // Absent optional values are left out, not written empty.
        assert!(!xml.contains("InsuredCardExpirationDate"));
        assert!(!xml.contains("ReasonOfLoss"));
        let header = xml.find("<MessageHeader>").unwrap();
        let body = xml.find("<MessageBody>").unwrap();
        assert!(header < body);
    }

    #[test]
    fn round_trip_seed_and_generated() {
        let mut records: Vec<Qualification> = seed_examples().into_iter().map(|(_, q)| q).collect();
        records.extend(Generator::new(7).take(300).map(|(_, q)| q));
        // Make sure the interesting optional parts are exercised.
        assert!(records.iter().any(|q| q.elderly.is_some()));
        assert!(records.iter().any(|q| q.copayment_ratio.is_some()));
        assert!(records.iter().any(|q| q.reason_of_loss.is_some()));
        assert!(records.iter().any(|q| q.preschool.is_some()));

        let mut msg = message(records.clone());
        msg.body.search_info = Some(SearchInfo {
            insurer_number: Some(InsurerNumber::parse("138016").unwrap()),
            symbol: Some("あ<&>".into()),
            number: Some("1".into()),
            branch: Some("01".into()),
            birth_date: Some(date(1954, 3, 26)),
            limit_consent: Some(ConsentFlag::Consented),
        });
        msg.header.error_message = Some("\"quoted\" & 'single'".into());
        let xml = msg.to_xml();
        assert_eq!(ResultMessage::parse(&xml).unwrap(), msg);
        assert_eq!(parse_qualifications(&xml).unwrap(), records);
        assert_eq!(msg.body.qualification_validity, Some(Validity::Multiple));
    }

    #[test]
    fn validity_from_results() {
        assert_eq!(
            message(vec![]).body.qualification_validity,
            Some(Validity::NotFound)
        );
        let sato = seed_examples()
            .into_iter()
            .map(|(_, q)| q)
            .find(|q| q.name.starts_with("佐藤"))
            .unwrap();
        assert_eq!(
            message(vec![sato]).body.qualification_validity,
            Some(Validity::Invalid)
        );
    }

    #[test]
    fn reads_a_hand_written_result() {
        // Shaped like a saved real response: a prefix, comments, CDATA,
        // character references, unknown elements, an empty optional element.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- saved from the portal -->
<ns:XmlMsg xmlns:ns="urn:example">
  <ns:MessageHeader>
    <ProcessExecutionTime>20240401091500</ProcessExecutionTime>
    <QualificationConfirmationDate>20240401</QualificationConfirmationDate>
    <MedicalInstitutionCode>1312345678</MedicalInstitutionCode>
    <ReferenceClassification>2</ReferenceClassification>
    <SegmentOfResult>1</SegmentOfResult>
    <CharacterCodeIdentifier>0</CharacterCodeIdentifier>
  </ns:MessageHeader>
  <ns:MessageBody>
    <ProcessingResultStatus>1</ProcessingResultStatus>
    <QualificationValidity>1</QualificationValidity>
    <ResultList>
      <ResultOfQualificationConfirmation>
        <InsuredCardClassification>01</InsuredCardClassification>
        <InsurerNumber>39131015</InsurerNumber>
        <InsuredIdentificationNumber>12345678</InsuredIdentificationNumber>
        <PersonalFamilyClassification>1</PersonalFamilyClassification>
        <Name><![CDATA[山田　花子]]></Name>
        <NameKana>&#xFF94;&#xFF8F;&#xFF80;&#xFF9E; ﾊﾅｺ</NameKana>
        <Sex1>2</Sex1>
        <Birthdate>19450505</Birthdate>
        <Address/>
        <InsuredCardValidDate>20200505</InsuredCardValidDate>
        <InsuredPartialContributionRatio>010</InsuredPartialContributionRatio>
        <InsurerName>東京都後期高齢者医療広域連合</InsurerName>
        <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
      </ResultOfQualificationConfirmation>
    </ResultList>
  </ns:MessageBody>
</ns:XmlMsg>"#;
        let msg = ResultMessage::parse(xml).unwrap();
        assert_eq!(
            msg.header.reference_classification,
            ReferenceClassification::InsuranceCard
        );
        let q = &msg.body.results[0];
        assert_eq!(q.name, "山田　花子");
        assert_eq!(q.name_kana, "ヤマダ　ハナコ");
        assert_eq!(q.address, None);
        assert_eq!(q.symbol, None);
        assert!(q.is_late_elderly());
        assert_eq!(q.copayment_ratio.map(|r| r.label()), Some("1割".into()));
        assert_eq!(q.validity_at(date(2024, 4, 1)), Validity::Valid);
    }

    #[test]
    fn bare_result_elements() {
        let one = seed_examples().remove(0).1;
        let xml = message(vec![one.clone()]).to_xml();
        let start = xml.find("<ResultOfQualificationConfirmation>").unwrap();
        let end = xml.find("</ResultList>").unwrap();
        let bare = &xml[start..end];
        assert_eq!(parse_qualifications(bare).unwrap(), vec![one]);
        assert_eq!(parse_qualifications("<ResultList/>").unwrap(), vec![]);
    }

    #[test]
    fn errors_are_reported_not_panicked() {
        let good = message(vec![seed_examples().remove(0).1]).to_xml();
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "要素がありません"),
            ("<XmlMsg>".into(), "閉じられていません"),
            ("<a></b>".into(), "XMLの形式"),
            ("<a>&foo;</a>".into(), "未定義"),
            ("<a/><b/>".into(), "ルート要素"),
            ("<Other/>".into(), "XmlMsgがありません"),
            (
                good.replace("<Sex1>1</Sex1>", "<Sex1>9</Sex1>"),
                "Sex1の値「9」",
            ),
            (
                good.replace("<Name>新橋　太郎</Name>", ""),
                "ResultOfQualificationConfirmation/Nameがありません",
            ),
            (good.replace("19540326", "19540230"), "Birthdate"),
            (
                good.replace("<InsurerNumber>06139000", "<InsurerNumber>0613900"),
                "InsurerNumber",
            ),
            (
                good.replace("1312345678", "13123"),
                "MedicalInstitutionCode",
            ),
            (
                good.replace("20210119103005", "2021011910"),
                "ProcessExecutionTime",
            ),
            (
                good.replace("<PostNumber>1511234", "<PostNumber>15112"),
                "PostNumber",
            ),
        ];
        for (xml, fragment) in cases {
            let err = ResultMessage::parse(&xml).unwrap_err();
            assert!(err.to_string().contains(fragment), "{fragment}: {err}");
        }
    }

    #[test]
    fn date_formats() {
        assert_eq!(format_date(date(2021, 1, 9)), "20210109");
        assert_eq!(parse_date("20210109"), Some(date(2021, 1, 9)));
        assert_eq!(parse_date("2021019"), None);
        assert_eq!(parse_date("2021-1-9"), None);
        assert_eq!(
            parse_datetime("20210109235959"),
            Some(date(2021, 1, 9).at(23, 59, 59, 0))
        );
        assert_eq!(parse_datetime("20210109246000"), None);
    }
}
