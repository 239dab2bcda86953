//! The SFU's run loop: one UDP socket, the peers and rooms of this node, forwarding.
//!
//! Everything here runs on the SFU thread and owns its state without locks. The loop waits
//! for a datagram, a command from the web layer, or the earliest str0m timeout (a heap of
//! deadlines, so a wake-up touches only the peers that are due, not every peer on the node).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive, TcpType, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc, Vp8Descriptor};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::layers::{Chooser, NEEDS, Offer, RIDS, allocate};
use crate::rewrite::{InPacket, Rewriter};
use crate::route::{PeerKey, Routes};
use crate::tcp::TcpEvent;
use crate::udp::Udp;
use crate::{Closed, Joined, MediaError, PeerInfo, SLOTS, SfuStats, Signal, Tile};

/// A request from the web layer.
#[derive(Debug)]
pub(crate) enum Command {
    Join {
        room: i64,
        info: PeerInfo,
        offer: String,
        reply: oneshot::Sender<Result<Joined, MediaError>>,
    },
    Offer {
        peer: u64,
        offer: String,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    Media {
        peer: u64,
        audio: bool,
        video: bool,
    },
    Leave {
        peer: u64,
    },
    Remove {
        room: i64,
        key: String,
    },
    CloseRoom {
        room: i64,
    },
    Stats {
        reply: oneshot::Sender<SfuStats>,
    },
}

/// A layer is "being sent" if a packet of it arrived this recently.
const LAYER_FRESH: Duration = Duration::from_millis(1500);
/// At most one keyframe request per publisher layer in this interval.
const KEYFRAME_EVERY: Duration = Duration::from_millis(400);
/// How often every subscriber's layers are re-chosen from its estimate (three in a row with
/// headroom upgrade: 1.5 s of sustained room).
const LAYER_EVERY: Duration = Duration::from_millis(500);
/// How often a subscriber below the top layers asks for a bandwidth probe.
const PROBE_EVERY: Duration = Duration::from_secs(3);
/// A subscriber that received no video this long has an estimate without evidence.
const VIDEO_IDLE: Duration = Duration::from_secs(2);
/// How often held-back keyframe requests are looked at.
const KEYFRAME_TICK: Duration = Duration::from_millis(50);
/// Timeouts already due that one poll of a peer feeds back at once (see [`drain`]).
const POLL_ROUNDS: u32 = 64;
/// How far ahead a timeout str0m asks for may lie and still be run in the same pass (see
/// [`drain`]).
const SAME_PASS: Duration = Duration::from_micros(50);
/// How often the loudest speaker is chosen.
const SPEAKER_EVERY: Duration = Duration::from_millis(300);
/// Louder than this (dBov, 0 is loudest) counts as speaking.
const SPEAKING_DBOV: i8 = -50;
/// Bytes a forwarded packet costs on the wire besides its payload: IPv4, UDP, the RTP header
/// with its extensions, the SRTP tag.
const PACKET_OVERHEAD: u64 = 20 + 8 + 12 + 16 + 10;
/// Bandwidth assumed for one Opus stream when sharing the estimate out.
const AUDIO_BPS: u64 = 48_000;
/// What the BWE starts from before the first estimate.
const INITIAL_BPS: u64 = 1_000_000;

/// The share of an estimate given out, percent. A tenth stays free: an estimate sits a little
/// above what a full link carries, and a video lifted into that edge falls back within a
/// second, costing a keyframe each way.
const USABLE_PCT: u64 = 90;

/// What may be spent of an estimate.
fn usable(estimate: u64) -> u64 {
    estimate * USABLE_PCT / 100
}

/// The estimate that lets `spend` be spent: what str0m is asked to probe for (it probes no
/// higher than the desired rate).
fn desired(spend: u64) -> u64 {
    spend * 100 / USABLE_PCT
}

/// The rate str0m is asked to probe up to for a subscriber of these videos: every one at its
/// top layer (at least twice the top floor, as Chromium's top layer can be), with its audio
/// and the free tenth.
fn probe_to(offers: &[Offer]) -> u64 {
    desired(
        offers
            .iter()
            .map(|o| AUDIO_BPS + o.cost(2).max(NEEDS[2] * 2))
            .sum(),
    )
}

/// A codec, and whether it comes wrapped in RED.
type Format = (Codec, bool);

struct Slot {
    audio_mid: Mid,
    video_mid: Mid,
    source: Option<PeerKey>,
    audio: Rewriter,
    video: Rewriter,
    chooser: Chooser,
}

struct Peer {
    room: i64,
    info: PeerInfo,
    rtc: Rtc,
    signals: mpsc::UnboundedSender<Signal>,
    ufrag: String,
    audio_on: bool,
    video_on: bool,
    // As a publisher.
    pub_video: Option<Mid>,
    simulcast: bool,
    ssrcs: HashMap<Ssrc, (MediaKind, usize)>,
    layer_seen: [Option<Instant>; 3],
    /// Bytes of each layer since `rated_at`, and each layer's rate, bits/s (measured each
    /// `LAYER_EVERY`, smoothed): what receiving it costs a subscriber.
    layer_bytes: [u64; 3],
    layer_bps: [u64; 3],
    rated_at: Instant,
    keyframe_asked: [Option<Instant>; 3],
    loudest: i8,
    // As a subscriber.
    recv_audio: Vec<Mid>,
    recv_video: Vec<Mid>,
    slots: Vec<Slot>,
    bwe: u64,
    timeout: Option<Instant>,
    /// The tiles last sent (only changes are sent).
    sent_tiles: Option<Vec<Tile>>,
    /// The bitrate wish last given to str0m's BWE.
    bitrate_wish: (u64, u64),
    /// Keyframe requests held back by the per-layer throttle, to send when it allows.
    keyframe_due: [bool; 3],
    /// When video was last written to this subscriber.
    video_out_at: Option<Instant>,
    /// When a bandwidth probe was last asked for.
    probed_at: Option<Instant>,
    /// In the engine's `touched` list.
    touched: bool,
}

impl Peer {
    fn available(&self, now: Instant) -> [bool; 3] {
        let mut a = [false; 3];
        for (i, seen) in self.layer_seen.iter().enumerate() {
            a[i] = seen.is_some_and(|t| now.saturating_duration_since(t) < LAYER_FRESH);
        }
        a
    }

