//! Staff API: login with TOTP, the facility's patients (audited), failed jobs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::staff::LoginTable;
use tsunagu_accounts::{Realm, Stage};
use tsunagu_kernel::{DomainError, PatientId, StaffId};
use utoipa::ToSchema;

use crate::bearer::{ApiJson, ApiStaff, bearer_session};
use crate::error::{AppError, AppResult};
use crate::session::OriginExt;
use crate::session::{ClientIp, RequestId};
use crate::state::AppState;

/// Facility, login id and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLoginBody {
    /// The facility's slug (施設ID).
    #[serde(default)]
    #[schema(required)]
    pub facility: String,
    /// Login id.
    #[serde(default)]
    #[schema(required)]
    pub login_id: String,
    /// Password.
    #[serde(default)]
    #[schema(required)]
    pub password: String,
}

/// A staff token and what it still needs.
#[derive(Serialize, ToSchema)]
pub struct StaffLoginResponse {
    /// Bearer token.
    pub token: String,
    /// `none` (usable now), `required` (POST `/staff/totp`), or `enrol` (GET
    /// `/staff/totp/enrol`, then POST `/staff/totp`).
    pub totp: String,
}

/// Staff login; the token is limited until the TOTP step is done.
#[utoipa::path(post, path = "/api/v1/staff/login", tag = "staff", request_body = StaffLoginBody,
    responses((status = 200, body = StaffLoginResponse), (status = 401, description = "Unknown facility, login or password"), (status = 429, description = "Slowed down or locked"), (status = 503)))]
pub async fn staff_login(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestId(rid): RequestId,
    origin: OriginExt,
    ApiJson(b): ApiJson<StaffLoginBody>,
) -> AppResult<Json<StaffLoginResponse>> {
    let facility = match st.facilities.by_slug(&b.facility).await {
        Ok(f) => f,
        Err(DomainError::NotFound) => {
            return Err(AppError(DomainError::Unauthorized("error.login.failed_id")));
        }
        Err(e) => return Err(e.into()),
    };
    let (id, totp) = st
        .accounts
        .staff_login(
            facility.id,
            facility.require_totp_all,
            &b.login_id,
            &b.password,
            &ip,
        )
        .await?;
    let (stage, label) = match totp {
        None => (Stage::Full, "none"),
        Some(true) => (Stage::NeedsTotp, "required"),
        Some(false) => (Stage::NeedsTotpEnrol, "enrol"),
    };
    let token = st
        .accounts
        .open_staff_session(facility.id, StaffId(id), stage, &origin.0, &ip, &rid)
        .await?;
    Ok(Json(StaffLoginResponse {
        token,
        totp: label.into(),
    }))
}

/// A TOTP secret to enrol.
#[derive(Serialize, ToSchema)]
pub struct EnrolResponse {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// `otpauth://` URL for a QR code.
    pub otpauth_url: String,
}

/// The enrolment code an admin handed over.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    /// The one-time code (`XXXXX-XXXXX`; case, hyphens and full-width are forgiven).
    #[serde(default)]
    #[schema(required, min_length = 1)]
    pub enrol_code: String,
}

/// Starts TOTP enrolment for a token in the `enrol` state: proves the one-time enrolment
/// code (issued by the facility's admin, or the operator for a first admin) and returns a
/// fresh secret. The password alone cannot enrol an authenticator.
#[utoipa::path(post, path = "/api/v1/staff/totp/enrol", tag = "staff", security(("bearer" = [])), request_body = EnrolBody,
    responses((status = 200, body = EnrolResponse), (status = 401, description = "No token in the `enrol` state, or too many wrong codes on it (log in again)"), (status = 422, description = "No code, or a wrong, spent or expired one"), (status = 429, description = "Too many codes from this address or for this account")))]
pub async fn totp_enrol(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    req: axum::extract::Request,
) -> AppResult<Json<EnrolResponse>> {
    let (parts, body) = req.into_parts();
    let (_, mut s) = bearer_session(&parts, &st, Realm::Staff).await?;
    let (Stage::NeedsTotpEnrol, Some(id), Some(fid)) = (s.stage, s.principal_id, s.facility_id)
    else {
        return Err(AppError(DomainError::Unauthorized(
            "error.api.token_invalid",
        )));
    };
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| AppError(DomainError::invalid("body", "error.form.too_large")))?;
    let b: EnrolBody = crate::bearer::parse_json(&bytes)?;
    let secret = st
        .accounts
        .redeem_enrolment_code(LoginTable::Staff, id, &s.digest, &b.enrol_code, &ip)
        .await?;
    s.data
        .insert("enrol_ok".into(), serde_json::Value::Bool(true));
    st.accounts.sessions.save_data(&s).await?;
    let user = st.accounts.staff.get(fid, StaffId(id)).await?;
    let facility = st.facilities.get(fid).await?;
    let otpauth_url = tsunagu_accounts::totp::provisioning_url(
        &secret,
        "tsunagu",
        &format!("{}@{}", user.login_id, facility.slug),
    )?;
    Ok(Json(EnrolResponse {
        secret,
        otpauth_url,
    }))
}

/// A TOTP code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpBody {
    /// 6 digits from the authenticator app.
    #[serde(default)]
    #[schema(required)]
    pub code: String,
}

