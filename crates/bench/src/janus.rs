//! The same synthetic calls through Janus 1.1's VideoRoom plugin, for `tsunagu-bench sfu
//! --janus`: the bench starts `janus -F crates/bench/janus` (Debian's package), creates one
//! room per call, and every participant publishes on one handle and subscribes to all the
//! others on a second (multistream) handle. Janus's CPU is its whole process's.
//! Protocol facts: `crates/bench/janus/NOTES.md`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::sfu::{Conn, Measured, Tally, WARMUP, Wake, measure, process_cpu};

const API: &str = "http://127.0.0.1:8088/janus";

/// A running Janus, stopped when dropped.
pub struct Janus {
    child: Child,
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Janus {
    /// Starts Janus with the bench's config and waits until its API answers.
    pub async fn start(config_dir: &str) -> anyhow::Result<Janus> {
        let child = Command::new("janus")
            .args(["-F", config_dir])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("janus (Debian's package) must be installed: {e}"))?;
        let j = Janus { child };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            let r = http
                .post(API)
                .json(&json!({"janus": "create", "transaction": "ready"}))
                .send()
                .await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                return Ok(j);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("janus did not answer on {API}")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// One Janus session with its long-poll loop, delivering events by transaction.
struct Session {
    http: reqwest::Client,
    url: String,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
    next: AtomicU64,
    stop: Arc<AtomicBool>,
}

impl Session {
    async fn new() -> anyhow::Result<Arc<Session>> {
        let http = reqwest::Client::new();
        let r: Value = http
            .post(API)
            .json(&json!({"janus": "create", "transaction": "s"}))
            .send()
            .await?
            .json()
            .await?;
        let id = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no session: {r}"))?;
        let s = Arc::new(Session {
            http,
            url: format!("{API}/{id}"),
            waiting: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(1),
            stop: Arc::new(AtomicBool::new(false)),
        });
        let poll = s.clone();
        tokio::spawn(async move {
            while !poll.stop.load(Ordering::Relaxed) {
                let Ok(r) = poll.http.get(format!("{}?maxev=10", poll.url)).send().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Ok(events) = r.json::<Vec<Value>>().await else {
                    continue;
                };
                for ev in events {
                    if ev["janus"] != "event" {
                        continue;
                    }
                    let Some(t) = ev["transaction"].as_str() else {
                        continue;
                    };
                    let tx = poll.waiting.lock().ok().and_then(|mut w| w.remove(t));
                    if let Some(tx) = tx {
                        let _ = tx.send(ev);
                    }
                }
            }
        });
        Ok(s)
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    async fn post(&self, path: &str, mut body: Value) -> anyhow::Result<Value> {
        body["transaction"] = json!(self.transaction());
        Ok(self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await?
            .json()
            .await?)
    }

    async fn attach(&self) -> anyhow::Result<u64> {
        let r = self
            .post(
                "",
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("attach: {r}"))
    }

    /// A plugin message whose result comes as an event (join, configure, start).
    async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let t = self.transaction();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(t.clone(), tx);
        }
        let mut m = json!({"janus": "message", "transaction": t, "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        self.http
            .post(format!("{}/{handle}", self.url))
            .json(&m)
            .send()
            .await?;
        let ev = tokio::time::timeout(Duration::from_secs(10), rx).await??;
        if let Some(e) = ev["plugindata"]["data"]["error"].as_str() {
            anyhow::bail!("janus: {e}");
        }
        Ok(ev)
    }

    /// A synchronous plugin request (room create).
    async fn request(&self, handle: u64, body: Value) -> anyhow::Result<Value> {
        self.post(
            &format!("/{handle}"),
            json!({"janus": "message", "body": body}),
        )
        .await
    }

    async fn keepalive(&self) {
        let _ = self.post("", json!({"janus": "keepalive"})).await;
    }

    async fn destroy(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.post("", json!({"janus": "destroy"})).await;
    }
}

/// `rooms` calls of `size` people through Janus, measured like tsunagu's.
pub async fn run(
    janus: &Janus,
    ip: IpAddr,
    size: usize,
    rooms: usize,
    secs: u64,
    wake: Wake,
) -> anyhow::Result<Measured> {
    let session = Session::new().await?;
    let tally = Tally::new(wake)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let admin = session.attach().await?;
    for room in 0..rooms {
        let room_id = 5000 + room as u64;
        session
            .request(
                admin,
                json!({"request": "create", "room": room_id, "publishers": size.max(2),
                       "bitrate": 2_000_000, "bitrate_cap": true, "audiocodec": "opus",
                       "videocodec": "vp8", "record": false, "is_private": false}),
            )
            .await?;
        let mut feeds = Vec::new();
        for who in 0..size {
            let h = session.attach().await?;
            let ev = session
                .message(
                    h,
                    json!({"request": "join", "ptype": "publisher", "room": room_id, "display": format!("p{who}")}),
                    None,
                )
                .await?;
            let feed = ev["plugindata"]["data"]["id"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("join: {ev}"))?;
            let (mut c, offer) = Conn::offer(ip, true, 0)?;
            let ev = session
                .message(
                    h,
                    json!({"request": "configure", "audio": true, "video": true}),
                    Some(json!({"type": "offer", "sdp": offer})),
                )
                .await?;
            let answer = ev["jsep"]["sdp"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("configure: {ev}"))?;
            c.accept(answer)?;
            threads.push(c.spawn(tally.clone(), stop.clone()));
            feeds.push(feed);
        }
        for &me in &feeds {
            let others: Vec<Value> = feeds
                .iter()
                .filter(|f| **f != me)
                .map(|f| json!({"feed": f}))
                .collect();
            let h = session.attach().await?;
            // A feed exists once its publisher's connection is up: retry until then.
            let mut tries = 0;
            let ev = loop {
                let r = session
                    .message(
                        h,
                        json!({"request": "join", "ptype": "subscriber", "room": room_id, "streams": others.clone()}),
                        None,
                    )
                    .await;
                match r {
                    Err(e) if tries < 50 && e.to_string().contains("No such feed") => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => break other?,
                }
            };
            let offer = ev["jsep"]["sdp"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("subscribe: {ev}"))?;
            let (c, answer) = Conn::answer(ip, offer)?;
            session
                .message(
                    h,
                    json!({"request": "start"}),
                    Some(json!({"type": "answer", "sdp": answer})),
                )
                .await?;
            threads.push(c.spawn(tally.clone(), stop.clone()));
        }
    }
    let keep = session.clone();
    let alive = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(20)).await;
            keep.keepalive().await;
        }
    });
    let streams = (rooms * size * (size - 1)) as u64;
    let pid = janus.pid();
    let m = tokio::task::spawn_blocking(move || {
        measure(&tally, WARMUP, secs, streams, &|| {
            process_cpu(pid).unwrap_or(0.0)
        })
    })
    .await?;
    alive.abort();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    session.destroy().await;
    Ok(m)
}
