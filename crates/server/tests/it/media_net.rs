//! Media through the SFU over a bad network: the patient's client reaches the SFU through a
//! UDP relay the test controls (cut the path; limit the rate towards the client).
//!
//! * The path is cut for five seconds and restored (every second time with a new address,
//!   as after a move from Wi-Fi to 4G): the patient's client restarts ICE on the same room
//!   socket, as a browser would, and both sides see and hear each other again in the same
//!   visit, on the same tiles. The time from the restore to the first keyframe of the
//!   doctor's video at the patient is reported (`TSUNAGU_RECONNECT_TRIES` cycles, 3 unless
//!   set).
//! * The link towards the patient is narrowed and widened: the SFU moves the patient's view
//!   of the doctor down the simulcast layers, to audio only, and back up, from str0m's
//!   bandwidth estimate, and the audio never stops.
//! * A phone on 2 Mbps in a room of six: it hears all five others without a break and sees
//!   them all, the doctor at `h` and the rest at `q` or `h` (never `f`, never paused), while
//!   the others, on good links, keep seeing everyone.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::rtc_client::*;

/// The rate limiter's queue: this much time at the limited rate, at least two full packets
/// (tail drop beyond).
const QUEUE: Duration = Duration::from_millis(50);
const QUEUE_MIN_BYTES: u64 = 3_000;
/// IPv4 and UDP headers, counted against the rate.
const OVERHEAD: u64 = 28;

/// The relay's controls and counters.
#[derive(Debug, Default)]
struct RelayCtl {
    /// Drop everything, both ways.
    cut: AtomicBool,
    /// Towards the client, bits/s; 0 is no limit.
    limit_bps: AtomicU64,
    stop: AtomicBool,
    /// Which of the relay's SFU-facing sockets is the client's address now (a network
    /// change gives the client a new one; what reaches an old one is lost).
    active: AtomicUsize,
    /// Bytes delivered to the client (with `OVERHEAD`), datagrams dropped by the limiter's
    /// queue, by a cut, and at an address no longer in use.
    down_bytes: AtomicU64,
    down_dropped: AtomicU64,
    cut_dropped: AtomicU64,
    stale_dropped: AtomicU64,
}

