//! The `tsunagu` command: wiring only. See `tsunagu --help`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tsunagu_config::Settings;
use tsunagu_server::{Application, Hooks, demo, open_db};

/// tsunagu — online medical care (オンライン診療) for Japanese clinics.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// TOML settings file (default: ./tsunagu.toml if present).
    #[arg(long, global = true, env = "TSUNAGU_CONFIG")]
    config: Option<PathBuf>,
    /// Directory for SQLite files.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform (pages, API, job workers).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; env TSUNAGU_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// Do not load demo data into an empty database.
        #[arg(long)]
        no_demo: bool,
        /// Address of the eligibility service started beside it (default 127.0.0.1:8081;
        /// an empty value does not start it).
        #[arg(long)]
        eligibility_listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Load the demo data into an empty database and print the logins.
    Demo,
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
    /// The eligibility service's data (オンライン資格確認): its own database.
    Eligibility {
        /// Its database: `sqlite://…` or `postgres://…` (default: `eligibility.db` in the data dir).
        #[arg(long, env = "TSUNAGU_ELIGIBILITY_DATABASE_URL")]
        eligibility_database_url: Option<String>,
        #[command(subcommand)]
        task: EligibilityTask,
    },
}

#[derive(Subcommand)]
enum EligibilityTask {
    /// Add a synthetic population (names, kana, addresses in all 47 prefectures, families,
    /// expired and lost qualifications, short-term cards) and the seed's examples.
    Generate {
        /// How many records.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Random seed (the same seed gives the same people).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run the eligibility service alone (its pages and database).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
    },
    /// Import records from a CSV file (see the column list in the docs) or a result XML file.
    Import {
        /// `.csv` or `.xml` file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminTask {
    /// Audit log tasks.
    Audit {
        #[command(subcommand)]
        task: AuditTask,
    },
    /// Print a new key for `secret_key`, which seals secrets kept for clinics. Without one
    /// configured, `secret.key` in the data directory is used (created on first start).
    NewKey,
    /// Create a platform operator account.
    CreateOperator {
        /// Login id.
        login_id: String,
        /// Display name.
        #[arg(long, default_value = "operator")]
        name: String,
        /// Initial password (read from TSUNAGU_NEW_PASSWORD if omitted).
        #[arg(long, env = "TSUNAGU_NEW_PASSWORD")]
        password: String,
    },
}

#[derive(Subcommand)]
enum AuditTask {
    /// Walk the hash chain; exit 1 if a row was changed, removed or inserted.
    Verify,
    /// List entries, newest first, matching every condition given (tab-separated: seq,
    /// time JST, actor, facility, patient, action, detail, address, request id).
    List {
        /// Entries about this patient id.
        #[arg(long)]
        patient: Option<i64>,
        /// By this actor: `staff`, `staff:12`, `patient:3`, `operator:1`, `system`.
        #[arg(long)]
        actor: Option<String>,
        /// On this day in Japan (`YYYY-MM-DD`).
        #[arg(long)]
        day: Option<String>,
        /// Caused by this request (the `x-request-id` every response carries).
        #[arg(long)]
        request_id: Option<String>,
        /// In this facility id.
        #[arg(long)]
        facility: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 200)]
        limit: i64,
    },
}

fn load_settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(d) = &cli.data_dir {
        s.data_dir = d.clone();
    }
    if let Some(u) = &cli.database_url {
        s.database_url = u.clone();
    }
    Ok(s)
}

fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("TSUNAGU_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = load_settings(&cli)?;
    init_tracing(settings.log_json);
    match cli.command {
        Command::Serve {
            listen,
            no_demo,
            eligibility_listen,
        } => {
            if let Some(l) = listen {
                settings.listen = l;
            }
            if let Some(l) = eligibility_listen {
                settings.eligibility.listen = l;
            }
            if no_demo {
                settings.demo = false;
            }
            let app = Application::build(&settings, Hooks::default()).await?;
            let base = app.base_url().to_string();
            println!("{}", demo::banner(&base));
            if let Some(url) = app.eligibility_url() {
                println!("{}", demo::eligibility_banner(&url));
            }
            if app.state().config.dev_outbox {
                println!(
                    "  No SMS/SMTP provider configured: messages are kept at {base}/dev/outbox (operator login).\n  Nothing leaves this machine.\n"
                );
            }
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                let _ = tx.send(true);
            });
            app.run_until_stopped(rx).await
        }
        Command::Migrate => {
            open_db(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            settings.demo = true;
            settings.listen = "127.0.0.1:0".into();
            let app = Application::build(
                &settings,
                Hooks {
                    no_workers: true,
                    ..Hooks::default()
                },
            )
            .await?;
            println!("{}", demo::banner("http://127.0.0.1:8080"));
            app.state().db.close().await;
            Ok(())
        }
        Command::Admin { task } => admin(&settings, task).await,
        Command::Eligibility {
            eligibility_database_url,
            task,
        } => {
            let url = eligibility_database_url.unwrap_or_else(|| {
                let _ = std::fs::create_dir_all(&settings.data_dir);
                tsunagu_config::sqlite_url(&settings.data_dir.join("eligibility.db"))
            });
            if let EligibilityTask::Serve { listen } = &task {
                // The service alone, as the operating body would run it: its own database,
                // pages and API, without the platform.
                settings.eligibility.database_url = url;
                let clock: std::sync::Arc<dyn tsunagu_kernel::Clock> =
                    std::sync::Arc::new(tsunagu_kernel::SystemClock);
                let service = tsunagu_server::Eligibility::build(&settings, listen, clock).await?;
                println!("{}", demo::eligibility_banner(&service.base_url()));
                let (tx, rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    shutdown_signal().await;
                    tracing::info!("shutting down");
                    let _ = tx.send(true);
                });
                return service.run_until_stopped(rx).await;
            }
            eligibility(&url, task).await
        }
    }
}

async fn admin(settings: &Settings, task: AdminTask) -> anyhow::Result<()> {
    if let AdminTask::NewKey = task {
        // Needs no database: a key for `secret_key` (TSUNAGU_SECRET_KEY).
        println!("{}", tsunagu_kernel::seal::new_key());
        return Ok(());
    }
    let db = open_db(settings).await?;
    let clock: std::sync::Arc<dyn tsunagu_kernel::Clock> =
        std::sync::Arc::new(tsunagu_kernel::SystemClock);
    match task {
        AdminTask::Audit {
            task: AuditTask::Verify,
        } => {
            let sealer = tsunagu_kernel::seal::Sealer::from_key(&settings.sealing_key()?)
                .map_err(|e| anyhow::anyhow!("secret_key: {e}"))?;
            let log = tsunagu_audit::AuditLog::new(db.clone(), clock, sealer);
            // The head seen last time is kept beside the data, outside the database: a
            // chain cut back to an older state is then reported, not taken as new.
            let head_file = settings.data_dir.join("audit-head.json");
            let last_seen = match std::fs::read_to_string(&head_file) {
                Ok(text) => {
                    Some(tsunagu_audit::parse_head(&text).map_err(|e| anyhow::anyhow!("{e}"))?)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e.into()),
            };
            match log.verify(last_seen.as_ref()).await? {
                tsunagu_audit::Verdict::Intact { rows, head } => {
                    println!("audit log intact: {rows} rows, head {head}");
                    let seen = tsunagu_audit::Head {
                        seq: rows,
                        hash: head,
                    };
                    std::fs::write(&head_file, serde_json::to_string(&seen)?)?;
                    println!("head recorded in {}", head_file.display());
                    Ok(())
                }
                tsunagu_audit::Verdict::Broken { seq, reason } => {
                    eprintln!("audit log BROKEN at row {seq}: {reason}");
                    std::process::exit(1);
                }
            }
        }
        AdminTask::Audit {
            task:
                AuditTask::List {
                    patient,
                    actor,
                    day,
                    request_id,
                    facility,
                    limit,
                },
        } => {
            let sealer = tsunagu_kernel::seal::Sealer::from_key(&settings.sealing_key()?)
                .map_err(|e| anyhow::anyhow!("secret_key: {e}"))?;
            let log = tsunagu_audit::AuditLog::new(db.clone(), clock, sealer);
            let filter = audit_filter(patient, actor, day, request_id, facility, limit)?;
            let tz = jiff::tz::TimeZone::get("Asia/Tokyo")?;
            for e in log.search(&filter).await? {
                let at = jiff::Timestamp::from_millisecond(e.at)?
                    .to_zoned(tz.clone())
                    .strftime("%Y-%m-%d %H:%M:%S");
                let opt = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
                println!(
                    "{}\t{at}\t{}:{} {}\t{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq,
                    e.actor_kind,
                    opt(e.actor_id),
                    e.actor_label,
                    opt(e.facility_id),
                    opt(e.patient_id),
                    e.action,
                    e.detail,
                    e.ip,
                    e.request_id
                );
            }
            Ok(())
        }
        AdminTask::CreateOperator {
            login_id,
            name,
            password,
        } => {
            let pw = tsunagu_accounts::password::validate_new("password", &password)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let hash = tsunagu_accounts::password::hash(pw)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let store = tsunagu_accounts::StaffStore::new(db.clone(), clock.clone());
            let id = store
                .create_operator(login_id.trim(), &name, &hash)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("creating operator")?;
            // The first TOTP enrolment needs this code: the password alone is not enough.
            let sealer = tsunagu_kernel::seal::Sealer::from_key(&settings.sealing_key()?)
                .map_err(|e| anyhow::anyhow!("secret_key: {e}"))?;
            let code = tsunagu_accounts::totp::new_enrolment_code();
            let digest = tsunagu_accounts::totp::enrolment_digest(&sealer, &code);
            store
                .set_enrolment_code(
                    tsunagu_accounts::staff::LoginTable::Operators,
                    id.0,
                    &digest,
                    clock.now_ms() + 72 * 3600 * 1000,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "operator {login_id} created; at first login enrol TOTP with the code {code} (72 hours, once)"
            );
            Ok(())
        }
        AdminTask::NewKey => Ok(()),
    }
}

