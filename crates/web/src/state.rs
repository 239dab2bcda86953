//! What every handler can reach.

use std::sync::Arc;

use tsunagu_accounts::Accounts;
use tsunagu_audit::AuditLog;
use tsunagu_booking::Booker;
use tsunagu_clinics::FacilityStore;
use tsunagu_db::Db;
use tsunagu_events::EventBus;
use tsunagu_files::FileStore;
use tsunagu_insurance::InsuranceStore;
use tsunagu_jobs::JobQueue;
use tsunagu_kernel::Clock;
use tsunagu_notifications::Outbox;

use crate::metrics::Metrics;

/// Web-layer settings derived from the configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Base URL for links in messages (no trailing slash).
    pub public_url: String,
    /// `Secure` on cookies.
    pub secure_cookies: bool,
    /// Whether `/dev/outbox` is offered (some channel has no transport).
    pub dev_outbox: bool,
    /// Folder for stored files.
    pub files_root: std::path::PathBuf,
    /// The eligibility service's API, for verifying insurance (A4).
    pub eligibility: tsunagu_insurance::check::EligibilityClient,
    /// Seals secrets kept for facilities (their eligibility passwords).
    pub sealer: tsunagu_kernel::seal::Sealer,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The bearer token `/metrics` requires; `None`: local clients only.
    pub metrics_token: Option<String>,
    /// The embedded SFU; `None` when its port could not be bound (pages then say video is
    /// unavailable instead of failing).
    pub sfu: Option<tsunagu_rtc::Sfu>,
    /// TURN for browsers behind UDP-blocking firewalls; `None`: direct only.
    pub turn: Option<tsunagu_rtc::turn::TurnConfig>,
}

/// Shared state: cheap to clone (everything inside is an `Arc` or a pool handle).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The platform database.
    pub db: Db,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Accounts, staff, sessions.
    pub accounts: Accounts,
    /// Organisations and facilities.
    pub facilities: FacilityStore,
    /// The audit log.
    pub audit: AuditLog,
    /// The notification outbox.
    pub outbox: Outbox,
    /// The job queue.
    pub jobs: JobQueue,
    /// Settings.
    pub config: Arc<WebConfig>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Live events for open pages.
    pub events: EventBus,
    /// Menus, schedules and bookings.
    pub booker: Booker,
    /// Stored files.
    pub files: FileStore,
    /// Insurance registrations.
    pub insurance: InsuranceStore,
    /// Bookings' insurance checks with the eligibility service.
    pub coverage: tsunagu_booking::coverage::Coverage,
    /// Video visits (B8, C1–C8).
    pub visits: tsunagu_visits::Visits,
}

impl AppState {
    /// Wires the services over one database.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        outbox: Outbox,
        jobs: JobQueue,
        config: WebConfig,
    ) -> Self {
        let audit = AuditLog::new(db.clone(), clock.clone(), config.sealer.clone());
        let events = EventBus::new(db.clone());
        let booker = Booker::new(
            db.clone(),
            clock.clone(),
            outbox.clone(),
            jobs.clone(),
            audit.clone(),
            events.clone(),
        );
        let files = FileStore::new(
            db.clone(),
            clock.clone(),
            config.files_root.clone(),
            audit.clone(),
        );
        let visits = tsunagu_visits::Visits::new(
            db.clone(),
            clock.clone(),
            audit.clone(),
            events.clone(),
            outbox.clone(),
            config.sealer.clone(),
            config.public_url.clone(),
        );
        Self {
            visits,
            booker: booker.clone(),
            files,
            insurance: InsuranceStore::new(db.clone(), clock.clone(), audit.clone()),
            coverage: tsunagu_booking::coverage::Coverage::new(
                booker.clone(),
                InsuranceStore::new(db.clone(), clock.clone(), audit.clone()),
                tsunagu_insurance::links::LinkStore::new(
                    db.clone(),
                    clock.clone(),
                    config.sealer.clone(),
                    audit.clone(),
                ),
                config.eligibility.clone(),
            ),
            accounts: Accounts::new(
                db.clone(),
                clock.clone(),
                outbox.clone(),
                config.sealer.clone(),
                audit.clone(),
            ),
            facilities: FacilityStore::new(db.clone(), clock.clone()),
            audit,
            outbox,
            jobs,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            events,
            db,
            clock,
        }
    }
}
