//! Who may send and receive audio and video in a visit (C6, C9). The SFU forwards media only
//! for connections this rule let in; it knows nothing of visits.
//!
//! The rule: media flows while the doctor has the visit in progress. Staff of the facility
//! (the doctor first) and the patient take part; a guest only after the doctor admitted them
//! and while their link is live. Checked again on every offer, so a connection that
//! reconnects after the visit ended, or a guest revoked meanwhile, gets no media.

use tsunagu_kernel::{DomainError, DomainResult};

use crate::guests::Guest;
use crate::presence::Participant;
use crate::service::Visits;
use crate::store::{Visit, VisitState};

/// A participant let into the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPass {
    /// Their key in the room (`doctor:5`, `patient`, `guest:3`).
    pub key: String,
    /// `doctor`, `patient`, `staff` or `guest`.
    pub role: &'static str,
    /// A guest's name (others are shown by role).
    pub name: String,
}

impl Visits {
    /// Whether `who` may have media in visit `visit` now (read fresh from the database).
    pub async fn media_pass(&self, visit: &Visit, who: &Participant) -> DomainResult<MediaPass> {
        let v = self.store.get(visit.facility_id, visit.id).await?;
        match v.state {
            VisitState::InProgress => {}
            VisitState::Ended | VisitState::Cancelled => {
                return Err(DomainError::Conflict("error.media.ended"));
            }
            VisitState::Scheduled | VisitState::Waiting => {
                return Err(DomainError::Conflict("error.media.not_started"));
            }
        }
        let (key, role) = who.key_role();
        let mut name = String::new();
        if let Participant::Guest(id) = who {
            let g: Guest = self.guest(v.id, *id).await?;
            if !g.is_live(self.clock.now_ms()) {
                return Err(DomainError::Forbidden("error.guest.closed"));
            }
            if g.admitted_at.is_none() {
                return Err(DomainError::Forbidden("error.media.not_admitted"));
            }
            name = g.name;
        }
        Ok(MediaPass { key, role, name })
    }
}
