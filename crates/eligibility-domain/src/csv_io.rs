//! CSV import and export of qualification records, for loading test or
//! demo data into the eligibility store and for handing records to people
//! who work in spreadsheets.
//!
//! The first row is a header of stable English column names ([`COLUMNS`],
//! in this order on export; any order on import). Each maps to one field of
//! [`Qualification`]:
//!
//! | column | field | format |
//! |---|---|---|
//! | `card_kind` | 証区分 | OQSCD010 code `01`…`07` |
//! | `insurer_number` | 保険者番号 | 6 or 8 digits |
//! | `insurer_name` | 保険者名 | text |
//! | `symbol` | 記号 | text, may be empty |
//! | `number` | 番号 | text |
//! | `branch` | 枝番 | 2 digits, may be empty |
//! | `personal_family` | 本人・家族の別 | `1` 本人, `2` 家族 |
//! | `insured_name` | 被保険者氏名（世帯主） | text, may be empty |
//! | `name` | 氏名 | text |
//! | `name_kana` | 氏名（カナ） | katakana (half-width or hiragana accepted) |
//! | `name_of_other` | 氏名（その他） | text, may be empty |
//! | `name_of_other_kana` | 氏名（その他）カナ | katakana, may be empty |
//! | `sex1` | 性別（表面） | `1` 男, `2` 女, `3` 未設定 |
//! | `sex2` | 性別（裏面） | same, may be empty |
//! | `birth_date` | 生年月日 | `YYYY-MM-DD` |
//! | `address` | 住所 | text, may be empty |
//! | `post_number` | 郵便番号 | 7 digits (hyphen allowed), may be empty |
//! | `issuance_date` | 交付年月日 | `YYYY-MM-DD`, may be empty |
//! | `valid_from` | 有効開始日 | `YYYY-MM-DD` |
//! | `valid_to` | 有効終了日 | `YYYY-MM-DD`, may be empty |
//! | `reason_of_loss` | 資格喪失事由 | `01`, `02`, `03`, `99`, may be empty |
//! | `copayment_ratio` | 一部負担金割合 | `010`/`020`/`030`, may be empty |
//! | `elderly_certificate_date` | 高齢受給者証 交付日 | `YYYY-MM-DD`, may be empty |
//! | `elderly_valid_start` | 高齢受給者証 有効開始日 | `YYYY-MM-DD`, may be empty |
//! | `elderly_valid_end` | 高齢受給者証 有効終了日 | `YYYY-MM-DD`, may be empty |
//! | `elderly_ratio` | 高齢受給者証 負担割合 | `020`/`030`, may be empty |
//! | `preschool` | 未就学区分 | `1` or empty |
//!
//! Import is forgiving where spreadsheets are known to mangle data: a code
//! column also accepts the Japanese label (`男`, `本人`), leading zeros lost
//! by a spreadsheet are restored (`1` → `01`, a 7-digit insurer number →
//! 8), dates may use `/`, and a UTF-8 BOM is ignored. Everything else that
//! is wrong is reported per row (the header is row 1, as a spreadsheet
//! numbers it) and per column, in Japanese; such rows are skipped and the
//! rest imported. Import never panics, whatever the bytes.

use std::io;

use jiff::civil::Date;
use unicode_normalization::UnicodeNormalization;

use crate::InsurerNumber;
use crate::model::{
    CardKind, CoPaymentRatio, CodeTable, ElderlyCertificate, PersonalFamily,
    PreschoolClassification, Qualification, ReasonOfLoss, Sex, fullwidth_kana,
    normalize_post_number,
};

/// The columns, in export order.
pub const COLUMNS: [&str; 27] = [
    "card_kind",
    "insurer_number",
    "insurer_name",
    "symbol",
    "number",
    "branch",
    "personal_family",
    "insured_name",
    "name",
    "name_kana",
    "name_of_other",
    "name_of_other_kana",
    "sex1",
    "sex2",
    "birth_date",
    "address",
    "post_number",
    "issuance_date",
    "valid_from",
    "valid_to",
    "reason_of_loss",
    "copayment_ratio",
    "elderly_certificate_date",
    "elderly_valid_start",
    "elderly_valid_end",
    "elderly_ratio",
    "preschool",
];

