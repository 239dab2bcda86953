//! ICE-TCP, passive (RFC 6544), on the same port number as the UDP socket: for networks that
//! let TCP out but not UDP. Each accepted connection carries RFC 4571 frames (a 16-bit
//! length, then one STUN, DTLS or SRTP packet); the engine treats a frame like a datagram
//! from the connection's remote address and answers on the same connection.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What a connection tells the engine.
#[derive(Debug)]
pub(crate) enum TcpEvent {
    /// A connection opened; frames for it go to this sender.
    Open(SocketAddr, mpsc::UnboundedSender<Vec<u8>>),
    /// One framed packet arrived.
    Frame(SocketAddr, Vec<u8>),
    /// The connection closed.
    Closed(SocketAddr),
}

/// The largest frame accepted: a packet fits in a datagram's size.
const MAX_FRAME: usize = 1500;

/// Accepts connections until the engine goes away.
pub(crate) async fn accept(listener: TcpListener, to_engine: mpsc::UnboundedSender<TcpEvent>) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        if to_engine.send(TcpEvent::Open(remote, tx)).is_err() {
            return;
        }
        tokio::spawn(connection(stream, remote, rx, to_engine.clone()));
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    to_engine: mpsc::UnboundedSender<TcpEvent>,
) {
    let (mut r, mut w) = stream.into_split();
    let writer = async move {
        while let Some(packet) = out.recv().await {
            let Ok(len) = u16::try_from(packet.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(packet.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&packet);
            if w.write_all(&framed).await.is_err() {
                break;
            }
        }
    };
    let engine = to_engine.clone();
    let reader = async move {
        let mut len = [0u8; 2];
        loop {
            if r.read_exact(&mut len).await.is_err() {
                break;
            }
            let n = usize::from(u16::from_be_bytes(len));
            if n == 0 || n > MAX_FRAME {
                break; // not RFC 4571 media: drop the connection
            }
            let mut frame = vec![0u8; n];
            if r.read_exact(&mut frame).await.is_err() {
                break;
            }
            if engine.send(TcpEvent::Frame(remote, frame)).is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = writer => {},
        _ = reader => {},
    }
    let _ = to_engine.send(TcpEvent::Closed(remote));
}
