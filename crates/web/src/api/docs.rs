//! Documents and set-up over the API: a patient's insurance (A4), images shared with a
//! booking (B5), questionnaire answers (B6); a facility's menus with approval (B9), doctors'
//! hours, and the maintenance switch (G1). Uploads are `multipart/form-data`.

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::Role;
use tsunagu_kernel::{DomainError, PatientId, StaffId};
use utoipa::ToSchema;

use super::{ApiJson, ApiPatient, ApiStaff};
use crate::error::AppResult;
use crate::pages::docs_support::{
    InsuranceForm, read_multipart, save_answers, save_images, save_insurance, text,
};
use crate::pages::staff_support::{MenuForm, parse_day};
use crate::state::AppState;

/// A registered insurance.
#[derive(Serialize, ToSchema)]
pub struct InsuranceDto {
    /// `card` or `myna`.
    pub kind: String,
    /// 保険者番号.
    pub insurer_number: Option<String>,
    /// 記号.
    pub symbol: Option<String>,
    /// 番号.
    pub number: Option<String>,
    /// 枝番.
    pub branch: Option<String>,
    /// Both photos given.
    pub photos: bool,
    /// Confirmed by the eligibility service as valid.
    pub verified: bool,
    /// The service's last answer (資格有効性 and 資格確認日), if it was asked.
    #[schema(value_type = Option<Object>)]
    pub check: Option<tsunagu_insurance::check::Outcome>,
}

/// A patient's insurance registration.
#[utoipa::path(get, path = "/api/v1/me/patients/{id}/insurance", tag = "me", security(("bearer" = [])), params(("id" = i64, Path, description = "Patient id")),
    responses((status = 200, body = InsuranceDto), (status = 404)))]
pub async fn insurance_get(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<Json<InsuranceDto>> {
    st.accounts
        .patients
        .patient_of(user.account, PatientId(id))
        .await?;
    let r = st
        .insurance
        .get(PatientId(id))
        .await?
        .ok_or(DomainError::NotFound)?;
    Ok(Json(InsuranceDto {
        kind: if r.kind == tsunagu_insurance::Kind::Myna {
            "myna".into()
        } else {
            "card".into()
        },
        photos: r.front_file_id.is_some() && r.back_file_id.is_some(),
        verified: r.outcome().is_some_and(|o| o.is_valid()),
        check: r.outcome(),
        insurer_number: r.insurer_number,
        symbol: r.symbol,
        number: r.number,
        branch: r.branch,
    }))
}

/// Registers or replaces a patient's insurance: multipart fields `kind` (`card`/`myna`),
/// `insurer_number`, `symbol`, `number`, `branch`, files `front` and `back`.
#[utoipa::path(put, path = "/api/v1/me/patients/{id}/insurance", tag = "me", security(("bearer" = [])), params(("id" = i64, Path, description = "Patient id")),
    request_body(content_type = "multipart/form-data", description = "kind, insurer_number, symbol, number, branch; files front, back"),
    responses((status = 204), (status = 404), (status = 422)))]
pub async fn insurance_put(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    mp: Multipart,
) -> AppResult<StatusCode> {
    let (texts, files) = read_multipart(mp).await?;
    let form = InsuranceForm {
        kind: text(&texts, "kind"),
        insurer_number: text(&texts, "insurer_number"),
        symbol: text(&texts, "symbol"),
        number: text(&texts, "number"),
        branch: text(&texts, "branch"),
    };
    save_insurance(&st, user.account, PatientId(id), &form, &files).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shares images with a booking: multipart files named `images` (JPEG, PNG, WebP, HEIC; up
/// to 10, 10 MB each).
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/images", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    request_body(content_type = "multipart/form-data", description = "files named images"),
    responses((status = 204), (status = 404), (status = 422)))]
