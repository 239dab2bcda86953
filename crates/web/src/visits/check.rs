//! The pre-call check (C7) and the browser rule (C11) of a patient's visit pages.
//!
//! A patient's link (`/v/{token}`) and a member's 「ビデオ通話画面へ進む」 open this check
//! first; its 「待合室へ進む」 leads to the waiting room (`?room=1`). In the browser,
//! `/static/precheck.js` tests by itself the camera (a preview and a choice of cameras), the
//! microphone (a level meter), the speaker (a test tone on demand) and the connection to
//! this server (round trips and a download from the probe below, judged against the seed's
//! 2 Mbps), and says in plain words what to fix. It never blocks: 「待合室へ進む」 is always
//! there. Without script the page says the call needs JavaScript; the waiting room works.
//!
//! The server's User-Agent rule ([`classify`]) names only what a User-Agent tells for
//! certain:
//! - Internet Explorer (`MSIE`, `Trident/`) and the old Edge (EdgeHTML, ` Edge/`; today's
//!   Chromium Edge says `Edg/`, `EdgA/`, `EdgiOS/`) cannot make the call: they get a page
//!   naming the supported browsers instead of a broken call.
//! - The built-in browsers of LINE (` Line/`), Facebook (`FBAN/`, `FBAV/`, `FB_IAB/`) and
//!   Instagram (` Instagram `) are recognised reliably, but whether their camera works
//!   varies with the app's and the phone's version: the check page opens with advice to
//!   reopen the link in Safari or Chrome (LINE's documented `openExternalBrowser=1` does it
//!   in one tap) and runs anyway, so a patient whose app does allow the camera goes on.
//! - Everything else is left to the page's own feature check (no `getUserMedia`, no
//!   `RTCPeerConnection` or no `WebSocket` → the same advice), which also catches browsers
//!   too old to name.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tsunagu_kernel::DomainError;
use tsunagu_visits::LinkAccess;

use crate::ctx::PageCtx;
use crate::error::{AppError, AppResult};
use crate::render::page;
use crate::session::PatientUser;
use crate::state::AppState;

/// What the server can tell of a browser from its User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Nothing known against it: the page's own feature check decides.
    Usable,
    /// Internet Explorer: no WebRTC at all.
    InternetExplorer,
    /// The old Edge (EdgeHTML, 2015–2020): incomplete WebRTC, no longer updated.
    LegacyEdge,
    /// LINE's built-in browser.
    Line,
    /// Facebook's or Instagram's built-in browser.
    SocialApp,
}

impl Browser {
    /// A browser that cannot make the call at all: its patient gets the unsupported page.
    pub fn is_unsupported(self) -> bool {
        matches!(self, Self::InternetExplorer | Self::LegacyEdge)
    }

    /// An app's built-in browser, where the camera may be blocked.
    pub fn is_in_app(self) -> bool {
        matches!(self, Self::Line | Self::SocialApp)
    }

    /// Its name for the patient (a catalogue key).
    pub fn name_key(self) -> &'static str {
        match self {
            Self::Usable => "precheck.browser_this",
            Self::InternetExplorer => "precheck.browser_ie",
            Self::LegacyEdge => "precheck.browser_old_edge",
            Self::Line => "precheck.browser_line",
            Self::SocialApp => "precheck.browser_social",
        }
    }
}

/// Classifies a User-Agent (see the module's rule).
pub fn classify(ua: &str) -> Browser {
    if ua.contains("MSIE ") || ua.contains("Trident/") {
        Browser::InternetExplorer
    } else if ua.contains(" Edge/") {
        Browser::LegacyEdge
    } else if ua.contains(" Line/") {
        Browser::Line
    } else if ["FBAN/", "FBAV/", "FB_IAB/", " Instagram "]
        .iter()
        .any(|t| ua.contains(t))
    {
        Browser::SocialApp
    } else {
        Browser::Usable
    }
}

