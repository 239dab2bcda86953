//! Japanese calendar helpers for the tsunagu online clinic: public holidays
//! (clinic opening days), 和暦 dates (birth dates on insurance cards), legal
//! age and 未就学 status (co-payment rules), and kana/name normalisation
//! (matching form input against eligibility-check results).
//!
//! Everything is computed from rules; nothing is downloaded at run time.

pub mod age;
pub mod holiday;
pub mod kana;
pub mod wareki;

pub use age::{age_attained_on, age_on, is_preschool};
pub use holiday::{holiday_name, holidays_in_year, is_holiday};
pub use kana::{is_katakana, normalize_kana, normalize_name, to_halfwidth_kana};
pub use wareki::{Era, WarekiDate, WarekiError, from_wareki, parse_date, parse_era, to_wareki};
