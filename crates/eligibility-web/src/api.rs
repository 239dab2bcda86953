//! The eligibility service's JSON API (`/api/v1` on its own port), for clinic systems: the
//! normal lookups by insurance card (method 2) and by My Number card (method 1), answered
//! as JSON or as the result XML (`?format=xml`), refused while the system is down; the
//! institution's state and notices; recording outage-time visits; and, after recovery, the
//! four-facts search for those visits (method 3) under the same rules as the pages (F2–F8),
//! with what the pages do to a listed record beside it: registering its 照会番号 and
//! downloading its result XML (only records the caller's own search listed; monitored).

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tsunagu_accounts::{Realm, Stage};
use tsunagu_eligibility::Stored;
use tsunagu_eligibility::access::{Account, Arrival, Method, Mode, method_allowed};
use tsunagu_eligibility_domain::model::{Qualification, ReferenceClassification};
use tsunagu_eligibility_domain::search::{FourFactsInput, ListRow, SearchOutcome};
use tsunagu_eligibility_domain::xml::ResultMessage;
use tsunagu_kernel::DomainError;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::EligState;
use tsunagu_webkit::apidoc::Conventions;
use tsunagu_webkit::error::{AppError, AppResult};
use tsunagu_webkit::json::ApiJson;

/// Credentials of an institution account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// 医療機関コード (10 digits).
    #[serde(default)]
    #[schema(required)]
    pub institution: String,
    /// User id.
    #[serde(default)]
    #[schema(required)]
    pub login_id: String,
    /// Password.
    #[serde(default)]
    #[schema(required)]
    pub password: String,
}

/// A bearer token.
#[derive(Serialize, ToSchema)]
pub struct TokenDto {
    /// Send as `Authorization: Bearer …`.
    pub token: String,
}

/// Logs an institution account in.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginBody, responses((status = 200, body = TokenDto), (status = 401, description = "Unknown institution, login or password"), (status = 429, description = "Slowed down after wrong passwords"), (status = 503)))]
pub async fn login(
    State(st): State<EligState>,
    tsunagu_webkit::session::ClientIp(ip): tsunagu_webkit::session::ClientIp,
    origin: tsunagu_webkit::session::OriginExt,
    ApiJson(b): ApiJson<LoginBody>,
) -> AppResult<Json<TokenDto>> {
    let a = crate::check_login(
        &st,
        Some(b.institution.trim()),
        &b.login_id,
        &b.password,
        &ip,
    )
    .await?;
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
#[serde(deny_unknown_fields)]
pub struct ByCardBody {
    /// 保険者番号 (check digit verified).
    #[serde(default)]
    #[schema(required, min_length = 1)]
    pub insurer_number: String,
    /// 記号.
    #[serde(default)]
    pub symbol: String,
    /// 番号.
    #[serde(default)]
    #[schema(required, min_length = 1)]
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
#[serde(deny_unknown_fields)]
pub struct ByMynaBody {
    /// Card identity.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub card: String,
    /// 資格確認日 `YYYY-MM-DD` (default today).
    pub confirmation_date: Option<String>,
}

/// Answer format.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `xml` for the result XML (`application/xml`); JSON otherwise.
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
    if xml {
        let msg = ResultMessage::for_results(now.datetime(), on, institution, reference, records);
        return Ok((
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            msg.to_xml(),
        )
            .into_response());
    }
    Ok(Json(lookup(on, records)).into_response())
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
#[utoipa::path(post, path = "/api/v1/qualifications/by-card", request_body = ByCardBody, security(("bearer" = [])), params(FormatQuery),
    responses((status = 200, description = "The answer, as JSON or (`format=xml`) the result XML", content((LookupDto = "application/json"), (String = "application/xml"))), (status = 403, description = "The system is down, or this method is not open to the institution now"), (status = 422, description = "Bad card numbers or check digit, or a bad date")))]
