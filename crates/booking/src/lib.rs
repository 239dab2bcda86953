//! Bookings (B2, B3, B4, B7).
//!
//! A booking claims each 5-minute unit of its doctor's time it covers, one seat per unit,
//! in the same transaction as the booking row. The claim table's primary key (doctor,
//! unit, seat) is the only arbiter of capacity: inserts use `ON CONFLICT DO NOTHING` over
//! the seats 1..=capacity, and if any unit has no seat left the whole transaction is
//! abandoned and the caller hears "just taken" — there is no check-then-insert window and
//! nothing is left half-written. Cancelling deletes the claims, freeing the time.
//!
//! Day rules use the facility's time zone: a patient may cancel online until the end of the
//! day before the visit; later, only the clinic can, and the cancellation is flagged for
//! the clinic's cancellation fee (B4, D6).

pub mod coverage;
mod desk;
mod service;
mod store;

pub use desk::{DeskFacts, DeskInsurance, DeskQuestionnaire};
pub use service::{
    Booker, BookingView, DayList, MenuSaved, PatientBooking, RemindJob, SEEN_FROM_BEFORE_START_MS,
    StaffBooking, StaffBookingFor, close_allowed, reopen_allowed,
};
pub use store::{
    Answers, Booking, BookingStatus, BookingStore, NewBooking, Source, cancel_deadline,
};
