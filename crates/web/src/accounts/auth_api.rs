//! Sign-up, login, logout and password reset for API clients.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::codes::Purpose;
use tsunagu_accounts::{Realm, Stage};
use tsunagu_kernel::{DomainError, Phone};
use utoipa::ToSchema;

use crate::bearer::ApiJson;
use crate::ctx::ReqLang;
use crate::error::{AppError, AppResult};
use crate::forms::{check_confirm, today_jst};
use crate::session::ClientIp;
use crate::session::OriginExt;
use crate::state::AppState;

/// A phone number to send a code to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    /// Japanese mobile number in any usual shape (`090-1234-5678`, `+81 90…`, full-width).
    #[serde(default)]
    #[schema(
        required,
        pattern = r"^(0|\+81[- ]?0?)[6-9]0[- ]?[0-9]{4}[- ]?[0-9]{4}$"
    )]
    pub phone: String,
}

/// Sends a 6-digit sign-up code by SMS.
#[utoipa::path(post, path = "/api/v1/signup/code", tag = "auth", request_body = PhoneBody,
    responses((status = 202, description = "Code sent"), (status = 422, description = "Not a Japanese mobile number, or one that already has an account"), (status = 429, description = "A code was sent moments ago, or too many codes from this address or to this number")))]
pub async fn signup_code(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<PhoneBody>,
) -> AppResult<StatusCode> {
    let phone = Phone::parse("phone", &b.phone)?;
    st.accounts
        .send_code(Purpose::Signup, &phone, &ip, lang)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// A code typed by the user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The number the code was sent to.
    #[serde(default)]
    #[schema(
        required,
        pattern = r"^(0|\+81[- ]?0?)[6-9]0[- ]?[0-9]{4}[- ]?[0-9]{4}$"
    )]
    pub phone: String,
    /// The 6-digit code.
    #[serde(default)]
    #[schema(required)]
    pub code: String,
}

/// A short-lived ticket proving the number, to complete sign-up with.
#[derive(Serialize, ToSchema)]
pub struct SignupTicket {
    /// Pass as `ticket` to `/signup/complete` within 30 minutes.
    pub ticket: String,
}

/// Checks a sign-up code and returns a ticket.
#[utoipa::path(post, path = "/api/v1/signup/verify", tag = "auth", request_body = VerifyBody,
    responses((status = 200, body = SignupTicket), (status = 422, description = "Not a mobile number; or a wrong, expired or used-up code"), (status = 429, description = "Too many codes checked from this address")))]
pub async fn signup_verify(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    origin: OriginExt,
    ApiJson(b): ApiJson<VerifyBody>,
) -> AppResult<Json<SignupTicket>> {
    let phone = Phone::parse("phone", &b.phone)?;
    st.accounts
        .check_code(Purpose::Signup, &phone, &b.code, &ip)
        .await?;
    let mut data = serde_json::Map::new();
    data.insert(
        "signup_verified".into(),
        serde_json::json!({ "phone": phone.e164(), "at": st.clock.now_ms() }),
    );
    let (ticket, _) = st
        .accounts
        .sessions
        .create(
            Realm::Patient,
            None,
            None,
            Stage::Anonymous,
            &origin.0,
            data,
        )
        .await?;
    Ok(Json(SignupTicket { ticket }))
}

/// The account holder's details and password.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// Ticket from `/signup/verify`.
    #[serde(default)]
    #[schema(required)]
    pub ticket: String,
    /// 姓.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub family_name: String,
    /// 名.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub given_name: String,
    /// セイ (katakana or hiragana).
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub family_name_kana: String,
    /// メイ.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub given_name_kana: String,
    /// `YYYY-MM-DD`, not in the future.
    #[serde(default)]
    #[schema(required, format = Date)]
    pub birth_date: String,
    /// `1` male, `2` female, `3` unset.
    #[serde(default)]
    #[schema(required, schema_with = crate::apidoc::sex)]
    pub sex: String,
    /// At least 8 characters with letters and another kind.
    #[serde(default)]
    #[schema(required, min_length = 8, max_length = 128)]
    pub password: String,
}

/// A bearer token for a signed-in session.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer …`.
    pub token: String,
}

/// Creates the account from a ticket and returns a session token.
#[utoipa::path(post, path = "/api/v1/signup/complete", tag = "auth", request_body = CompleteBody,
    responses((status = 201, body = TokenResponse), (status = 422, description = "Invalid fields, or an unknown or expired ticket"), (status = 409, description = "Number already registered"), (status = 503)))]
