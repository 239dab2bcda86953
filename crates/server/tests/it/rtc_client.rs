//! A WebRTC client for the media tests: str0m in RTP mode with the fixed layout the SFU
//! expects (send-only audio, send-only video with three simulcast layers, then receive-only
//! pairs), joined to a visit room through the real signalling on the room's WebSocket.
//!
//! It behaves like a browser where the tests need it to: it asks for a keyframe (PLI) when a
//! video it receives cannot be decoded (the first packet, or after a break), and, when asked
//! to, restarts ICE with a new offer on the same socket when nothing has arrived for a second.

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
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The simulcast layers a page sends, lowest first.
pub(crate) const RIDS: [&str; 3] = ["q", "h", "f"];
/// Receive slots (pairs of receive-only audio and video) in every connection.
const SLOTS: usize = 5;
/// First sequence numbers: both pass 65,535 within two seconds of media (96 packets of
/// audio at 50/s, 56 frames of the `q` layer, one packet each, at 30/s), so a guest joining
/// after that needs rebased numbers.
const AUDIO_SEQ0: u64 = 65_440;
const VIDEO_SEQ0: u64 = 65_480;
const PTIME: Duration = Duration::from_millis(20);
const FRAME: Duration = Duration::from_millis(33);
/// A keyframe every 2 s (and whenever one is asked for).
const KEYFRAME_FRAMES: u64 = 60;
/// Bytes of each frame after the VP8 descriptor, per layer, at 30 frames/s: about
/// 100 kbps, 400 kbps and 1.2 Mbps, as a 720p camera's three layers.
pub(crate) const LAYER_BYTES: [usize; 3] = [420, 1_670, 5_000];
/// At most this many frame bytes per packet (a frame of more is split, marker on the last).
const CHUNK: usize = 1_100;
/// A receiver with no video for this long (or a jump of more packets than `GAP_PACKETS`)
/// cannot decode until a keyframe, and asks for one as a browser's decoder would.
const VIDEO_BREAK: Duration = Duration::from_millis(500);
const GAP_PACKETS: u64 = 100;
/// At most one keyframe request per received video in this interval.
const PLI_EVERY: Duration = Duration::from_millis(200);
/// A client that may restart ICE does so after this long without any datagram, and again
/// at this interval while the path stays down.
const RESTART_QUIET: Duration = Duration::from_secs(1);
const RESTART_EVERY: Duration = Duration::from_secs(1);
/// A re-offer whose reply has not come after this long is given up.
const REPLY_WAIT: Duration = Duration::from_secs(3);
/// A break between two packets of one mid at least this long is recorded.
const GAP_RECORDED: Duration = Duration::from_millis(250);

