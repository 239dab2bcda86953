//! A menu's questionnaire: the editor's rows (one question each: its text, free answer or
//! choices, required, position) and the text format kept for import and the API, one
//! question per line: `質問|選択肢1,選択肢2|必須` (choices and 必須 optional). At most 30
//! questions of 200 characters either way. Answers are keyed by a question's id, so an
//! edited, moved or reworded question keeps its id and a new one gets an unused one.

use tsunagu_kernel::DomainError;

use crate::menu::{MenuInput, Question};

/// One question per line: `質問|選択肢1,選択肢2|必須` (choices and 必須 optional).
pub fn parse_text(text: &str) -> Result<Vec<Question>, DomainError> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let mut parts = line.split('|');
        let label = parts.next().unwrap_or("").trim();
        if label.is_empty() || label.chars().count() > 200 || i >= 30 {
            return Err(DomainError::invalid(
                "questionnaire",
                "error.questionnaire.invalid",
            ));
        }
        let choices: Vec<String> = parts
            .next()
            .unwrap_or("")
            .split([',', '、'])
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let required = parts
            .next()
            .is_some_and(|r| r.contains("必須") || r.trim().eq_ignore_ascii_case("required"));
        out.push(Question {
            id: format!("q{}", i + 1),
            label: label.into(),
            choices,
            required,
        });
    }
    Ok(out)
}

/// The most questions a menu may ask.
pub const MAX_QUESTIONS: usize = 30;

/// One row of the questionnaire editor, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuestionRow {
    /// The question's id when it was saved before (kept so answers stay with it).
    pub id: String,
    /// The question as shown to patients.
    pub label: String,
    /// `choice` (pick one of the choices) or anything else for a free answer.
    pub kind: String,
    /// Choices, one per line or separated by 「、」 or commas.
    pub choices: String,
    /// An answer is needed.
    pub required: bool,
    /// Position as typed (1, 2, …); blank keeps the row where it is.
    pub order: String,
    /// Remove the question.
    pub delete: bool,
}

impl QuestionRow {
    /// The editor's row of a saved question.
    pub fn of(q: &Question, position: usize) -> Self {
        Self {
            id: q.id.clone(),
            label: q.label.clone(),
            kind: if q.choices.is_empty() {
                "text"
            } else {
                "choice"
            }
            .into(),
            choices: q.choices.join("\n"),
            required: q.required,
            order: position.to_string(),
            delete: false,
        }
    }

    fn is_blank(&self) -> bool {
        self.label.trim().is_empty() && self.choices.trim().is_empty()
    }
}

/// The questions of the editor's rows, in the order asked: blank and removed rows dropped,
/// rows sorted by their typed position (stable), every problem named on its row's field
/// (`q{i}_label`, `q{i}_choices`, `q{i}_order`).
pub fn from_rows(rows: &[QuestionRow]) -> Result<Vec<Question>, DomainError> {
    use tsunagu_kernel::error::FieldError;
    let mut errors = Vec::new();
    let mut kept: Vec<((u32, u8), usize, Question)> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if r.delete || r.is_blank() {
            continue;
        }
        let label = r.label.trim();
        if label.is_empty() {
            errors.push(FieldError::new(
                format!("q{i}_label"),
                "error.questionnaire.label",
            ));
        } else if label.chars().count() > 200 {
            errors.push(FieldError::new(format!("q{i}_label"), "error.too_long").arg("max", 200));
        }
        let choices: Vec<String> = if r.kind == "choice" {
            r.choices
                .split(['\n', ',', '、', '，'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        if r.kind == "choice" && choices.len() < 2 {
            errors.push(FieldError::new(
                format!("q{i}_choices"),
                "error.questionnaire.choices",
            ));
        }
        if choices.iter().any(|c| c.chars().count() > 100) || choices.len() > 20 {
            errors.push(FieldError::new(
                format!("q{i}_choices"),
                "error.questionnaire.choices_long",
            ));
        }
        // Sorted by the typed position; a row moved to a position goes before the row that
        // was already there (typing 「1」 on the last row makes it the first question).
        let order = crate::menu::ascii_digits(r.order.trim());
        let natural = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let position = if order.is_empty() {
            (natural, 1)
        } else {
            match order.parse::<u32>() {
                Ok(n) => (n, u8::from(n == natural)),
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("q{i}_order"),
                        "error.questionnaire.order",
                    ));
                    (0, 0)
                }
            }
        };
        kept.push((
            position,
            i,
            Question {
                id: r.id.trim().to_string(),
                label: label.to_string(),
                choices,
                required: r.required,
            },
        ));
    }
    if kept.len() > MAX_QUESTIONS {
        errors.push(
            FieldError::new("questionnaire", "error.questionnaire.too_many")
                .arg("max", MAX_QUESTIONS),
        );
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut qs: Vec<Question> = kept.into_iter().map(|k| k.2).collect();
    // Keep the ids questions had (answers are keyed by them); a new question, or a forged or
    // repeated id, gets the next unused one.
    let mut used = std::collections::HashSet::new();
    let valid = |id: &str| {
        id.len() <= 12
            && id.starts_with('q')
            && id.len() > 1
            && id[1..].chars().all(|c| c.is_ascii_digit())
    };
    for q in &mut qs {
        if !valid(&q.id) || !used.insert(q.id.clone()) {
            q.id.clear();
        }
    }
    // A new id comes from the question's text (FNV-1a), never from a counter: a counter
    // would hand a removed question's id to a new one, and the old answers would show
    // under the new question. The same text asked again gets its old id back, which is right.
    for q in &mut qs {
        if !q.id.is_empty() {
            continue;
        }
        let mut h = q.label.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        while !used.insert(format!("q{h}")) {
            h = h.wrapping_add(1);
        }
        q.id = format!("q{h}");
    }
    Ok(qs)
}

