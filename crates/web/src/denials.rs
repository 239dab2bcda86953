//! Refused staff requests are audited, in one place.
//!
//! A clerk asking for another facility's booking or patient gets the same 404 as for
//! nothing at all, and a nurse on an admin page a 403; neither left a trace, so probing
//! went unseen. Here every staff request answered 403 or 404 appends `access.denied` with
//! the method, path and status, once the staff extractor has said who asked. The handler
//! writes nothing for it: the extractors record the actor in a slot this layer reads.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::session::StaffMember;
use crate::state::AppState;

/// Who the staff extractor found, for this request.
#[derive(Clone, Default)]
pub struct StaffSlot(
    Arc<Mutex<Option<tsunagu_audit::Actor>>>,
    Arc<Mutex<Option<i64>>>,
);

/// Called by the staff extractors: the request is by `me`.
pub fn remember(parts: &Parts, me: &StaffMember) {
    if let Some(slot) = parts.extensions.get::<StaffSlot>() {
        if let Ok(mut a) = slot.0.lock() {
            *a = Some(tsunagu_audit::Actor {
                kind: "staff",
                id: Some(me.user.id.0),
                label: format!("{} ({})", me.user.display_name, me.user.role.as_str()),
            });
        }
        if let Ok(mut f) = slot.1.lock() {
            *f = Some(me.facility.id.0);
        }
    }
}

/// The path with long segments (file keys, tokens: keys in their own right) elided.
fn redact(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.len() > 24 { "…" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The layer.
pub async fn audit_denials(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if !(path.starts_with("/staff") || path.starts_with("/api/v1/staff")) {
        return next.run(req).await;
    }
    let slot = StaffSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let (parts, body) = req.into_parts();
    let ip = crate::session::client_ip(&parts);
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = next.run(Request::from_parts(parts, body)).await;
    let status = resp.status();
    if status != StatusCode::FORBIDDEN && status != StatusCode::NOT_FOUND {
        return resp;
    }
    let actor = slot.0.lock().ok().and_then(|mut a| a.take());
    let facility = slot.1.lock().ok().and_then(|mut f| f.take());
    if let Some(actor) = actor {
        let entry = tsunagu_audit::Entry {
            actor,
            facility_id: facility.map(tsunagu_kernel::FacilityId),
            patient_id: None,
            action: "access.denied",
            detail: format!("{method} {} {}", redact(&path), status.as_u16()),
            ip,
            request_id,
        };
        if let Err(e) = st.audit.append(entry).await {
            tracing::error!(error = %e, "could not audit a denied staff request");
        }
    }
    resp
}
