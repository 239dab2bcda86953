//! A menu's questionnaire in its text format, one question per line:
//! `質問|選択肢1,選択肢2|必須` (choices and 必須 optional; at most 30 questions of 200
//! characters), and the menu form that carries it.

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

/// The questions in the text format (what the editor shows).
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
        let questionnaire = v.check(crate::questionnaire::parse_text(&self.questionnaire))?;
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
            questionnaire: to_text(&m.questionnaire),
            consent_text: m.consent_text.clone(),
            active: m.active,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
