//! Settings for `tsunagu serve` and friends.
//!
//! Layers, later wins: the defaults in code → the TOML file given with `--config` (or
//! `tsunagu.toml` in the working directory if present) → `TSUNAGU_*` environment variables
//! (`__` nests: `TSUNAGU_SMTP__HOST`) → command-line flags. Unknown keys are an error so
//! a typo fails at start-up instead of being silently ignored. Secrets are [`Secret`]s,
//! whose `Debug` never prints the value.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A value that must not appear in logs or debug output.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// The secret value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Top-level setting names, for picking `TSUNAGU_*` variables out of the environment.
const SETTING_KEYS: [&str; 16] = [
    "listen",
    "rtc",
    "metrics_token",
    "trusted_proxies",
    "secret_key",
    "data_dir",
    "database_url",
    "public_url",
    "max_connections",
    "demo",
    "secure_cookies",
    "log_json",
    "smtp",
    "sms",
    "jobs",
    "eligibility",
];

/// Everything `tsunagu serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the platform listens on.
    pub listen: String,
    /// Directory for the SQLite databases and stored files when no URL is given.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for SQLite under `data_dir`.
    pub database_url: String,
    /// The URL patients and staff reach the platform at, used in links sent by SMS and email.
    /// Empty: `http://{listen}`.
    pub public_url: String,
    /// Largest number of pooled database connections.
    pub max_connections: u32,
    /// Load demo data at start-up when the database is empty.
    pub demo: bool,
    /// Mark session cookies `Secure`; on by default when `public_url` is https.
    pub secure_cookies: Option<bool>,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Outgoing email through SMTP; absent: messages are captured for `/dev/outbox`.
    pub smtp: Option<SmtpSettings>,
    /// Outgoing SMS through Twilio's Messages API; absent: captured for `/dev/outbox`.
    pub sms: Option<SmsSettings>,
    /// Job workers.
    pub jobs: JobSettings,
    /// The eligibility service (オンライン資格確認) run beside the platform.
    pub eligibility: EligibilitySettings,
    /// Key (base64url, 32 bytes) sealing secrets kept for clinics, such as their eligibility
    /// passwords; absent: `secret.key` in the data directory, created on first start.
    /// `tsunagu admin new-key` prints one.
    pub secret_key: Option<Secret>,
    /// Reverse proxies (addresses or networks such as `10.0.0.0/8`) whose
    /// `X-Forwarded-For` gives the client's address; empty: the socket's peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Bearer token that `/metrics` requires (for the Prometheus scraper); absent:
    /// `/metrics` answers only to clients on this machine.
    pub metrics_token: Option<Secret>,
    /// The embedded SFU (video visits' media).
    pub rtc: RtcSettings,
}

/// The embedded SFU: one UDP port for every call on this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtcSettings {
    /// The UDP address media arrives at (open it in the firewall); port 0 picks a free port.
    pub bind: String,
    /// The address browsers are told to send media to: the public IP when tsunagu runs
    /// behind NAT; empty: this host's address toward the outside.
    pub public_ip: String,
    /// Also accept ICE over TCP on the same port number (for networks that block UDP but
    /// allow TCP out; TURN over TLS on 443 covers stricter ones).
    pub ice_tcp: bool,
    /// TURN URLs for browsers whose network blocks UDP to the SFU (coturn beside tsunagu),
    /// e.g. `["turn:turn.example.jp:3478", "turns:turn.example.jp:443?transport=tcp"]`.
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret` (`use-auth-secret`); required with `turn_urls`.
    pub turn_secret: Option<Secret>,
    /// How long a TURN credential works, seconds (it must outlast a call).
    pub turn_ttl_secs: u64,
}

impl Default for RtcSettings {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0:50000".into(),
            public_ip: String::new(),
            ice_tcp: true,
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: 12 * 3600,
        }
    }
}

/// Where the eligibility service runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EligibilitySettings {
    /// Address of the in-process eligibility service; empty: do not start it.
    pub listen: String,
    /// Its own database; empty: `eligibility.db` in the data directory.
    pub database_url: String,
    /// Where the platform reaches the eligibility API; empty: the in-process service.
    pub api_url: String,
    /// Each facility's account at the eligibility service, used to verify insurance (A4).
    pub links: Vec<EligibilityLink>,
}

/// A facility's institution account at the eligibility service.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EligibilityLink {
    /// The facility's slug on the platform.
    pub facility: String,
    /// 医療機関コード.
    pub institution: String,
    /// The account's user id.
    pub login_id: String,
    /// Its password.
    pub password: String,
}

// The password must never reach a log through `{:?}`.
impl std::fmt::Debug for EligibilityLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EligibilityLink")
            .field("facility", &self.facility)
            .field("institution", &self.institution)
            .field("login_id", &self.login_id)
            .finish_non_exhaustive()
    }
}

impl Default for EligibilitySettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".into(),
            database_url: String::new(),
            api_url: String::new(),
            links: Vec::new(),
        }
    }
}

impl Settings {
    /// The sealing key: the configured one, else `secret.key` in the data directory,
    /// created (readable by this user only) on first start.
    pub fn sealing_key(&self) -> anyhow::Result<String> {
        if let Some(k) = &self.secret_key {
            return Ok(k.expose().to_string());
        }
        let path = self.data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(k) => Ok(k.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.data_dir)?;
                let key = tsunagu_kernel::seal::new_key();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                match opts.open(&path) {
                    Ok(mut f) => {
                        std::io::Write::write_all(&mut f, key.as_bytes())?;
                        Ok(key)
                    }
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Ok(std::fs::read_to_string(&path)?.trim().to_string())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            public_url: String::new(),
            max_connections: 16,
            demo: true,
            secure_cookies: None,
            log_json: false,
            smtp: None,
            sms: None,
            jobs: JobSettings::default(),
            eligibility: EligibilitySettings::default(),
            secret_key: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            rtc: RtcSettings::default(),
        }
    }
}

/// SMTP relay for email.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Relay host name.
    pub host: String,
    /// Relay port (587 submission with STARTTLS, 465 implicit TLS, 25 or a test port plain).
    pub port: u16,
    /// `starttls`, `tls` or `none` (only for a relay on this machine or in tests).
    #[serde(default = "default_tls")]
    pub tls: String,
    /// Login user, if the relay requires authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Login password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The From address, e.g. `tsunagu <no-reply@clinic.example>`.
    pub from: String,
}

fn default_tls() -> String {
    "starttls".into()
}

/// Twilio Messages API credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// API base URL; Twilio's is `https://api.twilio.com`. Tests point it at a local server.
    #[serde(default = "default_twilio")]
    pub base_url: String,
    /// Account SID (`AC…`).
    pub account_sid: String,
    /// Auth token.
    pub auth_token: Secret,
    /// Sender: a Twilio number in E.164, or an alphanumeric sender ID (≤ 11 characters).
    pub from: String,
}

