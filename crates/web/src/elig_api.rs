//! The eligibility service's JSON API (`/api/v1` on its own port), for clinic systems: the
//! normal lookups by insurance card (method 2) and by My Number card (method 1), answered
//! as JSON or as the result XML (`?format=xml`). Refused while the system is down (F8).

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tsunagu_accounts::{Realm, Stage};
use tsunagu_eligibility::Stored;
use tsunagu_eligibility::access::{Account, Arrival, Method, method_allowed};
use tsunagu_eligibility_domain::model::{Qualification, ReferenceClassification};
use tsunagu_eligibility_domain::xml::ResultMessage;
use tsunagu_kernel::DomainError;
use utoipa::{OpenApi, ToSchema};

use crate::api::ApiJson;
use crate::elig::EligState;
use crate::error::{AppError, AppResult};

/// Credentials of an institution account.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    /// 医療機関コード (10 digits).
    #[serde(default)]
    pub institution: String,
    /// User id.
    #[serde(default)]
    pub login_id: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// A bearer token.
#[derive(Serialize, ToSchema)]
pub struct TokenDto {
    /// Send as `Authorization: Bearer …`.
    pub token: String,
}

/// Logs an institution account in.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginBody, responses((status = 200, body = TokenDto), (status = 401)))]
pub async fn login(
    State(st): State<EligState>,
    origin: crate::pages::signup_support::OriginExt,
    ApiJson(b): ApiJson<LoginBody>,
) -> AppResult<Json<TokenDto>> {
    let Some(a) = st
        .search
        .access
        .find_account(Some(b.institution.trim()), b.login_id.trim())
        .await?
    else {
        let _ = tsunagu_accounts::password::verify(
            b.password.clone(),
            tsunagu_accounts::password::dummy_hash().into(),
        )
        .await;
        return Err(DomainError::Unauthorized("error.login.failed").into());
    };
    let now = tsunagu_kernel::Clock::now_ms(&*st.clock);
    let (failed, next_at) = st.search.access.login_state(a.id).await?;
    if next_at > now {
        return Err(DomainError::TooManyRequests {
            key: "error.login.slow_down",
            retry_after_secs: u64::try_from((next_at - now) / 1000 + 1).unwrap_or(1),
        }
        .into());
    }
    if !tsunagu_accounts::password::verify(b.password, a.password_hash.clone()).await? {
        let failed = failed + 1;
        st.search
            .access
            .set_login_state(
                a.id,
                failed,
                tsunagu_accounts::LoginPolicy::default().next_attempt_at(failed, now),
            )
            .await?;
        return Err(DomainError::Unauthorized("error.login.failed").into());
    }
    st.search.access.set_login_state(a.id, 0, 0).await?;
    let (token, _) = st
        .sessions
        .create(
            Realm::Staff,
            Some(a.id),
            None,
            Stage::Full,
            &origin.0,
            serde_json::Map::new(),
        )
        .await?;
    Ok(Json(TokenDto { token }))
}

/// An institution account authenticated by bearer token.
pub struct Caller(Account);

impl FromRequestParts<EligState> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &EligState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || AppError(DomainError::Unauthorized("error.api.token_invalid"));
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError(DomainError::Unauthorized(
                "error.api.token_missing",
            )))?;
        let s = st
            .sessions
            .get(Realm::Staff, token.trim())
            .await?
            .ok_or_else(unauthorized)?;
        let id = s.principal().ok_or_else(unauthorized)?;
        let a = st
            .search
            .access
            .account(id)
            .await
            .map_err(|_| unauthorized())?;
        if a.institution_code.is_none() {
            return Err(AppError(DomainError::Forbidden(
                "error.eligibility.institution_only",
            )));
        }
        Ok(Self(a))
    }
}

/// A lookup by insurance card (method 2).
#[derive(Deserialize, ToSchema)]
pub struct ByCardBody {
    /// 保険者番号 (check digit verified).
    #[serde(default)]
    pub insurer_number: String,
    /// 記号.
    #[serde(default)]
    pub symbol: String,
    /// 番号.
    #[serde(default)]
    pub number: String,
    /// 枝番.
    #[serde(default)]
    pub branch: String,
    /// Birth date `YYYY-MM-DD` (optional; narrows family members without 枝番).
    pub birth_date: Option<String>,
    /// 資格確認日 `YYYY-MM-DD` (default today, Japan).
    pub confirmation_date: Option<String>,
}

/// A lookup by My Number card (method 1): the card's identity as a reader returns it.
#[derive(Deserialize, ToSchema)]
pub struct ByMynaBody {
    /// Card identity.
    #[serde(default)]
    pub card: String,
    /// 資格確認日 `YYYY-MM-DD` (default today).
    pub confirmation_date: Option<String>,
}

/// Answer format.
#[derive(Deserialize)]
pub struct FormatQuery {
    /// `xml` for the result XML; JSON otherwise.
    pub format: Option<String>,
}

