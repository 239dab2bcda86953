//! The job queue (durability, backoff, final failure) and the outbox's real transports:
//! Twilio's API shape on a local HTTP server, SMTP on a real SMTP server.

use std::sync::{Arc, Mutex};

use jiff::SignedDuration;
use serde_json::json;
use tsunagu_config::{Secret, SmsSettings, SmtpSettings};
use tsunagu_jobs::{JobStatus, NewJob};
use tsunagu_notifications::{Channel, OutgoingMessage, SmtpEmail, Transports, TwilioSms};

use crate::helpers::*;

fn sms(to: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        channel: Channel::Sms,
        destination: to.into(),
        subject: String::new(),
        body: body.into(),
        secret: None,
        purpose: "test",
        facility_id: None,
        account_id: None,
    }
}

#[tokio::test]
async fn a_claimed_job_survives_a_crash_and_backs_off_then_fails_visibly() {
    let app = TestApp::spawn().await;
    let q = &app.state.jobs;
    let f = app.facility("tsunagu-central").await;
    let id = q
        .enqueue(NewJob {
            kind: "test.unknown",
            payload: "{}".into(),
            run_at: None,
            max_attempts: 3,
            facility_id: Some(f.id),
        })
        .await
        .unwrap();
    // A worker claims it and dies: nobody else gets it while the lease holds…
    let claimed = q.claim(60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    assert!(q.claim(60_000).await.unwrap().is_none());
    // …and after the lease runs out (a restart), it is claimed again.
    app.advance(SignedDuration::from_secs(61));
    let again = q.claim(60_000).await.unwrap().unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
    // A failure requeues with backoff (≥ 12 s for the 2nd attempt's 30 s ± 20 %).
    assert_eq!(
        q.fail(&again, "boom", false).await.unwrap(),
        JobStatus::Queued
    );
    assert!(q.claim(60_000).await.unwrap().is_none(), "not due yet");
    app.advance(SignedDuration::from_mins(2));
    let third = q.claim(60_000).await.unwrap().unwrap();
    assert_eq!(
        q.fail(&third, "boom again", false).await.unwrap(),
        JobStatus::Failed
    );
    // Visible to that facility's staff, with the error, and retryable.
    let failed = q.failed(Some(f.id)).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("boom again"));
    let token = staff_token(&app, "tsunagu-central", "clerk").await;
    let (_, v) = app.api().with_token(&token).get("/staff/jobs/failed").await;
    assert_eq!(v[0]["id"], id.0);
    q.retry(id, Some(f.id)).await.unwrap();
    assert_eq!(q.get(id).await.unwrap().status, JobStatus::Queued);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_workers_never_run_a_job_twice() {
    let app = TestApp::spawn().await;
    for _ in 0..30 {
        app.state
            .jobs
            .enqueue(NewJob {
                kind: "test.x",
                payload: "{}".into(),
                run_at: None,
                max_attempts: 1,
                facility_id: None,
            })
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let q = app.state.jobs.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = q.claim(60_000).await.unwrap() {
                got.push(j.id.0);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 30);
    assert_eq!(n, 30, "each job claimed exactly once");
    app.stop().await;
}

/// A local server speaking Twilio's Messages API: 201 with a sid for good numbers,
/// Twilio's 400 error for +819000000000, 500 for +819011111111.
async fn fake_twilio(seen: Arc<Mutex<Vec<(String, String, String)>>>) -> String {
    use axum::extract::{Form, Path};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use std::collections::HashMap;
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        post(move |Path(sid): Path<String>, headers: HeaderMap, Form(f): Form<HashMap<String, String>>| {
            let seen = seen.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                // Basic base64("AC123:token-abc")
                if sid != "AC123" || auth != "Basic QUMxMjM6dG9rZW4tYWJj" {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})));
                }
                let to = f.get("To").cloned().unwrap_or_default();
                seen.lock().unwrap().push((to.clone(), f.get("From").cloned().unwrap_or_default(), f.get("Body").cloned().unwrap_or_default()));
                match to.as_str() {
                    "+819000000000" => (StatusCode::BAD_REQUEST, axum::Json(json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}))),
                    "+819011111111" => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"code": 20500, "message": "Internal Server Error", "status": 500}))),
                    _ => (StatusCode::CREATED, axum::Json(json!({"sid": "SM0123456789abcdef", "status": "queued", "to": to}))),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn sms_goes_through_the_twilio_api_and_failures_are_kept() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let base = fake_twilio(seen.clone()).await;
    let twilio = TwilioSms::new(SmsSettings {
        base_url: base,
        account_sid: "AC123".into(),
        auth_token: Secret("token-abc".into()),
        from: "TSUNAGU".into(),
    })
    .unwrap();
    let app = TestApp::spawn_with(Options {
        demo: true,
        transports: Transports {
            sms: Some(Arc::new(twilio)),
            email: None,
        },
        ..Options::default()
    })
    .await;
    let ok = app
        .state
        .outbox
        .enqueue(sms("+819012345678", "認証コード: 123456"))
        .await
        .unwrap();
    let bad = app
        .state
        .outbox
        .enqueue(sms("+819000000000", "x"))
        .await
        .unwrap();
    let flaky = app
        .state
        .outbox
        .enqueue(sms("+819011111111", "y"))
        .await
        .unwrap();
    app.drain().await;
    let row = app.state.outbox.get(ok).await.unwrap();
    assert_eq!(row.status, "sent");
    assert_eq!(row.provider_ref.as_deref(), Some("SM0123456789abcdef"));
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            "+819012345678".into(),
            "TSUNAGU".into(),
            "認証コード: 123456".into()
        )
    );
    // A rejected number fails at once, for good, with the provider's message.
    let row = app.state.outbox.get(bad).await.unwrap();
    assert_eq!(row.status, "failed");
    assert!(row.last_error.unwrap().contains("21211"));
    // A provider fault is retried with backoff, then fails visibly after the last attempt.
    assert_eq!(app.state.outbox.get(flaky).await.unwrap().status, "pending");
    for _ in 0..10 {
        app.advance(SignedDuration::from_hours(2));
        app.drain().await;
    }
    let row = app.state.outbox.get(flaky).await.unwrap();
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempts, 8);
    let failed = app.state.jobs.failed(None).await.unwrap();
    assert_eq!(failed.len(), 2);
    // The sign-up flow uses the same path: a code really goes out.
    app.api()
        .post("/signup/code", json!({"phone": "070-1111-2222"}))
        .await;
    app.drain().await;
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|(to, _, body)| to == "+817011112222" && body.contains("認証コード"))
    );
    // What went out had the code; what stays has only its place, and the sealed code is
    // erased once delivered.
    let sent = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(to, _, _)| to == "+817011112222")
        .map(|(_, _, body)| body.clone())
        .unwrap();
    let code = extract_code(&sent);
    let (body, sealed): (String, Option<String>) = sqlx::query_as(
        "SELECT body, secret_sealed FROM outbox_messages WHERE destination = '+817011112222'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert!(
        !body.contains(&code) && body.contains("[[secret]]"),
        "{body}"
    );
    assert_eq!(sealed, None);
    app.stop().await;
}

