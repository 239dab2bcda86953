//! Login attempts are counted before they are evaluated.
//!
//! Reading the failure counter, running argon2 and then writing `failed + 1` let 150
//! parallel wrong passwords all be evaluated while the counter ended at 3. Here an
//! attempt first *claims* a failure with a compare-and-set on the counter (and the delay
//! it implies), so every attempt that reaches the password hash or the TOTP check has
//! already been counted; a success then gives its claim back. Parallel attempts serialise
//! on the row, and once the delay starts the rest are refused before any hashing.
//! The same counter takes password and TOTP failures, so knowing the password does not buy
//! unlimited second-factor guesses.

use tsunagu_db::{Db, DbResultExt, sqlx};
use tsunagu_kernel::{DomainError, DomainResult};

use crate::service::LoginPolicy;

/// Whose counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A patient account (`accounts`).
    Patient,
    /// A staff member (`staff_users`).
    Staff,
    /// A platform operator (`operators`).
    Operator,
    /// An account of the eligibility service (its own database's `accounts`).
    EligibilityAccount,
}

impl Counter {
    /// The wrong-credentials message: patients sign in with a phone number, everyone else
    /// with a login id.
    pub fn failed_key(self) -> &'static str {
        match self {
            Counter::Patient => "error.login.failed",
            _ => "error.login.failed_id",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Counter::Patient => "accounts",
            Counter::Staff => "staff_users",
            Counter::Operator => "operators",
            Counter::EligibilityAccount => "accounts",
        }
    }
}

impl From<crate::staff::LoginTable> for Counter {
    fn from(t: crate::staff::LoginTable) -> Self {
        match t {
            crate::staff::LoginTable::Staff => Counter::Staff,
            crate::staff::LoginTable::Operators => Counter::Operator,
        }
    }
}

/// An attempt that has been counted as a failure until it proves otherwise.
#[derive(Debug, Clone, Copy)]
#[must_use = "a claim is either a failure (kept) or given back"]
pub struct Claim {
    counter: Counter,
    id: i64,
    /// The failure count with this attempt included.
    pub failed: i64,
}

/// How often a claim retries when another attempt changed the counter in between.
const CAS_ROUNDS: usize = 8;

/// Claims one attempt on `id`'s counter at `now`: refused while the login is slowed down
/// or locked, otherwise counted as a failure before anything is evaluated.
pub async fn claim(
    db: &Db,
    policy: &LoginPolicy,
    counter: Counter,
    id: i64,
    now: i64,
) -> DomainResult<Claim> {
    let table = counter.table();
    for _ in 0..CAS_ROUNDS {
        let row: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT failed_logins, next_login_at FROM {table} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .or_internal()?;
        let (failed, next_at) = row.ok_or(DomainError::NotFound)?;
        throttled(policy, failed, next_at, now)?;
        let failed_now = failed + 1;
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET failed_logins = $2, next_login_at = $3 \
             WHERE id = $1 AND failed_logins = $4 AND next_login_at = $5"
        )))
        .bind(id)
        .bind(failed_now)
        .bind(policy.next_attempt_at(failed_now, now))
        .bind(failed)
        .bind(next_at)
        .execute(db.pool())
        .await
        .or_internal()?;
        if r.rows_affected() == 1 {
            return Ok(Claim {
                counter,
                id,
                failed: failed_now,
            });
        }
    }
    // Many attempts at once on one login: only an attack looks like this.
    Err(DomainError::TooManyRequests {
        key: "error.login.slow_down",
        retry_after_secs: 1,
    })
}

impl Claim {
    /// The attempt succeeded and the login is complete: the counter starts again.
    pub async fn succeeded(self, db: &Db) -> DomainResult<()> {
        reset(db, self.counter, self.id).await
    }

    /// The password was right but a second factor is still to come: only this attempt's
    /// own count is given back, so earlier TOTP failures keep counting toward the lock.
    pub async fn passed_first_factor(self, db: &Db) -> DomainResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET failed_logins = failed_logins - 1, next_login_at = 0 \
             WHERE id = $1 AND failed_logins > 0",
            self.counter.table()
        )))
        .bind(self.id)
        .execute(db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// The attempt failed; it is already counted. The error to answer with.
    pub fn failed(self, policy: &LoginPolicy) -> DomainError {
        if self.failed >= policy.lock_after {
            DomainError::TooManyRequests {
                key: "error.login.locked",
                retry_after_secs: u64::try_from(policy.lock_ms / 1000).unwrap_or(1800),
            }
        } else {
            DomainError::Unauthorized(self.counter.failed_key())
        }
    }
}

/// Clears `id`'s counter (a completed login, a new password).
pub async fn reset(db: &Db, counter: Counter, id: i64) -> DomainResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET failed_logins = 0, next_login_at = 0 WHERE id = $1",
        counter.table()
    )))
    .bind(id)
    .execute(db.pool())
    .await
    .or_internal()?;
    Ok(())
}

/// Refuses while the login is delayed or locked, naming which.
fn throttled(policy: &LoginPolicy, failed: i64, next_at: i64, now: i64) -> DomainResult<()> {
    if next_at > now {
        let retry_after_secs = u64::try_from((next_at - now) / 1000 + 1).unwrap_or(1);
        return Err(DomainError::TooManyRequests {
            key: if failed >= policy.lock_after {
                "error.login.locked"
            } else {
                "error.login.slow_down"
            },
            retry_after_secs,
        });
    }
    Ok(())
}