pub async fn images_post(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    mp: Multipart,
) -> AppResult<StatusCode> {
    let (_, files) = read_multipart(mp).await?;
    save_images(&st, user.account, id, &files).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Questionnaire answers and consent.
#[derive(Deserialize, Serialize, ToSchema, Default)]
pub struct AnswersBody {
    /// Answer per question id.
    #[serde(default)]
    pub answers: std::collections::BTreeMap<String, String>,
    /// Name signed under the consent form (when the menu has one).
    #[serde(default)]
    pub consent_name: String,
    /// Agreement to the consent form.
    #[serde(default)]
    pub agree: bool,
}

/// The answers given for a booking.
#[utoipa::path(get, path = "/api/v1/me/bookings/{id}/answers", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, body = AnswersBody), (status = 404)))]
pub async fn answers_get(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<Json<AnswersBody>> {
    st.booker.bookings.get_for_account(user.account, id).await?;
    let a = st.booker.bookings.answers(id).await?.unwrap_or_default();
    Ok(Json(AnswersBody {
        answers: a.answers,
        agree: a.consent_signed_at.is_some(),
        consent_name: a.consent_signed_name.unwrap_or_default(),
    }))
}

/// Answers the menu's questionnaire and signs its consent form.
#[utoipa::path(put, path = "/api/v1/me/bookings/{id}/answers", tag = "booking", security(("bearer" = [])), request_body = AnswersBody, params(("id" = i64, Path, description = "Booking id")),
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub async fn answers_put(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<AnswersBody>,
) -> AppResult<StatusCode> {
    let mut form: std::collections::HashMap<String, String> = b
        .answers
        .into_iter()
        .map(|(k, v)| (format!("q_{k}"), v))
        .collect();
    form.insert("consent_name".into(), b.consent_name);
    if b.agree {
        form.insert("agree".into(), "true".into());
    }
    save_answers(&st, user.account, id, &form).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A menu as staff edit it (questionnaire: one question per line, `question|choices|必須`).
#[derive(Deserialize, ToSchema, Default)]
pub struct MenuBody {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// `online` or `in_person`.
    #[serde(default)]
    pub mode: String,
    /// Minutes per patient, first visit (5–240, steps of 5).
    #[serde(default)]
    pub first_minutes: i64,
    /// Minutes per patient, return visit.
    #[serde(default)]
    pub return_minutes: i64,
    /// Insured care.
    #[serde(default)]
    pub insured: bool,
    /// Booking fee (self-pay only).
    #[serde(default)]
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
    responses((status = 200, body = MenuSaved), (status = 404), (status = 422)))]
pub async fn menu_save(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    ApiJson(b): ApiJson<MenuBody>,
) -> AppResult<Json<MenuSaved>> {
    let input = MenuForm {
        name: b.name,
        description: b.description,
        mode: b.mode,
        first_minutes: b.first_minutes.to_string(),
        return_minutes: b.return_minutes.to_string(),
        insured: b.insured,
        booking_fee_yen: b.booking_fee_yen.to_string(),
        questionnaire: b.questionnaire,
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
pub struct DecisionBody {
    /// `approve` or `reject`.
    #[serde(default)]
    pub decision: String,
}

/// Approves or rejects a proposed menu change (admins).
#[utoipa::path(post, path = "/api/v1/staff/menus/changes/{id}", tag = "staff", security(("bearer" = [])), request_body = DecisionBody, params(("id" = i64, Path, description = "Change id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
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
pub struct HoursBody {
    /// Hours per weekday.
    #[serde(default)]
    pub weekly: std::collections::BTreeMap<String, String>,
}

/// Replaces a doctor's weekly hours (admins and the doctor themself).
#[utoipa::path(put, path = "/api/v1/staff/doctors/{id}/hours", tag = "staff", security(("bearer" = [])), request_body = HoursBody, params(("id" = i64, Path, description = "Doctor (staff) id")),
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
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
pub struct SuspendBody {
    /// Pause online bookings.
    #[serde(default)]
    pub suspended: bool,
}

/// Pauses or resumes online bookings (admins, G1).
#[utoipa::path(put, path = "/api/v1/staff/facility/online-suspended", tag = "staff", security(("bearer" = [])), request_body = SuspendBody,
    responses((status = 204), (status = 403)))]
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
