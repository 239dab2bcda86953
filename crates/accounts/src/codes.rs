//! One-time SMS codes: sign-up, password reset, phone change.
//!
//! A code is 6 random digits, valid for 10 minutes, stored only as a keyed digest
//! (HMAC-SHA256 under the platform's secret key, kept outside the database): a copy of the
//! database alone cannot try the million possible codes. Five wrong entries burn it. Issuing a new code for the same purpose and number retires the old
//! one, so only the newest SMS works.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::seal::Sealer;
use tsunagu_kernel::secret::numeric_code;
use tsunagu_kernel::{Clock, DomainError, DomainResult, Phone};

/// How long a code lives.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Wrong entries before a code is burnt.
pub const MAX_TRIES: i64 = 5;

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Owning the number at sign-up.
    Signup,
    /// Owning the number to reset the password.
    Reset,
    /// Owning a new number when changing it.
    PhoneChange,
}

impl Purpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Signup => "signup",
            Purpose::Reset => "reset",
            Purpose::PhoneChange => "phone_change",
        }
    }
}

/// Code storage.
#[derive(Debug, Clone)]
pub struct CodeStore {
    db: Db,
    clock: Arc<dyn Clock>,
    sealer: Sealer,
}

impl CodeStore {
    /// Codes on `db`, digested under `sealer`'s key.
    pub fn new(db: Db, clock: Arc<dyn Clock>, sealer: Sealer) -> Self {
        Self { db, clock, sealer }
    }

    /// The key codes are digested under (enrolment codes use it too).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    fn digest(&self, phone: &Phone, code: &str) -> String {
        // Binding the number into the digest stops one code's digest matching another number's.
        self.sealer.mac(&format!("{}:{code}", phone.e164()))
    }

    /// Milliseconds since the last code for this purpose and number was issued, if any.
    pub async fn since_last(&self, purpose: Purpose, phone: &Phone) -> DomainResult<Option<i64>> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM verification_codes WHERE purpose = $1 AND phone = $2",
        )
        .bind(purpose.as_str())
        .bind(phone.e164())
        .fetch_one(self.db.pool())
        .await
        .or_internal()?;
        Ok(last.map(|t| self.clock.now_ms() - t))
    }

    /// Issues a new code in the caller's transaction (so it exists only if the SMS that
    /// carries it was queued) and returns it in clear for the message.
    pub async fn issue_in(
        &self,
        tx: &mut Tx,
        purpose: Purpose,
        phone: &Phone,
    ) -> DomainResult<String> {
        let now = self.clock.now_ms();
        sqlx::query(
            "UPDATE verification_codes SET consumed_at = $3 \
             WHERE purpose = $1 AND phone = $2 AND consumed_at IS NULL",
        )
        .bind(purpose.as_str())
        .bind(phone.e164())
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()?;
        let code = numeric_code(6);
        sqlx::query(
            "INSERT INTO verification_codes (purpose, phone, code_digest, attempts, expires_at, \
             created_at) VALUES ($1, $2, $3, 0, $4, $5)",
        )
        .bind(purpose.as_str())
        .bind(phone.e164())
        .bind(self.digest(phone, &code))
        .bind(now + CODE_TTL_MS)
        .bind(now)
        .execute(&mut **tx)
        .await
        .or_internal()?;
        Ok(code)
    }

    /// Checks `code` against the live code for this purpose and number and consumes it on
    /// success. Errors name the field `code` with what went wrong.
    pub async fn verify(&self, purpose: Purpose, phone: &Phone, input: &str) -> DomainResult<()> {
        let code: String = input
            .chars()
            .filter_map(|c| match c {
                '0'..='9' => Some(c),
                // Full-width digits from a Japanese keyboard.
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
                _ => None,
            })
            .collect();
        if input.trim().is_empty() {
            return Err(DomainError::invalid("code", "error.code.required"));
        }
        if code.len() != 6 {
            return Err(DomainError::invalid("code", "error.code.format"));
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let row: Option<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT id, code_digest, attempts, expires_at FROM verification_codes \
             WHERE purpose = $1 AND phone = $2 AND consumed_at IS NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(purpose.as_str())
        .bind(phone.e164())
        .fetch_optional(&mut *tx)
        .await
        .or_internal()?;
        let Some((id, stored, attempts, expires_at)) = row else {
            return Err(DomainError::invalid("code", "error.code.none"));
        };
        if expires_at <= now {
            return Err(DomainError::invalid("code", "error.code.expired"));
        }
        if attempts >= MAX_TRIES {
            return Err(DomainError::invalid("code", "error.code.burnt"));
        }
        let ok: bool = self
            .digest(phone, &code)
            .as_bytes()
            .ct_eq(stored.as_bytes())
            .into();
        if ok {
            sqlx::query("UPDATE verification_codes SET consumed_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .or_internal()?;
            tx.commit().await.or_internal()?;
            return Ok(());
        }
        sqlx::query("UPDATE verification_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .or_internal()?;
        tx.commit().await.or_internal()?;
        if attempts + 1 >= MAX_TRIES {
            Err(DomainError::invalid("code", "error.code.burnt"))
        } else {
            Err(DomainError::Invalid(vec![
                tsunagu_kernel::FieldError::new("code", "error.code.wrong")
                    .arg("left", MAX_TRIES - attempts - 1),
            ]))
        }
    }
}
