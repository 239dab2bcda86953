//! Who is in a visit's room (C8): a row per connection, opened and closed by the visit
//! page's socket, kept alive by its heartbeats. A connection that stops sending (a lost
//! network, a closed laptop) is gone after [`GONE_AFTER_MS`] even before its close arrives.

use tsunagu_db::{DbResultExt, Tx, sqlx};
use tsunagu_kernel::DomainResult;

/// A connection silent this long is no longer in the room.
pub const GONE_AFTER_MS: i64 = 60_000;

/// Who a connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Participant {
    /// The patient: a member's account, or the holder of a URL call's link.
    Patient { account: Option<i64> },
    /// The visit's doctor (or another doctor of the facility).
    Doctor(i64),
    /// Other staff of the facility.
    Staff(i64),
    /// An invited guest (family, interpreter, specialist).
    Guest(i64),
}

impl Participant {
    /// Its stable key and role as stored.
    pub fn key_role(&self) -> (String, &'static str) {
        match self {
            Self::Patient { .. } => ("patient".into(), "patient"),
            Self::Doctor(id) => (format!("doctor:{id}"), "doctor"),
            Self::Staff(id) => (format!("staff:{id}"), "staff"),
            Self::Guest(id) => (format!("guest:{id}"), "guest"),
        }
    }

    /// The audit actor of its joins and leaves.
    pub fn actor(&self) -> tsunagu_audit::Actor {
        match self {
            Self::Patient { account } => tsunagu_audit::Actor {
                kind: "patient",
                id: *account,
                label: if account.is_some() {
                    "patient".into()
                } else {
                    "patient (visit link)".into()
                },
            },
            Self::Doctor(id) => tsunagu_audit::Actor {
                kind: "staff",
                id: Some(*id),
                label: "doctor".into(),
            },
            Self::Staff(id) => tsunagu_audit::Actor {
                kind: "staff",
                id: Some(*id),
                label: "staff".into(),
            },
            Self::Guest(id) => tsunagu_audit::Actor {
                kind: "guest",
                id: Some(*id),
                label: "guest (visit link)".into(),
            },
        }
    }
}

/// What the reception list shows of a visit's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Nobody has come yet.
    Empty,
    /// The patient is in the waiting room since this instant.
    PatientSince(i64),
    /// The patient was here and left at this instant.
    PatientLeft(i64),
}

pub(crate) async fn open_in(
    tx: &mut Tx,
    visit: i64,
    who: &Participant,
    now: i64,
) -> DomainResult<i64> {
    let (key, role) = who.key_role();
    sqlx::query_scalar(
        "INSERT INTO visit_presence (visit_id, participant, role, joined_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(visit)
    .bind(key)
    .bind(role)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .or_internal()
}

pub(crate) async fn close_in(tx: &mut Tx, presence: i64, now: i64) -> DomainResult<()> {
    sqlx::query("UPDATE visit_presence SET left_at = $2, last_seen_at = $2 WHERE id = $1 AND left_at IS NULL")
        .bind(presence)
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()
        .map(|_| ())
}

/// Whether the patient is in the room now (an open, recently heard connection).
pub(crate) async fn patient_here_in(tx: &mut Tx, visit: i64, now: i64) -> DomainResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM visit_presence WHERE visit_id = $1 AND role = 'patient' \
         AND left_at IS NULL AND last_seen_at > $2",
    )
    .bind(visit)
    .bind(now - GONE_AFTER_MS)
    .fetch_one(&mut **tx)
    .await
    .or_internal()?;
    Ok(n > 0)
}

/// The room of each visit: (visit, open-since, last left) of its patient connections.
pub(crate) fn room_of(open_since: Option<i64>, last_left: Option<i64>) -> Room {
    match (open_since, last_left) {
        (Some(since), _) => Room::PatientSince(since),
        (None, Some(left)) => Room::PatientLeft(left),
        (None, None) => Room::Empty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_says_who_is_waiting_or_left() {
        assert_eq!(room_of(None, None), Room::Empty);
        assert_eq!(room_of(Some(5), Some(3)), Room::PatientSince(5));
        assert_eq!(room_of(None, Some(3)), Room::PatientLeft(3));
    }

    #[test]
    fn participants_have_stable_keys() {
        assert_eq!(
            Participant::Patient { account: None }.key_role(),
            ("patient".into(), "patient")
        );
        assert_eq!(
            Participant::Doctor(7).key_role(),
            ("doctor:7".into(), "doctor")
        );
    }
}
