//! The signed-in patient's own data: account, family, email, password, access log; and
//! the public facility directory.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::{Patient, Realm};
use tsunagu_kernel::{DomainError, Email, PatientId};
use utoipa::ToSchema;

use crate::bearer::{ApiJson, ApiPatient};
use crate::ctx::ReqLang;
use crate::error::AppResult;
use crate::forms::{PatientForm, today_jst};
use crate::state::AppState;

/// A patient profile.
#[derive(Serialize, ToSchema)]
pub struct PatientDto {
    /// Id.
    pub id: i64,
    /// `self` or `family`.
    pub relation: String,
    /// 姓.
    pub family_name: String,
    /// 名.
    pub given_name: String,
    /// セイ.
    pub family_name_kana: String,
    /// メイ.
    pub given_name_kana: String,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// 1 male, 2 female, 3 unset.
    pub sex: Option<i64>,
}

impl From<&Patient> for PatientDto {
    fn from(p: &Patient) -> Self {
        Self {
            id: p.id.0,
            relation: match p.relation {
                tsunagu_accounts::Relation::Myself => "self",
                tsunagu_accounts::Relation::Family => "family",
                tsunagu_accounts::Relation::None => "none",
            }
            .into(),
            family_name: p.family_name.clone(),
            given_name: p.given_name.clone(),
            family_name_kana: p.family_name_kana.clone(),
            given_name_kana: p.given_name_kana.clone(),
            birth_date: p.birth_date.map(|d| d.to_string()),
            sex: p.sex.map(tsunagu_kernel::Sex::code),
        }
    }
}

/// The account and the patients it manages.
#[derive(Serialize, ToSchema)]
pub struct MeDto {
    /// Account id.
    pub account_id: i64,
    /// E.164 number.
    pub phone: String,
    /// Verified email.
    pub email: Option<String>,
    /// `sms` or `email`.
    pub notify_channel: String,
    /// Self first, then family.
    pub patients: Vec<PatientDto>,
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])), responses((status = 200, body = MeDto)))]
pub async fn me(State(st): State<AppState>, user: ApiPatient) -> AppResult<Json<MeDto>> {
    let a = st.accounts.patients.account(user.account).await?;
    let patients = st.accounts.patients.patients_of(user.account).await?;
    Ok(Json(MeDto {
        account_id: a.id.0,
        phone: a.phone.e164().to_string(),
        email: a.email.map(|e| e.as_str().to_string()),
        notify_channel: a.notify_channel,
        patients: patients.iter().map(PatientDto::from).collect(),
    }))
}

/// The account's patients.
#[utoipa::path(get, path = "/api/v1/me/family", tag = "me", security(("bearer" = [])), responses((status = 200, body = [PatientDto])))]
pub async fn family_list(
    State(st): State<AppState>,
    user: ApiPatient,
) -> AppResult<Json<Vec<PatientDto>>> {
    let patients = st.accounts.patients.patients_of(user.account).await?;
    Ok(Json(patients.iter().map(PatientDto::from).collect()))
}

/// A person's details.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PersonBody {
    /// 姓.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub family_name: String,
    /// 名.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub given_name: String,
    /// セイ.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub family_name_kana: String,
    /// メイ.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub given_name_kana: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(required, format = Date)]
    pub birth_date: String,
    /// `1`, `2` or `3`.
    #[serde(default)]
    #[schema(required, schema_with = crate::apidoc::sex)]
    pub sex: String,
}

impl PersonBody {
    fn parse(self, st: &AppState) -> Result<tsunagu_accounts::NewPatient, DomainError> {
        PatientForm {
            family_name: self.family_name,
            given_name: self.given_name,
            family_name_kana: self.family_name_kana,
            given_name_kana: self.given_name_kana,
            birth_date: self.birth_date,
            sex: self.sex,
            ..PatientForm::default()
        }
        .parse(today_jst(st))
    }
}

/// Adds a family member.
#[utoipa::path(post, path = "/api/v1/me/family", tag = "me", security(("bearer" = [])), request_body = PersonBody,
    responses((status = 201, body = PatientDto), (status = 409, description = "The account already has eleven patients"), (status = 422, description = "Invalid names, birth date or sex")))]
