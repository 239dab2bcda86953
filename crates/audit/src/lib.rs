//! The audit log.
//!
//! Every staff read or write of patient data appends one row: who (actor), where
//! (facility), whose data (patient), what (action and a short detail that holds no
//! patient data), when, and from where (IP, request id). Rows are never updated or
//! deleted (the database refuses it with triggers, and on PostgreSQL refuses TRUNCATE),
//! and each row carries an HMAC of its own content chained to the previous row's, keyed
//! with the platform's secret key (held outside the database). So `verify` detects a row
//! that was changed, removed or inserted behind the application's back, even by someone
//! who recomputed the hashes after it. A keyed head record (`audit_head`), moved in the
//! same transaction as each append, catches the newest rows being deleted or the table
//! emptied; a verifier that remembers the head it last saw catches an old head put back.
//! Appends are serialised — PostgreSQL with a transaction-scoped advisory lock, SQLite with
//! `BEGIN IMMEDIATE` — so the chain never forks; [`AuditLog::append_in`] appends inside
//! the caller's transaction, so an access and its record commit or fail together.

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tsunagu_db::{Backend, Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::seal::Sealer;
use tsunagu_kernel::{Clock, DomainError, DomainResult, FacilityId, PatientId};

/// The hash before the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// `staff`, `operator`, `patient` or `system`.
    pub kind: &'static str,
    /// The staff, operator or account id.
    pub id: Option<i64>,
    /// A human label: login id and role, never a patient's name.
    pub label: String,
}

/// Who acts in a use case, from where: built once per request by the web layer's
/// extractors and handed to the domain function, which appends the entry in the same
/// transaction as the change it records.
#[derive(Debug, Clone)]
pub struct By {
    /// Who.
    pub actor: Actor,
    /// The facility they act in (staff), if any.
    pub facility_id: Option<FacilityId>,
    /// Client address.
    pub ip: String,
    /// The request id.
    pub request_id: String,
}

impl By {
    /// The audit entry of one action by this actor.
    pub fn entry(&self, patient: Option<PatientId>, action: &'static str, detail: String) -> Entry {
        Entry {
            actor: self.actor.clone(),
            facility_id: self.facility_id,
            patient_id: patient,
            action,
            detail,
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// One event to append.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who.
    pub actor: Actor,
    /// The facility the access happened in.
    pub facility_id: Option<FacilityId>,
    /// The patient whose data was touched.
    pub patient_id: Option<PatientId>,
    /// What: a stable verb like `patient.view`, `patient.update`, `staff.login`.
    pub action: &'static str,
    /// Extra context (route, field names); never patient data.
    pub detail: String,
    /// Client address.
    pub ip: String,
    /// The request id, to match the structured log.
    pub request_id: String,
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Position in the chain, from 1 without gaps.
    pub seq: i64,
    /// When (ms since epoch).
    pub at: i64,
    /// Actor kind.
    pub actor_kind: String,
    /// Actor id.
    pub actor_id: Option<i64>,
    /// Actor label.
    pub actor_label: String,
    /// Facility.
    pub facility_id: Option<i64>,
    /// Patient.
    pub patient_id: Option<i64>,
    /// Action verb.
    pub action: String,
    /// Detail.
    pub detail: String,
    /// Client address.
    pub ip: String,
    /// Request id.
    pub request_id: String,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
    /// Whether the hash is keyed (HMAC); rows from before keying are plain SHA-256.
    pub keyed: bool,
}

/// What [`AuditLog::search`] looks for; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries about this patient.
    pub patient: Option<PatientId>,
    /// By this actor: kind (`staff`, `patient`, `operator`, `system`) and optional id.
    pub actor: Option<(String, Option<i64>)>,
    /// Caused by this request.
    pub request_id: Option<String>,
    /// In this facility.
    pub facility: Option<FacilityId>,
    /// From this instant (ms, inclusive).
    pub from_ms: Option<i64>,
    /// Until this instant (ms, exclusive).
    pub to_ms: Option<i64>,
    /// At most this many (newest first).
    pub limit: i64,
}

impl Event {
    fn canonical(&self) -> String {
        // A JSON array is an unambiguous encoding: no field can bleed into the next.
        let canonical = serde_json::json!([
            self.seq,
            self.at,
            self.actor_kind,
            self.actor_id,
            self.actor_label,
            self.facility_id,
            self.patient_id,
            self.action,
            self.detail,
            self.ip,
            self.request_id,
            self.prev_hash,
        ]);
        canonical.to_string()
    }

