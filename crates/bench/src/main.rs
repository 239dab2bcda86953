//! `tsunagu-bench`: load benchmarks of a real `serve` on loopback.
//!
//! Every figure comes with a baseline measured in the same run on the same server
//! (`/healthz`, which only pings the database), because absolute numbers on a shared
//! 2-core machine are noise; the ratio is what to compare between runs.
//!
//!     cargo run --release -p tsunagu-bench -- mypage [--postgres URL] [--clients 32] [--secs 10]
//!     cargo run --release -p tsunagu-bench -- login
//!     cargo run --release -p tsunagu-bench -- memory

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use tsunagu_config::Settings;
use tsunagu_server::{Application, Hooks};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    what: What,
    /// Run on this PostgreSQL (a fresh database is created and dropped); default SQLite.
    #[arg(long, global = true)]
    postgres: Option<String>,
    /// Concurrent clients.
    #[arg(long, global = true, default_value_t = 32)]
    clients: usize,
    /// Seconds per measurement.
    #[arg(long, global = true, default_value_t = 10)]
    secs: u64,
}

#[derive(Subcommand)]
enum What {
    /// The patient's my page under load, against /healthz.
    Mypage,
    /// Patient login (argon2id verify) latency and throughput, against /healthz.
    Login,
    /// Resident memory of an idle server with demo data.
    Memory,
}

struct Server {
    base: String,
    stop: tokio::sync::watch::Sender<bool>,
    pg: Option<(String, String)>,
    _dir: Option<std::path::PathBuf>,
}

async fn start(pg: Option<&str>) -> anyhow::Result<Server> {
    let (url, pgname, dir) = match pg {
        Some(admin) => {
            let name = format!("tsunagu_bench_{}", uuid::Uuid::new_v4().simple());
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut c)
                .await?;
            let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
            (
                format!("{base}/{name}"),
                Some((admin.to_string(), name)),
                None,
            )
        }
        None => {
            let dir = std::env::temp_dir()
                .join(format!("tsunagu-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir)?;
            (
                tsunagu_config::sqlite_url(&dir.join("b.db")),
                None,
                Some(dir),
            )
        }
    };
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: url,
        demo: true,
        ..Settings::default()
    };
    let app = Application::build(&settings, Hooks::default()).await?;
    let base = app.base_url().to_string();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = app.run_until_stopped(rx).await;
    });
    Ok(Server {
        base,
        stop,
        pg: pgname,
        _dir: dir,
    })
}

impl Server {
    async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some((admin, name)) = &self.pg {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut c)
            .await?;
        }
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
        Ok(())
    }
}

struct Run {
    requests: u64,
    errors: u64,
    secs: f64,
    hist: Histogram<u64>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
    fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{name:<22} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {}",
            self.rps(),
            self.ms(0.5),
            self.ms(0.99),
            self.errors
        )
    }
}

/// Runs `clients` loops for `secs`, each sending what `make` builds.
async fn load<F>(clients: usize, secs: u64, make: F) -> anyhow::Result<Run>
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut n, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match make(i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                hist.record(
                    u64::try_from(t.elapsed().as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1),
                )?;
                n += 1;
            }
            anyhow::Ok((hist, n, errors))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut requests, mut errors) = (0, 0);
    for t in tasks {
        let (h, n, e) = t.await??;
        hist.add(h)?;
        requests += n;
        errors += e;
    }
    Ok(Run {
        requests,
        errors,
        secs: started.elapsed().as_secs_f64(),
        hist,
    })
}