/// The request's browser.
pub fn browser_of(headers: &HeaderMap) -> Browser {
    classify(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// Which of a visit's patient pages a request asks for.
#[derive(Debug, Default, Deserialize)]
pub struct Entry {
    /// `?room=1`: the waiting room (the check's 「待合室へ進む」).
    pub room: Option<String>,
    /// `?check=1`: the check again, even once the doctor has started (from the room).
    pub check: Option<String>,
}

impl Entry {
    /// Whether to show the waiting room rather than the check. A visit already in progress
    /// goes straight back to the room: a patient who reopens the page after a drop rejoins
    /// at once (C11), and the room links back to the check.
    pub fn wants_room(&self, state: tsunagu_visits::VisitState) -> bool {
        use tsunagu_visits::VisitState as S;
        self.room.is_some() || (self.check.is_none() && matches!(state, S::InProgress | S::Ended))
    }
}

#[derive(Template)]
#[template(path = "visits/check.html")]
struct CheckPage {
    ctx: PageCtx,
    facility: String,
    /// The facility's telephone, for when the call cannot be made.
    phone: String,
    starts: String,
    /// The waiting room's address (「待合室へ進む」).
    room: String,
    /// The probe's address (round trips and the download).
    probe: String,
    /// The doctor has already started (the patient came back to the check from the room).
    in_progress: bool,
    /// An app's built-in browser: its name, and for LINE the one-tap reopen link.
    in_app: Option<(String, Option<String>)>,
    back: Option<String>,
}

/// What the check page shows of a visit.
pub struct CheckOf<'a> {
    /// The visit's facility.
    pub facility: &'a tsunagu_clinics::Facility,
    /// The visit's start.
    pub starts_at: i64,
    /// Whether the doctor has started.
    pub in_progress: bool,
    /// The page's own path (`/v/{token}`, `/my/bookings/{id}/visit`).
    pub base: String,
    /// The patient's booking page, for a member.
    pub back: Option<String>,
}

/// Renders the check page.
pub fn check_page(ctx: PageCtx, browser: Browser, of: CheckOf<'_>) -> AppResult<Response> {
    let in_app = browser.is_in_app().then(|| {
        let reopen =
            (browser == Browser::Line).then(|| format!("{}?openExternalBrowser=1", of.base));
        (ctx.t(browser.name_key()).into_owned(), reopen)
    });
    page(&CheckPage {
        facility: of.facility.name.clone(),
        phone: of.facility.phone.clone(),
        starts: crate::ctx::format_ms(of.starts_at, &of.facility.time_zone),
        room: format!("{}?room=1", of.base),
        probe: format!("{}/probe", of.base),
        in_progress: of.in_progress,
        in_app,
        back: of.back,
        ctx,
    })
}

#[derive(Template)]
#[template(path = "visits/unsupported.html")]
struct UnsupportedPage {
    ctx: PageCtx,
    /// The browser's name.
    browser: String,
    /// The page's full address, to open in a supported browser.
    url: String,
    facility: String,
    phone: String,
}

/// The page for a browser that cannot make the call: the supported ones and what to do.
pub fn unsupported_page(
    st: &AppState,
    ctx: PageCtx,
    browser: Browser,
    facility: &tsunagu_clinics::Facility,
    path: &str,
) -> AppResult<Response> {
    page(&UnsupportedPage {
        browser: ctx.t(browser.name_key()).into_owned(),
        url: format!("{}{path}", st.config.public_url.trim_end_matches('/')),
        facility: facility.name.clone(),
        phone: facility.phone.clone(),
        ctx,
    })
}

/// The download's size when none is asked for, and the most it may be (KB).
const PROBE_DEFAULT_KB: usize = 256;
const PROBE_MAX_KB: usize = 1024;

/// `?kb=`: the size of the probe's body; 0 for a bare round trip.
#[derive(Debug, Deserialize)]
pub struct ProbeQuery {
    kb: Option<String>,
}

/// `/v/{token}/probe`: the connection check's endpoint, for an open link only.
pub async fn probe_link(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<ProbeQuery>,
) -> AppResult<Response> {
    match st.visits.open_link(&token).await? {
        LinkAccess::Open(..) => Ok(probe(&q)),
        _ => Err(AppError(DomainError::NotFound)),
    }
}

/// `POST /v/{token}/probe`: the upload half (the patient's camera goes this way): the body
/// is read and dropped; its size is capped like the download's.
pub async fn upload_link(
    State(st): State<AppState>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    match st.visits.open_link(&token).await? {
        LinkAccess::Open(..) => Ok(uploaded(&body)),
        _ => Err(AppError(DomainError::NotFound)),
    }
}

/// `POST /my/bookings/{id}/visit/probe`: the same for a member.
pub async fn upload_member(
    State(st): State<AppState>,
    user: PatientUser,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    match super::patient::member_entry(&st, user.account, id).await? {
        Some(_) => Ok(uploaded(&body)),
        None => Err(AppError(DomainError::NotFound)),
    }
}

/// Says how much arrived (the page times the request itself).
fn uploaded(body: &[u8]) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "bytes": body.len() })),
    )
        .into_response()
}

