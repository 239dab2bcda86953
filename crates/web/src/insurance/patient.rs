//! The patient's insurance card page (A4): registration with photos, shown as kept.

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::response::Response;
use axum::routing::get;
use tsunagu_insurance::check::Outcome;
use tsunagu_insurance::{Kind, Registration};
use tsunagu_kernel::PatientId;

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page_status};
use crate::session::{PatientUser, see_other};
use crate::state::AppState;
use tsunagu_webkit::multipart::{field, read_multipart};

/// The patient's insurance page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/my/insurance/{patient}",
            get(insurance_form).post(insurance_post),
        )
        .layer(DefaultBodyLimit::max(crate::UPLOAD_LIMIT))
}

/// A registration as pages show it.
pub struct InsuranceView {
    pub kind_myna: bool,
    pub insurer_number: String,
    pub symbol: String,
    pub number: String,
    pub branch: String,
    pub photos: Vec<String>,
    /// Its last answer: (valid, 資格有効性 name, 資格確認日).
    pub check: Option<(bool, String, String)>,
}

async fn photo_key(st: &AppState, id: Option<i64>) -> AppResult<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    Ok(st.files.key_of(id).await?)
}

/// Builds the view of a registration (photos by their keys).
pub async fn insurance_view(st: &AppState, r: Registration) -> AppResult<InsuranceView> {
    let outcome = r.outcome();
    let mut photos = Vec::new();
    for id in [r.front_file_id, r.back_file_id] {
        if let Some(k) = photo_key(st, id).await? {
            photos.push(k);
        }
    }
    Ok(InsuranceView {
        kind_myna: r.kind == Kind::Myna,
        insurer_number: r.insurer_number.unwrap_or_default(),
        symbol: r.symbol.unwrap_or_default(),
        number: r.number.unwrap_or_default(),
        branch: r.branch.unwrap_or_default(),
        photos,
        check: outcome.map(|o: Outcome| (o.is_valid(), o.validity_name, o.confirmation_date)),
    })
}

#[derive(Template)]
#[template(path = "insurance/insurance.html")]
struct InsurancePage {
    ctx: PageCtx,
    errors: FormErrors,
    patient_id: i64,
    patient_name: String,
    current: Option<InsuranceView>,
    form: tsunagu_insurance::InsuranceInput,
    notice: Option<&'static str>,
}

async fn insurance_page(
    st: &AppState,
    ctx: PageCtx,
    user: &PatientUser,
    pid: PatientId,
    errors: FormErrors,
    form: Option<tsunagu_insurance::InsuranceInput>,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let patient = st.accounts.patients.patient_of(user.account, pid).await?;
    let current = match st.insurance.get(pid).await? {
        Some(r) => Some(insurance_view(st, r).await?),
        None => None,
    };
    let form = form.unwrap_or_else(|| match &current {
        Some(c) => tsunagu_insurance::InsuranceInput {
            kind: if c.kind_myna {
                "myna".into()
            } else {
                "card".into()
            },
            insurer_number: c.insurer_number.clone(),
            symbol: c.symbol.clone(),
            number: c.number.clone(),
            branch: c.branch.clone(),
        },
        None => tsunagu_insurance::InsuranceInput::default(),
    });
    page_status(
        form_status(&errors),
        &InsurancePage {
            ctx,
            errors,
            patient_id: pid.0,
            patient_name: patient.full_name(),
            current,
            form,
            notice,
        },
    )
}

#[derive(serde::Deserialize, Default)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

async fn insurance_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(pid): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> AppResult<Response> {
    insurance_page(
        &st,
        ctx,
        &user,
        PatientId(pid),
        FormErrors::none(),
        None,
        q.saved.map(|_| "insurance.saved"),
    )
    .await
}

async fn insurance_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(pid): Path<i64>,
    mp: Multipart,
) -> AppResult<Response> {
    let pid = PatientId(pid);
    st.accounts.patients.patient_of(user.account, pid).await?;
    let (texts, files) = read_multipart(mp).await?;
    let form = tsunagu_insurance::InsuranceInput {
        kind: field(&texts, "kind"),
        insurer_number: field(&texts, "insurer_number"),
        symbol: field(&texts, "symbol"),
        number: field(&texts, "number"),
        branch: field(&texts, "branch"),
    };
    let res = st
        .insurance
        .register(&st.files, user.account, pid, &form, &files)
        .await;
    match res {
        Ok(()) => Ok(see_other(&format!("/my/insurance/{}?saved=1", pid.0))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            insurance_page(&st, ctx, &user, pid, errors, Some(form), None).await
        }
    }
}
