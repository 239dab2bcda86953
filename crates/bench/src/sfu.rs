//! `tsunagu-bench sfu`: the SFU under synthetic calls, against a direct peer-to-peer link in
//! the same run (and, with `--janus URL`, against Janus's VideoRoom under the same load).
//!
//! Every participant is a str0m client on loopback sending pre-built VP8 (one 1.5 Mbps layer,
//! 30 frames/s, a keyframe every 2 s or when asked) and Opus (50 packets/s); everyone
//! receives everyone. Each payload carries its send time, so every received packet gives the
//! end-to-end latency. Reported per room size: the SFU thread's CPU per forwarded stream-second,
//! packets/s forwarded, latency p50/p99 and what the SFU adds over the direct link.
//!
//! On loopback the kernel delivers a datagram into its receiver's socket in the sender's
//! system call, and wakes the receiving thread there too: an SFU is charged for waking its
//! load clients, which no SFU pays on a real network (the far host's kernel does it). So each
//! configuration runs twice: with clients that block on their sockets ([`Wake::Datagram`],
//! the SFU pays for every wake-up) and with clients that look at their sockets every
//! millisecond ([`Wake::Poll`], nobody waits on the socket, nobody is woken by a send).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

/// Frames per second and bytes per frame: 30 × 6,250 B ≈ 1.5 Mbps.
const FPS: u64 = 30;
const FRAME_BYTES: usize = 6_250;
const PACKET_BYTES: usize = 1_050;
const AUDIO_BYTES: usize = 100;
const KEYFRAME_EVERY: u64 = 60;
/// Media before the measured window: every subscriber's bandwidth estimate climbs from 1 Mbps
/// to what all its videos need (the SFU pauses videos that do not fit it meanwhile).
pub const WARMUP: Duration = Duration::from_secs(6);
/// Where the send time sits in every payload (after the VP8 descriptor and header byte).
const STAMP_AT: usize = 8;

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn stamp_now() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// How a load client waits for its datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Blocked on its socket: each datagram sent to it wakes it, in the sender's system call.
    Datagram,
    /// Asleep on a timer and reading its socket every [`POLL_EVERY`]: a send wakes nobody.
    Poll,
}

/// How often a polling client reads its socket: up to this much is added to its latency.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// What all receivers saw during the measured window.
pub struct Tally {
    wake: Wake,
    recording: AtomicBool,
    latency_us: Mutex<Histogram<u64>>,
    video: AtomicU64,
    audio: AtomicU64,
}

impl Tally {
    pub fn new(wake: Wake) -> anyhow::Result<Arc<Tally>> {
        Ok(Arc::new(Tally {
            wake,
            recording: AtomicBool::new(false),
            latency_us: Mutex::new(Histogram::new_with_bounds(1, 10_000_000, 3)?),
            video: AtomicU64::new(0),
            audio: AtomicU64::new(0),
        }))
    }

    fn record(&self, video: bool, payload: &[u8], at: usize) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        if video {
            self.video.fetch_add(1, Ordering::Relaxed);
        } else {
            self.audio.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(b) = payload.get(at..at + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let sent = u64::from_le_bytes(a);
            let now = stamp_now();
            if now > sent
                && let Ok(mut h) = self.latency_us.lock()
            {
                let _ = h.record(((now - sent) / 1_000).max(1));
            }
        }
    }
}

/// One WebRTC connection of a load client.
pub struct Conn {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    send: Option<(Mid, Mid)>,
    pending: Option<SdpPendingOffer>,
}

