//! `tsunagu-bench`: load benchmarks of a real `serve` on loopback.
//!
//! Every figure comes with a baseline measured in the same run on the same server
//! (`/healthz`, which only pings the database), because absolute numbers on a shared
//! 2-core machine are noise; the ratio is what to compare between runs.
//!
//!     cargo run --release -p tsunagu-bench -- mypage [--postgres URL] [--clients 32] [--secs 10]
//!     cargo run --release -p tsunagu-bench -- login
//!     cargo run --release -p tsunagu-bench -- memory
//!     cargo run --release -p tsunagu-bench -- eligibility-api [--clients 32] [--secs 10]
//!     cargo run --release -p tsunagu-bench -- audit [--postgres URL] [--clients 32] [--secs 10]

mod janus;
mod sfu;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use tsunagu_config::Settings;
use tsunagu_server::{Application, Hooks};

use crate::sfu::Wake;

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
    /// The four-facts search over a generated population, against a full scan.
    Eligibility {
        /// Records to generate.
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
    },
    /// Booking throughput with many concurrent clients, against the raw database's rate
    /// for the same statements; and the month's free-slot query of a 5-doctor clinic.
    Booking,
    /// The eligibility API's card lookup (method 2, what the platform's insurance check
    /// calls), against the eligibility service's own /healthz.
    EligibilityApi,
    /// Audited staff reads (one chained, keyed audit row each, under the chain's one
    /// lock) against /healthz; and raw appends with one appender against many.
    Audit,
    /// A patient's arrival in a visit's room until every staff screen has heard of it,
    /// with many patients already waiting, against the same with none; and memory per
    /// open room socket.
    Visits {
        /// Patients already waiting (one open room socket each).
        #[arg(long, default_value_t = 5_000)]
        waiting: usize,
        /// Staff screens open (one /staff/ws socket each).
        #[arg(long, default_value_t = 100)]
        staff: usize,
        /// Arrivals measured in each phase.
        #[arg(long, default_value_t = 200)]
        arrivals: usize,
        /// Staff screens on a second node (same PostgreSQL), patients on the first.
        #[arg(long)]
        two_nodes: bool,
    },
    /// The SFU under synthetic calls (1.5 Mbps VP8 + Opus per person, everyone receives
    /// everyone): CPU per forwarded stream-second, packets/s, latency and what the SFU adds
    /// over a direct link measured in the same run; then how many 4-person rooms fit before
    /// latency p99 passes 50 ms.
    Sfu {
        /// Room sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "2,4,6")]
        sizes: Vec<usize>,
        /// Rooms of each size at once.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Largest number of 4-person rooms to try in the capacity search (0: skip it).
        #[arg(long, default_value_t = 0)]
        capacity: usize,
        /// Also run the same load through Janus's VideoRoom (Debian's `janus`), started with
        /// this config directory (`crates/bench/janus`).
        #[arg(long)]
        janus: Option<String>,
    },
}

struct Server {
    base: String,
    eligibility: String,
    state: tsunagu_web::AppState,
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
    pg: Option<(String, String)>,
    _dir: Option<std::path::PathBuf>,
    data_dir: std::path::PathBuf,
}

async fn start(pg: Option<&str>) -> anyhow::Result<Server> {
    start_with(pg, false).await
}

/// Starts a server; with `eligibility`, the eligibility service beside it (demo data).
async fn start_with(pg: Option<&str>, eligibility: bool) -> anyhow::Result<Server> {
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
    let data_dir = std::env::temp_dir().join(format!(
        "tsunagu-bench-files-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let settings = node_settings(&url, &data_dir, eligibility);
    let app = Application::build(&settings, Hooks::default()).await?;
    let base = app.base_url().to_string();
    let eligibility = app.eligibility_url().unwrap_or_default();
    let state = app.state().clone();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = app.run_until_stopped(rx).await;
    });
    Ok(Server {
        base,
        eligibility,
        state,
        url,
        stop,
        pg: pgname,
        _dir: dir,
        data_dir,
    })
}