    /// This publisher's video as a subscriber could receive it now.
    fn offer(&self, now: Instant) -> Offer {
        Offer {
            available: self.available(now),
            rates: self.layer_bps,
        }
    }

    /// Turns the bytes counted since the last time into each layer's rate (a layer that sent
    /// nothing keeps its last rate: it is not available then anyway).
    fn rate_layers(&mut self, now: Instant) {
        let span = now.saturating_duration_since(self.rated_at);
        if span < LAYER_EVERY / 2 {
            return;
        }
        self.rated_at = now;
        for (bytes, bps) in self.layer_bytes.iter_mut().zip(self.layer_bps.iter_mut()) {
            if *bytes == 0 {
                continue;
            }
            let measured = (*bytes * 8 * 1_000_000 / span.as_micros().max(1) as u64).max(1);
            // Half the old, half the new: a keyframe's burst lifts it for a moment, no more.
            *bps = if *bps == 0 {
                measured
            } else {
                (*bps + measured) / 2
            };
            *bytes = 0;
        }
    }

    /// Whose video matters most to a subscriber: the speaker, then the doctor, the patient,
    /// staff, guests.
    fn rank(&self, speaker: bool) -> u8 {
        if speaker {
            return 0;
        }
        match self.info.role.as_str() {
            "doctor" => 1,
            "patient" => 2,
            "staff" => 3,
            _ => 4,
        }
    }

    /// This connection's payload type for a format (numbers may differ between browsers).
    /// The payload type to send a format with, and whether RED must be unwrapped first:
    /// RED was published, but this peer's browser did not offer it (str0m then has no RED
    /// payload type for it).
    fn pt_for(&self, (codec, red): Format) -> Option<(str0m::media::Pt, bool)> {
        let p = self
            .rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == codec)?;
        match p.red() {
            Some(r) if red => Some((r, false)),
            _ => Some((p.pt(), red)),
        }
    }

    /// The format of an incoming payload type: a codec, or Opus wrapped in RED (RFC 2198),
    /// which Chromium sends when it was negotiated; the SFU forwards it as it is to peers that
    /// negotiated RED and unwraps it for the others (`red.rs`).
    fn format_of(&self, pt: str0m::media::Pt) -> Option<Format> {
        self.rtc.codec_config().iter().find_map(|p| {
            if p.pt() == pt {
                Some((p.spec().codec, false))
            } else if p.red() == Some(pt) {
                Some((p.spec().codec, true))
            } else {
                None
            }
        })
    }

    fn tiles(&self, peers: &HashMap<PeerKey, Peer>) -> Vec<Tile> {
        self.slots
            .iter()
            .filter_map(|s| {
                let src = peers.get(&s.source?)?;
                let layer = s.chooser.current();
                Some(Tile {
                    key: src.info.key.clone(),
                    name: src.info.name.clone(),
                    role: src.info.role.clone(),
                    audio_mid: s.audio_mid.to_string(),
                    video_mid: s.video_mid.to_string(),
                    audio: src.audio_on,
                    video: src.video_on,
                    paused: layer.is_none() && s.chooser.decided() && src.video_on,
                    layer: layer.map(|l| RIDS[l]),
                })
            })
            .collect()
    }
}

/// A room's members: the doctor and [`SLOTS`] others at most. Held inline, so that taking a
/// copy to walk while peers change (once per forwarded packet) allocates nothing.
type Members = ArrayVec<PeerKey, { SLOTS + 1 }>;

#[derive(Default)]
struct Room {
    peers: Members,
    speaker: Option<PeerKey>,
}

struct Engine {
    socket: UdpSocket,
    /// The socket's batches in and out (`udp.rs`).
    udp: Udp,
    addr: SocketAddr,
    peers: HashMap<PeerKey, Peer>,
    rooms: HashMap<i64, Room>,
    routes: Routes,
    deadlines: BinaryHeap<Reverse<(Instant, PeerKey)>>,
    events: VecDeque<(PeerKey, Event)>,
    next_id: PeerKey,
    stats: SfuStats,
    last_speaker_tick: Instant,
    last_keyframe_tick: Instant,
    last_layer_tick: Instant,
    /// Peers whose connection died, seen while polling (removed after the events).
    dead: Vec<PeerKey>,
    /// Peers given packets to send in this batch.
    touched: Vec<PeerKey>,
    /// Whether a passive ICE-TCP candidate is offered.
    ice_tcp: bool,
    /// Open ICE-TCP connections, by remote address: where their frames are written.
    tcp_out: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>,
}

