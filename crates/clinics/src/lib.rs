//! Organisations and their facilities.
//!
//! An organisation (医療法人 or hospital group) owns facilities; hospitals of one group
//! share things such as the deferred-payment registration (seed 003). Each facility has a
//! prefecture (for patients searching by prefecture), a time zone for its day rules, a
//! unique booking slug (its own URL and QR code), and settings such as the TOTP policy.

mod facility;
pub mod legal;
pub mod prefecture;

pub use facility::{Facility, FacilityKind, FacilityStore, NewFacility, Organisation};
pub use prefecture::{PREFECTURES, prefecture_name};
