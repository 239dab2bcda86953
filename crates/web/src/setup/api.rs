//! The setup API: menus and their approval, doctors' hours, suspending online care, when
//! members may open the video call.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::Role;
use tsunagu_kernel::{DomainError, StaffId};
use utoipa::ToSchema;

use crate::bearer::{ApiJson, ApiStaff};
use crate::error::AppResult;
use crate::state::AppState;
use tsunagu_scheduling::{MenuForm, parse_day};

/// A menu as staff edit it (questionnaire: one question per line, `question|choices|必須`).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MenuBody {
    /// Name.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `online` or `in_person` (absent: `online`).
    #[schema(schema_with = crate::apidoc::optional_mode)]
    pub mode: Option<String>,
    /// Minutes per patient, first visit (5–240, steps of 5).
    #[serde(default)]
    #[schema(required, minimum = 5, maximum = 240, multiple_of = 5)]
    pub first_minutes: i64,
    /// Minutes per patient, return visit.
    #[serde(default)]
    #[schema(required, minimum = 5, maximum = 240, multiple_of = 5)]
    pub return_minutes: i64,
    /// Insured care.
    #[serde(default)]
    pub insured: bool,
    /// Booking fee (self-pay only).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100_000)]
    pub booking_fee_yen: i64,
    /// Questionnaire lines.
    #[serde(default)]
    pub questionnaire: String,
    /// Consent form text.
    #[serde(default)]
    pub consent_text: String,
    /// Menu to change (absent: a new menu).
    pub menu_id: Option<i64>,
}

/// What happened to a menu change.
#[derive(Serialize, ToSchema)]
pub struct MenuSaved {
    /// `saved` (admin) or `proposed` (awaits an admin).
    pub status: String,
}

/// Saves a menu (admins) or proposes the change (others; it waits for an admin, B9).
#[utoipa::path(post, path = "/api/v1/staff/menus", tag = "staff", security(("bearer" = [])), request_body = MenuBody,
    responses((status = 200, body = MenuSaved), (status = 404, description = "`menu_id` is not a menu of the facility"), (status = 422, description = "Invalid name, minutes, fee (none on insured care) or questionnaire")))]
pub async fn menu_save(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    ApiJson(b): ApiJson<MenuBody>,
) -> AppResult<Json<MenuSaved>> {
    let input = MenuForm {
        name: b.name,
        description: b.description,
        // Absent means online; present, it must name a mode.
        mode: tsunagu_scheduling::Mode::parse("mode", b.mode.as_deref().unwrap_or("online"))?
            .as_str()
            .into(),
        first_minutes: b.first_minutes.to_string(),
        return_minutes: b.return_minutes.to_string(),
        insured: b.insured,
        booking_fee_yen: b.booking_fee_yen.to_string(),
        questionnaire: b.questionnaire,
        rows: None,
        consent_text: b.consent_text,
        active: true,
    }
    .parse()?;
    let saved = st
        .booker
        .save_menu(
            me.scope(),
            b.menu_id,
            &input,
            None,
            me.user.role == Role::Admin,
            &me.by(),
        )
        .await?;
    Ok(Json(MenuSaved {
        status: match saved {
            tsunagu_booking::MenuSaved::Saved => "saved".into(),
            tsunagu_booking::MenuSaved::Proposed => "proposed".into(),
        },
    }))
}

/// An admin's decision.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    #[serde(default)]
    #[schema(required, schema_with = decision)]
    pub decision: String,
}

fn decision() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some("`approve` or `reject`."))
        .enum_values(Some(["approve", "reject"]))
        .build()
}

/// Approves or rejects a proposed menu change (admins).
#[utoipa::path(post, path = "/api/v1/staff/menus/changes/{id}", tag = "staff", security(("bearer" = [])), request_body = DecisionBody, params(("id" = i64, Path, description = "Change id")),
    responses((status = 204, description = "Decided"), (status = 403, description = "Not an admin"), (status = 404, description = "No such change at the facility"), (status = 409, description = "Already decided"), (status = 422, description = "Neither `approve` nor `reject`")))]
pub async fn menu_decide(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> AppResult<StatusCode> {
    me.require_admin()?;
    let approve = match b.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(DomainError::invalid("decision", "error.invalid_choice").into()),
    };
    st.booker
        .decide_menu_change(me.scope(), id, approve, &me.by())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A doctor's weekly hours, one string per weekday (`1` Monday … `7` Sunday), like
/// `09:00-12:00, 14:00-17:00`; a missing or empty day is closed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursBody {
    /// Hours per weekday.
    #[serde(default)]
    pub weekly: std::collections::BTreeMap<String, String>,
}

/// Replaces a doctor's weekly hours (admins and the doctor themself).
#[utoipa::path(put, path = "/api/v1/staff/doctors/{id}/hours", tag = "staff", security(("bearer" = [])), request_body = HoursBody, params(("id" = i64, Path, description = "Doctor (staff) id")),
    responses((status = 204, description = "Saved"), (status = 403, description = "Neither an admin nor this doctor"), (status = 404, description = "No doctor with this id at the facility"), (status = 422, description = "A day's hours are not like `09:00-12:00, 14:00-17:00`, or overlap")))]
pub async fn hours_put(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<HoursBody>,
) -> AppResult<StatusCode> {
    let mut v = tsunagu_kernel::error::Validator::new();
    let mut all = Vec::new();
    for d in 1..=7 {
        let text = b.weekly.get(&d.to_string()).map_or("", String::as_str);
        if let Some(h) = v.check(parse_day(format!("d{d}"), d, text))? {
            all.extend(h);
        }
    }
    v.finish()?;
    st.booker
        .save_weekly_hours(
            me.scope(),
            StaffId(id),
            &all,
            me.user.role == Role::Admin,
            &me.by(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The maintenance switch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// Pause online bookings (`true`) or resume them (`false`). Required: a switch sent
    /// without its position must not silently resume bookings.
    pub suspended: bool,
}

/// Pauses or resumes online bookings (admins, G1).
#[utoipa::path(put, path = "/api/v1/staff/facility/online-suspended", tag = "staff", security(("bearer" = [])), request_body = SuspendBody,
    responses((status = 204, description = "Switched"), (status = 403, description = "Not an admin")))]
pub async fn suspend_put(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    ApiJson(b): ApiJson<SuspendBody>,
) -> AppResult<StatusCode> {
    me.require_admin()?;
    st.booker
        .set_online_suspended(me.scope(), b.suspended, &me.by())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// When a member's 「ビデオ通話画面へ進む」 appears.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoEntryBody {
    /// `any` (any time before the start) or minutes before the start, `1` to `120`.
    /// Required: a missing value must not silently open the button early.
    #[schema(pattern = r"^(any|[1-9]|[1-9][0-9]|1[01][0-9]|120)$", example = "15")]
    pub entry: String,
}

/// Sets when members can open the video call before their start (admins, C1).
#[utoipa::path(put, path = "/api/v1/staff/facility/video-entry", tag = "staff", security(("bearer" = [])), request_body = VideoEntryBody,
    responses((status = 204, description = "Saved"), (status = 403, description = "Not an admin"), (status = 422, description = "Neither `any` nor 1–120 minutes")))]
pub async fn video_entry_put(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    ApiJson(b): ApiJson<VideoEntryBody>,
) -> AppResult<StatusCode> {
    me.require_admin()?;
    st.booker
        .set_video_entry(me.scope(), &b.entry, &me.by())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