    /// The row's hash: an HMAC under the platform key for keyed rows, SHA-256 for the rows
    /// written before keying.
    fn compute_hash(&self, sealer: &Sealer) -> String {
        if self.keyed {
            sealer.mac(&format!("audit-row:{}", self.canonical()))
        } else {
            hex::encode(Sha256::digest(self.canonical().as_bytes()))
        }
    }
}

/// The keyed MAC of a head position.
fn head_mac(sealer: &Sealer, seq: i64, hash: &str) -> String {
    sealer.mac(&format!("audit-head:{seq}:{hash}"))
}

/// A head as a verifier saw it: the number of rows and the last row's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Head {
    /// Rows in the chain.
    pub seq: i64,
    /// Hash of the last row ([`GENESIS`] for none).
    pub hash: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Every row checks out; the head hash is given so it can be recorded elsewhere.
    Intact {
        /// Rows checked.
        rows: i64,
        /// Hash of the last row.
        head: String,
    },
    /// The row at `seq` was changed, or a row before it was removed or inserted.
    Broken {
        /// First bad position.
        seq: i64,
        /// What is wrong there.
        reason: String,
    },
}

/// The audit log on a database.
#[derive(Clone, Debug)]
pub struct AuditLog {
    db: Db,
    clock: Arc<dyn Clock>,
    sealer: Sealer,
}

const COLUMNS: &str = "seq, at, actor_kind, actor_id, actor_label, facility_id, patient_id, \
                       action, detail, ip, request_id, prev_hash, hash, keyed";

fn row_to_event(r: &sqlx::any::AnyRow) -> Result<Event, sqlx::Error> {
    use sqlx::Row;
    Ok(Event {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_kind: r.try_get("actor_kind")?,
        actor_id: r.try_get("actor_id")?,
        actor_label: r.try_get("actor_label")?,
        facility_id: r.try_get("facility_id")?,
        patient_id: r.try_get("patient_id")?,
        action: r.try_get("action")?,
        detail: r.try_get("detail")?,
        ip: r.try_get("ip")?,
        request_id: r.try_get("request_id")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
        keyed: r.try_get::<i64, _>("keyed")? != 0,
    })
}

impl AuditLog {
    /// The log on `db`; `sealer` holds the key the chain is keyed with.
    pub fn new(db: Db, clock: Arc<dyn Clock>, sealer: Sealer) -> Self {
        Self { db, clock, sealer }
    }

    /// Appends one event on its own transaction and returns its sequence number (for
    /// accesses that change nothing, such as a read; changes use [`Self::append_in`]).
    pub async fn append(&self, entry: Entry) -> DomainResult<i64> {
        let mut tx = self.db.begin_write().await?;
        let seq = self.append_in(&mut tx, entry).await?;
        tx.commit().await.or_internal()?;
        Ok(seq)
    }

