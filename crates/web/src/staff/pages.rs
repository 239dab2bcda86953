//! Staff pages: login with TOTP, the facility dashboard, patients (every read and write
//! audited), failed jobs, and the admin's settings.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tsunagu_accounts::staff::{LoginTable, NewStaff, StaffStore};
use tsunagu_accounts::{Realm, Role, Session, StaffUser, Stage};
use tsunagu_audit::Event;
use tsunagu_kernel::{DomainError, JobId, PatientId, StaffId};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page, page_status};
use crate::session::OriginExt;
use crate::session::{ClientIp, RequestId, Sess, SetSession, StaffMember, enrol_proved, see_other};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/login", get(login_form).post(login_post))
        .route("/staff/totp", get(totp_form).post(totp_post))
        .route("/staff/totp/enrol", get(enrol_form).post(totp_post))
        .route("/staff/totp/enrol/code", post(enrol_code_post))
        .route("/staff/logout", post(logout))
        .route("/staff", get(home))
        .route("/staff/patients", get(patients))
        .route("/staff/patients/{id}", get(patient))
        .route("/staff/patients/{id}/chart", post(set_chart))
        .route("/staff/jobs", get(jobs))
        .route("/staff/jobs/{id}/retry", post(retry_job))
        .route("/staff/settings", get(settings))
        .route("/staff/settings/totp", post(set_totp_policy))
        .route("/staff/staff", post(add_staff))
        .route("/staff/staff/{id}/enrol-code", post(issue_enrol_code))
        .route("/staff/audit", get(audit))
}

/// The shared login form of staff and operators.
#[derive(Template)]
#[template(path = "staff/staff_login.html")]
pub struct LoginPage {
    pub ctx: PageCtx,
    pub errors: FormErrors,
    pub title_key: &'static str,
    pub action: &'static str,
    pub with_facility: bool,
    pub facility: String,
    pub login_id: String,
}

async fn login_form(ctx: PageCtx) -> AppResult<Response> {
    page(&LoginPage {
        ctx,
        errors: FormErrors::none(),
        title_key: "staff_login.title",
        action: "/staff/login",
        with_facility: true,
        facility: String::new(),
        login_id: String::new(),
    })
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    pub facility: String,
    #[serde(default)]
    pub login_id: String,
    #[serde(default)]
    pub password: String,
}

async fn login_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    ClientIp(ip): ClientIp,
    RequestId(rid): RequestId,
    origin: OriginExt,
    Form(f): Form<LoginForm>,
) -> AppResult<Response> {
    let res = async {
        let facility = match st.facilities.by_slug(&f.facility).await {
            Ok(fac) => fac,
            Err(DomainError::NotFound) => {
                return Err(DomainError::Unauthorized("error.login.failed_id"));
            }
            Err(e) => return Err(e),
        };
        let (id, totp) = st
            .accounts
            .staff_login(
                facility.id,
                facility.require_totp_all,
                &f.login_id,
                &f.password,
                &ip,
            )
            .await?;
        Ok((facility, id, totp))
    }
    .await;
    match res {
        Ok((facility, id, totp)) => {
            let (stage, next) = match totp {
                None => (Stage::Full, "/staff"),
                Some(true) => (Stage::NeedsTotp, "/staff/totp"),
                Some(false) => (Stage::NeedsTotpEnrol, "/staff/totp/enrol"),
            };
            st.accounts.sessions.delete_digest(&s.digest).await?;
            let token = st
                .accounts
                .open_staff_session(facility.id, StaffId(id), stage, &origin.0, &ip, &rid)
                .await?;
            Ok(SetSession::Token(Realm::Staff, token).on(see_other(next)))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            page_status(
                form_status(&errors),
                &LoginPage {
                    ctx,
                    errors,
                    title_key: "staff_login.title",
                    action: "/staff/login",
                    with_facility: true,
                    facility: f.facility,
                    login_id: f.login_id,
                },
            )
        }
    }
}

