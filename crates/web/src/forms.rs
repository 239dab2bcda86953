//! Forms the pages and the JSON API both read: a person's details as typed (kept to show
//! again after an error) and the dates they are checked against.

use serde::Deserialize;
use tsunagu_accounts::NewPatient;
use tsunagu_kernel::DomainError;

use crate::state::AppState;

/// The patient form fields as typed (kept to show again after an error).
#[derive(Deserialize, Default, Clone)]
pub struct PatientForm {
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub family_name_kana: String,
    #[serde(default)]
    pub given_name_kana: String,
    #[serde(default)]
    pub birth_date: String,
    /// The same date in 和暦: era code (1 明治 … 5 令和), year, month, day. Either this or
    /// `birth_date` may be filled; both must agree when both are.
    #[serde(default)]
    pub birth_era: String,
    #[serde(default)]
    pub birth_year: String,
    #[serde(default)]
    pub birth_month: String,
    #[serde(default)]
    pub birth_day: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
    #[serde(default)]
    pub agree: bool,
}

impl PatientForm {
    /// Validates the person part, reporting every bad field at once.
    pub fn parse(&self, today: jiff::civil::Date) -> Result<NewPatient, DomainError> {
        let mut v = tsunagu_kernel::error::Validator::new();
        // A wrong 和暦 date is said first; the person check then only adds "required".
        let birth = v.check(self.birth_input())?.unwrap_or_default();
        let person = v.check(NewPatient::parse(
            &self.family_name,
            &self.given_name,
            &self.family_name_kana,
            &self.given_name_kana,
            &birth,
            &self.sex,
            today,
        ))?;
        v.finish()?;
        person.ok_or_else(|| {
            DomainError::internal(anyhow::anyhow!("validator accepted incomplete input"))
        })
    }

    /// The birth date as `YYYY-MM-DD` from whichever of the two entries was used.
    fn birth_input(&self) -> Result<String, DomainError> {
        let western = self.birth_date.trim();
        let wareki = [&self.birth_year, &self.birth_month, &self.birth_day]
            .iter()
            .any(|s| !s.trim().is_empty());
        if !wareki {
            return Ok(western.to_string());
        }
        let w = tsunagu_accounts::patients::birth_from_wareki(
            "birth_date",
            &self.birth_era,
            &self.birth_year,
            &self.birth_month,
            &self.birth_day,
        )?;
        if !western.is_empty() && western != w {
            return Err(DomainError::invalid(
                "birth_date",
                "error.birth_date.wareki_mismatch",
            ));
        }
        Ok(w)
    }

    /// Fills the 和暦 entry from `birth_date` (a form opened to edit a stored person).
    #[must_use]
    pub fn with_wareki(mut self) -> Self {
        if let Some(w) = self
            .birth_date
            .parse::<jiff::civil::Date>()
            .ok()
            .and_then(tsunagu_calendar::wareki::to_wareki)
        {
            self.birth_era = w.era.code().to_string();
            self.birth_year = w.year.to_string();
            self.birth_month = w.month.to_string();
            self.birth_day = w.day.to_string();
        }
        self
    }

    /// Whether `era` (a code) is the one to select: the typed one, else 昭和 (the era most
    /// patients were born in, and the seed's default for era input).
    pub fn era_is(&self, era: &u8) -> bool {
        let typed = self.birth_era.trim();
        if typed.is_empty() {
            *era == 3
        } else {
            typed == era.to_string()
        }
    }

    /// A copy without the passwords (never echoed back into a page).
    pub fn without_secrets(&self) -> Self {
        Self {
            password: String::new(),
            password_confirm: String::new(),
            ..self.clone()
        }
    }
}

/// Today's date in Japan (birth dates are compared with it).
pub fn today_jst(st: &AppState) -> jiff::civil::Date {
    match jiff::tz::TimeZone::get("Asia/Tokyo") {
        Ok(tz) => st.clock.now().to_zoned(tz).date(),
        Err(_) => st.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date(),
    }
}

/// Checks that the two password fields match.
pub fn check_confirm(password: &str, confirm: &str) -> Result<(), DomainError> {
    if password != confirm {
        return Err(DomainError::invalid(
            "password_confirm",
            "error.password.mismatch",
        ));
    }
    Ok(())
}