    /// Appends one event inside the caller's write transaction, so the change it records
    /// and the record commit together or not at all.
    pub async fn append_in(&self, tx: &mut Tx, entry: Entry) -> DomainResult<i64> {
        if self.db.backend() == Backend::Postgres {
            // Serialises appenders across every node sharing the database.
            sqlx::query("SELECT pg_advisory_xact_lock(7283001)")
                .execute(&mut **tx)
                .await
                .or_internal()?;
        }
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await
                .or_internal()?;
        let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
        let mut ev = Event {
            seq: prev_seq + 1,
            at: self.clock.now_ms(),
            actor_kind: entry.actor.kind.to_string(),
            actor_id: entry.actor.id,
            actor_label: entry.actor.label,
            facility_id: entry.facility_id.map(|f| f.0),
            patient_id: entry.patient_id.map(|p| p.0),
            action: entry.action.to_string(),
            detail: entry.detail,
            ip: entry.ip,
            request_id: entry.request_id,
            prev_hash,
            hash: String::new(),
            keyed: true,
        };
        ev.hash = ev.compute_hash(&self.sealer);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1)"
        )))
        .bind(ev.seq)
        .bind(ev.at)
        .bind(&ev.actor_kind)
        .bind(ev.actor_id)
        .bind(&ev.actor_label)
        .bind(ev.facility_id)
        .bind(ev.patient_id)
        .bind(&ev.action)
        .bind(&ev.detail)
        .bind(&ev.ip)
        .bind(&ev.request_id)
        .bind(&ev.prev_hash)
        .bind(&ev.hash)
        .execute(&mut **tx)
        .await
        .or_internal()?;
        self.move_head(tx, ev.seq, &ev.hash).await?;
        Ok(ev.seq)
    }

    async fn move_head(&self, tx: &mut Tx, seq: i64, hash: &str) -> DomainResult<()> {
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
        )
        .bind(seq)
        .bind(hash)
        .bind(head_mac(&self.sealer, seq, hash))
        .execute(&mut **tx)
        .await
        .or_internal()?;
        Ok(())
    }

    /// Writes the keyed head if there is none yet: on a new database (an empty chain), or
    /// once after upgrading, over the rows written before keying. Run at start-up.
    pub async fn ensure_head(&self) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7283001)")
                .execute(&mut *tx)
                .await
                .or_internal()?;
        }
        let has: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await
            .or_internal()?;
        if has.is_none() {
            let last: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .or_internal()?;
            let (seq, hash) = last.unwrap_or((0, GENESIS.to_string()));
            self.move_head(&mut tx, seq, &hash).await?;
        }
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Staff accesses to any of `patients`, newest first: what a patient sees as
    /// "who viewed my record".
    pub async fn staff_access_to(
        &self,
        patients: &[PatientId],
        limit: i64,
    ) -> DomainResult<Vec<Event>> {
        if patients.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers we produced; binding a list portably needs one placeholder each.
        let placeholders: Vec<String> =
            (0..patients.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE actor_kind = 'staff' AND patient_id IN ({}) \
             ORDER BY seq DESC LIMIT $1",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
        for p in patients {
            q = q.bind(p.0);
        }
        let rows = q.fetch_all(self.db.pool()).await.or_internal()?;
        rows.iter()
            .map(row_to_event)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// The newest events of one facility (for its admins), or of all (operators).
    pub async fn recent(
        &self,
        facility: Option<FacilityId>,
        limit: i64,
    ) -> DomainResult<Vec<Event>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_events WHERE ($1 IS NULL OR facility_id = $1) \
             ORDER BY seq DESC LIMIT $2"
        )))
        .bind(facility.map(|f| f.0))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_event)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// Entries matching every condition of `f`, newest first: what an investigator asks
    /// (`tsunagu admin audit list`).
    pub async fn search(&self, f: &Filter) -> DomainResult<Vec<Event>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_events WHERE ($1 IS NULL OR patient_id = $1) \
             AND ($2 IS NULL OR actor_kind = $2) AND ($3 IS NULL OR actor_id = $3) \
             AND ($4 IS NULL OR request_id = $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at < $6) AND ($7 IS NULL OR facility_id = $7) \
             ORDER BY seq DESC LIMIT $8"
        )))
        .bind(f.patient.map(|p| p.0))
        .bind(f.actor.as_ref().map(|(k, _)| k.clone()))
        .bind(f.actor.as_ref().and_then(|(_, id)| *id))
        .bind(f.request_id.clone())
        .bind(f.from_ms)
        .bind(f.to_ms)
        .bind(f.facility.map(|x| x.0))
        .bind(f.limit.clamp(1, 10_000))
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        rows.iter()
            .map(row_to_event)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// Walks the whole chain and its keyed head and reports the first broken link. With
    /// `last_seen` (the head a previous verification reported, kept outside the database),
    /// a chain that is shorter than it was, or differs from it, is reported too.
    pub async fn verify(&self, last_seen: Option<&Head>) -> DomainResult<Verdict> {
        let mut expected_prev = GENESIS.to_string();
        let mut expected_seq = 1i64;
        let mut after = 0i64;
        let mut keyed_seen = false;
        let mut seen_hash: Option<String> = None;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 5000"
            )))
            .bind(after)
            .fetch_all(self.db.pool())
            .await
            .or_internal()?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let ev = row_to_event(r).or_internal()?;
                if ev.seq != expected_seq {
                    return Ok(broken(
                        expected_seq,
                        format!("row {expected_seq} is missing (next row is {})", ev.seq),
                    ));
                }
                if ev.prev_hash != expected_prev {
                    return Ok(broken(
                        ev.seq,
                        "previous-hash link does not match the row before",
                    ));
                }
                // Once keyed, always keyed: an unkeyed row after a keyed one was forged.
                if keyed_seen && !ev.keyed {
                    return Ok(broken(ev.seq, "unkeyed row after keyed rows (forged)"));
                }
                keyed_seen |= ev.keyed;
                if ev.compute_hash(&self.sealer) != ev.hash {
                    return Ok(broken(
                        ev.seq,
                        "row content does not match its hash (changed)",
                    ));
                }
                if last_seen.is_some_and(|h| h.seq == ev.seq) {
                    seen_hash = Some(ev.hash.clone());
                }
                expected_prev = ev.hash.clone();
                expected_seq += 1;
                after = ev.seq;
            }
        }
        let rows = expected_seq - 1;
        let head: Option<(i64, String, String)> =
            sqlx::query_as("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
                .fetch_optional(self.db.pool())
                .await
                .or_internal()?;
        let Some((head_seq, head_hash, mac)) = head else {
            return Ok(broken(
                rows + 1,
                "the keyed head record is missing (removed)",
            ));
        };
        if head_mac(&self.sealer, head_seq, &head_hash) != mac {
            return Ok(broken(
                head_seq,
                "the head record does not carry the key (forged)",
            ));
        }
        if head_seq > rows {
            return Ok(broken(
                rows + 1,
                format!(
                    "rows {} to {head_seq} were deleted (the head records {head_seq})",
                    rows + 1
                ),
            ));
        }
        if head_seq < rows || head_hash != expected_prev {
            return Ok(broken(
                head_seq + 1,
                format!("rows after {head_seq} were added without the head (the chain has {rows})"),
            ));
        }
        if let Some(seen) = last_seen {
            if seen.seq > rows {
                return Ok(broken(
                    rows + 1,
                    format!(
                        "the head moved backwards: {} rows at the last verification, {rows} now",
                        seen.seq
                    ),
                ));
            }
            let same = if seen.seq == 0 {
                seen.hash == GENESIS
            } else {
                seen_hash.as_deref() == Some(seen.hash.as_str())
            };
            if !same {
                return Ok(broken(
                    seen.seq,
                    "the chain differs from the one verified last time (rewritten)",
                ));
            }
        }
        Ok(Verdict::Intact {
            rows,
            head: expected_prev,
        })
    }
}

fn broken(seq: i64, reason: impl Into<String>) -> Verdict {
    Verdict::Broken {
        seq,
        reason: reason.into(),
    }
}

/// Rejects a head file that does not parse: a verifier must not silently start afresh.
pub fn parse_head(text: &str) -> DomainResult<Head> {
    serde_json::from_str(text)
        .map_err(|e| DomainError::internal(anyhow::anyhow!("audit head file: {e}")))
}
