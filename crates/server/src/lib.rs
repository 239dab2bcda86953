//! Start-up: settings → database → services → HTTP server, job workers and housekeeping,
//! all stopped together on Ctrl-C or SIGTERM. Production and tests share this path
//! ([`Application::build`] binds port 0 in tests).

pub mod demo;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tsunagu_config::Settings;
use tsunagu_db::Db;
use tsunagu_events::{Event, Topic};
use tsunagu_jobs::{JobQueue, Runner};
use tsunagu_kernel::{Clock, SystemClock};
use tsunagu_notifications::{Outbox, SmtpEmail, Transports, TwilioSms};
use tsunagu_web::{AppState, WebConfig};

/// Things tests change that the settings file must not expose.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Replaces the system clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// Replaces the transports built from settings.
    pub transports: Option<Transports>,
    /// Don't start job workers (tests drain the queue themselves).
    pub no_workers: bool,
}

/// Builds the transports the settings ask for.
pub fn transports_from(settings: &Settings) -> anyhow::Result<Transports> {
    Ok(Transports {
        sms: match &settings.sms {
            Some(s) => Some(Arc::new(TwilioSms::new(s.clone())?)),
            None => None,
        },
        email: match &settings.smtp {
            Some(s) => Some(Arc::new(SmtpEmail::new(s)?)),
            None => None,
        },
    })
}

/// Opens the database named by the settings (creating the data directory for SQLite)
/// and migrates it.
pub async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    let url = settings.effective_database_url();
    // The data directory also holds stored files, whatever the database.
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let db = Db::connect(&url, settings.max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

/// A running platform.
pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    runner: Runner,
    workers: usize,
    poll: Duration,
    base_url: String,
    eligibility: Option<Eligibility>,
}

/// The eligibility service started beside the platform: its own port and database.
pub struct Eligibility {
    listener: tokio::net::TcpListener,
    state: tsunagu_eligibility_web::EligState,
}

impl Eligibility {
    /// Opens the eligibility database, loads its demo data if asked and empty, and binds.
    pub async fn build(
        settings: &Settings,
        listen: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let store = tsunagu_eligibility::EligibilityStore::open(
            &settings.effective_eligibility_url(),
            settings.max_connections,
        )
        .await?;
        let access =
            tsunagu_eligibility::access::AccessStore::new(store.db().clone(), clock.clone());
        if settings.demo {
            demo::load_eligibility_if_empty(&store, &access).await?;
        }
        let sealer = tsunagu_kernel::seal::Sealer::from_key(&settings.sealing_key()?)
            .map_err(|e| anyhow::anyhow!("secret_key: {e}"))?;
        let sessions =
            tsunagu_accounts::SessionStore::new(store.db().clone(), clock.clone(), sealer);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        Ok(Self {
            listener,
            state: tsunagu_eligibility_web::EligState {
                search: tsunagu_eligibility::OutageSearch { store, access },
                sessions,
                clock,
                secure: settings.cookies_secure(),
            },
        })
    }

    /// Its base URL.
    pub fn base_url(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default()
    }

    /// Serves until `shutdown` turns true.
    pub async fn run_until_stopped(
        self,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let app = tsunagu_eligibility_web::eligibility_app(self.state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
            .context("eligibility HTTP server")?;
        self.state.search.store.db().close().await;
        Ok(())
    }
}

/// The platform's client of the eligibility API: the configured URL or the in-process
/// service, with each facility's account. The demo links each demo facility to its demo
/// institution's general account.
fn eligibility_client(
    settings: &Settings,
    embedded: Option<&Eligibility>,
) -> tsunagu_insurance::check::EligibilityClient {
    use tsunagu_insurance::check::Link;
    let base = if settings.eligibility.api_url.is_empty() {
        embedded.map(Eligibility::base_url).unwrap_or_default()
    } else {
        settings.eligibility.api_url.clone()
    };
    let mut links: HashMap<String, Link> = settings
        .eligibility
        .links
        .iter()
        .map(|l| {
            (
                l.facility.clone(),
                Link {
                    institution: l.institution.clone(),
                    login_id: l.login_id.clone(),
                    password: l.password.clone(),
                },
            )
        })
        .collect();
    if settings.demo && links.is_empty() {
        links = demo::eligibility_links();
    }
    tsunagu_insurance::check::EligibilityClient::new(&base, links)
}

/// TURN credentials are issued when URLs and the shared secret are both set.
fn turn_config(
    rtc: &tsunagu_config::RtcSettings,
) -> anyhow::Result<Option<tsunagu_rtc::turn::TurnConfig>> {
    match (&rtc.turn_secret, rtc.turn_urls.is_empty()) {
        (None, true) => Ok(None),
        (Some(secret), false) => Ok(Some(tsunagu_rtc::turn::TurnConfig {
            urls: rtc.turn_urls.clone(),
            secret: secret.expose().to_string(),
            ttl_secs: rtc.turn_ttl_secs.max(60),
        })),
        _ => anyhow::bail!("rtc.turn_urls and rtc.turn_secret go together: set both or neither"),
    }
}

/// Starts the SFU on its UDP port. A port that cannot be bound (taken by another node on
/// this machine) leaves the platform running without media, loudly logged.
fn start_sfu(rtc: &tsunagu_config::RtcSettings) -> Option<tsunagu_rtc::Sfu> {
    let bind = match rtc.bind.parse() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(bind = %rtc.bind, error = %e, "rtc.bind is not an address: video has no media");
            return None;
        }
    };
    let candidate_ip = if rtc.public_ip.is_empty() {
        tsunagu_rtc::default_candidate_ip()
    } else {
        match rtc.public_ip.parse() {
            Ok(ip) => ip,
            Err(e) => {
                tracing::error!(ip = %rtc.public_ip, error = %e, "rtc.public_ip is not an address: video has no media");
                return None;
            }
        }
    };
    match tsunagu_rtc::Sfu::start(tsunagu_rtc::SfuConfig {
        bind,
        candidate_ip,
        ice_tcp: rtc.ice_tcp,
        udp_batching: true,
    }) {
        Ok(sfu) => {
            tracing::info!(media = %sfu.media_addr(), "SFU listening (UDP)");
            Some(sfu)
        }
        Err(e) => {
            tracing::error!(bind = %rtc.bind, error = %e, "the SFU could not bind its port: video has no media");
            None
        }
    }
}

