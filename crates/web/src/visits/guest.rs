//! A guest's side of a visit (C9 groundwork): the guest's own link `/g/{token}` opens the
//! visit's waiting room as that guest, who waits there until the doctor admits them; a
//! revoked or expired link gets a clear page.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tsunagu_visits::{GuestAccess, VisitState};

use crate::ctx::PageCtx;
use crate::error::AppResult;
use crate::render::{page, page_status};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "visits/guest.html")]
struct GuestPage {
    ctx: PageCtx,
    facility: String,
    starts: String,
    name: String,
    role_key: &'static str,
    admitted: bool,
    in_progress: bool,
    guest_id: i64,
    ws_path: String,
}

#[derive(Template)]
#[template(path = "visits/link_message.html")]
struct ClosedPage {
    ctx: PageCtx,
    title_key: &'static str,
    message: String,
    facility: Option<(String, String)>,
}

pub async fn by_link(
    State(st): State<AppState>,
    ctx: PageCtx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match st.visits.open_guest_link(&token).await? {
        GuestAccess::Open(v, g, f) => page(&GuestPage {
            facility: f.name.clone(),
            starts: crate::ctx::format_ms(v.starts_at, &f.time_zone),
            name: g.name.clone(),
            role_key: g.role.label_key(),
            admitted: g.admitted_at.is_some(),
            in_progress: v.state == VisitState::InProgress,
            guest_id: g.id,
            ws_path: format!("/g/{token}/ws"),
            ctx,
        }),
        GuestAccess::Closed => page_status(
            StatusCode::NOT_FOUND,
            &ClosedPage {
                title_key: "guest.closed_title",
                message: ctx.t("guest.closed").into_owned(),
                facility: None,
                ctx,
            },
        ),
    }
}
