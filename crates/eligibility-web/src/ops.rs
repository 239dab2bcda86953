//! The operating body's (実施機関) management screen on the eligibility service: medical
//! institutions and their accounts (general, medical-information viewer, admin), new
//! passwords for accounts, and importing qualification records from a CSV or result XML
//! file. Operator accounts only; every rule is checked again in the store. A successful
//! POST answers 303 to the page with a `done=` flag; the message is built from what the
//! store holds, never from text in the URL. A refused POST answers 422 with the page
//! again: every value as typed (never a password), each message under its field.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tsunagu_eligibility::access::{Account, Role};
use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_kernel::DomainError;
use tsunagu_kernel::error::Validator;

use crate::{EligState, Me, message, page, who};
use tsunagu_webkit::error::{AppError, AppResult};
use tsunagu_webkit::form::FormErrors;

/// Largest import file accepted through the screen; bigger loads use `tsunagu eligibility import`.
const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;

pub fn router() -> Router<EligState> {
    Router::new()
        .route("/ops/institutions", get(institutions).post(add_institution))
        .route("/ops/accounts", post(add_account))
        .route("/ops/accounts/{id}/password", post(reset_password))
        .route(
            "/ops/import",
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES + 64 * 1024)),
        )
}

/// One institution with its accounts.
pub struct InstitutionRow {
    code: String,
    name: String,
    accounts: Vec<Account>,
}

#[derive(Template)]
#[template(path = "elig/institutions.html")]
struct InstitutionsPage {
    who: crate::Header,
    csrf: String,
    errors: Vec<String>,
    notice: Option<String>,
    institutions: Vec<InstitutionRow>,
    roles: [Role; 3],
    /// The institution form as typed, after a refusal (empty otherwise).
    institution: InstitutionForm,
    /// The institution form's messages, per field.
    institution_errors: FormErrors,
    /// The account form as typed, after a refusal (empty otherwise; never the password).
    account: AccountForm,
    /// The account form's messages, per field.
    account_errors: FormErrors,
    /// The account whose password reset was refused, and its messages.
    reset_for: Option<i64>,
    reset_errors: FormErrors,
}

impl InstitutionsPage {
    /// The refused password reset's message for account `a`, under that row's field.
    fn reset_error(&self, a: &Account) -> Option<&str> {
        if self.reset_for == Some(a.id) {
            self.reset_errors.get("password")
        } else {
            None
        }
    }
}

/// The page's forms as typed after a refusal, with their messages; empty on a plain visit.
#[derive(Default)]
struct Forms {
    institution: InstitutionForm,
    institution_errors: FormErrors,
    account: AccountForm,
    account_errors: FormErrors,
    reset_for: Option<i64>,
    reset_errors: FormErrors,
}

impl Forms {
    fn any(&self) -> bool {
        self.institution_errors.any() || self.account_errors.any() || self.reset_errors.any()
    }
}

async fn render(
    st: &EligState,
    me: &Me,
    errors: Vec<String>,
    notice: Option<String>,
    forms: Forms,
) -> AppResult<Response> {
    let mut accounts = st.search.access.institution_accounts(&me.account).await?;
    let institutions = st
        .search
        .access
        .institutions(&me.account)
        .await?
        .into_iter()
        .map(|(code, name)| {
            let (mine, rest): (Vec<Account>, Vec<Account>) = accounts
                .drain(..)
                .partition(|a| a.institution_code.as_deref() == Some(code.as_str()));
            accounts = rest;
            InstitutionRow {
                code,
                name,
                accounts: mine,
            }
        })
        .collect();
    let status = if errors.is_empty() && !forms.any() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let Forms {
        institution,
        institution_errors,
        mut account,
        account_errors,
        reset_for,
        reset_errors,
    } = forms;
    // A password is never sent back, not even in a hidden field.
    account.password.clear();
    let r = page(&InstitutionsPage {
        who: who(me),
        csrf: me.session.csrf.clone(),
        errors,
        notice,
        institutions,
        roles: [Role::General, Role::Viewer, Role::Admin],
        institution,
        institution_errors,
        account,
        account_errors,
        reset_for,
        reset_errors,
    })?;
    Ok((status, r).into_response())
}

/// A form shown again with what was typed and its messages (422): `summary` says which
/// form at the top of the page, the form's general messages follow it.
async fn refused(st: &EligState, me: &Me, summary: &str, forms: Forms) -> AppResult<Response> {
    let mut errors = vec![t(Lang::Ja, summary).into_owned()];
    for e in [
        &forms.institution_errors,
        &forms.account_errors,
        &forms.reset_errors,
    ] {
        errors.extend(e.general.iter().cloned());
    }
    render(st, me, errors, None, forms).await
}

