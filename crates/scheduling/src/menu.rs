//! Menus: what a patient books (B9).

use std::sync::Arc;

use serde::Serialize;
use tsunagu_db::{Db, DbResultExt, Tx, flag, sqlx};
use tsunagu_kernel::error::Validator;
use tsunagu_kernel::{Clock, DomainError, DomainResult, FacilityId, FieldError};

/// Online (video) or in person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// オンライン診療.
    Online,
    /// 対面.
    InPerson,
}

impl Mode {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Online => "online",
            Mode::InPerson => "in_person",
        }
    }
    /// Parses a stored or submitted mode.
    pub fn parse(field: &'static str, s: &str) -> DomainResult<Self> {
        match s {
            "online" => Ok(Mode::Online),
            "in_person" => Ok(Mode::InPerson),
            _ => Err(DomainError::invalid(field, "error.invalid_choice")),
        }
    }
    /// Catalogue key of its label.
    pub fn label_key(self) -> &'static str {
        match self {
            Mode::Online => "mode.online",
            Mode::InPerson => "mode.in_person",
        }
    }
}

/// First visit (初診) or return visit (再診): they take different times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitKind {
    /// 初診.
    First,
    /// 再診.
    Return,
}

impl VisitKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitKind::First => "first",
            VisitKind::Return => "return",
        }
    }
    /// Parses a stored or submitted kind.
    pub fn parse(field: &'static str, s: &str) -> DomainResult<Self> {
        match s {
            "first" => Ok(VisitKind::First),
            "return" => Ok(VisitKind::Return),
            "" => Err(DomainError::invalid(field, "error.visit_kind.required")),
            _ => Err(DomainError::invalid(field, "error.invalid_choice")),
        }
    }
    /// Catalogue key of its label.
    pub fn label_key(self) -> &'static str {
        match self {
            VisitKind::First => "visit.first",
            VisitKind::Return => "visit.return",
        }
    }
}

/// One question of a menu's pre-visit questionnaire (問診, B6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Question {
    /// Stable id within the menu (answers are keyed by it).
    pub id: String,
    /// The question as shown.
    pub label: String,
    /// Choices; empty for a free-text answer.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Whether an answer is needed.
    #[serde(default)]
    pub required: bool,
}

/// A bookable menu.
#[derive(Debug, Clone, Serialize)]
pub struct Menu {
    /// Id.
    pub id: i64,
    /// Facility.
    pub facility_id: FacilityId,
    /// Name shown to patients.
    pub name: String,
    /// Description shown to patients.
    pub description: String,
    /// Online or in person.
    pub mode: Mode,
    /// Minutes per patient for a first visit.
    pub first_minutes: i64,
    /// Minutes per patient for a return visit.
    pub return_minutes: i64,
    /// Insured (保険診療) or self-pay (自費).
    pub insured: bool,
    /// Booking fee in yen (self-pay only; never charged for in-clinic bookings).
    pub booking_fee_yen: i64,
    /// Offered to patients.
    pub active: bool,
    /// Pre-visit questionnaire.
    pub questionnaire: Vec<Question>,
    /// Consent form text; empty when the menu needs none.
    pub consent_text: String,
}

impl Menu {
    /// Minutes of a visit of this kind.
    pub fn minutes(&self, kind: VisitKind) -> i64 {
        match kind {
            VisitKind::First => self.first_minutes,
            VisitKind::Return => self.return_minutes,
        }
    }
}

/// A menu as entered by an admin, validated.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct MenuInput {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Mode.
    pub mode: Mode,
    /// Minutes for a first visit.
    pub first_minutes: i64,
    /// Minutes for a return visit.
    pub return_minutes: i64,
    /// Insured.
    pub insured: bool,
    /// Booking fee.
    pub booking_fee_yen: i64,
    /// Pre-visit questionnaire.
    pub questionnaire: Vec<Question>,
    /// Consent form text.
    pub consent_text: String,
}