impl Conn {
    /// An offering connection: send-only audio and video when `send`, then `pairs` pairs of
    /// receive-only audio and video (tsunagu's layout).
    pub fn offer(ip: IpAddr, send: bool, pairs: usize) -> anyhow::Result<(Conn, String)> {
        let (mut rtc, socket, local) = Self::base(ip)?;
        let mut api = rtc.sdp_api();
        let mut mids = None;
        if send {
            let a = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            let v = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
            mids = Some((a, v));
        }
        for _ in 0..pairs {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().ok_or_else(|| anyhow::anyhow!("no offer"))?;
        Ok((
            Conn {
                rtc,
                socket,
                local,
                send: mids,
                pending: Some(pending),
            },
            offer.to_sdp_string(),
        ))
    }

    /// An answering connection (a Janus subscriber, or the far end of the direct link).
    pub fn answer(ip: IpAddr, offer: &str) -> anyhow::Result<(Conn, String)> {
        let (mut rtc, socket, local) = Self::base(ip)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(offer)?)?;
        Ok((
            Conn {
                rtc,
                socket,
                local,
                send: None,
                pending: None,
            },
            answer.to_sdp_string(),
        ))
    }

    fn base(ip: IpAddr) -> anyhow::Result<(Rtc, UdpSocket, SocketAddr)> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok((rtc, socket, local))
    }

    /// Takes the remote answer to our offer.
    pub fn accept(&mut self, answer: &str) -> anyhow::Result<()> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| anyhow::anyhow!("no offer pending"))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(answer)?)?;
        Ok(())
    }

    fn pt(&self, codec: Codec) -> Option<Pt> {
        self.rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
    }

    /// Runs the connection on its own thread until `stop`.
    pub fn spawn(self, tally: Arc<Tally>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || self.run(&tally, &stop))
    }

    fn run(mut self, tally: &Tally, stop: &AtomicBool) {
        let opus = self.pt(Codec::Opus);
        let vp8 = self.pt(Codec::Vp8);
        let mut buf = vec![0u8; 2000];
        let mut connected = false;
        let (mut aseq, mut vseq, mut ats, mut frame) = (1u64, 1u64, 0u32, 0u64);
        let mut want_key = true;
        let mut next_audio = Instant::now();
        let mut next_video = Instant::now();
        let frame_gap = Duration::from_micros(1_000_000 / FPS);
        let polling = tally.wake == Wake::Poll;
        if polling && self.socket.set_nonblocking(true).is_err() {
            return;
        }
        while !stop.load(Ordering::Relaxed) && self.rtc.is_alive() {
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Event(e)) => match e {
                        Event::Connected => {
                            connected = true;
                            next_audio = Instant::now();
                            next_video = Instant::now();
                        }
                        Event::KeyframeRequest(_) => want_key = true,
                        Event::RtpPacket(p) => {
                            let video = p.payload.len() > AUDIO_BYTES;
                            tally.record(video, &p.payload, if video { STAMP_AT } else { 0 });
                        }
                        _ => {}
                    },
                    Err(_) => return,
                }
            };
            let now = Instant::now();
            if let (true, Some((amid, vmid)), Some(opus), Some(vp8)) =
                (connected, self.send, opus, vp8)
                && (next_audio <= now || next_video <= now)
            {
                if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                    return;
                }
                let mut api = self.rtc.direct_api();
                if next_audio <= now {
                    let mut payload = vec![0u8; AUDIO_BYTES];
                    payload[..8].copy_from_slice(&stamp_now().to_le_bytes());
                    if let Some(tx) = api.stream_tx_by_mid(amid, None) {
                        tx.write_rtp(RtpWrite::new(opus, aseq.into(), ats, now, payload));
                    }
                    aseq += 1;
                    ats = ats.wrapping_add(960);
                    next_audio = (next_audio + Duration::from_millis(20)).max(now);
                }
                if next_video <= now {
                    let key = want_key || frame.is_multiple_of(KEYFRAME_EVERY);
                    want_key = false;
                    let pid = (frame & 0x7fff) as u16;
                    let ts = (frame * 90_000 / FPS) as u32;
                    let n = FRAME_BYTES.div_ceil(PACKET_BYTES);
                    if let Some(tx) = api.stream_tx_by_mid(vmid, None) {
                        for i in 0..n {
                            let first = i == 0;
                            let mut payload = vec![0xabu8; PACKET_BYTES];
                            payload[0] = if first { 0x90 } else { 0x80 };
                            payload[1] = 0x80;
                            payload[2] = 0x80 | (pid >> 8) as u8;
                            payload[3] = pid as u8;
                            payload[4] = if key { 0x10 } else { 0x11 };
                            payload[STAMP_AT..STAMP_AT + 8]
                                .copy_from_slice(&stamp_now().to_le_bytes());
                            tx.write_rtp(
                                RtpWrite::new(vp8, vseq.into(), ts, now, payload)
                                    .marker(i + 1 == n)
                                    .nackable(true),
                            );
                            vseq += 1;
                        }
                    }
                    frame += 1;
                    next_video = (next_video + frame_gap).max(now);
                }
                continue;
            }
            let mut wake = timeout;
            if connected && self.send.is_some() {
                wake = wake.min(next_audio).min(next_video);
            }
            let wait = wake
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_micros(200), Duration::from_millis(50));
            if !polling {
                let _ = self.socket.set_read_timeout(Some(wait));
            }
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
                Err(_) => {
                    if polling {
                        // Nothing waiting: sleep on a timer, not on the socket.
                        std::thread::sleep(wait.min(POLL_EVERY));
                    }
                    Input::Timeout(Instant::now())
                }
            };
            if self.rtc.handle_input(input).is_err() {
                return;
            }
        }
    }
}

