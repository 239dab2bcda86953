//! `TestApp`: a running platform with a controllable clock, a browser-like client per
//! realm, and helpers to read captured messages and drive the job queue.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tsunagu_config::Settings;
use tsunagu_kernel::ManualClock;
use tsunagu_notifications::Transports;
use tsunagu_server::{Application, Hooks};
use tsunagu_web::AppState;

/// A database for one test, removed afterwards.
pub struct TestDb {
    pub url: String,
    /// The eligibility service's own database (a second PostgreSQL database, or a SQLite
    /// file beside the platform's).
    pub elig_url: String,
    /// A private data directory (stored files) for this test.
    pub data_dir: std::path::PathBuf,
    sqlite_dir: Option<std::path::PathBuf>,
    pg_name: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("TSUNAGU_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                let now = jiff::Timestamp::now().as_second();
                let name = format!("tsunagu_t_{now}_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap();
                // Databases left behind by killed runs, older than two hours.
                let stale: Vec<(String,)> = sqlx::query_as(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'tsunagu_t_%'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for (d,) in stale {
                    let ts: i64 = d
                        .split('_')
                        .nth(2)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(now);
                    if now - ts > 7200 {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{d}\""
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                }
                for db in [name.clone(), format!("{name}_e")] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                let mut elig_url = url::Url::parse(&admin).unwrap();
                elig_url.set_path(&format!("/{name}_e"));
                let data_dir = std::env::temp_dir()
                    .join(format!("tsunagu-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&data_dir).unwrap();
                Self {
                    url: url.to_string(),
                    elig_url: elig_url.to_string(),
                    data_dir: data_dir.clone(),
                    sqlite_dir: Some(data_dir),
                    pg_name: Some((admin, name)),
                }
            }
            _ => {
                let dir = std::env::temp_dir()
                    .join(format!("tsunagu-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).unwrap();
                Self {
                    url: tsunagu_config::sqlite_url(&dir.join("t.db")),
                    elig_url: tsunagu_config::sqlite_url(&dir.join("eligibility.db")),
                    data_dir: dir.clone(),
                    sqlite_dir: Some(dir),
                    pg_name: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg_name.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg_name.take() {
            // Drop can't await; a small runtime on another thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut c) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                    {
                        for db in [name.clone(), format!("{name}_e")] {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    }
                });
            })
            .join();
        }
    }
}

/// A running app.
pub struct TestApp {
    pub base: String,
    /// The eligibility service started beside the platform.
    pub eligibility: String,
    pub state: AppState,
    pub clock: ManualClock,
    pub runner: tsunagu_jobs::Runner,
    stop: watch::Sender<bool>,
    handle: Option<tokio::task::JoinHandle<()>>,
    pub db: TestDb,
}

pub struct Options {
    pub demo: bool,
    pub transports: Transports,
    pub trusted_proxies: Vec<String>,
    /// An eligibility service running elsewhere: none is started beside the platform,
    /// which reaches this one over HTTP as it would the real service.
    pub eligibility_api_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            demo: true,
            transports: Transports::default(),
            trusted_proxies: Vec::new(),
            eligibility_api_url: None,
        }
    }
}

/// 2026-11-20 10:00 JST, a Friday.
pub fn start_time() -> Timestamp {
    "2026-11-20T01:00:00Z".parse().unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        let db = TestDb::new().await;
        let clock = ManualClock::new(start_time());
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: db.url.clone(),
            data_dir: db.data_dir.clone(),
            demo: opts.demo,
            eligibility: match &opts.eligibility_api_url {
                None => tsunagu_config::EligibilitySettings {
                    listen: "127.0.0.1:0".into(),
                    database_url: db.elig_url.clone(),
                    ..Default::default()
                },
                Some(url) => tsunagu_config::EligibilitySettings {
                    listen: String::new(),
                    api_url: url.clone(),
                    ..Default::default()
                },
            },
            max_connections: 8,
            trusted_proxies: opts.trusted_proxies,
            rtc: test_rtc(),
            ..Settings::default()
        };
        let app = Application::build(
            &settings,
            Hooks {
                clock: Some(Arc::new(clock.clone())),
                transports: Some(opts.transports),
                no_workers: true,
            },
        )
        .await
        .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let eligibility = app.eligibility_url().unwrap_or_default();
        let state = app.state().clone();
        let runner = app.runner().clone();
        let (stop, rx) = watch::channel(false);
        let handle = tokio::spawn(async move {
            app.run_until_stopped(rx).await.unwrap();
        });
        Self {
            base,
            eligibility,
            state,
            clock,
            runner,
            stop,
            handle: Some(handle),
            db,
        }
    }