/// The store's refusal as the form's messages. A unique-key conflict (the code or login
/// ID already taken) belongs under the field that repeats it; what a form cannot show
/// goes to the error page.
fn form_errors(e: DomainError, conflict_field: &'static str) -> AppResult<FormErrors> {
    let e = match e {
        DomainError::Conflict(key) => DomainError::invalid(conflict_field, key),
        other => other,
    };
    FormErrors::from_error(e, Lang::Ja).map_err(AppError)
}

/// Shows the page again with the domain error's message, or the error page for what a
/// form cannot show.
async fn failed(st: &EligState, me: &Me, e: DomainError) -> AppResult<Response> {
    let msg = message(e)?;
    render(st, me, vec![msg], None, Forms::default()).await
}

fn operator_only(me: &Me) -> AppResult<()> {
    if me.account.role == Role::Operator {
        Ok(())
    } else {
        Err(AppError(DomainError::Forbidden(
            "error.eligibility.operator_only",
        )))
    }
}

/// What a redirect after a successful POST carries: the kind of completion and the id or
/// counts it concerns.
#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
    /// The institution registered.
    #[serde(default)]
    code: String,
    /// The account issued.
    id: Option<i64>,
    /// Records imported, and those already held.
    imported: Option<u64>,
    held: Option<u64>,
}

async fn institutions(
    State(st): State<EligState>,
    me: Me,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    operator_only(&me)?;
    let notice = match q.done.as_str() {
        "institution" => st
            .search
            .access
            .institutions(&me.account)
            .await?
            .into_iter()
            .find(|(code, _)| *code == q.code)
            .map(|(code, name)| {
                t_args(
                    Lang::Ja,
                    "elig.done_institution",
                    &[("code", code), ("name", name)],
                )
            }),
        "account" => st
            .search
            .access
            .institution_accounts(&me.account)
            .await?
            .into_iter()
            .find(|a| Some(a.id) == q.id)
            .map(|a| {
                t_args(
                    Lang::Ja,
                    "elig.done_account",
                    &[
                        ("institution", a.institution_code.unwrap_or_default()),
                        ("role", a.role.label().to_string()),
                        ("login", a.login_id),
                    ],
                )
            }),
        "password" => Some(t(Lang::Ja, "elig.done_password").into_owned()),
        "import" => match (q.imported, q.held) {
            (Some(imported), Some(held)) => Some(t_args(
                Lang::Ja,
                "elig.done_import",
                &[
                    ("imported", imported.to_string()),
                    ("held", held.to_string()),
                ],
            )),
            _ => None,
        },
        _ => None,
    };
    render(&st, &me, Vec::new(), notice, Forms::default()).await
}

/// The institution form as typed (shown again as typed when refused).
#[derive(Deserialize, Default)]
pub struct InstitutionForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
}

async fn add_institution(
    State(st): State<EligState>,
    me: Me,
    Form(f): Form<InstitutionForm>,
) -> AppResult<Response> {
    operator_only(&me)?;
    let code: String = f.code.trim().chars().filter(|c| *c != '-').collect();
    // Check both fields, so one answer names every mistake; the store checks the code again.
    let mut v = Validator::new();
    if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_digit()) {
        v.push(tsunagu_kernel::FieldError::new(
            "code",
            "error.eligibility.institution_code",
        ));
    }
    let name = v.check(tsunagu_kernel::values::person_name("name", &f.name, 80))?;
    let result = match (v.finish(), name) {
        (Ok(()), Some(name)) => st.search.access.create_institution(&code, &name).await,
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(DomainError::invalid("name", "error.required")),
    };
    match result {
        Ok(()) => Ok(
            Redirect::to(&format!("/ops/institutions?done=institution&code={code}"))
                .into_response(),
        ),
        Err(e) => {
            let forms = Forms {
                institution_errors: form_errors(e, "code")?,
                institution: f,
                ..Forms::default()
            };
            refused(&st, &me, "elig.institution_refused", forms).await
        }
    }
}