/// Columns that must be in the header; the others may be left out.
pub const REQUIRED_COLUMNS: [&str; 9] = [
    "card_kind",
    "insurer_number",
    "insurer_name",
    "number",
    "personal_family",
    "name",
    "sex1",
    "birth_date",
    "valid_from",
];

/// One problem found while importing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{row}行目 {field}: {message}")]
pub struct RowError {
    /// Row number as a spreadsheet shows it: the header is row 1.
    pub row: usize,
    /// The column name (or `"row"` for a problem with the whole row).
    pub field: &'static str,
    /// What is wrong, in Japanese.
    pub message: String,
}

/// The outcome of an import: the rows that were read, and what was wrong
/// with the others.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Records read without error, in file order.
    pub records: Vec<Qualification>,
    /// Problems, in file order; a row with any problem is not in `records`.
    pub errors: Vec<RowError>,
}

/// Write `records` as CSV with the header row.
pub fn export<W: io::Write>(writer: W, records: &[Qualification]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(writer);
    w.write_record(COLUMNS)?;
    for q in records {
        w.write_record(row_of(q))?;
    }
    w.flush()?;
    Ok(())
}

/// [`export`] into a string.
pub fn export_string(records: &[Qualification]) -> String {
    let mut buf = Vec::new();
    // Writing into memory does not fail; if it somehow did, an empty string
    // is better than a truncated file.
    if export(&mut buf, records).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

fn row_of(q: &Qualification) -> [String; 27] {
    let date = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let elderly = q.elderly.as_ref();
    [
        q.card_kind.code().to_string(),
        q.insurer_number.as_str().to_string(),
        q.insurer_name.clone(),
        text(&q.symbol),
        q.number.clone(),
        text(&q.branch),
        q.personal_family.code().to_string(),
        text(&q.insured_name),
        q.name.clone(),
        q.name_kana.clone(),
        text(&q.name_of_other),
        text(&q.name_of_other_kana),
        q.sex1.code().to_string(),
        q.sex2.map(|s| s.code().to_string()).unwrap_or_default(),
        q.birth_date.to_string(),
        text(&q.address),
        text(&q.post_number),
        date(q.issuance_date),
        q.valid_from.to_string(),
        date(q.valid_to),
        q.reason_of_loss
            .map(|r| r.code().to_string())
            .unwrap_or_default(),
        q.copayment_ratio.map(|r| r.code()).unwrap_or_default(),
        date(elderly.and_then(|e| e.certificate_date)),
        date(elderly.and_then(|e| e.valid_start)),
        date(elderly.and_then(|e| e.valid_end)),
        elderly
            .and_then(|e| e.ratio)
            .map(|r| r.code())
            .unwrap_or_default(),
        q.preschool
            .map(|p| p.code().to_string())
            .unwrap_or_default(),
    ]
}

/// Read CSV from `reader`. See the module docs for the format.
pub fn import<R: io::Read>(reader: R) -> ImportReport {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        // Rows with the wrong number of fields are reported, not fatal.
        .flexible(true)
        .from_reader(reader);
    let mut report = ImportReport::default();
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Header> = None;
    let mut row = 0usize;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Only I/O errors end up here with a flexible reader; the
                // rest of the input cannot be read.
                report.errors.push(RowError {
                    row: row + 1,
                    field: "row",
                    message: format!("CSVを読み込めませんでした（{e}）"),
                });
                break;
            }
        }
        row += 1;
        let fields: Vec<String> = match record
            .iter()
            .map(|f| std::str::from_utf8(f).map(|s| s.trim().to_string()))
            .collect::<Result<_, _>>()
        {
            Ok(fields) => fields,
            Err(_) => {
                report.errors.push(RowError {
                    row,
                    field: "row",
                    message: "文字コードがUTF-8ではありません。UTF-8で保存し直してください。"
                        .into(),
                });
                if header.is_none() {
                    break;
                }
                continue;
            }
        };
        match &header {
            None => match Header::read(&fields) {
                Ok(h) => header = Some(h),
                Err(errors) => {
                    report.errors.extend(errors);
                    break;
                }
            },
            Some(h) => {
                if fields.iter().all(String::is_empty) {
                    // Spreadsheets leave blank lines at the end.
                    continue;
                }
                if fields.len() != h.width {
                    report.errors.push(RowError {
                        row,
                        field: "row",
                        message: format!(
                            "列の数（{}）がヘッダー（{}）と一致しません。",
                            fields.len(),
                            h.width
                        ),
                    });
                    continue;
                }
                match read_row(h, &fields, row) {
                    Ok(q) => report.records.push(q),
                    Err(errors) => report.errors.extend(errors),
                }
            }
        }
    }
    if header.is_none() && report.errors.is_empty() {
        report.errors.push(RowError {
            row: 1,
            field: "row",
            message: "ヘッダー行がありません。".into(),
        });
    }
    report
}

