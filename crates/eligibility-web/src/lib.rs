//! The eligibility service's own web front (オンライン資格確認等システム): login with its own
//! accounts, the menu, the outage-time four-facts search of seed 004 (list, detail with
//! inquiry number, XML download, 次の患者へ / 戻る), and the operating body's screen
//! (outage state, emergency periods with notices, the monitoring log). It runs on its own
//! port with its own database; the platform reaches it only over HTTP.
//!
//! Every form POST that succeeds answers 303 to a GET page that shows the result (with a
//! `done=` flag for the completion message), so reloading never posts again; a refused
//! POST shows the form again with what was typed and its messages (422).

pub mod api;
mod ops;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use tsunagu_accounts::{Realm, Session, SessionStore, Stage};
use tsunagu_eligibility::OutageSearch;
use tsunagu_eligibility::access::{Account, MenuItem, Role, emergency_menu};
use tsunagu_eligibility_domain::search::{FourFactsInput, ListRow, SearchOutcome};
use tsunagu_i18n::{Lang, t};
use tsunagu_kernel::{Clock, DomainError};

use tsunagu_webkit::error::{AppError, AppResult};
use tsunagu_webkit::form::FormErrors;
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
        .route("/emergency/clear", post(clear_search))
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
        .route(
            "/api/v1/qualifications/by-four-facts/{id}/inquiry-number",
            put(crate::api::set_inquiry_number),
        )
        .route(
            "/api/v1/qualifications/by-four-facts/{id}/xml",
            get(crate::api::result_xml),
        )
        .route("/api/openapi.json", get(crate::api::openapi))
        .route("/static/app.css", get(tsunagu_webkit::security::css))
        .route("/static/app.js", get(tsunagu_webkit::security::js))
        .route("/static/elig.css", get(elig_css))
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

/// The service's own styles (the detail's grid of label–value pairs, the completion
/// dialog), beside the shared stylesheet.
async fn elig_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/elig.css"),
    )
        .into_response()
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
    /// The account's institution's name (none for the operating body).
    pub(crate) institution_name: Option<String>,
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
        let Ok(account) = st.search.access.account(id).await else {
            return Err(Redirect::to("/login").into_response());
        };
        let institution_name = match account.institution_code.as_deref() {
            Some(code) => st
                .search
                .access
                .institution_name(code)
                .await
                .map_err(|e| AppError(e).into_response())?,
            None => None,
        };
        Ok(Self {
            account,
            session: s,
            institution_name,
        })
    }
}

pub(crate) fn page<T: Template>(t: &T) -> AppResult<Response> {
    Ok(Html(t.render()?).into_response())
}

/// Who is signed in, as the header shows it: seed 004's screens put the institution's name
/// beside the user's (「サンプル医療機関名 管理者1 ログアウト」).
#[derive(Debug, Clone, Default)]
pub(crate) struct Header {
    /// The institution's name (empty for the operating body).
    pub(crate) institution: String,
    /// The account's display name.
    pub(crate) name: String,
}

impl Header {
    /// Nobody signed in (the login page).
    pub(crate) fn is_empty(&self) -> bool {
        self.name.is_empty()
    }
}

pub(crate) fn who(me: &Me) -> Header {
    Header {
        institution: me.institution_name.clone().unwrap_or_default(),
        name: me.account.display_name.clone(),
    }
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
    who: Header,
    csrf: String,
    errors: Vec<String>,
    institution: String,
    login_id: String,
}