pub(crate) async fn run(
    socket: std::net::UdpSocket,
    tcp: Option<std::net::TcpListener>,
    addr: SocketAddr,
    batching: bool,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let socket = match UdpSocket::from_std(socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the SFU socket could not be registered");
            return;
        }
    };
    let (tcp_tx, mut tcp_rx) = mpsc::unbounded_channel();
    let tcp = tcp.and_then(|l| tokio::net::TcpListener::from_std(l).ok());
    let ice_tcp = tcp.is_some();
    if let Some(listener) = tcp {
        tokio::spawn(crate::tcp::accept(listener, tcp_tx));
    }
    let udp = Udp::new(&socket, batching);
    let mut e = Engine {
        socket,
        udp,
        addr,
        peers: HashMap::new(),
        rooms: HashMap::new(),
        routes: Routes::default(),
        deadlines: BinaryHeap::new(),
        events: VecDeque::new(),
        next_id: 1,
        stats: SfuStats::default(),
        last_speaker_tick: Instant::now(),
        last_keyframe_tick: Instant::now(),
        last_layer_tick: Instant::now(),
        dead: Vec::new(),
        touched: Vec::new(),
        ice_tcp,
        tcp_out: HashMap::new(),
    };
    let mut inbox = e.udp.inbox();
    loop {
        let next = e
            .deadlines
            .peek()
            .map(|Reverse((t, _))| *t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            biased;
            cmd = rx.recv() => match cmd {
                Some(c) => e.command(c),
                None => break,
            },
            Some(ev) = tcp_rx.recv() => match ev {
                TcpEvent::Open(remote, tx) => { e.tcp_out.insert(remote, tx); }
                TcpEvent::Frame(remote, frame) => {
                    e.packet(Protocol::Tcp, remote, &frame);
                    e.drain_events(Instant::now());
                }
                TcpEvent::Closed(remote) => { e.tcp_out.remove(&remote); }
            },
            ready = e.socket.readable() => {
                // What is queued (a batch of up to 32 datagrams), all taken in before any of
                // it is forwarded.
                if ready.is_ok() && e.udp.recv(&e.socket, &mut inbox).is_ok() {
                    for (source, datagram) in inbox.datagrams() {
                        e.packet(Protocol::Udp, source, datagram);
                    }
                    e.drain_events(Instant::now());
                }
            },
            _ = tokio::time::sleep_until(next.into()) => {},
        }
        e.due(Instant::now());
        e.tick(Instant::now());
    }
}