fn default_twilio() -> String {
    "https://api.twilio.com".into()
}

/// Background job workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Number of workers claiming jobs in this process.
    pub workers: usize,
    /// How often an idle worker looks for due jobs, in milliseconds.
    pub poll_ms: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            poll_ms: 500,
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (or `./tsunagu.toml` if it exists), then `TSUNAGU_*`.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    anyhow::bail!("config file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file(path));
            }
            None => {
                let default = Path::new("tsunagu.toml");
                if default.exists() {
                    fig = fig.merge(Toml::file(default));
                }
            }
        }
        // Only variables naming a setting: others with the prefix (TSUNAGU_LOG,
        // TSUNAGU_CONFIG, TSUNAGU_TEST_DATABASE_URL…) belong to other readers.
        let env = Env::prefixed("TSUNAGU_")
            .filter(|key| {
                let top = key.as_str().split("__").next().unwrap_or("");
                SETTING_KEYS.iter().any(|k| top.eq_ignore_ascii_case(k))
            })
            .split("__");
        fig = fig.merge(env);
        Ok(fig.extract()?)
    }

    /// The database URL in effect: the configured one, or a SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            sqlite_url(&self.data_dir.join("tsunagu.db"))
        } else {
            self.database_url.clone()
        }
    }

    /// The eligibility database URL in effect.
    pub fn effective_eligibility_url(&self) -> String {
        if self.eligibility.database_url.is_empty() {
            sqlite_url(&self.data_dir.join("eligibility.db"))
        } else {
            self.eligibility.database_url.clone()
        }
    }

    /// The public base URL (no trailing slash).
    pub fn effective_public_url(&self, bound: &str) -> String {
        if self.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Whether cookies carry `Secure`.
    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies
            .unwrap_or_else(|| self.public_url.starts_with("https://"))
    }
}

/// A SQLite URL that creates the file if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = SmsSettings {
            base_url: "x".into(),
            account_sid: "AC1".into(),
            auth_token: Secret("hunter2".into()),
            from: "+815000000000".into(),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_keys_fail() {
        let fig = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("listne = \"x\""));
        assert!(fig.extract::<Settings>().is_err());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns its own error type
    fn environment_overrides_and_foreign_variables_are_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TSUNAGU_LISTEN", "0.0.0.0:9999");
            jail.set_env("TSUNAGU_JOBS__WORKERS", "7");
            jail.set_env("TSUNAGU_LOG", "debug");
            jail.set_env("TSUNAGU_BIN", "/x");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.listen, "0.0.0.0:9999");
            assert_eq!(s.jobs.workers, 7);
            Ok(())
        });
    }

    #[test]
    fn nested_file_values_apply() {
        let fig = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            "listen = \"0.0.0.0:9000\"\n[smtp]\nhost = \"mail\"\nport = 25\ntls = \"none\"\nfrom = \"a@b.jp\"\n",
        ));
        let s: Settings = fig.extract().unwrap();
        assert_eq!(s.listen, "0.0.0.0:9000");
        assert_eq!(s.smtp.unwrap().port, 25);
    }
}
