//! The eligibility service's data: insurers and qualification records in its own database
//! (never the platform's), their import from the generator, CSV or the result XML, the
//! normal lookup by card numbers (method 2) and the outage-time four-facts search (F3, F4).
//!
//! The four-facts search narrows in SQL on what every search has — birth date, sex, and a
//! name or kana in comparison form, all indexed — and then applies the exact rules of
//! `FourFactsQuery::matches` (partial address and insurer-name words) to the few rows
//! left, so the database and the rules can never disagree.

pub mod access;

use std::sync::Arc;

use tsunagu_calendar::kana::{normalize_kana, normalize_name};
use tsunagu_db::{Db, DbResultExt, sqlx};
use tsunagu_eligibility_domain::generate::Insurer;
use tsunagu_eligibility_domain::model::Qualification;
use tsunagu_eligibility_domain::search::FourFactsQuery;
use tsunagu_kernel::{DomainError, DomainResult};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/eligibility/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/eligibility/postgres");

/// A stored record with its id.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Row id (used in the detail screen's URL and inquiry numbers).
    pub id: i64,
    /// The record.
    pub record: Qualification,
}

/// The eligibility database.
#[derive(Debug, Clone)]
pub struct EligibilityStore {
    db: Db,
    _keep: Arc<()>,
}

/// Rows per INSERT when importing: big enough to amortise round trips, small enough to stay
/// under SQLite's bound-parameter limit (12 columns × 400 = 4,800 < 32,766).
const BATCH: usize = 400;

impl EligibilityStore {
    /// Opens (and migrates) the eligibility database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = Db::connect(url, max_connections).await?;
        db.migrate_with(&SQLITE, &POSTGRES).await?;
        Ok(Self {
            db,
            _keep: Arc::new(()),
        })
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Imports records (and their insurers) in multi-row statements, committed every
    /// 20,000 records (an interrupted import keeps what was committed; re-running adds).
    /// Returns the number of records stored.
    pub async fn import<I>(&self, records: I) -> DomainResult<u64>
    where
        I: IntoIterator<Item = (Insurer, Qualification)>,
    {
        let mut n = 0u64;
        let mut batch: Vec<(Insurer, Qualification)> = Vec::with_capacity(BATCH);
        let mut tx = self.db.begin_write().await?;
        let mut in_tx = 0;
        for r in records {
            batch.push(r);
            if batch.len() == BATCH {
                n += self.import_batch(&mut tx, &batch).await?;
                batch.clear();
                in_tx += 1;
                // Commit every 50 statements (20,000 records): fewer commits, bounded WAL.
                if in_tx == 50 {
                    tx.commit().await.or_internal()?;
                    tx = self.db.begin_write().await?;
                    in_tx = 0;
                }
            }
        }
        if !batch.is_empty() {
            n += self.import_batch(&mut tx, &batch).await?;
        }
        tx.commit().await.or_internal()?;
        Ok(n)
    }