/// CPU seconds of a whole process (every thread).
pub fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(ticks(&stat))
}

/// CPU seconds (user + system) of this process's thread named `name`.
pub fn thread_cpu(name: &str) -> Option<f64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            return Some(ticks(&stat));
        }
    }
    None
}

fn ticks(stat: &str) -> f64 {
    // Fields after the command (which may hold spaces) close with ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stime: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (utime + stime) / 100.0
}

/// One measured configuration.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub cpu_s: f64,
    pub secs: f64,
    pub video_streams: u64,
    pub video_pps: f64,
    pub audio_pps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Measured {
    /// The share of the video packets the load sent for every stream that arrived.
    pub fn video_delivered(&self) -> f64 {
        let per_stream = (FPS as usize * FRAME_BYTES.div_ceil(PACKET_BYTES)) as f64;
        self.video_pps / (per_stream * self.video_streams.max(1) as f64)
    }

    /// CPU milliseconds per second per forwarded video stream (its audio included).
    pub fn cpu_ms_per_stream_s(&self) -> f64 {
        if self.video_streams == 0 {
            return 0.0;
        }
        self.cpu_s * 1000.0 / (self.secs * self.video_streams as f64)
    }

    /// CPU per packet delivered (video and audio), µs: fair where an SFU held some video back
    /// (tsunagu pauses a video a subscriber's estimate does not fit; Janus forwards all).
    pub fn cpu_us_per_packet(&self) -> f64 {
        let packets = (self.video_pps + self.audio_pps) * self.secs;
        if packets <= 0.0 {
            return 0.0;
        }
        self.cpu_s * 1e6 / packets
    }
}

/// Warms up, then measures `secs` with `cpu` read before and after.
pub fn measure(
    tally: &Tally,
    warmup: Duration,
    secs: u64,
    video_streams: u64,
    cpu: &dyn Fn() -> f64,
) -> Measured {
    std::thread::sleep(warmup);
    if let Ok(mut h) = tally.latency_us.lock() {
        h.reset();
    }
    tally.video.store(0, Ordering::Relaxed);
    tally.audio.store(0, Ordering::Relaxed);
    let c0 = cpu();
    let t0 = Instant::now();
    tally.recording.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(secs));
    tally.recording.store(false, Ordering::Relaxed);
    let el = t0.elapsed().as_secs_f64();
    let c1 = cpu();
    let (p50, p99) = tally
        .latency_us
        .lock()
        .map(|h| {
            (
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
            )
        })
        .unwrap_or((0.0, 0.0));
    Measured {
        cpu_s: c1 - c0,
        secs: el,
        video_streams,
        video_pps: tally.video.load(Ordering::Relaxed) as f64 / el,
        audio_pps: tally.audio.load(Ordering::Relaxed) as f64 / el,
        p50_ms: p50,
        p99_ms: p99,
    }
}