pub async fn family_add(
    State(st): State<AppState>,
    user: ApiPatient,
    ApiJson(b): ApiJson<PersonBody>,
) -> AppResult<(StatusCode, Json<PatientDto>)> {
    let p = b.parse(&st)?;
    let id = st.accounts.patients.add_family(user.account, &p).await?;
    let created = st.accounts.patients.patient_of(user.account, id).await?;
    Ok((StatusCode::CREATED, Json(PatientDto::from(&created))))
}

/// Updates one of the account's patients.
#[utoipa::path(put, path = "/api/v1/me/family/{id}", tag = "me", security(("bearer" = [])), request_body = PersonBody,
    params(("id" = i64, Path, description = "Patient id")), responses((status = 200, body = PatientDto), (status = 404, description = "Not one of the account's patients"), (status = 422, description = "Invalid names, birth date or sex")))]
pub async fn family_update(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<PersonBody>,
) -> AppResult<Json<PatientDto>> {
    st.accounts
        .patients
        .patient_of(user.account, PatientId(id))
        .await?;
    let p = b.parse(&st)?;
    st.accounts
        .patients
        .update_of(user.account, PatientId(id), &p)
        .await?;
    let updated = st
        .accounts
        .patients
        .patient_of(user.account, PatientId(id))
        .await?;
    Ok(Json(PatientDto::from(&updated)))
}

/// Removes a family member from the account.
#[utoipa::path(delete, path = "/api/v1/me/family/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Patient id")), responses((status = 204, description = "Removed"), (status = 404, description = "Not a family member of the account (the holder cannot be removed)")))]
pub async fn family_remove(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    st.accounts
        .patients
        .remove_family(user.account, PatientId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An email address to verify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    /// The address; a link is sent to it.
    #[serde(default)]
    #[schema(required, format = Email)]
    pub email: String,
}

/// Sends a verification link to a new email address.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "me", security(("bearer" = [])), request_body = EmailBody,
    responses((status = 202, description = "Link sent"), (status = 422, description = "Not an email address"), (status = 429, description = "Too many links sent")))]
pub async fn email_request(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    user: ApiPatient,
    ApiJson(b): ApiJson<EmailBody>,
) -> AppResult<StatusCode> {
    let email = Email::parse("email", &b.email)?;
    st.accounts
        .request_email(user.account, &email, &st.config.public_url, lang)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Current and new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// Current password.
    #[serde(default)]
    #[schema(required, min_length = 1)]
    pub current_password: String,
    /// New password.
    #[serde(default)]
    #[schema(required, min_length = 8, max_length = 128)]
    pub password: String,
}

/// Changes the password.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "me", security(("bearer" = [])), request_body = PasswordBody,
    responses((status = 204, description = "Changed"), (status = 422, description = "Wrong current password, or a weak new one"), (status = 503)))]
pub async fn password_change(
    State(st): State<AppState>,
    user: ApiPatient,
    ApiJson(b): ApiJson<PasswordBody>,
) -> AppResult<StatusCode> {
    st.accounts
        .change_password(
            user.account,
            &b.current_password,
            &b.password,
            &user.session.digest,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One staff access to the account's patients.
#[derive(Serialize, ToSchema)]
pub struct AccessDto {
    /// When (ms since epoch).
    pub at: i64,
    /// Facility id.
    pub facility_id: Option<i64>,
    /// Staff member (name and role).
    pub staff: String,
    /// What was done (`patient.view`, `patient.update`…).
    pub action: String,
    /// Which of the account's patients.
    pub patient_id: Option<i64>,
}

/// Who viewed my record: staff accesses to the account's patients, newest first.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "me", security(("bearer" = [])), responses((status = 200, body = [AccessDto])))]
pub async fn access_log(
    State(st): State<AppState>,
    user: ApiPatient,
) -> AppResult<Json<Vec<AccessDto>>> {
    let ids: Vec<PatientId> = st
        .accounts
        .patients
        .patients_of(user.account)
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    let events = st.audit.staff_access_to(&ids, 200).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| AccessDto {
                at: e.at,
                facility_id: e.facility_id,
                staff: e.actor_label,
                action: e.action,
                patient_id: e.patient_id,
            })
            .collect(),
    ))
}

/// Ends every session of the account.
#[utoipa::path(post, path = "/api/v1/me/logout-everywhere", tag = "me", security(("bearer" = [])), responses((status = 204, description = "Every session ended, this one too")))]
pub async fn logout_everywhere(
    State(st): State<AppState>,
    user: ApiPatient,
) -> AppResult<StatusCode> {
    st.accounts
        .sessions
        .delete_all(Realm::Patient, user.account.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