    async fn import_batch(
        &self,
        tx: &mut tsunagu_db::Tx,
        batch: &[(Insurer, Qualification)],
    ) -> DomainResult<u64> {
        // Insurers: one upsert per distinct number in the batch.
        let mut seen = std::collections::HashSet::new();
        for (ins, _) in batch {
            if seen.insert(ins.number.as_str().to_string()) {
                sqlx::query("INSERT INTO insurers (number, name) VALUES ($1, $2) ON CONFLICT (number) DO UPDATE SET name = $2")
                    .bind(ins.number.as_str())
                    .bind(&ins.name)
                    .execute(&mut **tx)
                    .await
                    .or_internal()?;
            }
        }
        let mut sql = String::from(
            "INSERT INTO qualifications (insurer_number, symbol, number, branch, birth_date, sex, name_norm, kana_norm, \
             other_norm, other_kana_norm, myna_card, record) VALUES ",
        );
        for i in 0..batch.len() {
            let b = i * 12;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9,
                b + 10,
                b + 11,
                b + 12
            ));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, r) in batch {
            q = q
                .bind(r.insurer_number.as_str().to_string())
                .bind(r.symbol.clone().unwrap_or_default())
                .bind(r.number.clone())
                .bind(r.branch.clone().unwrap_or_default())
                .bind(r.birth_date.to_string())
                .bind(r.sex1.code().parse::<i64>().unwrap_or(3))
                .bind(normalize_name(&r.name))
                .bind(normalize_kana(&r.name_kana))
                .bind(r.name_of_other.as_deref().map(normalize_name))
                .bind(r.name_of_other_kana.as_deref().map(normalize_kana))
                .bind(Option::<String>::None)
                .bind(serde_json::to_string(r).map_err(DomainError::internal)?);
        }
        let res = q.execute(&mut **tx).await.or_internal()?;
        Ok(res.rows_affected())
    }

    /// Number of records.
    pub async fn count(&self) -> DomainResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM qualifications")
            .fetch_one(self.db.pool())
            .await
            .or_internal()
    }

    fn decode(rows: Vec<(i64, String)>) -> DomainResult<Vec<Stored>> {
        rows.into_iter()
            .map(|(id, json)| {
                serde_json::from_str(&json)
                    .map(|record| Stored { id, record })
                    .map_err(DomainError::internal)
            })
            .collect()
    }

    /// The four-facts search (F3): every record matching the query, in id order. Callers
    /// decide what to show (more than five: nothing, F4).
    pub async fn four_facts(&self, q: &FourFactsQuery) -> DomainResult<Vec<Stored>> {
        let birth = q.birth_date.to_string();
        let sex = q.sex.code().parse::<i64>().unwrap_or(3);
        // Narrow on an indexed column: the name if given, else the kana. A name can also be
        // the 通称 (other name), so both columns are asked.
        let rows: Vec<(i64, String)> = match (&q.name, &q.kana) {
            (Some(name), _) => sqlx::query_as(
                "SELECT id, record FROM qualifications WHERE birth_date = $1 AND sex = $2 \
                 AND (name_norm = $3 OR other_norm = $3) ORDER BY id",
            )
            .bind(&birth)
            .bind(sex)
            .bind(name)
            .fetch_all(self.db.pool())
            .await
            .or_internal()?,
            (None, Some(kana)) => sqlx::query_as(
                "SELECT id, record FROM qualifications WHERE birth_date = $1 AND sex = $2 \
                 AND (kana_norm = $3 OR other_kana_norm = $3) ORDER BY id",
            )
            .bind(&birth)
            .bind(sex)
            .bind(kana)
            .fetch_all(self.db.pool())
            .await
            .or_internal()?,
            (None, None) => {
                return Err(DomainError::invalid(
                    "name_or_kana",
                    "error.eligibility.name_or_kana",
                ));
            }
        };
        Ok(Self::decode(rows)?
            .into_iter()
            .filter(|s| q.matches(&s.record))
            .collect())
    }

    /// The same search without the indexes: every row is read and tested (the benchmark's
    /// baseline, and a cross-check in tests).
    pub async fn four_facts_full_scan(&self, q: &FourFactsQuery) -> DomainResult<Vec<Stored>> {
        let mut out = Vec::new();
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, record FROM qualifications WHERE id > $1 ORDER BY id LIMIT 5000",
            )
            .bind(after)
            .fetch_all(self.db.pool())
            .await
            .or_internal()?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            after = last;
            out.extend(
                Self::decode(rows)?
                    .into_iter()
                    .filter(|s| q.matches(&s.record)),
            );
        }
        Ok(out)
    }

    /// The normal lookup by card (method 2): insurer number, symbol, number, branch and,
    /// when given, birth date.
    pub async fn by_card(
        &self,
        insurer: &str,
        symbol: &str,
        number: &str,
        branch: &str,
        birth: Option<jiff::civil::Date>,
    ) -> DomainResult<Vec<Stored>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, record FROM qualifications WHERE insurer_number = $1 AND number = $2 AND symbol = $3 \
             AND branch = $4 AND ($5 = '' OR birth_date = $5) ORDER BY id",
        )
        .bind(insurer)
        .bind(number)
        .bind(symbol)
        .bind(branch)
        .bind(birth.map(|d| d.to_string()).unwrap_or_default())
        .fetch_all(self.db.pool())
        .await
        .or_internal()?;
        Self::decode(rows)
    }

    /// Imports the records not already held: the same card numbers, birth date and start
    /// of validity are the same qualification, so uploading a file twice adds nothing.
    /// Answers (imported, already held).
    pub async fn import_new(&self, records: Vec<Qualification>) -> DomainResult<(u64, usize)> {
        let mut fresh = Vec::with_capacity(records.len());
        let mut keys = std::collections::HashSet::new();
        let mut held = 0usize;
        for q in records {
            let same = self
                .by_card(
                    q.insurer_number.as_str(),
                    q.symbol.as_deref().unwrap_or(""),
                    &q.number,
                    q.branch.as_deref().unwrap_or(""),
                    Some(q.birth_date),
                )
                .await?
                .iter()
                .any(|s| s.record.valid_from == q.valid_from);
            // A file may repeat a record too.
            let repeated = !keys.insert((
                q.insurer_number.as_str().to_string(),
                q.symbol.clone(),
                q.number.clone(),
                q.branch.clone(),
                q.birth_date,
                q.valid_from,
            ));
            if same || repeated {
                held += 1;
            } else {
                let insurer = Insurer {
                    number: q.insurer_number,
                    name: q.insurer_name.clone(),
                };
                fresh.push((insurer, q));
            }
        }
        let n = self.import(fresh).await?;
        Ok((n, held))
    }

    /// Binds a My Number card's identity to a record (no card reader exists here: a real
    /// reader yields the card's certificate serial, which is what `card` stands for).
    pub async fn bind_card(&self, id: i64, card: &str) -> DomainResult<()> {
        let r = sqlx::query("UPDATE qualifications SET myna_card = $2 WHERE id = $1")
            .bind(id)
            .bind(card)
            .execute(self.db.pool())
            .await
            .map_err(tsunagu_db::on_unique("error.eligibility.card_taken"))?;
        if r.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// The normal lookup by My Number card (method 1).
    pub async fn by_card_identity(&self, card: &str) -> DomainResult<Vec<Stored>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, record FROM qualifications WHERE myna_card = $1")
                .bind(card)
                .fetch_all(self.db.pool())
                .await
                .or_internal()?;
        Self::decode(rows)
    }

    /// One record by id.
    pub async fn get(&self, id: i64) -> DomainResult<Stored> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT id, record FROM qualifications WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.pool())
                .await
                .or_internal()?;
        Self::decode(row.into_iter().collect())?
            .pop()
            .ok_or(DomainError::NotFound)
    }
}

