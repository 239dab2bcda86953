//! The insurance API: checks of a booking's coverage (staff) and the patient's own card.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_kernel::{DomainError, PatientId};
use utoipa::ToSchema;

use crate::bearer::{ApiJson, ApiMultipart, ApiPatient, ApiStaff};
use crate::error::AppResult;
use crate::state::AppState;
use tsunagu_webkit::multipart::{field, read_multipart};

/// Confirms the patient's registered insurance card with the eligibility service (method 2,
/// as this facility's institution account) and stores the answer, which the patient sees.
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/insurance/check", tag = "staff", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, description = "資格有効性 and 資格確認日", body = Object), (status = 404, description = "Not a booking of the facility"), (status = 409, description = "No insurance, マイナ保険証, not linked, or the service is down or unreachable")))]
pub async fn staff_insurance_check(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
) -> AppResult<Json<tsunagu_insurance::check::Outcome>> {
    Ok(Json(
        st.coverage.card_check(&me.by(), &me.facility, id).await?,
    ))
}

/// The four facts the patient states during an outage (the pages' form, as JSON).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageBody {
    /// 氏名 (name or kana, at least one).
    #[serde(default)]
    pub name: String,
    /// 氏名（カナ）.
    #[serde(default)]
    pub kana: String,
    /// 生年月日 `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(required, format = Date)]
    pub birth_date: String,
    /// 性別: `1` 男, `2` 女, `3` 未設定.
    #[serde(default)]
    #[schema(required, schema_with = crate::apidoc::sex)]
    pub sex: String,
    /// 住所 (address or insurer name, at least one).
    #[serde(default)]
    pub address: String,
    /// 保険者名.
    #[serde(default)]
    pub insurer_name: String,
}

impl From<OutageBody> for tsunagu_insurance::outage::StatedFacts {
    fn from(b: OutageBody) -> Self {
        Self {
            name: b.name,
            kana: b.kana,
            birth_date: b.birth_date,
            sex: b.sex,
            address: b.address,
            insurer_name: b.insurer_name,
        }
    }
}

/// Records the booking as a visit while the eligibility service is down, with the four facts
/// the patient stated; after recovery they confirm the qualification (method 3).
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/insurance/outage-visit", tag = "staff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Booking id")),
    request_body = OutageBody,
    responses((status = 204, description = "Recorded"), (status = 404, description = "Not a booking of the facility"), (status = 409, description = "Already recorded, the service is not down, or not linked"), (status = 422, description = "The four facts are incomplete or invalid")))]
pub async fn staff_outage_visit(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<OutageBody>,
) -> AppResult<axum::http::StatusCode> {
    let f: tsunagu_insurance::outage::StatedFacts = b.into();
    st.coverage
        .record_outage_visit(&me.by(), &me.facility, id, &f)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Picks a candidate of an earlier four-facts list.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FourFactsBody {
    /// A candidate's id from the list; absent for the search itself.
    pub candidate: Option<i64>,
}

/// A four-facts confirmation's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FourFactsDto {
    /// `confirmed` (stored, as `result`) or `list` (pick one of `candidates`).
    pub outcome: &'static str,
    /// The stored answer.
    #[schema(value_type = Option<Object>)]
    pub result: Option<tsunagu_insurance::check::Outcome>,
    /// 2–5 candidates: name, birth date (和暦), sex, first 10 characters of the address,
    /// insurer name.
    #[schema(value_type = Vec<Object>)]
    pub candidates: Vec<tsunagu_insurance::check::Candidate>,
}

/// Confirms an outage-time visit's qualification by its four facts at the visit date
/// (method 3, after recovery, within the operating body's period). None or more than five
/// hits answer 409 with what to do.
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/insurance/four-facts", tag = "staff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Booking id")),
    request_body = FourFactsBody,
    responses((status = 200, body = FourFactsDto), (status = 404, description = "Not a booking of the facility, or not a candidate"), (status = 409, description = "No outage-time visit, not allowed now, none or too many hits")))]
pub async fn staff_four_facts(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<FourFactsBody>,
) -> AppResult<Json<FourFactsDto>> {
    use tsunagu_insurance::check::FourFactsAnswer;
    let answer = st
        .coverage
        .four_facts(&me.by(), &me.facility, id, b.candidate)
        .await?;
    Ok(Json(match answer {
        FourFactsAnswer::Confirmed(o) => FourFactsDto {
            outcome: "confirmed",
            result: Some(o),
            candidates: Vec::new(),
        },
        FourFactsAnswer::Candidates(c) => FourFactsDto {
            outcome: "list",
            result: None,
            candidates: c,
        },
        // The use case answers these as errors.
        FourFactsAnswer::TooMany(_) | FourFactsAnswer::NotFound => {
            return Err(
                DomainError::internal(anyhow::anyhow!("unexpected four-facts answer")).into(),
            );
        }
    }))
}

/// The identity a card reader returned.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    /// The card identity the reader returned after the PIN or face check.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub card: String,
}

/// Confirms by My Number card (method 1): `card` is the identity the clinic's card reader
/// returned after the patient's PIN or face check.
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/insurance/my-number-card", tag = "staff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Booking id")),
    request_body = CardBody,
    responses((status = 200, description = "資格有効性 and 資格確認日", body = Object), (status = 404, description = "Not a booking of the facility"), (status = 409, description = "Not linked, or the service is down or unreachable"), (status = 422, description = "No card identity, or one not bound to a qualification")))]
pub async fn staff_myna_check(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(f): ApiJson<CardBody>,
) -> AppResult<Json<tsunagu_insurance::check::Outcome>> {
    Ok(Json(
        st.coverage
            .my_number_card_check(&me.by(), &me.facility, id, &f.card)
            .await?,
    ))
}

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
