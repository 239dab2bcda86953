//! The kernel: the small vocabulary every tsunagu crate speaks.
//!
//! Typed ids keep a patient id from being passed where a facility id is meant; the
//! [`Clock`] lets tests move time; [`Phone`] and [`Email`] can only be built through
//! validation; [`DomainError`] is the one error shape the web layer maps to HTTP.

pub mod clock;
pub mod error;
pub mod ids;
pub mod seal;
pub mod secret;
pub mod values;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{DomainError, DomainResult, FieldError};
pub use ids::*;
pub use values::{Email, Phone, Sex};
