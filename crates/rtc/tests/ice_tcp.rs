//! ICE over TCP: a client that can only use TCP (RFC 6544 active candidate, RFC 4571
//! framing) and a client on UDP join one room of the SFU and hear each other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};
use tsunagu_rtc::{PeerInfo, SLOTS, Sfu, SfuConfig};

enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream, Vec<u8>),
}

struct Client {
    rtc: Rtc,
    link: Link,
    local: SocketAddr,
    pending: Option<str0m::change::SdpPendingOffer>,
    audio: str0m::media::Mid,
}

impl Client {
    fn new(sfu: SocketAddr, tcp: bool) -> (Client, String) {
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
        let (link, local) = if tcp {
            let s = TcpStream::connect(sfu).unwrap();
            s.set_nodelay(true).unwrap();
            let local = s.local_addr().unwrap();
            let c = Candidate::builder()
                .tcp()
                .host(local)
                .tcptype(TcpType::Active)
                .build()
                .unwrap();
            rtc.add_local_candidate(c);
            (Link::Tcp(s, Vec::new()), local)
        } else {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let local = s.local_addr().unwrap();
            rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
            (Link::Udp(s), local)
        };
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        for _ in 0..SLOTS {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().unwrap();
        let c = Client {
            rtc,
            link,
            local,
            pending: Some(pending),
            audio,
        };
        (c, offer.to_sdp_string())
    }

    fn send(&mut self, proto: Protocol, to: SocketAddr, data: &[u8]) {
        match (&mut self.link, proto) {
            (Link::Udp(s), Protocol::Udp) => {
                let _ = s.send_to(data, to);
            }
            (Link::Tcp(s, _), Protocol::Tcp) => {
                let mut framed = (data.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(data);
                let _ = s.write_all(&framed);
            }
            _ => {}
        }
    }

    /// One packet from the link, or None after `wait`.
    fn recv(&mut self, wait: Duration) -> Option<(Protocol, SocketAddr, Vec<u8>)> {
        match &mut self.link {
            Link::Udp(s) => {
                s.set_read_timeout(Some(wait)).unwrap();
                let mut buf = [0u8; 2000];
                let (n, from) = s.recv_from(&mut buf).ok()?;
                Some((Protocol::Udp, from, buf[..n].to_vec()))
            }
            Link::Tcp(s, acc) => {
                let peer = s.peer_addr().ok()?;
                loop {
                    if acc.len() >= 2 {
                        let n = u16::from_be_bytes([acc[0], acc[1]]) as usize;
                        if acc.len() >= 2 + n {
                            let frame = acc[2..2 + n].to_vec();
                            acc.drain(..2 + n);
                            return Some((Protocol::Tcp, peer, frame));
                        }
                    }
                    s.set_read_timeout(Some(wait)).unwrap();
                    let mut buf = [0u8; 4096];
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => acc.extend_from_slice(&buf[..n]),
                    }
                }
            }
        }
    }

    /// Sends Opus every 20 ms and counts audio packets received, until `stop`.
    fn run(mut self, received: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
        let opus = self
            .rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == Codec::Opus)
            .map(|p| p.pt())
            .unwrap();
        let mut connected = false;
        let mut seq = 1u64;
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let timeout = loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Transmit(t) => self.send(t.proto, t.destination, &t.contents),
                    Output::Timeout(t) => break t,
                    Output::Event(Event::Connected) => connected = true,
                    Output::Event(Event::RtpPacket(_)) => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Output::Event(_) => {}
                }
            };
            let now = Instant::now();
            if connected && next <= now {
                let mut api = self.rtc.direct_api();
                if let Some(tx) = api.stream_tx_by_mid(self.audio, None) {
                    tx.write_rtp(RtpWrite::new(
                        opus,
                        seq.into(),
                        seq as u32 * 960,
                        now,
                        vec![0xfc; 60],
                    ));
                }
                seq += 1;
                next = now + Duration::from_millis(20);
                self.rtc.handle_input(Input::Timeout(now)).unwrap();
                continue;
            }
            let wake = if connected {
                timeout.min(next)
            } else {
                timeout
            };
            let wait = wake
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            let input = match self.recv(wait) {
                Some((proto, source, data)) => {
                    let Ok(contents) = data.as_slice().try_into() else {
                        continue;
                    };
                    self.rtc
                        .handle_input(Input::Receive(
                            Instant::now(),
                            Receive {
                                proto,
                                source,
                                destination: self.local,
                                contents,
                            },
                        ))
                        .unwrap();
                    continue;
                }
                None => Input::Timeout(Instant::now()),
            };
            self.rtc.handle_input(input).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_only_client_and_a_udp_client_hear_each_other() {
    let sfu = Sfu::start(SfuConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        candidate_ip: "127.0.0.1".parse().unwrap(),
        ice_tcp: true,
        udp_batching: true,
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut counts = Vec::new();
    let mut joined = Vec::new();
    for (key, tcp) in [("patient", true), ("doctor:1", false)] {
        let (mut c, offer) = Client::new(sfu.media_addr(), tcp);
        let info = PeerInfo {
            key: key.into(),
            name: String::new(),
            role: "patient".into(),
        };
        let j = sfu.join(7, info, &offer).await.unwrap();
        let mut answer = j.answer.clone();
        if tcp {
            // This client reaches the SFU by TCP only: it never learns the UDP candidate.
            answer = answer
                .lines()
                .filter(|l| !(l.starts_with("a=candidate") && l.contains(" udp ")))
                .map(|l| format!("{l}\r\n"))
                .collect();
            assert!(
                answer.contains("tcptype passive"),
                "the SFU offers ICE-TCP: {answer}"
            );
        }
        let pending = c.pending.take().unwrap();
        c.rtc
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        let n = Arc::new(AtomicU64::new(0));
        counts.push(n.clone());
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || c.run(n, stop)));
        joined.push(j);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && counts.iter().any(|c| c.load(Ordering::Relaxed) < 25) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let got: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(got[0] >= 25, "the TCP client hears the UDP one: {got:?}");
    assert!(got[1] >= 25, "the UDP client hears the TCP one: {got:?}");
}
