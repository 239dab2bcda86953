//! The eligibility service's own web front (オンライン資格確認等システム): login with its own
//! accounts, the menu, the outage-time four-facts search of seed 004 (list, detail with
//! inquiry number, XML download, 次の患者へ / 戻る), and the operating body's screen
//! (outage state, emergency periods with notices, the monitoring log). It runs on its own
//! port with its own database; the platform reaches it only over HTTP.

pub mod api;
mod ops;

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use tsunagu_accounts::{Realm, Session, SessionStore, Stage};
use tsunagu_eligibility::OutageSearch;
use tsunagu_eligibility::access::{Account, MenuItem, Role, emergency_menu};
use tsunagu_eligibility_domain::search::{FourFactsInput, ListRow, SearchOutcome};
use tsunagu_i18n::{Lang, t};
use tsunagu_kernel::{Clock, DomainError};

use tsunagu_webkit::error::{AppError, AppResult};
use tsunagu_webkit::session::{SetSession, run_session};

/// Everything the eligibility front needs.
#[derive(Clone)]
pub struct EligState {
    /// Records, accounts, periods, monitoring.
    pub search: OutageSearch,
    /// Sessions in the eligibility database.
    pub sessions: SessionStore,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// `Secure` cookies.
    pub secure: bool,
}

const COOKIE: &str = "tsunagu_elig";

/// The eligibility service's router.
pub fn eligibility_app(state: EligState) -> Router {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/menu") }))
        .route("/login", get(login_form).post(login_post))
        .route("/logout", post(logout))
        .route("/menu", get(menu))
        .route("/outage-visits", post(outage_visit))
        .route("/emergency", get(search_form).post(search_post))
        .route("/emergency/next", get(next_patient))
        .route("/emergency/records/{id}", get(detail))
        .route("/emergency/records/{id}/download", get(download))
        .route("/emergency/records/{id}/inquiry", post(inquiry))
        .route("/ops", get(ops))
        .route("/ops/outage", post(ops_outage))
        .route("/ops/periods", post(ops_period))
        .route("/ops/periods/{id}/end", post(ops_period_end))
        .merge(crate::ops::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            elig_session,
        ));
    let router = Router::new()
        .merge(pages)
        .route("/healthz", get(health))
        .route("/api/v1/login", post(crate::api::login))
        .route("/api/v1/qualifications/by-card", post(crate::api::by_card))
        .route(
            "/api/v1/qualifications/by-my-number-card",
            post(crate::api::by_myna),
        )
        .route("/api/v1/status", get(crate::api::status))
        .route("/api/v1/outage-visits", post(crate::api::outage_visit))
        .route(
            "/api/v1/qualifications/by-four-facts",
            post(crate::api::by_four_facts),
        )
        .route(
            "/api/v1/qualifications/by-four-facts/{id}",
            post(crate::api::four_facts_view),
        )
        .route("/api/openapi.json", get(crate::api::openapi))
        .route("/static/app.css", get(tsunagu_webkit::security::css))
        .route("/static/app.js", get(tsunagu_webkit::security::js))
        .fallback(tsunagu_webkit::error::not_found)
        .layer(axum::middleware::from_fn(
            tsunagu_webkit::input::refuse_control_chars,
        ))
        .layer(axum::middleware::from_fn(
            tsunagu_webkit::error::render_errors,
        ))
        .layer(axum::middleware::from_fn(tsunagu_webkit::security::headers));
    tsunagu_webkit::security::with_request_layers(router).with_state(state)
}

async fn health(State(st): State<EligState>) -> Response {
    if st.search.store.db().ping().await {
        "ok".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        )
            .into_response()
    }
}

async fn elig_session(State(st): State<EligState>, req: Request, next: Next) -> Response {
    match run_session(&st.sessions, st.secure, Realm::Staff, COOKIE, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn session_of(parts: &Parts) -> Result<Session, AppError> {
    parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError(DomainError::internal(anyhow::anyhow!("no session layer"))))
}

/// The signed-in eligibility account.
pub struct Me {
    pub(crate) account: Account,
    pub(crate) session: Session,
}

impl FromRequestParts<EligState> for Me {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &EligState,
    ) -> Result<Self, Self::Rejection> {
        let s = session_of(parts).map_err(IntoResponse::into_response)?;
        let Some(id) = s.principal() else {
            return Err(Redirect::to("/login").into_response());
        };
        match st.search.access.account(id).await {
            Ok(account) => Ok(Self {
                account,
                session: s,
            }),
            Err(_) => Err(Redirect::to("/login").into_response()),
        }
    }
}