async fn login_form(
    tsunagu_webkit::session::Sess(s): tsunagu_webkit::session::Sess,
) -> AppResult<Response> {
    page(&LoginPage {
        who: Header::default(),
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
                        who: Header::default(),
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
    who: Header,
    csrf: String,
    notices: Vec<String>,
    errors: Vec<String>,
    show_emergency: bool,
    is_operator: bool,
    /// The system is down: institutions record patients who come meanwhile.
    outage: bool,
    recorded: Option<String>,
    /// The outage-time visit form as typed (after a refusal).
    visit: VisitForm,
}

async fn menu_page(st: &EligState, me: &Me, errors: Vec<String>) -> AppResult<Response> {
    menu_page_with(st, me, errors, None, VisitForm::default()).await
}

async fn menu_page_with(
    st: &EligState,
    me: &Me,
    errors: Vec<String>,
    recorded: Option<String>,
    visit: VisitForm,
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
        who: who(me),
        csrf: me.session.csrf.clone(),
        notices,
        errors,
        show_emergency: emergency_menu(me.account.role, open) != MenuItem::Hidden,
        is_operator: me.account.role == Role::Operator,
        outage: me.account.institution_code.is_some() && st.search.access.outage().await?,
        recorded,
        visit,
    })
}

/// What the menu was redirected with after a successful POST.
#[derive(Deserialize, Default)]
pub struct MenuQuery {
    /// The outage-time visit just recorded.
    recorded: Option<String>,
}

async fn menu(
    State(st): State<EligState>,
    me: Me,
    axum::extract::Query(q): axum::extract::Query<MenuQuery>,
) -> AppResult<Response> {
    // Only the institution's own visit is named; any other id shows nothing.
    let recorded = match (
        me.account.institution_code.as_deref(),
        q.recorded
            .as_deref()
            .and_then(|r| r.trim().parse::<i64>().ok()),
    ) {
        (Some(institution), Some(id)) => {
            st.search
                .access
                .outage_visit(institution, id)
                .await?
                .map(|v| {
                    tsunagu_i18n::t_args(
                        Lang::Ja,
                        "elig.done_visit",
                        &[("id", v.id.to_string()), ("label", visit_label(&v))],
                    )
                })
        }
        _ => None,
    };
    menu_page_with(&st, &me, Vec::new(), recorded, VisitForm::default()).await
}

/// An outage-time visit as the institution's staff recognise it: the day it was recorded
/// and the name noted from the card; the institution's own reference (a chart number, or
/// the platform's booking reference) only when no name was given.
fn visit_label(v: &tsunagu_eligibility::access::OutageVisit) -> String {
    let day = jiff::Timestamp::from_millisecond(v.visited_at)
        .ok()
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC))
                .strftime("%Y/%m/%d")
                .to_string()
        })
        .unwrap_or_default();
    match v.name.as_deref() {
        Some(name) => format!("{day} {name}"),
        None => format!("{day} {}", v.label),
    }
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
    who: Header,
    csrf: String,
    errors: Vec<String>,
    form: SearchForm,
    /// 資格確認日 as the date input takes it (`YYYY-MM-DD`), or as typed if it is not one.
    confirmation_date: String,
    /// (id, label, selected)
    visits: Vec<(i64, String, bool)>,
    /// (era, selected)
    calendars: Vec<(&'static str, bool)>,
    outcome: Option<String>,
    /// 検索結果： N 件, shown with a list.
    count: usize,
    rows: Vec<(i64, ListRow)>,
}

const CALENDARS: [&str; 6] = ["昭和", "平成", "令和", "大正", "明治", "西暦"];

/// Session key of the search form as typed (戻る keeps it, 次の患者へ and クリア clear it).
const FORM_KEY: &str = "elig_form";
/// Session key of the last search's outcome, shown by `GET /emergency` after the POST's
/// redirect: the number of hits and the ids listed (never the records themselves).
const RESULT_KEY: &str = "elig_result";

/// What the last search found, as kept in the session between the POST and its GET.
#[derive(Deserialize, Serialize, Default)]
struct LastResult {
    count: usize,
    ids: Vec<i64>,
}

fn today_jst(st: &EligState) -> jiff::civil::Date {
    jiff::tz::TimeZone::get("Asia/Tokyo").map_or_else(
        |_| st.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date(),
        |tz| st.clock.now().to_zoned(tz).date(),
    )
}

/// A typed 資格確認日 (`2021/01/19`, `20210119` or `2021-01-19`) as a date.
fn confirmation_date_of(typed: &str) -> Option<jiff::civil::Date> {
    let t = typed.trim();
    jiff::civil::Date::strptime("%Y/%m/%d", t)
        .or_else(|_| jiff::civil::Date::strptime("%Y%m%d", t))
        .or_else(|_| t.parse())
        .ok()
}