/// The questions in the text format (import and the API).
pub fn to_text(qs: &[Question]) -> String {
    qs.iter()
        .map(|q| {
            format!(
                "{}|{}|{}",
                q.label,
                q.choices.join(","),
                if q.required { "必須" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A menu as typed on the menu form or sent to the API (kept as typed, to show again).
#[derive(Debug, serde::Deserialize, Default, Clone)]
pub struct MenuForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub first_minutes: String,
    #[serde(default)]
    pub return_minutes: String,
    #[serde(default)]
    pub insured: bool,
    #[serde(default)]
    pub booking_fee_yen: String,
    #[serde(default)]
    pub questionnaire: String,
    /// The editor's rows (pages); `None` when the questions come as text (the API). Text in
    /// `questionnaire` beside rows is an import and replaces them.
    #[serde(skip)]
    pub rows: Option<Vec<QuestionRow>>,
    #[serde(default)]
    pub consent_text: String,
    #[serde(default)]
    pub active: bool,
}

impl MenuForm {
    /// Validates the whole form (every problem at once).
    pub fn parse(&self) -> Result<MenuInput, DomainError> {
        let mut v = tsunagu_kernel::error::Validator::new();
        let base = v.check(MenuInput::parse(
            &self.name,
            &self.description,
            if self.mode.is_empty() {
                "online"
            } else {
                &self.mode
            },
            &self.first_minutes,
            &self.return_minutes,
            self.insured,
            &self.booking_fee_yen,
        ))?;
        let questionnaire = v.check(match &self.rows {
            Some(rows) if self.questionnaire.trim().is_empty() => from_rows(rows),
            _ => parse_text(&self.questionnaire),
        })?;
        v.finish()?;
        match (base, questionnaire) {
            (Some(mut m), Some(q)) => {
                m.questionnaire = q;
                m.consent_text = self.consent_text.trim().chars().take(4000).collect();
                Ok(m)
            }
            _ => Err(DomainError::internal(anyhow::anyhow!(
                "validated menu incomplete"
            ))),
        }
    }

    /// The editor's rows plus `blank` empty ones to add questions with (also without
    /// script).
    pub fn editor_rows(&self, blank: usize) -> Vec<QuestionRow> {
        let mut rows = self.rows.clone().unwrap_or_default();
        rows.extend((0..blank).map(|_| QuestionRow {
            kind: "text".into(),
            ..QuestionRow::default()
        }));
        rows
    }

    /// Reads the page's form: the menu fields by name and the editor's rows as
    /// `q{i}_id`, `q{i}_label`, `q{i}_kind`, `q{i}_choices`, `q{i}_required`, `q{i}_order`,
    /// `q{i}_delete` (i from 0; at most 60 rows are read).
    pub fn from_fields(f: &std::collections::HashMap<String, String>) -> Self {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let on = |k: &str| f.get(k).is_some_and(|v| !v.is_empty() && v != "false");
        let rows = (0..60)
            .take_while(|i| f.contains_key(&format!("q{i}_label")))
            .map(|i| QuestionRow {
                id: get(&format!("q{i}_id")),
                label: get(&format!("q{i}_label")),
                kind: get(&format!("q{i}_kind")),
                choices: get(&format!("q{i}_choices")),
                required: on(&format!("q{i}_required")),
                order: get(&format!("q{i}_order")),
                delete: on(&format!("q{i}_delete")),
            })
            .collect();
        Self {
            name: get("name"),
            description: get("description"),
            mode: get("mode"),
            first_minutes: get("first_minutes"),
            return_minutes: get("return_minutes"),
            insured: on("insured"),
            booking_fee_yen: get("booking_fee_yen"),
            questionnaire: get("questionnaire"),
            rows: Some(rows),
            consent_text: get("consent_text"),
            active: on("active"),
        }
    }

    /// The form filled from a saved menu.
    pub fn of(m: &crate::Menu) -> Self {
        Self {
            name: m.name.clone(),
            description: m.description.clone(),
            mode: m.mode.as_str().into(),
            first_minutes: m.first_minutes.to_string(),
            return_minutes: m.return_minutes.to_string(),
            insured: m.insured,
            booking_fee_yen: m.booking_fee_yen.to_string(),
            questionnaire: String::new(),
            rows: Some(
                m.questionnaire
                    .iter()
                    .enumerate()
                    .map(|(i, q)| QuestionRow::of(q, i + 1))
                    .collect(),
            ),
            consent_text: m.consent_text.clone(),
            active: m.active,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn questions_round_trip_through_the_text_format() {
        let qs =
            parse_text("症状は？\n 服薬中の薬|なし、あり|必須 \n\n性別|男,女|required").unwrap();
        assert_eq!(qs.len(), 3);
        assert_eq!(qs[0].id, "q1");
        assert!(qs[0].choices.is_empty() && !qs[0].required);
        assert_eq!(qs[1].choices, vec!["なし", "あり"]);
        assert!(qs[1].required && qs[2].required);
        assert_eq!(parse_text(&to_text(&qs)).unwrap(), qs);
    }

    #[test]
    fn empty_long_or_too_many_questions_are_refused() {
        assert!(parse_text("|a,b|必須").is_err());
        assert!(parse_text(&"あ".repeat(201)).is_err());
        let many: Vec<String> = (0..31).map(|i| format!("質問{i}")).collect();
        assert!(parse_text(&many.join("\n")).is_err());
        assert!(parse_text(&many[..30].join("\n")).is_ok());
        assert!(parse_text("").unwrap().is_empty());
    }

    fn row(id: &str, label: &str, kind: &str, choices: &str, order: &str) -> QuestionRow {
        QuestionRow {
            id: id.into(),
            label: label.into(),
            kind: kind.into(),
            choices: choices.into(),
            required: false,
            order: order.into(),
            delete: false,
        }
    }

    #[test]
    fn the_editor_rows_become_questions_in_the_order_asked_keeping_their_ids() {
        let rows = vec![
            row("q1", "症状は？", "text", "", "1"),
            row("q2", "服薬中の薬", "choice", "なし\nあり、わからない", "2"),
            row("q3", "削除する質問", "text", "", "3"),
            row("", "アレルギー", "choice", "なし,あり", "1"),
            QuestionRow::default(),
        ];
        let mut rows = rows;
        rows[2].delete = true;
        rows[1].required = true;
        let qs = from_rows(&rows).unwrap();
        let labels: Vec<&str> = qs.iter().map(|q| q.label.as_str()).collect();
        assert_eq!(
            labels,
            ["アレルギー", "症状は？", "服薬中の薬"],
            "「1」 moves it first"
        );
        assert!(
            !["q1", "q2", "q3"].contains(&qs[0].id.as_str()),
            "a new question gets an unused id"
        );
        assert!(qs[0].id.len() <= 12 && qs[0].id.starts_with('q'));
        assert_eq!(qs[1].id, "q1");
        assert_eq!(qs[2].id, "q2");
        assert_eq!(qs[2].choices, ["なし", "あり", "わからない"]);
        assert!(qs[2].required);
        assert!(qs[1].choices.is_empty(), "a free answer has no choices");
    }

    #[test]
    fn a_bad_row_is_named_by_its_field() {
        let rows = vec![
            row("q1", "", "choice", "a,b", ""),
            row("q2", "色", "choice", "赤", ""),
            row("q3", "x", "text", "", "二"),
        ];
        let Err(DomainError::Invalid(errs)) = from_rows(&rows) else {
            panic!("refused");
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["q0_label", "q1_choices", "q2_order"]);
        let many: Vec<QuestionRow> = (0..31)
            .map(|i| row("", &format!("質問{i}"), "text", "", ""))
            .collect();
        assert!(from_rows(&many).is_err());
        assert_eq!(from_rows(&many[..30]).unwrap().len(), 30);
    }

    #[test]
    fn forged_or_repeated_ids_are_replaced() {
        let rows = vec![
            row("q1", "a", "text", "", ""),
            row("q1", "b", "text", "", ""),
            row("<script>", "c", "text", "", ""),
        ];
        let ids: Vec<String> = from_rows(&rows)
            .unwrap()
            .into_iter()
            .map(|q| q.id)
            .collect();
        assert_eq!(ids[0], "q1");
        assert!(ids[1] != "q1" && ids[2] != "<script>" && ids[1] != ids[2]);
        assert!(
            ids[1..]
                .iter()
                .all(|i| i.len() <= 12 && i[1..].chars().all(|c| c.is_ascii_digit()))
        );
    }
}