pub(crate) fn page<T: Template>(t: &T) -> AppResult<Response> {
    Ok(Html(t.render()?).into_response())
}

pub(crate) fn who(a: &Account) -> String {
    a.display_name.clone()
}

pub(crate) fn message(e: DomainError) -> Result<String, AppError> {
    match e {
        DomainError::Forbidden(k) | DomainError::Conflict(k) | DomainError::Unauthorized(k) => {
            Ok(t(Lang::Ja, k).into_owned())
        }
        DomainError::TooManyRequests {
            key,
            retry_after_secs,
        } => Ok(tsunagu_i18n::t_args(
            Lang::Ja,
            key,
            &[("seconds", retry_after_secs.to_string())],
        )),
        DomainError::Invalid(fs) => Ok(fs
            .iter()
            .map(|f| {
                let args: Vec<(&str, String)> =
                    f.args.iter().map(|(k, v)| (*k, v.clone())).collect();
                tsunagu_i18n::t_args(Lang::Ja, f.key, &args)
            })
            .collect::<Vec<_>>()
            .join(" ")),
        other => Err(AppError(other)),
    }
}

#[derive(Template)]
#[template(path = "elig/login.html")]
struct LoginPage {
    who: String,
    csrf: String,
    errors: Vec<String>,
    institution: String,
    login_id: String,
}

async fn login_form(
    tsunagu_webkit::session::Sess(s): tsunagu_webkit::session::Sess,
) -> AppResult<Response> {
    page(&LoginPage {
        who: String::new(),
        csrf: s.csrf,
        errors: vec![],
        institution: String::new(),
        login_id: String::new(),
    })
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    institution: String,
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
}

/// Wrong passwords one address may try in 15 minutes, over all accounts: 18 tries sprayed
/// over 6 accounts from one address were once all evaluated.
const FAILS_PER_ADDRESS: tsunagu_accounts::ratelimit::Limit = tsunagu_accounts::ratelimit::Limit {
    max: 10,
    window_ms: 15 * 60 * 1000,
    key: "error.rate.logins_ip",
};

/// Checks an institution account's login: the one rule of the service's pages and API.
/// Wrong passwords are limited per address; each attempt is counted on the account before
/// the password is hashed (see `tsunagu_accounts::attempts`), so parallel guesses are all
/// counted and slowed down, then locked out.
pub(crate) async fn check_login(
    st: &EligState,
    institution: Option<&str>,
    login_id: &str,
    password: &str,
    ip: &str,
) -> Result<Account, DomainError> {
    use tsunagu_accounts::attempts::{self, Counter};
    let db = st.search.store.db();
    let limiter = tsunagu_accounts::ratelimit::RateLimiter::new(db.clone(), st.clock.clone());
    let bucket = format!("elig-login-fail:{ip}");
    limiter.check(&bucket, FAILS_PER_ADDRESS).await?;
    let policy = tsunagu_accounts::LoginPolicy::default();
    let Some(a) = st
        .search
        .access
        .find_account(institution, login_id.trim())
        .await?
    else {
        // Same work as a real check, so timing does not tell unknown logins.
        let _ = tsunagu_accounts::password::verify(
            password.to_string(),
            tsunagu_accounts::password::dummy_hash().into(),
        )
        .await;
        let _ = limiter.hit(&bucket, FAILS_PER_ADDRESS).await;
        return Err(DomainError::Unauthorized("error.login.failed_id"));
    };
    let claim = attempts::claim(
        db,
        &policy,
        Counter::EligibilityAccount,
        a.id,
        st.clock.now_ms(),
    )
    .await?;
    if tsunagu_accounts::password::verify(password.to_string(), a.password_hash.clone()).await? {
        claim.succeeded(db).await?;
        Ok(a)
    } else {
        let _ = limiter.hit(&bucket, FAILS_PER_ADDRESS).await;
        Err(claim.failed(&policy))
    }
}

