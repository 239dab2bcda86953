//! The socket of a visit page: it puts its participant in the room (presence), keeps them
//! there with heartbeats, takes them out when it closes, and carries the room's events
//! (the doctor started or ended the visit) to the page. The media signalling will ride on
//! the same socket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;
use tsunagu_booking::BookingStatus;
use tsunagu_events::Topic;
use tsunagu_kernel::DomainError;
use tsunagu_visits::{LinkAccess, Participant, Visit};

use crate::error::AppError;
use crate::session::{ClientIp, PatientUser, StaffMember};
use crate::state::AppState;

/// Heartbeats closer than this are not written (a page sends one every 20 s).
const HEARTBEAT_WRITE_MS: i64 = 10_000;

/// `/v/{token}/ws`: the holder of a URL call's link, while the link is open.
pub async fn by_link(
    State(st): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = crate::ws::same_origin(&headers) {
        return e.into_response();
    }
    match st.visits.open_link(&token).await {
        Ok(LinkAccess::Open(v, _)) => {
            let who = Participant::Patient { account: None };
            ws.on_upgrade(move |s| room(st, s, v, who, ip))
        }
        Ok(_) => AppError(DomainError::NotFound).into_response(),
        Err(e) => AppError(e).into_response(),
    }
}

/// `/my/bookings/{id}/visit/ws`: a member in their booking's room.
pub async fn member(
    State(st): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    user: PatientUser,
    Path(id): Path<i64>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = crate::ws::same_origin(&headers) {
        return e.into_response();
    }
    let visit = async {
        let b = st.booker.bookings.get_for_account(user.account, id).await?;
        if b.status != BookingStatus::Booked {
            return Err(DomainError::NotFound);
        }
        let facility = st.facilities.get(b.facility_id).await?;
        st.visits
            .of_booking(facility.id, b.id, b.doctor_id, b.starts_at)
            .await
    }
    .await;
    match visit {
        Ok(v) => {
            let who = Participant::Patient {
                account: Some(user.account.0),
            };
            ws.on_upgrade(move |s| room(st, s, v, who, ip))
        }
        Err(e) => AppError(e).into_response(),
    }
}

/// `/g/{token}/ws`: an invited guest, while the link is live.
pub async fn guest(
    State(st): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = crate::ws::same_origin(&headers) {
        return e.into_response();
    }
    match st.visits.open_guest_link(&token).await {
        Ok(tsunagu_visits::GuestAccess::Open(v, g, _)) => {
            let who = Participant::Guest(g.id);
            ws.on_upgrade(move |s| room(st, s, v, who, ip))
        }
        Ok(_) => AppError(DomainError::NotFound).into_response(),
        Err(e) => AppError(e).into_response(),
    }
}

/// `/staff/visits/{id}/ws`: staff on the visit page (the doctor's time is metered).
pub async fn staff(
    State(st): State<AppState>,
    headers: HeaderMap,
    me: StaffMember,
    Path(id): Path<i64>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = crate::ws::same_origin(&headers) {
        return e.into_response();
    }
    match st.visits.get(me.scope(), id).await {
        Ok(v) => {
            let who = if me.user.role == tsunagu_accounts::Role::Doctor {
                Participant::Doctor(me.user.id.0)
            } else {
                Participant::Staff(me.user.id.0)
            };
            let ip = me.ip.clone();
            ws.on_upgrade(move |s| room(st, s, v, who, ip))
        }
        Err(e) => AppError(e).into_response(),
    }
}

async fn room(st: AppState, mut socket: WebSocket, v: Visit, who: Participant, ip: String) {
    let mut rx = st.events.subscribe();
    let Ok(presence) = st.visits.join(&v, &who, &ip).await else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let topic = Topic::Visit(v.id);
    let mut last_beat = st.booker.now_ms();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) if ev.topic == topic => {
                    let text = serde_json::json!({ "kind": ev.kind, "data": ev.data }).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                    // A revoked guest is out at once: their connection is closed.
                    if let Participant::Guest(me) = who
                        && ev.kind == "visit.guest_revoked"
                        && ev.data["guest"].as_i64() == Some(me)
                    {
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    let text = serde_json::json!({ "kind": "resync", "data": null }).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {
                    let now = st.booker.now_ms();
                    if now - last_beat >= HEARTBEAT_WRITE_MS {
                        last_beat = now;
                        let _ = st.visits.heartbeat(presence).await;
                    }
                }
            },
        }
    }
    if let Err(e) = st.visits.leave(&v, &who, presence, &ip).await {
        tracing::warn!(visit = v.id, error = %e, "leaving a visit's room was not recorded");
    }
}
