//! Who may do what: patient accounts and their family profiles, staff per facility,
//! platform operators, and the machinery that admits them — SMS codes, passwords,
//! TOTP, server-side sessions and rate limits.
//!
//! Invariants kept here rather than in handlers:
//! - An account exists only once its phone was proved by a code and its password set; the
//!   account and its own patient profile are created in one transaction.
//! - Codes are 6 digits, live 10 minutes, burn after 5 wrong tries, and are stored as
//!   digests; sends have a cooldown and per-number and per-address limits.
//! - Password and TOTP failures share one counter, claimed before the check runs; they slow
//!   the next attempt down, then lock the login for a while.
//! - Sessions are random 256-bit tokens stored as digests; ids rotate at login.

pub mod attempts;
pub mod codes;
pub mod password;
pub mod patients;
pub mod ratelimit;
pub mod service;
pub mod sessions;
pub mod staff;
pub mod totp;

pub use patients::{Account, NewPatient, Patient, PatientStore, Relation};
pub use service::{Accounts, LoginPolicy};
pub use sessions::{Realm, Session, SessionStore, Stage};
pub use staff::{Operator, Role, StaffStore, StaffUser};