async fn eligibility(url: &str, task: EligibilityTask) -> anyhow::Result<()> {
    use tsunagu_eligibility_domain::generate::{Generator, Insurer, seed_examples};
    let store = tsunagu_eligibility::EligibilityStore::open(url, 4).await?;
    let e = |e: tsunagu_kernel::DomainError| anyhow::anyhow!("{e}");
    match task {
        EligibilityTask::Generate { count, seed } => {
            let started = std::time::Instant::now();
            let examples = if store.count().await.map_err(e)? == 0 {
                seed_examples()
            } else {
                Vec::new()
            };
            let n = store
                .import(examples.into_iter().chain(Generator::new(seed).take(count)))
                .await
                .map_err(e)?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{n} records stored in {secs:.1} s ({:.0} records/s); {} in total",
                n as f64 / secs,
                store.count().await.map_err(e)?
            );
        }
        EligibilityTask::Serve { .. } => {
            anyhow::bail!("eligibility serve runs the service before this point")
        }
        EligibilityTask::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let records = match tsunagu_eligibility_domain::read_import(name, &text) {
                Ok(r) => r,
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    anyhow::bail!("{} problems; nothing imported", problems.len());
                }
            };
            let n = store
                .import(records.into_iter().map(|q| {
                    (
                        Insurer {
                            number: q.insurer_number,
                            name: q.insurer_name.clone(),
                        },
                        q,
                    )
                }))
                .await
                .map_err(e)?;
            println!("{n} records imported");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The conditions of `admin audit list`, checked: a wrong actor or day is an error that
/// says what to write, not an empty answer.
fn audit_filter(
    patient: Option<i64>,
    actor: Option<String>,
    day: Option<String>,
    request_id: Option<String>,
    facility: Option<i64>,
    limit: i64,
) -> anyhow::Result<tsunagu_audit::Filter> {
    let actor = match actor {
        None => None,
        Some(a) => {
            let (kind, id) = match a.split_once(':') {
                Some((k, id)) => (
                    k.to_string(),
                    Some(id.parse::<i64>().map_err(|_| {
                        anyhow::anyhow!("--actor: the id after ':' must be a number ({a})")
                    })?),
                ),
                None => (a.clone(), None),
            };
            if !["staff", "patient", "operator", "system"].contains(&kind.as_str()) {
                anyhow::bail!("--actor: staff, patient, operator or system, optionally :id ({a})");
            }
            Some((kind, id))
        }
    };
    let (from_ms, to_ms) = match day {
        None => (None, None),
        Some(d) => {
            let date: jiff::civil::Date = d
                .parse()
                .map_err(|_| anyhow::anyhow!("--day: a date YYYY-MM-DD ({d})"))?;
            let tz = jiff::tz::TimeZone::get("Asia/Tokyo")?;
            let from = date.to_zoned(tz.clone())?.timestamp();
            let to = date.tomorrow()?.to_zoned(tz)?.timestamp();
            (Some(from.as_millisecond()), Some(to.as_millisecond()))
        }
    };
    Ok(tsunagu_audit::Filter {
        patient: patient.map(tsunagu_kernel::PatientId),
        actor,
        request_id,
        facility: facility.map(tsunagu_kernel::FacilityId),
        from_ms,
        to_ms,
        limit,
    })
}