/// The outage-time search as a use case: who may search, when, for whom; every search and
/// view recorded for the operating body (F2, F3, F7, F8).
#[derive(Debug, Clone)]
pub struct OutageSearch {
    /// Records.
    pub store: EligibilityStore,
    /// Accounts, periods, monitoring.
    pub access: access::AccessStore,
}

impl OutageSearch {
    /// Checks the account, the institution's period and the patient's outage-time visit,
    /// then searches and records the search. More than five hits are returned as counted
    /// only by the caller (F4): this returns them all so the count is exact.
    pub async fn search(
        &self,
        by: &access::Account,
        q: &FourFactsQuery,
        outage_visit: Option<i64>,
    ) -> DomainResult<Vec<Stored>> {
        self.allow(by, outage_visit).await?;
        let hits = self.store.four_facts(q).await?;
        // Only what the screen shows can be opened: 1–5 hits, never a list it refused.
        if hits.len() <= tsunagu_eligibility_domain::search::MAX_LISTED {
            self.access
                .remember_results(by, hits.iter().map(|h| h.id))
                .await?;
        }
        let conditions = serde_json::to_string(q).map_err(DomainError::internal)?;
        self.access
            .monitor(
                by,
                "search",
                &conditions,
                Some(i64::try_from(hits.len()).unwrap_or(i64::MAX)),
                None,
            )
            .await?;
        Ok(hits)
    }

    /// Opens one record from a search's results, under the same rules as the search,
    /// recorded as a view.
    pub async fn view(
        &self,
        by: &access::Account,
        id: i64,
        outage_visit: Option<i64>,
    ) -> DomainResult<Stored> {
        self.allow(by, outage_visit).await?;
        self.access.was_listed(by, id).await?;
        let s = self.store.get(id).await?;
        self.access.monitor(by, "view", "", None, Some(id)).await?;
        Ok(s)
    }

    /// Checks that `id` may be acted on (downloaded, given an inquiry number) by `by`: the
    /// account may use the function and a recent search of theirs listed it.
    pub async fn listed(&self, by: &access::Account, id: i64) -> DomainResult<Stored> {
        self.check(by).await?;
        self.access.was_listed(by, id).await?;
        self.store.get(id).await
    }

    /// The account, the institution's period, and seed 004's table for method 3 given when
    /// the patient came (`outage_visit` names the visit recorded during the outage).
    async fn allow(&self, by: &access::Account, outage_visit: Option<i64>) -> DomainResult<()> {
        self.check(by).await?;
        let institution = by.institution_code.as_deref().unwrap_or_default();
        let arrival = match outage_visit {
            Some(v) if self.access.is_outage_visit(institution, v).await? => {
                access::Arrival::DuringOutage
            }
            Some(_) => {
                return Err(DomainError::invalid(
                    "outage_visit",
                    "error.eligibility.unknown_visit",
                ));
            }
            None => access::Arrival::AfterRecovery,
        };
        let mode = self.access.mode_for(institution).await?;
        access::method_allowed(mode, access::Method::FourFacts, arrival)
            .map_err(DomainError::Forbidden)
    }

    async fn check(&self, by: &access::Account) -> DomainResult<()> {
        let Some(institution) = by.institution_code.as_deref() else {
            return Err(DomainError::Forbidden("error.eligibility.institution_only"));
        };
        let open = !self.access.open_periods(institution).await?.is_empty();
        match access::emergency_menu(by.role, open) {
            access::MenuItem::Usable => Ok(()),
            // The seed's message: log in again with a viewer or admin account.
            access::MenuItem::ShownRefused => {
                Err(DomainError::Forbidden("error.eligibility.general_account"))
            }
            access::MenuItem::Hidden => Err(DomainError::Forbidden("error.eligibility.closed")),
        }
    }
}