/// [`import`] from a string.
pub fn import_str(csv: &str) -> ImportReport {
    import(csv.as_bytes())
}

/// Where each known column is in the file.
struct Header {
    positions: [Option<usize>; 27],
    width: usize,
}

impl Header {
    fn read(fields: &[String]) -> Result<Header, Vec<RowError>> {
        let mut positions = [None; 27];
        let mut errors = Vec::new();
        let err = |field: &'static str, message: String| RowError {
            row: 1,
            field,
            message,
        };
        for (i, raw) in fields.iter().enumerate() {
            let name = raw.trim_start_matches('\u{feff}');
            match COLUMNS.iter().position(|c| *c == name) {
                Some(col) if positions[col].is_some() => {
                    errors.push(err(COLUMNS[col], format!("列「{name}」が重複しています。")));
                }
                Some(col) => positions[col] = Some(i),
                // An unknown column is most likely a typo of a known one;
                // silently dropping it would lose data.
                None => errors.push(err("row", format!("列「{name}」は定義されていません。"))),
            }
        }
        for required in REQUIRED_COLUMNS {
            if let Some(col) = COLUMNS.iter().position(|c| *c == required)
                && positions[col].is_none()
            {
                errors.push(err(
                    required,
                    format!("必須の列「{required}」がありません。"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Header {
                positions,
                width: fields.len(),
            })
        } else {
            Err(errors)
        }
    }
}

/// Reads one data row, collecting every problem rather than stopping at the
/// first, so one pass over the file shows all that needs fixing.
struct RowReader<'a> {
    header: &'a Header,
    fields: &'a [String],
    row: usize,
    errors: Vec<RowError>,
}

impl RowReader<'_> {
    fn raw(&self, column: &'static str) -> &str {
        COLUMNS
            .iter()
            .position(|c| *c == column)
            .and_then(|col| self.header.positions[col])
            .and_then(|i| self.fields.get(i))
            .map_or("", String::as_str)
    }

    fn error(&mut self, field: &'static str, message: String) {
        self.errors.push(RowError {
            row: self.row,
            field,
            message,
        });
    }

    fn opt_text(&self, column: &'static str) -> Option<String> {
        let v = self.raw(column);
        (!v.is_empty()).then(|| v.to_string())
    }

    fn text(&mut self, column: &'static str, label: &str) -> String {
        let v = self.raw(column).to_string();
        if v.is_empty() {
            self.error(column, format!("{label}は必須です。"));
        }
        v
    }

    fn opt_code<T: CodeTable>(&mut self, column: &'static str, label: &str) -> Option<T> {
        let v: String = self.raw(column).nfkc().collect();
        if v.is_empty() {
            return None;
        }
        let found = T::ALL.iter().copied().find(|t| {
            t.code() == v
                || t.name() == v
                // Restore a leading zero a spreadsheet dropped ("1" → "01").
                || (t.code().len() == 2 && v.len() == 1 && t.code().ends_with(v.as_str())
                    && t.code().starts_with('0'))
        });
        if found.is_none() {
            let codes: Vec<String> = T::ALL
                .iter()
                .map(|t| format!("{} {}", t.code(), t.name()))
                .collect();
            self.error(
                column,
                format!("{label}「{v}」は使用できません（{}）。", codes.join("、")),
            );
        }
        found
    }

