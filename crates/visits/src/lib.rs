//! Video visits (B8, C1–C8, C10, C12): the medical encounter of one booking or of one
//! video-call URL, separate from the connections that join it.
//!
//! A visit goes scheduled → patient waiting → in progress → ended, or is cancelled. Only the
//! doctor starts and ends it; only the clinic cancels a URL call (the patient is not told).
//! A URL call's patient link is a key of its own: derived from a stored nonce with the
//! server's key (so staff can show it again) and looked up by digest, open from one hour
//! before the start until the same clock time the next day in the facility's zone
//! ([`window`]). Every change is audited in its own transaction and pushed to the
//! facility's screens after the commit. The media (the SFU) joins a visit; it never owns it.

pub mod guests;
pub mod media;
pub mod presence;
mod service;
mod store;
pub mod usage;
pub mod window;

pub use guests::{Guest, GuestAccess, GuestRole};
pub use media::MediaPass;
pub use presence::{Participant, Room};
pub use service::{LinkAccess, NUDGE_FROM_MS, Send, UrlCallInput, UsageLine, Visits};
pub use store::{Visit, VisitKind, VisitState};