/// A value of one field of a menu, for showing a proposal as before → after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuValue {
    /// Text as staff typed it (name, description, consent form).
    Text(String),
    /// Online or in person.
    Mode(Mode),
    /// Minutes per patient.
    Minutes(i64),
    /// Booking fee in yen.
    Yen(i64),
    /// Insured (保険診療) or self-pay (自費診療).
    Insured(bool),
    /// The questionnaire's questions, by their labels.
    Questions(Vec<String>),
}

/// One field a proposal changes: `field` is the message key of its label; `before` is
/// `None` for a new menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuChange {
    /// Label key.
    pub field: &'static str,
    /// The menu's value now.
    pub before: Option<MenuValue>,
    /// The proposed value.
    pub after: MenuValue,
}

impl MenuInput {
    /// Every field this input changes on `before` (every field of a new menu), in the
    /// form's order: what an admin must see before approving.
    pub fn changes_from(&self, before: Option<&Menu>) -> Vec<MenuChange> {
        let labels =
            |qs: &[Question]| MenuValue::Questions(qs.iter().map(|q| q.label.clone()).collect());
        let fields = [
            (
                "menus.name",
                before.map(|m| MenuValue::Text(m.name.clone())),
                MenuValue::Text(self.name.clone()),
            ),
            (
                "menus.description",
                before.map(|m| MenuValue::Text(m.description.clone())),
                MenuValue::Text(self.description.clone()),
            ),
            (
                "menus.field_mode",
                before.map(|m| MenuValue::Mode(m.mode)),
                MenuValue::Mode(self.mode),
            ),
            (
                "menus.first_minutes",
                before.map(|m| MenuValue::Minutes(m.first_minutes)),
                MenuValue::Minutes(self.first_minutes),
            ),
            (
                "menus.return_minutes",
                before.map(|m| MenuValue::Minutes(m.return_minutes)),
                MenuValue::Minutes(self.return_minutes),
            ),
            (
                "menus.insurance",
                before.map(|m| MenuValue::Insured(m.insured)),
                MenuValue::Insured(self.insured),
            ),
            (
                "menus.fee",
                before.map(|m| MenuValue::Yen(m.booking_fee_yen)),
                MenuValue::Yen(self.booking_fee_yen),
            ),
            (
                "menus.questionnaire",
                before.map(|m| labels(&m.questionnaire)),
                labels(&self.questionnaire),
            ),
            (
                "menus.consent_text",
                before.map(|m| MenuValue::Text(m.consent_text.clone())),
                MenuValue::Text(self.consent_text.clone()),
            ),
        ];
        fields
            .into_iter()
            .filter(|(_, b, a)| b.as_ref() != Some(a))
            .map(|(field, before, after)| MenuChange {
                field,
                before,
                after,
            })
            .collect()
    }
}

