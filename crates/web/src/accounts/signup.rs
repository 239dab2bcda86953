//! Patient sign-up (phone → SMS code → profile and password), login, logout, and the
//! password reset through an SMS code (A1, A2).
//!
//! Flow state lives in the server-side session: the number a code was sent to, then the
//! number proved by the code. Nothing is written to `accounts` until the last step, so an
//! abandoned or failed sign-up leaves no half-made account.

use crate::forms::{PatientForm, check_confirm, today_jst};
use crate::session::OriginExt;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use tsunagu_accounts::codes::Purpose;
use tsunagu_accounts::{Realm, Stage};
use tsunagu_kernel::{DomainError, Phone};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page, page_status};
use crate::session::{ClientIp, Sess, SetSession, see_other};
use crate::state::AppState;

/// How long a proved number may wait for the profile form.
const VERIFIED_TTL_MS: i64 = 30 * 60 * 1000;

#[derive(Template)]
#[template(path = "accounts/signup_phone.html")]
struct SignupPhone {
    ctx: PageCtx,
    errors: FormErrors,
    phone: String,
}

#[derive(Deserialize, Default)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
}

pub async fn signup_form(ctx: PageCtx) -> AppResult<Response> {
    page(&SignupPhone {
        ctx,
        errors: FormErrors::none(),
        phone: String::new(),
    })
}

pub async fn signup_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(mut s): Sess,
    ClientIp(ip): ClientIp,
    Form(f): Form<PhoneForm>,
) -> AppResult<Response> {
    let res = async {
        let phone = Phone::parse("phone", &f.phone)?;
        st.accounts
            .send_code(Purpose::Signup, &phone, &ip, ctx.lang)
            .await?;
        Ok::<_, DomainError>(phone)
    }
    .await;
    match res {
        Ok(phone) => {
            s.data.insert("signup_phone".into(), phone.e164().into());
            s.data.remove("signup_verified");
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/signup/verify"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            page_status(
                form_status(&errors),
                &SignupPhone {
                    ctx,
                    errors,
                    phone: f.phone,
                },
            )
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
    /// The code as typed, kept when the error was elsewhere (a weak new password), so a
    /// correct code need not be typed again.
    code: String,
}

fn session_phone(s: &tsunagu_accounts::Session, key: &str) -> Option<Phone> {
    s.data
        .get(key)
        .and_then(|v| v.as_str())
        .map(|p| Phone::from_stored(p.to_string()))
}

fn signup_code_page(ctx: PageCtx, errors: FormErrors, phone: &Phone) -> AppResult<Response> {
    page_status(
        form_status(&errors),
        &CodeEntry {
            ctx,
            errors,
            title_key: "signup.title",
            show_steps: true,
            phone_display: phone.display_domestic(),
            action: "/signup/verify",
            resend_action: "/signup/resend",
            with_password: false,
            code: String::new(),
        },
    )
}

pub async fn verify_form(ctx: PageCtx, Sess(s): Sess) -> AppResult<Response> {
    match session_phone(&s, "signup_phone") {
        Some(phone) => signup_code_page(ctx, FormErrors::none(), &phone),
        None => Ok(see_other("/signup")),
    }
}

#[derive(Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn verify_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(mut s): Sess,
    ClientIp(ip): ClientIp,
    Form(f): Form<CodeForm>,
) -> AppResult<Response> {
    let Some(phone) = session_phone(&s, "signup_phone") else {
        return Ok(see_other("/signup"));
    };
    match st
        .accounts
        .check_code(Purpose::Signup, &phone, &f.code, &ip)
        .await
    {
        Ok(()) => {
            s.data.insert(
                "signup_verified".into(),
                serde_json::json!({ "phone": phone.e164(), "at": st.clock.now_ms() }),
            );
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/signup/profile"))
        }
        Err(e) => signup_code_page(ctx.clone(), FormErrors::from_error(e, ctx.lang)?, &phone),
    }
}

