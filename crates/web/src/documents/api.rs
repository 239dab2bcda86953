//! The documents API: images shared with a booking and the questionnaire's answers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::bearer::{ApiJson, ApiMultipart, ApiPatient};
use crate::error::AppResult;
use crate::state::AppState;
use tsunagu_webkit::multipart::read_multipart;

/// The parts of an image upload.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form for the document; the handler reads parts.
pub struct ImagesUpload {
    /// 1–10 images (JPEG, PNG, WebP, HEIC), 10 MB each.
    #[schema(value_type = Vec<String>, format = Binary)]
    images: Vec<Vec<u8>>,
}

/// Shares images with a booking: multipart files named `images` (JPEG, PNG, WebP, HEIC; up
/// to 10, 10 MB each).
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/images", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    request_body(content = inline(ImagesUpload), content_type = "multipart/form-data", description = "files named images"),
    responses((status = 204, description = "Shared"), (status = 404, description = "Not a booking of the account"), (status = 422, description = "No image, more than ten, a file that is not an image, or not `multipart/form-data`")))]
pub async fn images_post(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiMultipart(mp): ApiMultipart,
) -> AppResult<StatusCode> {
    let (_, files) = read_multipart(mp).await?;
    st.booker
        .share_images(&st.files, user.account, id, &files)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Questionnaire answers and consent.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AnswersBody {
    /// Answer per question id.
    #[serde(default)]
    pub answers: std::collections::BTreeMap<String, String>,
    /// Name signed under the consent form (when the menu has one).
    #[serde(default)]
    pub consent_name: String,
    /// Agreement to the consent form.
    #[serde(default)]
    pub agree: bool,
}

/// The answers given for a booking.
#[utoipa::path(get, path = "/api/v1/me/bookings/{id}/answers", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, body = AnswersBody), (status = 404, description = "Not a booking of the account")))]
pub async fn answers_get(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<Json<AnswersBody>> {
    st.booker.bookings.get_for_account(user.account, id).await?;
    let a = st.booker.bookings.answers(id).await?.unwrap_or_default();
    Ok(Json(AnswersBody {
        answers: a.answers,
        agree: a.consent_signed_at.is_some(),
        consent_name: a.consent_signed_name.unwrap_or_default(),
    }))
}

/// Answers the menu's questionnaire and signs its consent form.
#[utoipa::path(put, path = "/api/v1/me/bookings/{id}/answers", tag = "booking", security(("bearer" = [])), request_body = AnswersBody, params(("id" = i64, Path, description = "Booking id")),
    responses((status = 204, description = "Saved"), (status = 404, description = "Not a booking of the account"), (status = 409, description = "The booking is no longer live"), (status = 422, description = "A required question unanswered, an answer not among the choices, or the consent not signed")))]
pub async fn answers_put(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<AnswersBody>,
) -> AppResult<StatusCode> {
    let mut form: std::collections::HashMap<String, String> = b
        .answers
        .into_iter()
        .map(|(k, v)| (format!("q_{k}"), v))
        .collect();
    form.insert("consent_name".into(), b.consent_name);
    if b.agree {
        form.insert("agree".into(), "true".into());
    }
    st.booker
        .answer_questionnaire(user.account, id, &form)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