async fn login_post(
    State(st): State<EligState>,
    tsunagu_webkit::session::ClientIp(ip): tsunagu_webkit::session::ClientIp,
    tsunagu_webkit::session::Sess(s): tsunagu_webkit::session::Sess,
    origin: tsunagu_webkit::session::OriginExt,
    Form(f): Form<LoginForm>,
) -> AppResult<Response> {
    let institution = Some(f.institution.trim()).filter(|i| !i.is_empty());
    let res = check_login(&st, institution, &f.login_id, &f.password, &ip).await;
    match res {
        Ok(a) => {
            st.sessions.delete_digest(&s.digest).await?;
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
            Ok(SetSession::Token(Realm::Staff, token).on(Redirect::to("/menu")))
        }
        Err(e) => {
            let errors = vec![message(e)?];
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                Html(
                    LoginPage {
                        who: String::new(),
                        csrf: s.csrf,
                        errors,
                        institution: f.institution,
                        login_id: f.login_id,
                    }
                    .render()?,
                ),
            )
                .into_response())
        }
    }
}

async fn logout(
    State(st): State<EligState>,
    tsunagu_webkit::session::Sess(s): tsunagu_webkit::session::Sess,
) -> AppResult<Response> {
    st.sessions.delete_digest(&s.digest).await?;
    Ok(SetSession::Clear(Realm::Staff).on(Redirect::to("/login")))
}

#[derive(Template)]
#[template(path = "elig/menu.html")]
struct MenuPage {
    who: String,
    csrf: String,
    notices: Vec<String>,
    errors: Vec<String>,
    show_emergency: bool,
    is_operator: bool,
    /// The system is down: institutions record patients who come meanwhile.
    outage: bool,
    recorded: Option<String>,
}

async fn menu_page(st: &EligState, me: &Me, errors: Vec<String>) -> AppResult<Response> {
    menu_page_with(st, me, errors, None).await
}

async fn menu_page_with(
    st: &EligState,
    me: &Me,
    errors: Vec<String>,
    recorded: Option<String>,
) -> AppResult<Response> {
    let (notices, open) = match me.account.institution_code.as_deref() {
        Some(i) => {
            let periods = st.search.access.open_periods(i).await?;
            let open = !periods.is_empty();
            (periods.into_iter().map(|p| p.notice).collect(), open)
        }
        None => (Vec::new(), false),
    };
    page(&MenuPage {
        who: who(&me.account),
        csrf: me.session.csrf.clone(),
        notices,
        errors,
        show_emergency: emergency_menu(me.account.role, open) != MenuItem::Hidden,
        is_operator: me.account.role == Role::Operator,
        outage: me.account.institution_code.is_some() && st.search.access.outage().await?,
        recorded,
    })
}

async fn menu(State(st): State<EligState>, me: Me) -> AppResult<Response> {
    menu_page(&st, &me, Vec::new()).await
}

/// The search form as typed (kept in the session: 戻る keeps it, 次の患者へ clears it).
#[derive(Deserialize, Serialize, Default, Clone)]
pub struct SearchForm {
    #[serde(default)]
    visit: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kana: String,
    #[serde(default)]
    birth_calendar: String,
    #[serde(default)]
    birth_year: String,
    #[serde(default)]
    birth_month: String,
    #[serde(default)]
    birth_day: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    insurer_name: String,
    #[serde(default)]
    confirmation_date: String,
}

