//! What patients hand over before a visit besides insurance: images shared with a booking
//! (B5), the questionnaire and consent form (B6) — and the scoped serving of stored files.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use tsunagu_kernel::DomainError;

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page_status};
use crate::session::{PatientUser, StaffMember, see_other};
use crate::state::AppState;
use tsunagu_webkit::multipart::read_multipart;

/// The documents pages: images, the questionnaire, and stored files served by scope.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/my/bookings/{id}/images", post(images_post))
        .route(
            "/my/bookings/{id}/questionnaire",
            get(questionnaire_form).post(questionnaire_post),
        )
        .route("/my/files/{key}", get(my_file))
        .route("/staff/files/{key}", get(staff_file))
        .layer(DefaultBodyLimit::max(crate::UPLOAD_LIMIT))
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
        Ok((_, files)) => {
            st.booker
                .share_images(&st.files, user.account, id, &files)
                .await
        }
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(see_other(&format!("/my/bookings/{id}?done=images"))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            crate::booking::patient::detail_page(&st, ctx, &user, id, errors, None).await
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
#[template(path = "documents/questionnaire.html")]
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
    match st
        .booker
        .answer_questionnaire(user.account, id, &form)
        .await
    {
        Ok(()) => Ok(see_other(&format!("/my/bookings/{id}?done=answers"))),
        Err(DomainError::Invalid(errs)) => {
            let errors = FormErrors::from_error(DomainError::Invalid(errs), ctx.lang)?;
            questionnaire_page(&st, ctx, &user, id, errors, Some(&form)).await
        }
        Err(e) => Err(e.into()),
    }
}