pub async fn signup_complete(
    State(st): State<AppState>,
    origin: OriginExt,
    ApiJson(b): ApiJson<CompleteBody>,
) -> AppResult<(StatusCode, Json<TokenResponse>)> {
    let s = st
        .accounts
        .sessions
        .get(Realm::Patient, &b.ticket)
        .await?
        .ok_or(AppError(DomainError::invalid(
            "ticket",
            "error.signup.ticket",
        )))?;
    let phone = s
        .data
        .get("signup_verified")
        .filter(|v| {
            v.get("at")
                .and_then(serde_json::Value::as_i64)
                .is_some_and(|at| st.clock.now_ms() - at < 30 * 60 * 1000)
        })
        .and_then(|v| {
            v.get("phone")?
                .as_str()
                .map(|p| Phone::from_stored(p.to_string()))
        })
        .ok_or(AppError(DomainError::invalid(
            "ticket",
            "error.signup.ticket",
        )))?;
    let form = crate::forms::PatientForm {
        family_name: b.family_name,
        given_name: b.given_name,
        family_name_kana: b.family_name_kana,
        given_name_kana: b.given_name_kana,
        birth_date: b.birth_date,
        sex: b.sex,
        password: b.password.clone(),
        password_confirm: b.password.clone(),
        agree: true,
        ..crate::forms::PatientForm::default()
    };
    let mut v = tsunagu_kernel::error::Validator::new();
    let me = v.check(form.parse(today_jst(&st)))?;
    v.check(tsunagu_accounts::password::validate_new(
        "password",
        &b.password,
    ))?;
    v.check(check_confirm(&form.password, &form.password_confirm))?;
    v.finish()?;
    let me = me.ok_or_else(|| {
        AppError(DomainError::internal(anyhow::anyhow!(
            "validated profile missing"
        )))
    })?;
    let account = st
        .accounts
        .complete_signup(&phone, &b.password, &me)
        .await?;
    st.accounts.sessions.delete_digest(&s.digest).await?;
    let (token, _) = st
        .accounts
        .sessions
        .create(
            Realm::Patient,
            Some(account.0),
            None,
            Stage::Full,
            &origin.0,
            serde_json::Map::new(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(TokenResponse { token })))
}

/// Phone and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Registered mobile number.
    #[serde(default)]
    #[schema(
        required,
        pattern = r"^(0|\+81[- ]?0?)[6-9]0[- ]?[0-9]{4}[- ]?[0-9]{4}$"
    )]
    pub phone: String,
    /// Password.
    #[serde(default)]
    #[schema(required, min_length = 1)]
    pub password: String,
}

/// Logs a patient in.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenResponse), (status = 401, description = "Wrong number or password"), (status = 422, description = "Not a mobile number, or no password"), (status = 429, description = "Slowed down or locked"), (status = 503)))]
pub async fn login(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    origin: OriginExt,
    ApiJson(b): ApiJson<LoginBody>,
) -> AppResult<Json<TokenResponse>> {
    let account = st
        .accounts
        .patient_login(&b.phone, &b.password, &ip)
        .await?;
    let (token, _) = st
        .accounts
        .sessions
        .create(
            Realm::Patient,
            Some(account.0),
            None,
            Stage::Full,
            &origin.0,
            serde_json::Map::new(),
        )
        .await?;
    Ok(Json(TokenResponse { token }))
}

/// Ends the session of the bearer token (patient or staff).
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(st): State<AppState>,
    req: axum::extract::Request,
) -> AppResult<StatusCode> {
    let (parts, _) = req.into_parts();
    for realm in [Realm::Patient, Realm::Staff] {
        if let Ok((_, s)) = crate::bearer::bearer_session(&parts, &st, realm).await {
            st.accounts.sessions.delete_digest(&s.digest).await?;
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(AppError(DomainError::Unauthorized(
        "error.api.token_invalid",
    )))
}

/// Sends a password-reset code (answers the same whether or not the number has an account).
#[utoipa::path(post, path = "/api/v1/password/code", tag = "auth", request_body = PhoneBody,
    responses((status = 202, description = "Code sent if the number has an account"), (status = 422, description = "Not a Japanese mobile number"), (status = 429, description = "A code was sent moments ago, or too many codes from this address or to this number")))]
pub async fn password_code(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<PhoneBody>,
) -> AppResult<StatusCode> {
    let phone = Phone::parse("phone", &b.phone)?;
    st.accounts
        .send_code(Purpose::Reset, &phone, &ip, lang)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Code and new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// Registered number.
    #[serde(default)]
    #[schema(
        required,
        pattern = r"^(0|\+81[- ]?0?)[6-9]0[- ]?[0-9]{4}[- ]?[0-9]{4}$"
    )]
    pub phone: String,
    /// The code from the SMS.
    #[serde(default)]
    #[schema(required)]
    pub code: String,
    /// The new password: at least 8 characters with letters and another kind.
    #[serde(default)]
    #[schema(required, min_length = 8, max_length = 128)]
    pub password: String,
}

/// Sets a new password with a reset code; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/password/reset", tag = "auth", request_body = ResetBody,
    responses((status = 204, description = "Password changed"), (status = 422, description = "Wrong code, weak password, or no account with this number"), (status = 429, description = "Too many codes checked from this address"), (status = 503)))]
pub async fn password_reset(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(b): ApiJson<ResetBody>,
) -> AppResult<StatusCode> {
    let phone = Phone::parse("phone", &b.phone)?;
    tsunagu_accounts::password::validate_new("password", &b.password)?;
    st.accounts
        .check_code(Purpose::Reset, &phone, &b.code, &ip)
        .await?;
    st.accounts.complete_reset(&phone, &b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
