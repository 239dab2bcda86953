//! The outbox table and the job that empties it.

use std::sync::Arc;

use futures::FutureExt;
use serde::{Deserialize, Serialize};
use tsunagu_db::{Db, DbResultExt, Tx, sqlx};
use tsunagu_jobs::{Handler, Job, JobContext, JobError, JobQueue, NewJob};
use tsunagu_kernel::seal::Sealer;
use tsunagu_kernel::{AccountId, Clock, DomainError, DomainResult, FacilityId, OutboxId};

use crate::sms::{SendFailure, SmsSender};
use crate::smtp::EmailSender;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Short message to a mobile number.
    Sms,
    /// Email.
    Email,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Channel.
    pub channel: Channel,
    /// E.164 number or email address.
    pub destination: String,
    /// Email subject (empty for SMS).
    pub subject: String,
    /// Text body; where it should show [`OutgoingMessage::secret`] it says [`SECRET_MARK`].
    pub body: String,
    /// A one-time code or link: stored sealed apart from the body, put into it only when
    /// the message is sent, and erased once delivered, so the database never holds it in
    /// clear.
    pub secret: Option<String>,
    /// Why it is sent (`signup_code`, `reset_code`, `email_verify`, …), for the record.
    pub purpose: &'static str,
    /// The facility it concerns, if any (failures show to its staff).
    pub facility_id: Option<FacilityId>,
    /// The account it concerns, if any.
    pub account_id: Option<AccountId>,
}

/// Where a message's secret goes in its stored body.
pub const SECRET_MARK: &str = "[[secret]]";

/// What a secret is sealed for: no other sealed value opens as one.
const SECRET_AAD: &str = "outbox-secret";

/// A stored outbox row.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    /// Id.
    pub id: OutboxId,
    /// `sms` or `email`.
    pub channel: String,
    /// Destination.
    pub destination: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Purpose.
    pub purpose: String,
    /// `pending`, `sent`, `captured` or `failed`.
    pub status: String,
    /// Delivery attempts.
    pub attempts: i64,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// The provider's message id.
    pub provider_ref: Option<String>,
    /// Enqueued at (ms).
    pub created_at: i64,
    /// Delivered at (ms).
    pub sent_at: Option<i64>,
}

/// The transports in use; `None` means captured for `/dev/outbox`.
#[derive(Clone, Default)]
pub struct Transports {
    /// SMS transport.
    pub sms: Option<Arc<dyn SmsSender>>,
    /// Email transport.
    pub email: Option<Arc<dyn EmailSender>>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("sms", &self.sms.is_some())
            .field("email", &self.email.is_some())
            .finish()
    }
}

impl Transports {
    /// Whether anything is captured instead of sent (so `/dev/outbox` is offered).
    pub fn captures_any(&self) -> bool {
        self.sms.is_none() || self.email.is_none()
    }
}

/// Payload of the delivery job.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendOutboxJob {
    /// The row to deliver.
    pub outbox_id: i64,
}

impl Job for SendOutboxJob {
    const KIND: &'static str = "outbox.send";
    const MAX_ATTEMPTS: i64 = 8;
}

/// The outbox.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Db,
    clock: Arc<dyn Clock>,
    queue: JobQueue,
    transports: Transports,
    sealer: Sealer,
}

const COLUMNS: &str = "id, channel, destination, subject, body, purpose, status, attempts, \
                       last_error, provider_ref, created_at, sent_at, secret_sealed";