#[derive(Template)]
#[template(path = "elig/search.html")]
struct SearchPage {
    who: String,
    csrf: String,
    errors: Vec<String>,
    form: SearchForm,
    /// (id, label, selected)
    visits: Vec<(i64, String, bool)>,
    /// (era, selected)
    calendars: Vec<(&'static str, bool)>,
    outcome: Option<String>,
    rows: Vec<(i64, ListRow)>,
}

const CALENDARS: [&str; 6] = ["昭和", "平成", "令和", "大正", "明治", "西暦"];

fn today_jst(st: &EligState) -> jiff::civil::Date {
    jiff::tz::TimeZone::get("Asia/Tokyo").map_or_else(
        |_| st.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date(),
        |tz| st.clock.now().to_zoned(tz).date(),
    )
}

async fn search_page(
    st: &EligState,
    me: &Me,
    form: SearchForm,
    errors: Vec<String>,
    outcome: Option<String>,
    rows: Vec<(i64, ListRow)>,
) -> AppResult<Response> {
    let visits = match me.account.institution_code.as_deref() {
        Some(i) => st
            .search
            .access
            .outage_visits(i)
            .await?
            .into_iter()
            .map(|(id, label, at)| {
                let selected = form.visit.trim() == id.to_string().as_str();
                (
                    id,
                    format!(
                        "{} ({})",
                        label,
                        tsunagu_webkit::lang::format_ms(at, "Asia/Tokyo")
                    ),
                    selected,
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Html(
            SearchPage {
                who: who(&me.account),
                csrf: me.session.csrf.clone(),
                errors,
                calendars: CALENDARS
                    .iter()
                    .map(|c| (*c, form.birth_calendar == *c))
                    .collect(),
                form,
                visits,
                outcome,
                rows,
            }
            .render()?,
        ),
    )
        .into_response())
}

async fn guard(st: &EligState, me: &Me) -> Result<(), Response> {
    // The menu item's rules (F2) before anything is shown: a general account gets the
    // seed's message on the menu page.
    let open = match me.account.institution_code.as_deref() {
        Some(i) => !st
            .search
            .access
            .open_periods(i)
            .await
            .map_err(|e| AppError(e).into_response())?
            .is_empty(),
        None => false,
    };
    match emergency_menu(me.account.role, open) {
        MenuItem::Usable => Ok(()),
        MenuItem::ShownRefused => Err(menu_page(
            st,
            me,
            vec![t(Lang::Ja, "error.eligibility.general_account").into_owned()],
        )
        .await
        .unwrap_or_else(IntoResponse::into_response)),
        MenuItem::Hidden => Err(AppError(DomainError::NotFound).into_response()),
    }
}

async fn search_form(State(st): State<EligState>, me: Me) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let form = me
        .session
        .data
        .get("elig_form")
        .and_then(|v| serde_json::from_value::<SearchForm>(v.clone()).ok())
        .unwrap_or_else(|| SearchForm {
            birth_calendar: "昭和".into(),
            confirmation_date: today_jst(&st).strftime("%Y/%m/%d").to_string(),
            ..SearchForm::default()
        });
    search_page(&st, &me, form, Vec::new(), None, Vec::new())
        .await
        .map_err(IntoResponse::into_response)
}

async fn next_patient(State(st): State<EligState>, me: Me) -> AppResult<Response> {
    let mut s = me.session.clone();
    s.data.remove("elig_form");
    st.sessions.save_data(&s).await?;
    Ok(Redirect::to("/emergency").into_response())
}

async fn search_post(
    State(st): State<EligState>,
    me: Me,
    Form(form): Form<SearchForm>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let fail = |e: AppError| e.into_response();
    let mut s = me.session.clone();
    s.data.insert(
        "elig_form".into(),
        serde_json::to_value(&form).unwrap_or_default(),
    );
    st.sessions
        .save_data(&s)
        .await
        .map_err(|e| fail(AppError(e)))?;
    let input = FourFactsInput {
        name: form.name.clone(),
        kana: form.kana.clone(),
        birth_calendar: form.birth_calendar.clone(),
        birth_year: form.birth_year.clone(),
        birth_month: form.birth_month.clone(),
        birth_day: form.birth_day.clone(),
        sex: form.sex.clone(),
        address: form.address.clone(),
        insurer_name: form.insurer_name.clone(),
        confirmation_date: form.confirmation_date.clone(),
    };
    let q = match input.validate(today_jst(&st)) {
        Ok(q) => q,
        Err(errs) => {
            let msgs = errs.into_iter().map(|e| e.message).collect();
            return search_page(&st, &me, form, msgs, None, Vec::new())
                .await
                .map_err(IntoResponse::into_response);
        }
    };
    let visit = form.visit.trim().parse::<i64>().ok();
    let hits = match st.search.search(&me.account, &q, visit).await {
        Ok(h) => h,
        Err(e) => {
            let msg = message(e).map_err(fail)?;
            return search_page(&st, &me, form, vec![msg], None, Vec::new())
                .await
                .map_err(IntoResponse::into_response);
        }
    };
    let outcome = SearchOutcome::from_hits(hits.len());
    match outcome {
        SearchOutcome::Single => {
            Ok(Redirect::to(&format!("/emergency/records/{}", hits[0].id)).into_response())
        }
        SearchOutcome::List { .. } => {
            let rows = hits
                .iter()
                .map(|h| (h.id, ListRow::from_qualification(&h.record)))
                .collect();
            search_page(
                &st,
                &me,
                form,
                Vec::new(),
                outcome.message().map(str::to_string),
                rows,
            )
            .await
            .map_err(IntoResponse::into_response)
        }
        _ => search_page(
            &st,
            &me,
            form,
            Vec::new(),
            outcome.message().map(str::to_string),
            Vec::new(),
        )
        .await
        .map_err(IntoResponse::into_response),
    }
}

#[derive(Template)]
#[template(path = "elig/detail.html")]
struct DetailPage {
    who: String,
    csrf: String,
    errors: Vec<String>,
    notice: Option<String>,
    id: i64,
    valid: bool,
    preschool: bool,
    inquiry_number: String,
    fields: Vec<(&'static str, String, bool)>,
}

async fn detail_page(
    st: &EligState,
    me: &Me,
    id: i64,
    errors: Vec<String>,
    notice: Option<String>,
) -> Result<Response, Response> {
    let visit = me
        .session
        .data
        .get("elig_form")
        .and_then(|v| v.get("visit"))
        .and_then(|v| v.as_str())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let s = st
        .search
        .view(&me.account, id, visit)
        .await
        .map_err(|e| AppError(e).into_response())?;
    let q = &s.record;
    let date = me
        .session
        .data
        .get("elig_form")
        .and_then(|v| v.get("confirmation_date"))
        .and_then(|v| v.as_str())
        .and_then(|d| {
            jiff::civil::Date::strptime("%Y/%m/%d", d)
                .or_else(|_| d.parse())
                .ok()
        })
        .unwrap_or_else(|| today_jst(st));
    let institution = me.account.institution_code.clone().unwrap_or_default();
    let inquiry_number = st
        .search
        .access
        .inquiry_number(&institution, id)
        .await
        .map_err(|e| AppError(e).into_response())?
        .unwrap_or_default();
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut fields: Vec<(&'static str, String, bool)> = vec![
        ("保険者番号", q.insurer_number.as_str().to_string(), false),
        ("保険者名", q.insurer_name.clone(), false),
        ("記号", opt(&q.symbol), false),
        ("番号", q.number.clone(), false),
        ("枝番", opt(&q.branch), false),
        ("氏名", q.name.clone(), false),
        ("氏名（カナ）", q.name_kana.clone(), false),
        ("性別", q.sex1.name().to_string(), false),
        (
            "生年月日",
            tsunagu_calendar::wareki::display(q.birth_date),
            false,
        ),
        (
            "証区分",
            q.card_kind.name().to_string(),
            q.card_kind.shown_in_red(),
        ),
        (
            "一部負担金割合",
            q.copayment_ratio
                .as_ref()
                .map(|c| c.label())
                .unwrap_or_default(),
            false,
        ),
        (
            "有効開始日",
            tsunagu_calendar::wareki::display(q.valid_from),
            false,
        ),
        (
            "有効終了日",
            q.valid_to
                .map(tsunagu_calendar::wareki::display)
                .unwrap_or_default(),
            false,
        ),
        (
            "資格喪失事由",
            q.reason_of_loss
                .map(|r| r.name().to_string())
                .unwrap_or_default(),
            false,
        ),
        (
            "本人・家族の別",
            q.personal_family.name().to_string(),
            false,
        ),
        ("被保険者氏名", opt(&q.insured_name), false),
        ("氏名（その他）", opt(&q.name_of_other), false),
    ];
    if let Some(s2) = q.sex2 {
        fields.push(("性別（裏面）", s2.name().to_string(), false));
    }
    if q.address.is_some() || q.post_number.is_some() {
        fields.push((
            "郵便番号",
            q.post_number_display().unwrap_or_default(),
            false,
        ));
        fields.push(("住所", opt(&q.address), false));
    }
    let valid = q.validity_at(date) == tsunagu_eligibility_domain::model::Validity::Valid;
    page(&DetailPage {
        who: who(&me.account),
        csrf: me.session.csrf.clone(),
        errors,
        notice,
        id,
        valid,
        preschool: q.is_preschool_at(date),
        inquiry_number,
        fields,
    })
    .map_err(IntoResponse::into_response)
}

async fn detail(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    detail_page(&st, &me, id, Vec::new(), None).await
}

#[derive(Deserialize, Default)]
pub struct InquiryForm {
    #[serde(default)]
    inquiry_number: String,
}

async fn inquiry(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
    Form(f): Form<InquiryForm>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    st.search
        .listed(&me.account, id)
        .await
        .map_err(|e| AppError(e).into_response())?;
    match st
        .search
        .access
        .set_inquiry_number(&me.account, id, &f.inquiry_number)
        .await
    {
        Ok(()) => {
            detail_page(
                &st,
                &me,
                id,
                Vec::new(),
                Some("照会番号を登録しました。".into()),
            )
            .await
        }
        Err(e) => {
            let msg = message(e).map_err(IntoResponse::into_response)?;
            detail_page(&st, &me, id, vec![msg], None).await
        }
    }
}

async fn download(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let s = st
        .search
        .listed(&me.account, id)
        .await
        .map_err(|e| AppError(e).into_response())?;
    st.search
        .access
        .monitor(&me.account, "download", "", None, Some(id))
        .await
        .map_err(|e| AppError(e).into_response())?;
    let now = st
        .clock
        .now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC));
    let msg = tsunagu_eligibility_domain::xml::ResultMessage::for_results(
        now.datetime(),
        now.date(),
        me.account.institution_code.as_deref().unwrap_or(""),
        tsunagu_eligibility_domain::model::ReferenceClassification::InsuranceCard,
        vec![s.record],
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"qualification-{id}.xml\""),
            ),
        ],
        msg.to_xml(),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "elig/ops.html")]
