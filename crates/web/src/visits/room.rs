//! The socket of a visit page: it puts its participant in the room (presence), keeps them
//! there with heartbeats, takes them out when it closes, and carries the room's events
//! (the doctor started or ended the visit) to the page. The media signalling will ride on
//! the same socket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tsunagu_booking::BookingStatus;
use tsunagu_events::Topic;
use tsunagu_i18n::{Lang, t};
use tsunagu_kernel::DomainError;
use tsunagu_rtc::{Closed, MediaError, PeerInfo, Signal};
use tsunagu_visits::{LinkAccess, Participant, Visit};

use crate::ctx::ReqLang;
use crate::error::AppError;
use crate::session::{ClientIp, PatientUser, StaffMember};
use crate::state::AppState;

/// Heartbeats closer than this are not written (a page sends one every 20 s).
const HEARTBEAT_WRITE_MS: i64 = 10_000;

/// The largest SDP offer taken (Chromium's, with our twelve m-lines, is about 15 KB).
const MAX_SDP: usize = 64 * 1024;

/// At most this many offers in this window (a page restarts ICE every few seconds at most):
/// more is refused, not parsed.
const OFFERS_PER_WINDOW: usize = 10;
const OFFER_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// `/v/{token}/ws`: the holder of a URL call's link, while the link is open.
pub async fn by_link(
    State(st): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ReqLang(lang): ReqLang,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = crate::ws::same_origin(&headers) {
        return e.into_response();
    }
    match st.visits.open_link(&token).await {
        Ok(LinkAccess::Open(v, _)) => {
            let who = Participant::Patient { account: None };
            ws.on_upgrade(move |s| room(st, s, v, who, ip, lang))
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
    ReqLang(lang): ReqLang,
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
            ws.on_upgrade(move |s| room(st, s, v, who, ip, lang))
        }
        Err(e) => AppError(e).into_response(),
    }
}

/// `/g/{token}/ws`: an invited guest, while the link is live.
pub async fn guest(
    State(st): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ReqLang(lang): ReqLang,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = crate::ws::same_origin(&headers) {
        return e.into_response();
    }
    match st.visits.open_guest_link(&token).await {
        Ok(tsunagu_visits::GuestAccess::Open(v, g, _)) => {
            let who = Participant::Guest(g.id);
            ws.on_upgrade(move |s| room(st, s, v, who, ip, lang))
        }
        Ok(_) => AppError(DomainError::NotFound).into_response(),
        Err(e) => AppError(e).into_response(),
    }
}

/// `/staff/visits/{id}/ws`: staff on the visit page (the doctor's time is metered).
pub async fn staff(
    State(st): State<AppState>,
    headers: HeaderMap,
    ReqLang(lang): ReqLang,
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
            ws.on_upgrade(move |s| room(st, s, v, who, ip, lang))
        }
        Err(e) => AppError(e).into_response(),
    }
}

/// What the page sends.
#[derive(Deserialize)]
#[serde(tag = "t")]
enum FromPage {
    #[serde(rename = "rtc.offer")]
    Offer { sdp: String },
    #[serde(rename = "rtc.media")]
    Media { audio: bool, video: bool },
    #[serde(rename = "rtc.hangup")]
    Hangup,
}

/// This socket's connection in the SFU.
struct Media {
    peer: u64,
    signals: tokio::sync::mpsc::UnboundedReceiver<Signal>,
}

fn event(kind: &str, data: serde_json::Value) -> Message {
    Message::Text(
        serde_json::json!({ "kind": kind, "data": data })
            .to_string()
            .into(),
    )
}

fn media_error(lang: Lang, key: &str) -> Message {
    event("rtc.error", serde_json::json!({ "message": t(lang, key) }))
}

/// Answers an offer: joins the SFU room (first offer) or renegotiates (ICE restart), after
/// the visits rule let this participant in.
async fn offer(
    st: &AppState,
    v: &Visit,
    who: &Participant,
    media: &mut Option<Media>,
    sdp: &str,
    lang: Lang,
) -> Message {
    let Some(sfu) = st.config.sfu.as_ref() else {
        return media_error(lang, "error.media.unavailable");
    };
    let pass = match st.visits.media_pass(v, who).await {
        Ok(p) => p,
        Err(DomainError::Conflict(k) | DomainError::Forbidden(k)) => return media_error(lang, k),
        Err(e) => {
            tracing::warn!(visit = v.id, error = %e, "media pass failed");
            return media_error(lang, "error.media.unavailable");
        }
    };
    let answered = match media {
        Some(m) => sfu.offer(m.peer, sdp).await,
        None => {
            let info = PeerInfo {
                key: pass.key,
                name: pass.name,
                role: pass.role.into(),
            };
            sfu.join(v.id, info, sdp).await.map(|j| {
                *media = Some(Media {
                    peer: j.peer,
                    signals: j.signals,
                });
                j.answer
            })
        }
    };
    match answered {
        Ok(answer) => event("rtc.answer", serde_json::json!({ "sdp": answer })),
        Err(MediaError::RoomFull) => media_error(lang, "error.media.full"),
        Err(e) => {
            tracing::info!(visit = v.id, error = %e, "an offer was refused");
            media_error(lang, "error.media.unavailable")
        }
    }
}