/// The shared TOTP page of staff and operators.
#[derive(Template)]
#[template(path = "staff/totp.html")]
pub struct TotpPage {
    /// The enrolment code must be proved before the secret is shown.
    pub needs_enrol_code: bool,
    pub ctx: PageCtx,
    pub errors: FormErrors,
    pub action: &'static str,
    pub qr_svg: Option<String>,
    pub secret: String,
}

/// Renders an `otpauth://` URL as an inline SVG QR code.
pub fn qr_svg(data: &str) -> Result<String, DomainError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(DomainError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

fn pending_staff(s: &Session, want: Stage) -> Option<(i64, tsunagu_kernel::FacilityId)> {
    (s.realm == Realm::Staff && s.stage == want)
        .then_some(())
        .and_then(|()| Some((s.principal_id?, s.facility_id?)))
}

async fn totp_form(ctx: PageCtx, Sess(s): Sess) -> AppResult<Response> {
    if pending_staff(&s, Stage::NeedsTotp).is_none() {
        return Ok(see_other("/staff/login"));
    }
    page(&TotpPage {
        needs_enrol_code: false,
        ctx,
        errors: FormErrors::none(),
        action: "/staff/totp",
        qr_svg: None,
        secret: String::new(),
    })
}

/// TOTP enrolment: first the enrolment code an admin handed over, then the QR code of the
/// secret that proving it created, then a code from the app to finish.
async fn enrol_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
) -> AppResult<Response> {
    let Some((id, fid)) = pending_staff(&s, Stage::NeedsTotpEnrol) else {
        return Ok(see_other("/staff/login"));
    };
    let user = st.accounts.staff.get(fid, StaffId(id)).await?;
    let facility = st.facilities.get(fid).await?;
    enrol_page(&ctx, FormErrors::none(), &s, &user, &facility.slug)
}