/// Completes the second factor; returns a new full token (the limited one ends).
#[utoipa::path(post, path = "/api/v1/staff/totp", tag = "staff", security(("bearer" = [])), request_body = TotpBody,
    responses((status = 200, body = crate::accounts::auth_api::TokenResponse), (status = 401, description = "No token waiting for the second factor, or too many wrong codes on it (log in again)"), (status = 422, description = "Wrong code, or none"), (status = 429, description = "Too many codes from this address or for this account, or the account is locked")))]
pub async fn totp(
    State(st): State<AppState>,
    origin: OriginExt,
    ClientIp(ip): ClientIp,
    RequestId(rid): RequestId,
    req: axum::extract::Request,
) -> AppResult<Json<crate::accounts::auth_api::TokenResponse>> {
    let (parts, body) = req.into_parts();
    let (_, s) = bearer_session(&parts, &st, Realm::Staff).await?;
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| AppError(DomainError::invalid("code", "error.form.too_large")))?;
    let b: TotpBody = crate::bearer::parse_json(&bytes)?;
    let (true, Some(id), Some(fid)) = (
        matches!(s.stage, Stage::NeedsTotp | Stage::NeedsTotpEnrol),
        s.principal_id,
        s.facility_id,
    ) else {
        return Err(AppError(DomainError::Unauthorized(
            "error.api.token_invalid",
        )));
    };
    if s.stage == Stage::NeedsTotpEnrol && !crate::session::enrol_proved(&s) {
        return Err(AppError(DomainError::invalid(
            "enrol_code",
            "error.totp.enrol_code_required",
        )));
    }
    st.accounts
        .check_totp(LoginTable::Staff, id, &s.digest, &b.code, &ip)
        .await?;
    st.accounts.sessions.delete_digest(&s.digest).await?;
    let token = st
        .accounts
        .open_staff_session(fid, StaffId(id), Stage::Full, &origin.0, &ip, &rid)
        .await?;
    Ok(Json(crate::accounts::auth_api::TokenResponse { token }))
}

/// A patient as the facility knows them.
#[derive(Serialize, ToSchema)]
pub struct FacilityPatientDto {
    /// The patient.
    #[serde(flatten)]
    pub patient: crate::accounts::me_api::PatientDto,
    /// カルテ番号.
    pub chart_number: Option<String>,
    /// Whether the patient has shared their record (insurance, documents) with this
    /// facility; `false` for a member staff booked by phone until they confirm.
    pub shared: bool,
}

fn to_dto(fp: &tsunagu_accounts::patients::FacilityPatient) -> FacilityPatientDto {
    FacilityPatientDto {
        patient: crate::accounts::me_api::PatientDto::from(&fp.patient),
        chart_number: fp.chart_number.clone(),
        shared: fp.shared,
    }
}

/// The facility's patients (audited as one list access).
#[utoipa::path(get, path = "/api/v1/staff/patients", tag = "staff", security(("bearer" = [])), responses((status = 200, body = [FacilityPatientDto])))]
pub async fn patients(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
) -> AppResult<Json<Vec<FacilityPatientDto>>> {
    let list = st
        .accounts
        .patients_seen_by(&me.by(), me.scope(), 500)
        .await?;
    Ok(Json(list.iter().map(to_dto).collect()))
}

/// One patient of the facility (audited).
#[utoipa::path(get, path = "/api/v1/staff/patients/{id}", tag = "staff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Patient id")), responses((status = 200, body = FacilityPatientDto), (status = 404, description = "Not a patient of the facility")))]
pub async fn patient(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
) -> AppResult<Json<FacilityPatientDto>> {
    let fp = st
        .accounts
        .patient_seen_by(&me.by(), me.scope(), PatientId(id))
        .await?;
    Ok(Json(to_dto(&fp)))
}

/// A chart number.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartBody {
    /// Up to 20 letters, digits or hyphens; empty clears it.
    #[serde(default)]
    pub chart_number: String,
}

/// Sets the facility's chart number of a patient (audited).
#[utoipa::path(put, path = "/api/v1/staff/patients/{id}/chart-number", tag = "staff", security(("bearer" = [])), request_body = ChartBody,
    params(("id" = i64, Path, description = "Patient id")), responses((status = 204, description = "Set"), (status = 404, description = "Not a patient of the facility"), (status = 409, description = "Another patient of the facility has this chart number"), (status = 422, description = "Not up to 20 letters, digits or hyphens")))]
pub async fn set_chart_number(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ChartBody>,
) -> AppResult<StatusCode> {
    st.accounts
        .set_chart_number(me.scope(), PatientId(id), &b.chart_number, &me.by())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A job that ran out of attempts.
#[derive(Serialize, ToSchema)]
pub struct FailedJobDto {
    /// Id.
    pub id: i64,
    /// Kind (`outbox.send`…).
    pub kind: String,
    /// Attempts made.
    pub attempts: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Enqueued at (ms).
    pub created_at: i64,
}

/// The facility's failed jobs.
#[utoipa::path(get, path = "/api/v1/staff/jobs/failed", tag = "staff", security(("bearer" = [])), responses((status = 200, body = [FailedJobDto])))]
pub async fn failed_jobs(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
) -> AppResult<Json<Vec<FailedJobDto>>> {
    let jobs = st.jobs.failed(Some(me.scope())).await?;
    Ok(Json(
        jobs.into_iter()
            .map(|j| FailedJobDto {
                id: j.id.0,
                kind: j.kind,
                attempts: j.attempts,
                last_error: j.last_error,
                created_at: j.created_at,
            })
            .collect(),
    ))
}