pub async fn resend(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let Some(phone) = session_phone(&s, "signup_phone") else {
        return Ok(see_other("/signup"));
    };
    let errors = match st
        .accounts
        .send_code(Purpose::Signup, &phone, &ip, ctx.lang)
        .await
    {
        Ok(()) => FormErrors::none(),
        Err(e) => FormErrors::from_error(e, ctx.lang)?,
    };
    signup_code_page(ctx, errors, &phone)
}

#[derive(Template)]
#[template(path = "accounts/signup_profile.html")]
struct SignupProfile {
    ctx: PageCtx,
    errors: FormErrors,
    form: PatientForm,
    phone_display: String,
}

fn verified_phone(st: &AppState, s: &tsunagu_accounts::Session) -> Option<Phone> {
    let v = s.data.get("signup_verified")?;
    let at = v.get("at")?.as_i64()?;
    if st.clock.now_ms() - at > VERIFIED_TTL_MS {
        return None;
    }
    Some(Phone::from_stored(v.get("phone")?.as_str()?.to_string()))
}

pub async fn profile_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
) -> AppResult<Response> {
    let Some(phone) = verified_phone(&st, &s) else {
        return Ok(see_other("/signup"));
    };
    page(&SignupProfile {
        ctx,
        errors: FormErrors::none(),
        form: PatientForm::default(),
        phone_display: phone.display_domestic(),
    })
}