struct OpsPage {
    who: String,
    csrf: String,
    errors: Vec<String>,
    outage: bool,
    /// (id, start, end, institutions, notice, started).
    periods: Vec<(i64, String, String, String, String, bool)>,
    monitoring: Vec<(String, String, String, String, String, String)>,
    filter_institution: String,
    filter_date: String,
}

/// The monitoring log's action in the operating body's words.
fn monitoring_action(a: &str) -> &str {
    match a {
        "search" => "検索",
        "view" => "資格情報の参照",
        "download" => "ダウンロード",
        "inquiry_number" => "照会番号の登録・更新",
        other => other,
    }
}

/// A search's conditions as the screen had them: 氏名 / カナ / 生年月日 / 性別 / 住所 /
/// 保険者名 / 資格確認日.
fn conditions_label(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let words = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let sex = match text("sex").as_str() {
        "1" => "男",
        "2" => "女",
        "3" => "未設定",
        _ => "",
    };
    [
        ("氏名", text("name")),
        ("カナ", text("kana")),
        ("生年月日", text("birth_date")),
        ("性別", sex.to_string()),
        ("住所", words("address_words")),
        ("保険者名", words("insurer_name_words")),
        ("資格確認日", text("confirmation_date")),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}: {v}"))
    .collect::<Vec<_>>()
    .join(" ／ ")
}