fn enrol_page(
    ctx: &PageCtx,
    errors: FormErrors,
    s: &Session,
    user: &StaffUser,
    slug: &str,
) -> AppResult<Response> {
    let secret = match (&user.totp_secret, enrol_proved(s)) {
        (Some(secret), true) => secret.clone(),
        _ => {
            return page_status(
                form_status(&errors),
                &TotpPage {
                    needs_enrol_code: true,
                    ctx: ctx.clone(),
                    errors,
                    action: "/staff/totp/enrol",
                    qr_svg: None,
                    secret: String::new(),
                },
            );
        }
    };
    let url = tsunagu_accounts::totp::provisioning_url(
        &secret,
        "tsunagu",
        &format!("{}@{}", user.login_id, slug),
    )?;
    page_status(
        form_status(&errors),
        &TotpPage {
            needs_enrol_code: false,
            ctx: ctx.clone(),
            errors,
            action: "/staff/totp/enrol",
            qr_svg: Some(qr_svg(&url)?),
            secret,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct EnrolCodeForm {
    #[serde(default)]
    pub enrol_code: String,
}

/// Proves the enrolment code; the QR code follows.
async fn enrol_code_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(mut s): Sess,
    ClientIp(ip): ClientIp,
    Form(f): Form<EnrolCodeForm>,
) -> AppResult<Response> {
    let Some((id, fid)) = pending_staff(&s, Stage::NeedsTotpEnrol) else {
        return Ok(see_other("/staff/login"));
    };
    match st
        .accounts
        .redeem_enrolment_code(LoginTable::Staff, id, &s.digest, &f.enrol_code, &ip)
        .await
    {
        Ok(_) => {
            s.data
                .insert("enrol_ok".into(), serde_json::Value::Bool(true));
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/staff/totp/enrol"))
        }
        Err(DomainError::Unauthorized(_)) => Ok(see_other("/staff/login")),
        Err(e) => {
            let user = st.accounts.staff.get(fid, StaffId(id)).await?;
            let facility = st.facilities.get(fid).await?;
            enrol_page(
                &ctx,
                FormErrors::from_error(e, ctx.lang)?,
                &s,
                &user,
                &facility.slug,
            )
        }
    }
}

#[derive(Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
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
    let enrolling = s.stage == Stage::NeedsTotpEnrol;
    let Some((id, fid)) = pending_staff(&s, s.stage)
        .filter(|_| s.stage != Stage::Full && s.stage != Stage::Anonymous)
    else {
        return Ok(see_other("/staff/login"));
    };
    if enrolling && !enrol_proved(&s) {
        return Ok(see_other("/staff/totp/enrol"));
    }
    let user = st.accounts.staff.get(fid, StaffId(id)).await?;
    let res = st
        .accounts
        .check_totp(LoginTable::Staff, id, &s.digest, &f.code, &ip)
        .await;
    match res {
        Ok(()) => {
            st.accounts.sessions.delete_digest(&s.digest).await?;
            let token = st
                .accounts
                .open_staff_session(fid, StaffId(id), Stage::Full, &origin.0, &ip, &rid)
                .await?;
            Ok(SetSession::Token(Realm::Staff, token).on(see_other("/staff")))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            if enrolling {
                let facility = st.facilities.get(fid).await?;
                enrol_page(&ctx, errors, &s, &user, &facility.slug)
            } else {
                page_status(
                    form_status(&errors),
                    &TotpPage {
                        needs_enrol_code: false,
                        ctx,
                        errors,
                        action: "/staff/totp",
                        qr_svg: None,
                        secret: String::new(),
                    },
                )
            }
        }
    }
}

async fn logout(State(st): State<AppState>, Sess(s): Sess) -> AppResult<Response> {
    st.accounts.sessions.delete_digest(&s.digest).await?;
    Ok(SetSession::Clear(Realm::Staff).on(see_other("/staff/login")))
}

#[derive(Template)]
#[template(path = "staff/staff_home.html")]
struct Home {
    ctx: PageCtx,
    facility_name: String,
    staff_name: String,
    role_key: &'static str,
    is_admin: bool,
    failed_jobs: usize,
    slug: String,
}

async fn home(State(st): State<AppState>, ctx: PageCtx, me: StaffMember) -> AppResult<Response> {
    let failed_jobs = st.jobs.failed(Some(me.scope())).await?.len();
    page(&Home {
        ctx,
        facility_name: me.facility.name.clone(),
        staff_name: me.user.display_name.clone(),
        role_key: me.user.role.label_key(),
        is_admin: me.user.role == Role::Admin,
        failed_jobs,
        slug: me.facility.slug.clone(),
    })
}

/// A patient row on staff pages.
pub struct PatientRow {
    id: i64,
    chart: String,
    name: String,
    kana: String,
    birth: String,
}

#[derive(Template)]
#[template(path = "staff/staff_patients.html")]
struct Patients {
    ctx: PageCtx,
    rows: Vec<PatientRow>,
}

async fn patients(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
) -> AppResult<Response> {
    let list = st
        .accounts
        .patients_seen_by(&me.by(), me.scope(), 500)
        .await?;
    let rows = list
        .into_iter()
        .map(|fp| PatientRow {
            id: fp.patient.id.0,
            chart: fp.chart_number.clone().unwrap_or_default(),
            name: fp.patient.full_name(),
            kana: fp.patient.full_kana(),
            birth: fp
                .patient
                .birth_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
        })
        .collect();
    page(&Patients { ctx, rows })
}

#[derive(Template)]
#[template(path = "staff/staff_patient.html")]
struct PatientPage {
    ctx: PageCtx,
    errors: FormErrors,
    id: i64,
    name: String,
    kana: String,
    birth: String,
    sex_key: &'static str,
    has_account: bool,
    chart: String,
}

async fn patient_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: PatientId,
    errors: FormErrors,
    chart_input: Option<String>,
) -> AppResult<Response> {
    let fp = st.accounts.patients.get_at(me.scope(), id).await?;
    page_status(
        form_status(&errors),
        &PatientPage {
            ctx,
            errors,
            id: id.0,
            name: fp.patient.full_name(),
            kana: fp.patient.full_kana(),
            birth: fp
                .patient
                .birth_date
                .map(|d| d.to_string())
                .unwrap_or_default(),
            sex_key: fp
                .patient
                .sex
                .map_or("sex.unset", tsunagu_kernel::Sex::label_key),
            has_account: fp.patient.account_id.is_some(),
            chart: chart_input.unwrap_or_else(|| fp.chart_number.unwrap_or_default()),
        },
    )
}

