//! What patients hand over before a visit: insurance (A4), images shared with a booking
//! (B5), the questionnaire and consent form (B6) — and the scoped serving of stored files.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use tsunagu_files::{Owner, Purpose};
use tsunagu_insurance::check::Outcome;
use tsunagu_insurance::{CardNumbers, Kind, Registration};
use tsunagu_kernel::{DomainError, FieldError, PatientId};

use super::{form_status, page_status};
use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::session::{PatientUser, StaffMember, see_other};
use crate::state::AppState;

/// The longest answer to one question of a questionnaire.
const ANSWER_MAX: usize = 2000;

/// Uploads carry two card photos or several images: room for them plus the form.
const UPLOAD_LIMIT: usize = 3 * tsunagu_files::MAX_BYTES + 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/my/insurance/{patient}",
            get(insurance_form).post(insurance_post),
        )
        .route("/my/bookings/{id}/images", post(images_post))
        .route(
            "/my/bookings/{id}/questionnaire",
            get(questionnaire_form).post(questionnaire_post),
        )
        .route("/my/files/{key}", get(my_file))
        .route("/staff/files/{key}", get(staff_file))
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
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

#[derive(Default, Clone)]
pub struct InsuranceForm {
    pub kind: String,
    pub insurer_number: String,
    pub symbol: String,
    pub number: String,
    pub branch: String,
}

#[derive(Template)]
#[template(path = "insurance.html")]
struct InsurancePage {
    ctx: PageCtx,
    errors: FormErrors,
    patient_id: i64,
    patient_name: String,
    current: Option<InsuranceView>,
    form: InsuranceForm,
    notice: Option<&'static str>,
}