async fn ops_page(st: &EligState, me: &Me, errors: Vec<String>) -> AppResult<Response> {
    ops_page_filtered(st, me, errors, LogFilter::default()).await
}

async fn ops_page_filtered(
    st: &EligState,
    me: &Me,
    mut errors: Vec<String>,
    f: LogFilter,
) -> AppResult<Response> {
    let mut filter = tsunagu_eligibility::access::MonitoringFilter::default();
    let code: String = f.institution.trim().chars().filter(|c| *c != '-').collect();
    if !code.is_empty() {
        filter.institution = Some(code);
    }
    if !f.date.trim().is_empty() {
        match f.date.trim().parse::<jiff::civil::Date>() {
            Ok(d) => {
                filter.from_ms = local_ms(&format!("{d}T00:00"));
                filter.to_ms = d
                    .tomorrow()
                    .ok()
                    .and_then(|t| local_ms(&format!("{t}T00:00")));
            }
            Err(_) => errors.push("日付は YYYY-MM-DD の形で入力してください。".into()),
        }
    }
    let monitoring = st
        .search
        .access
        .monitoring(&me.account, &filter, 200)
        .await?
        .into_iter()
        .map(|m| {
            (
                tsunagu_webkit::lang::format_ms(m.at, "Asia/Tokyo"),
                m.institution_code.unwrap_or_default(),
                m.account_login,
                monitoring_action(&m.action).to_string(),
                m.hits.map(|h| format!("{h} 件")).unwrap_or_default(),
                if m.conditions.is_empty() {
                    m.qualification_id
                        .map(|q| format!("資格 #{q}"))
                        .unwrap_or_default()
                } else {
                    conditions_label(&m.conditions)
                },
            )
        })
        .collect();
    let now = st.clock.now_ms();
    let periods = st
        .search
        .access
        .current_periods(&me.account)
        .await?
        .into_iter()
        .map(|(p, codes)| {
            (
                p.id,
                tsunagu_webkit::lang::format_ms(p.starts_at, "Asia/Tokyo"),
                tsunagu_webkit::lang::format_ms(p.ends_at, "Asia/Tokyo"),
                codes.join(", "),
                p.notice,
                p.starts_at <= now,
            )
        })
        .collect();
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Html(
            OpsPage {
                who: who(&me.account),
                csrf: me.session.csrf.clone(),
                errors,
                outage: st.search.access.outage().await?,
                periods,
                monitoring,
                filter_institution: f.institution,
                filter_date: f.date,
            }
            .render()?,
        ),
    )
        .into_response())
}