async fn search_page(
    st: &EligState,
    me: &Me,
    form: SearchForm,
    errors: Vec<String>,
    outcome: Option<String>,
    count: usize,
    rows: Vec<(i64, ListRow)>,
) -> AppResult<Response> {
    let visits = match me.account.institution_code.as_deref() {
        Some(i) => st
            .search
            .access
            .outage_visits(i)
            .await?
            .into_iter()
            .map(|v| {
                let selected = form.visit.trim() == v.id.to_string().as_str();
                (v.id, visit_label(&v), selected)
            })
            .collect(),
        None => Vec::new(),
    };
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let confirmation_date = confirmation_date_of(&form.confirmation_date)
        .map_or_else(|| form.confirmation_date.clone(), |d| d.to_string());
    Ok((
        status,
        Html(
            SearchPage {
                who: who(me),
                csrf: me.session.csrf.clone(),
                errors,
                calendars: CALENDARS
                    .iter()
                    .map(|c| (*c, form.birth_calendar == *c))
                    .collect(),
                form,
                confirmation_date,
                visits,
                outcome,
                count,
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

/// The search screen: the form as last typed, and the last search's outcome (the list is
/// read again under the search's rules, so a list older than its listing shows nothing).
async fn search_form(State(st): State<EligState>, me: Me) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let fail = |e: DomainError| AppError(e).into_response();
    let form = me
        .session
        .data
        .get(FORM_KEY)
        .and_then(|v| serde_json::from_value::<SearchForm>(v.clone()).ok())
        .unwrap_or_else(|| SearchForm {
            birth_calendar: "昭和".into(),
            confirmation_date: today_jst(&st).strftime("%Y/%m/%d").to_string(),
            ..SearchForm::default()
        });
    let last = me
        .session
        .data
        .get(RESULT_KEY)
        .and_then(|v| serde_json::from_value::<LastResult>(v.clone()).ok());
    let (outcome, count, rows) = match last {
        Some(last) => {
            let mut rows = Vec::with_capacity(last.ids.len());
            for id in last.ids {
                match st.search.listed(&me.account, id).await {
                    Ok(s) => rows.push((id, ListRow::from_qualification(&s.record))),
                    // Listed too long ago: searched again, it shows again.
                    Err(DomainError::Forbidden(_) | DomainError::NotFound) => {}
                    Err(e) => return Err(fail(e)),
                }
            }
            let outcome = SearchOutcome::from_hits(last.count);
            let stale = matches!(outcome, SearchOutcome::List { .. }) && rows.is_empty();
            if stale {
                (None, 0, Vec::new())
            } else {
                (outcome.message().map(str::to_string), last.count, rows)
            }
        }
        None => (None, 0, Vec::new()),
    };
    search_page(&st, &me, form, Vec::new(), outcome, count, rows)
        .await
        .map_err(IntoResponse::into_response)
}

/// 次の患者へ: the conditions and the outcome are cleared (seed 004).
async fn next_patient(State(st): State<EligState>, me: Me) -> AppResult<Response> {
    let mut s = me.session.clone();
    s.data.remove(FORM_KEY);
    s.data.remove(RESULT_KEY);
    st.sessions.save_data(&s).await?;
    Ok(Redirect::to("/emergency").into_response())
}

/// クリア: 検索条件を消去します (seed 004), without script: the button posts here.
async fn clear_search(State(st): State<EligState>, me: Me) -> AppResult<Response> {
    let mut s = me.session.clone();
    s.data.remove(FORM_KEY);
    s.data.remove(RESULT_KEY);
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
    // The form is kept whatever happens next (戻る shows it again); an older outcome is
    // not, so it never shows under conditions it did not come from.
    let mut s = me.session.clone();
    s.data.insert(
        FORM_KEY.into(),
        serde_json::to_value(&form).unwrap_or_default(),
    );
    s.data.remove(RESULT_KEY);
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
            return search_page(&st, &me, form, msgs, None, 0, Vec::new())
                .await
                .map_err(IntoResponse::into_response);
        }
    };
    let visit = form.visit.trim().parse::<i64>().ok();
    let hits = match st.search.search(&me.account, &q, visit).await {
        Ok(h) => h,
        Err(e) => {
            let msg = message(e).map_err(fail)?;
            return search_page(&st, &me, form, vec![msg], None, 0, Vec::new())
                .await
                .map_err(IntoResponse::into_response);
        }
    };
    let outcome = SearchOutcome::from_hits(hits.len());
    if let (SearchOutcome::Single, Some(hit)) = (outcome, hits.first()) {
        return Ok(Redirect::to(&format!("/emergency/records/{}", hit.id)).into_response());
    }
    // None, a list or too many: the screen shows it after the redirect. Only a list's ids
    // are kept; more than five are never shown (F4).
    let last = LastResult {
        count: hits.len(),
        ids: match outcome {
            SearchOutcome::List { .. } => hits.iter().map(|h| h.id).collect(),
            _ => Vec::new(),
        },
    };
    s.data.insert(
        RESULT_KEY.into(),
        serde_json::to_value(&last).unwrap_or_default(),
    );
    st.sessions
        .save_data(&s)
        .await
        .map_err(|e| fail(AppError(e)))?;
    Ok(Redirect::to("/emergency").into_response())
}

#[derive(Template)]
#[template(path = "elig/detail.html")]
struct DetailPage {
    who: Header,
    csrf: String,
    errors: FormErrors,
    id: i64,
    valid: bool,
    preschool: bool,
    /// The registered 照会番号 (empty: none yet).
    inquiry_number: String,
    /// The input is shown (《編集》 was chosen, or a number was refused); else the text.
    editing: bool,
    /// What the input holds: the registered number, or what was typed and refused.
    inquiry_input: String,
    /// The completion dialog after a registration or update: (title, message).
    done: Option<(String, String)>,
    /// The 被保険者情報 block of seed 004's screen.
    insured: Vec<Item>,
    /// The 資格情報 block.
    qualification: Vec<Item>,
}

/// One label–value pair of the detail's grid.
pub(crate) struct Item {
    label: &'static str,
    value: String,
    /// Read above the value (氏名(券面): the kana over the name, as on the card).
    ruby: Option<String>,
    /// Shown in red (短期被保険者証 and the like, seed 004).
    red: bool,
}

impl Item {
    fn new(label: &'static str, value: impl Into<String>) -> Self {
        Self {
            label,
            value: value.into(),
            ruby: None,
            red: false,
        }
    }
}

/// The detail's two blocks, as seed 004's 資格情報確認 screen lays them out.
fn detail_items(q: &tsunagu_eligibility_domain::model::Qualification) -> (Vec<Item>, Vec<Item>) {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let insured = vec![
        Item::new("保険者番号", q.insurer_number.as_str()),
        Item::new("保険者名", q.insurer_name.clone()),
        Item::new("記号", opt(&q.symbol)),
        Item::new("番号", q.number.clone()),
        Item::new("枝番", opt(&q.branch)),
        Item {
            ruby: Some(q.name_kana.clone()).filter(|k| !k.is_empty()),
            ..Item::new("氏名(券面)", q.name.clone())
        },
        Item::new("性別(表面)", q.sex1.name()),
        Item::new("生年月日", tsunagu_calendar::wareki::display(q.birth_date)),
    ];
    let mut qualification = vec![
        Item {
            red: q.card_kind.shown_in_red(),
            ..Item::new("証区分", q.card_kind.name())
        },
        Item::new(
            "一部負担金割合",
            q.copayment_ratio
                .as_ref()
                .map(|c| c.label())
                .unwrap_or_default(),
        ),
        Item::new(
            "有効開始日",
            tsunagu_calendar::wareki::display(q.valid_from),
        ),
        Item::new(
            "有効終了日",
            q.valid_to
                .map(tsunagu_calendar::wareki::display)
                .unwrap_or_default(),
        ),
        Item::new(
            "資格喪失事由",
            q.reason_of_loss
                .map(|r| r.name().to_string())
                .unwrap_or_default(),
        ),
        Item::new("本人・家族の別", q.personal_family.name()),
        Item::new("被保険者氏名", opt(&q.insured_name)),
    ];
    // Seed 004: 氏名(その他) and 性別(裏面) only when they have a value; 郵便番号 and 住所
    // only when the insurer sent them.
    if let Some(other) = q.name_of_other.clone().filter(|o| !o.is_empty()) {
        qualification.push(Item {
            ruby: q.name_of_other_kana.clone().filter(|k| !k.is_empty()),
            ..Item::new("氏名(その他)", other)
        });
    }
    if let Some(s2) = q.sex2 {
        qualification.push(Item::new("性別(裏面)", s2.name()));
    }
    if q.address.is_some() || q.post_number.is_some() {
        qualification.push(Item::new(
            "郵便番号",
            q.post_number_display().unwrap_or_default(),
        ));
        qualification.push(Item::new("住所", opt(&q.address)));
    }
    (insured, qualification)
}

/// How the detail is shown: the inquiry number as text, as an input, or with the
/// completion dialog.
#[derive(Default)]
struct DetailView {
    editing: bool,
    typed: Option<String>,
    errors: FormErrors,
    done: Option<(String, String)>,
}

/// The visit the last search was for (kept with the form in the session).
fn session_visit(me: &Me) -> Option<i64> {
    me.session
        .data
        .get(FORM_KEY)
        .and_then(|v| v.get("visit"))
        .and_then(|v| v.as_str())
        .and_then(|v| v.trim().parse::<i64>().ok())
}

async fn detail_page(
    st: &EligState,
    me: &Me,
    id: i64,
    view: DetailView,
) -> Result<Response, Response> {
    // A record is opened only from the search that listed it: with no search in the session
    // (次の患者へ cleared it, or another browser) the record must be searched again —
    // not refused as if the patient had come after recovery.
    let Some(visit) = session_visit(me) else {
        return Err(
            AppError(DomainError::Forbidden("error.eligibility.not_listed")).into_response(),
        );
    };
    let s = st
        .search
        .view(&me.account, id, Some(visit))
        .await
        .map_err(|e| AppError(e).into_response())?;
    let q = &s.record;
    let date = me
        .session
        .data
        .get(FORM_KEY)
        .and_then(|v| v.get("confirmation_date"))
        .and_then(|v| v.as_str())
        .and_then(confirmation_date_of)
        .unwrap_or_else(|| today_jst(st));
    let institution = me.account.institution_code.clone().unwrap_or_default();
    let inquiry_number = st
        .search
        .access
        .inquiry_number(&institution, id)
        .await
        .map_err(|e| AppError(e).into_response())?
        .unwrap_or_default();
    let (insured, qualification) = detail_items(q);
    let valid = q.validity_at(date) == tsunagu_eligibility_domain::model::Validity::Valid;
    let status = if view.errors.any() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let r = page(&DetailPage {
        who: who(me),
        csrf: me.session.csrf.clone(),
        editing: view.editing || view.errors.any(),
        inquiry_input: view.typed.unwrap_or_else(|| inquiry_number.clone()),
        errors: view.errors,
        id,
        valid,
        preschool: q.is_preschool_at(date),
        inquiry_number,
        done: view.done,
        insured,
        qualification,
    })
    .map_err(IntoResponse::into_response)?;
    Ok((status, r).into_response())
}

/// The detail's query: `edit=1` shows the inquiry number's input (《編集》), `done=` the
/// completion dialog after a registration or update.
#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    edit: String,
    #[serde(default)]
    done: String,
}

async fn detail(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
    axum::extract::Query(dq): axum::extract::Query<DetailQuery>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let done = match dq.done.as_str() {
        "registered" => Some((
            "elig.inquiry_registered_title",
            "elig.done_inquiry_registered",
        )),
        "updated" => Some(("elig.inquiry_updated_title", "elig.done_inquiry_updated")),
        _ => None,
    }
    .map(|(title, msg)| {
        (
            t(Lang::Ja, title).into_owned(),
            t(Lang::Ja, msg).into_owned(),
        )
    });
    let view = DetailView {
        editing: dq.edit == "1",
        done,
        ..DetailView::default()
    };
    detail_page(&st, &me, id, view).await
}

#[derive(Deserialize, Default)]
pub struct InquiryForm {
    #[serde(default)]
    inquiry_number: String,
}

/// 《登録》/《更新》: on success, back to the detail with the completion dialog (303).
async fn inquiry(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
    Form(f): Form<InquiryForm>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let fail = |e: DomainError| AppError(e).into_response();
    st.search.listed(&me.account, id).await.map_err(fail)?;
    let institution = me.account.institution_code.clone().unwrap_or_default();
    let had = st
        .search
        .access
        .inquiry_number(&institution, id)
        .await
        .map_err(fail)?
        .is_some();
    match st
        .search
        .access
        .set_inquiry_number(&me.account, id, &f.inquiry_number)
        .await
    {
        Ok(()) => {
            let done = if had { "updated" } else { "registered" };
            Ok(Redirect::to(&format!("/emergency/records/{id}?done={done}")).into_response())
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, Lang::Ja).map_err(fail)?;
            let view = DetailView {
                editing: true,
                typed: Some(f.inquiry_number),
                errors,
                done: None,
            };
            detail_page(&st, &me, id, view).await
        }
    }
}

