//! The WebSocket of every signed-in page: one socket per page, carrying the live events of
//! the topics its user may see (a facility's staff: that facility; a patient: their own
//! account; operators: the operators' topic). Messages are JSON `{"kind", "data"}`.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;
use tsunagu_events::Topic;
use tsunagu_kernel::DomainError;

use crate::error::AppError;
use crate::session::{OperatorUser, PatientUser, StaffMember};
use crate::state::AppState;

/// Refuses upgrades started by another site's page (cross-site WebSocket hijacking).
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (None, _) => Ok(()),
        (Some(o), Some(h)) if o.split_once("://").is_some_and(|(_, rest)| rest == h) => Ok(()),
        _ => Err(AppError(DomainError::Forbidden("error.csrf"))),
    }
}

/// Staff: their facility's events.
pub async fn staff_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    me: StaffMember,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let topic = Topic::Facility(me.scope());
    ws.on_upgrade(move |socket| forward(st, socket, vec![topic]))
}

/// Patients: their account's events.
pub async fn patient_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    user: PatientUser,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let topic = Topic::Account(user.account);
    ws.on_upgrade(move |socket| forward(st, socket, vec![topic]))
}

/// Operators: the operators' events.
pub async fn ops_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    _op: OperatorUser,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    ws.on_upgrade(move |socket| forward(st, socket, vec![Topic::Operators]))
}

async fn forward(st: AppState, mut socket: WebSocket, topics: Vec<Topic>) {
    let mut rx = st.events.subscribe();
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) if topics.contains(&ev.topic) => {
                    let text = serde_json::json!({ "kind": ev.kind, "data": ev.data }).to_string();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                // Too slow to keep up: tell the page to reload its data rather than drop silently.
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
                Some(Ok(_)) => {}
            },
        }
    }
}
