//! The patient's my page (A6): account and notification settings, family members (A5),
//! email verification, login details, "who viewed my record", log out everywhere.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use tsunagu_accounts::codes::Purpose;
use tsunagu_accounts::{Patient, Realm};
use tsunagu_kernel::{DomainError, Email, FacilityId, PatientId, Phone};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::forms::{PatientForm, check_confirm, today_jst};
use crate::render::{form_status, page, page_status};
use crate::session::{ClientIp, PatientUser, SetSession, see_other};
use crate::state::AppState;

/// A patient as listed on the my page.
pub struct PersonRow {
    id: i64,
    name: String,
    kana: String,
    birth: String,
    sex_key: &'static str,
    is_self: bool,
    insured: bool,
}

fn person_row(p: &Patient, insured: bool) -> PersonRow {
    PersonRow {
        id: p.id.0,
        name: p.full_name(),
        kana: p.full_kana(),
        birth: p
            .birth_date
            .map(|d| d.strftime("%Y/%m/%d").to_string())
            .unwrap_or_default(),
        sex_key: p.sex.map_or("sex.unset", tsunagu_kernel::Sex::label_key),
        is_self: p.relation == tsunagu_accounts::Relation::Myself,
        insured,
    }
}

#[derive(Template)]
#[template(path = "accounts/my.html")]
struct MyPage {
    ctx: PageCtx,
    phone_display: String,
    email: Option<String>,
    notify_channel: String,
    patients: Vec<PersonRow>,
    session_count: i64,
    notice: Option<&'static str>,
    /// No live booking yet: the page shows what to do next (find a clinic and book).
    next_step: bool,
    /// Whether every person of the account has registered insurance.
    all_insured: bool,
}

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    welcome: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

pub async fn home(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Query(q): Query<Notice>,
) -> AppResult<Response> {
    let account = st.accounts.patients.account(user.account).await?;
    let patients = st.accounts.patients.patients_of(user.account).await?;
    let session_count = st
        .accounts
        .sessions
        .count_for(Realm::Patient, user.account.0)
        .await?;
    let mut rows = Vec::with_capacity(patients.len());
    let mut all_insured = true;
    for p in &patients {
        let insured = st.insurance.get(p.id).await?.is_some();
        all_insured &= insured;
        rows.push(person_row(p, insured));
    }
    let next_step = st
        .booker
        .bookings
        .upcoming_for_account(user.account, st.booker.now_ms())
        .await?
        .is_empty();
    let notice = if q.welcome.is_some() {
        Some("my.welcome")
    } else {
        match q.done.as_deref() {
            Some("email") => Some("email.verified"),
            Some("password") => Some("login_details.password_changed"),
            Some("phone") => Some("login_details.phone_changed"),
            Some("family") => Some("my.family_saved"),
            _ => None,
        }
    };
    page(&MyPage {
        ctx,
        phone_display: account.phone.display_domestic(),
        email: account.email.map(|e| e.as_str().to_string()),
        notify_channel: account.notify_channel,
        patients: rows,
        session_count,
        notice,
        next_step,
        all_insured,
    })
}

pub async fn logout_everywhere(
    State(st): State<AppState>,
    user: PatientUser,
) -> AppResult<Response> {
    st.accounts
        .sessions
        .delete_all(Realm::Patient, user.account.0)
        .await?;
    Ok(SetSession::Clear(Realm::Patient).on(see_other("/login")))
}

#[derive(Template)]
#[template(path = "accounts/family_form.html")]
struct FamilyForm {
    ctx: PageCtx,
    errors: FormErrors,
    form: PatientForm,
    title_key: &'static str,
    action: String,
    delete_action: Option<String>,
}

pub async fn family_new(ctx: PageCtx, _user: PatientUser) -> AppResult<Response> {
    page(&FamilyForm {
        ctx,
        errors: FormErrors::none(),
        form: PatientForm::default(),
        title_key: "my.add_family",
        action: "/my/family/new".into(),
        delete_action: None,
    })
}

