//! The embedded SFU (selective forwarding unit) of tsunagu.
//!
//! One UDP port carries every peer on the node. Each peer is a str0m `Rtc` in RTP mode: the
//! SFU forwards RTP packets without decoding them, rewriting sequence numbers, timestamps and
//! VP8 picture ids per subscriber (see [`rewrite`]), and picks a simulcast layer per
//! subscriber from its bandwidth estimate (see [`layers`]). Datagrams find their peer in O(1)
//! (see [`route`]).
//!
//! The crate knows nothing of HTTP or of visits: the web layer authorises a participant, then
//! hands their offer to [`Sfu::join`] with an opaque room number and a key that names the
//! participant in the room, and carries the [`Signal`]s back over the page's socket.
//!
//! Each browser connection has a fixed layout, so adding a participant needs no
//! renegotiation: one send-only audio and one send-only video (three simulcast layers), then
//! [`SLOTS`] pairs of receive-only audio and video. Each pair (a slot) shows one other
//! participant; the [`Tile`]s say which. Audio and video are forwarded, never stored.

pub mod layers;
pub mod rewrite;
pub mod route;
pub mod turn;

mod engine;
mod red;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Receive slots per connection: a room holds at most `SLOTS + 1` people with media.
pub const SLOTS: usize = 5;

/// Where the SFU listens and what address it tells browsers.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The UDP socket (`0.0.0.0:50000` in production; port 0 picks a free one).
    pub bind: SocketAddr,
    /// The address put in the host candidate: the public IP behind NAT, else this host's.
    pub candidate_ip: IpAddr,
    /// Also accept ICE over TCP (passive, RFC 4571 framing) on the same port number, for
    /// networks that block UDP.
    pub ice_tcp: bool,
    /// Send and receive UDP in batches (segmentation offload, `recvmmsg`) where the kernel
    /// allows. Always on in the server; the benchmark turns it off for its baseline.
    pub udp_batching: bool,
}

/// Who a peer is, as the others' tiles show it.
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    /// Stable within the room across reconnects (`doctor:5`, `patient`, `guest:3`); a second
    /// join with the same key replaces the first (a reloaded page).
    pub key: String,
    /// The name shown on the tile.
    pub name: String,
    /// `doctor`, `patient`, `staff` or `guest`.
    pub role: String,
}

/// One receive slot of a connection and who is in it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tile {
    /// The participant's key.
    pub key: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: String,
    /// The mid of this connection's receive-only audio for them.
    pub audio_mid: String,
    /// The mid of this connection's receive-only video for them.
    pub video_mid: String,
    /// Their microphone is on.
    pub audio: bool,
    /// Their camera is on.
    pub video: bool,
    /// Their video is paused for this receiver because its bandwidth does not fit even the
    /// lowest layer (audio continues).
    pub paused: bool,
    /// The layer received (`q`, `h`, `f`), when video flows.
    pub layer: Option<&'static str>,
}

/// What the SFU tells one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Who is in which slot, and their media state (sent on every change).
    Tiles(Vec<Tile>),
    /// The loudest participant now (the key), or nobody.
    Speaker(Option<String>),
    /// This connection was taken out of the room, and why.
    Closed(Closed),
}

/// Why a connection left the room without its page asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The doctor removed the participant, or the room closed: the page stays out.
    Removed,
    /// A newer connection of the same participant (a reloaded page, a second tab) took its
    /// place: this page stays out.
    Replaced,
    /// The connection broke (its DTLS or SRTP failed): the page builds a new one.
    Failed,
}

/// Why the SFU refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    /// The SDP offer could not be parsed or accepted.
    #[error("the offer is not usable: {0}")]
    BadOffer(String),
    /// The room already holds `SLOTS + 1` people.
    #[error("the room is full")]
    RoomFull,
    /// The peer is gone.
    #[error("no such connection")]
    NoPeer,
    /// The SFU thread is not running.
    #[error("the media server is not running")]
    Down,
}