async fn patient(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    st.accounts
        .patient_seen_by(&me.by(), me.scope(), PatientId(id))
        .await?;
    patient_page(&st, ctx, &me, PatientId(id), FormErrors::none(), None).await
}

#[derive(Deserialize, Default)]
pub struct ChartForm {
    #[serde(default)]
    chart_number: String,
}

async fn set_chart(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<ChartForm>,
) -> AppResult<Response> {
    let pid = PatientId(id);
    st.accounts.patients.get_at(me.scope(), pid).await?;
    let res = st
        .accounts
        .set_chart_number(me.scope(), pid, &f.chart_number, &me.by())
        .await;
    match res {
        Ok(()) => Ok(see_other(&format!("/staff/patients/{id}"))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            patient_page(&st, ctx, &me, pid, errors, Some(f.chart_number)).await
        }
    }
}

/// The failed-jobs page of staff and operators.
#[derive(Template)]
#[template(path = "staff/jobs.html")]
pub struct JobsPage {
    pub ctx: PageCtx,
    pub jobs: Vec<tsunagu_jobs::JobRow>,
    pub retry_base: &'static str,
    pub back: &'static str,
}

async fn jobs(State(st): State<AppState>, ctx: PageCtx, me: StaffMember) -> AppResult<Response> {
    let jobs = st.jobs.failed(Some(me.scope())).await?;
    page(&JobsPage {
        ctx,
        jobs,
        retry_base: "/staff/jobs",
        back: "/staff",
    })
}

async fn retry_job(
    State(st): State<AppState>,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    st.jobs.retry(JobId(id), Some(me.scope())).await?;
    Ok(see_other("/staff/jobs"))
}

#[derive(Deserialize, Default, Clone)]
pub(crate) struct StaffForm {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "staff/staff_settings.html")]
struct Settings {
    ctx: PageCtx,
    errors: FormErrors,
    require_totp_all: bool,
    suspended: bool,
    staff: Vec<StaffUser>,
    form: StaffForm,
    link: crate::insurance::staff::LinkView,
    /// A just-issued enrolment code, shown once.
    issued: Option<String>,
    /// The facility's own terms and privacy policy (empty: the platform's default).
    legal: (String, String),
    /// Shown after the texts were saved.
    legal_saved: bool,
    /// The facility's booking slug (its patients' pages).
    slug: String,
    /// When 「ビデオ通話画面へ進む」 appears: minutes before, or `None` for any time.
    video_entry: Option<i64>,
    /// The minutes offered, and whether each is the current one.
    video_entry_choices: Vec<(i64, bool)>,
}

pub(crate) async fn settings_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    errors: FormErrors,
    form: StaffForm,
) -> AppResult<Response> {
    settings_page_with(st, ctx, me, errors, form, SettingsExtra::default()).await
}

/// What the settings page shows beyond the stored settings.
#[derive(Default)]
pub(crate) struct SettingsExtra {
    /// The legal texts as typed, when their form is shown again.
    pub legal: Option<(String, String)>,
    /// The legal texts were just saved.
    pub legal_saved: bool,
    /// A just-issued enrolment code.
    pub issued: Option<String>,
}

/// The settings page with `extra`.
pub(crate) async fn settings_page_with(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    errors: FormErrors,
    form: StaffForm,
    extra: SettingsExtra,
) -> AppResult<Response> {
    use tsunagu_clinics::legal::LegalKind;
    let legal = match extra.legal {
        Some(l) => l,
        None => (
            st.booker
                .legal
                .get(me.scope(), LegalKind::Terms)
                .await?
                .unwrap_or_default(),
            st.booker
                .legal
                .get(me.scope(), LegalKind::Privacy)
                .await?
                .unwrap_or_default(),
        ),
    };
    let facility = st.facilities.get(me.scope()).await?;
    let staff = st.accounts.staff.list(me.scope()).await?;
    let link = crate::insurance::staff::link_view(st, me).await?;
    page_status(
        form_status(&errors),
        &Settings {
            ctx,
            errors,
            require_totp_all: facility.require_totp_all,
            suspended: facility.online_suspended,
            staff,
            form,
            link,
            issued: extra.issued,
            legal_saved: extra.legal_saved,
            legal,
            slug: facility.slug.clone(),
            video_entry: facility.video_entry_minutes,
            video_entry_choices: [5, 10, 15, 30, 60]
                .into_iter()
                .map(|m| (m, facility.video_entry_minutes == Some(m)))
                .collect(),
        },
    )
}

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    #[serde(default)]
    done: String,
}

