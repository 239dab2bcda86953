//! SMS through Twilio's Programmable Messaging API.
//!
//! Why Twilio: it is the most widely used SMS API, delivers to all four Japanese carriers
//! (docomo, au/KDDI, SoftBank, Rakuten) with alphanumeric or numeric senders, and its
//! Messages resource is a plain form POST that any HTTP client speaks — so a clinic can
//! also point `base_url` at a Twilio-compatible gateway. The request and response shapes
//! are Twilio's: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP
//! basic auth (SID, auth token) and form fields `To`, `From`, `Body`; success is `201`
//! with a JSON `sid`; failures carry `{"code", "message", "status"}`.

use futures::future::BoxFuture;
use serde::Deserialize;
use tsunagu_config::SmsSettings;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The provider refused this message for good (bad number, blocked): do not retry.
    Rejected(String),
    /// Network trouble, rate limit or a provider fault: retry later.
    Temporary(String),
}

/// Sends a text message; returns the provider's message id.
pub trait SmsSender: Send + Sync {
    /// Sends `body` to the E.164 number `to`.
    fn send<'a>(&'a self, to: &'a str, body: &'a str)
    -> BoxFuture<'a, Result<String, SendFailure>>;
}

/// Twilio's Messages API over HTTPS.
#[derive(Debug, Clone)]
pub struct TwilioSms {
    http: reqwest::Client,
    settings: SmsSettings,
}

#[derive(Deserialize)]
struct TwilioMessage {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioSms {
    /// A client for the configured account.
    pub fn new(settings: SmsSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        Ok(Self { http, settings })
    }

    async fn send_impl(&self, to: &str, body: &str) -> Result<String, SendFailure> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.account_sid
        );
        let resp = self
            .http
            .post(url)
            .basic_auth(
                &self.settings.account_sid,
                Some(self.settings.auth_token.expose()),
            )
            .form(&[
                ("To", to),
                ("From", self.settings.from.as_str()),
                ("Body", body),
            ])
            .send()
            .await
            .map_err(|e| SendFailure::Temporary(format!("SMS provider unreachable: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            let msg: TwilioMessage = resp.json().await.map_err(|e| {
                SendFailure::Temporary(format!("unreadable SMS provider reply: {e}"))
            })?;
            return Ok(msg.sid);
        }
        let err: Option<TwilioError> = resp.json().await.ok();
        let detail = match err {
            Some(e) => format!(
                "HTTP {} code {}: {}",
                status.as_u16(),
                e.code.unwrap_or_default(),
                e.message.unwrap_or_default()
            ),
            None => format!("HTTP {}", status.as_u16()),
        };
        // 429 and 5xx are worth retrying; any other 4xx will fail the same way again.
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendFailure::Temporary(detail))
        } else {
            Err(SendFailure::Rejected(detail))
        }
    }
}

impl SmsSender for TwilioSms {
    fn send<'a>(
        &'a self,
        to: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<String, SendFailure>> {
        Box::pin(self.send_impl(to, body))
    }
}