pub async fn profile_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    origin: OriginExt,
    Form(f): Form<PatientForm>,
) -> AppResult<Response> {
    let Some(phone) = verified_phone(&st, &s) else {
        return Ok(see_other("/signup"));
    };
    let res = async {
        let mut v = tsunagu_kernel::error::Validator::new();
        let me = v.check(f.parse(today_jst(&st)))?;
        v.check(tsunagu_accounts::password::validate_new(
            "password",
            &f.password,
        ))?;
        v.check(check_confirm(&f.password, &f.password_confirm))?;
        if !f.agree {
            v.push(tsunagu_kernel::FieldError::new(
                "agree",
                "error.agree.required",
            ));
        }
        v.finish()?;
        let me =
            me.ok_or_else(|| DomainError::internal(anyhow::anyhow!("validated profile missing")))?;
        st.accounts.complete_signup(&phone, &f.password, &me).await
    }
    .await;
    match res {
        Ok(account) => {
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
            Ok(SetSession::Token(Realm::Patient, token).on(see_other("/my?welcome=1")))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            page_status(
                form_status(&errors),
                &SignupProfile {
                    ctx,
                    errors,
                    form: f.without_secrets(),
                    phone_display: phone.display_domestic(),
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/login.html")]
struct Login {
    ctx: PageCtx,
    errors: FormErrors,
    phone: String,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    reset: Option<String>,
}

pub async fn login_form(
    ctx: PageCtx,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> AppResult<Response> {
    page(&Login {
        ctx,
        errors: FormErrors::none(),
        phone: String::new(),
        notice: q.reset.map(|_| "reset.done"),
    })
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
}

pub async fn login_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    ClientIp(ip): ClientIp,
    origin: OriginExt,
    Form(f): Form<LoginForm>,
) -> AppResult<Response> {
    match st.accounts.patient_login(&f.phone, &f.password, &ip).await {
        Ok(account) => {
            // A new token at login: a session id planted before login is worthless after it.
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
            Ok(SetSession::Token(Realm::Patient, token).on(see_other("/my")))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            page_status(
                form_status(&errors),
                &Login {
                    ctx,
                    errors,
                    phone: f.phone,
                    notice: None,
                },
            )
        }
    }
}

pub async fn logout(State(st): State<AppState>, Sess(s): Sess) -> AppResult<Response> {
    st.accounts.sessions.delete_digest(&s.digest).await?;
    Ok(SetSession::Clear(Realm::Patient).on(see_other("/")))
}

#[derive(Template)]
#[template(path = "accounts/forgot.html")]
struct Forgot {
    ctx: PageCtx,
    errors: FormErrors,
    phone: String,
}

pub async fn forgot_form(ctx: PageCtx) -> AppResult<Response> {
    page(&Forgot {
        ctx,
        errors: FormErrors::none(),
        phone: String::new(),
    })
}

pub async fn forgot_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(mut s): Sess,
    ClientIp(ip): ClientIp,
    Form(f): Form<PhoneForm>,
) -> AppResult<Response> {
    let res = async {
        let phone = Phone::parse("phone", &f.phone)?;
        st.accounts
            .send_code(Purpose::Reset, &phone, &ip, ctx.lang)
            .await?;
        Ok::<_, DomainError>(phone)
    }
    .await;
    match res {
        Ok(phone) => {
            s.data.insert("reset_phone".into(), phone.e164().into());
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/password/reset"))
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            page_status(
                form_status(&errors),
                &Forgot {
                    ctx,
                    errors,
                    phone: f.phone,
                },
            )
        }
    }
}

fn reset_page(
    ctx: PageCtx,
    errors: FormErrors,
    phone: &Phone,
    code: String,
) -> AppResult<Response> {
    page_status(
        form_status(&errors),
        &CodeEntry {
            ctx,
            errors,
            title_key: "reset.title",
            show_steps: false,
            phone_display: phone.display_domestic(),
            action: "/password/reset",
            resend_action: "/password/resend",
            with_password: true,
            code,
        },
    )
}

pub async fn reset_form(ctx: PageCtx, Sess(s): Sess) -> AppResult<Response> {
    match session_phone(&s, "reset_phone") {
        Some(phone) => reset_page(ctx, FormErrors::none(), &phone, String::new()),
        None => Ok(see_other("/password/forgot")),
    }
}

#[derive(Deserialize, Default)]
pub struct ResetForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn reset_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(mut s): Sess,
    ClientIp(ip): ClientIp,
    Form(f): Form<ResetForm>,
) -> AppResult<Response> {
    let Some(phone) = session_phone(&s, "reset_phone") else {
        return Ok(see_other("/password/forgot"));
    };
    let res = async {
        // Check the new password first: a typo there must not burn the code.
        let mut v = tsunagu_kernel::error::Validator::new();
        v.check(tsunagu_accounts::password::validate_new(
            "password",
            &f.password,
        ))?;
        v.check(check_confirm(&f.password, &f.password_confirm))?;
        v.finish()?;
        st.accounts
            .check_code(Purpose::Reset, &phone, &f.code, &ip)
            .await?;
        st.accounts.complete_reset(&phone, &f.password).await
    }
    .await;
    match res {
        Ok(_) => {
            s.data.remove("reset_phone");
            st.accounts.sessions.save_data(&s).await?;
            Ok(see_other("/login?reset=1"))
        }
        Err(e) => {
            // Only the code's own error clears it; a password error keeps what was typed.
            let code_wrong =
                matches!(&e, DomainError::Invalid(fs) if fs.iter().any(|f| f.field == "code"));
            let kept = if code_wrong {
                String::new()
            } else {
                f.code.clone()
            };
            reset_page(
                ctx.clone(),
                FormErrors::from_error(e, ctx.lang)?,
                &phone,
                kept,
            )
        }
    }
}

pub async fn reset_resend(
    State(st): State<AppState>,
    ctx: PageCtx,
    Sess(s): Sess,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let Some(phone) = session_phone(&s, "reset_phone") else {
        return Ok(see_other("/password/forgot"));
    };
    let errors = match st
        .accounts
        .send_code(Purpose::Reset, &phone, &ip, ctx.lang)
        .await
    {
        Ok(()) => FormErrors::none(),
        Err(e) => FormErrors::from_error(e, ctx.lang)?,
    };
    reset_page(ctx, errors, &phone, String::new())
}