/// A logged-in browser session cookie for the my page.
async fn login_cookie(base: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = http.get(format!("{base}/login")).send().await?;
    let anon = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .to_string();
    let body = page.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let start = body
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("no csrf"))?
        + marker.len();
    let csrf = &body[start..start + body[start..].find('"').unwrap_or(0)];
    let r = http
        .post(format!("{base}/login"))
        .header("cookie", anon)
        .form(&[
            ("csrf", csrf),
            ("phone", "090-0000-0001"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ])
        .send()
        .await?;
    r.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("login did not set a cookie"))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let db = if cli.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    match cli.what {
        What::Memory => {
            let before = rss_kib();
            let s = start(cli.postgres.as_deref()).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            println!(
                "idle serve with demo data on {db}: RSS {} MiB (process before start: {} MiB)",
                rss_kib() / 1024,
                before / 1024
            );
            s.shutdown().await?;
        }
        What::Mypage => {
            let s = start(cli.postgres.as_deref()).await?;
            let cookie = login_cookie(&s.base).await?;
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(cli.clients)
                .build()?;
            let (h, b) = (http.clone(), s.base.clone());
            let base_run = load(cli.clients, cli.secs, move |_| {
                h.get(format!("{b}/healthz"))
            })
            .await?;
            let (h, b) = (http.clone(), s.base.clone());
            let my = load(cli.clients, cli.secs, move |_| {
                h.get(format!("{b}/my")).header("cookie", cookie.clone())
            })
            .await?;
            println!(
                "my page on {db}, {} clients, {} s each:",
                cli.clients, cli.secs
            );
            println!("{}", base_run.line("baseline /healthz"));
            println!("{}", my.line("GET /my"));
            println!(
                "ratio my/healthz: throughput {:.2}, p99 {:.2}",
                my.rps() / base_run.rps(),
                my.ms(0.99) / base_run.ms(0.99)
            );
            s.shutdown().await?;
        }
        What::Login => {
            let s = start(cli.postgres.as_deref()).await?;
            let http = reqwest::Client::new();
            let p = tsunagu_accounts::password::params();
            println!(
                "argon2id m={} KiB t={} p={}",
                p.m_cost(),
                p.t_cost(),
                p.p_cost()
            );
            let t = Instant::now();
            let n = 20;
            for _ in 0..n {
                tsunagu_accounts::password::verify(
                    tsunagu_server::demo::DEMO_PASSWORD.into(),
                    tsunagu_accounts::password::hash_blocking("x-pass-1234")
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            println!(
                "one hash + one verify: {:.1} ms",
                t.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
            );
            // Logins are limited per address (60 per 15 minutes), so this is a count of
            // sequential logins, not a time-boxed flood; the baseline gets the same count.
            let mut base_run = Run {
                requests: 0,
                errors: 0,
                secs: 0.0,
                hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            };
            let mut logins = Run {
                requests: 0,
                errors: 0,
                secs: 0.0,
                hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            };
            for _ in 0..50 {
                let t = Instant::now();
                let ok = http
                    .get(format!("{}/healthz", s.base))
                    .send()
                    .await?
                    .status()
                    .is_success();
                base_run
                    .hist
                    .record(u64::try_from(t.elapsed().as_micros()).unwrap_or(1).max(1))?;
                base_run.secs += t.elapsed().as_secs_f64();
                base_run.requests += 1;
                base_run.errors += u64::from(!ok);
                let t = Instant::now();
                let ok = http
                    .post(format!("{}/api/v1/login", s.base))
                    .json(&serde_json::json!({"phone": "090-0000-0001", "password": tsunagu_server::demo::DEMO_PASSWORD}))
                    .send()
                    .await?
                    .status()
                    .is_success();
                logins
                    .hist
                    .record(u64::try_from(t.elapsed().as_micros()).unwrap_or(1).max(1))?;
                logins.secs += t.elapsed().as_secs_f64();
                logins.requests += 1;
                logins.errors += u64::from(!ok);
            }
            println!("{}", base_run.line("baseline /healthz"));
            println!("{}", logins.line("POST /api/v1/login"));
            println!(
                "ratio login/healthz p50: {:.1}",
                logins.ms(0.5) / base_run.ms(0.5)
            );
            s.shutdown().await?;
        }
    }
    Ok(())
}