impl Application {
    /// Connects, migrates, loads demo data if asked and the database is empty, and binds.
    pub async fn build(settings: &Settings, hooks: Hooks) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = hooks.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
        let db = open_db(settings).await?;
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let bound = listener.local_addr()?.to_string();
        let base_url = settings.effective_public_url(&bound);
        let transports = match hooks.transports {
            Some(t) => t,
            None => transports_from(settings)?,
        };
        let eligibility = if settings.eligibility.listen.is_empty() {
            None
        } else {
            Some(Eligibility::build(settings, &settings.eligibility.listen, clock.clone()).await?)
        };
        let eligibility_client = eligibility_client(settings, eligibility.as_ref());
        let jobs = JobQueue::new(db.clone(), clock.clone());
        let sealer = tsunagu_kernel::seal::Sealer::from_key(&settings.sealing_key()?)
            .map_err(|e| anyhow::anyhow!("secret_key: {e}"))?;
        let outbox = Outbox::new(
            db.clone(),
            clock.clone(),
            jobs.clone(),
            transports.clone(),
            sealer.clone(),
        );
        let state = AppState::new(
            db.clone(),
            clock.clone(),
            outbox.clone(),
            jobs.clone(),
            WebConfig {
                public_url: base_url.clone(),
                secure_cookies: settings.cookies_secure(),
                dev_outbox: transports.captures_any(),
                files_root: settings.data_dir.join("files"),
                eligibility: eligibility_client,
                sealer,
                trusted_proxies: tsunagu_web::proxy::parse_trusted(&settings.trusted_proxies)
                    .map_err(|e| anyhow::anyhow!(e))?,
                metrics_token: settings
                    .metrics_token
                    .as_ref()
                    .map(|t| t.expose().to_string()),
                sfu: start_sfu(&settings.rtc),
                turn: turn_config(&settings.rtc)?,
            },
        );
        // The keyed head of the audit chain exists from the first start (and, on a
        // database from before keying, seals the rows it already holds).
        state.audit.ensure_head().await?;
        if settings.demo {
            demo::load_if_empty(&state).await?;
        }
        let mut handlers = HashMap::new();
        let (kind, h) = outbox.handler();
        handlers.insert(kind, h);
        let (kind, h) = state.booker.remind_handler();
        handlers.insert(kind, h);
        let events = state.events.clone();
        let runner = Runner::new(jobs, handlers).with_failure_hook(Arc::new(move |job| {
            let events = events.clone();
            Box::pin(async move {
                let topic = match job.facility_id {
                    Some(f) => Topic::Facility(tsunagu_kernel::FacilityId(f)),
                    None => Topic::Operators,
                };
                events
                    .publish(Event {
                        topic,
                        kind: "job.failed".into(),
                        data: serde_json::json!({ "id": job.id.0, "kind": job.kind }),
                    })
                    .await;
            })
        }));
        Ok(Self {
            eligibility,
            listener,
            state,
            runner,
            workers: if hooks.no_workers {
                0
            } else {
                settings.jobs.workers
            },
            poll: Duration::from_millis(settings.jobs.poll_ms),
            base_url,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The eligibility service's URL, when it runs in this process.
    pub fn eligibility_url(&self) -> Option<String> {
        self.eligibility.as_ref().map(Eligibility::base_url)
    }

    /// The shared state (tests reach the services through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The job runner (tests drain the queue with it).
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Serves until `shutdown` turns true; then stops accepting, finishes in-flight
    /// requests and jobs, and closes the database.
    pub async fn run_until_stopped(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let app = tsunagu_web::app(self.state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let mut http_stop = shutdown.clone();
        let server = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        });
        let workers = self
            .runner
            .clone()
            .run(self.workers, self.poll, shutdown.clone());
        let housekeeping = housekeeping(self.state.clone(), shutdown.clone());
        let events = self.state.events.clone();
        let bridge = events.run_bridge(shutdown.clone());
        let elig = async {
            match self.eligibility {
                Some(e) => e.run_until_stopped(shutdown.clone()).await,
                None => Ok(()),
            }
        };
        let (http, (), (), (), elig) = tokio::join!(
            async { server.await.context("HTTP server") },
            async {
                if self.workers > 0 {
                    workers.await;
                }
            },
            housekeeping,
            bridge,
            elig,
        );
        elig?;
        self.state.db.close().await;
        http
    }
}

/// Deletes expired sessions, old rate-limit events and day-old captured message secrets
/// every ten minutes.
async fn housekeeping(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = state.accounts.sessions.purge().await {
            tracing::warn!(error = %e, "session purge failed");
        }
        if let Err(e) = state.accounts.limiter.purge().await {
            tracing::warn!(error = %e, "rate-limit purge failed");
        }
        if let Err(e) = state.outbox.purge_secrets().await {
            tracing::warn!(error = %e, "outbox secret purge failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}