    fn code<T: CodeTable>(&mut self, column: &'static str, label: &str) -> Option<T> {
        if self.raw(column).is_empty() {
            self.error(column, format!("{label}は必須です。"));
            return None;
        }
        self.opt_code(column, label)
    }

    fn opt_date(&mut self, column: &'static str, label: &str) -> Option<Date> {
        let v: String = self.raw(column).nfkc().collect();
        if v.is_empty() {
            return None;
        }
        let parsed = parse_csv_date(&v);
        if parsed.is_none() {
            self.error(
                column,
                format!("{label}「{v}」が正しくありません。YYYY-MM-DD（例 2021-01-19）で入力してください。"),
            );
        }
        parsed
    }

    fn date(&mut self, column: &'static str, label: &str) -> Option<Date> {
        if self.raw(column).is_empty() {
            self.error(column, format!("{label}は必須です。"));
            return None;
        }
        self.opt_date(column, label)
    }

    fn opt_ratio(&mut self, column: &'static str, label: &str) -> Option<CoPaymentRatio> {
        let v: String = self.raw(column).nfkc().collect();
        if v.is_empty() {
            return None;
        }
        let parsed = CoPaymentRatio::from_code(&v);
        if parsed.is_none() {
            self.error(
                column,
                format!(
                    "{label}「{v}」が正しくありません。百分率の3桁（1割は010）で入力してください。"
                ),
            );
        }
        parsed
    }
}

