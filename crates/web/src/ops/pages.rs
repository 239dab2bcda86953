//! Operator pages: organisations and facilities, all failed jobs, the audit log and its
//! verification, and `/dev/outbox` while messages are captured instead of sent.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tsunagu_accounts::staff::{LoginTable, StaffStore};
use tsunagu_accounts::{Realm, Stage};
use tsunagu_audit::{Entry, Verdict};
use tsunagu_clinics::{Facility, NewFacility, Organisation, PREFECTURES};
use tsunagu_i18n::t_args;
use tsunagu_kernel::{DomainError, JobId, OperatorId, OrganisationId};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page, page_status};
use crate::session::OriginExt;
use crate::session::{ClientIp, OperatorUser, RequestId, Sess, SetSession, see_other};
use crate::staff::pages::{AuditPage, CodeForm, JobsPage, LoginForm, LoginPage, TotpPage, qr_svg};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops/login", get(login_form).post(login_post))
        .route("/ops/totp", get(totp_form).post(totp_post))
        .route("/ops/totp/code", post(enrol_code_post))
        .route("/ops/logout", post(logout))
        .route("/ops", get(home))
        .route("/ops/organisations", post(add_org))
        .route("/ops/facilities", post(add_facility))
        .route("/ops/jobs", get(jobs))
        .route("/ops/usage", get(usage))
        .route("/ops/jobs/{id}/retry", post(retry_job))
        .route("/ops/audit", get(audit))
        .route("/ops/audit/verify", post(verify))
        .route("/dev/outbox", get(outbox))
}

fn login_page(ctx: PageCtx, errors: FormErrors, login_id: String) -> AppResult<Response> {
    page_status(
        form_status(&errors),
        &LoginPage {
            ctx,
            errors,
            title_key: "ops_login.title",
            action: "/ops/login",
            with_facility: false,
            facility: String::new(),
            login_id,
        },
    )
}

async fn login_form(ctx: PageCtx) -> AppResult<Response> {
    login_page(ctx, FormErrors::none(), String::new())
}

async fn login_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    ClientIp(ip): ClientIp,
    origin: OriginExt,
    Form(f): Form<LoginForm>,
) -> AppResult<Response> {
    match st
        .accounts
        .operator_login(&f.login_id, &f.password, &ip)
        .await
    {
        Ok((id, enrolled)) => {
            let stage = if enrolled {
                Stage::NeedsTotp
            } else {
                Stage::NeedsTotpEnrol
            };
            st.accounts.sessions.delete_digest(&s.digest).await?;
            let (token, _) = st
                .accounts
                .sessions
                .create(
                    Realm::Operator,
                    Some(id),
                    None,
                    stage,
                    &origin.0,
                    serde_json::Map::new(),
                )
                .await?;
            Ok(SetSession::Token(Realm::Operator, token).on(see_other("/ops/totp")))
        }
        Err(e) => login_page(
            ctx.clone(),
            FormErrors::from_error(e, ctx.lang)?,
            f.login_id,
        ),
    }
}

async fn totp_page(
    st: &AppState,
    ctx: PageCtx,
    errors: FormErrors,
    s: &tsunagu_accounts::Session,
) -> AppResult<Response> {
    let Some(id) = s.principal_id else {
        return Ok(see_other("/ops/login"));
    };
    let enrolling = s.stage == Stage::NeedsTotpEnrol;
    let proved = crate::session::enrol_proved(s);
    let (qr, secret) = if enrolling && proved {
        let op = st.accounts.staff.operator(OperatorId(id)).await?;
        let Some(secret) = op.totp_secret else {
            return Ok(see_other("/ops/login"));
        };
        let url = tsunagu_accounts::totp::provisioning_url(
            &secret,
            "tsunagu",
            &format!("{}@operator", op.login_id),
        )?;
        (Some(qr_svg(&url)?), secret)
    } else {
        (None, String::new())
    };
    page_status(
        form_status(&errors),
        &TotpPage {
            needs_enrol_code: enrolling && !proved,
            ctx,
            errors,
            action: "/ops/totp",
            qr_svg: qr,
            secret,
        },
    )
}

fn pending(s: &tsunagu_accounts::Session) -> bool {
    s.realm == Realm::Operator && matches!(s.stage, Stage::NeedsTotp | Stage::NeedsTotpEnrol)
}

async fn totp_form(State(st): State<AppState>, ctx: PageCtx, Sess(s): Sess) -> AppResult<Response> {
    if !pending(&s) {
        return Ok(see_other("/ops/login"));
    }
    totp_page(&st, ctx, FormErrors::none(), &s).await
}