impl Engine {
    fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Join {
                room,
                info,
                offer,
                reply,
            } => {
                let r = self.join(room, info, &offer, now);
                let _ = reply.send(r);
            }
            Command::Offer { peer, offer, reply } => {
                let r = self.reoffer(peer, &offer, now);
                let _ = reply.send(r);
            }
            Command::Media { peer, audio, video } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.audio_on = audio;
                    p.video_on = video;
                    let room = p.room;
                    self.send_tiles(room);
                }
            }
            Command::Leave { peer } => self.remove_peer(peer, None),
            Command::Remove { room, key } => {
                let found = self.rooms.get(&room).and_then(|r| {
                    r.peers
                        .iter()
                        .copied()
                        .find(|id| self.peers.get(id).is_some_and(|p| p.info.key == key))
                });
                if let Some(id) = found {
                    self.remove_peer(id, Some(Closed::Removed));
                }
            }
            Command::CloseRoom { room } => {
                let ids = self.rooms.get(&room).map(|r| r.peers.clone());
                for id in ids.unwrap_or_default() {
                    self.remove_peer(id, Some(Closed::Removed));
                }
            }
            Command::Stats { reply } => {
                let mut s = self.stats;
                s.udp_datagrams = self.udp.datagrams;
                s.udp_sends = self.udp.sends;
                s.udp_received = self.udp.received;
                s.udp_receives = self.udp.receives;
                s.peers = self.peers.len();
                s.rooms = self.rooms.len();
                let _ = reply.send(s);
            }
        }
    }

    fn join(
        &mut self,
        room: i64,
        info: PeerInfo,
        offer: &str,
        now: Instant,
    ) -> Result<Joined, MediaError> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| MediaError::BadOffer(e.to_string()))?;
        // A reloaded page (or a second tab) of the same participant replaces the first.
        let same = self.rooms.get(&room).and_then(|r| {
            r.peers
                .iter()
                .copied()
                .find(|id| self.peers.get(id).is_some_and(|p| p.info.key == info.key))
        });
        if let Some(old) = same {
            self.remove_peer(old, Some(Closed::Replaced));
        }
        if self.rooms.get(&room).is_some_and(|r| r.peers.is_full()) {
            return Err(MediaError::RoomFull);
        }
        let mut rtc = new_rtc(now);
        let cand =
            Candidate::host(self.addr, "udp").map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.add_local_candidate(cand);
        if self.ice_tcp
            && let Ok(c) = Candidate::builder()
                .tcp()
                .host(self.addr)
                .tcptype(TcpType::Passive)
                .build()
        {
            rtc.add_local_candidate(c);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        let id = self.next_id;
        self.next_id += 1;
        self.routes.set_ufrag(&ufrag, id);
        let (tx, rx) = mpsc::unbounded_channel();
        self.peers.insert(
            id,
            Peer {
                room,
                info,
                rtc,
                signals: tx,
                ufrag,
                audio_on: true,
                video_on: true,
                pub_video: None,
                simulcast: false,
                ssrcs: HashMap::new(),
                layer_seen: [None; 3],
                layer_bytes: [0; 3],
                layer_bps: [0; 3],
                rated_at: now,
                keyframe_asked: [None; 3],
                loudest: -127,
                recv_audio: Vec::new(),
                recv_video: Vec::new(),
                slots: Vec::new(),
                bwe: 0,
                timeout: None,
                sent_tiles: None,
                bitrate_wish: (0, 0),
                keyframe_due: [false; 3],
                video_out_at: None,
                probed_at: None,
                touched: false,
            },
        );
        if self
            .rooms
            .entry(room)
            .or_default()
            .peers
            .try_push(id)
            .is_err()
        {
            // Checked above; kept so a full room can never hold a half-joined peer.
            self.peers.remove(&id);
            self.routes.remove_peer(id);
            return Err(MediaError::RoomFull);
        }
        self.poll(id);
        self.drain_events(now);
        self.assign(room, now);
        Ok(Joined {
            peer: id,
            answer: answer.to_sdp_string(),
            signals: rx,
        })
    }

    fn reoffer(&mut self, id: PeerKey, offer: &str, now: Instant) -> Result<String, MediaError> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let p = self.peers.get_mut(&id).ok_or(MediaError::NoPeer)?;
        let answer = p
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let ufrag = p.rtc.direct_api().local_ice_credentials().ufrag;
        if ufrag != p.ufrag {
            self.routes.forget_ufrag(&p.ufrag);
            self.routes.set_ufrag(&ufrag, id);
            p.ufrag = ufrag;
        }
        let room = p.room;
        self.poll(id);
        self.drain_events(now);
        self.assign(room, now);
        Ok(answer.to_sdp_string())
    }

    /// Takes a peer out of its room; `why`, when given, is told to its page.
    fn remove_peer(&mut self, id: PeerKey, why: Option<Closed>) {
        let Some(mut p) = self.peers.remove(&id) else {
            return;
        };
        if let Some(why) = why {
            let _ = p.signals.send(Signal::Closed(why));
        }
        p.rtc.disconnect();
        self.routes.remove_peer(id);
        let room = p.room;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.peers.retain(|x| *x != id);
            if r.speaker == Some(id) {
                r.speaker = None;
            }
            if r.peers.is_empty() {
                self.rooms.remove(&room);
                return;
            }
        }
        self.assign(room, Instant::now());
    }

    /// Gives every pair of peers in a room a slot in each other's connection, frees the slots
    /// of those who left, asks publishers for keyframes for new subscribers, and tells everyone.
    fn assign(&mut self, room: i64, now: Instant) {
        let Some(ids) = self.rooms.get(&room).map(|r| r.peers.clone()) else {
            return;
        };
        let mut keyframes = Vec::new();
        for &sid in &ids {
            let Some(s) = self.peers.get_mut(&sid) else {
                continue;
            };
            // Pair the receive-only mids into slots as they become known.
            while s.slots.len() < s.recv_audio.len().min(s.recv_video.len()) {
                let i = s.slots.len();
                s.slots.push(Slot {
                    audio_mid: s.recv_audio[i],
                    video_mid: s.recv_video[i],
                    source: None,
                    audio: Rewriter::new(48_000),
                    video: Rewriter::new(90_000),
                    chooser: Chooser::default(),
                });
                // Forwarded video arrives paced by its publisher and sized by the layer
                // choice: pacing it again would only add delay (and wake-ups).
                if let Some(tx) = s.rtc.direct_api().stream_tx_by_mid(s.recv_video[i], None) {
                    tx.set_unpaced(true);
                }
            }
            for slot in &mut s.slots {
                if slot.source.is_some_and(|src| !ids.contains(&src)) {
                    slot.source = None;
                    slot.audio.release();
                    slot.video.release();
                }
            }
            for &pid in &ids {
                if pid == sid || s.slots.iter().any(|sl| sl.source == Some(pid)) {
                    continue;
                }
                if let Some(slot) = s.slots.iter_mut().find(|sl| sl.source.is_none()) {
                    slot.source = Some(pid);
                    slot.chooser = Chooser::default();
                    keyframes.push(pid);
                }
            }
            let videos = s.slots.iter().filter(|sl| sl.source.is_some()).count() as u64;
            if videos > 0 {
                // Probe for room to receive everyone's top layer.
                // Nothing measured yet for new slots: each video at its floors.
                let wish = (
                    videos * (NEEDS[0] + AUDIO_BPS),
                    probe_to(&vec![Offer::default(); videos as usize]),
                );
                if s.bitrate_wish != wish {
                    s.bitrate_wish = wish;
                    s.rtc
                        .bwe()
                        .set_bitrate(Bitrate::bps(wish.0), Bitrate::bps(wish.1));
                }
            }
        }
        // New slots take a layer at once from the estimate known now (or the initial one).
        for sid in ids.clone() {
            self.relayer(sid, now, true);
        }
        for pid in keyframes {
            for layer in 0..3 {
                self.ask_keyframe(pid, layer, now);
            }
        }
        self.send_tiles(room);
        for id in ids {
            self.poll(id);
        }
    }

    fn send_tiles(&mut self, room: i64) {
        let Some(ids) = self.rooms.get(&room).map(|r| r.peers.clone()) else {
            return;
        };
        for id in ids {
            self.send_tiles_to(id);
        }
    }

    /// Tells one connection its tiles, when they changed since it was last told.
    fn send_tiles_to(&mut self, id: PeerKey) {
        let Some(tiles) = self.peers.get(&id).map(|p| p.tiles(&self.peers)) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.sent_tiles.as_ref() != Some(&tiles) {
            p.sent_tiles = Some(tiles.clone());
            let _ = p.signals.send(Signal::Tiles(tiles));
        }
    }

    /// One packet from the network: a UDP datagram, or a frame of an ICE-TCP connection.
    fn packet(&mut self, proto: Protocol, source: SocketAddr, buf: &[u8]) {
        let Some(id) = self.routes.lookup(source, buf) else {
            self.stats.unrouted += 1;
            return;
        };
        let Ok(contents) = buf.try_into() else {
            return;
        };
        let now = Instant::now();
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination: self.addr,
                contents,
            },
        );
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if let Err(e) = p.rtc.handle_input(input) {
            tracing::debug!(peer = id, error = %e, "a datagram was refused");
        }
        // Its events (the packets to forward) are handled after the batch of datagrams.
        self.poll(id);
    }

    /// Feeds str0m's timeouts to the peers that are due.
    fn due(&mut self, now: Instant) {
        while let Some(Reverse((t, id))) = self.deadlines.peek().copied() {
            if t > now {
                break;
            }
            self.deadlines.pop();
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            if p.timeout != Some(t) {
                continue; // superseded by a later deadline
            }
            p.timeout = None;
            if p.rtc.handle_input(Input::Timeout(now)).is_err() {
                p.rtc.disconnect();
            }
            self.poll(id);
        }
        self.drain_events(now);
    }

    /// Sends what a peer has to send and queues its events, until str0m asks for a timeout.
    fn poll(&mut self, id: PeerKey) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let (udp, socket, tcp_out, events) =
            (&mut self.udp, &self.socket, &self.tcp_out, &mut self.events);
        let next = drain(
            &mut p.rtc,
            |t| {
                if t.proto == Protocol::Tcp {
                    if let Some(conn) = tcp_out.get(&t.destination) {
                        let _ = conn.send(t.contents.to_vec());
                    }
                } else {
                    udp.push(socket, t.destination, &t.contents);
                }
            },
            |ev| events.push_back((id, ev)),
        );
        match next {
            Ok(t) => {
                if p.timeout != Some(t) {
                    p.timeout = Some(t);
                    self.deadlines.push(Reverse((t, id)));
                }
            }
            Err(e) => {
                if let Some(e) = e {
                    tracing::info!(peer = id, error = %e, "a connection failed");
                }
                self.dead.push(id);
            }
        }
        self.udp.flush(&self.socket);
    }

    /// Handles queued events, then sends what they made the touched peers want to send
    /// (each touched peer is polled once per batch, not once per forwarded packet), until
    /// nothing is left.
    fn drain_events(&mut self, now: Instant) {
        loop {
            while let Some((id, ev)) = self.events.pop_front() {
                self.event(id, ev, now);
            }
            if self.touched.is_empty() {
                break;
            }
            while let Some(id) = self.touched.pop() {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.touched = false;
                }
                self.poll(id);
            }
        }
        // Only the peers seen dead while polling: no scan of the node per datagram.
        while let Some(id) = self.dead.pop() {
            self.remove_peer(id, Some(Closed::Failed));
        }
    }

    fn event(&mut self, id: PeerKey, ev: Event, now: Instant) {
        match ev {
            Event::MediaAdded(m) => {
                let Some(p) = self.peers.get_mut(&id) else {
                    return;
                };
                match (m.direction, m.kind) {
                    (Direction::RecvOnly, MediaKind::Video) => {
                        p.pub_video = Some(m.mid);
                        p.simulcast = m.simulcast.is_some();
                    }
                    (Direction::RecvOnly, MediaKind::Audio) => {}
                    (Direction::SendOnly, MediaKind::Audio) => p.recv_audio.push(m.mid),
                    (Direction::SendOnly, MediaKind::Video) => p.recv_video.push(m.mid),
                    _ => return,
                }
                // str0m reports the media once the connection is up: slots appear now.
                let room = p.room;
                if m.direction == Direction::SendOnly {
                    self.assign(room, now);
                }
            }
            Event::RtpPacket(pkt) => self.forward(id, pkt, now),
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate: b, .. }) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    // While no video went out (its sources were silent, say a publisher's
                    // network dropped), the estimator had no traffic to judge: a low estimate
                    // then is no evidence of congestion, and must not pause video on return.
                    // (Not when we paused it ourselves: then the low estimate is the reason.)
                    let paused_by_us = p.slots.iter().any(|sl| {
                        sl.source.is_some()
                            && sl.chooser.decided()
                            && sl.chooser.current().is_none()
                    });
                    let idle = !paused_by_us
                        && p.video_out_at
                            .is_none_or(|t| now.saturating_duration_since(t) > VIDEO_IDLE);
                    p.bwe = if idle {
                        b.as_u64().max(INITIAL_BPS)
                    } else {
                        b.as_u64()
                    };
                }
                self.relayer(id, now, false);
            }
            Event::KeyframeRequest(req) => {
                // The subscriber's decoder wants a keyframe of what its slot shows.
                let target = self.peers.get(&id).and_then(|p| {
                    p.slots
                        .iter()
                        .find(|s| s.video_mid == req.mid)
                        .and_then(|s| Some((s.source?, s.chooser.current()?)))
                });
                if let Some((src, layer)) = target {
                    self.ask_keyframe(src, layer, now);
                }
            }
            Event::StreamPaused(sp) => {
                if sp.paused
                    && let Some(p) = self.peers.get_mut(&id)
                {
                    let layer = layer_of(sp.rid);
                    p.layer_seen[layer] = None;
                }
            }
            _ => {}
        }
    }

    /// Recomputes the layer of each slot of subscriber `sid` from its estimate. With
    /// `undecided_only`, only slots without a first choice (new, or whose publisher had sent
    /// nothing yet) are decided: an extra pass must not count as an estimate for upgrades.
    fn relayer(&mut self, sid: PeerKey, now: Instant, undecided_only: bool) {
        let Some(s) = self.peers.get(&sid) else {
            return;
        };
        let bwe = if s.bwe == 0 { INITIAL_BPS } else { s.bwe };
        let speaker = self.rooms.get(&s.room).and_then(|r| r.speaker);
        // Every slot with a publisher, most important first: (slot, publisher, offer).
        let mut subs: Vec<(usize, PeerKey, Offer, u8)> = s
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, sl)| {
                let src = self.peers.get(&sl.source?)?;
                Some((
                    i,
                    sl.source?,
                    src.offer(now),
                    src.rank(sl.source == speaker),
                ))
            })
            .collect();
        subs.sort_by_key(|(i, _, _, rank)| (*rank, *i));
        let n = subs.len() as u64;
        if n == 0 || (undecided_only && subs.iter().all(|(i, ..)| s.slots[*i].chooser.decided())) {
            return;
        }
        let offers: Vec<Offer> = subs.iter().map(|(_, _, o, _)| *o).collect();
        let shares = allocate(usable(bwe).saturating_sub(n * AUDIO_BPS), &offers);
        let mut asks = Vec::new();
        let mut changed = false;
        let Some(s) = self.peers.get_mut(&sid) else {
            return;
        };
        for ((i, src, offer, _), share) in subs.iter().zip(shares) {
            let slot = &mut s.slots[*i];
            if undecided_only && slot.chooser.decided() {
                continue;
            }
            if let Some(new) = slot.chooser.update(share, offer.available) {
                changed = true;
                match new {
                    None => slot.video.release(),
                    Some(layer) => asks.push((*src, layer)),
                }
            }
        }
        if changed {
            // Keep traffic (padding) only for what flows now: a paused video must not be
            // padded for on a link that cannot carry it; probe towards the top layers.
            let flowing: u64 = subs
                .iter()
                .map(|(i, _, offer, _)| {
                    AUDIO_BPS + s.slots[*i].chooser.current().map_or(0, |l| offer.cost(l))
                })
                .sum();
            let wish = (flowing, probe_to(&offers));
            if s.bitrate_wish != wish {
                s.bitrate_wish = wish;
                s.rtc
                    .bwe()
                    .set_bitrate(Bitrate::bps(wish.0), Bitrate::bps(wish.1));
            }
        }
        for (src, layer) in asks {
            self.ask_keyframe(src, layer, now);
        }
        if changed {
            self.send_tiles_to(sid);
        }
    }

    /// A subscriber held below the top layers pads only for what flows, so its estimate
    /// would rise slowly when the link recovers: every few seconds, ask str0m for a probe
    /// (raising the desired rate is what triggers one).
    fn probe_if_starved(&mut self, id: PeerKey, now: Instant) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let starved = p.slots.iter().any(|sl| {
            sl.source.is_some() && sl.chooser.decided() && sl.chooser.current() != Some(2)
        });
        if !starved
            || p.probed_at
                .is_some_and(|t| now.saturating_duration_since(t) < PROBE_EVERY)
        {
            return;
        }
        p.probed_at = Some(now);
        // One bit/s more each time: only a raise asks str0m for a probe.
        let (min, desired) = p.bitrate_wish;
        p.bitrate_wish = (min, desired + 1);
        p.rtc
            .bwe()
            .set_bitrate(Bitrate::bps(min), Bitrate::bps(desired + 1));
    }

    fn ask_keyframe(&mut self, pid: PeerKey, layer: usize, now: Instant) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let Some(mid) = p.pub_video else {
            return;
        };
        if p.keyframe_asked[layer]
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_EVERY)
        {
            // Held back, not dropped: sent as soon as the throttle allows (see `tick`).
            p.keyframe_due[layer] = true;
            return;
        }
        let rid: Option<Rid> = p.simulcast.then(|| RIDS[layer].into());
        if !p.simulcast && layer > 0 {
            return;
        }
        let mut api = p.rtc.direct_api();
        // A paused layer has no receive stream: asking would fail (str0m #773), so skip it.
        if let Some(rx) = api.stream_rx_by_mid(mid, rid) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            p.keyframe_asked[layer] = Some(now);
            p.keyframe_due[layer] = false;
        }
    }

    /// Forwards one packet of publisher `pid` to every other peer of its room.
    fn forward(&mut self, pid: PeerKey, pkt: RtpPacket, now: Instant) {
        self.stats.packets_in += 1;
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let ssrc = pkt.header.ssrc;
        let (kind, layer) = match p.ssrcs.get(&ssrc) {
            Some(k) => *k,
            None => {
                let mut api = p.rtc.direct_api();
                let Some(rx) = api.stream_rx(&ssrc) else {
                    return;
                };
                let (mid, rid) = (rx.mid(), rx.rid());
                let Some(kind) = p.rtc.media(mid).map(|m| m.kind()) else {
                    return;
                };
                let k = (kind, layer_of(rid));
                p.ssrcs.insert(ssrc, k);
                k
            }
        };
        let Some(format) = p.format_of(pkt.header.payload_type) else {
            return;
        };
        let codec = format.0;
        let video = kind == MediaKind::Video;
        let mut newly_seen = false;
        if video {
            newly_seen =
                p.layer_seen[layer].is_none_or(|t| now.saturating_duration_since(t) >= LAYER_FRESH);
            p.layer_seen[layer] = Some(now);
            p.layer_bytes[layer] += pkt.payload.len() as u64 + PACKET_OVERHEAD;
        } else if let Some(level) = pkt.header.ext_vals.audio_level {
            p.loudest = p.loudest.max(level);
        }
        let room = p.room;
        let desc = if video && codec == Codec::Vp8 {
            Vp8Descriptor::parse(&pkt.payload).ok()
        } else {
            None
        };
        let keyframe = desc.is_some_and(|d| d.starts_keyframe(&pkt.payload));
        let inp = InPacket {
            ssrc: *ssrc,
            seq: *pkt.seq_no,
            ts: pkt.header.timestamp,
            at: now,
            pid: desc.and_then(|d| d.picture_id()),
            tl0: desc.and_then(|d| d.tl0_pic_idx()),
        };
        let exts = ExtensionValues {
            audio_level: pkt.header.ext_vals.audio_level,
            voice_activity: pkt.header.ext_vals.voice_activity,
            video_orientation: pkt.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let Some(ids) = self.rooms.get(&room).map(|r| r.peers.clone()) else {
            return;
        };
        if newly_seen {
            // A layer started arriving: slots still waiting for one decide now, not at their
            // subscriber's next estimate (seconds away when it receives only audio).
            for &sid in &ids {
                if sid != pid {
                    self.relayer(sid, now, true);
                }
            }
        }
        let mut want_keyframe = false;
        for sid in ids {
            if sid == pid {
                continue;
            }
            let Some(s) = self.peers.get_mut(&sid) else {
                continue;
            };
            let Some((pt, unwrap_red)) = s.pt_for(format) else {
                continue;
            };
            let Some(slot) = s.slots.iter_mut().find(|sl| sl.source == Some(pid)) else {
                continue;
            };
            let (mid, out) = if video {
                let Some(target) = slot.chooser.current() else {
                    continue;
                };
                if slot.video.source() == Some(*ssrc) {
                    (slot.video_mid, slot.video.map(&inp))
                } else if layer == target {
                    if keyframe {
                        slot.video.switch(&inp);
                        (slot.video_mid, slot.video.map(&inp))
                    } else {
                        // Keep showing the old layer until the new one's keyframe comes.
                        want_keyframe = true;
                        continue;
                    }
                } else {
                    continue;
                }
            } else {
                if slot.audio.source() != Some(*ssrc) {
                    slot.audio.switch(&inp);
                }
                (slot.audio_mid, slot.audio.map(&inp))
            };
            let Some(out) = out else {
                continue;
            };
            let payload = if unwrap_red {
                match crate::red::primary(&pkt.payload) {
                    Some((_, frame)) if !frame.is_empty() => std::sync::Arc::<[u8]>::from(frame),
                    _ => continue,
                }
            } else {
                pkt.payload.clone()
            };
            let mut w = RtpWrite::new(pt, out.seq.into(), out.ts, pkt.timestamp, payload)
                .marker(pkt.header.marker)
                .nackable(video)
                .ext_vals(exts.clone());
            if let Some(d) = desc {
                let mut b = d.patch();
                if let Some(v) = out.pid {
                    b = b.picture_id(v);
                }
                if let Some(v) = out.tl0 {
                    b = b.tl0_pic_idx(v);
                }
                if let Ok(patch) = b.build() {
                    w = w.vp8_patch(patch);
                }
            }
            if video {
                s.video_out_at = Some(now);
            }
            let mut api = s.rtc.direct_api();
            if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                tx.write_rtp(w);
                self.stats.packets_out += 1;
            }
            self.touch(sid);
        }
        if want_keyframe {
            self.ask_keyframe(pid, layer, now);
            self.touch(pid);
        }
    }

    /// Marks a peer as having something to send: it is polled once when the batch ends.
    fn touch(&mut self, id: PeerKey) {
        if let Some(p) = self.peers.get_mut(&id)
            && !p.touched
        {
            p.touched = true;
            self.touched.push(id);
        }
    }

    /// Periodic work: held-back keyframe requests, the loudest speaker of each room.
    fn tick(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_keyframe_tick) >= KEYFRAME_TICK {
            self.last_keyframe_tick = now;
            self.keyframes_due(now);
        }
        if now.saturating_duration_since(self.last_layer_tick) >= LAYER_EVERY {
            self.last_layer_tick = now;
            // str0m emits an estimate only when its 3-s average moves by 5 %: on a steady
            // link that can be never, so layers are re-chosen on a clock as well.
            for p in self.peers.values_mut() {
                p.rate_layers(now);
            }
            let ids: Vec<PeerKey> = self.peers.keys().copied().collect();
            for id in ids {
                self.relayer(id, now, false);
                self.probe_if_starved(id, now);
                self.poll(id);
            }
        }
        if now.saturating_duration_since(self.last_speaker_tick) < SPEAKER_EVERY {
            return;
        }
        self.speakers(now);
    }

    /// Sends the keyframe requests the throttle held back, once it allows them.
    fn keyframes_due(&mut self, now: Instant) {
        let due: Vec<(PeerKey, usize)> = self
            .peers
            .iter()
            .flat_map(|(id, p)| (0..3).filter(|l| p.keyframe_due[*l]).map(move |l| (*id, l)))
            .collect();
        for (id, layer) in due {
            self.ask_keyframe(id, layer, now);
            self.poll(id);
        }
    }

    /// Chooses each room's loudest speaker and tells the room when it changed.
    fn speakers(&mut self, now: Instant) {
        self.last_speaker_tick = now;
        let mut changes = Vec::new();
        for (room_id, room) in &mut self.rooms {
            let mut best: Option<(i8, PeerKey)> = None;
            for id in &room.peers {
                if let Some(p) = self.peers.get_mut(id) {
                    if p.audio_on
                        && p.loudest > SPEAKING_DBOV
                        && best.is_none_or(|(l, _)| p.loudest > l)
                    {
                        best = Some((p.loudest, *id));
                    }
                    p.loudest = -127;
                }
            }
            // Keep the last speaker through short pauses; change only to someone speaking.
            if let Some((_, id)) = best
                && room.speaker != Some(id)
            {
                room.speaker = Some(id);
                changes.push(*room_id);
            }
        }
        for room_id in changes {
            let Some(r) = self.rooms.get(&room_id) else {
                continue;
            };
            let key = r
                .speaker
                .and_then(|id| self.peers.get(&id))
                .map(|p| p.info.key.clone());
            for id in &r.peers {
                if let Some(p) = self.peers.get(id) {
                    let _ = p.signals.send(Signal::Speaker(key.clone()));
                }
            }
        }
    }
}

