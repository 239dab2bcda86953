//! The facilities API: finding a clinic and reading its page.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use tsunagu_clinics::Facility;
use tsunagu_kernel::DomainError;
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A clinic or hospital as patients see it.
#[derive(Serialize, ToSchema)]
pub struct FacilityDto {
    /// Booking slug: the clinic's own URL is `/c/{slug}`.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Prefecture code 1–47.
    pub prefecture: i64,
    /// Address.
    pub address: String,
    /// Phone.
    pub phone: String,
}

impl From<Facility> for FacilityDto {
    fn from(f: Facility) -> Self {
        Self {
            slug: f.slug,
            name: f.name,
            prefecture: f.prefecture,
            address: f.address,
            phone: f.phone,
        }
    }
}

/// Filter by prefecture.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrefectureQuery {
    /// Prefecture code 1–47.
    #[param(minimum = 1, maximum = 47)]
    pub prefecture: Option<i64>,
}

/// Clinics and hospitals, optionally of one prefecture.
#[utoipa::path(get, path = "/api/v1/facilities", tag = "facilities", params(PrefectureQuery), responses((status = 200, body = [FacilityDto]), (status = 422, description = "Not a prefecture code")))]
pub async fn facilities(
    State(st): State<AppState>,
    Query(q): Query<PrefectureQuery>,
) -> AppResult<Json<Vec<FacilityDto>>> {
    let pref = match q.prefecture {
        Some(p) if !(1..=47).contains(&p) => {
            return Err(AppError(DomainError::invalid(
                "prefecture",
                "error.prefecture.invalid",
            )));
        }
        p => p,
    };
    Ok(Json(
        st.facilities
            .list(pref)
            .await?
            .into_iter()
            .map(FacilityDto::from)
            .collect(),
    ))
}

/// One facility by its slug.
#[utoipa::path(get, path = "/api/v1/facilities/{slug}", tag = "facilities", params(("slug" = String, Path, description = "Booking slug")),
    responses((status = 200, body = FacilityDto), (status = 404, description = "No facility with this slug")))]
pub async fn facility(
    State(st): State<AppState>,
    Path(slug): Path<String>,
) -> AppResult<Json<FacilityDto>> {
    Ok(Json(st.facilities.by_slug(&slug).await?.into()))
}
