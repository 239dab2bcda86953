//! Time as the application sees it.
//!
//! Every rule that depends on "now" reads it from a [`Clock`] so that tests can put the
//! server at 23:59 JST or run it with the machine in UTC without sleeping. Instants are
//! stored as milliseconds since the Unix epoch (see `tsunagu-db`).

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// The current instant as stored in the database: milliseconds since the epoch.
    fn now_ms(&self) -> i64 {
        self.now().as_millisecond()
    }
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to; tests share it with the application.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        if let Ok(mut now) = self.now.lock() {
            *now = t;
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: SignedDuration) {
        if let Ok(mut now) = self.now.lock() {
            *now = now.saturating_add(d).unwrap_or(*now);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// Converts stored milliseconds back to an instant (the epoch if out of range).
pub fn from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