/// A bench node's settings: loopback ports, demo data, the eligibility service beside it
/// when asked.
fn node_settings(url: &str, data_dir: &std::path::Path, eligibility: bool) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        database_url: url.to_string(),
        data_dir: data_dir.to_path_buf(),
        demo: true,
        max_connections: 32,
        eligibility: tsunagu_config::EligibilitySettings {
            listen: if eligibility {
                "127.0.0.1:0".into()
            } else {
                String::new()
            },
            database_url: String::new(),
            ..Default::default()
        },
        rtc: tsunagu_config::RtcSettings {
            bind: "127.0.0.1:0".into(),
            public_ip: "127.0.0.1".into(),
            ..Default::default()
        },
        ..Settings::default()
    }
}

/// A second `serve` node on the same database and data directory (so the same key): its
/// base URL and its stop switch.
async fn second_node(s: &Server) -> anyhow::Result<(String, tokio::sync::watch::Sender<bool>)> {
    let settings = node_settings(&s.url, &s.data_dir, false);
    let app = Application::build(&settings, Hooks::default()).await?;
    let base = app.base_url().to_string();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = app.run_until_stopped(rx).await;
    });
    Ok((base, stop))
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

/// The audit chain under load: is its single lock a hot spot?
async fn audit(cli: &Cli, db: &str) -> anyhow::Result<()> {
    let s = start(cli.postgres.as_deref()).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.clients)
        .build()?;
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/staff/login", s.base))
        .json(
            &serde_json::json!({"facility": "tsunagu-central", "login_id": "clerk",
            "password": tsunagu_server::demo::DEMO_PASSWORD}),
        )
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("staff login failed: {login}"))?
        .to_string();
    let list: serde_json::Value = http
        .get(format!("{}/api/v1/staff/patients", s.base))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let patient = list[0]["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no patient: {list}"))?;
    let (h, b) = (http.clone(), s.base.clone());
    let base_run = load(cli.clients, cli.secs, move |_| {
        h.get(format!("{b}/healthz"))
    })
    .await?;
    let (h, b) = (http.clone(), s.base.clone());
    let read = load(cli.clients, cli.secs, move |_| {
        h.get(format!("{b}/api/v1/staff/patients/{patient}"))
            .bearer_auth(&token)
    })
    .await?;
    println!(
        "audited staff reads on {db}, {} clients, {} s each:",
        cli.clients, cli.secs
    );
    println!("{}", base_run.line("baseline /healthz"));
    println!(
        "{}",
        read.line("GET /api/v1/staff/patients/{id} (one audit row each)")
    );
    println!(
        "ratio read/healthz: throughput {:.2}, p99 {:.2}",
        read.rps() / base_run.rps(),
        read.ms(0.99) / base_run.ms(0.99)
    );
    // Raw appends: one appender, then as many as clients, for the same time.
    let mut rates = Vec::new();
    for appenders in [1, cli.clients] {
        let deadline = Instant::now() + Duration::from_secs(cli.secs);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..appenders {
            let log = s.state.audit.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    log.append(tsunagu_audit::Entry {
                        actor: tsunagu_audit::Actor {
                            kind: "system",
                            id: None,
                            label: format!("bench-{i}"),
                        },
                        facility_id: None,
                        patient_id: None,
                        action: "bench.append",
                        detail: String::new(),
                        ip: String::new(),
                        request_id: String::new(),
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                    n += 1;
                }
                anyhow::Ok(n)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await??;
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        println!("raw appends, {appenders} appender(s): {rate:.0}/s");
        rates.push(rate);
    }
    if let [one, many] = rates[..] {
        println!("ratio {} appenders / 1: {:.2}", cli.clients, many / one);
    }
    match s
        .state
        .audit
        .verify(None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        tsunagu_audit::Verdict::Intact { rows, .. } => println!("chain intact: {rows} rows"),
        v => anyhow::bail!("chain broken after the run: {v:?}"),
    }
    s.shutdown().await
}

/// A logged-in browser session cookie for the my page.
async fn login_cookie(base: &str) -> anyhow::Result<String> {
    session_cookie(
        base,
        "/login",
        &[
            ("phone", "090-0000-0001"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await
}

/// The session cookie of a login form at `path` posted with `fields`.
async fn session_cookie(base: &str, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = |r: &reqwest::Response| {
        r.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    };
    let page = http.get(format!("{base}{path}")).send().await?;
    let anon = cookie(&page).unwrap_or_default();
    let body = page.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let start = body
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("no csrf"))?
        + marker.len();
    let csrf = &body[start..start + body[start..].find('"').unwrap_or(0)];
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    let r = http
        .post(format!("{base}{path}"))
        .header("cookie", anon)
        .form(&form)
        .send()
        .await?;
    cookie(&r).ok_or_else(|| anyhow::anyhow!("login at {path} did not set a cookie"))
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
        What::Sfu {
            sizes,
            rooms,
            capacity,
            janus,
        } => {
            let secs = cli.secs;
            // Janus never uses loopback: everything runs on the host's outward address.
            let ip = tsunagu_rtc::default_candidate_ip();
            let base =
                tokio::task::spawn_blocking(move || sfu::direct(ip, secs, Wake::Poll)).await??;
            let woken = tokio::task::spawn_blocking(move || sfu::direct(ip, secs, Wake::Datagram))
                .await??;
            println!("SFU benchmark: {secs} s per configuration, on {ip}, this machine");
            println!(
                "clients poll their sockets every 1 ms, except on the lines marked \"woken\" \
                 (blocked on the socket: the SFU's send wakes them, as loopback charges it)"
            );
            sfu::head();
            sfu::line("direct link (baseline)", &base, &base);
            sfu::line("direct link, woken", &woken, &woken);
            for &size in &sizes {
                let plain = sfu::tsunagu(ip, size, rooms, secs, false, Wake::Poll).await?;
                sfu::line(&format!("tsunagu {rooms}×{size} unbatched"), &plain, &base);
                for (wake, mark, base) in
                    [(Wake::Poll, "", &base), (Wake::Datagram, " woken", &woken)]
                {
                    let m = sfu::tsunagu(ip, size, rooms, secs, true, wake).await?;
                    sfu::line(&format!("tsunagu {rooms}×{size}{mark}"), &m, base);
                    if wake == Wake::Poll {
                        println!(
                            "  batched/unbatched CPU per stream-second: {:.2}, per packet: {:.2}",
                            m.cpu_ms_per_stream_s() / plain.cpu_ms_per_stream_s().max(1e-9),
                            m.cpu_us_per_packet() / plain.cpu_us_per_packet().max(1e-9)
                        );
                    }
                    if let Some(dir) = &janus {
                        let j = janus::Janus::start(dir).await?;
                        let jm = janus::run(&j, ip, size, rooms, secs, wake).await?;
                        drop(j);
                        sfu::line(&format!("janus   {rooms}×{size}{mark}"), &jm, base);
                        println!(
                            "  tsunagu/janus{mark} CPU per stream-second: {:.2}, per packet: {:.2}",
                            m.cpu_ms_per_stream_s() / jm.cpu_ms_per_stream_s().max(1e-9),
                            m.cpu_us_per_packet() / jm.cpu_us_per_packet().max(1e-9)
                        );
                    }
                }
            }
            // Doubling until p99 passes 50 ms, then halving the gap to within an eighth.
            let (mut good, mut bad, mut r) = (0, None, 1);
            while capacity > 0 && r <= capacity {
                let m = sfu::tsunagu(ip, 4, r, secs, true, Wake::Poll).await?;
                sfu::line(&format!("tsunagu {r}×4 (capacity)"), &m, &base);
                // A room count "fits" when its latency holds and its video arrives: a run
                // that delivered little has a short, flattering latency histogram.
                let fits = m.p99_ms <= 50.0 && m.video_delivered() >= 0.9;
                match bad {
                    None if fits => {
                        good = r;
                        r = if r * 2 > capacity && r < capacity {
                            capacity
                        } else {
                            r * 2
                        };
                        continue;
                    }
                    None => bad = Some(r),
                    Some(_) if fits => good = r,
                    Some(_) => bad = Some(r),
                }
                let Some(b) = bad else { break };
                if b - good <= (good / 8).max(1) {
                    break;
                }
                r = (good + b) / 2;
            }
            match bad {
                Some(b) if capacity > 0 => {
                    println!(
                        "one node: {good} rooms of 4 with p99 ≤ 50 ms and 90 % of video delivered; \
                     {b} rooms do not"
                    )
                }
                _ if capacity > 0 => {
                    println!("one node: {good} rooms of 4, all within the limits")
                }
                _ => {}
            }
        }
        What::Visits {
            waiting,
            staff,
            arrivals,
            two_nodes,
        } => visits(cli.postgres.as_deref(), waiting, staff, arrivals, two_nodes).await?,
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
        What::Booking => booking(&cli).await?,
        What::Audit => audit(&cli, db).await?,
        What::EligibilityApi => {
            let s = start_with(cli.postgres.as_deref(), true).await?;
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(cli.clients)
                .build()?;
            let v: serde_json::Value = http
                .post(format!("{}/api/v1/login", s.eligibility))
                .json(&serde_json::json!({
                    "institution": tsunagu_server::demo::ELIGIBILITY_CODES[0],
                    "login_id": "viewer",
                    "password": tsunagu_server::demo::DEMO_PASSWORD,
                }))
                .send()
                .await?
                .json()
                .await?;
            let token = v["token"].as_str().unwrap_or_default().to_string();
            let (h, b) = (http.clone(), s.eligibility.clone());
            let base_run = load(cli.clients, cli.secs, move |_| {
                h.get(format!("{b}/healthz"))
            })
            .await?;
            let (h, b) = (http.clone(), s.eligibility.clone());
            let lookup = load(cli.clients, cli.secs, move |_| {
                // The seed's 新橋 太郎, as the platform asks for a registered card.
                h.post(format!("{b}/api/v1/qualifications/by-card"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"insurer_number": "06139000", "symbol": "9000", "number": "10001", "branch": "01"}))
            })
            .await?;
            println!(
                "eligibility API on {db}, {} clients, {} s each:",
                cli.clients, cli.secs
            );
            println!("{}", base_run.line("baseline /healthz"));
            println!("{}", lookup.line("POST by-card"));
            println!(
                "ratio by-card/healthz: throughput {:.2}, p99 {:.2}",
                lookup.rps() / base_run.rps(),
                lookup.ms(0.99) / base_run.ms(0.99)
            );
            s.shutdown().await?;
        }
        What::Eligibility { count } => eligibility(cli.postgres.as_deref(), count).await?,
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

/// A clinic with five doctors open around the clock (so a thousand clients always find
/// free 5-minute slots) and the menus the benchmark books.
async fn bench_clinic(
    st: &tsunagu_web::AppState,
) -> anyhow::Result<(tsunagu_clinics::Facility, i64, i64)> {
    use tsunagu_accounts::Role;
    use tsunagu_accounts::staff::NewStaff;
    use tsunagu_scheduling::{MenuInput, Mode, WeeklyHours};
    let e = |e: tsunagu_kernel::DomainError| anyhow::anyhow!("{e}");
    let f = st
        .facilities
        .create(&tsunagu_clinics::NewFacility {
            organisation_id: None,
            name: "ベンチ診療所".into(),
            kind: tsunagu_clinics::FacilityKind::Clinic,
            prefecture: 13,
            address: String::new(),
            phone: String::new(),
            slug: "bench-clinic".into(),
        })
        .await
        .map_err(e)?;
    let hash = tsunagu_accounts::password::hash_blocking("bench-pass-1").map_err(e)?;
    let all_day: Vec<WeeklyHours> = (1..=7)
        .map(|d| WeeklyHours {
            weekday: d,
            start_minute: 0,
            end_minute: 1440,
        })
        .collect();
    for i in 0..5 {
        let id = st
            .accounts
            .staff
            .create(
                f,
                &NewStaff {
                    login_id: format!("doc{i}"),
                    display_name: format!("医師 {i}"),
                    role: Role::Doctor,
                    medical_registration_year: None,
                },
                &hash,
            )
            .await
            .map_err(e)?;
        st.booker
            .schedules
            .set_weekly(f, id, &all_day)
            .await
            .map_err(e)?;
    }
    let quick = st
        .booker
        .menus
        .create(
            f,
            &MenuInput {
                name: "bench quick".into(),
                description: String::new(),
                mode: Mode::Online,
                first_minutes: 5,
                return_minutes: 5,
                insured: false,
                booking_fee_yen: 0,
                questionnaire: vec![],
                consent_text: String::new(),
            },
        )
        .await
        .map_err(e)?;
    let month = st
        .booker
        .menus
        .create(
            f,
            &MenuInput {
                name: "bench month".into(),
                description: String::new(),
                mode: Mode::Online,
                first_minutes: 30,
                return_minutes: 15,
                insured: false,
                booking_fee_yen: 0,
                questionnaire: vec![],
                consent_text: String::new(),
            },
        )
        .await
        .map_err(e)?;
    Ok((st.facilities.get(f).await.map_err(e)?, quick, month))
}

async fn booking(cli: &Cli) -> anyhow::Result<()> {
    use rand::seq::SliceRandom;
    let db = if cli.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let s = start(cli.postgres.as_deref()).await?;
    let st = s.state.clone();
    let e = |e: tsunagu_kernel::DomainError| anyhow::anyhow!("{e}");
    let (f, quick, month) = bench_clinic(&st).await?;
    // Patients: 50 accounts, signed in by creating their sessions directly (the login API
    // is rate-limited per address, as it should be).
    let mut tokens = Vec::new();
    let mut patients = Vec::new();
    let hash = tsunagu_accounts::password::hash_blocking("bench-pass-1").map_err(e)?;
    for i in 0..50 {
        let phone =
            tsunagu_kernel::Phone::parse("p", &format!("080{:08}", 10_000_000 + i)).map_err(e)?;
        let mut tx = st.db.begin_write().await.map_err(e)?;
        let me = tsunagu_accounts::NewPatient {
            family_name: "負荷".into(),
            given_name: format!("試験{i}"),
            family_name_kana: "フカ".into(),
            given_name_kana: "シケン".into(),
            birth_date: "1990-01-01".parse()?,
            sex: tsunagu_kernel::Sex::Unset,
        };
        let (acct, pid) = st
            .accounts
            .patients
            .create_account_in(&mut tx, &phone, &hash, &me)
            .await
            .map_err(e)?;
        tx.commit().await?;
        let (token, _) = st
            .accounts
            .sessions
            .create(
                tsunagu_accounts::Realm::Patient,
                Some(acct.0),
                None,
                tsunagu_accounts::Stage::Full,
                &tsunagu_accounts::sessions::Origin::default(),
                serde_json::Map::new(),
            )
            .await
            .map_err(e)?;
        tokens.push(token);
        patients.push(pid.0);
    }
    let menu = st.booker.menus.get(f.id, quick).await.map_err(e)?;
    let from = st.booker.today(&f).tomorrow()?;
    let mut free: Vec<(i64, i64)> = st
        .booker
        .slots(&f, &menu, tsunagu_scheduling::VisitKind::Return, from, 31)
        .await
        .map_err(e)?
        .into_iter()
        .map(|x| (x.doctor_id.0, x.starts_at))
        .collect();
    free.shuffle(&mut rand::rng());
    let pool = std::sync::Arc::new(std::sync::Mutex::new(free));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.clients)
        .build()?;
    let (h, b) = (http.clone(), s.base.clone());
    let base_run = load(cli.clients, cli.secs, move |_| {
        h.get(format!("{b}/healthz"))
    })
    .await?;
    let (h, b) = (http.clone(), s.base.clone());
    let tokens = std::sync::Arc::new(tokens);
    let patients = std::sync::Arc::new(patients);
    let book = load(cli.clients, cli.secs, move |i| {
        let (doctor, at) = pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or((0, 0));
        let who = i % tokens.len();
        h.post(format!("{b}/api/v1/me/bookings"))
            .bearer_auth(&tokens[who])
            .json(&serde_json::json!({
                "facility": "bench-clinic", "patient_id": patients[who], "menu_id": quick, "kind": "return",
                "doctor_id": doctor, "starts_at": tsunagu_kernel::clock::from_ms(at).to_string(),
            }))
    })
    .await?;
    let booked: i64 = tsunagu_db::sqlx::query_scalar("SELECT COUNT(*) FROM bookings")
        .fetch_one(st.db.pool())
        .await?;
    println!(
        "booking on {db}, {} clients, {} s each:",
        cli.clients, cli.secs
    );
    println!("{}", base_run.line("baseline /healthz"));
    println!("{}", book.line("POST /api/v1/me/bookings"));
    println!("bookings stored: {booked}");
    let raw = raw_rate(&s, cli.secs).await?;
    println!(
        "raw {db}, same statements (booking + 1 claim + outbox + 2 jobs per transaction): {raw:.0} tx/s"
    );
    println!("ratio booking API / raw database: {:.2}", book.rps() / raw);

    // The month's free slots of the clinic's five doctors (30-minute menu).
    let month_menu = st.booker.menus.get(f.id, month).await.map_err(e)?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut n_slots = 0;
    for _ in 0..50 {
        let t = Instant::now();
        n_slots = st
            .booker
            .slots(
                &f,
                &month_menu,
                tsunagu_scheduling::VisitKind::First,
                from,
                31,
            )
            .await
            .map_err(e)?
            .len();
        hist.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(1).max(1))?;
    }
    println!(
        "free-slot query, 5 doctors × 31 days ({n_slots} slots): p50 {:.2} ms  p99 {:.2} ms",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0
    );
    s.shutdown().await?;
    Ok(())
}

/// The database's own rate for the statements one booking writes: on PostgreSQL with
/// pgbench (a script of the same statements), on SQLite with a loop of them.
async fn raw_rate(s: &Server, secs: u64) -> anyhow::Result<f64> {
    if s.url.starts_with("postgres") {
        let script = std::env::temp_dir().join(format!(
            "tsunagu-bench-{}.sql",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(
            &script,
            "\\set d random(100000000, 199999999)\n\\set u random(1, 1000000000)\nBEGIN;\n\
             WITH b AS (INSERT INTO bookings (facility_id, patient_id, account_id, menu_id, doctor_id, mode, visit_kind, starts_at, ends_at, status, source, booking_fee_yen, staff_memo, created_at, updated_at) \
             SELECT 1, 1, 1, 1, 1, 'online', 'return', :u, :u + 300000, 'booked', 'web', 0, '', 0, 0 RETURNING id) \
             INSERT INTO slot_claims (doctor_id, unit_start, seat, booking_id) SELECT :d, :u, 1, id FROM b ON CONFLICT DO NOTHING;\n\
             INSERT INTO outbox_messages (channel, destination, subject, body, purpose, status, created_at) VALUES ('sms', '+819000000000', '', 'x', 'bench', 'pending', 0);\n\
             INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) VALUES ('bench', '{}', 'done', 0, 1, 0, 0, 0);\n\
             INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) VALUES ('bench', '{}', 'done', 0, 1, 0, 0, 0);\n\
             COMMIT;\n",
        )?;
        let out = std::process::Command::new("pgbench")
            .args(["-n", "-c", "32", "-j", "2", "-T", &secs.to_string(), "-f"])
            .arg(&script)
            .arg(&s.url)
            .output()?;
        let _ = std::fs::remove_file(&script);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let tps = text
            .lines()
            .find(|l| l.starts_with("tps"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "pgbench gave no rate: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        return Ok(tps);
    }
    let db = tsunagu_db::Db::connect(&s.url, 1).await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut n = 0u64;
    let mut u: i64 = 5_000_000_000_000;
    while Instant::now() < deadline {
        u += 300_000;
        let mut tx = db.begin_write().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let id: i64 = tsunagu_db::sqlx::query_scalar(
            "INSERT INTO bookings (facility_id, patient_id, account_id, menu_id, doctor_id, mode, visit_kind, starts_at, ends_at, status, source, booking_fee_yen, staff_memo, created_at, updated_at) \
             VALUES (1, 1, 1, 1, 1, 'online', 'return', $1, $2, 'booked', 'web', 0, '', 0, 0) RETURNING id",
        )
        .bind(u)
        .bind(u + 300_000)
        .fetch_one(&mut *tx)
        .await?;
        tsunagu_db::sqlx::query("INSERT INTO slot_claims (doctor_id, unit_start, seat, booking_id) VALUES (999999, $1, 1, $2) ON CONFLICT DO NOTHING")
            .bind(u)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tsunagu_db::sqlx::query("INSERT INTO outbox_messages (channel, destination, subject, body, purpose, status, created_at) VALUES ('sms', '+819000000000', '', 'x', 'bench', 'pending', 0)")
            .execute(&mut *tx)
            .await?;
        for _ in 0..2 {
            tsunagu_db::sqlx::query("INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) VALUES ('bench', '{}', 'done', 0, 1, 0, 0, 0)")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn eligibility(pg: Option<&str>, count: usize) -> anyhow::Result<()> {
    use tsunagu_eligibility_domain::generate::Generator;
    use tsunagu_eligibility_domain::search::FourFactsInput;
    let e = |e: tsunagu_kernel::DomainError| anyhow::anyhow!("{e}");
    let name = format!("tsunagu_elig_{}", uuid::Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join(&name);
    let (url, engine) = match pg {
        Some(admin) => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut c)
                .await?;
            let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
            (format!("{base}/{name}"), "PostgreSQL")
        }
        None => {
            std::fs::create_dir_all(&dir)?;
            (tsunagu_config::sqlite_url(&dir.join("e.db")), "SQLite")
        }
    };
    let store = tsunagu_eligibility::EligibilityStore::open(&url, 8).await?;
    let started = Instant::now();
    let n = store
        .import(Generator::new(42).take(count))
        .await
        .map_err(e)?;
    let secs = started.elapsed().as_secs_f64();
    let size: i64 = match pg {
        Some(_) => {
            sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(store.db().pool())
                .await?
        }
        None => std::fs::read_dir(&dir)?
            .flatten()
            .filter_map(|f| f.metadata().ok())
            .map(|m| i64::try_from(m.len()).unwrap_or(0))
            .sum(),
    };
    println!(
        "{engine}: imported {n} records in {secs:.1} s ({:.0} records/s); database {:.0} MiB",
        n as f64 / secs,
        size as f64 / 1048576.0
    );
    // Queries for people who exist, spread over the population.
    let today: jiff::civil::Date = "2025-04-01".parse()?;
    let step = (count / 200).max(1);
    let queries: Vec<_> = Generator::new(42)
        .take(count)
        .step_by(step)
        .filter(|(_, q)| q.address.is_some())
        .filter_map(|(_, q)| {
            FourFactsInput {
                name: q.name.clone(),
                birth_calendar: "西暦".into(),
                birth_year: q.birth_date.year().to_string(),
                birth_month: q.birth_date.month().to_string(),
                birth_day: q.birth_date.day().to_string(),
                sex: q.sex1.code().into(),
                address: q
                    .address
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(3)
                    .collect(),
                ..FourFactsInput::default()
            }
            .validate(today)
            .ok()
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut found = 0usize;
    for q in &queries {
        let t = Instant::now();
        found += store.four_facts(q).await.map_err(e)?.len();
        hist.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(1).max(1))?;
    }
    let mut scan = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for q in queries.iter().take(3) {
        let t = Instant::now();
        store.four_facts_full_scan(q).await.map_err(e)?;
        scan.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(1).max(1))?;
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "four-facts search ({} queries, {found} hits): p50 {:.2} ms  p99 {:.2} ms",
        queries.len(),
        ms(&hist, 0.5),
        ms(&hist, 0.99)
    );
    println!(
        "full scan of the same table (3 queries): p50 {:.0} ms",
        ms(&scan, 0.5)
    );
    println!(
        "ratio indexed/full scan p50: {:.5}",
        ms(&hist, 0.5) / ms(&scan, 0.5)
    );
    store.db().close().await;
    if let Some(admin) = pg {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut c)
        .await?;
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// A staff member's session cookie (a clerk: no second factor).
async fn staff_cookie(base: &str) -> anyhow::Result<String> {
    session_cookie(
        base,
        "/staff/login",
        &[
            ("facility", "tsunagu-central"),
            ("login_id", "clerk"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(base: &str, path: &str, cookie: Option<&str>) -> anyhow::Result<Ws> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = (base.replace("http://", "ws://") + path).into_client_request()?;
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse()?);
    }
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

/// Arrivals one after another: from the patient's connect until all `staff` screens got the
/// visit's event; the sockets are kept open (they are the next phase's waiting patients).
async fn arrivals(
    base: &str,
    links: &[(i64, String)],
    staff: usize,
    heard: &mut tokio::sync::mpsc::UnboundedReceiver<(i64, Instant)>,
    kept: &mut Vec<Ws>,
) -> anyhow::Result<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for (id, path) in links {
        while heard.try_recv().is_ok() {}
        let t0 = Instant::now();
        kept.push(ws(base, &format!("{path}/ws"), None).await?);
        let mut n = 0;
        while n < staff {
            let (v, at) = tokio::time::timeout(Duration::from_secs(10), heard.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("staff sockets closed"))?;
            if v == *id {
                n += 1;
                if n == staff {
                    hist.record(at.duration_since(t0).as_micros().max(1) as u64)?;
                }
            }
        }
    }
    Ok(hist)
}

async fn visits(
    pg: Option<&str>,
    waiting: usize,
    staff: usize,
    n: usize,
    two_nodes: bool,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let s = start(pg).await?;
    // With two nodes, the staff screens are on node B and the patients arrive on node A.
    let node_b = if two_nodes {
        if pg.is_none() {
            anyhow::bail!("--two-nodes needs --postgres: nodes share one PostgreSQL");
        }
        Some(second_node(&s).await?)
    } else {
        None
    };
    let staff_base = node_b.as_ref().map_or(s.base.clone(), |(b, _)| b.clone());
    let f = s
        .state
        .facilities
        .by_slug("tsunagu-central")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let doctor = s
        .state
        .accounts
        .staff
        .list(f.id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|u| u.role == tsunagu_accounts::Role::Doctor)
        .ok_or_else(|| anyhow::anyhow!("no doctor"))?;
    let by = tsunagu_audit::By {
        actor: tsunagu_audit::Actor {
            kind: "staff",
            id: Some(doctor.id.0),
            label: "bench".into(),
        },
        facility_id: Some(f.id),
        ip: "127.0.0.1".into(),
        request_id: String::new(),
    };
    let mut links = Vec::with_capacity(waiting + 2 * n);
    for _ in 0..waiting + 2 * n {
        let input = tsunagu_visits::UrlCallInput {
            starts_at: s.state.booker.now_ms(),
            title: "bench".into(),
            doctor: doctor.id,
            send: tsunagu_visits::Send::None,
        };
        let v = s
            .state
            .visits
            .create_url_call(&by, &f, &input)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let url = s
            .state
            .visits
            .patient_url(&v)
            .ok_or_else(|| anyhow::anyhow!("no link"))?;
        let path = url[url.find("/v/").unwrap_or(0)..].to_string();
        links.push((v.id, path));
    }
    let cookie = staff_cookie(&s.base).await?;
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..staff {
        let mut sock = ws(&staff_base, "/staff/ws", Some(&cookie)).await?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = sock.next().await {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(m.to_text().unwrap_or(""))
                    && v["kind"] == "visit.changed"
                {
                    let _ = tx.send((v["data"]["id"].as_i64().unwrap_or(0), at));
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut kept = Vec::new();
    let quiet = arrivals(&s.base, &links[..n], staff, &mut heard, &mut kept).await?;
    // Fill the room: `waiting` more patients, each an open socket.
    let before = rss_kib();
    for (_, path) in &links[n..n + waiting] {
        kept.push(ws(&s.base, &format!("{path}/ws"), None).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_socket = (rss_kib().saturating_sub(before) as f64) * 1024.0 / waiting.max(1) as f64;
    let busy = arrivals(&s.base, &links[n + waiting..], staff, &mut heard, &mut kept).await?;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let db = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let nodes = if two_nodes {
        "two nodes (patients on A, staff screens on B)"
    } else {
        "one node"
    };
    println!("arrival → all {staff} staff screens, {n} arrivals each, {nodes} on {db}:");
    println!(
        "  with {} waiting:  p50 {:>7.2} ms   p99 {:>7.2} ms",
        0,
        ms(&quiet, 0.5),
        ms(&quiet, 0.99)
    );
    println!(
        "  with {waiting} waiting: p50 {:>7.2} ms   p99 {:>7.2} ms   ({:.2}× / {:.2}× the empty room)",
        ms(&busy, 0.5),
        ms(&busy, 0.99),
        ms(&busy, 0.5) / ms(&quiet, 0.5).max(0.001),
        ms(&busy, 0.99) / ms(&quiet, 0.99).max(0.001)
    );
    println!(
        "  memory per open room socket (server and client side, one process): {:.1} KiB",
        per_socket / 1024.0
    );
    drop(kept);
    if let Some((_, stop)) = node_b {
        let _ = stop.send(true);
    }
    s.shutdown().await
}
