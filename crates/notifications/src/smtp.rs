//! Email through an SMTP relay (lettre).

use futures::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tsunagu_config::SmtpSettings;

use crate::sms::SendFailure;

/// Sends an email; returns the relay's reply as a reference.
pub trait EmailSender: Send + Sync {
    /// Sends a plain-text UTF-8 message.
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<String, SendFailure>>;
}

/// An SMTP relay.
#[derive(Clone)]
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("from", &self.from)
            .finish()
    }
}

impl SmtpEmail {
    /// Builds the transport from settings (no connection is made yet).
    pub fn new(s: &SmtpSettings) -> anyhow::Result<Self> {
        let builder = match s.tls.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
            other => anyhow::bail!("smtp.tls must be starttls, tls or none, not {other}"),
        };
        let mut builder = builder
            .port(s.port)
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let (Some(user), Some(pass)) = (&s.username, &s.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(Self {
            transport: builder.build(),
            from: s.from.parse()?,
        })
    }

    async fn send_impl(&self, to: &str, subject: &str, body: &str) -> Result<String, SendFailure> {
        let to = to
            .parse()
            .map_err(|e| SendFailure::Rejected(format!("bad recipient address: {e}")))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| SendFailure::Rejected(format!("cannot build message: {e}")))?;
        match self.transport.send(msg).await {
            Ok(resp) => Ok(resp.message().collect::<Vec<_>>().join(" ")),
            Err(e) if e.is_permanent() => Err(SendFailure::Rejected(e.to_string())),
            Err(e) => Err(SendFailure::Temporary(e.to_string())),
        }
    }
}

impl EmailSender for SmtpEmail {
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<String, SendFailure>> {
        Box::pin(self.send_impl(to, subject, body))
    }
}
