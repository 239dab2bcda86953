//! Media through the embedded SFU: three WebRTC clients (str0m in RTP mode) — the doctor,
//! the URL call's patient and an admitted guest — join one visit room through the real
//! signalling on the room's WebSocket and exchange RTP over loopback UDP. The guest joins
//! late, when the publishers' sequence numbers are past 65,535: it must start each video on
//! a keyframe and get sequence numbers rebased for its own connection.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::cookie::CookieStore;
use serde_json::Value;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The simulcast layers a page sends, lowest first.
const RIDS: [&str; 3] = ["q", "h", "f"];
/// Receive slots (pairs of receive-only audio and video) in every connection.
const SLOTS: usize = 5;
/// First sequence numbers: both pass 65,535 within two seconds of media (96 packets of
/// audio at 50/s, 56 frames at 30/s), so a guest joining after that needs rebased numbers.
const AUDIO_SEQ0: u64 = 65_440;
const VIDEO_SEQ0: u64 = 65_480;
const PTIME: Duration = Duration::from_millis(20);
const FRAME: Duration = Duration::from_millis(33);
/// A keyframe every 2 s (and whenever one is asked for).
const KEYFRAME_FRAMES: u64 = 60;
/// Payload bytes after the VP8 descriptor, per layer.
const LAYER_BYTES: [usize; 3] = [120, 300, 600];

fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        str0m::crypto::from_feature_flags().install_process_default();
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

/// What one receive mid got.
#[derive(Debug, Default, Clone)]
struct Received {
    packets: u64,
    /// Video: whether the first packet with a payload started a keyframe.
    first_keyframe: Option<bool>,
    keyframes: u64,
    first_seq: Option<u64>,
    max_seq: u64,
    /// When the first packet came, ms after the client started.
    first_ms: Option<u128>,
}

/// A client's counters, shared between its media thread and the test.
#[derive(Debug, Default)]
struct Shared {
    started: Option<Instant>,
    /// When ICE and DTLS were done, ms after the client started.
    connected_ms: Option<u128>,
    by_mid: HashMap<String, Received>,
    /// RTP whose SSRC maps to no mid.
    unmapped: u64,
    /// RTP without payload (padding, probes).
    empty: u64,
    /// Keyframe requests received: (ms after the start, layer).
    keyframe_requests: Vec<(u128, usize)>,
    audio_sent: u64,
    video_sent: u64,
    /// Extended sequence number of the next video packet of each layer.
    video_seq: u64,
    /// Layers without a send stream after negotiation.
    missing_tx: HashSet<String>,
    error: Option<String>,
}

impl Shared {
    fn ms(&self) -> u128 {
        self.started.map_or(0, |s| s.elapsed().as_millis())
    }
}

/// A WebRTC client with the fixed layout the SFU expects, before it runs.
struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    audio_mid: Mid,
    video_mid: Mid,
    recv_video: HashSet<Mid>,
    pending: Option<SdpPendingOffer>,
}