async fn totp_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    ClientIp(ip): ClientIp,
    RequestId(rid): RequestId,
    origin: OriginExt,
    Form(f): Form<CodeForm>,
) -> AppResult<Response> {
    let (true, Some(id)) = (pending(&s), s.principal_id) else {
        return Ok(see_other("/ops/login"));
    };
    if s.stage == Stage::NeedsTotpEnrol && !crate::session::enrol_proved(&s) {
        return Ok(see_other("/ops/totp"));
    }
    let op = st.accounts.staff.operator(OperatorId(id)).await?;
    match st
        .accounts
        .check_totp(LoginTable::Operators, id, &s.digest, &f.code, &ip)
        .await
    {
        Ok(()) => {
            st.accounts.sessions.delete_digest(&s.digest).await?;
            let (token, _) = st
                .accounts
                .sessions
                .create(
                    Realm::Operator,
                    Some(id),
                    None,
                    Stage::Full,
                    &origin.0,
                    serde_json::Map::new(),
                )
                .await?;
            st.audit
                .append(Entry {
                    actor: tsunagu_audit::Actor {
                        kind: "operator",
                        id: Some(id),
                        label: format!("{} (operator)", op.login_id),
                    },
                    facility_id: None,
                    patient_id: None,
                    action: "operator.login",
                    detail: String::new(),
                    ip,
                    request_id: rid,
                })
                .await?;
            Ok(SetSession::Token(Realm::Operator, token).on(see_other("/ops")))
        }
        Err(e) => totp_page(&st, ctx.clone(), FormErrors::from_error(e, ctx.lang)?, &s).await,
    }
}

/// An operator's first enrolment proves the code printed when the operator was created.
async fn enrol_code_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(mut s): Sess,
    ClientIp(ip): ClientIp,
    Form(f): Form<crate::staff::pages::EnrolCodeForm>,
) -> AppResult<Response> {
    let (true, Some(id), Stage::NeedsTotpEnrol) = (pending(&s), s.principal_id, s.stage) else {
        return Ok(see_other("/ops/login"));
    };
    match st
        .accounts
        .redeem_enrolment_code(LoginTable::Operators, id, &s.digest, &f.enrol_code, &ip)
        .await
    {
        Ok(_) => {
            s.data
                .insert("enrol_ok".into(), serde_json::Value::Bool(true));
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/ops/totp"))
        }
        Err(DomainError::Unauthorized(_)) => Ok(see_other("/ops/login")),
        Err(e) => totp_page(&st, ctx.clone(), FormErrors::from_error(e, ctx.lang)?, &s).await,
    }
}

async fn logout(State(st): State<AppState>, Sess(s): Sess) -> AppResult<Response> {
    st.accounts.sessions.delete_digest(&s.digest).await?;
    Ok(SetSession::Clear(Realm::Operator).on(see_other("/ops/login")))
}

#[derive(Deserialize, Default, Clone)]
pub struct FacilityForm {
    #[serde(default)]
    organisation_id: String,
    #[serde(default)]
    facility_name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    prefecture: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    admin_login: String,
    #[serde(default)]
    admin_password: String,
}

#[derive(Template)]
#[template(path = "ops/ops_home.html")]
struct Home {
    ctx: PageCtx,
    errors: FormErrors,
    organisations: Vec<Organisation>,
    facilities: Vec<Facility>,
    prefectures: &'static [(i64, &'static str, &'static str)],
    form: FacilityForm,
    /// The new facility admin's enrolment code, shown once.
    issued: Option<String>,
}

async fn home_page(
    st: &AppState,
    ctx: PageCtx,
    errors: FormErrors,
    form: FacilityForm,
) -> AppResult<Response> {
    page_status(
        form_status(&errors),
        &Home {
            ctx,
            errors,
            organisations: st.facilities.organisations().await?,
            facilities: st.facilities.list(None).await?,
            prefectures: &PREFECTURES,
            form,
            issued: None,
        },
    )
}

async fn home(State(st): State<AppState>, ctx: PageCtx, _op: OperatorUser) -> AppResult<Response> {
    home_page(&st, ctx, FormErrors::none(), FacilityForm::default()).await
}

#[derive(Deserialize, Default)]
pub struct OrgForm {
    #[serde(default)]
    name: String,
}

async fn add_org(
    State(st): State<AppState>,
    ctx: PageCtx,
    _op: OperatorUser,
    Form(f): Form<OrgForm>,
) -> AppResult<Response> {
    match st.facilities.create_organisation(&f.name).await {
        Ok(_) => Ok(see_other("/ops")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            home_page(&st, ctx, errors, FacilityForm::default()).await
        }
    }
}

/// Creates a facility and its first admin in one go.
async fn add_facility(
    State(st): State<AppState>,
    ctx: PageCtx,
    op: OperatorUser,
    Form(f): Form<FacilityForm>,
) -> AppResult<Response> {
    let res = async {
        let org = f
            .organisation_id
            .trim()
            .parse::<i64>()
            .ok()
            .map(OrganisationId);
        let mut v = tsunagu_kernel::error::Validator::new();
        let fac = v.check(NewFacility::parse(
            org,
            &f.facility_name,
            &f.kind,
            &f.prefecture,
            &f.address,
            &f.phone,
            &f.slug,
        ))?;
        let login = v.check(StaffStore::parse_login_id("login_id", &f.admin_login))?;
        v.check(tsunagu_accounts::password::validate_new(
            "password",
            &f.admin_password,
        ))?;
        v.finish()?;
        let (Some(fac), Some(login)) = (fac, login) else {
            return Err(DomainError::internal(anyhow::anyhow!(
                "validated facility form incomplete"
            )));
        };
        // The first admin enrols an authenticator with a code the operator hands over.
        st.accounts
            .open_facility(&fac, login, &f.admin_password, &op.by())
            .await
    }
    .await;
    match res {
        Ok((_, code)) => {
            let issued = t_args(ctx.lang, "enrol.issued_admin", &[("code", code)]);
            page(&Home {
                organisations: st.facilities.organisations().await?,
                facilities: st.facilities.list(None).await?,
                prefectures: &PREFECTURES,
                form: FacilityForm::default(),
                errors: FormErrors::none(),
                ctx,
                issued: Some(issued),
            })
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            home_page(
                &st,
                ctx,
                errors,
                FacilityForm {
                    admin_password: String::new(),
                    ..f
                },
            )
            .await
        }
    }
}

