//! The OpenAPI document of `/api/v1`, served at `/api/openapi.json`.
//!
//! What every operation shares (the error body, 400/401/422 from the plumbing,
//! `Retry-After`, bearer auth) is added by [`crate::apidoc::Conventions`].

use axum::Json;
use utoipa::OpenApi;

use crate::api;
use crate::apidoc::{self, Conventions};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "tsunagu API", description = "Online medical care for Japanese clinics. Every error is an `ErrorBody`: `{\"error\": {\"code\", \"reason\", \"message\", \"fields\": [{\"field\", \"code\", \"message\"}], \"request_id\"}}`, messages in the `Accept-Language` (Japanese by default). Request bodies refuse unknown properties."),
    paths(
        api::signup_code, api::signup_verify, api::signup_complete, api::login, api::logout,
        api::password_code, api::password_reset,
        api::me, api::family_list, api::family_add, api::family_update, api::family_remove,
        api::email_request, api::password_change, api::access_log, api::logout_everywhere,
        api::facilities, api::facility,
        api::staff_login, api::totp_enrol, api::totp, api::patients, api::patient,
        api::set_chart_number, api::failed_jobs,
        api::menus, api::slots, api::my_bookings, api::my_booking, api::book, api::move_booking,
        api::cancel, api::share, api::staff_bookings, api::staff_book, api::staff_close, api::staff_reopen, api::staff_insurance_check, api::staff_myna_check, api::staff_outage_visit, api::staff_four_facts,
        api::insurance_get, api::insurance_put, api::images_post, api::answers_get, api::answers_put,
        api::menu_save, api::menu_decide, api::hours_put, api::suspend_put,
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