/// `YYYY-MM-DD`, or with `/`; one-digit months and days are accepted.
fn parse_csv_date(s: &str) -> Option<Date> {
    let mut parts = s.split(['-', '/']);
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if y.len() != 4 || m.is_empty() || m.len() > 2 || d.is_empty() || d.len() > 2 {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(y) || !all_digits(m) || !all_digits(d) {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

fn read_row(
    header: &Header,
    fields: &[String],
    row: usize,
) -> Result<Qualification, Vec<RowError>> {
    let mut r = RowReader {
        header,
        fields,
        row,
        errors: Vec::new(),
    };

    let card_kind = r.code::<CardKind>("card_kind", "証区分");
    let insurer_number = {
        let raw: String = r.raw("insurer_number").nfkc().collect();
        // Spreadsheets drop the leading zero of 01…/06… numbers.
        let restored = match raw.len() {
            5 | 7 if raw.bytes().all(|b| b.is_ascii_digit()) => format!("0{raw}"),
            _ => raw,
        };
        // Records are kept as the insurer sent them, so the check digit is
        // not enforced here (see the insurer module).
        match InsurerNumber::from_record(&restored) {
            Ok(n) => Some(n),
            Err(e) => {
                r.error("insurer_number", e.message);
                None
            }
        }
    };
    let insurer_name = r.text("insurer_name", "保険者名");
    let symbol = r.opt_text("symbol");
    let number = r.text("number", "番号");
    let branch = {
        let v: String = r.raw("branch").nfkc().collect();
        if v.is_empty() {
            None
        } else if v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit()) {
            Some(format!("{v:0>2}"))
        } else {
            r.error(
                "branch",
                format!("枝番「{v}」は2桁の数字で入力してください。"),
            );
            None
        }
    };
    let personal_family = r.code::<PersonalFamily>("personal_family", "本人・家族の別");
    let insured_name = r.opt_text("insured_name");
    let name = r.text("name", "氏名");
    let name_kana = fullwidth_kana(r.raw("name_kana"));
    let name_of_other = r.opt_text("name_of_other");
    let name_of_other_kana = r.opt_text("name_of_other_kana").map(|k| fullwidth_kana(&k));
    for (column, value) in [
        ("name_kana", Some(&name_kana)),
        ("name_of_other_kana", name_of_other_kana.as_ref()),
    ] {
        if let Some(v) = value
            && !v.is_empty()
            && !tsunagu_calendar::is_katakana(v)
        {
            r.error(column, format!("「{v}」はカタカナで入力してください。"));
        }
    }
    let sex1 = r.code::<Sex>("sex1", "性別（表面）");
    let sex2 = r.opt_code::<Sex>("sex2", "性別（裏面）");
    let birth_date = r.date("birth_date", "生年月日");
    let address = r.opt_text("address");
    let post_number = match r.opt_text("post_number") {
        None => None,
        Some(v) => {
            let n = normalize_post_number(&v);
            if n.is_none() {
                r.error(
                    "post_number",
                    format!("郵便番号「{v}」は7桁の数字で入力してください。"),
                );
            }
            n
        }
    };
    let issuance_date = r.opt_date("issuance_date", "交付年月日");
    let valid_from = r.date("valid_from", "有効開始日");
    let valid_to = r.opt_date("valid_to", "有効終了日");
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && to < from
    {
        r.error("valid_to", "有効終了日が有効開始日より前です。".into());
    }
    let reason_of_loss = r.opt_code::<ReasonOfLoss>("reason_of_loss", "資格喪失事由");
    let copayment_ratio = r.opt_ratio("copayment_ratio", "一部負担金割合");
    let elderly = ElderlyCertificate {
        certificate_date: r.opt_date("elderly_certificate_date", "高齢受給者証交付日"),
        valid_start: r.opt_date("elderly_valid_start", "高齢受給者証有効開始日"),
        valid_end: r.opt_date("elderly_valid_end", "高齢受給者証有効終了日"),
        ratio: r.opt_ratio("elderly_ratio", "高齢受給者証負担割合"),
    };
    let elderly = (elderly.certificate_date.is_some()
        || elderly.valid_start.is_some()
        || elderly.valid_end.is_some()
        || elderly.ratio.is_some())
    .then_some(elderly);
    let preschool = r.opt_code::<PreschoolClassification>("preschool", "未就学区分");

    // Every required value is Some unless an error was recorded for it.
    match (
        card_kind,
        insurer_number,
        personal_family,
        sex1,
        birth_date,
        valid_from,
    ) {
        (
            Some(card_kind),
            Some(insurer_number),
            Some(personal_family),
            Some(sex1),
            Some(birth_date),
            Some(valid_from),
        ) if r.errors.is_empty() => Ok(Qualification {
            card_kind,
            insurer_number,
            insurer_name,
            symbol,
            number,
            branch,
            personal_family,
            insured_name,
            name,
            name_kana,
            name_of_other,
            name_of_other_kana,
            sex1,
            sex2,
            birth_date,
            address,
            post_number,
            issuance_date,
            valid_from,
            valid_to,
            reason_of_loss,
            copayment_ratio,
            elderly,
            preschool,
        }),
        _ => Err(r.errors),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generate::{Generator, seed_examples};
    use jiff::civil::date;

    fn header() -> String {
        COLUMNS.join(",")
    }

    #[test]
    fn round_trip() {
        let mut records: Vec<Qualification> = seed_examples().into_iter().map(|(_, q)| q).collect();
        records.extend(Generator::new(11).take(500).map(|(_, q)| q));
        let csv = export_string(&records);
        assert!(csv.starts_with("card_kind,insurer_number,insurer_name,symbol,number,branch,"));
        let report = import_str(&csv);
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.records, records);
    }

    #[test]
    fn minimal_columns_any_order_and_spreadsheet_damage() {
        let csv = "\u{feff}name,sex1,birth_date,valid_from,number,insurer_name,personal_family,insurer_number,card_kind,branch,name_kana,post_number\n\
                   新橋　太郎,男,1954/3/26,2020-01-01,10001,東京新橋サンプル保険者,本人,6139000,1,1,ｼﾝﾊﾞｼ ﾀﾛｳ,151-1234\n\
                   ,,,,,,,,,,,\n";
        let report = import_str(csv);
        assert_eq!(report.errors, vec![]);
        let q = &report.records[0];
        assert_eq!(q.insurer_number.as_str(), "06139000");
        assert_eq!(q.card_kind, CardKind::General);
        assert_eq!(q.branch.as_deref(), Some("01"));
        assert_eq!(q.birth_date, date(1954, 3, 26));
        assert_eq!(q.name_kana, "シンバシ　タロウ");
        assert_eq!(q.post_number.as_deref(), Some("1511234"));
        assert_eq!(q.symbol, None);
        assert_eq!(q.elderly, None);
    }

    #[test]
    fn bad_rows_are_reported_with_row_and_column() {
        let good = export_string(&[seed_examples().remove(0).1]);
        let good_row = good.lines().nth(1).unwrap().to_string();
        let bad_sex = good_row.replacen(",1,,1954-03-26", ",9,,1954-03-26", 1);
        let bad_date = good_row.replace("1954-03-26", "1954-02-30");
        let missing_name = good_row.replace("新橋　太郎,シンバシ", ",シンバシ");
        let short = "01,06139000".to_string();
        let csv = [
            header(),
            bad_sex,
            good_row.clone(),
            bad_date,
            missing_name,
            short,
            good_row,
        ]
        .join("\n");
        let report = import_str(&csv);
        assert_eq!(report.records.len(), 2);
        let summary: Vec<(usize, &str)> = report.errors.iter().map(|e| (e.row, e.field)).collect();
        assert_eq!(
            summary,
            vec![(2, "sex1"), (4, "birth_date"), (5, "name"), (6, "row")]
        );
        assert!(report.errors[0].message.contains("1 男"));
        assert!(report.errors[1].message.contains("YYYY-MM-DD"));
        assert_eq!(report.errors[2].message, "氏名は必須です。");
        assert!(report.errors[3].message.contains("列の数"));
        assert_eq!(
            report.errors[0].to_string(),
            format!("2行目 sex1: {}", report.errors[0].message)
        );
    }

    #[test]
    fn several_problems_in_one_row() {
        let csv = format!(
            "{}\n99,12,,,,,3,,x,ｱｲｳ,,abc,1,,2000-01-01,,123,,2020-01-01,2019-01-01,05,200,,,,,2\n",
            header()
        );
        let report = import_str(&csv);
        assert!(report.records.is_empty());
        let fields: Vec<&str> = report.errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "card_kind",
                "insurer_number",
                "insurer_name",
                "number",
                "personal_family",
                "name_of_other_kana",
                "post_number",
                "valid_to",
                "reason_of_loss",
                "copayment_ratio",
                "preschool"
            ]
        );
        assert!(report.errors.iter().all(|e| e.row == 2));
    }

    #[test]
    fn header_problems() {
        let report = import_str("name,adress\nx,y\n");
        assert!(report.records.is_empty());
        assert!(report.errors.iter().all(|e| e.row == 1));
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.message.contains("「adress」は定義されていません"))
        );
        assert!(report.errors.iter().any(|e| e.field == "card_kind"));

        let dup = import_str(&format!("{},name\n", header()));
        assert!(dup.errors[0].message.contains("重複"));

        let empty = import_str("");
        assert_eq!(empty.errors[0].message, "ヘッダー行がありません。");
    }

    #[test]
    fn garbage_never_panics() {
        let inputs: Vec<Vec<u8>> = vec![
            vec![0xff, 0xfe, 0x00, 0x41],
            b"\"unterminated".to_vec(),
            format!("{}\n\"a,b\n", header()).into_bytes(),
            format!("{}\n\u{0}\u{0}\u{0}", header()).into_bytes(),
            b"card_kind\n\xe6\x96\xb0\xff\n".to_vec(),
            format!("{}\nx{}\n", header(), ",".repeat(26)).into_bytes(),
            format!("{}\nx{}\n", header(), ",".repeat(200)).into_bytes(),
        ];
        for input in inputs {
            let report = import(input.as_slice());
            assert!(report.records.is_empty());
            assert!(!report.errors.is_empty(), "{input:?}");
        }
        // Shift_JIS "新橋" in a data row.
        let sjis = [header().into_bytes(), b"\n\x90\x56\x8b\xb4\n".to_vec()].concat();
        let report = import(sjis.as_slice());
        assert!(report.errors[0].message.contains("UTF-8"));
    }
}
