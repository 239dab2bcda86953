//! What can be booked: a facility's menus (B9), its doctors' weekly hours and the
//! exceptions to them (closures, extra hours), Japanese public holidays, and the free
//! slots all of these make for a menu and visit kind.
//!
//! Every day rule is computed in the facility's time zone: a slot "on 2026-11-23" is on
//! that date in Asia/Tokyo whatever the server's zone. Times inside a day are minutes from
//! local midnight; instants are UTC milliseconds.

pub mod grid;
pub mod menu;
pub mod questionnaire;
pub mod schedule;
pub mod slots;

pub use menu::{Menu, MenuChange, MenuInput, MenuStore, MenuValue, Mode, Question, VisitKind};
pub use questionnaire::MenuForm;
pub use schedule::{Exception, ExceptionKind, ScheduleStore, WeeklyHours, parse_day};
pub use slots::{DayPlan, Slot, SlotQuery, UNIT_MINUTES};
