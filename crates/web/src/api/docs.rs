//! Documents and set-up over the API: a patient's insurance (A4), images shared with a
//! booking (B5), questionnaire answers (B6); a facility's menus with approval (B9), doctors'
//! hours, and the maintenance switch (G1). Uploads are `multipart/form-data`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::Role;
use tsunagu_kernel::{DomainError, PatientId, StaffId};
use utoipa::ToSchema;

use super::{ApiJson, ApiMultipart, ApiPatient, ApiStaff};
use crate::error::AppResult;
use crate::state::AppState;
use tsunagu_scheduling::{MenuForm, parse_day};
use tsunagu_webkit::multipart::{field, read_multipart};

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
    responses((status = 200, body = InsuranceDto), (status = 404, description = "Not one of the account's patients, or nothing registered")))]
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

/// The parts of an insurance upload.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form for the document; the handler reads parts.
pub struct InsuranceUpload {
    /// `card` (保険証: numbers and both photos) or `myna` (マイナ保険証).
    #[schema(schema_with = insurance_kind)]
    kind: String,
    /// 保険者番号 (6 or 8 digits, check digit verified).
    insurer_number: Option<String>,
    /// 記号.
    symbol: Option<String>,
    /// 番号.
    number: Option<String>,
    /// 枝番 (2 digits).
    branch: Option<String>,
    /// Photo of the card's front (JPEG, PNG, WebP or HEIC).
    #[schema(value_type = Option<String>, format = Binary)]
    front: Option<Vec<u8>>,
    /// Photo of the card's back.
    #[schema(value_type = Option<String>, format = Binary)]
    back: Option<Vec<u8>>,
}

fn insurance_kind() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some("`card` or `myna`."))
        .enum_values(Some(["card", "myna"]))
        .build()
}

/// Registers or replaces a patient's insurance: multipart fields `kind` (`card`/`myna`),
/// `insurer_number`, `symbol`, `number`, `branch`, files `front` and `back`.
#[utoipa::path(put, path = "/api/v1/me/patients/{id}/insurance", tag = "me", security(("bearer" = [])), params(("id" = i64, Path, description = "Patient id")),
    request_body(content = inline(InsuranceUpload), content_type = "multipart/form-data", description = "kind, insurer_number, symbol, number, branch; files front, back"),
    responses((status = 204, description = "Registered"), (status = 404, description = "Not one of the account's patients"), (status = 422, description = "Bad numbers or check digit, a missing photo, a file that is not an image, or not `multipart/form-data`")))]
pub async fn insurance_put(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiMultipart(mp): ApiMultipart,
) -> AppResult<StatusCode> {
    let (texts, files) = read_multipart(mp).await?;
    let form = tsunagu_insurance::InsuranceInput {
        kind: field(&texts, "kind"),
        insurer_number: field(&texts, "insurer_number"),
        symbol: field(&texts, "symbol"),
        number: field(&texts, "number"),
        branch: field(&texts, "branch"),
    };
    st.insurance
        .register(&st.files, user.account, PatientId(id), &form, &files)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The parts of an image upload.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form for the document; the handler reads parts.
pub struct ImagesUpload {
    /// 1–10 images (JPEG, PNG, WebP, HEIC), 10 MB each.
    #[schema(value_type = Vec<String>, format = Binary)]
    images: Vec<Vec<u8>>,
}

/// Shares images with a booking: multipart files named `images` (JPEG, PNG, WebP, HEIC; up
/// to 10, 10 MB each).
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/images", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    request_body(content = inline(ImagesUpload), content_type = "multipart/form-data", description = "files named images"),
    responses((status = 204, description = "Shared"), (status = 404, description = "Not a booking of the account"), (status = 422, description = "No image, more than ten, a file that is not an image, or not `multipart/form-data`")))]
pub async fn images_post(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiMultipart(mp): ApiMultipart,
) -> AppResult<StatusCode> {
    let (_, files) = read_multipart(mp).await?;
    st.booker
        .share_images(&st.files, user.account, id, &files)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Questionnaire answers and consent.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
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
    responses((status = 200, body = AnswersBody), (status = 404, description = "Not a booking of the account")))]
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
    responses((status = 204, description = "Saved"), (status = 404, description = "Not a booking of the account"), (status = 409, description = "The booking is no longer live"), (status = 422, description = "A required question unanswered, an answer not among the choices, or the consent not signed")))]
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
    st.booker
        .answer_questionnaire(user.account, id, &form)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

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
