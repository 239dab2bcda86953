//! The OpenAPI document of `/api/v1`, served at `/api/openapi.json`.
//!
//! What every operation shares (the error body, 400/401/422 from the plumbing,
//! `Retry-After`, bearer auth) is added by [`crate::apidoc::Conventions`].

use axum::Json;
use utoipa::OpenApi;

use crate::apidoc::{self, Conventions};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "tsunagu API", description = "Online medical care for Japanese clinics. Every error is an `ErrorBody`: `{\"error\": {\"code\", \"reason\", \"message\", \"fields\": [{\"field\", \"code\", \"message\"}], \"request_id\"}}`, messages in the `Accept-Language` (Japanese by default). Request bodies refuse unknown properties."),
    paths(
        crate::accounts::auth_api::signup_code, crate::accounts::auth_api::signup_verify, crate::accounts::auth_api::signup_complete, crate::accounts::auth_api::login, crate::accounts::auth_api::logout,
        crate::accounts::auth_api::password_code, crate::accounts::auth_api::password_reset,
        crate::accounts::me_api::me, crate::accounts::me_api::family_list, crate::accounts::me_api::family_add, crate::accounts::me_api::family_update, crate::accounts::me_api::family_remove,
        crate::accounts::me_api::email_request, crate::accounts::me_api::password_change, crate::accounts::me_api::access_log, crate::accounts::me_api::logout_everywhere,
        crate::clinics::api::facilities, crate::clinics::api::facility,
        crate::staff::api::staff_login, crate::staff::api::totp_enrol, crate::staff::api::totp, crate::staff::api::patients, crate::staff::api::patient,
        crate::staff::api::set_chart_number, crate::staff::api::failed_jobs,
        crate::booking::api::menus, crate::booking::api::slots, crate::booking::api::my_bookings, crate::booking::api::my_booking, crate::booking::api::book, crate::booking::api::move_booking,
        crate::booking::api::cancel, crate::booking::api::share, crate::booking::api::staff_bookings, crate::booking::api::staff_book, crate::booking::api::staff_close, crate::booking::api::staff_reopen, crate::insurance::api::staff_insurance_check, crate::insurance::api::staff_myna_check, crate::insurance::api::staff_outage_visit, crate::insurance::api::staff_four_facts,
        crate::insurance::api::insurance_get, crate::insurance::api::insurance_put, crate::documents::api::images_post, crate::documents::api::answers_get, crate::documents::api::answers_put,
        crate::setup::api::menu_save, crate::setup::api::menu_decide, crate::setup::api::hours_put, crate::setup::api::suspend_put, crate::setup::api::video_entry_put,
    ),
    components(schemas(apidoc::ErrorBody, apidoc::ErrorDetail, apidoc::FieldErrorBody, apidoc::ErrorCode)),
    modifiers(&Conventions),
    tags((name = "auth"), (name = "me"), (name = "facilities"), (name = "booking"), (name = "staff"))
)]
pub struct ApiDoc;

/// Serves the document.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