/// A lookup's answer.
#[derive(Serialize, ToSchema)]
pub struct LookupDto {
    /// 資格有効性 (OQSCD006): 1 有効, 2 無効, 3 無効(新しい資格あり), 4 該当資格なし, 5 複数該当.
    pub validity: String,
    /// Its name.
    pub validity_name: String,
    /// 資格確認日.
    pub confirmation_date: String,
    /// The matching records (all fields of the result).
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Qualification>,
}

fn date(
    field: &'static str,
    s: Option<&str>,
    st: &EligState,
) -> Result<jiff::civil::Date, DomainError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse()
            .map_err(|_| DomainError::invalid(field, "error.date.invalid")),
        None => Ok(jiff::tz::TimeZone::get("Asia/Tokyo").map_or_else(
            |_| st.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date(),
            |tz| st.clock.now().to_zoned(tz).date(),
        )),
    }
}

async fn answer(
    st: &EligState,
    who: &Account,
    method: Method,
    on: jiff::civil::Date,
    found: Vec<Stored>,
    xml: bool,
) -> AppResult<Response> {
    let institution = who.institution_code.as_deref().unwrap_or_default();
    let records: Vec<Qualification> = found.into_iter().map(|s| s.record).collect();
    let now = st
        .clock
        .now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC));
    let reference = if method == Method::MyNumberCard {
        ReferenceClassification::MyNumberCard
    } else {
        ReferenceClassification::InsuranceCard
    };
    let msg =
        ResultMessage::for_results(now.datetime(), on, institution, reference, records.clone());
    if xml {
        return Ok((
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            msg.to_xml(),
        )
            .into_response());
    }
    let validity = msg
        .body
        .qualification_validity
        .unwrap_or(tsunagu_eligibility_domain::model::Validity::NotFound);
    Ok(Json(LookupDto {
        validity: validity.code().to_string(),
        validity_name: validity.name().to_string(),
        confirmation_date: on.to_string(),
        records,
    })
    .into_response())
}

async fn allowed(st: &EligState, who: &Account, method: Method) -> Result<(), DomainError> {
    let mode = st
        .search
        .access
        .mode_for(who.institution_code.as_deref().unwrap_or_default())
        .await?;
    method_allowed(mode, method, Arrival::AfterRecovery).map_err(DomainError::Forbidden)
}

/// Confirms a qualification by insurance card numbers (method 2).
#[utoipa::path(post, path = "/api/v1/qualifications/by-card", request_body = ByCardBody, security(("bearer" = [])),
    responses((status = 200, body = LookupDto), (status = 403, description = "System down"), (status = 422)))]
pub async fn by_card(
    State(st): State<EligState>,
    Caller(who): Caller,
    Query(f): Query<FormatQuery>,
    ApiJson(b): ApiJson<ByCardBody>,
) -> AppResult<Response> {
    allowed(&st, &who, Method::CardNumbers).await?;
    let n =
        tsunagu_insurance::CardNumbers::parse(&b.insurer_number, &b.symbol, &b.number, &b.branch)?;
    let birth = match b
        .birth_date
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            s.parse()
                .map_err(|_| DomainError::invalid("birth_date", "error.birth_date.invalid"))?,
        ),
        None => None,
    };
    let on = date("confirmation_date", b.confirmation_date.as_deref(), &st)?;
    let found = st
        .search
        .store
        .by_card(
            &n.insurer_number,
            n.symbol.as_deref().unwrap_or(""),
            &n.number,
            n.branch.as_deref().unwrap_or(""),
            birth,
        )
        .await?;
    answer(
        &st,
        &who,
        Method::CardNumbers,
        on,
        found,
        f.format.as_deref() == Some("xml"),
    )
    .await
}

/// Confirms a qualification by My Number card (method 1).
#[utoipa::path(post, path = "/api/v1/qualifications/by-my-number-card", request_body = ByMynaBody, security(("bearer" = [])),
    responses((status = 200, body = LookupDto), (status = 403, description = "System down"), (status = 422)))]
pub async fn by_myna(
    State(st): State<EligState>,
    Caller(who): Caller,
    Query(f): Query<FormatQuery>,
    ApiJson(b): ApiJson<ByMynaBody>,
) -> AppResult<Response> {
    allowed(&st, &who, Method::MyNumberCard).await?;
    if b.card.trim().is_empty() {
        return Err(DomainError::invalid("card", "error.required").into());
    }
    let on = date("confirmation_date", b.confirmation_date.as_deref(), &st)?;
    let found = st.search.store.by_card_identity(b.card.trim()).await?;
    answer(
        &st,
        &who,
        Method::MyNumberCard,
        on,
        found,
        f.format.as_deref() == Some("xml"),
    )
    .await
}

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The eligibility API's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "tsunagu eligibility API", description = "Normal qualification lookups (オンライン資格確認 methods 1 and 2). Errors have the shape {error: {code, message, fields, request_id}}, messages in Japanese by default."),
    paths(login, by_card, by_myna),
    modifiers(&Bearer)
)]
pub struct EligApiDoc;

/// Serves the document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(EligApiDoc::openapi())
}