/// Runs one peer's str0m until it waits: what it transmits goes to `send`, its events to
/// `event`. Returns when str0m next wants to be woken, or why the connection is over (`None`:
/// it was closed).
///
/// str0m hands out one queued packet per round and then asks for a timeout at the last time
/// it was given plus 1 µs. Such rounds are run here at once (up to [`POLL_ROUNDS`]), so that a
/// frame's packets for one subscriber leave together, in one batch, and not one per pass of
/// the event loop: a deadline that near would otherwise wait for the runtime's next timer
/// tick (1 ms) per packet, which added 3 ms to the forwarding latency's p99. The timeout is
/// fed as `now`, or as what str0m asked for when that lies (at most [`SAME_PASS`]) ahead.
fn drain(
    rtc: &mut Rtc,
    mut send: impl FnMut(&Transmit),
    mut event: impl FnMut(Event),
) -> Result<Instant, Option<RtcError>> {
    let mut rounds = 0;
    loop {
        if !rtc.is_alive() {
            return Err(None);
        }
        match rtc.poll_output() {
            Ok(Output::Transmit(t)) => send(&t),
            Ok(Output::Timeout(t)) => {
                let now = Instant::now();
                if t <= now + SAME_PASS && rounds < POLL_ROUNDS {
                    rounds += 1;
                    if let Err(e) = rtc.handle_input(Input::Timeout(now.max(t))) {
                        rtc.disconnect();
                        return Err(Some(e));
                    }
                    continue;
                }
                // str0m closes itself while computing a timeout: that peer is done.
                if !rtc.is_alive() {
                    return Err(None);
                }
                return Ok(t);
            }
            Ok(Output::Event(ev)) => event(ev),
            Err(e) => {
                rtc.disconnect();
                return Err(Some(e));
            }
        }
    }
}