/// A UDP relay between one client and the SFU: the client sends to `addr`; the relay talks
/// to the SFU from a socket of its own (the SFU answers whatever address its STUN came from).
struct Relay {
    addr: SocketAddr,
    ctl: Arc<RelayCtl>,
    /// The SFU-facing socket in use.
    back: Arc<Mutex<Arc<UdpSocket>>>,
    /// What the SFU sends, from every SFU-facing socket, to the rate limiter.
    down_tx: mpsc::Sender<(usize, Vec<u8>)>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Relay {
    fn start(sfu: SocketAddr) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        let ctl = Arc::new(RelayCtl::default());
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let first = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let back = Arc::new(Mutex::new(first.clone()));
        let (down_tx, down_rx) = mpsc::channel();
        let up = {
            let front = front.try_clone().unwrap();
            let (ctl, client, back) = (ctl.clone(), client.clone(), back.clone());
            std::thread::Builder::new()
                .name("relay-up".into())
                .spawn(move || {
                    front
                        .set_read_timeout(Some(Duration::from_millis(50)))
                        .unwrap();
                    let mut buf = vec![0u8; 2000];
                    while !ctl.stop.load(Ordering::Relaxed) {
                        let Ok((n, source)) = front.recv_from(&mut buf) else {
                            continue;
                        };
                        *client.lock().unwrap() = Some(source);
                        if ctl.cut.load(Ordering::Relaxed) {
                            ctl.cut_dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let out = back.lock().unwrap().clone();
                        let _ = out.send_to(&buf[..n], sfu);
                    }
                })
                .unwrap()
        };
        let down = {
            let ctl = ctl.clone();
            std::thread::Builder::new()
                .name("relay-down".into())
                .spawn(move || down_link(&front, &down_rx, &ctl, &client))
                .unwrap()
        };
        let relay = Relay {
            addr,
            ctl,
            back,
            down_tx,
            threads: Mutex::new(vec![up, down]),
        };
        relay.listen(first, 0);
        relay
    }

    /// Reads one SFU-facing socket into the limiter.
    fn listen(&self, socket: Arc<UdpSocket>, index: usize) {
        let (ctl, tx) = (self.ctl.clone(), self.down_tx.clone());
        let t = std::thread::Builder::new()
            .name(format!("relay-back-{index}"))
            .spawn(move || {
                socket
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let mut buf = vec![0u8; 2000];
                while !ctl.stop.load(Ordering::Relaxed) {
                    if let Ok((n, _)) = socket.recv_from(&mut buf) {
                        let _ = tx.send((index, buf[..n].to_vec()));
                    }
                }
            })
            .unwrap();
        self.threads.lock().unwrap().push(t);
    }

    fn cut(&self, cut: bool) {
        self.ctl.cut.store(cut, Ordering::Relaxed);
    }

    fn limit(&self, bps: u64) {
        self.ctl.limit_bps.store(bps, Ordering::Relaxed);
    }

    /// The client's network changed: from now on it reaches the SFU from a new address.
    fn rebind(&self) {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let index = self.ctl.active.load(Ordering::Relaxed) + 1;
        self.listen(socket.clone(), index);
        *self.back.lock().unwrap() = socket;
        self.ctl.active.store(index, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.ctl.stop.store(true, Ordering::Relaxed);
        for t in self.threads.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

/// SFU → client: straight through, or through a link of `limit_bps` (each datagram leaves
/// when the ones before it have been serialised; a full queue drops the newcomer).
fn down_link(
    front: &UdpSocket,
    from_sfu: &mpsc::Receiver<(usize, Vec<u8>)>,
    ctl: &RelayCtl,
    client: &Mutex<Option<SocketAddr>>,
) {
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut queued: u64 = 0;
    let mut link_free = Instant::now();
    let deliver = |data: &[u8]| {
        if let Some(to) = *client.lock().unwrap() {
            let _ = front.send_to(data, to);
            ctl.down_bytes
                .fetch_add(data.len() as u64 + OVERHEAD, Ordering::Relaxed);
        }
    };
    while !ctl.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = queue
            .front()
            .map_or(Duration::from_millis(20), |(t, _)| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_micros(200), Duration::from_millis(20));
        let got = match from_sfu.recv_timeout(wait) {
            Ok((index, d)) if index == ctl.active.load(Ordering::Relaxed) => Some(d),
            Ok(_) => {
                ctl.stale_dropped.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let now = Instant::now();
        let limit = ctl.limit_bps.load(Ordering::Relaxed);
        if ctl.cut.load(Ordering::Relaxed) {
            ctl.cut_dropped.fetch_add(
                queue.len() as u64 + u64::from(got.is_some()),
                Ordering::Relaxed,
            );
            queue.clear();
            queued = 0;
            continue;
        }
        if let Some(d) = got {
            if limit == 0 {
                for (_, d) in queue.drain(..) {
                    deliver(&d);
                }
                queued = 0;
                deliver(&d);
            } else {
                let size = d.len() as u64 + OVERHEAD;
                let cap = (limit * QUEUE.as_millis() as u64 / 8_000).max(QUEUE_MIN_BYTES);
                if queued + size > cap {
                    ctl.down_dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    let start = link_free.max(now);
                    link_free = start + Duration::from_nanos(size * 8 * 1_000_000_000 / limit);
                    queued += size;
                    queue.push_back((link_free, d));
                }
            }
        }
        let now = Instant::now();
        while let Some((t, _)) = queue.front() {
            if *t > now && limit != 0 {
                break;
            }
            let (_, d) = queue.pop_front().unwrap();
            queued -= d.len() as u64 + OVERHEAD;
            deliver(&d);
        }
    }
}

fn sfu_addr(app: &TestApp) -> SocketAddr {
    app.state
        .config
        .sfu
        .as_ref()
        .expect("the test app runs the SFU")
        .media_addr()
}

/// One cut and restore: whether the address changed, restore → first keyframe from the
/// doctor at the patient, restore → the patient's ICE connected.
type Cycle = (bool, Duration, Duration);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_whose_network_drops_for_five_seconds_restarts_ice_and_is_seen_and_heard_again() {
    init();
    let began = Instant::now();
    let tries: usize = std::env::var("TSUNAGU_RECONNECT_TRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let app = TestApp::spawn().await;
    let relay = Relay::start(sfu_addr(&app));
    let (doctor_ws, patient_ws) = started_call(&app, "再接続").await;
    // Both clients restart ICE when nothing arrives, as browsers; only the patient's path
    // goes down.
    let doc = join_with(
        "doctor",
        doctor_ws,
        JoinOpts {
            restart: true,
            ..Default::default()
        },
    )
    .await;
    let pat = join_with(
        "patient",
        patient_ws,
        JoinOpts {
            via: Some(relay.addr),
            restart: true,
            red: false,
        },
    )
    .await;
    wait_until(
        &app,
        "the doctor and the patient (through the relay) receive each other's audio and video",
        Duration::from_secs(5),
        &[&doc, &pat],
        || doc.hears("patient") && pat.hears("doctor"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let doctor_tile = pat.tile("doctor").unwrap();
    let patient_tile = doc.tile("patient").unwrap();
    assert!(doctor_tile.key.starts_with("doctor:"), "{doctor_tile:?}");
    assert_eq!(patient_tile.key, "patient");

    // (new address, restore → first doctor keyframe at the patient, restore → ICE back)
    let mut cycles: Vec<Cycle> = Vec::new();
    let mut doc_paused_cycles = 0;
    let doc_paused = |doc: &Peer| doc.tile_layer("patient").is_some_and(|(_, p)| p);
    for n in 1..=tries {
        // Every second cycle the network comes back with a new address (Wi-Fi to 4G): only
        // the ICE restart's checks teach the SFU where the patient is now.
        let moved = n % 2 == 0;
        let cut_at = Instant::now();
        relay.cut(true);
        tokio::time::sleep(Duration::from_secs(5)).await;
        // Nothing crossed the cut.
        assert!(
            !pat.from("doctor")
                .0
                .arrived_after(cut_at + Duration::from_millis(200)),
            "the relay's cut lets packets through"
        );
        if moved {
            relay.rebind();
        }
        let restored = Instant::now();
        relay.cut(false);
        eprintln!(
            "media: cycle {n}: cut at {:.2} s, restored at {:.2} s",
            (cut_at - began).as_secs_f64(),
            (restored - began).as_secs_f64()
        );
        let took = wait_until(
            &app,
            &format!(
                "cycle {n}/{tries} ({}): both see and hear each other again, ICE connected",
                if moved { "new address" } else { "same address" }
            ),
            Duration::from_secs(5),
            &[&doc, &pat],
            || {
                let (pa, pv) = pat.from("doctor");
                let (da, dv) = doc.from("patient");
                pa.arrived_after(restored)
                    && pv.key_after(restored).is_some()
                    && da.arrived_after(restored)
                    && (dv.key_after(restored).is_some() || doc_paused(&doc))
                    && pat.ice_ok()
            },
        )
        .await;
        let (pa, pv) = pat.from("doctor");
        let (da, dv) = doc.from("patient");
        // The SFU may pause the doctor's view of the patient for a while after the outage
        // (see the report): the page then shows "video paused", not a broken call.
        let back_key = dv.key_after(restored).map(|k| k - restored);
        if back_key.is_none() {
            eprintln!(
                "media: cycle {n}: the doctor's view of the patient is paused by the SFU: {:?}",
                doc.tile_layer("patient")
            );
            doc_paused_cycles += 1;
        }
        let key = pv.key_after(restored).unwrap() - restored;
        let ice = pat
            .ice_ok_after(restored)
            .map_or(Duration::ZERO, |t| t - restored);
        let restarts_in_cut = {
            let st = pat.shared.lock().unwrap();
            let started = st.started.unwrap();
            st.restarts
                .iter()
                .filter(|ms| started + Duration::from_millis(**ms as u64) >= cut_at)
                .count()
        };
        eprintln!(
            "media: cycle {n} ({}): the doctor's first keyframe at the patient {key:?} after \
             the restore, ICE connected after {ice:?}, all flows back within {took:?}; ICE \
             restarts since the cut {restarts_in_cut}; audio at the patient back after {:?}, \
             at the doctor after {:?}; the patient's video at the doctor: first packet after \
             {:?}, first keyframe after {:?}",
            if moved { "new address" } else { "same address" },
            pa.longest_break(cut_at, Instant::now())
                .saturating_sub(restored - cut_at),
            da.longest_break(cut_at, Instant::now())
                .saturating_sub(restored - cut_at),
            dv.gaps
                .last()
                .map(|(b, l)| (*b + *l).saturating_duration_since(restored)),
            back_key,
        );
        cycles.push((moved, key, ice));
        // The same visit, the same tiles, no new connection.
        assert_eq!(pat.tile("doctor").as_ref(), Some(&doctor_tile));
        assert_eq!(doc.tile("patient").as_ref(), Some(&patient_tile));
        assert_eq!(pat.signals("rtc.closed"), 0, "{}", pat.report());
        assert_eq!(doc.signals("rtc.closed"), 0, "{}", doc.report());
        assert!(key < Duration::from_secs(5), "cycle {n}: {key:?}");
        // Media flows a moment before the next cut.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let summary = report(&app, &[&doc, &pat]).await;
    let stats = |pick: &dyn Fn(&Cycle) -> Option<Duration>| {
        let mut v: Vec<Duration> = cycles.iter().filter_map(pick).collect();
        v.sort();
        if v.is_empty() {
            return "-".to_string();
        }
        format!(
            "p50 {:?}, max {:?} (n={})",
            percentile(&v, 0.5),
            v.last().unwrap(),
            v.len()
        )
    };
    eprintln!(
        "media: the doctor's view of the patient (s after the start; paused after {doc_paused_cycles} restores): {:?}\nthe patient's view of the doctor: {:?}",
        layer_timeline(&doc, "patient", began),
        layer_timeline(&pat, "doctor", began),
    );
    eprintln!(
        "media: reconnect over {tries} cycles, restore → first keyframe from the doctor at the \
         patient: all {}; same address {}; new address {}. Restore → patient ICE connected: \
         same address {}; new address {}\nrelay: {:?}\n{summary}",
        stats(&|c| Some(c.1)),
        stats(&|c| (!c.0).then_some(c.1)),
        stats(&|c| c.0.then_some(c.1)),
        stats(&|c| (!c.0).then_some(c.2)),
        stats(&|c| c.0.then_some(c.2)),
        relay.ctl,
    );
    for p in [&doc, &pat] {
        let st = p.shared.lock().unwrap();
        assert!(st.error.is_none(), "{}: {:?}\n{summary}", p.name, st.error);
        assert!(st.missing_tx.is_empty(), "{}: {:?}", p.name, st.missing_tx);
    }
    // Only the patient's path went down: the doctor never needed a restart.
    assert!(
        doc.shared.lock().unwrap().restarts.is_empty(),
        "the doctor restarted ICE\n{summary}"
    );
    assert!(pat.shared.lock().unwrap().restart_answers >= tries as u64);
    doc.stop();
    pat.stop();
    drop(relay);
    app.stop().await;
    eprintln!("media: the reconnect test took {:?}", began.elapsed());
}

/// The patient's view of the doctor now: (layer, paused).
fn view(pat: &Peer) -> (Option<String>, bool) {
    pat.tile_layer("doctor").unwrap_or((None, false))
}

/// One line a second about the patient's link: what the relay delivered, the doctor's audio
/// and video at the patient (packets, by layer), the tile.
struct Sampler {
    began: Instant,
    at: Instant,
    bytes: u64,
    dropped: u64,
    audio: u64,
    video: u64,
    layers: [u64; 3],
    late: u64,
    empty: u64,
    lines: Vec<String>,
}

impl Sampler {
    fn new(began: Instant) -> Sampler {
        Sampler {
            began,
            at: Instant::now(),
            bytes: 0,
            dropped: 0,
            audio: 0,
            video: 0,
            layers: [0; 3],
            late: 0,
            empty: 0,
            lines: Vec::new(),
        }
    }

    fn sample(&mut self, phase: &str, relay: &Relay, pat: &Peer) {
        if self.at.elapsed() < Duration::from_secs(1) {
            return;
        }
        let secs = self.at.elapsed().as_secs_f64();
        self.at = Instant::now();
        let bytes = relay.ctl.down_bytes.load(Ordering::Relaxed);
        let dropped = relay.ctl.down_dropped.load(Ordering::Relaxed);
        let (a, v) = pat.from("doctor");
        let layers: Vec<u64> = (0..3).map(|i| v.layers[i] - self.layers[i]).collect();
        let empty = pat.shared.lock().unwrap().empty;
        let line = format!(
            "{:6.1} s {phase}: delivered {:5.0} kbps, dropped {:4}; doctor's audio {:3} pkts, video {:4} pkts (q/h/f {:?}, {} late), padding {:3} pkts; tile {:?}",
            self.began.elapsed().as_secs_f64(),
            (bytes - self.bytes) as f64 * 8.0 / secs / 1000.0,
            dropped - self.dropped,
            a.packets - self.audio,
            v.packets - self.video,
            layers,
            v.late - self.late,
            empty - self.empty,
            view(pat),
        );
        eprintln!("media: {line}");
        self.lines.push(line);
        self.bytes = bytes;
        self.dropped = dropped;
        self.audio = a.packets;
        self.video = v.packets;
        self.layers = v.layers;
        self.late = v.late;
        self.empty = empty;
    }
}

/// Waits for `done` at most `within`, sampling the link every second; the time it took, or
/// `None`.
async fn phase(
    s: &mut Sampler,
    name: &str,
    within: Duration,
    relay: &Relay,
    pat: &Peer,
    done: impl Fn() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        s.sample(name, relay, pat);
        if done() {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The layer and paused flag of `peer`'s tile of `role` each time they changed, seconds
/// after `began`.
fn layer_timeline(peer: &Peer, role: &str, began: Instant) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = None;
    for (at, tiles) in peer.tiles_history.lock().unwrap().iter() {
        let Some(t) = tiles.iter().find(|t| t["role"] == role) else {
            continue;
        };
        let now = (t["layer"].clone(), t["paused"].clone());
        if last.as_ref() != Some(&now) {
            out.push(format!(
                "{:.2} s layer={} paused={}",
                at.saturating_duration_since(began).as_secs_f64(),
                now.0,
                now.1
            ));
            last = Some(now);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowing_link_moves_the_patient_down_the_doctors_layers_to_audio_only_and_back_up() {
    init();
    let began = Instant::now();
    let app = TestApp::spawn().await;
    let relay = Relay::start(sfu_addr(&app));
    let (doctor_ws, patient_ws) = started_call(&app, "帯域").await;
    let doc = join("doctor", doctor_ws).await;
    // The doctor publishes all three layers before the patient subscribes: the SFU decides
    // a new subscriber's layer from the layers that arrived in the last 1.5 s, and a layer
    // missed then is only reconsidered on later estimates (see the report).
    wait_until(
        &app,
        "the doctor publishes",
        Duration::from_secs(5),
        &[&doc],
        || doc.shared.lock().unwrap().video_sent >= 8 * 10,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pat = join_via("patient", patient_ws, relay.addr).await;
    let media_from = Instant::now();
    let mut s = Sampler::new(media_from);
    let mut outcome: Vec<String> = Vec::new();
    let fail = |what: &str, s: &Sampler, outcome: &[String]| -> String {
        format!(
            "{what}\nphases: {outcome:#?}\nper second: {:#?}\nlayer timeline: {:#?}\n{}\nrelay: {:?}",
            s.lines,
            layer_timeline(&pat, "doctor", media_from),
            pat.report(),
            relay.ctl,
        )
    };

    // A: no limit. The patient gets the doctor's top layer.
    let a = phase(&mut s, "A", Duration::from_secs(8), &relay, &pat, || {
        let (_, v) = pat.from("doctor");
        view(&pat).0.as_deref() == Some("f") && v.layers[2] >= 30
    })
    .await;
    outcome.push(format!(
        "A (no limit): layer f with 30 packets of f after {a:?}"
    ));
    assert!(
        a.is_some(),
        "{}",
        fail("A: the patient never got layer f", &s, &outcome)
    );

    // B: 300 kbps towards the patient. Down to q (or paused), audio throughout.
    let b_from = Instant::now();
    relay.limit(300_000);
    let b = phase(&mut s, "B", Duration::from_secs(10), &relay, &pat, || {
        let (layer, paused) = view(&pat);
        layer.as_deref() == Some("q") || paused
    })
    .await;
    outcome.push(format!("B (300 kbps): q or paused after {b:?}"));
    assert!(
        b.is_some(),
        "{}",
        fail(
            "B: the layer did not come down to q within 10 s",
            &s,
            &outcome
        )
    );
    // Hold a little: the view settles and the audio goes on.
    phase(&mut s, "B", Duration::from_secs(2), &relay, &pat, || false).await;
    let b_gap = pat.from("doctor").0.longest_break(b_from, Instant::now());
    outcome.push(format!("B: longest audio break {b_gap:?}"));

    // C: 60 kbps. Audio only.
    let c_from = Instant::now();
    relay.limit(60_000);
    let c = phase(&mut s, "C", Duration::from_secs(10), &relay, &pat, || {
        view(&pat).1
    })
    .await;
    outcome.push(format!("C (60 kbps): paused after {c:?}"));
    assert!(
        c.is_some(),
        "{}",
        fail("C: the video was not paused within 10 s", &s, &outcome)
    );
    let audio_at_pause = pat.from("doctor").0.packets;
    phase(&mut s, "C", Duration::from_secs(2), &relay, &pat, || false).await;
    let (c_audio, _) = pat.from("doctor");
    let c_gap = c_audio.longest_break(c_from, Instant::now());
    outcome.push(format!(
        "C: longest audio break {c_gap:?}; {} audio packets in the 2 s after the pause",
        c_audio.packets - audio_at_pause
    ));

    // D: no limit again. Back up to h or f.
    relay.limit(0);
    let d = phase(&mut s, "D", Duration::from_secs(15), &relay, &pat, || {
        matches!(view(&pat).0.as_deref(), Some("h" | "f"))
    })
    .await;
    outcome.push(format!("D (no limit): h or f after {d:?}"));
    let timeline = layer_timeline(&pat, "doctor", media_from);
    eprintln!(
        "media: layer switch phases {outcome:#?}\nlayer timeline (s after media began): {timeline:#?}\n{}\nrelay: {:?}",
        report(&app, &[&doc, &pat]).await,
        relay.ctl,
    );
    assert!(
        d.is_some(),
        "{}",
        fail("D: the layer did not climb back within 15 s", &s, &outcome)
    );
    for (phase, gap) in [("B", b_gap), ("C", c_gap)] {
        assert!(
            gap < Duration::from_secs(1),
            "{}",
            fail(&format!("{phase}: audio stopped for {gap:?}"), &s, &outcome)
        );
    }
    assert!(
        c_audio.packets - audio_at_pause >= 50,
        "{}",
        fail("C: too little audio while paused", &s, &outcome)
    );
    for p in [&doc, &pat] {
        let st = p.shared.lock().unwrap();
        assert!(st.error.is_none(), "{}: {:?}", p.name, st.error);
    }
    doc.stop();
    pat.stop();
    drop(relay);
    app.stop().await;
    eprintln!("media: the layer test took {:?}", began.elapsed());
}

/// The phone's downlink in the room of six.
const PHONE_BPS: u64 = 2_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_on_two_megabits_in_a_room_of_six_hears_everyone_and_sees_them_at_low_layers() {
    init();
    let began = Instant::now();
    let app = TestApp::spawn().await;
    let clerk = crate::setup::staff(&app, "clerk").await;
    let (visit, link) = url_call(&app, &clerk, "六人の通話").await;
    let mut guest_paths = Vec::new();
    for (name, role) in [
        ("山田 花子", "family"),
        ("通訳 リン", "interpreter"),
        ("専門医 佐藤", "specialist"),
        ("山田 次郎", "family"),
    ] {
        guest_paths.push(crate::visits::invite(&clerk, visit, name, role).await);
    }
    let gids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM visit_guests WHERE visit_id = $1 ORDER BY id")
            .bind(visit)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    let (doctor, jar) = doctor_browser(&app).await;
    let ws_url = url::Url::parse(&format!("{}/staff/visits/{visit}/ws", app.base)).unwrap();
    let doctor_cookie = {
        use reqwest::cookie::CookieStore;
        jar.cookies(&ws_url).unwrap().to_str().unwrap().to_string()
    };
    let patient_ws = crate::live::connect(&app, &format!("{link}/ws"), "x=y").await;
    let dp = doctor.get(&format!("/staff/visits/{visit}")).await;
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    for gid in &gids {
        admit(&doctor, &dp.csrf(), visit, *gid).await;
    }

    // The doctor and the four guests join on good links and publish their three layers.
    let doctor_ws =
        crate::live::connect(&app, &format!("/staff/visits/{visit}/ws"), &doctor_cookie).await;
    let mut others = vec![join("doctor", doctor_ws).await];
    for (path, name) in guest_paths
        .iter()
        .zip(["guest1", "guest2", "guest3", "guest4"])
    {
        let ws = crate::live::connect(&app, &format!("{path}/ws"), "x=y").await;
        others.push(join(name, ws).await);
    }
    let all: Vec<&Peer> = others.iter().collect();
    wait_until(
        &app,
        "the five on good links publish",
        Duration::from_secs(10),
        &all,
        || {
            others
                .iter()
                .all(|p| p.shared.lock().unwrap().video_sent >= 8 * 10)
        },
    )
    .await;

    // The patient's phone: 2 Mbps down, from the start.
    let relay = Relay::start(sfu_addr(&app));
    relay.limit(PHONE_BPS);
    let pat = join_via("patient", patient_ws, relay.addr).await;
    let media_from = Instant::now();
    let mut peers: Vec<&Peer> = vec![&pat];
    peers.extend(others.iter());
    let keys = |p: &Peer| -> Vec<String> { p.views().into_iter().map(|v| v.0).collect() };
    // Settling: the phone has five tiles, and every one shows video at some layer and plays
    // audio.
    wait_until(
        &app,
        "the phone receives all five, video and audio",
        Duration::from_secs(20),
        &peers,
        || {
            let views = pat.views();
            views.len() == 5
                && views.iter().all(|(key, layer, paused)| {
                    let (a, v) = pat.received_from(key);
                    layer.is_some() && !paused && a.packets >= 25 && v.packets >= 10
                })
        },
    )
    .await;
    // Let the estimate settle, then watch for six seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hold_from = Instant::now();
    let at_start: Vec<(String, u64, u64)> = keys(&pat)
        .into_iter()
        .map(|k| {
            let (a, v) = pat.received_from(&k);
            (k, a.packets, v.packets)
        })
        .collect();
    let bytes_from = relay.ctl.down_bytes.load(Ordering::Relaxed);
    let dropped_from = relay.ctl.down_dropped.load(Ordering::Relaxed);
    let mut seen: Vec<(String, Option<String>, bool)> = Vec::new();
    let rank = |layer: &Option<String>| RIDS.iter().position(|r| Some(*r) == layer.as_deref());
    // Moments a guest was shown at a higher layer than the doctor.
    let mut above_doctor: Vec<String> = Vec::new();
    while hold_from.elapsed() < Duration::from_secs(6) {
        let views = pat.views();
        let doctor = views
            .iter()
            .find(|v| v.0.starts_with("doctor"))
            .map(|v| rank(&v.1));
        for v in views {
            if let Some(d) = doctor
                && v.0.starts_with("guest")
                && rank(&v.1) > d
            {
                above_doctor.push(format!("{v:?}"));
            }
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hold_to = Instant::now();
    let secs = hold_to.duration_since(hold_from).as_secs_f64();
    let kbps =
        (relay.ctl.down_bytes.load(Ordering::Relaxed) - bytes_from) as f64 * 8.0 / secs / 1000.0;
    let dropped = relay.ctl.down_dropped.load(Ordering::Relaxed) - dropped_from;
    let mut lines = Vec::new();
    for (key, a0, v0) in &at_start {
        let (a, v) = pat.received_from(key);
        lines.push(format!(
            "{key}: audio {} pkts, longest break {:?}; video {} pkts (q/h/f {:?})",
            a.packets - a0,
            a.longest_break(hold_from, hold_to),
            v.packets - v0,
            v.layers,
        ));
    }
    let summary = format!(
        "the phone over {secs:.1} s: {kbps:.0} kbps delivered, {dropped} datagrams dropped by its link\n{}\nlayers seen (key, layer, paused): {seen:?}\nphone's timeline: {:#?}",
        lines.join("\n"),
        pat.tiles_history
            .lock()
            .unwrap()
            .iter()
            .map(|(at, tiles)| format!(
                "{:.2} s {:?}",
                at.saturating_duration_since(media_from).as_secs_f64(),
                tiles
                    .iter()
                    .map(|t| format!(
                        "{}={}{}",
                        t["key"],
                        t["layer"],
                        if t["paused"] == true { " paused" } else { "" }
                    ))
                    .collect::<Vec<_>>()
            ))
            .collect::<Vec<_>>(),
    );
    eprintln!("media: {summary}\n{}", report(&app, &peers).await);
    for (key, a0, v0) in &at_start {
        let (a, v) = pat.received_from(key);
        // 50 audio packets a second: nearly all of them, and never a break a listener hears
        // as a dropout of the conversation.
        assert!(
            (a.packets - a0) as f64 >= 0.9 * 50.0 * secs,
            "{key}'s audio thinned out on the phone\n{summary}"
        );
        assert!(
            a.longest_break(hold_from, hold_to) < Duration::from_millis(300),
            "{key}'s audio broke on the phone\n{summary}"
        );
        assert!(
            // At q a frame is one packet, 30 a second: most frames, at least.
            (v.packets - v0) as f64 >= 0.7 * 30.0 * secs,
            "{key}'s video stalled on the phone\n{summary}"
        );
    }
    for (key, layer, paused) in &seen {
        assert!(
            !paused && matches!(layer.as_deref(), Some("q" | "h")),
            "the phone showed {key} at {layer:?} (paused {paused}): only q or h fit\n{summary}"
        );
    }
    // The doctor comes first: the phone sees them at h (a dip of the estimate may take them
    // down for a while: that is not asserted), and never a guest above them.
    let doctor_at_h = pat.tiles_history.lock().unwrap().iter().any(|(_, tiles)| {
        tiles.iter().any(|t| {
            t["key"].as_str().is_some_and(|k| k.starts_with("doctor")) && t["layer"] == "h"
        })
    });
    assert!(
        doctor_at_h,
        "the phone never saw the doctor at h\n{summary}"
    );
    assert!(
        above_doctor.is_empty(),
        "guests shown above the doctor: {above_doctor:?}\n{summary}"
    );
    // The phone's link holds nobody else back: each subscriber's layers come from its own
    // estimate. On their good links the others keep receiving everyone's video; how high
    // depends on how fast str0m's estimate climbs here (printed, not asserted: on this
    // 2-core host it is the test's own clients that run short of CPU).
    let doc = &others[0];
    let before: Vec<u64> = doc
        .views()
        .iter()
        .map(|(k, ..)| doc.received_from(k).1.packets)
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for ((key, layer, paused), was) in doc.views().into_iter().zip(before) {
        let now = doc.received_from(&key).1.packets;
        eprintln!(
            "media: the doctor sees {key} at {layer:?}, {} video packets in 1 s",
            now - was
        );
        assert!(
            !paused && now > was,
            "the doctor's video of {key} stopped\n{summary}"
        );
    }
    for p in &peers {
        let st = p.shared.lock().unwrap();
        assert!(st.error.is_none(), "{}: {:?}", p.name, st.error);
    }
    pat.stop();
    for p in others {
        p.stop();
    }
    drop(relay);
    app.stop().await;
    eprintln!("media: the room-of-six test took {:?}", began.elapsed());
}
