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
    /// Validates the person part.
    pub fn parse(&self, today: jiff::civil::Date) -> Result<NewPatient, DomainError> {
        NewPatient::parse(
            &self.family_name,
            &self.given_name,
            &self.family_name_kana,
            &self.given_name_kana,
            &self.birth_date,
            &self.sex,
            today,
        )
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
