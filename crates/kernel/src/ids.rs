//! Typed identifiers.
//!
//! Rows are keyed by database-generated `i64`s; wrapping each in its own type means a
//! `PatientId` can never be handed to a query that expects a `FacilityId`.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

id_type!(
    /// A medical corporation or hospital group (医療法人・病院グループ).
    OrganisationId,
    /// A clinic or hospital.
    FacilityId,
    /// A member of a facility's staff.
    StaffId,
    /// A platform operator.
    OperatorId,
    /// A patient login (phone + password); it may manage several patients.
    AccountId,
    /// A person who receives care: the account holder, a family member, or someone with no account.
    PatientId,
    /// A queued background job.
    JobId,
    /// A message in the notification outbox.
    OutboxId,
);