/// A listed record's result XML (ダウンロード), for the page and the API alike: the same
/// rule (the caller's own search listed it, F4) and the same monitoring entry.
pub(crate) async fn result_xml(
    st: &EligState,
    by: &Account,
    id: i64,
) -> Result<String, DomainError> {
    let s = st.search.listed(by, id).await?;
    st.search
        .access
        .monitor(by, "download", "", None, Some(id))
        .await?;
    let now = st
        .clock
        .now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC));
    let msg = tsunagu_eligibility_domain::xml::ResultMessage::for_results(
        now.datetime(),
        now.date(),
        by.institution_code.as_deref().unwrap_or(""),
        tsunagu_eligibility_domain::model::ReferenceClassification::InsuranceCard,
        vec![s.record],
    );
    Ok(msg.to_xml())
}

/// The XML as a file to save.
pub(crate) fn xml_attachment(id: i64, xml: String) -> Response {
    (
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
        xml,
    )
        .into_response()
}

async fn download(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
) -> Result<Response, Response> {
    guard(&st, &me).await?;
    let xml = result_xml(&st, &me.account, id)
        .await
        .map_err(|e| AppError(e).into_response())?;
    Ok(xml_attachment(id, xml))
}

#[derive(Template)]
#[template(path = "elig/ops.html")]
struct OpsPage {
    who: Header,
    csrf: String,
    errors: Vec<String>,
    outage: bool,
    /// (id, start, end, institutions, notice, started).
    periods: Vec<(i64, String, String, String, String, bool)>,
    monitoring: Vec<(String, String, String, String, String, String)>,
    filter_institution: String,
    filter_date: String,
    /// The period form as typed, after a refusal (empty otherwise).
    period: PeriodForm,
    /// The period form's messages, per field.
    period_errors: FormErrors,
    /// The completion message after a redirect.
    notice: Option<String>,
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

/// The period form shown again with what was typed and its messages (422).
async fn ops_period_refused(
    st: &EligState,
    me: &Me,
    period: PeriodForm,
    period_errors: FormErrors,
) -> AppResult<Response> {
    let r = ops_page_filtered(
        st,
        me,
        period_errors.general.clone(),
        LogFilter::default(),
        period,
        period_errors,
    )
    .await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, r).into_response())
}