pub async fn by_card(
    State(st): State<EligState>,
    Caller(who): Caller,
    Query(f): Query<FormatQuery>,
    ApiJson(b): ApiJson<ByCardBody>,
) -> AppResult<Response> {
    allowed(&st, &who, Method::CardNumbers).await?;
    let n = tsunagu_hoken::CardNumbers::parse(&b.insurer_number, &b.symbol, &b.number, &b.branch)?;
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
#[utoipa::path(post, path = "/api/v1/qualifications/by-my-number-card", request_body = ByMynaBody, security(("bearer" = [])), params(FormatQuery),
    responses((status = 200, description = "The answer, as JSON or (`format=xml`) the result XML", content((LookupDto = "application/json"), (String = "application/xml"))), (status = 403, description = "The system is down, or this method is not open to the institution now"), (status = 422, description = "No card identity, or a bad date")))]
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

/// The institution's view of the system (F2, F8).
#[derive(Serialize, ToSchema)]
pub struct StatusDto {
    /// `normal`, `outage` (the system is down) or `recovered` (an emergency period is open
    /// for this institution).
    #[schema(value_type = String)]
    pub mode: Mode,
    /// The operating body's notices of the open periods.
    pub notices: Vec<NoticeDto>,
}

/// An emergency period's notice.
#[derive(Serialize, ToSchema)]
pub struct NoticeDto {
    /// Start (RFC 3339).
    pub starts_at: String,
    /// End (RFC 3339).
    pub ends_at: String,
    /// Text.
    pub notice: String,
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// The state of the system for the caller's institution.
#[utoipa::path(get, path = "/api/v1/status", security(("bearer" = [])), responses((status = 200, body = StatusDto), (status = 403, description = "The operating body's account (no institution)")))]
pub async fn status(
    State(st): State<EligState>,
    Caller(who): Caller,
) -> AppResult<Json<StatusDto>> {
    let institution = who.institution_code.as_deref().unwrap_or_default();
    let mode = st.search.access.mode_for(institution).await?;
    let notices = st
        .search
        .access
        .open_periods(institution)
        .await?
        .into_iter()
        .map(|p| NoticeDto {
            starts_at: rfc3339(p.starts_at),
            ends_at: rfc3339(p.ends_at),
            notice: p.notice,
        })
        .collect();
    Ok(Json(StatusDto { mode, notices }))
}

/// A patient who came while the system was down.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageVisitBody {
    /// A label the institution recognises (chart or booking number); no personal data
    /// is needed here.
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub label: String,
    /// 氏名 as noted from the patient's card (the first of the four facts), up to 60
    /// characters; optional. The institution's staff see it, with the visit's date, in the
    /// search screen's list of outage-time visits.
    #[serde(default)]
    pub name: Option<String>,
}

/// The recorded visit.
#[derive(Serialize, ToSchema)]
pub struct OutageVisitDto {
    /// Pass as `outage_visit` to the four-facts search after recovery.
    pub id: i64,
}

/// Records an outage-time visit; only while the system is down (F8).
#[utoipa::path(post, path = "/api/v1/outage-visits", request_body = OutageVisitBody, security(("bearer" = [])),
    responses((status = 201, body = OutageVisitDto), (status = 403, description = "The operating body's account (no institution)"), (status = 409, description = "The system is not down"), (status = 422, description = "A bad label or name")))]
pub async fn outage_visit(
    State(st): State<EligState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<OutageVisitBody>,
) -> AppResult<Response> {
    let id = st
        .search
        .access
        .record_outage_visit_named(&who, &b.label, b.name.as_deref())
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(OutageVisitDto { id })).into_response())
}

/// A four-facts search (method 3) for a patient who came during the outage.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FourFactsBody {
    /// The visit recorded during the outage (`/api/v1/outage-visits`).
    pub outage_visit: Option<i64>,
    /// 氏名 (※1: name or kana, at least one).
    #[serde(default)]
    pub name: String,
    /// 氏名（カナ）.
    #[serde(default)]
    pub kana: String,
    /// 生年月日 `YYYY-MM-DD`, or an era date such as `S29.3.26`.
    #[serde(default)]
    #[schema(required)]
    pub birth_date: String,
    /// 性別: 1 男, 2 女, 3 未設定.
    #[serde(default)]
    #[schema(required, schema_with = tsunagu_webkit::apidoc::sex)]
    pub sex: String,
    /// 住所 (※2: address or insurer name, at least one; words all apply).
    #[serde(default)]
    pub address: String,
    /// 保険者名.
    #[serde(default)]
    pub insurer_name: String,
    /// 資格確認日 `YYYY-MM-DD` (default today, Japan): validity is judged at this date.
    #[serde(default)]
    pub confirmation_date: String,
}