impl Client {
    /// The client and its offer: send-only audio, send-only video with three simulcast
    /// layers, then the receive-only pairs.
    fn new() -> (Client, String) {
        init();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut simulcast = Simulcast::new();
        for rid in RIDS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        let mut api = rtc.sdp_api();
        let audio_mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video_mid = api.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            None,
            None,
            Some(simulcast),
        );
        let mut recv_video = HashSet::new();
        for _ in 0..SLOTS {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            recv_video.insert(api.add_media(
                MediaKind::Video,
                Direction::RecvOnly,
                None,
                None,
                None,
            ));
        }
        let (offer, pending) = api.apply().unwrap();
        (
            Client {
                rtc,
                socket,
                local,
                audio_mid,
                video_mid,
                recv_video,
                pending: Some(pending),
            },
            offer.to_sdp_string(),
        )
    }

    fn accept(&mut self, answer: &str) {
        let pending = self.pending.take().unwrap();
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    fn pt(&self, codec: Codec) -> Pt {
        self.rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
            .unwrap_or_else(|| panic!("no {codec:?} in the client's codecs"))
    }

    /// The media loop (its own thread): ICE/DTLS, then audio every 20 ms and a frame on
    /// each layer every 33 ms, counting what arrives.
    fn run(mut self, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
        let opus = self.pt(Codec::Opus);
        let vp8 = self.pt(Codec::Vp8);
        let mut buf = vec![0u8; 2000];
        let mut audio_seq = AUDIO_SEQ0;
        let mut audio_ts: u32 = 0x1234_0000;
        let mut video_seq = [VIDEO_SEQ0; 3];
        let mut frame: u64 = 0;
        let mut want_key = [true; 3];
        let mut connected = false;
        let mut next_audio = Instant::now();
        let mut next_video = Instant::now();
        let fail = |shared: &Mutex<Shared>, what: String| {
            shared.lock().unwrap().error.get_or_insert(what);
        };
        loop {
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Event(e)) => {
                        let mut st = shared.lock().unwrap();
                        if matches!(e, Event::Connected) && !connected {
                            connected = true;
                            st.connected_ms = Some(st.ms());
                            next_audio = Instant::now();
                            next_video = Instant::now();
                        }
                        self.event(e, &mut st, &mut want_key);
                    }
                    Err(e) => {
                        fail(&shared, format!("poll_output: {e}"));
                        return;
                    }
                }
            };
            if stop.load(Ordering::Relaxed) || !self.rtc.is_alive() {
                return;
            }
            let now = Instant::now();
            if connected && (next_audio <= now || next_video <= now) {
                if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                    fail(&shared, format!("timeout: {e}"));
                    return;
                }
                let mut st = shared.lock().unwrap();
                if next_audio <= now {
                    let exts = ExtensionValues {
                        audio_level: Some(-30),
                        voice_activity: Some(true),
                        ..Default::default()
                    };
                    let payload = vec![0xfc, 0xff, 0xfe, 0x01, 0x02, 0x03];
                    let mut api = self.rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(self.audio_mid, None) {
                        tx.write_rtp(
                            RtpWrite::new(opus, audio_seq.into(), audio_ts, now, payload)
                                .ext_vals(exts),
                        );
                        st.audio_sent += 1;
                    } else {
                        st.missing_tx.insert("audio".into());
                    }
                    audio_seq += 1;
                    audio_ts = audio_ts.wrapping_add(960);
                    next_audio = (next_audio + PTIME).max(now);
                }
                if next_video <= now {
                    let pid = (frame & 0x7fff) as u16;
                    let ts = 0x0042_0000u32.wrapping_add((frame * 3_000) as u32);
                    for (i, rid) in RIDS.iter().enumerate() {
                        let key = frame.is_multiple_of(KEYFRAME_FRAMES) || want_key[i];
                        want_key[i] = false;
                        let mut payload = vec![
                            0x90,
                            0x80,
                            0x80 | (pid >> 8) as u8,
                            pid as u8,
                            if key { 0x10 } else { 0x11 },
                        ];
                        payload.resize(5 + LAYER_BYTES[i], 0xab);
                        let mut api = self.rtc.direct_api();
                        if let Some(tx) = api.stream_tx_by_mid(self.video_mid, Some((*rid).into()))
                        {
                            tx.write_rtp(
                                RtpWrite::new(vp8, video_seq[i].into(), ts, now, payload)
                                    .marker(true)
                                    .nackable(true),
                            );
                            st.video_sent += 1;
                        } else {
                            st.missing_tx.insert((*rid).into());
                        }
                        video_seq[i] += 1;
                    }
                    st.video_seq = video_seq[0];
                    frame += 1;
                    next_video = (next_video + FRAME).max(now);
                }
                continue;
            }
            let mut wake = timeout;
            if connected {
                wake = wake.min(next_audio).min(next_video);
            }
            let wait = wake
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            let input = match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => match buf[..n].try_into() {
                    Ok(contents) => Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    ),
                    Err(_) => continue,
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    Input::Timeout(Instant::now())
                }
                Err(e) => {
                    fail(&shared, format!("recv: {e}"));
                    return;
                }
            };
            if let Err(e) = self.rtc.handle_input(input) {
                fail(&shared, format!("handle_input: {e}"));
                return;
            }
        }
    }

    fn event(&mut self, e: Event, st: &mut Shared, want_key: &mut [bool; 3]) {
        match e {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                st.error.get_or_insert("ICE disconnected".into());
            }
            Event::KeyframeRequest(r) if r.mid == self.video_mid => {
                let layer = r
                    .rid
                    .and_then(|rid| RIDS.iter().position(|x| *x == &*rid))
                    .unwrap_or(0);
                let ms = st.ms();
                st.keyframe_requests.push((ms, layer));
                want_key[layer] = true;
            }
            Event::RtpPacket(p) => self.received(&p, st),
            _ => {}
        }
    }

    fn received(&mut self, p: &RtpPacket, st: &mut Shared) {
        let mid = self
            .rtc
            .direct_api()
            .stream_rx(&p.header.ssrc)
            .map(|s| s.mid())
            .or(p.header.ext_vals.mid);
        let Some(mid) = mid else {
            st.unmapped += 1;
            return;
        };
        if p.payload.is_empty() {
            st.empty += 1;
            return;
        }
        let ms = st.ms();
        let r = st.by_mid.entry(mid.to_string()).or_default();
        r.first_ms.get_or_insert(ms);
        r.packets += 1;
        let seq = *p.seq_no;
        r.first_seq.get_or_insert(seq);
        r.max_seq = r.max_seq.max(seq);
        if self.recv_video.contains(&mid) {
            let key = Vp8Descriptor::parse(&p.payload).is_ok_and(|d| d.starts_keyframe(&p.payload));
            r.first_keyframe.get_or_insert(key);
            if key {
                r.keyframes += 1;
            }
        }
    }
}

