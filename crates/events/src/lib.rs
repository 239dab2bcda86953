//! Live events for open pages: arrivals in the waiting room, new bookings, failed jobs.
//!
//! Publishers send an [`Event`] to a [`Topic`] (a facility's staff, one patient account, the
//! operators). Every WebSocket subscribes to the bus and forwards the events of the topics
//! its user may see. Within one process the bus is a tokio broadcast channel. With
//! PostgreSQL, each event is also sent with `NOTIFY tsunagu_events`, and every node
//! `LISTEN`s and re-publishes what other nodes sent, so staff on node A see a patient who
//! arrived on node B. Events are hints to refresh, never the record: a client that misses
//! one (a dropped socket, a lagging receiver) reloads the page's data.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tsunagu_db::{Backend, Db};
use tsunagu_kernel::{AccountId, FacilityId};

/// Who may receive an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Topic {
    /// Staff of one facility.
    Facility(FacilityId),
    /// One patient account (all its family members).
    Account(AccountId),
    /// Platform operators.
    Operators,
    /// Everyone in one visit's room (its waiting room and call pages).
    Visit(i64),
}

/// Something that happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Audience.
    pub topic: Topic,
    /// What happened: `job.failed`, `booking.created`, `waiting.entered`…
    pub kind: String,
    /// Details for the page; never more patient data than the audience may already see.
    pub data: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    node: String,
    event: Event,
}

const CHANNEL: &str = "tsunagu_events";

/// The bus.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    db: Db,
    node: Arc<str>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("node", &self.node)
            .finish()
    }
}

impl EventBus {
    /// A bus for this process.
    pub fn new(db: Db) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            db,
            node: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    /// Receives every event published from now on (filter by topic).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Publishes to this process's subscribers and, on PostgreSQL, to every other node.
    pub async fn publish(&self, event: Event) {
        if self.db.backend() == Backend::Postgres {
            let wire = Wire {
                node: self.node.to_string(),
                event: event.clone(),
            };
            match serde_json::to_string(&wire) {
                Ok(payload) => {
                    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(payload)
                        .execute(self.db.pool())
                        .await
                    {
                        tracing::warn!(error = %e, "event not sent to other nodes");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event not serialisable"),
            }
        }
        // No receiver is fine: nobody has the page open.
        let _ = self.tx.send(Arc::new(event));
    }

    /// On PostgreSQL, listens for other nodes' events until `stop`; reconnects after errors.
    /// Returns at once on SQLite (one process owns the file).
    pub async fn run_bridge(&self, mut stop: watch::Receiver<bool>) {
        if self.db.backend() != Backend::Postgres {
            return;
        }
        while !*stop.borrow() {
            match self.listen_once(&mut stop).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "event bridge lost its connection; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
        }
    }

    /// Whether the bridge is needed (tests wait for it to be listening).
    pub fn bridged(&self) -> bool {
        self.db.backend() == Backend::Postgres
    }

    async fn listen_once(&self, stop: &mut watch::Receiver<bool>) -> Result<(), sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect(self.db.url()).await?;
        listener.listen(CHANNEL).await?;
        loop {
            tokio::select! {
                n = listener.recv() => {
                    let n = n?;
                    match serde_json::from_str::<Wire>(n.payload()) {
                        Ok(w) if *w.node != *self.node => {
                            let _ = self.tx.send(Arc::new(w.event));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "unreadable event from another node"),
                    }
                }
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
        }
    }
}