/// Full-width digits (what a Japanese IME types) read as the digits they are.
pub fn ascii_digits(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn minutes(field: &'static str, s: &str) -> DomainResult<i64> {
    let n: i64 = ascii_digits(s)
        .parse()
        .map_err(|_| DomainError::invalid(field, "error.minutes.invalid"))?;
    if !(5..=240).contains(&n) || n % 5 != 0 {
        return Err(DomainError::invalid(field, "error.minutes.invalid"));
    }
    Ok(n)
}

impl MenuInput {
    /// Validates form input.
    pub fn parse(
        name: &str,
        description: &str,
        mode: &str,
        first_minutes: &str,
        return_minutes: &str,
        insured: bool,
        booking_fee: &str,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        // Kept as typed: 「（自費）」 is what the clinic wants patients to read.
        let name = v.check(tsunagu_kernel::values::display_text("name", name, 60))?;
        let mode = v.check(Mode::parse("mode", mode))?;
        let first = v.check(minutes("first_minutes", first_minutes))?;
        let ret = v.check(minutes("return_minutes", return_minutes))?;
        let fee = if booking_fee.trim().is_empty() {
            Some(0)
        } else {
            match ascii_digits(booking_fee)
                .replace([',', '，'], "")
                .parse::<i64>()
            {
                Ok(f) if (0..=100_000).contains(&f) => Some(f),
                _ => {
                    v.push(FieldError::new("booking_fee_yen", "error.fee.invalid"));
                    None
                }
            }
        };
        if insured && fee.is_some_and(|f| f > 0) {
            // Insured care cannot carry a booking fee; only self-pay menus may.
            v.push(FieldError::new("booking_fee_yen", "error.fee.insured"));
        }
        v.finish()?;
        match (name, mode, first, ret, fee) {
            (
                Some(name),
                Some(mode),
                Some(first_minutes),
                Some(return_minutes),
                Some(booking_fee_yen),
            ) => Ok(Self {
                name,
                description: description.trim().chars().take(1000).collect(),
                mode,
                first_minutes,
                return_minutes,
                insured,
                booking_fee_yen,
                questionnaire: Vec::new(),
                consent_text: String::new(),
            }),
            _ => Err(DomainError::internal(anyhow::anyhow!(
                "validator accepted incomplete menu"
            ))),
        }
    }
}

const COLUMNS: &str = "id, facility_id, name, description, mode, first_minutes, return_minutes, \
                       insured, booking_fee_yen, active, questionnaire, consent_text";

/// One menu of a facility, through the pool or a transaction.
async fn fetch_menu<'e>(
    e: impl sqlx::Executor<'e, Database = sqlx::Any>,
    facility: FacilityId,
    id: i64,
) -> DomainResult<Menu> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM menus WHERE facility_id = $1 AND id = $2"
    )))
    .bind(facility.0)
    .bind(id)
    .fetch_optional(e)
    .await
    .or_internal()?
    .ok_or(DomainError::NotFound)?;
    row_to_menu(&row).or_internal()
}

fn row_to_menu(r: &sqlx::any::AnyRow) -> Result<Menu, sqlx::Error> {
    use sqlx::Row;
    let mode: String = r.try_get("mode")?;
    Ok(Menu {
        id: r.try_get("id")?,
        facility_id: FacilityId(r.try_get("facility_id")?),
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        mode: Mode::parse("mode", &mode).unwrap_or(Mode::Online),
        first_minutes: r.try_get("first_minutes")?,
        return_minutes: r.try_get("return_minutes")?,
        insured: flag(r.try_get("insured")?),
        booking_fee_yen: r.try_get("booking_fee_yen")?,
        active: flag(r.try_get("active")?),
        questionnaire: serde_json::from_str(&r.try_get::<String, _>("questionnaire")?)
            .unwrap_or_default(),
        consent_text: r.try_get("consent_text")?,
    })
}

/// Menu storage, always scoped to a facility.
#[derive(Debug, Clone)]
pub struct MenuStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl MenuStore {
    /// The store on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Creates a menu.
    pub async fn create(&self, facility: FacilityId, m: &MenuInput) -> DomainResult<i64> {
        let mut tx = self.db.begin_write().await?;
        let id = self.create_in(&mut tx, facility, m).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Creates a menu in the caller's transaction.
    pub async fn create_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        m: &MenuInput,
    ) -> DomainResult<i64> {
        let now = self.clock.now_ms();
        sqlx::query_scalar(
            "INSERT INTO menus (facility_id, name, description, mode, first_minutes, return_minutes, \
             insured, booking_fee_yen, active, questionnaire, consent_text, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $10, $11, $9, $9) RETURNING id",
        )
        .bind(facility.0)
        .bind(&m.name)
        .bind(&m.description)
        .bind(m.mode.as_str())
        .bind(m.first_minutes)
        .bind(m.return_minutes)
        .bind(i64::from(m.insured))
        .bind(m.booking_fee_yen)
        .bind(now)
        .bind(serde_json::to_string(&m.questionnaire).map_err(DomainError::internal)?)
        .bind(&m.consent_text)
        .fetch_one(&mut **tx)
        .await
        .or_internal()
    }