/// The page message that carries an offer (`t` first, as the room expects).
fn offer_message(sdp: &str) -> String {
    format!(
        "{{\"t\":\"rtc.offer\",\"sdp\":{}}}",
        serde_json::to_string(sdp).unwrap()
    )
}

/// Sends an offer; returns the reply (`rtc.answer` or `rtc.error`) and the tiles if they
/// came first.
async fn offer_over(ws: &mut Ws, sdp: &str) -> (Value, Option<Vec<Value>>) {
    ws.send(Message::Text(offer_message(sdp).into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut tiles = None;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a reply to the offer within 5 s")
            .expect("the socket is open")
            .unwrap();
        let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or_default()) else {
            continue;
        };
        match v["kind"].as_str() {
            Some("rtc.answer" | "rtc.error") => return (v, tiles),
            Some("rtc.tiles") => tiles = v["data"]["tiles"].as_array().cloned(),
            _ => {}
        }
    }
}

/// A participant with media: its client thread and its room socket's signals.
struct Peer {
    name: &'static str,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    tiles: Arc<Mutex<Vec<Value>>>,
    kinds: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

/// A tile as the test reads it.
#[derive(Debug, Clone)]
struct TileMids {
    key: String,
    audio_mid: String,
    video_mid: String,
}

/// Joins the room's media on an open room socket: offer, answer, then the client runs.
async fn join(name: &'static str, mut ws: Ws) -> Peer {
    let (mut client, offer) = Client::new();
    let (reply, first_tiles) = offer_over(&mut ws, &offer).await;
    assert_eq!(reply["kind"], "rtc.answer", "{name}'s offer: {reply}");
    client.accept(reply["data"]["sdp"].as_str().unwrap());
    let shared = Arc::new(Mutex::new(Shared {
        started: Some(Instant::now()),
        ..Default::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name(format!("media-{name}"))
            .spawn(move || client.run(shared, stop))
            .unwrap()
    };
    let tiles = Arc::new(Mutex::new(first_tiles.unwrap_or_default()));
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (tiles, kinds) = (tiles.clone(), kinds.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or_default()) else {
                    continue;
                };
                let kind = v["kind"].as_str().unwrap_or_default().to_string();
                if kind == "rtc.tiles" {
                    *tiles.lock().unwrap() = v["data"]["tiles"].as_array().cloned().unwrap();
                }
                kinds.lock().unwrap().push(kind);
            }
        })
    };
    Peer {
        name,
        shared,
        stop,
        thread: Some(thread),
        tiles,
        kinds,
        reader,
    }
}