/// One candidate of a 2–5 hit list (F4).
#[derive(Serialize, ToSchema)]
pub struct CandidateDto {
    /// Open with `/api/v1/qualifications/by-four-facts/{id}`.
    pub id: i64,
    /// The list row: name, birth date (和暦), sex, first 10 characters of the address,
    /// insurer name.
    #[schema(value_type = Object)]
    pub row: ListRow,
}

/// A four-facts search's answer, as the screen's (F4).
#[derive(Serialize, ToSchema)]
pub struct FourFactsDto {
    /// `none`, `single`, `list` or `too_many`.
    pub outcome: &'static str,
    /// Number of hits.
    pub count: usize,
    /// The screen's message (none, list, too many), in Japanese.
    pub message: Option<&'static str>,
    /// 2–5 hits: the list to pick from.
    pub candidates: Vec<CandidateDto>,
    /// 1 hit: the record, as a lookup's answer at the confirmation date.
    pub result: Option<LookupDto>,
}

fn lookup(on: jiff::civil::Date, records: Vec<Qualification>) -> LookupDto {
    let validity = tsunagu_eligibility_domain::model::Validity::of_results(&records, on);
    LookupDto {
        validity: validity.code().to_string(),
        validity_name: validity.name().to_string(),
        confirmation_date: on.to_string(),
        records,
    }
}

/// Searches by four facts: refused to general accounts, outside an emergency period, and
/// for patients who did not come during the outage; every search is monitored (F7).
#[utoipa::path(post, path = "/api/v1/qualifications/by-four-facts", request_body = FourFactsBody, security(("bearer" = [])),
    responses((status = 200, body = FourFactsDto), (status = 403, description = "Not allowed now, for this account or this patient"), (status = 422, description = "The four facts are incomplete or invalid, or `outage_visit` is not one of the institution's")))]
pub async fn by_four_facts(
    State(st): State<EligState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<FourFactsBody>,
) -> AppResult<Json<FourFactsDto>> {
    let today = date("confirmation_date", None, &st)?;
    let input = FourFactsInput {
        name: b.name,
        kana: b.kana,
        birth_calendar: "西暦".into(),
        birth_year: b.birth_date,
        sex: b.sex,
        address: b.address,
        insurer_name: b.insurer_name,
        confirmation_date: b.confirmation_date,
        ..FourFactsInput::default()
    };
    let q = input.validate(today).map_err(|errs| {
        // The search's own messages (seed 004's wording) are already sentences.
        DomainError::Invalid(
            errs.into_iter()
                .map(|e| {
                    tsunagu_kernel::FieldError::new(e.field, "error.eligibility.search_field")
                        .arg("message", e.message)
                })
                .collect(),
        )
    })?;
    let hits = st.search.search(&who, &q, b.outage_visit).await?;
    let outcome = SearchOutcome::from_hits(hits.len());
    let mut dto = FourFactsDto {
        outcome: match outcome {
            SearchOutcome::None => "none",
            SearchOutcome::Single => "single",
            SearchOutcome::List { .. } => "list",
            SearchOutcome::TooMany { .. } => "too_many",
        },
        count: hits.len(),
        message: outcome.message(),
        candidates: Vec::new(),
        result: None,
    };
    match outcome {
        SearchOutcome::Single => {
            // One hit goes straight to the detail, which is a view of the record.
            let s = st.search.view(&who, hits[0].id, b.outage_visit).await?;
            dto.result = Some(lookup(q.confirmation_date, vec![s.record]));
        }
        SearchOutcome::List { .. } => {
            dto.candidates = hits
                .iter()
                .map(|h| CandidateDto {
                    id: h.id,
                    row: ListRow::from_qualification(&h.record),
                })
                .collect();
        }
        _ => {}
    }
    Ok(Json(dto))
}

/// Opening one candidate of a four-facts list.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FourFactsViewBody {
    /// The visit recorded during the outage.
    pub outage_visit: Option<i64>,
    /// 資格確認日 `YYYY-MM-DD` (default today, Japan).
    pub confirmation_date: Option<String>,
}