/// A connection that joined.
#[derive(Debug)]
pub struct Joined {
    /// Its number on this node.
    pub peer: u64,
    /// The SDP answer for the browser.
    pub answer: String,
    /// What the SFU tells it from now on.
    pub signals: mpsc::UnboundedReceiver<Signal>,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SfuStats {
    /// Connections on the node.
    pub peers: usize,
    /// Rooms with at least one connection.
    pub rooms: usize,
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP packets written to subscribers.
    pub packets_out: u64,
    /// Datagrams that matched no peer.
    pub unrouted: u64,
    /// UDP datagrams sent, and the system calls that carried them (fewer with segmentation
    /// offload).
    pub udp_datagrams: u64,
    pub udp_sends: u64,
    /// UDP datagrams received, and the system calls that brought them (fewer with `recvmmsg`).
    pub udp_received: u64,
    pub udp_receives: u64,
}

/// A handle to the SFU thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct Sfu {
    tx: mpsc::UnboundedSender<engine::Command>,
    addr: SocketAddr,
}

impl Sfu {
    /// Binds the UDP port and starts the SFU on its own thread (with its own single-threaded
    /// runtime: forwarding never waits behind web requests).
    pub fn start(config: SfuConfig) -> std::io::Result<Sfu> {
        let socket = std::net::UdpSocket::bind(config.bind)?;
        socket.set_nonblocking(true)?;
        let port = socket.local_addr()?.port();
        // ICE-TCP is a fallback: a port number taken for TCP leaves UDP working.
        let tcp = if config.ice_tcp {
            let bound =
                std::net::TcpListener::bind(std::net::SocketAddr::new(config.bind.ip(), port))
                    .and_then(|l| l.set_nonblocking(true).map(|()| l));
            match bound {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(port, error = %e, "ICE-TCP not offered: the TCP port is taken");
                    None
                }
            }
        } else {
            None
        };
        let addr = SocketAddr::new(config.candidate_ip, port);
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("tsunagu-sfu".into())
            .spawn(move || {
                runtime.block_on(engine::run(socket, tcp, addr, config.udp_batching, rx))
            })?;
        Ok(Sfu { tx, addr })
    }

    /// The address browsers send media to.
    pub fn media_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Joins `room` with a browser's first offer; returns the answer and the signal stream.
    pub async fn join(&self, room: i64, info: PeerInfo, offer: &str) -> Result<Joined, MediaError> {
        let (reply, rx) = oneshot::channel();
        let offer = offer.to_owned();
        self.send(engine::Command::Join {
            room,
            info,
            offer,
            reply,
        })?;
        rx.await.map_err(|_| MediaError::Down)?
    }

    /// A later offer on the same connection (an ICE restart after a network change).
    pub async fn offer(&self, peer: u64, offer: &str) -> Result<String, MediaError> {
        let (reply, rx) = oneshot::channel();
        let offer = offer.to_owned();
        self.send(engine::Command::Offer { peer, offer, reply })?;
        rx.await.map_err(|_| MediaError::Down)?
    }

    /// The participant turned their microphone or camera on or off.
    pub fn set_media(&self, peer: u64, audio: bool, video: bool) {
        let _ = self.send(engine::Command::Media { peer, audio, video });
    }

    /// The connection closed.
    pub fn leave(&self, peer: u64) {
        let _ = self.send(engine::Command::Leave { peer });
    }

    /// Takes a participant out of a room at once (the doctor removed them).
    pub fn remove(&self, room: i64, key: &str) {
        let _ = self.send(engine::Command::Remove {
            room,
            key: key.to_owned(),
        });
    }

    /// Ends a room: every connection in it is closed.
    pub fn close_room(&self, room: i64) {
        let _ = self.send(engine::Command::CloseRoom { room });
    }

    /// The counters now.
    pub async fn stats(&self) -> Result<SfuStats, MediaError> {
        let (reply, rx) = oneshot::channel();
        self.send(engine::Command::Stats { reply })?;
        rx.await.map_err(|_| MediaError::Down)
    }

    fn send(&self, c: engine::Command) -> Result<(), MediaError> {
        self.tx.send(c).map_err(|_| MediaError::Down)
    }
}

/// This host's address for the host candidate when none is configured: the source address
/// the kernel picks for a route to the outside (no packet is sent), else loopback.
pub fn default_candidate_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect("192.0.2.1:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe()
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}
