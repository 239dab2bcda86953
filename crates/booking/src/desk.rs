//! What the reception desk needs to know of each booking of a day beside its time and
//! patient: is the insurance confirmed, is the questionnaire answered (B10). Read for a whole
//! day in one query, so the list stays one round trip however long the day is.

use std::collections::HashMap;

use tsunagu_db::{DbResultExt, sqlx};
use tsunagu_kernel::{DomainResult, FacilityId};
use tsunagu_scheduling::Menu;

use crate::Booking;

/// The insurance column: what the desk has to do about the patient's coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskInsurance {
    /// A self-pay menu: nothing to confirm.
    SelfPay,
    /// The latest eligibility answer for this booking (valid or not, and its name, e.g. 有効).
    Checked { valid: bool, name: String },
    /// A card is registered but no answer has been taken for this booking yet.
    Unchecked,
    /// No card registered.
    Missing,
}

/// The questionnaire column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskQuestionnaire {
    /// The menu asks no questions.
    NotAsked,
    /// Answered (the consent signed where the menu has one).
    Answered,
    /// Not answered yet.
    Unanswered,
}

/// Both columns of one booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskFacts {
    /// Insurance.
    pub insurance: DeskInsurance,
    /// Questionnaire.
    pub questionnaire: DeskQuestionnaire,
}

/// One row of the day query.
struct Raw {
    validity: Option<String>,
    validity_name: Option<String>,
    registered: bool,
    answered: bool,
}

/// Decides the columns from what is stored and the booking's menu (a pure rule).
fn decide(raw: &Raw, menu: Option<&Menu>) -> DeskFacts {
    let insured = menu.is_none_or(|m| m.insured);
    let insurance = if !insured {
        DeskInsurance::SelfPay
    } else if let (Some(v), Some(n)) = (&raw.validity, &raw.validity_name) {
        DeskInsurance::Checked {
            valid: v == "1",
            name: n.clone(),
        }
    } else if raw.registered {
        DeskInsurance::Unchecked
    } else {
        DeskInsurance::Missing
    };
    let asks = menu.is_some_and(|m| !m.questionnaire.is_empty() || !m.consent_text.is_empty());
    let questionnaire = match (asks, raw.answered) {
        (false, _) => DeskQuestionnaire::NotAsked,
        (true, true) => DeskQuestionnaire::Answered,
        (true, false) => DeskQuestionnaire::Unanswered,
    };
    DeskFacts {
        insurance,
        questionnaire,
    }
}

impl crate::Booker {
    /// The desk's columns for `bookings` (all of `facility`), by booking id. One query over
    /// the span the bookings cover, scoped to the facility.
    pub async fn desk_facts(
        &self,
        facility: FacilityId,
        bookings: &[Booking],
    ) -> DomainResult<HashMap<i64, DeskFacts>> {
        let (Some(from), Some(to)) = (
            bookings.iter().map(|b| b.starts_at).min(),
            bookings.iter().map(|b| b.starts_at).max(),
        ) else {
            return Ok(HashMap::new());
        };
        type Row = (i64, Option<String>, Option<String>, i32, i32);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT b.id, \
               (SELECT c.validity FROM booking_insurance_checks c WHERE c.booking_id = b.id \
                  ORDER BY c.checked_at DESC, c.id DESC LIMIT 1) AS validity, \
               (SELECT c.validity_name FROM booking_insurance_checks c WHERE c.booking_id = b.id \
                  ORDER BY c.checked_at DESC, c.id DESC LIMIT 1) AS validity_name, \
               CASE WHEN EXISTS (SELECT 1 FROM insurance_registrations r \
                  WHERE r.patient_id = b.patient_id) THEN 1 ELSE 0 END AS registered, \
               CASE WHEN EXISTS (SELECT 1 FROM booking_answers a \
                  WHERE a.booking_id = b.id) THEN 1 ELSE 0 END AS answered \
             FROM bookings b WHERE b.facility_id = $1 AND b.starts_at >= $2 AND b.starts_at <= $3",
        )
        .bind(facility.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.bookings.pool())
        .await
        .or_internal()?;
        let menus: HashMap<i64, Menu> = self
            .menus
            .list(facility, false)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let wanted: HashMap<i64, i64> = bookings.iter().map(|b| (b.id, b.menu_id)).collect();
        let mut out = HashMap::new();
        for (id, validity, validity_name, registered, answered) in rows {
            let Some(menu_id) = wanted.get(&id) else {
                continue;
            };
            let raw = Raw {
                validity,
                validity_name,
                registered: registered != 0,
                answered: answered != 0,
            };
            out.insert(id, decide(&raw, menus.get(menu_id)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(validity: Option<&str>, registered: bool, answered: bool) -> Raw {
        Raw {
            validity: validity.map(str::to_string),
            validity_name: validity.map(|v| if v == "1" { "有効" } else { "無効" }.to_string()),
            registered,
            answered,
        }
    }

    fn menu(insured: bool, questions: bool) -> Menu {
        Menu {
            id: 1,
            facility_id: FacilityId(1),
            name: "内科".into(),
            description: String::new(),
            mode: tsunagu_scheduling::Mode::Online,
            first_minutes: 20,
            return_minutes: 10,
            insured,
            booking_fee_yen: 0,
            active: true,
            questionnaire: if questions {
                vec![tsunagu_scheduling::Question {
                    id: "q1".into(),
                    label: "症状".into(),
                    choices: vec![],
                    required: true,
                }]
            } else {
                vec![]
            },
            consent_text: String::new(),
        }
    }

    #[test]
    fn self_pay_needs_no_insurance() {
        let f = decide(&raw(None, false, false), Some(&menu(false, false)));
        assert_eq!(f.insurance, DeskInsurance::SelfPay);
        assert_eq!(f.questionnaire, DeskQuestionnaire::NotAsked);
    }

    #[test]
    fn the_latest_answer_wins_over_the_registration() {
        let m = menu(true, true);
        assert_eq!(
            decide(&raw(Some("1"), true, true), Some(&m)).insurance,
            DeskInsurance::Checked {
                valid: true,
                name: "有効".into()
            }
        );
        assert_eq!(
            decide(&raw(Some("2"), true, false), Some(&m)),
            DeskFacts {
                insurance: DeskInsurance::Checked {
                    valid: false,
                    name: "無効".into()
                },
                questionnaire: DeskQuestionnaire::Unanswered
            }
        );
        assert_eq!(
            decide(&raw(None, true, true), Some(&m)).insurance,
            DeskInsurance::Unchecked
        );
        assert_eq!(
            decide(&raw(None, false, true), Some(&m)),
            DeskFacts {
                insurance: DeskInsurance::Missing,
                questionnaire: DeskQuestionnaire::Answered
            }
        );
    }
}