async fn jobs(State(st): State<AppState>, ctx: PageCtx, _op: OperatorUser) -> AppResult<Response> {
    page(&JobsPage {
        ctx,
        jobs: st.jobs.failed(None).await?,
        retry_base: "/ops/jobs",
        back: "/ops",
    })
}

async fn retry_job(
    State(st): State<AppState>,
    _op: OperatorUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    st.jobs.retry(JobId(id), None).await?;
    Ok(see_other("/ops/jobs"))
}

async fn audit_page(st: &AppState, ctx: PageCtx, verdict: Option<String>) -> AppResult<Response> {
    page(&AuditPage {
        ctx,
        events: st.audit.recent(None, 300).await?,
        verdict,
        show_verify: true,
        back: "/ops",
    })
}

async fn audit(State(st): State<AppState>, ctx: PageCtx, _op: OperatorUser) -> AppResult<Response> {
    audit_page(&st, ctx, None).await
}

async fn verify(
    State(st): State<AppState>,
    ctx: PageCtx,
    _op: OperatorUser,
) -> AppResult<Response> {
    // The head this process verified last: a chain cut back since then is reported.
    static LAST_SEEN: std::sync::Mutex<Option<tsunagu_audit::Head>> = std::sync::Mutex::new(None);
    let last_seen = LAST_SEEN.lock().ok().and_then(|g| g.clone());
    let msg = match st.audit.verify(last_seen.as_ref()).await? {
        Verdict::Intact { rows, head } => {
            if let Ok(mut g) = LAST_SEEN.lock() {
                *g = Some(tsunagu_audit::Head {
                    seq: rows,
                    hash: head.clone(),
                });
            }
            t_args(
                ctx.lang,
                "audit.intact",
                &[("rows", rows.to_string()), ("head", head)],
            )
        }
        Verdict::Broken { seq, reason } => t_args(
            ctx.lang,
            "audit.broken",
            &[("seq", seq.to_string()), ("reason", reason)],
        ),
    };
    audit_page(&st, ctx, Some(msg)).await
}

#[derive(Template)]
#[template(path = "ops/outbox.html")]
struct OutboxPage {
    ctx: PageCtx,
    messages: Vec<tsunagu_notifications::OutboxRow>,
}

/// What would have been sent, while no SMS or SMTP transport is configured. Operators
/// only: it shows sign-up codes.
async fn outbox(
    State(st): State<AppState>,
    ctx: PageCtx,
    _op: OperatorUser,
) -> AppResult<Response> {
    if !st.config.dev_outbox {
        return Err(DomainError::NotFound.into());
    }
    page(&OutboxPage {
        ctx,
        messages: st.outbox.recent(100).await?,
    })
}

/// A prefecture's name for a table (the code itself when it is unknown).
pub fn prefecture_label(code: &i64, lang: &str) -> String {
    let name = tsunagu_clinics::prefecture_name(*code, lang == "en");
    if name.is_empty() {
        code.to_string()
    } else {
        name.to_string()
    }
}

#[derive(Template)]
#[template(path = "ops/usage.html")]
struct UsagePage {
    ctx: PageCtx,
    month: String,
    /// (facility, visits, units, extra units, before tax, tax, total).
    rows: Vec<(String, tsunagu_visits::usage::MonthUsage)>,
    total: i64,
}

#[derive(Deserialize, Default)]
pub struct UsageQuery {
    #[serde(default)]
    month: String,
}

/// Every facility's video usage of a month (C12), the input of the platform's invoices.
async fn usage(
    State(st): State<AppState>,
    ctx: PageCtx,
    _op: OperatorUser,
    Query(q): Query<UsageQuery>,
) -> AppResult<Response> {
    let today = tsunagu_kernel::clock::from_ms(st.booker.now_ms())
        .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC))
        .date();
    let month = crate::visits::usage::parse_month(&q.month, today);
    let mut rows = Vec::new();
    for f in st.facilities.list(None).await? {
        let (_, m) = st.visits.month_usage(&f, month).await?;
        if m.visits > 0 {
            rows.push((f.name, m));
        }
    }
    let total = rows.iter().map(|r| r.1.yen_total).sum();
    page(&UsagePage {
        month: month.strftime("%Y-%m").to_string(),
        rows,
        total,
        ctx,
    })
}
