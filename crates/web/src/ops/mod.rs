//! The operating body's console: its login, organisations and facilities, jobs,
//! the audit log and its verification, and the development outbox.

pub mod pages;

use axum::Router;

use crate::state::AppState;

/// The pages.
pub fn router() -> Router<AppState> {
    pages::router()
}
