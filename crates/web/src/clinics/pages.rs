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

use tsunagu_clinics::legal::LegalKind;

use crate::ctx::PageCtx;
use crate::error::{AppError, AppResult};
use crate::render::page;
use crate::session::Sess;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "clinics/home.html")]
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
#[template(path = "clinics/clinics.html")]
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
#[template(path = "clinics/clinic.html")]
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
                crate::booking::patient::day_label(&ctx, z.date()),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn back_stays_on_this_site() {
        assert_eq!(same_origin_path("/my").as_deref(), Some("/my"));
        assert_eq!(
            same_origin_path("/c/x/book?d=1").as_deref(),
            Some("/c/x/book?d=1")
        );
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "/\t/evil.example/x",
            "/\n/evil.example",
            "\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/\\/evil.example",
        ] {
            assert_eq!(same_origin_path(bad), None, "{bad:?}");
        }
        // Control characters never survive into the header.
        let p = same_origin_path("/a\u{7f}b").unwrap();
        assert!(!p.chars().any(char::is_control), "{p:?}");
    }
}

#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// `back` as a path on this site, or `None`.
///
/// Parsed the way a browser resolves a `Location`, never string-checked: the WHATWG parser
/// drops tabs and newlines and reads `\` as `/`, which is how `/\t/host` and `/\\host`
/// reached another host. Whatever resolves to another origin is refused, and the answer is
/// the parser's own serialisation, so no control character reaches the header.
pub fn same_origin_path(back: &str) -> Option<String> {
    const BASE: &str = "https://tsunagu.invalid/";
    if !back.starts_with('/') {
        return None;
    }
    let base = url::Url::parse(BASE).ok()?;
    let url = base.join(back).ok()?;
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let mut out = url.path().to_string();
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// Sets the language cookie and returns to the page the user was on.
pub async fn switch_lang(Path(code): Path<String>, Query(q): Query<Back>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    let back = same_origin_path(&q.back).unwrap_or_else(|| "/".to_string());
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

#[derive(Template)]
#[template(path = "clinics/legal.html")]
struct LegalPage {
    ctx: PageCtx,
    title: String,
    /// The clinic's name, on a clinic's own page.
    clinic: Option<String>,
    slug: Option<String>,
    /// The clinic set its own text (else the platform's default is shown).
    own: bool,
    paragraphs: Vec<Vec<String>>,
}

fn legal_title(ctx: &PageCtx, kind: LegalKind) -> String {
    ctx.t(match kind {
        LegalKind::Terms => "legal.terms",
        LegalKind::Privacy => "legal.privacy",
    })
    .to_string()
}

/// The platform's terms of use or privacy policy.
async fn platform_legal(ctx: PageCtx, kind: LegalKind) -> AppResult<Response> {
    page(&LegalPage {
        title: legal_title(&ctx, kind),
        clinic: None,
        slug: None,
        own: true,
        paragraphs: tsunagu_clinics::legal::paragraphs(kind.platform_text()),
        ctx,
    })
}

/// A clinic's terms of use or privacy policy: its own, or the platform's default.
async fn clinic_legal(
    st: &AppState,
    ctx: PageCtx,
    slug: &str,
    kind: LegalKind,
) -> AppResult<Response> {
    let facility = st.facilities.by_slug(slug).await?;
    let (text, own) = st.booker.legal.text_for(facility.id, kind).await?;
    page(&LegalPage {
        title: legal_title(&ctx, kind),
        clinic: Some(facility.name),
        slug: Some(facility.slug),
        own,
        paragraphs: tsunagu_clinics::legal::paragraphs(&text),
        ctx,
    })
}

pub async fn terms(ctx: PageCtx) -> AppResult<Response> {
    platform_legal(ctx, LegalKind::Terms).await
}

pub async fn privacy(ctx: PageCtx) -> AppResult<Response> {
    platform_legal(ctx, LegalKind::Privacy).await
}

pub async fn clinic_terms(
    State(st): State<AppState>,
    ctx: PageCtx,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    clinic_legal(&st, ctx, &slug, LegalKind::Terms).await
}

pub async fn clinic_privacy(
    State(st): State<AppState>,
    ctx: PageCtx,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    clinic_legal(&st, ctx, &slug, LegalKind::Privacy).await
}