impl Peer {
    /// The tile showing the participant with `role`.
    fn tile(&self, role: &str) -> Option<TileMids> {
        self.tiles
            .lock()
            .unwrap()
            .iter()
            .find(|t| t["role"] == role)
            .map(|t| TileMids {
                key: t["key"].as_str().unwrap().to_string(),
                audio_mid: t["audio_mid"].as_str().unwrap().to_string(),
                video_mid: t["video_mid"].as_str().unwrap().to_string(),
            })
    }

    /// What arrived from `role` (audio, video) on the mids its tile names.
    fn from(&self, role: &str) -> (Received, Received) {
        let Some(t) = self.tile(role) else {
            return Default::default();
        };
        let st = self.shared.lock().unwrap();
        let get = |mid: &str| st.by_mid.get(mid).cloned().unwrap_or_default();
        (get(&t.audio_mid), get(&t.video_mid))
    }

    /// At least a few packets of both audio and video from `role`.
    fn hears(&self, role: &str) -> bool {
        let (a, v) = self.from(role);
        a.packets >= 5 && v.packets >= 3
    }

    fn video_seq(&self) -> u64 {
        self.shared.lock().unwrap().video_seq
    }

    fn report(&self) -> String {
        let st = self.shared.lock().unwrap();
        let mut out = format!(
            "[{}] connected at {:?} ms; sent audio={} video={}; keyframe requests (ms, layer) {:?}; unmapped={} empty={} missing_tx={:?} error={:?} next_video_seq={}\n",
            self.name,
            st.connected_ms,
            st.audio_sent,
            st.video_sent,
            st.keyframe_requests,
            st.unmapped,
            st.empty,
            st.missing_tx,
            st.error,
            st.video_seq,
        );
        let tiles = self.tiles.lock().unwrap().clone();
        for t in &tiles {
            let mid = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            let (a, v) = (
                st.by_mid
                    .get(&mid("audio_mid"))
                    .cloned()
                    .unwrap_or_default(),
                st.by_mid
                    .get(&mid("video_mid"))
                    .cloned()
                    .unwrap_or_default(),
            );
            out += &format!(
                "  from {} ({}) layer={} mids a{}/v{}: audio {} pkts (first at {:?} ms) seq {:?}..{}; video {} pkts (first at {:?} ms), {} keyframes, first a keyframe {:?}, seq {:?}..{}\n",
                t["key"],
                t["role"],
                t["layer"],
                mid("audio_mid"),
                mid("video_mid"),
                a.packets,
                a.first_ms,
                a.first_seq,
                a.max_seq,
                v.packets,
                v.first_ms,
                v.keyframes,
                v.first_keyframe,
                v.first_seq,
                v.max_seq,
            );
        }
        let known: HashSet<String> = tiles
            .iter()
            .flat_map(|t| {
                [
                    t["audio_mid"].as_str().unwrap_or_default().to_string(),
                    t["video_mid"].as_str().unwrap_or_default().to_string(),
                ]
            })
            .collect();
        for (mid, r) in &st.by_mid {
            if !known.contains(mid) {
                out += &format!("  on mid {mid} (no tile): {} pkts\n", r.packets);
            }
        }
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for k in self.kinds.lock().unwrap().iter() {
            match kinds.iter_mut().find(|(seen, _)| seen == k) {
                Some((_, n)) => *n += 1,
                None => kinds.push((k.clone(), 1)),
            }
        }
        out += &format!("  signals received: {kinds:?}\n");
        out
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.reader.abort();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.reader.abort();
    }
}

async fn report(app: &TestApp, peers: &[&Peer]) -> String {
    let mut out = String::new();
    for p in peers {
        out += &p.report();
    }
    if let Some(sfu) = app.state.config.sfu.as_ref() {
        out += &format!("SFU: {:?}\n", sfu.stats().await);
    }
    out
}