/// The direct link: one sender straight to one receiver, no SFU (the latency baseline).
pub fn direct(ip: IpAddr, secs: u64, wake: Wake) -> anyhow::Result<Measured> {
    let tally = Tally::new(wake)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (mut a, offer) = Conn::offer(ip, true, 0)?;
    let (b, answer) = Conn::answer(ip, &offer)?;
    a.accept(&answer)?;
    let h = [
        a.spawn(tally.clone(), stop.clone()),
        b.spawn(tally.clone(), stop.clone()),
    ];
    let m = measure(&tally, Duration::from_secs(2), secs, 1, &|| 0.0);
    stop.store(true, Ordering::Relaxed);
    for t in h {
        let _ = t.join();
    }
    Ok(m)
}

/// `rooms` rooms of `size` people on tsunagu's SFU, everyone receiving everyone.
/// Calls through tsunagu's SFU; `batching` false sends and receives one datagram per system
/// call (the baseline for the UDP batching).
pub async fn tsunagu(
    ip: IpAddr,
    size: usize,
    rooms: usize,
    secs: u64,
    batching: bool,
    wake: Wake,
) -> anyhow::Result<Measured> {
    let sfu = tsunagu_rtc::Sfu::start(tsunagu_rtc::SfuConfig {
        bind: SocketAddr::new(ip, 0),
        candidate_ip: ip,
        ice_tcp: false,
        udp_batching: batching,
    })?;
    let tally = Tally::new(wake)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut joined = Vec::new();
    for room in 0..rooms {
        for who in 0..size {
            let (mut c, offer) = Conn::offer(ip, true, tsunagu_rtc::SLOTS)?;
            let j = sfu
                .join(
                    room as i64,
                    tsunagu_rtc::PeerInfo {
                        key: format!("p{who}"),
                        name: String::new(),
                        role: "patient".into(),
                    },
                    &offer,
                )
                .await?;
            c.accept(&j.answer)?;
            threads.push(c.spawn(tally.clone(), stop.clone()));
            joined.push(j);
        }
    }
    let streams = (rooms * size * (size - 1)) as u64;
    let m = tokio::task::spawn_blocking(move || {
        measure(&tally, WARMUP, secs, streams, &|| {
            thread_cpu("tsunagu-sfu").unwrap_or(0.0)
        })
    })
    .await?;
    if let Ok(s) = sfu.stats().await {
        eprintln!(
            "  tsunagu {rooms}×{size}: out {} UDP datagrams in {} system calls ({:.2} each), \
             in {} in {} ({:.2} each)",
            s.udp_datagrams,
            s.udp_sends,
            s.udp_datagrams as f64 / s.udp_sends.max(1) as f64,
            s.udp_received,
            s.udp_receives,
            s.udp_received as f64 / s.udp_receives.max(1) as f64
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    drop(joined);
    drop(sfu);
    // Let the SFU thread see its handles gone before the next configuration.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(m)
}

/// Prints one line of the table.
pub fn line(label: &str, m: &Measured, base: &Measured) {
    println!(
        "{label:<22} {:>8.3} {:>7.1} {:>9.0} {:>7.0} {:>7.2} {:>7.2} {:>8.2}",
        m.cpu_ms_per_stream_s(),
        m.cpu_us_per_packet(),
        m.video_pps,
        m.audio_pps,
        m.p50_ms,
        m.p99_ms,
        m.p50_ms - base.p50_ms,
    );
}

/// Prints the table's head.
pub fn head() {
    println!(
        "{:<22} {:>8} {:>7} {:>9} {:>7} {:>7} {:>7} {:>8}",
        "configuration",
        "cpu ms/s",
        "µs/pkt",
        "video p/s",
        "aud p/s",
        "p50 ms",
        "p99 ms",
        "+p50 ms"
    );
}