/// A peer's str0m, as the SFU runs every peer: RTP mode (the SFU forwards packets, never
/// frames), ICE-lite (it has a public address and never initiates), Opus with RED and VP8
/// only, and a bandwidth estimate to choose layers from.
fn new_rtc(now: Instant) -> Rtc {
    Rtc::builder()
        .set_rtp_mode(true)
        .set_ice_lite(true)
        .clear_codecs()
        .enable_opus(true, true)
        .enable_vp8(true)
        .enable_bwe(Some(Bitrate::bps(INITIAL_BPS)))
        .build(now)
}

/// The layer index of a rid (`q`, `h`, `f`); no rid (no simulcast) is layer 0.
fn layer_of(rid: Option<Rid>) -> usize {
    rid.and_then(|r| RIDS.iter().position(|x| **x == *r))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const SFU: &str = "10.0.0.1:5000";
    const CLIENT: &str = "10.0.0.2:6000";

    /// A datagram on its way: from, to, bytes.
    type Datagram = (SocketAddr, SocketAddr, Vec<u8>);

    fn copy(t: &Transmit) -> Datagram {
        (t.source, t.destination, t.contents.to_vec())
    }

    /// Hands every datagram one side sends to the other, as the network would, and runs the
    /// other after each (str0m's rule): what the other sent back, and its events.
    fn deliver(to: &mut Rtc, sent: Vec<Datagram>) -> (Vec<Datagram>, Vec<Event>) {
        let (mut back, mut events) = (Vec::new(), Vec::new());
        for (source, destination, bytes) in sent {
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination,
                    contents: (&bytes[..]).try_into().unwrap(),
                },
            );
            to.handle_input(input).unwrap();
            let _ = drain(to, |t| back.push(copy(t)), |e| events.push(e));
        }
        (back, events)
    }

    /// One side's turn: takes what reached it, runs, and sends what it has; whether it
    /// reported being connected.
    fn turn(rtc: &mut Rtc, inbox: &mut Vec<Datagram>, outbox: &mut Vec<Datagram>) -> bool {
        let (back, got) = deliver(rtc, std::mem::take(inbox));
        let (sent, ran) = run(rtc);
        outbox.extend(back);
        outbox.extend(sent);
        got.iter()
            .chain(&ran)
            .any(|e| matches!(e, Event::Connected))
    }

    /// Runs one side until it waits; what it sent, and its events.
    fn run(rtc: &mut Rtc) -> (Vec<Datagram>, Vec<Event>) {
        let (mut sent, mut events) = (Vec::new(), Vec::new());
        rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
        drain(rtc, |t| sent.push(copy(t)), |e| events.push(e)).unwrap();
        (sent, events)
    }

    /// A browser-like client receiving one video from the SFU's kind of peer, connected in
    /// memory (ICE and DTLS done); the SFU side's video mid.
    fn connected() -> (Rtc, Rtc, Mid) {
        let now = Instant::now();
        let mut client = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_vp8(true)
            .build(now);
        client.add_local_candidate(Candidate::host(CLIENT.parse().unwrap(), "udp").unwrap());
        let mut api = client.sdp_api();
        let mid = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let mut sfu = new_rtc(now);
        sfu.add_local_candidate(Candidate::host(SFU.parse().unwrap(), "udp").unwrap());
        let answer = sfu.sdp_api().accept_offer(offer).unwrap();
        client.sdp_api().accept_answer(pending, answer).unwrap();
        let (mut sfu_up, mut client_up) = (false, false);
        let (mut to_sfu, mut to_client) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            client_up |= turn(&mut client, &mut to_client, &mut to_sfu);
            sfu_up |= turn(&mut sfu, &mut to_sfu, &mut to_client);
            if sfu_up && client_up {
                return (sfu, client, mid);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the in-memory connection did not come up");
    }

    #[test]
    fn a_frame_written_for_a_subscriber_leaves_in_one_drain() {
        let (mut sfu, mut client, mid) = connected();
        // Whatever the handshake left to send goes first.
        let (sent, _) = run(&mut sfu);
        let _ = deliver(&mut client, sent);
        let _ = run(&mut client);
        let pt = sfu
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == Codec::Vp8)
            .map(|p| p.pt())
            .unwrap();
        let now = Instant::now();
        let mut api = sfu.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).unwrap();
        tx.set_unpaced(true);
        for i in 0..6u64 {
            let payload = vec![0x10u8; 1_000];
            tx.write_rtp(
                RtpWrite::new(pt, (500 + i).into(), 90_000, now, payload)
                    .marker(i == 5)
                    .nackable(true),
            );
        }
        // One drain, as one poll of the peer: no timeout fed from outside.
        let mut sent = Vec::new();
        drain(&mut sfu, |t| sent.push(copy(t)), |_| {}).unwrap();
        let seqs: Vec<u64> = deliver(&mut client, sent)
            .1
            .into_iter()
            .filter_map(|e| match e {
                Event::RtpPacket(p) => Some(*p.seq_no),
                _ => None,
            })
            .collect();
        assert_eq!(
            seqs,
            (500..506).collect::<Vec<u64>>(),
            "the whole frame, in order"
        );
    }
}