/// Waits until `done` holds, at most `within`; fails with every client's counters.
async fn wait_until(
    app: &TestApp,
    what: &str,
    within: Duration,
    peers: &[&Peer],
    done: impl Fn() -> bool,
) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > within {
            panic!(
                "not within {within:?}: {what}\n{}",
                report(app, peers).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("media: {what} after {:?}", start.elapsed());
}

/// The doctor's browser, signed in with TOTP enrolled, and its cookie jar (the room
/// socket needs the cookie itself).
async fn doctor_browser(app: &TestApp) -> (Browser, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let b = Browser {
        base: app.base.clone(),
        http: reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    let p = b
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", "sapporo-hikari"),
                ("login_id", "doctor"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/staff/totp/enrol"),
        "{}",
        p.body
    );
    prove_enrol_code(&b, "/staff/totp/enrol").await;
    let secret = stored_secret(app, "sapporo-hikari", "doctor").await;
    let p = b
        .submit(
            "/staff/totp/enrol",
            "/staff/totp/enrol",
            &[("code", &totp_now(app, &secret))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff"), "{}", p.body);
    app.advance(jiff::SignedDuration::from_secs(30));
    (b, jar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_exchange_media_and_a_late_guest_starts_on_keyframes_with_rebased_numbers()
 {
    init();
    let began = Instant::now();
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let doctor_id = app.staff_id(f.id, "doctor").await.0.to_string();
    let clerk = crate::setup::staff(&app, "clerk").await;
    // A URL call starting now, its link sent by SMS.
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("now", "1"),
                ("title", "三者通話"),
                ("doctor", &doctor_id),
                ("send", "sms"),
                ("destination", "090-7777-8888"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let visit = p.id_after("/staff/visits/");
    let sms = app.last_sms_to("+819077778888").await.unwrap();
    let at = sms.find("/v/").expect("a patient link");
    let link = sms[at..]
        .split(char::is_whitespace)
        .next()
        .unwrap()
        .to_string();
    // A family member invited with their own link.
    let page = clerk.get(&format!("/staff/visits/{visit}")).await;
    let p = clerk
        .post(
            &format!("/staff/visits/{visit}/guests"),
            &page.csrf(),
            &[("name", "山田 花子"), ("role", "family"), ("hours", "2")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let shown = clerk.get(p.location.as_deref().unwrap()).await;
    let at = shown
        .body
        .find("id=\"guest-url\" value=\"")
        .expect("the guest's link is shown")
        + 22;
    let url = shown.body[at..].split('"').next().unwrap();
    let guest_path = url[url.find("/g/").unwrap()..].to_string();
    let gid: i64 = sqlx::query_scalar("SELECT id FROM visit_guests WHERE visit_id = $1")
        .bind(visit)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let (doctor, jar) = doctor_browser(&app).await;
    let ws_url = url::Url::parse(&format!("{}/staff/visits/{visit}/ws", app.base)).unwrap();
    let doctor_cookie = jar.cookies(&ws_url).unwrap().to_str().unwrap().to_string();

    // The patient waits; before the doctor starts, media is refused.
    let mut patient_ws = crate::live::connect(&app, &format!("{link}/ws"), "x=y").await;
    let (_, early) = Client::new();
    let (reply, _) = offer_over(&mut patient_ws, &early).await;
    assert_eq!(reply["kind"], "rtc.error", "{reply}");
    assert!(
        reply["data"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{reply}"
    );

    // The doctor starts and admits the guest.
    let dp = doctor.get(&format!("/staff/visits/{visit}")).await;
    assert_eq!(dp.status, 200, "{}", dp.body);
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = doctor
        .post(
            &format!("/staff/visits/{visit}/guests/{gid}/admit"),
            &dp.csrf(),
            &[],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);

    // The doctor and the patient join and hear and see each other.
    let doctor_ws =
        crate::live::connect(&app, &format!("/staff/visits/{visit}/ws"), &doctor_cookie).await;
    let doc = join("doctor", doctor_ws).await;
    let pat = join("patient", patient_ws).await;
    let media_from = Instant::now();
    wait_until(
        &app,
        "the doctor and the patient receive each other's audio and video",
        Duration::from_secs(5),
        &[&doc, &pat],
        || doc.hears("patient") && pat.hears("doctor"),
    )
    .await;
    // Media until both publishers' video numbers are past 65,535 (ROC 1), two seconds at least.
    wait_until(
        &app,
        "both publishers' video sequence numbers passed 65,535",
        Duration::from_secs(6),
        &[&doc, &pat],
        || {
            doc.video_seq() > 65_560
                && pat.video_seq() > 65_560
                && media_from.elapsed() >= Duration::from_secs(2)
        },
    )
    .await;
    let published = (doc.video_seq(), pat.video_seq());

    // The guest joins late.
    let guest_ws = crate::live::connect(&app, &format!("{guest_path}/ws"), "x=y").await;
    let guest = join("guest", guest_ws).await;
    wait_until(
        &app,
        "the guest receives both, and both receive the guest",
        Duration::from_secs(5),
        &[&doc, &pat, &guest],
        || {
            guest.hears("doctor")
                && guest.hears("patient")
                && doc.hears("guest")
                && pat.hears("guest")
        },
    )
    .await;
    // A little more media, for the counts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = report(&app, &[&doc, &pat, &guest]).await;
    eprintln!(
        "media: publishers' next video seq at the guest's join: doctor {}, patient {}\n{summary}",
        published.0, published.1
    );

    // Each connection's tiles name the two others, on distinct mids.
    for (p, others) in [
        (&doc, ["patient", "guest"]),
        (&pat, ["doctor", "guest"]),
        (&guest, ["doctor", "patient"]),
    ] {
        let tiles: Vec<TileMids> = others.iter().map(|r| p.tile(r).unwrap()).collect();
        assert_eq!(p.tiles.lock().unwrap().len(), 2, "{}", p.report());
        let mids: HashSet<&String> = tiles
            .iter()
            .flat_map(|t| [&t.audio_mid, &t.video_mid])
            .collect();
        assert_eq!(mids.len(), 4, "{tiles:?}");
    }
    assert!(guest.tile("doctor").unwrap().key.starts_with("doctor:"));
    assert_eq!(guest.tile("patient").unwrap().key, "patient");
    assert_eq!(doc.tile("guest").unwrap().key, format!("guest:{gid}"));
    assert!(published.0 > 65_535 && published.1 > 65_535);
    for role in ["doctor", "patient"] {
        let (audio, video) = guest.from(role);
        assert_eq!(
            video.first_keyframe,
            Some(true),
            "the guest's first video packet from the {role} starts a keyframe\n{summary}"
        );
        // Rebased for the guest's connection: the publisher is past 65,535 (ROC 1); raw
        // numbers would have left the guest decrypting nothing.
        assert!(
            video.first_seq.unwrap() < 10_000 && video.max_seq < 10_000,
            "video from the {role}: {video:?}"
        );
        assert!(
            audio.first_seq.unwrap() < 10_000 && audio.max_seq < 10_000,
            "audio from the {role}: {audio:?}"
        );
    }
    for p in [&doc, &pat, &guest] {
        let tiles = p.tiles.lock().unwrap().clone();
        let st = p.shared.lock().unwrap();
        assert!(st.error.is_none(), "{}: {:?}", p.name, st.error);
        assert!(st.missing_tx.is_empty(), "{}: {:?}", p.name, st.missing_tx);
        // Media arrives only on the mids the tiles name, and each video starts on a keyframe.
        for (mid, r) in &st.by_mid {
            let tile = tiles
                .iter()
                .find(|t| t["audio_mid"] == mid.as_str() || t["video_mid"] == mid.as_str());
            assert!(tile.is_some(), "{}: media on mid {mid}, in no tile", p.name);
            if tile.is_some_and(|t| t["video_mid"] == mid.as_str()) {
                assert_eq!(r.first_keyframe, Some(true), "{}: mid {mid}", p.name);
            }
        }
    }

    doc.stop();
    pat.stop();
    guest.stop();
    app.stop().await;
    eprintln!("media: the whole test took {:?}", began.elapsed());
}