    /// One menu of a facility.
    pub async fn get(&self, facility: FacilityId, id: i64) -> DomainResult<Menu> {
        fetch_menu(self.db.pool(), facility, id).await
    }

    /// Replaces a menu's settings (its bookings keep the times they were made with), in the
    /// caller's transaction.
    pub async fn update_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        id: i64,
        m: &MenuInput,
    ) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE menus SET name = $3, description = $4, mode = $5, first_minutes = $6, return_minutes = $7, \
             insured = $8, booking_fee_yen = $9, questionnaire = $10, consent_text = $11, updated_at = $12 \
             WHERE facility_id = $1 AND id = $2",
        )
        .bind(facility.0)
        .bind(id)
        .bind(&m.name)
        .bind(&m.description)
        .bind(m.mode.as_str())
        .bind(m.first_minutes)
        .bind(m.return_minutes)
        .bind(i64::from(m.insured))
        .bind(m.booking_fee_yen)
        .bind(serde_json::to_string(&m.questionnaire).map_err(DomainError::internal)?)
        .bind(&m.consent_text)
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Offers or withdraws a menu, in the caller's transaction.
    pub async fn set_active_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        id: i64,
        active: bool,
    ) -> DomainResult<()> {
        let r = sqlx::query(
            "UPDATE menus SET active = $3, updated_at = $4 WHERE facility_id = $1 AND id = $2",
        )
        .bind(facility.0)
        .bind(id)
        .bind(i64::from(active))
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Records a change proposed by a non-admin, in the caller's transaction; it waits for
    /// an admin (B9).
    pub async fn propose_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        menu: Option<i64>,
        by: tsunagu_kernel::StaffId,
        m: &MenuInput,
    ) -> DomainResult<i64> {
        if let Some(id) = menu {
            // Through the caller's transaction: a writer holding SQLite's lock must not wait
            // for a second pool connection (those may all be queued on that very lock).
            fetch_menu(&mut **tx, facility, id).await?;
        }
        sqlx::query_scalar(
            "INSERT INTO menu_changes (facility_id, menu_id, proposed_by, payload, status, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
        )
        .bind(facility.0)
        .bind(menu)
        .bind(by.0)
        .bind(serde_json::to_string(m).map_err(DomainError::internal)?)
        .bind(self.clock.now_ms())
        .fetch_one(&mut **tx)
        .await
        .or_internal()
    }

    /// Pending proposals of a facility: (id, menu id or None for a new menu, proposer id, input).
    pub async fn pending(
        &self,
        facility: FacilityId,
    ) -> DomainResult<Vec<(i64, Option<i64>, i64, MenuInput)>> {
        let rows: Vec<(i64, Option<i64>, i64, String)> = sqlx::query_as(
            "SELECT id, menu_id, proposed_by, payload FROM menu_changes WHERE facility_id = $1 AND status = 'pending' ORDER BY id",
        )
        .bind(facility.0)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, menu, by, payload)| {
                Some((id, menu, by, serde_json::from_str(&payload).ok()?))
            })
            .collect())
    }

    /// An admin's decision on a proposal, in the caller's transaction: approving applies it
    /// (creating the menu if new), in the same transaction as the decision.
    pub async fn decide_in(
        &self,
        tx: &mut Tx,
        facility: FacilityId,
        change: i64,
        admin: tsunagu_kernel::StaffId,
        approve: bool,
    ) -> DomainResult<()> {
        // Read through the transaction held (see `propose_in`).
        let row: Option<(Option<i64>, String)> = sqlx::query_as(
            "SELECT menu_id, payload FROM menu_changes \
             WHERE facility_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(facility.0)
        .bind(change)
        .fetch_optional(&mut **tx)
        .await
        .or_internal()?;
        let Some((menu, input)) = row.and_then(|(menu, payload)| {
            Some((menu, serde_json::from_str::<MenuInput>(&payload).ok()?))
        }) else {
            return Err(DomainError::NotFound);
        };
        let r = sqlx::query(
            "UPDATE menu_changes SET status = $3, decided_by = $4, decided_at = $5 \
             WHERE facility_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(facility.0)
        .bind(change)
        .bind(if approve { "approved" } else { "rejected" })
        .bind(admin.0)
        .bind(self.clock.now_ms())
        .execute(&mut **tx)
        .await
        .or_internal()?;
        if r.rows_affected() == 0 {
            // Decided by another admin a moment ago.
            return Err(DomainError::Conflict("error.menu_change.decided"));
        }
        if approve {
            match menu {
                Some(id) => self.update_in(tx, facility, id, &input).await?,
                None => {
                    self.create_in(tx, facility, &input).await?;
                }
            }
        }
        Ok(())
    }

    /// A facility's menus (active only, for patients; all, for staff).
    pub async fn list(&self, facility: FacilityId, active_only: bool) -> DomainResult<Vec<Menu>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM menus WHERE facility_id = $1 AND (active = 1 OR $2 = 0) ORDER BY id"
        )))
        .bind(facility.0)
        .bind(i64::from(active_only))
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_menu)
            .collect::<Result<_, _>>()
            .or_internal()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn menu() -> Menu {
        Menu {
            id: 1,
            facility_id: FacilityId(1),
            name: "低用量ピル処方（自費）".into(),
            description: "オンラインで処方します".into(),
            mode: Mode::Online,
            first_minutes: 20,
            return_minutes: 10,
            insured: false,
            booking_fee_yen: 1000,
            active: true,
            questionnaire: Vec::new(),
            consent_text: String::new(),
        }
    }

    fn input_of(m: &Menu) -> MenuInput {
        MenuInput {
            name: m.name.clone(),
            description: m.description.clone(),
            mode: m.mode,
            first_minutes: m.first_minutes,
            return_minutes: m.return_minutes,
            insured: m.insured,
            booking_fee_yen: m.booking_fee_yen,
            questionnaire: m.questionnaire.clone(),
            consent_text: m.consent_text.clone(),
        }
    }

    #[test]
    fn a_menu_name_is_kept_as_typed() {
        let m = MenuInput::parse(
            "低用量ピル処方（自費）",
            "",
            "online",
            "２０",
            "10",
            false,
            "1,000",
        )
        .unwrap();
        assert_eq!(m.name, "低用量ピル処方（自費）");
        assert_eq!((m.first_minutes, m.booking_fee_yen), (20, 1000));
    }

    #[test]
    fn full_width_digits_are_read_as_digits() {
        assert_eq!(minutes("first_minutes", "３０").unwrap(), 30);
        assert_eq!(ascii_digits(" １２０ "), "120");
        assert!(minutes("first_minutes", "３７").is_err());
    }

    #[test]
    fn a_proposal_lists_only_what_it_changes_with_before_and_after() {
        let m = menu();
        assert!(input_of(&m).changes_from(Some(&m)).is_empty());
        let mut p = input_of(&m);
        p.booking_fee_yen = 1500;
        p.mode = Mode::InPerson;
        let c = p.changes_from(Some(&m));
        assert_eq!(
            c,
            vec![
                MenuChange {
                    field: "menus.field_mode",
                    before: Some(MenuValue::Mode(Mode::Online)),
                    after: MenuValue::Mode(Mode::InPerson),
                },
                MenuChange {
                    field: "menus.fee",
                    before: Some(MenuValue::Yen(1000)),
                    after: MenuValue::Yen(1500),
                },
            ]
        );
        // A new menu shows every field, with nothing before.
        let new = input_of(&m).changes_from(None);
        assert_eq!(new.len(), 9);
        assert!(new.iter().all(|c| c.before.is_none()));
    }
}