/// The monitoring log's filter as typed: an institution code and a day (JST).
#[derive(Deserialize, Default)]
pub struct LogFilter {
    #[serde(default)]
    institution: String,
    #[serde(default)]
    date: String,
}

async fn ops(
    State(st): State<EligState>,
    me: Me,
    axum::extract::Query(f): axum::extract::Query<LogFilter>,
) -> AppResult<Response> {
    ops_page_filtered(&st, &me, Vec::new(), f).await
}

#[derive(Deserialize, Default)]
pub struct OutageForm {
    #[serde(default)]
    down: String,
}

async fn ops_outage(
    State(st): State<EligState>,
    me: Me,
    Form(f): Form<OutageForm>,
) -> AppResult<Response> {
    st.search
        .access
        .set_outage(&me.account, f.down == "1")
        .await?;
    Ok(Redirect::to("/ops").into_response())
}

/// Ends (or withdraws) an emergency period now.
async fn ops_period_end(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    st.search.access.end_period(&me.account, id).await?;
    Ok(Redirect::to("/ops").into_response())
}

#[derive(Deserialize, Default)]
pub struct PeriodForm {
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    institutions: String,
    #[serde(default)]
    notice: String,
}

fn local_ms(s: &str) -> Option<i64> {
    let dt: jiff::civil::DateTime = s.trim().parse().ok()?;
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").ok()?;
    dt.to_zoned(tz).ok().map(|z| z.timestamp().as_millisecond())
}

async fn ops_period(
    State(st): State<EligState>,
    me: Me,
    Form(f): Form<PeriodForm>,
) -> AppResult<Response> {
    let (Some(starts), Some(ends)) = (local_ms(&f.starts), local_ms(&f.ends)) else {
        return ops_page(
            &st,
            &me,
            vec![t(Lang::Ja, "error.date.invalid").into_owned()],
        )
        .await;
    };
    let institutions: Vec<String> = f
        .institutions
        .split_whitespace()
        .map(str::to_string)
        .collect();
    match st
        .search
        .access
        .open_period(&me.account, starts, ends, &f.notice, &institutions)
        .await
    {
        Ok(_) => Ok(Redirect::to("/ops").into_response()),
        Err(e) => {
            let msg = message(e)?;
            ops_page(&st, &me, vec![msg]).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct VisitForm {
    #[serde(default)]
    label: String,
}

/// Records a patient who came while the system was down (method 3 later needs it).
async fn outage_visit(
    State(st): State<EligState>,
    me: Me,
    Form(f): Form<VisitForm>,
) -> AppResult<Response> {
    match st
        .search
        .access
        .record_outage_visit(&me.account, &f.label)
        .await
    {
        Ok(id) => {
            menu_page_with(
                &st,
                &me,
                Vec::new(),
                Some(format!(
                    "障害時来院を記録しました（記録番号 {id}：{}）。",
                    f.label.trim()
                )),
            )
            .await
        }
        Err(e) => {
            let msg = message(e)?;
            menu_page_with(&st, &me, vec![msg], None).await
        }
    }
}
