//! Verifying a registration with the eligibility service (A4): the platform talks to it only
//! over its HTTP API, as each facility's own institution account, and asks by card numbers
//! (method 2). The service answers with 資格有効性; the answer is stored on the registration.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tsunagu_kernel::{DomainError, DomainResult};

/// A facility's institution account at the eligibility service.
#[derive(Clone)]
pub struct Link {
    /// 医療機関コード.
    pub institution: String,
    /// User id.
    pub login_id: String,
    /// Password.
    pub password: String,
}

/// What the eligibility service said, as stored on the registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// 資格有効性 code: 1 有効, 2 無効, 3 無効(新しい資格あり), 4 該当資格なし, 5 複数該当.
    pub validity: String,
    /// Its name, as the service gave it.
    pub validity_name: String,
    /// 資格確認日 (`YYYY-MM-DD`).
    pub confirmation_date: String,
    /// The institution that asked.
    pub institution: String,
}

impl Outcome {
    /// Whether the qualification was valid at the confirmation date.
    pub fn is_valid(&self) -> bool {
        self.validity == "1"
    }
}

/// The numbers to ask about.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    /// 保険者番号.
    pub insurer_number: String,
    /// 記号.
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番.
    pub branch: String,
    /// 資格確認日 (`YYYY-MM-DD`).
    pub confirmation_date: String,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

#[derive(Deserialize)]
struct Lookup {
    validity: String,
    validity_name: String,
    confirmation_date: String,
}

/// The eligibility API client; tokens are cached per facility and renewed on a 401.
#[derive(Clone)]
pub struct EligibilityClient {
    http: reqwest::Client,
    base: String,
    links: Arc<HashMap<String, Link>>,
    tokens: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for EligibilityClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EligibilityClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn unreachable(e: impl std::fmt::Display) -> DomainError {
    // Not our fault and not the user's: say the service did not answer.
    tracing::warn!(error = %e, "eligibility service call failed");
    DomainError::Conflict("error.insurance.check_unreachable")
}

impl EligibilityClient {
    /// A client for the service at `base` with each facility's (slug) account.
    pub fn new(base: &str, links: HashMap<String, Link>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_string(),
            links: Arc::new(links),
            tokens: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `facility` has an account to ask with.
    pub fn linked(&self, facility: &str) -> bool {
        !self.base.is_empty() && self.links.contains_key(facility)
    }

    async fn token(&self, facility: &str, link: &Link, renew: bool) -> DomainResult<String> {
        let mut tokens = self.tokens.lock().await;
        if !renew && let Some(t) = tokens.get(facility) {
            return Ok(t.clone());
        }
        let r = self
            .http
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({
                "institution": link.institution,
                "login_id": link.login_id,
                "password": link.password,
            }))
            .send()
            .await
            .map_err(unreachable)?;
        if !r.status().is_success() {
            return Err(unreachable(format!("login answered {}", r.status())));
        }
        let t: Token = r.json().await.map_err(unreachable)?;
        tokens.insert(facility.to_string(), t.token.clone());
        Ok(t.token)
    }

    /// Asks by card numbers (method 2) as `facility`'s account.
    pub async fn by_card(&self, facility: &str, q: &Query) -> DomainResult<Outcome> {
        let link = self
            .links
            .get(facility)
            .filter(|_| !self.base.is_empty())
            .ok_or(DomainError::Conflict("error.insurance.not_linked"))?;
        let mut renew = false;
        loop {
            let token = self.token(facility, link, renew).await?;
            let r = self
                .http
                .post(format!("{}/api/v1/qualifications/by-card", self.base))
                .bearer_auth(token)
                .json(q)
                .send()
                .await
                .map_err(unreachable)?;
            match r.status().as_u16() {
                200 => {
                    let l: Lookup = r.json().await.map_err(unreachable)?;
                    return Ok(Outcome {
                        validity: l.validity,
                        validity_name: l.validity_name,
                        confirmation_date: l.confirmation_date,
                        institution: link.institution.clone(),
                    });
                }
                401 if !renew => renew = true,
                // F8: the service refuses method 2 while it is down.
                403 => return Err(DomainError::Conflict("error.insurance.check_outage")),
                s => return Err(unreachable(format!("lookup answered {s}"))),
            }
        }
    }
}