async fn insurance_page(
    st: &AppState,
    ctx: PageCtx,
    user: &PatientUser,
    pid: PatientId,
    errors: FormErrors,
    form: Option<InsuranceForm>,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let patient = st.accounts.patients.patient_of(user.account, pid).await?;
    let current = match st.insurance.get(pid).await? {
        Some(r) => Some(insurance_view(st, r).await?),
        None => None,
    };
    let form = form.unwrap_or_else(|| match &current {
        Some(c) => InsuranceForm {
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
        None => InsuranceForm::default(),
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

pub(crate) use tsunagu_webkit::multipart::read_multipart;

pub(crate) fn text(texts: &[(String, String)], name: &str) -> String {
    texts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
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
    let form = InsuranceForm {
        kind: text(&texts, "kind"),
        insurer_number: text(&texts, "insurer_number"),
        symbol: text(&texts, "symbol"),
        number: text(&texts, "number"),
        branch: text(&texts, "branch"),
    };
    let res = save_insurance(&st, user.account, pid, &form, &files).await;
    match res {
        Ok(()) => Ok(see_other(&format!("/my/insurance/{}?saved=1", pid.0))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            insurance_page(&st, ctx, &user, pid, errors, Some(form), None).await
        }
    }
}

/// Validates and saves a patient's insurance (numbers and photos, or マイナ保険証); every
/// problem is reported at once and nothing is stored unless all is well.
pub(crate) async fn save_insurance(
    st: &AppState,
    account: tsunagu_kernel::AccountId,
    pid: PatientId,
    form: &InsuranceForm,
    files: &[(String, Vec<u8>, String)],
) -> Result<(), DomainError> {
    st.accounts.patients.patient_of(account, pid).await?;
    let existing = st.insurance.get(pid).await?;
    let kind = if form.kind == "myna" {
        Kind::Myna
    } else {
        Kind::Card
    };
    // Every problem at once: the numbers and the photos.
    let mut v = tsunagu_kernel::error::Validator::new();
    let numbers = match kind {
        Kind::Myna => None,
        Kind::Card => v.check(CardNumbers::parse(
            &form.insurer_number,
            &form.symbol,
            &form.number,
            &form.branch,
        ))?,
    };
    // Check every photo before storing any.
    for (name, bytes, _) in files {
        let field = if name == "back" { "back" } else { "front" };
        v.check(tsunagu_files::sniff(
            field,
            bytes,
            tsunagu_files::Accept::Images,
        ))?;
    }
    // A card needs photos of both sides, unless they were given before.
    if kind == Kind::Card {
        for (side, have_old) in [
            (
                "front",
                existing.as_ref().and_then(|r| r.front_file_id).is_some(),
            ),
            (
                "back",
                existing.as_ref().and_then(|r| r.back_file_id).is_some(),
            ),
        ] {
            if !have_old && !files.iter().any(|(n, _, _)| n == side) {
                v.push(FieldError::new(
                    if side == "front" { "front" } else { "back" },
                    "error.insurance.photo_required",
                ));
            }
        }
    }
    v.finish()?;
    let mut tx = st.db.begin_write().await?;
    let owner = Owner {
        account: Some(account),
        facility: None,
        patient: Some(pid),
        booking: None,
    };
    let mut front = existing.as_ref().and_then(|r| r.front_file_id);
    let mut back = existing.as_ref().and_then(|r| r.back_file_id);
    for (name, bytes, file_name) in files {
        let (purpose, field) = if name == "back" {
            (Purpose::InsuranceBack, "back")
        } else {
            (Purpose::InsuranceFront, "front")
        };
        let f = st
            .files
            .put_in(&mut tx, owner, purpose, field, bytes, file_name)
            .await?;
        if name == "back" {
            back = Some(f.id)
        } else {
            front = Some(f.id)
        }
    }
    if kind == Kind::Myna {
        front = None;
        back = None;
    }
    st.insurance
        .save_in(&mut tx, pid, kind, numbers.as_ref(), front, back)
        .await?;
    tx.commit().await.map_err(tsunagu_db::internal)?;
    Ok::<_, DomainError>(())
}

/// Checks and stores images shared with a booking of the account (all or none).
pub(crate) async fn save_images(
    st: &AppState,
    account: tsunagu_kernel::AccountId,
    id: i64,
    files: &[(String, Vec<u8>, String)],
) -> Result<(), DomainError> {
    let b = st.booker.bookings.get_for_account(account, id).await?;
    if files.is_empty() {
        return Err(DomainError::invalid("images", "error.file.empty"));
    }
    if files.len() > 10 {
        return Err(DomainError::invalid("images", "error.file.too_many"));
    }
    for (_, bytes, _) in files {
        tsunagu_files::sniff("images", bytes, tsunagu_files::Accept::Images)?;
    }
    let mut tx = st.db.begin_write().await?;
    let owner = Owner {
        account: Some(account),
        facility: Some(b.facility_id),
        patient: Some(b.patient_id),
        booking: Some(b.id),
    };
    for (_, bytes, name) in files {
        st.files
            .put_in(&mut tx, owner, Purpose::BookingImage, "images", bytes, name)
            .await?;
    }
    tx.commit().await.map_err(tsunagu_db::internal)?;
    Ok(())
}

async fn images_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
    mp: Multipart,
) -> AppResult<Response> {
    st.booker.bookings.get_for_account(user.account, id).await?;
    let res = match read_multipart(mp).await {
        Ok((_, files)) => save_images(&st, user.account, id, &files).await,
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(see_other(&format!("/my/bookings/{id}?done=images"))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            super::book::detail_page(&st, ctx, &user, id, errors, None).await
        }
    }
}

/// An uploaded file as served: its sniffed type, never sniffed again by the browser, never
/// run as a document. An `<img>` still shows it; opened on its own it downloads, and in a
/// sandbox with no rights, so a file that is an image and HTML at once does nothing.
fn file_response(content_type: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::CONTENT_DISPOSITION, "attachment".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

async fn my_file(
    State(st): State<AppState>,
    user: PatientUser,
    Path(key): Path<String>,
) -> AppResult<Response> {
    let f = st.files.get_for_account(user.account, &key).await?;
    Ok(file_response(&f.content_type, st.files.read(&f).await?))
}

/// Staff see files shared with their facility (booking images) or insurance photos of a
/// patient their facility knows; every view is audited.
async fn staff_file(
    State(st): State<AppState>,
    me: StaffMember,
    Path(key): Path<String>,
) -> AppResult<Response> {
    let (f, bytes) = st.files.open_for_staff(&me.by(), me.scope(), &key).await?;
    Ok(file_response(&f.content_type, bytes))
}

/// A question as the page shows it.
pub struct QuestionView {
    id: String,
    field: String,
    label: String,
    choices: Vec<String>,
    required: bool,
    answer: String,
}

#[derive(Template)]
#[template(path = "questionnaire.html")]
struct QuestionnairePage {
    ctx: PageCtx,
    errors: FormErrors,
    booking_id: i64,
    menu_name: String,
    when: String,
    questions: Vec<QuestionView>,
    consent_text: String,
    consent_name: String,
    agreed: bool,
}

async fn questionnaire_page(
    st: &AppState,
    ctx: PageCtx,
    user: &PatientUser,
    id: i64,
    errors: FormErrors,
    typed: Option<&std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    let b = st.booker.bookings.get_for_account(user.account, id).await?;
    let menu = st.booker.menus.get(b.facility_id, b.menu_id).await?;
    let saved = st.booker.bookings.answers(id).await?.unwrap_or_default();
    let answer = |qid: &str| match typed {
        Some(t) => t.get(&format!("q_{qid}")).cloned().unwrap_or_default(),
        None => saved.answers.get(qid).cloned().unwrap_or_default(),
    };
    let v = st.booker.view(b).await?;
    page_status(
        form_status(&errors),
        &QuestionnairePage {
            booking_id: id,
            menu_name: menu.name.clone(),
            when: v.starts_local,
            questions: menu
                .questionnaire
                .iter()
                .map(|q| QuestionView {
                    field: format!("q_{}", q.id),
                    answer: answer(&q.id),
                    id: q.id.clone(),
                    label: q.label.clone(),
                    choices: q.choices.clone(),
                    required: q.required,
                })
                .collect(),
            consent_text: menu.consent_text.clone(),
            consent_name: match typed {
                Some(t) => t.get("consent_name").cloned().unwrap_or_default(),
                None => saved.consent_signed_name.clone().unwrap_or_default(),
            },
            agreed: typed.map_or(saved.consent_signed_at.is_some(), |t| {
                t.contains_key("agree")
            }),
            errors,
            ctx,
        },
    )
}

async fn questionnaire_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    questionnaire_page(&st, ctx, &user, id, FormErrors::none(), None).await
}

async fn questionnaire_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    match save_answers(&st, user.account, id, &form).await {
        Ok(()) => Ok(see_other(&format!("/my/bookings/{id}?done=answers"))),
        Err(DomainError::Invalid(errs)) => {
            let errors = FormErrors::from_error(DomainError::Invalid(errs), ctx.lang)?;
            questionnaire_page(&st, ctx, &user, id, errors, Some(&form)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Checks and saves the questionnaire answers (`q_{id}` fields) and the consent signature
/// (`consent_name`, `agree`) of a live booking of the account.
pub(crate) async fn save_answers(
    st: &AppState,
    account: tsunagu_kernel::AccountId,
    id: i64,
    form: &std::collections::HashMap<String, String>,
) -> Result<(), DomainError> {
    let b = st.booker.bookings.get_for_account(account, id).await?;
    if b.status != tsunagu_booking::BookingStatus::Booked {
        return Err(DomainError::Conflict("error.booking.not_live"));
    }
    let menu = st.booker.menus.get(b.facility_id, b.menu_id).await?;
    let mut errs: Vec<FieldError> = Vec::new();
    let mut answers = std::collections::BTreeMap::new();
    for q in &menu.questionnaire {
        let field = format!("q_{}", q.id);
        let a = form
            .get(&field)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if a.is_empty() {
            if q.required {
                errs.push(FieldError::new(field.clone(), "error.required"));
            }
            continue;
        }
        if !q.choices.is_empty() && !q.choices.contains(&a) {
            errs.push(FieldError::new(field, "error.invalid_choice"));
            continue;
        }
        // Refused, not cut: the form's own limit is only in the browser.
        if a.chars().count() > ANSWER_MAX {
            errs.push(FieldError::new(field, "error.too_long").arg("max", ANSWER_MAX));
            continue;
        }
        answers.insert(q.id.clone(), a);
    }
    let mut signed_name = None;
    if !menu.consent_text.is_empty() {
        match tsunagu_kernel::values::person_name(
            "consent_name",
            form.get("consent_name").map_or("", String::as_str),
            60,
        ) {
            Ok(n) => signed_name = Some(n),
            Err(DomainError::Invalid(es)) => errs.extend(es),
            Err(e) => return Err(e),
        }
        if !form.get("agree").is_some_and(|a| a == "true" || a == "1") {
            errs.push(FieldError::new("agree", "error.consent.required"));
        }
    }
    if !errs.is_empty() {
        return Err(DomainError::Invalid(errs));
    }
    st.booker
        .bookings
        .save_answers(
            id,
            &tsunagu_booking::Answers {
                answers,
                consent_signed_at: signed_name.as_ref().map(|_| st.clock.now_ms()),
                consent_signed_name: signed_name,
            },
        )
        .await
}