/// `/my/bookings/{id}/visit/probe`: the same for a member whose waiting room is open.
pub async fn probe_member(
    State(st): State<AppState>,
    user: PatientUser,
    Path(id): Path<i64>,
    Query(q): Query<ProbeQuery>,
) -> AppResult<Response> {
    match super::patient::member_entry(&st, user.account, id).await? {
        Some(_) => Ok(probe(&q)),
        None => Err(AppError(DomainError::NotFound)),
    }
}

/// Random bytes (nothing on the way can compress them), never cached.
fn probe(q: &ProbeQuery) -> Response {
    let kb =
        q.kb.as_deref()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(PROBE_DEFAULT_KB)
            .min(PROBE_MAX_KB);
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        noise(kb * 1024),
    )
        .into_response()
}

/// `len` pseudo-random bytes (SplitMix64 seeded from the OS's randomness): incompressible,
/// which is all a throughput probe needs.
fn noise(len: usize) -> Vec<u8> {
    let mut state = uuid::Uuid::new_v4().as_u64_pair().0;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_rule_names_only_what_is_certain() {
        let cases = [
            // Internet Explorer 11 and 10.
            (
                "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
                Browser::InternetExplorer,
            ),
            (
                "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)",
                Browser::InternetExplorer,
            ),
            // EdgeHTML 18.
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
                Browser::LegacyEdge,
            ),
            // LINE on iOS and Android.
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.3.0",
                Browser::Line,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SO-51D Build/1; wv) AppleWebKit/537.36 (KHTML, \
                 like Gecko) Version/4.0 Chrome/123.0.0.0 Mobile Safari/537.36 Line/14.4.1/IAB",
                Browser::Line,
            ),
            // Facebook and Instagram.
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/457.0.0.41.112;]",
                Browser::SocialApp,
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/122.0 Mobile Safari/537.36 Instagram 321.0.0.0 Android",
                Browser::SocialApp,
            ),
        ];
        for (ua, want) in cases {
            assert_eq!(classify(ua), want, "{ua}");
        }
        // The supported browsers, today's Edge on every platform, Firefox, and no header.
        for ua in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.0.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.0 EdgiOS/124.0 Mobile/15E148 Safari/605.1.15",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
             Gecko) Version/17.4 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/124.0 Safari/537.36 Online/1",
            "",
        ] {
            assert_eq!(classify(ua), Browser::Usable, "{ua}");
        }
        assert!(Browser::InternetExplorer.is_unsupported());
        assert!(Browser::LegacyEdge.is_unsupported());
        assert!(!Browser::Line.is_unsupported() && Browser::Line.is_in_app());
    }

    #[test]
    fn the_room_is_asked_for_or_the_doctor_has_started() {
        use tsunagu_visits::VisitState as S;
        let e = |room: bool, check: bool| Entry {
            room: room.then(|| "1".into()),
            check: check.then(|| "1".into()),
        };
        assert!(!e(false, false).wants_room(S::Scheduled));
        assert!(!e(false, false).wants_room(S::Waiting));
        assert!(e(true, false).wants_room(S::Scheduled));
        assert!(e(false, false).wants_room(S::InProgress));
        assert!(!e(false, true).wants_room(S::InProgress));
    }

    #[tokio::test]
    async fn the_probe_is_capped_and_noisy() {
        let len = |kb: Option<&str>| {
            let r = probe(&ProbeQuery {
                kb: kb.map(str::to_string),
            });
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
            async move {
                axum::body::to_bytes(r.into_body(), usize::MAX)
                    .await
                    .map_or(0, |b| b.len())
            }
        };
        assert_eq!(len(None).await, 256 * 1024);
        assert_eq!(len(Some("0")).await, 0);
        assert_eq!(len(Some("5000")).await, 1024 * 1024);
        assert_eq!(len(Some("x")).await, 256 * 1024);
        let a = noise(4096);
        assert_eq!(a.len(), 4096);
        assert_ne!(a, noise(4096));
        // Every byte value turns up: no long runs a compressor could fold.
        let mut seen = [false; 256];
        a.iter().for_each(|b| seen[usize::from(*b)] = true);
        assert!(seen.iter().all(|s| *s));
    }
}