/// Tells a page that may have media how to reach the SFU: `rtc.ice` with the ICE servers
/// (a TURN credential of its own when TURN is configured, else none). The page starts its
/// connection on this message. Nothing is sent to a page that may not have media yet.
async fn ice_servers(st: &AppState, v: &Visit, who: &Participant, lang: Lang) -> Option<Message> {
    st.visits.media_pass(v, who).await.ok()?;
    if st.config.sfu.is_none() {
        return Some(media_error(lang, "error.media.unavailable"));
    }
    let servers: Vec<_> = st
        .config
        .turn
        .iter()
        .map(|t| {
            let (key, _) = who.key_role();
            t.credential(&format!("visit-{}-{key}", v.id), st.booker.now_ms() / 1000)
        })
        .collect();
    Some(event(
        "rtc.ice",
        serde_json::json!({ "iceServers": servers }),
    ))
}

fn signal_message(s: Signal) -> Message {
    match s {
        Signal::Tiles(tiles) => event("rtc.tiles", serde_json::json!({ "tiles": tiles })),
        Signal::Speaker(key) => event("rtc.speaker", serde_json::json!({ "key": key })),
        Signal::Closed(why) => event(
            "rtc.closed",
            serde_json::json!({ "why": match why {
                Closed::Removed => "removed",
                Closed::Replaced => "replaced",
                Closed::Failed => "failed",
            } }),
        ),
    }
}

async fn next_signal(media: &mut Option<Media>) -> Option<Signal> {
    match media.as_mut() {
        Some(m) => m.signals.recv().await,
        None => std::future::pending().await,
    }
}

fn hang_up(st: &AppState, media: &mut Option<Media>) {
    if let (Some(m), Some(sfu)) = (media.take(), st.config.sfu.as_ref()) {
        sfu.leave(m.peer);
    }
}

async fn room(
    st: AppState,
    mut socket: WebSocket,
    v: Visit,
    who: Participant,
    ip: String,
    lang: Lang,
) {
    let mut rx = st.events.subscribe();
    let presence = match st.visits.join(&v, &who, &ip).await {
        Ok(p) => p,
        Err(e) => {
            // The page reconnects by itself; the log says why it had to.
            tracing::warn!(visit = v.id, error = %e, "entering a visit's room was not recorded");
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    let topic = Topic::Visit(v.id);
    let mut last_beat = st.booker.now_ms();
    let mut media: Option<Media> = None;
    let mut offers: Vec<std::time::Instant> = Vec::new();
    if let Some(m) = ice_servers(&st, &v, &who, lang).await
        && socket.send(m).await.is_err()
    {
        let _ = st.visits.leave(&v, &who, presence, &ip).await;
        return;
    }
    loop {
        tokio::select! {
            sig = next_signal(&mut media) => match sig {
                // Out of the room; when the SFU itself stopped (no signal), as broken.
                sig @ (Some(Signal::Closed(_)) | None) => {
                    media = None;
                    let why = sig.unwrap_or(Signal::Closed(Closed::Failed));
                    if socket.send(signal_message(why)).await.is_err() {
                        break;
                    }
                }
                Some(sig) => {
                    if socket.send(signal_message(sig)).await.is_err() {
                        break;
                    }
                }
            },
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
                    // The call ends with the visit.
                    if ev.kind == "visit.state"
                        && matches!(ev.data["state"].as_str(), Some("ended" | "cancelled"))
                    {
                        hang_up(&st, &mut media);
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
                Some(Ok(Message::Text(text))) if text.starts_with("{\"t\":\"rtc.") => {
                    let reply = match serde_json::from_str::<FromPage>(&text) {
                        // A browser's offer is a few kilobytes: anything bigger is refused.
                        Ok(FromPage::Offer { sdp }) if sdp.len() > MAX_SDP => {
                            Some(media_error(lang, "error.media.unavailable"))
                        }
                        Ok(FromPage::Offer { sdp }) => {
                            let now = std::time::Instant::now();
                            offers.retain(|t| now.duration_since(*t) < OFFER_WINDOW);
                            if offers.len() >= OFFERS_PER_WINDOW {
                                Some(media_error(lang, "error.media.too_many"))
                            } else {
                                offers.push(now);
                                Some(offer(&st, &v, &who, &mut media, &sdp, lang).await)
                            }
                        }
                        Ok(FromPage::Media { audio, video }) => {
                            if let (Some(m), Some(sfu)) = (media.as_ref(), st.config.sfu.as_ref()) {
                                sfu.set_media(m.peer, audio, video);
                            }
                            None
                        }
                        Ok(FromPage::Hangup) => {
                            hang_up(&st, &mut media);
                            None
                        }
                        Err(_) => Some(media_error(lang, "error.media.unavailable")),
                    };
                    if let Some(r) = reply
                        && socket.send(r).await.is_err()
                    {
                        break;
                    }
                }
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
    hang_up(&st, &mut media);
    if let Err(e) = st.visits.leave(&v, &who, presence, &ip).await {
        tracing::warn!(visit = v.id, error = %e, "leaving a visit's room was not recorded");
    }
}
