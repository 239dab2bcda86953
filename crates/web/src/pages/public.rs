//! Public pages: the landing page, clinic search by prefecture, a clinic's own page and QR
//! code, and the language switch.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tsunagu_clinics::{Facility, PREFECTURES, prefecture_name};
use tsunagu_i18n::Lang;
use tsunagu_kernel::DomainError;

use super::page;
use crate::ctx::PageCtx;
use crate::error::{AppError, AppResult};
use crate::session::Sess;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    ctx: PageCtx,
    prefectures: &'static [(i64, &'static str, &'static str)],
    bookings: Vec<tsunagu_booking::BookingView>,
}

/// The top page; signed-in patients see 「あなたの予約」 first (B2).
pub async fn home(State(st): State<AppState>, ctx: PageCtx, Sess(s): Sess) -> AppResult<Response> {
    let mut bookings = Vec::new();
    if let (tsunagu_accounts::Realm::Patient, Some(id)) = (s.realm, s.principal()) {
        for b in st
            .booker
            .bookings
            .upcoming_for_account(tsunagu_kernel::AccountId(id), st.clock.now_ms())
            .await?
        {
            bookings.push(st.booker.view(b).await?);
        }
    }
    page(&Home {
        ctx,
        prefectures: &PREFECTURES,
        bookings,
    })
}

#[derive(Deserialize)]
pub struct PrefQuery {
    #[serde(default)]
    pref: String,
}

#[derive(Template)]
#[template(path = "clinics.html")]
struct Clinics {
    ctx: PageCtx,
    prefecture: &'static str,
    clinics: Vec<Facility>,
}

pub async fn clinics(
    State(st): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<PrefQuery>,
) -> AppResult<Response> {
    let pref = match q.pref.trim().parse::<i64>() {
        Ok(p) if (1..=47).contains(&p) => p,
        _ => {
            return Err(AppError(DomainError::invalid(
                "pref",
                "error.prefecture.invalid",
            )));
        }
    };
    let clinics = st.facilities.list(Some(pref)).await?;
    page(&Clinics {
        prefecture: prefecture_name(pref, ctx.lang == Lang::En),
        ctx,
        clinics,
    })
}

#[derive(Template)]
#[template(path = "clinic.html")]
struct Clinic {
    ctx: PageCtx,
    facility: Facility,
    prefecture: &'static str,
    url: String,
    doctors: Vec<(String, Option<i64>)>,
    /// Each menu with its next free time (first visit) as local text; empty if none soon.
    menus: Vec<(tsunagu_scheduling::Menu, String)>,
    suspended: bool,
}

pub async fn clinic(
    State(st): State<AppState>,
    ctx: PageCtx,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let facility = st.facilities.by_slug(&slug).await?;
    let doctors = st
        .accounts
        .staff
        .list(facility.id)
        .await?
        .into_iter()
        .filter(|s| s.role == tsunagu_accounts::Role::Doctor && !s.disabled)
        .map(|s| (s.display_name, s.medical_registration_year))
        .collect();
    let menus = st.booker.menus.list(facility.id, true).await?;
    let mut next_free = Vec::with_capacity(menus.len());
    let today = st.booker.today(&facility);
    for m in &menus {
        let next = if facility.online_suspended {
            None
        } else {
            st.booker
                .slots(
                    &facility,
                    m,
                    tsunagu_scheduling::VisitKind::First,
                    today,
                    14,
                )
                .await?
                .into_iter()
                .find(|s| s.free)
        };
        next_free.push(next.map_or_else(String::new, |s| {
            let z = tsunagu_kernel::clock::from_ms(s.starts_at).to_zoned(facility.tz());
            format!(
                "{} {}",
                crate::pages::book::day_label(&ctx, z.date()),
                z.strftime("%H:%M")
            )
        }));
    }
    page(&Clinic {
        menus: menus.into_iter().zip(next_free).collect(),
        suspended: facility.online_suspended,
        url: format!("{}/c/{}", st.config.public_url, facility.slug),
        prefecture: prefecture_name(facility.prefecture, ctx.lang == Lang::En),
        ctx,
        facility,
        doctors,
    })
}

/// The clinic's booking URL as a QR code (SVG), to print or bookmark (A7).
pub async fn clinic_qr(
    State(st): State<AppState>,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let facility = st.facilities.by_slug(&slug).await?;
    let url = format!("{}/c/{}", st.config.public_url, facility.slug);
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(DomainError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        svg,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// Sets the language cookie and returns to the page the user was on.
pub async fn switch_lang(Path(code): Path<String>, Query(q): Query<Back>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    // Only same-site paths: an open redirect would turn this into a phishing helper.
    let back = if q.back.starts_with('/') && !q.back.starts_with("//") && !q.back.contains('\\') {
        q.back
    } else {
        "/".to_string()
    };
    let cookie = format!(
        "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    let mut resp = Redirect::to(&back).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