pub(crate) fn init() {
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
pub(crate) struct Received {
    pub packets: u64,
    /// Video: whether the first packet with a payload started a keyframe.
    pub first_keyframe: Option<bool>,
    pub keyframes: u64,
    pub first_seq: Option<u64>,
    pub max_seq: u64,
    /// When the first packet came, ms after the client started.
    pub first_ms: Option<u128>,
    /// When the last packet came.
    pub last_at: Option<Instant>,
    /// Video: when each keyframe started to arrive.
    pub keys_at: Vec<Instant>,
    /// Video: packets of each layer (the publisher marks its payload with the layer).
    pub layers: [u64; 3],
    /// Packets at or below the highest sequence number already seen (retransmissions,
    /// reordering).
    pub late: u64,
    /// Breaks of at least `GAP_RECORDED`: when the break began and how long it lasted.
    pub gaps: Vec<(Instant, Duration)>,
    /// Audio: the payload type and payload of the last packet.
    pub last_audio: (u8, Vec<u8>),
    /// Video: undecodable until a keyframe comes.
    need_key: bool,
    last_pli: Option<Instant>,
}

impl Received {
    /// Whether a packet came after `t`.
    pub fn arrived_after(&self, t: Instant) -> bool {
        self.last_at.is_some_and(|l| l > t)
    }

    /// The first keyframe that started after `t`.
    pub fn key_after(&self, t: Instant) -> Option<Instant> {
        self.keys_at.iter().copied().find(|k| *k > t)
    }

    /// The longest break between `from` and `to`, counting a break still running at `to`.
    pub fn longest_break(&self, from: Instant, to: Instant) -> Duration {
        let mut longest = Duration::ZERO;
        for (began, len) in &self.gaps {
            let end = *began + *len;
            if end > from && *began < to {
                longest = longest.max(end.min(to).saturating_duration_since((*began).max(from)));
            }
        }
        if let Some(last) = self.last_at
            && last < to
        {
            longest = longest.max(to.saturating_duration_since(last.max(from)));
        }
        if self.last_at.is_none() {
            longest = to.saturating_duration_since(from);
        }
        longest
    }
}

/// A client's counters, shared between its media thread and the test.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub started: Option<Instant>,
    /// When ICE and DTLS were done, ms after the client started.
    pub connected_ms: Option<u128>,
    pub by_mid: HashMap<String, Received>,
    /// RTP whose SSRC maps to no mid.
    pub unmapped: u64,
    /// RTP without payload (padding, probes).
    pub empty: u64,
    /// Keyframe requests received: (ms after the start, layer).
    pub keyframe_requests: Vec<(u128, usize)>,
    /// Keyframe requests this client sent as a receiver.
    pub plis_sent: u64,
    pub audio_sent: u64,
    pub video_sent: u64,
    /// Extended sequence number of the next video packet of the `q` layer.
    pub video_seq: u64,
    /// Layers without a send stream after negotiation.
    pub missing_tx: HashSet<String>,
    /// ICE connection states, with ms after the start.
    pub ice_states: Vec<(u128, String)>,
    /// ICE restarts (re-offers sent), ms after the start.
    pub restarts: Vec<u128>,
    /// Answers to re-offers applied, and replies that came for an older re-offer.
    pub restart_answers: u64,
    pub stale_replies: u64,
    pub error: Option<String>,
    /// The client's Opus payload type (not RED's).
    pub opus_pt: Option<u8>,
}

impl Shared {
    fn ms(&self) -> u128 {
        self.started.map_or(0, |s| s.elapsed().as_millis())
    }
}

/// What the room socket answered to a re-offer.
enum Reply {
    Answer(String),
    Error(String),
}

/// The media thread's side of the room socket.
struct Signalling {
    offers: tokio::sync::mpsc::UnboundedSender<String>,
    replies: std::sync::mpsc::Receiver<Reply>,
}

/// A WebRTC client with the fixed layout the SFU expects, before it runs.
pub(crate) struct Client {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    audio_mid: Mid,
    video_mid: Mid,
    recv_video: HashSet<Mid>,
    pending: Option<SdpPendingOffer>,
    /// Reach the SFU at this address (a relay) instead of the one its answer names.
    via: Option<SocketAddr>,
    /// Restart ICE when nothing arrives.
    restart: bool,
    /// Offer RED and send audio wrapped in it (RFC 2198), as Chromium does.
    red: bool,
}

/// The audio frame every client sends (inside RED, when it uses RED).
pub(crate) const OPUS_FRAME: [u8; 6] = [0xfc, 0xff, 0xfe, 0x01, 0x02, 0x03];
/// The earlier frame a RED packet repeats.
const OPUS_EARLIER: [u8; 2] = [0xaa, 0xbb];

/// The answer with every candidate's address replaced by `via`.
pub(crate) fn redirect_candidates(sdp: &str, via: SocketAddr) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=candidate:") {
            let end = line.trim_end_matches(['\r', '\n']);
            let mut f: Vec<String> = end.split(' ').map(str::to_string).collect();
            if f.len() > 5 {
                f[4] = via.ip().to_string();
                f[5] = via.port().to_string();
            }
            out += &f.join(" ");
            out += &line[end.len()..];
        } else {
            out += line;
        }
    }
    out
}