async fn ops_page_filtered(
    st: &EligState,
    me: &Me,
    mut errors: Vec<String>,
    f: LogFilter,
    period: PeriodForm,
    period_errors: FormErrors,
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
    let status = if errors.is_empty() && !period_errors.any() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let notice = match f.done.as_str() {
        "period" => Some("elig.done_period"),
        "ended" => Some("elig.done_period_ended"),
        "outage" => Some("elig.done_outage"),
        "recovered" => Some("elig.done_recovered"),
        _ => None,
    }
    .map(|k| t(Lang::Ja, k).into_owned());
    Ok((
        status,
        Html(
            OpsPage {
                who: who(me),
                csrf: me.session.csrf.clone(),
                errors,
                outage: st.search.access.outage().await?,
                periods,
                monitoring,
                filter_institution: f.institution,
                filter_date: f.date,
                period,
                period_errors,
                notice,
            }
            .render()?,
        ),
    )
        .into_response())
}

/// The monitoring log's filter as typed: an institution code and a day (JST); and the
/// completion flag a redirect after a POST carries.
#[derive(Deserialize, Default)]
pub struct LogFilter {
    #[serde(default)]
    institution: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    done: String,
}

async fn ops(
    State(st): State<EligState>,
    me: Me,
    axum::extract::Query(f): axum::extract::Query<LogFilter>,
) -> AppResult<Response> {
    ops_page_filtered(
        &st,
        &me,
        Vec::new(),
        f,
        PeriodForm::default(),
        FormErrors::none(),
    )
    .await
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
    let done = if f.down == "1" { "outage" } else { "recovered" };
    Ok(Redirect::to(&format!("/ops?done={done}")).into_response())
}

