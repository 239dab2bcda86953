//! Verifying a registration with the eligibility service (A4): the platform talks to it only
//! over its HTTP API, as each facility's own institution account. Normally it asks by card
//! numbers (method 2). While the service is down it records the visit there, and after
//! recovery confirms that visit by the four facts noted (method 3). The service answers with
//! 資格有効性; the answer is stored on the registration and the booking.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tsunagu_kernel::{DomainError, DomainResult, FieldError};

use crate::outage::FourFacts;

/// A facility's institution account at the eligibility service.
#[derive(Clone, PartialEq, Eq)]
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
    /// Whose qualification it is, as the service holds it (one matching record): shown
    /// beside the patient's own details so that staff see whose card was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// Where the holder differs from the patient the booking is for (`name`, `kana`,
    /// `birth_date`, `sex`), judged when the answer was kept. Not empty: the card may be
    /// someone else's (a child registered with a parent's numbers).
    #[serde(default)]
    pub differences: Vec<String>,
}

/// The person a qualification belongs to, as the eligibility service answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// 氏名.
    pub name: String,
    /// 氏名（カナ）, as the service writes it (half-width katakana).
    pub kana: String,
    /// 生年月日 `YYYY-MM-DD`.
    pub birth_date: String,
    /// 性別 code: 1 男, 2 女, 3 未設定.
    pub sex: String,
    /// Which qualification it is: 保険者番号, 保険者名, 記号, 番号, 枝番 (so that a check by
    /// four facts records which candidate was confirmed, not only 「有効」). Empty in
    /// answers kept before these were recorded.
    #[serde(default)]
    pub card: CardIdentity,
}

/// The numbers that name one qualification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardIdentity {
    /// 保険者番号.
    #[serde(default)]
    pub insurer_number: String,
    /// 保険者名.
    #[serde(default)]
    pub insurer_name: String,
    /// 記号.
    #[serde(default)]
    pub symbol: String,
    /// 番号.
    #[serde(default)]
    pub number: String,
    /// 枝番.
    #[serde(default)]
    pub branch: String,
}

impl CardIdentity {
    /// 「保険者名（保険者番号） 記号・番号（枝番）」, as staff read a card; empty when unknown.
    pub fn display(&self) -> String {
        if self.insurer_number.is_empty() && self.number.is_empty() {
            return String::new();
        }
        let mut s = format!("{}（{}）", self.insurer_name, self.insurer_number);
        let numbers: Vec<&str> = [self.symbol.as_str(), self.number.as_str()]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect();
        if !numbers.is_empty() {
            s.push(' ');
            s.push_str(&numbers.join("・"));
        }
        if !self.branch.is_empty() {
            s.push_str(&format!("（{}）", self.branch));
        }
        s
    }
}

impl Holder {
    /// The fields in which the holder is not `patient` (names compared without spaces and
    /// width, kana also across hiragana/katakana; a detail the patient did not give is not
    /// a difference).
    pub fn differences_from(
        &self,
        name: &str,
        kana: &str,
        birth_date: Option<jiff::civil::Date>,
        sex: Option<tsunagu_kernel::Sex>,
    ) -> Vec<String> {
        use tsunagu_calendar::kana::{normalize_kana, normalize_name};
        let mut out = Vec::new();
        if normalize_name(&self.name) != normalize_name(name) {
            out.push("name".to_string());
        }
        if !kana.trim().is_empty() && normalize_kana(&self.kana) != normalize_kana(kana) {
            out.push("kana".to_string());
        }
        if birth_date.is_some_and(|d| d.to_string() != self.birth_date) {
            out.push("birth_date".to_string());
        }
        if sex.is_some_and(|s| s.code().to_string() != self.sex) {
            out.push("sex".to_string());
        }
        out
    }
}

// The password must never reach a log through `{:?}`.
impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("institution", &self.institution)
            .field("login_id", &self.login_id)
            .finish_non_exhaustive()
    }
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
    #[serde(default)]
    records: Vec<serde_json::Value>,
}