impl Client {
    /// The client and its offer: send-only audio, send-only video with three simulcast
    /// layers, then the receive-only pairs.
    pub fn new() -> (Client, String) {
        Client::with_red(false)
    }

    /// The same, offering RED for its audio when `red`.
    pub fn with_red(red: bool) -> (Client, String) {
        init();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        let builder = Rtc::builder().set_rtp_mode(true);
        let builder = if red {
            builder
                .clear_codecs()
                .enable_opus(true, true)
                .enable_vp8(true)
        } else {
            builder
        };
        let mut rtc = builder.build(Instant::now());
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
                via: None,
                restart: false,
                red,
            },
            offer.to_sdp_string(),
        )
    }

    fn accept(&mut self, answer: &str) -> Result<(), String> {
        let pending = self.pending.take().ok_or("no offer is pending")?;
        let answer = match self.via {
            Some(via) => redirect_candidates(answer, via),
            None => answer.to_string(),
        };
        let answer = SdpAnswer::from_sdp_string(&answer).map_err(|e| e.to_string())?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())
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
    /// each layer every 33 ms, counting what arrives; re-offers when the path is down.
    fn run(mut self, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>, sig: Signalling) {
        let opus = self.pt(Codec::Opus);
        shared.lock().unwrap().opus_pt = Some(*opus);
        let red_pt = self
            .rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .and_then(|p| p.red())
            .filter(|_| self.red);
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
        let mut last_datagram = Instant::now();
        // ICE has a working pair (Connected or Completed).
        let mut ice_ok = true;
        let mut offers_sent = 0u64;
        let mut replies = 0u64;
        let mut last_restart: Option<Instant> = None;
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
                        if let Event::IceConnectionStateChange(s) = &e {
                            ice_ok = matches!(
                                s,
                                IceConnectionState::Connected | IceConnectionState::Completed
                            );
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
            // Replies to re-offers: the room answers in order, so only the reply to the last
            // offer sent goes with the pending offer.
            while let Ok(reply) = sig.replies.try_recv() {
                replies += 1;
                let mut st = shared.lock().unwrap();
                match reply {
                    Reply::Answer(sdp) if replies == offers_sent => match self.accept(&sdp) {
                        Ok(()) => st.restart_answers += 1,
                        Err(e) => {
                            st.error.get_or_insert(format!("a re-offer's answer: {e}"));
                        }
                    },
                    Reply::Answer(_) => st.stale_replies += 1,
                    Reply::Error(m) => {
                        st.error
                            .get_or_insert(format!("a re-offer was refused: {m}"));
                    }
                }
            }
            let now = Instant::now();
            if self.restart && connected {
                let quiet = now.saturating_duration_since(last_datagram) >= RESTART_QUIET;
                let waiting = replies < offers_sent
                    && last_restart.is_some_and(|t| now.saturating_duration_since(t) < REPLY_WAIT);
                let due =
                    last_restart.is_none_or(|t| now.saturating_duration_since(t) >= RESTART_EVERY);
                // Also while the last restart has not found a pair: its checks may have
                // run out during the outage (a browser restarts again on `failed`).
                if (quiet || !ice_ok) && !waiting && due {
                    last_restart = Some(now);
                    let mut api = self.rtc.sdp_api();
                    api.ice_restart(true);
                    if let Some((offer, pending)) = api.apply() {
                        self.pending = Some(pending);
                        offers_sent += 1;
                        let mut st = shared.lock().unwrap();
                        let ms = st.ms();
                        st.restarts.push(ms);
                        let _ = sig.offers.send(offer_message(&offer.to_sdp_string()));
                    }
                    continue;
                }
            }
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
                    let (pt, payload) = match red_pt {
                        // One earlier frame (20 ms back), then the current one.
                        Some(red) => {
                            let (off, len) = (960u16, OPUS_EARLIER.len() as u16);
                            let mut p = vec![
                                0x80 | *opus,
                                (off >> 6) as u8,
                                (((off & 0x3f) << 2) as u8) | (len >> 8) as u8,
                                (len & 0xff) as u8,
                                *opus,
                            ];
                            p.extend_from_slice(&OPUS_EARLIER);
                            p.extend_from_slice(&OPUS_FRAME);
                            (red, p)
                        }
                        None => (opus, OPUS_FRAME.to_vec()),
                    };
                    let mut api = self.rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(self.audio_mid, None) {
                        tx.write_rtp(
                            RtpWrite::new(pt, audio_seq.into(), audio_ts, now, payload)
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
                        let mut api = self.rtc.direct_api();
                        let Some(tx) = api.stream_tx_by_mid(self.video_mid, Some((*rid).into()))
                        else {
                            st.missing_tx.insert((*rid).into());
                            continue;
                        };
                        for (payload, last) in vp8_packets(pid, key, i) {
                            tx.write_rtp(
                                RtpWrite::new(vp8, video_seq[i].into(), ts, now, payload)
                                    .marker(last)
                                    .nackable(true),
                            );
                            st.video_sent += 1;
                            video_seq[i] += 1;
                        }
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
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            let input = match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => match buf[..n].try_into() {
                    Ok(contents) => {
                        last_datagram = Instant::now();
                        Input::Receive(
                            last_datagram,
                            Receive {
                                proto: Protocol::Udp,
                                source,
                                destination: self.local,
                                contents,
                            },
                        )
                    }
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
            Event::IceConnectionStateChange(s) => {
                let ms = st.ms();
                st.ice_states.push((ms, format!("{s:?}")));
                if s == IceConnectionState::Disconnected && !self.restart {
                    st.error.get_or_insert("ICE disconnected".into());
                }
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
        let now = Instant::now();
        let ms = st.ms();
        let r = st.by_mid.entry(mid.to_string()).or_default();
        r.first_ms.get_or_insert(ms);
        r.packets += 1;
        let seq = *p.seq_no;
        let first = r.first_seq.is_none();
        r.first_seq.get_or_insert(seq);
        let jump = !first && seq > r.max_seq + GAP_PACKETS;
        if !first && seq <= r.max_seq {
            r.late += 1;
        }
        r.max_seq = r.max_seq.max(seq);
        let broke = r
            .last_at
            .is_none_or(|t| now.saturating_duration_since(t) >= VIDEO_BREAK);
        if let Some(t) = r.last_at {
            let gap = now.saturating_duration_since(t);
            if gap >= GAP_RECORDED {
                r.gaps.push((t, gap));
            }
        }
        r.last_at = Some(now);
        if !self.recv_video.contains(&mid) {
            r.last_audio = (*p.header.payload_type, p.payload.to_vec());
            return;
        }
        let key = Vp8Descriptor::parse(&p.payload).is_ok_and(|d| d.starts_keyframe(&p.payload));
        r.first_keyframe.get_or_insert(key);
        if let Some(layer) = p
            .payload
            .last()
            .and_then(|b| (*b & 0xf0 == 0xa0).then_some((*b & 0x0f) as usize))
            .filter(|l| *l < 3)
        {
            r.layers[layer] += 1;
        }
        if key {
            r.keyframes += 1;
            r.keys_at.push(now);
            r.need_key = false;
            return;
        }
        // A browser cannot decode after a break until a keyframe, and asks for one.
        if broke || jump {
            r.need_key = true;
        }
        if r.need_key
            && r.last_pli
                .is_none_or(|t| now.saturating_duration_since(t) >= PLI_EVERY)
        {
            r.last_pli = Some(now);
            if let Some(rx) = self.rtc.direct_api().stream_rx(&p.header.ssrc) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
                st.plis_sent += 1;
            }
        }
    }
}

/// The packets of one frame of `layer`: a VP8 descriptor with a 15-bit picture id on each
/// (S=1 on the first only, where the payload header says key or delta), the frame's bytes
/// split in chunks of at most `CHUNK`, filled with `0xa0 | layer` so a receiver can tell the
/// layer. The flag is the marker (last packet of the frame).
fn vp8_packets(pid: u16, key: bool, layer: usize) -> Vec<(Vec<u8>, bool)> {
    let total = LAYER_BYTES[layer];
    let n = total.div_ceil(CHUNK);
    let fill = 0xa0 | layer as u8;
    (0..n)
        .map(|i| {
            let len = CHUNK.min(total - i * CHUNK);
            let mut p = vec![
                if i == 0 { 0x90 } else { 0x80 },
                0x80,
                0x80 | (pid >> 8) as u8,
                pid as u8,
            ];
            if i == 0 {
                p.push(if key { 0x10 } else { 0x11 });
                p.resize(4 + len, fill);
            } else {
                p.resize(4 + len, fill);
            }
            (p, i + 1 == n)
        })
        .collect()
}

/// The page message that carries an offer (`t` first, as the room expects).
pub(crate) fn offer_message(sdp: &str) -> String {
    format!(
        "{{\"t\":\"rtc.offer\",\"sdp\":{}}}",
        serde_json::to_string(sdp).unwrap()
    )
}

/// Sends an offer; returns the reply (`rtc.answer` or `rtc.error`) and the tiles if they
/// came first.
pub(crate) async fn offer_over(ws: &mut Ws, sdp: &str) -> (Value, Option<Vec<Value>>) {
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

/// An `rtc.tiles` message and when it came.
pub(crate) type TilesAt = (Instant, Vec<Value>);

/// A participant with media: its client thread and its room socket's signals.
pub(crate) struct Peer {
    pub name: &'static str,
    pub shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub tiles: Arc<Mutex<Vec<Value>>>,
    /// Every `rtc.tiles` message, when it came.
    pub tiles_history: Arc<Mutex<Vec<TilesAt>>>,
    pub kinds: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

/// A tile as the test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TileMids {
    pub key: String,
    pub audio_mid: String,
    pub video_mid: String,
}

/// How a client joins.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JoinOpts {
    /// Send to the SFU through this address (a relay).
    pub via: Option<SocketAddr>,
    /// Restart ICE when nothing arrives for a second (a browser on a flaky network).
    pub restart: bool,
    /// Offer RED and send audio in it.
    pub red: bool,
}

/// Joins the room's media on an open room socket: offer, answer, then the client runs.
pub(crate) async fn join(name: &'static str, ws: Ws) -> Peer {
    join_with(name, ws, JoinOpts::default()).await
}

/// Joins through a relay at `via` (a limited or breakable path to the SFU).
pub(crate) async fn join_via(name: &'static str, ws: Ws, via: SocketAddr) -> Peer {
    join_with(
        name,
        ws,
        JoinOpts {
            via: Some(via),
            ..Default::default()
        },
    )
    .await
}

pub(crate) async fn join_with(name: &'static str, mut ws: Ws, opts: JoinOpts) -> Peer {
    let (mut client, offer) = Client::with_red(opts.red);
    client.via = opts.via;
    client.restart = opts.restart;
    let (reply, first_tiles) = offer_over(&mut ws, &offer).await;
    assert_eq!(reply["kind"], "rtc.answer", "{name}'s offer: {reply}");
    client
        .accept(reply["data"]["sdp"].as_str().unwrap())
        .unwrap();
    let shared = Arc::new(Mutex::new(Shared {
        started: Some(Instant::now()),
        ..Default::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let (offers_tx, mut offers_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (replies_tx, replies_rx) = std::sync::mpsc::channel();
    let thread = {
        let (shared, stop) = (shared.clone(), stop.clone());
        let sig = Signalling {
            offers: offers_tx,
            replies: replies_rx,
        };
        std::thread::Builder::new()
            .name(format!("media-{name}"))
            .spawn(move || client.run(shared, stop, sig))
            .unwrap()
    };
    let first_tiles = first_tiles.unwrap_or_default();
    let tiles_history = Arc::new(Mutex::new(vec![(Instant::now(), first_tiles.clone())]));
    let tiles = Arc::new(Mutex::new(first_tiles));
    let kinds = Arc::new(Mutex::new(Vec::new()));
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(m) = offers_rx.recv().await {
            if sink.send(Message::Text(m.into())).await.is_err() {
                break;
            }
        }
    });
    let reader = {
        let (tiles, history, kinds) = (tiles.clone(), tiles_history.clone(), kinds.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or_default()) else {
                    continue;
                };
                let kind = v["kind"].as_str().unwrap_or_default().to_string();
                match kind.as_str() {
                    "rtc.tiles" => {
                        let t = v["data"]["tiles"].as_array().cloned().unwrap();
                        history.lock().unwrap().push((Instant::now(), t.clone()));
                        *tiles.lock().unwrap() = t;
                    }
                    "rtc.answer" => {
                        let sdp = v["data"]["sdp"].as_str().unwrap_or_default().to_string();
                        let _ = replies_tx.send(Reply::Answer(sdp));
                    }
                    "rtc.error" => {
                        let _ = replies_tx.send(Reply::Error(v["data"].to_string()));
                    }
                    _ => {}
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
        tiles_history,
        kinds,
        reader,
        writer,
    }
}

impl Peer {
    /// The tile showing the participant with `role`.
    pub fn tile(&self, role: &str) -> Option<TileMids> {
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

    /// The layer (`q`, `h`, `f` or none) and the paused flag of the tile of `role`.
    pub fn tile_layer(&self, role: &str) -> Option<(Option<String>, bool)> {
        self.tiles
            .lock()
            .unwrap()
            .iter()
            .find(|t| t["role"] == role)
            .map(|t| {
                (
                    t["layer"].as_str().map(str::to_string),
                    t["paused"].as_bool().unwrap_or(false),
                )
            })
    }

    /// What arrived from `role` (audio, video) on the mids its tile names.
    pub fn from(&self, role: &str) -> (Received, Received) {
        let Some(t) = self.tile(role) else {
            return Default::default();
        };
        let st = self.shared.lock().unwrap();
        let get = |mid: &str| st.by_mid.get(mid).cloned().unwrap_or_default();
        (get(&t.audio_mid), get(&t.video_mid))
    }

    /// What arrived from the participant whose tile has `key` (audio, video).
    pub fn received_from(&self, key: &str) -> (Received, Received) {
        let Some((a, v)) = self
            .tiles
            .lock()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .map(|t| {
                (
                    t["audio_mid"].as_str().unwrap_or_default().to_string(),
                    t["video_mid"].as_str().unwrap_or_default().to_string(),
                )
            })
        else {
            return Default::default();
        };
        let st = self.shared.lock().unwrap();
        let get = |mid: &str| st.by_mid.get(mid).cloned().unwrap_or_default();
        (get(&a), get(&v))
    }

    /// Every tile now: its key, layer and paused flag.
    pub fn views(&self) -> Vec<(String, Option<String>, bool)> {
        self.tiles
            .lock()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or_default().to_string(),
                    t["layer"].as_str().map(str::to_string),
                    t["paused"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }

    /// At least a few packets of both audio and video from `role`.
    pub fn hears(&self, role: &str) -> bool {
        let (a, v) = self.from(role);
        a.packets >= 5 && v.packets >= 3
    }

    pub fn video_seq(&self) -> u64 {
        self.shared.lock().unwrap().video_seq
    }

    /// ICE has a working pair now (its last state is Connected or Completed).
    pub fn ice_ok(&self) -> bool {
        self.shared
            .lock()
            .unwrap()
            .ice_states
            .last()
            .is_some_and(|(_, s)| s == "Connected" || s == "Completed")
    }

    /// When ICE last reached Connected or Completed after `t`.
    pub fn ice_ok_after(&self, t: Instant) -> Option<Instant> {
        let st = self.shared.lock().unwrap();
        let started = st.started?;
        st.ice_states
            .iter()
            .map(|(ms, s)| (started + Duration::from_millis(*ms as u64), s))
            .find(|(at, s)| *at > t && (*s == "Connected" || *s == "Completed"))
            .map(|(at, _)| at)
    }

    /// How many signals of `kind` came.
    pub fn signals(&self, kind: &str) -> usize {
        self.kinds
            .lock()
            .unwrap()
            .iter()
            .filter(|k| *k == kind)
            .count()
    }

    pub fn report(&self) -> String {
        let st = self.shared.lock().unwrap();
        let mut out = format!(
            "[{}] connected at {:?} ms; sent audio={} video={}; keyframe requests (ms, layer) {:?}; PLIs sent {}; unmapped={} empty={} missing_tx={:?} error={:?} next_video_seq={}; ICE {:?}; restarts at {:?} ms, {} answered, {} stale\n",
            self.name,
            st.connected_ms,
            st.audio_sent,
            st.video_sent,
            st.keyframe_requests,
            st.plis_sent,
            st.unmapped,
            st.empty,
            st.missing_tx,
            st.error,
            st.video_seq,
            st.ice_states,
            st.restarts,
            st.restart_answers,
            st.stale_replies,
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
                "  from {} ({}) layer={} paused={} mids a{}/v{}: audio {} pkts (first at {:?} ms) seq {:?}..{}; video {} pkts (first at {:?} ms) by layer {:?}, {} keyframes, first a keyframe {:?}, seq {:?}..{}\n",
                t["key"],
                t["role"],
                t["layer"],
                t["paused"],
                mid("audio_mid"),
                mid("video_mid"),
                a.packets,
                a.first_ms,
                a.first_seq,
                a.max_seq,
                v.packets,
                v.first_ms,
                v.layers,
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

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.reader.abort();
        self.writer.abort();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.reader.abort();
        self.writer.abort();
    }
}

pub(crate) async fn report(app: &TestApp, peers: &[&Peer]) -> String {
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
pub(crate) async fn wait_until(
    app: &TestApp,
    what: &str,
    within: Duration,
    peers: &[&Peer],
    done: impl Fn() -> bool,
) -> Duration {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > within {
            panic!(
                "not within {within:?}: {what}\n{}",
                report(app, peers).await
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("media: {what} after {:?}", start.elapsed());
    start.elapsed()
}

/// The doctor's browser, signed in with TOTP enrolled, and its cookie jar (the room
/// socket needs the cookie itself).
pub(crate) async fn doctor_browser(app: &TestApp) -> (Browser, Arc<reqwest::cookie::Jar>) {
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

/// A video-call URL starting now, created by the clerk with the doctor and sent by SMS:
/// the visit's id and the patient's link path (`/v/…`).
pub(crate) async fn url_call(app: &TestApp, clerk: &Browser, title: &str) -> (i64, String) {
    let f = app.facility("sapporo-hikari").await;
    let doctor_id = app.staff_id(f.id, "doctor").await.0.to_string();
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("now", "1"),
                ("title", title),
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
    (visit, link)
}

/// The doctor lets guest `gid` into the started call.
pub(crate) async fn admit(doctor: &Browser, csrf: &str, visit: i64, gid: i64) {
    let p = doctor
        .post(
            &format!("/staff/visits/{visit}/guests/{gid}/admit"),
            csrf,
            &[],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
}

/// A URL call that the doctor started: the doctor's and the patient's room sockets, both
/// allowed media.
pub(crate) async fn started_call(app: &TestApp, title: &str) -> (Ws, Ws) {
    let clerk = crate::setup::staff(app, "clerk").await;
    let (visit, link) = url_call(app, &clerk, title).await;
    let (doctor, jar) = doctor_browser(app).await;
    let ws_url = url::Url::parse(&format!("{}/staff/visits/{visit}/ws", app.base)).unwrap();
    let doctor_cookie = jar.cookies(&ws_url).unwrap().to_str().unwrap().to_string();
    let patient_ws = crate::live::connect(app, &format!("{link}/ws"), "x=y").await;
    let dp = doctor.get(&format!("/staff/visits/{visit}")).await;
    assert_eq!(dp.status, 200, "{}", dp.body);
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let doctor_ws =
        crate::live::connect(app, &format!("/staff/visits/{visit}/ws"), &doctor_cookie).await;
    (doctor_ws, patient_ws)
}