pub async fn family_create(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Form(f): Form<PatientForm>,
) -> AppResult<Response> {
    let res = async {
        let p = f.parse(today_jst(&st))?;
        st.accounts.patients.add_family(user.account, &p).await
    }
    .await;
    match res {
        Ok(_) => Ok(see_other("/my?done=family")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            page_status(
                form_status(&errors),
                &FamilyForm {
                    ctx,
                    errors,
                    form: f.without_secrets(),
                    title_key: "my.add_family",
                    action: "/my/family/new".into(),
                    delete_action: None,
                },
            )
        }
    }
}

fn form_of(p: &Patient) -> PatientForm {
    PatientForm {
        family_name: p.family_name.clone(),
        given_name: p.given_name.clone(),
        family_name_kana: p.family_name_kana.clone(),
        given_name_kana: p.given_name_kana.clone(),
        birth_date: p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
        sex: p.sex.map(|s| s.code().to_string()).unwrap_or_default(),
        ..PatientForm::default()
    }
    .with_wareki()
}

fn edit_page(
    ctx: PageCtx,
    errors: FormErrors,
    form: PatientForm,
    id: i64,
    is_self: bool,
) -> AppResult<Response> {
    page_status(
        form_status(&errors),
        &FamilyForm {
            ctx,
            errors,
            form,
            title_key: if is_self {
                "my.edit_self"
            } else {
                "my.edit_family"
            },
            action: format!("/my/family/{id}/edit"),
            delete_action: (!is_self).then(|| format!("/my/family/{id}/delete")),
        },
    )
}

pub async fn family_edit(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let p = st
        .accounts
        .patients
        .patient_of(user.account, PatientId(id))
        .await?;
    let is_self = p.relation == tsunagu_accounts::Relation::Myself;
    edit_page(ctx, FormErrors::none(), form_of(&p), id, is_self)
}

pub async fn family_update(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
    Form(f): Form<PatientForm>,
) -> AppResult<Response> {
    let existing = st
        .accounts
        .patients
        .patient_of(user.account, PatientId(id))
        .await?;
    let is_self = existing.relation == tsunagu_accounts::Relation::Myself;
    let res = async {
        let p = f.parse(today_jst(&st))?;
        st.accounts
            .patients
            .update_of(user.account, PatientId(id), &p)
            .await
    }
    .await;
    match res {
        Ok(()) => Ok(see_other("/my?done=family")),
        Err(e) => edit_page(
            ctx.clone(),
            FormErrors::from_error(e, ctx.lang)?,
            f.without_secrets(),
            id,
            is_self,
        ),
    }
}

pub async fn family_delete(
    State(st): State<AppState>,
    user: PatientUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    st.accounts
        .patients
        .remove_family(user.account, PatientId(id))
        .await?;
    Ok(see_other("/my?done=family"))
}

#[derive(Template)]
#[template(path = "accounts/email.html")]
struct EmailPage {
    ctx: PageCtx,
    errors: FormErrors,
    email: String,
    current: Option<String>,
    notify_channel: String,
    sent: bool,
}

#[derive(Deserialize, Default)]
pub struct SentQuery {
    #[serde(default)]
    sent: Option<String>,
}

async fn email_page(
    st: &AppState,
    ctx: PageCtx,
    user: &PatientUser,
    errors: FormErrors,
    email: String,
    sent: bool,
) -> AppResult<Response> {
    let account = st.accounts.patients.account(user.account).await?;
    page_status(
        form_status(&errors),
        &EmailPage {
            ctx,
            errors,
            email,
            current: account.email.map(|e| e.as_str().to_string()),
            notify_channel: account.notify_channel,
            sent,
        },
    )
}