/// Ends (or withdraws) an emergency period now.
async fn ops_period_end(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    st.search.access.end_period(&me.account, id).await?;
    Ok(Redirect::to("/ops?done=ended").into_response())
}

/// The period form as typed (shown again as typed when refused).
#[derive(Deserialize, Default, Clone)]
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
    // `datetime-local` sends `2026-01-19T09:00`; a typed space is read the same.
    let dt: jiff::civil::DateTime = s.trim().replacen(' ', "T", 1).parse().ok()?;
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").ok()?;
    dt.to_zoned(tz).ok().map(|z| z.timestamp().as_millisecond())
}

async fn ops_period(
    State(st): State<EligState>,
    me: Me,
    Form(f): Form<PeriodForm>,
) -> AppResult<Response> {
    let starts = local_ms(&f.starts);
    let ends = local_ms(&f.ends);
    let institutions: Vec<String> = f
        .institutions
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let (Some(starts), Some(ends)) = (starts, ends) else {
        // Name each unreadable time, and check the rest too, so one answer says all.
        let mut errors = FormErrors::none();
        for (field, ms) in [("starts", starts), ("ends", ends)] {
            if ms.is_none() {
                errors.fields.push((
                    field.into(),
                    t(Lang::Ja, "error.eligibility.period_time").into_owned(),
                ));
            }
        }
        if f.notice.trim().is_empty() {
            errors
                .fields
                .push(("notice".into(), t(Lang::Ja, "error.required").into_owned()));
        }
        if institutions.is_empty() {
            errors.fields.push((
                "institutions".into(),
                t(Lang::Ja, "error.eligibility.no_institutions").into_owned(),
            ));
        }
        return ops_period_refused(&st, &me, f, errors).await;
    };
    match st
        .search
        .access
        .open_period(&me.account, starts, ends, &f.notice, &institutions)
        .await
    {
        Ok(_) => Ok(Redirect::to("/ops?done=period").into_response()),
        Err(e) => {
            let mut errors = FormErrors::from_error(e, Lang::Ja).map_err(AppError)?;
            // The store names the end `ends_at`; the form's input is `ends`.
            for (field, _) in &mut errors.fields {
                if field == "ends_at" {
                    *field = "ends".into();
                }
            }
            ops_period_refused(&st, &me, f, errors).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct VisitForm {
    /// The institution's own reference (chart number).
    #[serde(default)]
    label: String,
    /// The name noted from the card (optional).
    #[serde(default)]
    name: String,
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
        .record_outage_visit_named(&me.account, &f.label, Some(&f.name))
        .await
    {
        Ok(id) => Ok(Redirect::to(&format!("/menu?recorded={id}")).into_response()),
        Err(e) => {
            let msg = message(e)?;
            let r = menu_page_with(&st, &me, vec![msg], None, f).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, r).into_response())
        }
    }
}