/// The holder of the one record an answer carries (none when it carries none or several).
fn holder_of(records: &[serde_json::Value]) -> Option<Holder> {
    let [r] = records else { return None };
    let text = |k: &str| match &r[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    Some(Holder {
        name: text("name"),
        kana: text("name_kana"),
        birth_date: text("birth_date"),
        sex: text("sex1"),
        card: CardIdentity {
            insurer_number: text("insurer_number"),
            insurer_name: text("insurer_name"),
            symbol: text("symbol"),
            number: text("number"),
            branch: text("branch"),
        },
    })
}

/// The eligibility API client; tokens are cached per account and renewed on a 401.
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

    /// The account the configuration (or the demo) gives `facility` (its slug); a link the
    /// facility's admin stored takes precedence (see [`crate::links`]).
    pub fn configured(&self, facility: &str) -> Option<Link> {
        self.links.get(facility).cloned()
    }

    async fn token(&self, link: &Link, renew: bool) -> DomainResult<String> {
        // One token per account: a changed link (another account) logs in afresh.
        let key = format!("{}/{}", link.institution, link.login_id);
        let mut tokens = self.tokens.lock().await;
        if !renew && let Some(t) = tokens.get(&key) {
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
        if r.status().as_u16() == 401 {
            return Err(DomainError::Conflict("error.insurance.link_login_failed"));
        }
        if !r.status().is_success() {
            return Err(unreachable(format!("login answered {}", r.status())));
        }
        let t: Token = r.json().await.map_err(unreachable)?;
        tokens.insert(key, t.token.clone());
        Ok(t.token)
    }

    /// Calls `path` as `link`'s account: logs in when needed and once more on a 401.
    /// Answers the status and the body; refusals are the caller's to interpret.
    async fn call<B: Serialize>(
        &self,
        link: &Link,
        path: &str,
        body: &B,
    ) -> DomainResult<(u16, serde_json::Value)> {
        if self.base.is_empty() {
            return Err(DomainError::Conflict("error.insurance.not_linked"));
        }
        let mut renew = false;
        loop {
            let token = self.token(link, renew).await?;
            let r = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .map_err(unreachable)?;
            let status = r.status().as_u16();
            if status == 401 && !renew {
                renew = true;
                continue;
            }
            let v = r.json().await.unwrap_or(serde_json::Value::Null);
            return Ok((status, v));
        }
    }

    fn outcome(link: &Link, v: serde_json::Value) -> DomainResult<Outcome> {
        let l: Lookup = serde_json::from_value(v).map_err(unreachable)?;
        Ok(Outcome {
            holder: holder_of(&l.records),
            validity: l.validity,
            validity_name: l.validity_name,
            confirmation_date: l.confirmation_date,
            institution: link.institution.clone(),
            differences: Vec::new(),
        })
    }

    /// Logs in as `link` and reads the institution's state: proves a link before it is
    /// stored. Answers the mode (`normal`, `outage`, `recovered`).
    pub async fn verify(&self, link: &Link) -> DomainResult<String> {
        if self.base.is_empty() {
            return Err(DomainError::Conflict("error.insurance.not_linked"));
        }
        let token = self.token(link, true).await?;
        let r = self
            .http
            .get(format!("{}/api/v1/status", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(unreachable)?;
        if !r.status().is_success() {
            return Err(unreachable(format!("status answered {}", r.status())));
        }
        let v: serde_json::Value = r.json().await.map_err(unreachable)?;
        Ok(v["mode"].as_str().unwrap_or_default().to_string())
    }

    /// Asks by card numbers (method 2) as `link`'s account.
    pub async fn by_card(&self, link: &Link, q: &Query) -> DomainResult<Outcome> {
        match self.call(link, "/api/v1/qualifications/by-card", q).await? {
            (200, v) => Self::outcome(link, v),
            (403, v) => Err(refusal(&v)),
            (s, _) => Err(unreachable(format!("lookup answered {s}"))),
        }
    }

    /// Asks by My Number card (method 1): `card` is the identity the clinic's reader
    /// returned after the patient's PIN or face check.
    pub async fn by_my_number_card(
        &self,
        link: &Link,
        card: &str,
        on: jiff::civil::Date,
    ) -> DomainResult<Outcome> {
        let body = serde_json::json!({ "card": card, "confirmation_date": on.to_string() });
        match self
            .call(link, "/api/v1/qualifications/by-my-number-card", &body)
            .await?
        {
            (200, v) => Self::outcome(link, v),
            (422, v) => Err(field_errors(&v)),
            (403, v) => Err(refusal(&v)),
            (s, _) => Err(unreachable(format!("lookup answered {s}"))),
        }
    }

    /// Records a visit while the service is down (only then); answers the service's id of
    /// the visit, which the four-facts search after recovery needs. `label` names the visit
    /// for the institution (no personal data).
    pub async fn record_outage_visit(
        &self,
        link: &Link,
        label: &str,
        name: &str,
    ) -> DomainResult<i64> {
        #[derive(Deserialize)]
        struct Visit {
            id: i64,
        }
        match self
            .call(
                link,
                "/api/v1/outage-visits",
                &serde_json::json!({ "label": label, "name": name }),
            )
            .await?
        {
            (201, v) => Ok(serde_json::from_value::<Visit>(v).map_err(unreachable)?.id),
            (403 | 409, v) => Err(refusal(&v)),
            (s, _) => Err(unreachable(format!("outage visit answered {s}"))),
        }
    }

    /// Searches by four facts for an outage-time visit (method 3), judged at `on`.
    pub async fn four_facts(
        &self,
        link: &Link,
        visit: i64,
        facts: &FourFacts,
        on: jiff::civil::Date,
    ) -> DomainResult<FourFactsAnswer> {
        let body = serde_json::json!({
            "outage_visit": visit,
            "name": facts.name,
            "kana": facts.kana,
            "birth_date": facts.birth_date.to_string(),
            "sex": facts.sex.code().to_string(),
            "address": facts.address,
            "insurer_name": facts.insurer_name,
            "confirmation_date": on.to_string(),
        });
        #[derive(Deserialize)]
        struct Answer {
            outcome: String,
            count: usize,
            #[serde(default)]
            candidates: Vec<Candidate>,
            result: Option<serde_json::Value>,
        }
        match self
            .call(link, "/api/v1/qualifications/by-four-facts", &body)
            .await?
        {
            (200, v) => {
                let a: Answer = serde_json::from_value(v).map_err(unreachable)?;
                match (a.outcome.as_str(), a.result) {
                    ("single", Some(r)) => Ok(FourFactsAnswer::Confirmed(Self::outcome(link, r)?)),
                    ("list", _) => Ok(FourFactsAnswer::Candidates(a.candidates)),
                    ("too_many", _) => Ok(FourFactsAnswer::TooMany(a.count)),
                    _ => Ok(FourFactsAnswer::NotFound),
                }
            }
            (422, v) => Err(field_errors(&v)),
            (403 | 409, v) => Err(refusal(&v)),
            (s, _) => Err(unreachable(format!("four-facts search answered {s}"))),
        }
    }

    /// Opens the candidate `id` of a four-facts list, judged at `on`.
    pub async fn four_facts_pick(
        &self,
        link: &Link,
        visit: i64,
        id: i64,
        on: jiff::civil::Date,
    ) -> DomainResult<Outcome> {
        let body =
            serde_json::json!({ "outage_visit": visit, "confirmation_date": on.to_string() });
        match self
            .call(
                link,
                &format!("/api/v1/qualifications/by-four-facts/{id}"),
                &body,
            )
            .await?
        {
            (200, v) => Self::outcome(link, v),
            (404, _) => Err(DomainError::NotFound),
            (403 | 409, v) => Err(refusal(&v)),
            (s, _) => Err(unreachable(format!("four-facts view answered {s}"))),
        }
    }
}

/// A candidate of a 2–5 hit list (F4), as the service lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// The service's id, to pick it with.
    pub id: i64,
    /// 氏名, 生年月日 (和暦), 性別, 住所 (first 10 characters), 保険者名.
    pub row: CandidateRow,
}

/// The list row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CandidateRow {
    /// 氏名.
    pub name: String,
    /// 生年月日 (和暦).
    pub birth_date: String,
    /// 性別.
    pub sex: String,
    /// 住所 (first 10 characters).
    pub address: String,
    /// 保険者名.
    pub insurer_name: String,
}

/// What a four-facts search found.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // One answer per request, moved once: boxing buys nothing.
pub enum FourFactsAnswer {
    /// One hit: its validity at the date.
    Confirmed(Outcome),
    /// 2–5 hits to pick from.
    Candidates(Vec<Candidate>),
    /// More than five: narrow the facts.
    TooMany(usize),
    /// No hit.
    NotFound,
}

/// The service's refusal, as the platform's message: its reason says which rule applied.
fn refusal(v: &serde_json::Value) -> DomainError {
    let reason = v
        .pointer("/error/reason")
        .and_then(|r| r.as_str())
        .unwrap_or_default();
    DomainError::Conflict(match reason {
        "error.eligibility.outage" => "error.insurance.check_outage",
        "error.eligibility.not_in_outage" => "error.insurance.not_in_outage",
        "error.eligibility.general_account" => "error.insurance.four_facts_account",
        "error.eligibility.closed" => "error.insurance.four_facts_closed",
        "error.eligibility.four_facts_closed" => "error.insurance.four_facts_closed",
        "error.eligibility.unknown_visit" => "error.insurance.four_facts_unknown_visit",
        _ => "error.insurance.check_refused",
    })
}

/// The service's field errors (its own Japanese sentences) on the platform's form.
fn field_errors(v: &serde_json::Value) -> DomainError {
    let fields = v
        .pointer("/error/fields")
        .and_then(|f| f.as_array())
        .cloned()
        .unwrap_or_default();
    let errs: Vec<FieldError> = fields
        .iter()
        .map(|f| {
            let field = match f.get("field").and_then(|x| x.as_str()).unwrap_or("name") {
                "card" => "card",
                "birth_date" => "birth_date",
                "sex" => "sex",
                "address" => "address",
                "insurer_name" => "insurer_name",
                "kana" => "kana",
                _ => "name",
            };
            FieldError::new(field, "error.insurance.four_facts_field").arg(
                "message",
                f.get("message")
                    .and_then(|x| x.as_str())
                    .unwrap_or_default(),
            )
        })
        .collect();
    if errs.is_empty() {
        DomainError::Conflict("error.insurance.check_refused")
    } else {
        DomainError::Invalid(errs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn holder() -> Holder {
        Holder {
            name: "新橋 太郎".into(),
            kana: "ｼﾝﾊﾞｼ ﾀﾛｳ".into(),
            birth_date: "1980-05-01".into(),
            sex: "1".into(),
            card: CardIdentity::default(),
        }
    }

    #[test]
    fn the_same_person_written_differently_is_no_difference() {
        let d = holder().differences_from(
            "新橋　太郎",
            "しんばし たろう",
            "1980-05-01".parse().ok(),
            Some(tsunagu_kernel::Sex::Male),
        );
        assert!(d.is_empty(), "{d:?}");
        // What the patient did not give is not a difference.
        assert!(
            holder()
                .differences_from("新橋太郎", "", None, None)
                .is_empty()
        );
    }

    #[test]
    fn a_child_with_a_parents_card_differs_in_name_birth_and_sex() {
        let d = holder().differences_from(
            "新橋 花子",
            "シンバシ ハナコ",
            "2018-02-03".parse().ok(),
            Some(tsunagu_kernel::Sex::Female),
        );
        assert_eq!(d, ["name", "kana", "birth_date", "sex"]);
    }

    #[test]
    fn the_holder_is_read_from_a_single_record_only() {
        let r = serde_json::json!({"name": "新橋 太郎", "name_kana": "ｼﾝﾊﾞｼ ﾀﾛｳ",
            "birth_date": "1980-05-01", "sex1": "1"});
        assert_eq!(holder_of(std::slice::from_ref(&r)), Some(holder()));
        assert_eq!(holder_of(&[r.clone(), r]), None);
        assert_eq!(holder_of(&[]), None);
    }

    #[test]
    fn a_card_reads_as_staff_read_it() {
        let c = CardIdentity {
            insurer_number: "06139000".into(),
            insurer_name: "東京都済生会健保".into(),
            symbol: "9000".into(),
            number: "10001".into(),
            branch: "01".into(),
        };
        assert_eq!(
            c.display(),
            "東京都済生会健保（06139000） 9000・10001（01）"
        );
        assert_eq!(CardIdentity::default().display(), "");
        let old: Holder =
            serde_json::from_str(r#"{"name":"a","kana":"b","birth_date":"1980-05-01","sex":"1"}"#)
                .unwrap();
        assert_eq!(
            old.card,
            CardIdentity::default(),
            "answers kept before still read"
        );
    }
}