pub async fn email_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Query(q): Query<SentQuery>,
) -> AppResult<Response> {
    email_page(
        &st,
        ctx,
        &user,
        FormErrors::none(),
        String::new(),
        q.sent.is_some(),
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

pub async fn email_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Form(f): Form<EmailForm>,
) -> AppResult<Response> {
    let res = async {
        let email = Email::parse("email", &f.email)?;
        st.accounts
            .request_email(user.account, &email, &st.config.public_url, ctx.lang)
            .await
    }
    .await;
    match res {
        Ok(()) => Ok(see_other("/my/email?sent=1")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            email_page(&st, ctx, &user, errors, f.email, false).await
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/message.html")]
struct Message {
    ctx: PageCtx,
    title_key: &'static str,
    body_key: &'static str,
    link: &'static str,
    link_key: &'static str,
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The email link works without being signed in (it is opened in the mail app's browser).
pub async fn email_verify(
    State(st): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<TokenQuery>,
) -> AppResult<Response> {
    match st.accounts.verify_email(&q.token).await {
        Ok(_) => page(&Message {
            ctx,
            title_key: "email.verified_title",
            body_key: "email.verified",
            link: "/my",
            link_key: "nav.mypage",
        }),
        Err(DomainError::Invalid(fields)) => {
            let key = fields.first().map_or("error.email_link.invalid", |f| f.key);
            page_status(
                axum::http::StatusCode::BAD_REQUEST,
                &Message {
                    ctx,
                    title_key: "email.link_problem",
                    body_key: key,
                    link: "/my/email",
                    link_key: "email.title",
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct ChannelForm {
    #[serde(default)]
    channel: String,
}

pub async fn notify_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Form(f): Form<ChannelForm>,
) -> AppResult<Response> {
    match st
        .accounts
        .patients
        .set_notify_channel(user.account, &f.channel)
        .await
    {
        Ok(()) => Ok(see_other("/my")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            email_page(&st, ctx, &user, errors, String::new(), false).await
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/login_details.html")]
struct LoginDetails {
    ctx: PageCtx,
    errors: FormErrors,
    phone_display: String,
    new_phone: String,
    notice: Option<&'static str>,
}

async fn login_details_page(
    st: &AppState,
    ctx: PageCtx,
    user: &PatientUser,
    errors: FormErrors,
    new_phone: String,
) -> AppResult<Response> {
    let account = st.accounts.patients.account(user.account).await?;
    page_status(
        form_status(&errors),
        &LoginDetails {
            ctx,
            errors,
            phone_display: account.phone.display_domestic(),
            new_phone,
            notice: None,
        },
    )
}

pub async fn login_details(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
) -> AppResult<Response> {
    login_details_page(&st, ctx, &user, FormErrors::none(), String::new()).await
}

#[derive(Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn password_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Form(f): Form<PasswordForm>,
) -> AppResult<Response> {
    let res = async {
        check_confirm(&f.password, &f.password_confirm)?;
        st.accounts
            .change_password(
                user.account,
                &f.current_password,
                &f.password,
                &user.session.digest,
            )
            .await
    }
    .await;
    match res {
        Ok(()) => Ok(see_other("/my?done=password")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            login_details_page(&st, ctx, &user, errors, String::new()).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
}

pub async fn phone_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    ClientIp(ip): ClientIp,
    Form(f): Form<PhoneForm>,
) -> AppResult<Response> {
    let res = async {
        let phone = Phone::parse("phone", &f.phone)?;
        st.accounts
            .send_code(Purpose::PhoneChange, &phone, &ip, ctx.lang)
            .await?;
        Ok::<_, DomainError>(phone)
    }
    .await;
    match res {
        Ok(phone) => {
            let mut s = user.session.clone();
            s.data.insert("phone_change".into(), phone.e164().into());
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/my/phone/verify"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            login_details_page(&st, ctx, &user, errors, f.phone).await
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/code_entry.html")]
struct CodeEntry {
    ctx: PageCtx,
    errors: FormErrors,
    title_key: &'static str,
    show_steps: bool,
    phone_display: String,
    action: &'static str,
    resend_action: &'static str,
    with_password: bool,
    code: String,
}

fn pending_phone(user: &PatientUser) -> Option<Phone> {
    user.session
        .data
        .get("phone_change")
        .and_then(|v| v.as_str())
        .map(|s| Phone::from_stored(s.to_string()))
}

fn phone_code_page(ctx: PageCtx, errors: FormErrors, phone: &Phone) -> AppResult<Response> {
    page_status(
        form_status(&errors),
        &CodeEntry {
            ctx,
            errors,
            title_key: "login_details.phone",
            show_steps: false,
            phone_display: phone.display_domestic(),
            action: "/my/phone/verify",
            resend_action: "/my/phone/resend",
            with_password: false,
            code: String::new(),
        },
    )
}

pub async fn phone_verify_form(ctx: PageCtx, user: PatientUser) -> AppResult<Response> {
    match pending_phone(&user) {
        Some(p) => phone_code_page(ctx, FormErrors::none(), &p),
        None => Ok(see_other("/my/login")),
    }
}

#[derive(Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn phone_verify_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    ClientIp(ip): ClientIp,
    Form(f): Form<CodeForm>,
) -> AppResult<Response> {
    let Some(phone) = pending_phone(&user) else {
        return Ok(see_other("/my/login"));
    };
    let res = async {
        st.accounts
            .check_code(Purpose::PhoneChange, &phone, &f.code, &ip)
            .await?;
        st.accounts.patients.set_phone(user.account, &phone).await
    }
    .await;
    match res {
        Ok(()) => {
            let mut s = user.session.clone();
            s.data.remove("phone_change");
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/my?done=phone"))
        }
        Err(e) => phone_code_page(ctx.clone(), FormErrors::from_error(e, ctx.lang)?, &phone),
    }
}

pub async fn phone_resend(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let Some(phone) = pending_phone(&user) else {
        return Ok(see_other("/my/login"));
    };
    let errors = match st
        .accounts
        .send_code(Purpose::PhoneChange, &phone, &ip, ctx.lang)
        .await
    {
        Ok(()) => FormErrors::none(),
        Err(e) => FormErrors::from_error(e, ctx.lang)?,
    };
    phone_code_page(ctx, errors, &phone)
}

/// One line of "who viewed my record".
pub struct AccessRow {
    when: String,
    facility: String,
    who: String,
    action_key: String,
    patient: String,
}

#[derive(Template)]
#[template(path = "accounts/access_log.html")]
struct AccessLog {
    ctx: PageCtx,
    rows: Vec<AccessRow>,
}

/// Staff accesses to the account's patients, from the audit log.
pub async fn access_log(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
) -> AppResult<Response> {
    let patients = st.accounts.patients.patients_of(user.account).await?;
    let names: HashMap<i64, String> = patients.iter().map(|p| (p.id.0, p.full_name())).collect();
    let ids: Vec<PatientId> = patients.iter().map(|p| p.id).collect();
    let events = st.audit.staff_access_to(&ids, 200).await?;
    let mut facility_names: HashMap<i64, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let facility = match e.facility_id {
            Some(fid) => match facility_names.get(&fid) {
                Some(name) => name.clone(),
                None => {
                    let name = st
                        .facilities
                        .get(FacilityId(fid))
                        .await
                        .map(|f| f.name)
                        .unwrap_or_default();
                    facility_names.insert(fid, name.clone());
                    name
                }
            },
            None => String::new(),
        };
        rows.push(AccessRow {
            when: ctx.datetime(&e.at),
            facility,
            who: e.actor_label,
            action_key: format!("audit_action.{}", e.action),
            patient: e
                .patient_id
                .and_then(|p| names.get(&p).cloned())
                .unwrap_or_default(),
        });
    }
    page(&AccessLog { ctx, rows })
}