    /// A second `serve` node on the same database and data directory (the same key), using
    /// this app's eligibility service: its base URL and its stop switch.
    pub async fn second_node(&self) -> (String, watch::Sender<bool>) {
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: self.db.url.clone(),
            data_dir: self.db.data_dir.clone(),
            demo: true,
            eligibility: tsunagu_config::EligibilitySettings {
                listen: String::new(),
                api_url: self.eligibility.clone(),
                ..Default::default()
            },
            max_connections: 4,
            rtc: test_rtc(),
            ..Settings::default()
        };
        let app = Application::build(
            &settings,
            Hooks {
                clock: Some(Arc::new(self.clock.clone())),
                transports: None,
                no_workers: true,
            },
        )
        .await
        .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, rx) = watch::channel(false);
        tokio::spawn(async move {
            app.run_until_stopped(rx).await.unwrap();
        });
        (base, stop)
    }

    pub fn advance(&self, d: SignedDuration) {
        self.clock.advance(d);
    }

    /// Runs every due job.
    pub async fn drain(&self) -> usize {
        self.runner.drain().await.unwrap()
    }

    /// A browser logged in as a demo staff member (roles without a TOTP requirement).
    /// A demo facility by its slug.
    pub async fn facility(&self, slug: &str) -> tsunagu_clinics::Facility {
        self.state.facilities.by_slug(slug).await.unwrap()
    }

    /// The id of a facility's staff member by login id.
    pub async fn staff_id(
        &self,
        facility: tsunagu_kernel::FacilityId,
        login_id: &str,
    ) -> tsunagu_kernel::StaffId {
        self.state
            .accounts
            .staff
            .find_login(facility, login_id)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// A browser with a demo staff member logged in (roles that must enrol TOTP stop at
    /// the enrolment page).
    pub async fn staff_browser(&self, facility: &str, login_id: &str) -> Browser {
        let b = self.browser();
        let p = b
            .submit(
                "/staff/login",
                "/staff/login",
                &[
                    ("facility", facility),
                    ("login_id", login_id),
                    ("password", tsunagu_server::demo::DEMO_PASSWORD),
                ],
            )
            .await;
        assert!(
            matches!(p.location.as_deref(), Some("/staff" | "/staff/totp/enrol")),
            "login as {login_id} at {facility} failed: {}",
            p.body
        );
        b
    }

    /// A browser with the demo operator signed in (TOTP enrolled on the way).
    pub async fn operator_browser(&self) -> Browser {
        let b = self.browser();
        let p = b
            .submit(
                "/ops/login",
                "/ops/login",
                &[
                    ("login_id", "ops"),
                    ("password", tsunagu_server::demo::DEMO_PASSWORD),
                ],
            )
            .await;
        assert_eq!(p.location.as_deref(), Some("/ops/totp"));
        prove_enrol_code(&b, "/ops/totp").await;
        let enrol = b.get("/ops/totp").await;
        let op = self
            .state
            .accounts
            .staff
            .find_operator("ops")
            .await
            .unwrap()
            .unwrap();
        let code = totp_now(self, op.totp_secret.as_deref().unwrap());
        let p = b.post("/ops/totp", &enrol.csrf(), &[("code", &code)]).await;
        assert_eq!(p.location.as_deref(), Some("/ops"));
        b
    }

    /// The eligibility service's access store, opened beside the running service, for
    /// setting its state (outage, periods) the way its operating body would.
    pub async fn eligibility_access(&self) -> tsunagu_eligibility::access::AccessStore {
        tsunagu_eligibility::access::AccessStore::new(
            tsunagu_eligibility::EligibilityStore::open(&self.db.elig_url, 1)
                .await
                .unwrap()
                .db()
                .clone(),
            Arc::new(self.clock.clone()),
        )
    }

    /// A cookie-keeping client, like one browser.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// A plain API client.
    pub fn api(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    /// The newest captured SMS body to a number (E.164), after running due jobs.
    pub async fn last_sms_to(&self, e164: &str) -> Option<String> {
        self.drain().await;
        self.state
            .outbox
            .recent(200)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.channel == "sms" && m.destination == e164)
            .map(|m| m.body)
    }

    pub async fn last_code_to(&self, e164: &str) -> String {
        let body = self.last_sms_to(e164).await.expect("an SMS was queued");
        extract_code(&body)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

/// The first run of 6 digits in a message.
pub fn extract_code(body: &str) -> String {
    let chars: Vec<char> = body.chars().collect();
    for w in chars.windows(6) {
        if w.iter().all(char::is_ascii_digit) {
            return w.iter().collect();
        }
    }
    panic!("no code in {body}");
}

pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The id a redirect names after `prefix` (`/staff/bookings/12?done=booked` → 12).
    pub fn id_after(&self, prefix: &str) -> i64 {
        self.location
            .as_deref()
            .and_then(|l| l.strip_prefix(prefix))
            .and_then(|l| l.split(['?', '#', '/']).next())
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no id after {prefix} in {:?}", self.location))
    }

    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("page has a csrf field") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        to_page(r).await
    }

    pub async fn get_lang(&self, path: &str, lang: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        to_page(r).await
    }

    /// GETs `form_page` for its CSRF token, then POSTs `fields` to `action`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        self.post(action, &csrf, fields).await
    }

    pub async fn post(&self, action: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
        form.extend_from_slice(fields);
        let r = self
            .http
            .post(format!("{}{action}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        to_page(r).await
    }
}

async fn to_page(r: reqwest::Response) -> Page {
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Page {
        status,
        location,
        body: r.text().await.unwrap(),
    }
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn with_token(&self, token: &str) -> Api {
        Api {
            base: self.base.clone(),
            http: self.http.clone(),
            token: Some(token.to_string()),
        }
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut b = self.http.request(m, format!("{}/api/v1{path}", self.base));
        if let Some(t) = &self.token {
            b = b.bearer_auth(t);
        }
        b
    }

    pub async fn call(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut b = self.req(m, path);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

/// Proves the demo enrolment code on a browser whose login stopped at the enrolment page
/// (`/staff/totp/enrol` or `/ops/totp`), so the page then shows the secret.
pub async fn prove_enrol_code(b: &Browser, page: &str) {
    let p = b
        .submit(
            page,
            &format!("{page}/code"),
            &[("enrol_code", tsunagu_server::demo::DEMO_ENROL_CODE)],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some(page), "{}", p.body);
}

/// Logs a demo patient in through the API.
pub async fn patient_token(app: &TestApp, phone: &str) -> String {
    let (s, v) = app
        .api()
        .post(
            "/login",
            serde_json::json!({"phone": phone, "password": tsunagu_server::demo::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

/// Logs a demo staff member in through the API, enrolling and passing TOTP as needed.
pub async fn staff_token(app: &TestApp, facility: &str, login: &str) -> String {
    let (s, v) = app
        .api()
        .post(
            "/staff/login",
            serde_json::json!({"facility": facility, "login_id": login, "password": tsunagu_server::demo::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let api = app.api().with_token(&token);
    let secret = match v["totp"].as_str().unwrap() {
        "none" => return token,
        "enrol" => {
            let (s, e) = api
                .post(
                    "/staff/totp/enrol",
                    serde_json::json!({"enrol_code": tsunagu_server::demo::DEMO_ENROL_CODE}),
                )
                .await;
            assert_eq!(s, 200, "{e}");
            e["secret"].as_str().unwrap().to_string()
        }
        _ => stored_secret(app, facility, login).await,
    };
    let code = totp_now(app, &secret);
    let (s, v) = api
        .post("/staff/totp", serde_json::json!({"code": code}))
        .await;
    assert_eq!(s, 200, "{v}");
    // Each TOTP step is accepted once: later logins in the same test need the next step.
    app.advance(SignedDuration::from_secs(30));
    v["token"].as_str().unwrap().to_string()
}

pub async fn stored_secret(app: &TestApp, facility: &str, login: &str) -> String {
    let f = app.state.facilities.by_slug(facility).await.unwrap();
    let u = app
        .state
        .accounts
        .staff
        .find_login(f.id, login)
        .await
        .unwrap()
        .unwrap();
    u.totp_secret.unwrap()
}

pub fn totp_now(app: &TestApp, secret: &str) -> String {
    let secs = u64::try_from(tsunagu_kernel::Clock::now(&app.clock).as_second()).unwrap();
    tsunagu_accounts::totp::current_code(secret, secs).unwrap()
}

/// A controllable clock for stores used without the app.
#[derive(Clone)]
pub struct TestClock(ManualClock);

impl TestClock {
    pub fn new(at: &str) -> Self {
        Self(ManualClock::new(at.parse().unwrap()))
    }
    pub fn arc(&self) -> Arc<dyn tsunagu_kernel::Clock> {
        Arc::new(self.0.clone())
    }
    pub fn advance_hours(&self, h: i64) {
        self.0.advance(SignedDuration::from_hours(h));
    }
}

/// The session cookie of a login form posted with `fields` (for sockets, which need the
/// cookie itself); the login must redirect to `expect`.
pub async fn session_cookie(
    app: &TestApp,
    login_path: &str,
    fields: &[(&str, &str)],
    expect: &str,
) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = |r: &reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    let page = http
        .get(format!("{}{login_path}", app.base))
        .send()
        .await
        .unwrap();
    let anon = first(&page);
    let csrf = Page {
        status: 200,
        location: None,
        body: page.text().await.unwrap(),
    }
    .csrf();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = http
        .post(format!("{}{login_path}", app.base))
        .header("cookie", &anon)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], expect);
    first(&r)
}

/// Each test app's SFU on a free loopback port: the in-test media clients are on loopback.
fn test_rtc() -> tsunagu_config::RtcSettings {
    tsunagu_config::RtcSettings {
        bind: "127.0.0.1:0".into(),
        public_ip: "127.0.0.1".into(),
        ..Default::default()
    }
}