/// Opens a record picked from a four-facts list, under the search's rules (monitored).
#[utoipa::path(post, path = "/api/v1/qualifications/by-four-facts/{id}", request_body = FourFactsViewBody, security(("bearer" = [])),
    params(("id" = i64, Path, description = "Candidate id")),
    responses((status = 200, body = LookupDto), (status = 403, description = "Not allowed now, for this account or this patient"), (status = 404, description = "No such candidate"), (status = 422, description = "A bad date")))]
pub async fn four_facts_view(
    State(st): State<EligState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<FourFactsViewBody>,
) -> AppResult<Json<LookupDto>> {
    let on = date("confirmation_date", b.confirmation_date.as_deref(), &st)?;
    let s = st.search.view(&who, id, b.outage_visit).await?;
    Ok(Json(lookup(on, vec![s.record])))
}

/// A 照会番号 to register or update.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InquiryNumberBody {
    /// 照会番号: up to 20 letters, digits and hyphens (full-width ones are read as
    /// half-width; spaces around it are dropped).
    #[serde(default)]
    #[schema(required, min_length = 1, pattern = r"\S")]
    pub inquiry_number: String,
}

/// A record's 照会番号 as registered.
#[derive(Serialize, ToSchema)]
pub struct InquiryNumberDto {
    /// The record (a candidate id of a four-facts search).
    pub id: i64,
    /// 照会番号, as stored (half-width).
    pub inquiry_number: String,
}

/// Registers or updates the institution's 照会番号 of a record its own recent four-facts
/// search listed (the detail screen's 《登録》/《更新》); monitored.
#[utoipa::path(put, path = "/api/v1/qualifications/by-four-facts/{id}/inquiry-number", request_body = InquiryNumberBody, security(("bearer" = [])),
    params(("id" = i64, Path, description = "Candidate id")),
    responses((status = 200, body = InquiryNumberDto), (status = 403, description = "Not allowed now, for this account, or not a record this account's search listed recently"), (status = 404, description = "No such candidate"), (status = 422, description = "Not an inquiry number")))]
pub async fn set_inquiry_number(
    State(st): State<EligState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<InquiryNumberBody>,
) -> AppResult<Json<InquiryNumberDto>> {
    // The pages' rule: only what the caller's own search listed.
    st.search.listed(&who, id).await?;
    st.search
        .access
        .set_inquiry_number(&who, id, &b.inquiry_number)
        .await?;
    let institution = who.institution_code.as_deref().unwrap_or_default();
    let inquiry_number = st
        .search
        .access
        .inquiry_number(institution, id)
        .await?
        .unwrap_or_default();
    Ok(Json(InquiryNumberDto { id, inquiry_number }))
}

/// Downloads the result XML of a record the caller's own recent four-facts search listed
/// (the detail screen's 《ダウンロード》); monitored.
#[utoipa::path(get, path = "/api/v1/qualifications/by-four-facts/{id}/xml", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Candidate id")),
    responses((status = 200, description = "The result XML, as a file", content((String = "application/xml"))), (status = 403, description = "Not allowed now, for this account, or not a record this account's search listed recently"), (status = 404, description = "No such candidate")))]
pub async fn result_xml(
    State(st): State<EligState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let xml = crate::result_xml(&st, &who, id).await?;
    Ok(crate::xml_attachment(id, xml))
}

/// The eligibility API's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "tsunagu eligibility API", description = "Qualification lookups (オンライン資格確認): methods 1 and 2 normally; outage-time visits and the four-facts search (method 3) after recovery. Every error is an `ErrorBody`: `{\"error\": {\"code\", \"reason\", \"message\", \"fields\", \"request_id\"}}`, messages in Japanese by default. Request bodies refuse unknown properties."),
    paths(login, by_card, by_myna, status, outage_visit, by_four_facts, four_facts_view, set_inquiry_number, result_xml),
    components(schemas(tsunagu_webkit::apidoc::ErrorBody, tsunagu_webkit::apidoc::ErrorDetail, tsunagu_webkit::apidoc::FieldErrorBody, tsunagu_webkit::apidoc::ErrorCode)),
    modifiers(&Conventions)
)]
pub struct EligApiDoc;

/// Serves the document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(EligApiDoc::openapi())
}