/// Recipients and raw data of one received mail.
type Mail = (Vec<String>, Vec<u8>);

#[derive(Clone, Default)]
struct Inbox {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Arc<Mutex<Mail>>,
}

impl mailin_embedded::Handler for Inbox {
    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        if to.starts_with("nobody@") {
            return mailin_embedded::response::NO_MAILBOX;
        }
        self.current.lock().unwrap().0.push(to.to_string());
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.lock().unwrap().1.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        let m = std::mem::take(&mut *self.current.lock().unwrap());
        self.mails.lock().unwrap().push(m);
        mailin_embedded::response::OK
    }
}

#[tokio::test]
async fn email_goes_through_a_real_smtp_server() {
    let inbox = Inbox::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut server = mailin_embedded::Server::new(inbox.clone());
    server.with_name("test.local").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    let smtp = SmtpEmail::new(&SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: "none".into(),
        username: None,
        password: None,
        from: "tsunagu <no-reply@tsunagu.test>".into(),
    })
    .unwrap();
    let app = TestApp::spawn_with(Options {
        demo: true,
        transports: Transports {
            sms: None,
            email: Some(Arc::new(smtp)),
        },
        ..Options::default()
    })
    .await;
    let token = patient_token(&app, "090-0000-0001").await;
    let (s, _) = app
        .api()
        .with_token(&token)
        .post("/me/email", json!({"email": "taro@example.jp"}))
        .await;
    assert_eq!(s, 202);
    app.drain().await;
    let mails = inbox.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, vec!["taro@example.jp".to_string()]);
    let raw = String::from_utf8_lossy(&mails[0].1).to_string();
    assert!(raw.contains("no-reply@tsunagu.test"));
    assert!(raw.contains("Subject:"));
    let row = app.state.outbox.recent(1).await.unwrap().remove(0);
    assert_eq!(row.status, "sent");
    // A mailbox the server refuses (5xx) fails permanently, with the reason.
    let (s, _) = app
        .api()
        .with_token(&token)
        .post("/me/email", json!({"email": "nobody@example.jp"}))
        .await;
    assert_eq!(s, 202);
    app.drain().await;
    let row = app.state.outbox.recent(1).await.unwrap().remove(0);
    assert_eq!(row.status, "failed");
    assert!(row.last_error.unwrap().contains("550"));
    app.stop().await;
}