/// The account form as typed (shown again as typed when refused, the password emptied).
#[derive(Deserialize, Default)]
pub struct AccountForm {
    #[serde(default)]
    institution: String,
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn add_account(
    State(st): State<EligState>,
    me: Me,
    Form(f): Form<AccountForm>,
) -> AppResult<Response> {
    operator_only(&me)?;
    match issue_account(&st, &me, &f).await {
        Ok(id) => {
            Ok(Redirect::to(&format!("/ops/institutions?done=account&id={id}")).into_response())
        }
        Err(e) => {
            let forms = Forms {
                account_errors: form_errors(e, "login_id")?,
                account: f,
                ..Forms::default()
            };
            refused(&st, &me, "elig.account_refused", forms).await
        }
    }
}

/// Checks every field of the account form (one answer names every mistake), then issues
/// the account.
async fn issue_account(st: &EligState, me: &Me, f: &AccountForm) -> Result<i64, DomainError> {
    let mut v = Validator::new();
    let login = v.check(tsunagu_accounts::StaffStore::parse_login_id(
        "login_id",
        &f.login_id,
    ))?;
    let name = v.check(tsunagu_kernel::values::person_name(
        "display_name",
        &f.display_name,
        40,
    ))?;
    let role = match Role::parse(f.role.trim()) {
        Some(r @ (Role::General | Role::Viewer | Role::Admin)) => Some(r),
        _ => {
            v.push(tsunagu_kernel::FieldError::new(
                "role",
                "error.invalid_choice",
            ));
            None
        }
    };
    let password = v.check(tsunagu_accounts::password::validate_new(
        "password",
        &f.password,
    ))?;
    let known = st
        .search
        .access
        .institutions(&me.account)
        .await?
        .into_iter()
        .any(|(c, _)| c == f.institution.trim());
    if !known {
        v.push(tsunagu_kernel::FieldError::new(
            "institution",
            "error.eligibility.unknown_institution",
        ));
    }
    v.finish()?;
    let (Some(login), Some(name), Some(role), Some(password)) = (login, name, role, password)
    else {
        return Err(DomainError::invalid("form", "error.required"));
    };
    let hash = tsunagu_accounts::password::hash(password).await?;
    st.search
        .access
        .create_account(Some(f.institution.trim()), &login, &name, role, &hash)
        .await
}

#[derive(Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn reset_password(
    State(st): State<EligState>,
    me: Me,
    Path(id): Path<i64>,
    Form(f): Form<PasswordForm>,
) -> AppResult<Response> {
    operator_only(&me)?;
    let hash = match tsunagu_accounts::password::validate_new("password", &f.password) {
        Ok(p) => tsunagu_accounts::password::hash(p).await,
        Err(e) => Err(e),
    };
    let hash = match hash {
        Ok(h) => h,
        Err(e) => {
            // The message goes under that account's field; the password is not sent back.
            let forms = Forms {
                reset_for: Some(id),
                reset_errors: form_errors(e, "password")?,
                ..Forms::default()
            };
            return refused(&st, &me, "elig.password_refused", forms).await;
        }
    };
    st.search
        .access
        .reset_password(&me.account, id, &hash)
        .await?;
    // Sessions of the account end with the old password.
    st.sessions
        .delete_all(tsunagu_accounts::Realm::Staff, id)
        .await?;
    Ok(Redirect::to("/ops/institutions?done=password").into_response())
}

async fn import(State(st): State<EligState>, me: Me, mp: Multipart) -> AppResult<Response> {
    operator_only(&me)?;
    let (_, files) = match tsunagu_webkit::multipart::read_multipart(mp).await {
        Ok(x) => x,
        Err(e) => return failed(&st, &me, e).await,
    };
    let Some((_, bytes, file_name)) = files.into_iter().next() else {
        return render(
            &st,
            &me,
            vec!["取り込むファイル（CSV または XML）を選んでください。".into()],
            None,
            Forms::default(),
        )
        .await;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return render(
            &st,
            &me,
            vec!["ファイルは UTF-8 の CSV または XML で保存してください。".into()],
            None,
            Forms::default(),
        )
        .await;
    };
    let records = match tsunagu_eligibility_domain::read_import(&file_name, &text) {
        Ok(r) => r,
        Err(mut problems) => {
            let more = problems.len().saturating_sub(20);
            problems.truncate(20);
            let mut errors = vec![format!(
                "{file_name} に誤りがあるため、取り込みませんでした。修正してもう一度取り込んでください。"
            )];
            errors.extend(problems);
            if more > 0 {
                errors.push(format!("ほか {more} 件"));
            }
            return render(&st, &me, errors, None, Forms::default()).await;
        }
    };
    let (imported, held) = st.search.store.import_new(records).await?;
    Ok(Redirect::to(&format!(
        "/ops/institutions?done=import&imported={imported}&held={held}"
    ))
    .into_response())
}