async fn settings(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(q): Query<SettingsQuery>,
) -> AppResult<Response> {
    me.require_admin()?;
    let form = StaffForm {
        role: "doctor".into(),
        ..StaffForm::default()
    };
    let extra = SettingsExtra {
        legal_saved: q.done == "legal",
        ..SettingsExtra::default()
    };
    settings_page_with(&st, ctx, &me, FormErrors::none(), form, extra).await
}

/// An admin issues a one-time enrolment code for a staff member (a first enrolment, or a
/// lost phone: their current authenticator stops working). Shown once, audited.
async fn issue_enrol_code(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    me.require_admin()?;
    let user = st.accounts.staff.get(me.scope(), StaffId(id)).await?;
    let code = st.accounts.issue_enrolment_code(user.id, &me.by()).await?;
    let issued = tsunagu_i18n::t_args(
        ctx.lang,
        "enrol.issued",
        &[("name", user.display_name.clone()), ("code", code)],
    );
    let form = StaffForm {
        role: "doctor".into(),
        ..StaffForm::default()
    };
    let extra = SettingsExtra {
        issued: Some(issued),
        ..SettingsExtra::default()
    };
    settings_page_with(&st, ctx, &me, FormErrors::none(), form, extra).await
}

#[derive(Deserialize, Default)]
pub struct TotpPolicyForm {
    #[serde(default)]
    require_all: Option<String>,
}

async fn set_totp_policy(
    State(st): State<AppState>,
    me: StaffMember,
    Form(f): Form<TotpPolicyForm>,
) -> AppResult<Response> {
    me.require_admin()?;
    st.booker
        .set_require_totp_all(me.scope(), f.require_all.is_some(), &me.by())
        .await?;
    Ok(see_other("/staff/settings"))
}

async fn add_staff(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<StaffForm>,
) -> AppResult<Response> {
    me.require_admin()?;
    let res = async {
        let mut v = tsunagu_kernel::error::Validator::new();
        let login_id = v.check(StaffStore::parse_login_id("login_id", &f.login_id))?;
        let name = v.check(tsunagu_kernel::values::person_name(
            "display_name",
            &f.display_name,
            60,
        ))?;
        let role = v.check(Role::parse("role", &f.role))?;
        v.check(tsunagu_accounts::password::validate_new(
            "password",
            &f.password,
        ))?;
        v.finish()?;
        let (Some(login_id), Some(display_name), Some(role)) = (login_id, name, role) else {
            return Err(DomainError::internal(anyhow::anyhow!(
                "validated staff form incomplete"
            )));
        };
        st.accounts
            .create_staff(
                me.scope(),
                &NewStaff {
                    login_id,
                    display_name,
                    role,
                    medical_registration_year: None,
                },
                &f.password,
                &me.by(),
            )
            .await
    }
    .await;
    match res {
        Ok(_) => Ok(see_other("/staff/settings")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            settings_page(
                &st,
                ctx,
                &me,
                errors,
                StaffForm {
                    password: String::new(),
                    ..f
                },
            )
            .await
        }
    }
}

/// The audit page of facility admins and operators.
#[derive(Template)]
#[template(path = "staff/audit.html")]
pub struct AuditPage {
    pub ctx: PageCtx,
    pub events: Vec<Event>,
    pub verdict: Option<String>,
    pub show_verify: bool,
    pub back: &'static str,
}

async fn audit(State(st): State<AppState>, ctx: PageCtx, me: StaffMember) -> AppResult<Response> {
    me.require_admin()?;
    let events = st.audit.recent(Some(me.scope()), 300).await?;
    page(&AuditPage {
        ctx,
        events,
        verdict: None,
        show_verify: false,
        back: "/staff",
    })
}