fn row_to_outbox(r: &sqlx::any::AnyRow) -> Result<OutboxRow, sqlx::Error> {
    use sqlx::Row;
    Ok(OutboxRow {
        id: OutboxId(r.try_get("id")?),
        channel: r.try_get("channel")?,
        destination: r.try_get("destination")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        purpose: r.try_get("purpose")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        provider_ref: r.try_get("provider_ref")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

impl Outbox {
    /// An outbox on `db` delivering through `transports`; `sealer` keeps secrets sealed.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        queue: JobQueue,
        transports: Transports,
        sealer: Sealer,
    ) -> Self {
        Self {
            db,
            clock,
            queue,
            transports,
            sealer,
        }
    }

    /// The body with its secret put back (for sending, and for `/dev/outbox` while the
    /// message is only captured).
    fn render(&self, body: &str, sealed: Option<&str>) -> DomainResult<String> {
        match sealed {
            Some(sealed) => Ok(body.replace(SECRET_MARK, &self.sealer.open(sealed, SECRET_AAD)?)),
            None => Ok(body.to_string()),
        }
    }

    /// The transports in use.
    pub fn transports(&self) -> &Transports {
        &self.transports
    }

    /// Records a message and its delivery job inside the caller's transaction.
    pub async fn enqueue_in(&self, tx: &mut Tx, msg: OutgoingMessage) -> DomainResult<OutboxId> {
        let now = self.clock.now_ms();
        let sealed = match &msg.secret {
            Some(secret) => {
                if !msg.body.contains(SECRET_MARK) {
                    return Err(DomainError::internal(anyhow::anyhow!(
                        "a message with a secret must say where it goes"
                    )));
                }
                Some(self.sealer.seal(secret, SECRET_AAD)?)
            }
            None => None,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox_messages (channel, destination, subject, body, purpose, status, \
             facility_id, account_id, created_at, secret_sealed) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9) RETURNING id",
        )
        .bind(msg.channel.as_str())
        .bind(&msg.destination)
        .bind(&msg.subject)
        .bind(&msg.body)
        .bind(msg.purpose)
        .bind(msg.facility_id.map(|f| f.0))
        .bind(msg.account_id.map(|a| a.0))
        .bind(now)
        .bind(sealed)
        .fetch_one(&mut **tx)
        .await
        .or_internal()?;
        let job = NewJob::of(&SendOutboxJob { outbox_id: id })?.for_facility(msg.facility_id);
        self.queue.enqueue_in(tx, job).await?;
        Ok(OutboxId(id))
    }

    /// Records a message on its own transaction.
    pub async fn enqueue(&self, msg: OutgoingMessage) -> DomainResult<OutboxId> {
        let mut tx = self.db.begin().await?;
        let id = self.enqueue_in(&mut tx, msg).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// The newest messages, for `/dev/outbox`.
    pub async fn recent(&self, limit: i64) -> DomainResult<Vec<OutboxRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox_messages ORDER BY id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter().map(|r| self.shown(r)).collect()
    }

    /// A row as `/dev/outbox` shows it: a captured message with its secret, since that page
    /// stands in for the phone; a delivered one without (the secret is gone).
    fn shown(&self, r: &sqlx::any::AnyRow) -> DomainResult<OutboxRow> {
        let mut row = row_to_outbox(r).or_internal()?;
        let sealed: Option<String> = sqlx::Row::try_get(r, "secret_sealed").or_internal()?;
        row.body = self.render(&row.body, sealed.as_deref())?;
        Ok(row)
    }

    /// One message.
    pub async fn get(&self, id: OutboxId) -> DomainResult<OutboxRow> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox_messages WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        self.shown(&row)
    }

    /// The job handler that delivers one message.
    pub fn handler(&self) -> (&'static str, Handler) {
        let me = self.clone();
        let h: Handler = Arc::new(move |ctx: JobContext| {
            let me = me.clone();
            async move { me.deliver(ctx).await }.boxed()
        });
        (SendOutboxJob::KIND, h)
    }

    async fn deliver(&self, ctx: JobContext) -> Result<(), JobError> {
        let job: SendOutboxJob = serde_json::from_str(&ctx.payload)
            .map_err(|e| JobError::Permanent(anyhow::Error::new(e)))?;
        let row = self.get(OutboxId(job.outbox_id)).await?;
        if row.status != "pending" {
            // Already delivered (a retried job after a crash between send and commit of
            // the job row): never send twice.
            return Ok(());
        }
        let now = self.clock.now_ms();
        let result = match row.channel.as_str() {
            "sms" => match &self.transports.sms {
                Some(t) => Some(t.send(&row.destination, &row.body).await),
                None => None,
            },
            _ => match &self.transports.email {
                Some(t) => Some(t.send(&row.destination, &row.subject, &row.body).await),
                None => None,
            },
        };
        match result {
            None => {
                self.set_status(row.id, "captured", None, None, Some(now))
                    .await?;
                Ok(())
            }
            Some(Ok(provider_ref)) => {
                self.set_status(row.id, "sent", None, Some(provider_ref), Some(now))
                    .await?;
                self.forget_secret(row.id).await?;
                Ok(())
            }
            Some(Err(failure)) => {
                let (msg, permanent) = match &failure {
                    SendFailure::Rejected(m) => (m.clone(), true),
                    SendFailure::Temporary(m) => (m.clone(), false),
                };
                let final_failure = permanent || ctx.is_last_attempt();
                let status = if final_failure { "failed" } else { "pending" };
                self.set_status(row.id, status, Some(msg.clone()), None, None)
                    .await?;
                if final_failure {
                    self.forget_secret(row.id).await?;
                }
                let err = anyhow::anyhow!("{} delivery failed: {msg}", row.channel);
                Err(if permanent {
                    JobError::Permanent(err)
                } else {
                    JobError::Retry(err)
                })
            }
        }
    }

    /// Erases a delivered (or finally failed) message's secret.
    async fn forget_secret(&self, id: OutboxId) -> DomainResult<()> {
        sqlx::query("UPDATE outbox_messages SET secret_sealed = NULL WHERE id = $1")
            .bind(id.0)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(())
    }

    /// Erases the secrets of captured messages older than a day (no one-time code or link
    /// lives longer); run periodically with the other purges.
    pub async fn purge_secrets(&self) -> DomainResult<u64> {
        let cutoff = self.clock.now_ms() - 24 * 3600 * 1000;
        let r = sqlx::query(
            "UPDATE outbox_messages SET secret_sealed = NULL \
             WHERE secret_sealed IS NOT NULL AND created_at < $1",
        )
        .bind(cutoff)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(r.rows_affected())
    }

    async fn set_status(
        &self,
        id: OutboxId,
        status: &str,
        error: Option<String>,
        provider_ref: Option<String>,
        sent_at: Option<i64>,
    ) -> DomainResult<()> {
        sqlx::query(
            "UPDATE outbox_messages SET status = $2, attempts = attempts + 1, last_error = $3, \
             provider_ref = COALESCE($4, provider_ref), sent_at = COALESCE($5, sent_at) \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(status)
        .bind(error)
        .bind(provider_ref)
        .bind(sent_at)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }
}
