//! The SFU's UDP socket, in batches both ways (through `quinn-udp`).
//!
//! * Out: consecutive datagrams to one address, all of one size but the last, leave in one
//!   `sendmsg` with UDP generic segmentation offload (Linux `UDP_SEGMENT`) where the kernel
//!   has it. A video frame forwarded to one subscriber is several RTP packets of one size in
//!   a row (str0m packetises to a fixed size): one system call and one pass through the stack
//!   carry them, instead of one each. The kernel (or the network card) cuts them into
//!   ordinary datagrams: receivers see no difference.
//! * In: up to [`quinn_udp::BATCH_SIZE`] datagrams per system call (`recvmmsg`), and datagrams
//!   the kernel coalesced (UDP GRO, which `quinn-udp` turns on) are cut apart again at their
//!   stride: a coalesced buffer must never reach str0m as one datagram.
//!
//! Where the socket cannot be set up this way (another OS, an old kernel), every datagram
//! goes on its own, as a plain `send_to` and `recv_from`; a kernel refusing GSO once makes
//! `quinn-udp` stop asking for it.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Most bytes one outgoing batch holds: a UDP datagram's limit, with room for headers.
const MAX_BYTES: usize = 60_000;
/// One received datagram's buffer (more than any path MTU).
const DATAGRAM: usize = 2_048;

/// The socket's batching state, and counts of what left.
pub(crate) struct Udp {
    /// `None`: the socket could not be set up; datagrams go one by one.
    state: Option<UdpSocketState>,
    to: Option<SocketAddr>,
    /// The size of every datagram in the outgoing batch but the last.
    segment: usize,
    count: usize,
    /// A shorter datagram ended the batch: the next one starts a new batch.
    closed: bool,
    buf: Vec<u8>,
    /// System calls made to send, and datagrams they carried.
    pub sends: u64,
    pub datagrams: u64,
    /// Receiving system calls that brought something, and the datagrams they brought.
    pub receives: u64,
    pub received: u64,
}

/// Buffers for one receiving system call, and where its datagrams came from.
pub(crate) struct Inbox {
    bufs: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
    got: usize,
}

impl Inbox {
    /// Every datagram the last receive brought: its source and bytes (coalesced buffers cut
    /// at their stride).
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.bufs
            .iter()
            .zip(&self.metas)
            .take(self.got)
            .flat_map(|(buf, m)| {
                let stride = if m.stride == 0 {
                    m.len.max(1)
                } else {
                    m.stride
                };
                buf[..m.len.min(buf.len())]
                    .chunks(stride)
                    .map(move |d| (m.addr, d))
            })
    }
}

impl Udp {
    /// Sets the socket up for batches; with `batching` false, one datagram per call.
    pub fn new(socket: &UdpSocket, batching: bool) -> Udp {
        let state = if batching {
            match UdpSocketState::new(socket.into()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::info!(error = %e, "UDP batching is not available: one datagram per call");
                    None
                }
            }
        } else {
            None
        };
        Udp {
            state,
            to: None,
            segment: 0,
            count: 0,
            closed: false,
            buf: Vec::with_capacity(MAX_BYTES),
            sends: 0,
            datagrams: 0,
            receives: 0,
            received: 0,
        }
    }

    /// Receive buffers that fit what this socket may be given.
    pub fn inbox(&self) -> Inbox {
        let (n, gro) = match &self.state {
            Some(s) => (quinn_udp::BATCH_SIZE, s.gro_segments().max(1)),
            None => (1, 1),
        };
        Inbox {
            bufs: vec![vec![0u8; (DATAGRAM * gro).min(65_536)]; n],
            metas: vec![RecvMeta::default(); n],
            got: 0,
        }
    }

    /// Takes what is waiting on the socket, without waiting: `WouldBlock` when nothing is.
    pub fn recv(&mut self, socket: &UdpSocket, inbox: &mut Inbox) -> io::Result<()> {
        inbox.got = 0;
        match &self.state {
            Some(state) => {
                // On the stack: one receive per readiness must not cost an allocation.
                let mut bufs = inbox.bufs.iter_mut();
                let mut slices: [IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
                    std::array::from_fn(|_| match bufs.next() {
                        Some(b) => IoSliceMut::new(b),
                        None => IoSliceMut::new(&mut []),
                    });
                inbox.got = socket.try_io(Interest::READABLE, || {
                    state.recv(socket.into(), &mut slices, &mut inbox.metas)
                })?;
            }
            None => {
                let (n, addr) = socket.try_recv_from(&mut inbox.bufs[0])?;
                inbox.metas[0].addr = addr;
                inbox.metas[0].len = n;
                inbox.metas[0].stride = n;
                inbox.got = 1;
            }
        }
        self.receives += 1;
        self.received += inbox.datagrams().count() as u64;
        Ok(())
    }

    /// How many datagrams one outgoing batch may hold now.
    fn max_segments(&self) -> usize {
        self.state
            .as_ref()
            .map_or(1, UdpSocketState::max_gso_segments)
            .max(1)
    }

    /// Adds a datagram to send, first sending what is waiting if this one cannot join it.
    pub fn push(&mut self, socket: &UdpSocket, to: SocketAddr, data: &[u8]) {
        let joins = self.to == Some(to)
            && !self.closed
            && data.len() <= self.segment
            && self.count < self.max_segments()
            && self.buf.len() + data.len() <= MAX_BYTES;
        if !joins {
            self.flush(socket);
            self.to = Some(to);
            self.segment = data.len();
        }
        self.buf.extend_from_slice(data);
        self.count += 1;
        if data.len() < self.segment {
            self.closed = true;
        }
    }

    /// Sends what is waiting. A full send buffer loses it, as the network would.
    pub fn flush(&mut self, socket: &UdpSocket) {
        let Some(to) = self.to.take() else {
            return;
        };
        self.sends += 1;
        self.datagrams += self.count as u64;
        match &self.state {
            Some(state) => {
                let t = Transmit {
                    destination: to,
                    ecn: None,
                    contents: &self.buf,
                    segment_size: (self.count > 1).then_some(self.segment),
                    src_ip: None,
                };
                let _ = state.try_send(socket.into(), &t);
            }
            None => {
                let _ = socket.try_send_to(&self.buf, to);
            }
        }
        self.buf.clear();
        self.count = 0;
        self.closed = false;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    async fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.unwrap()
    }

    /// Three datagrams for one address: two of one size, then a shorter one.
    fn frame() -> Vec<Vec<u8>> {
        vec![vec![1u8; 100], vec![2u8; 100], vec![3u8; 40]]
    }

    #[tokio::test]
    async fn a_run_of_same_size_datagrams_leaves_in_one_call_and_arrives_as_they_were() {
        let (tx, rx) = (bound().await, bound().await);
        let mut udp = Udp::new(&tx, true);
        let to = rx.local_addr().unwrap();
        for d in frame() {
            udp.push(&tx, to, &d);
        }
        // A datagram of another size after the short one starts a new batch.
        udp.push(&tx, to, &[4u8; 100]);
        udp.flush(&tx);
        assert_eq!(udp.datagrams, 4);
        if udp.max_segments() > 1 {
            assert_eq!(
                udp.sends, 2,
                "one call for the run, one for the next datagram"
            );
        }
        let mut buf = [0u8; 2048];
        let mut got = Vec::new();
        for _ in 0..4 {
            let (n, _) = rx.recv_from(&mut buf).await.unwrap();
            got.push(buf[..n].to_vec());
        }
        let mut want = frame();
        want.push(vec![4u8; 100]);
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn datagrams_the_kernel_coalesced_are_cut_apart_again() {
        let (tx, rx) = (bound().await, bound().await);
        let mut out = Udp::new(&tx, true);
        let mut inp = Udp::new(&rx, true);
        let mut inbox = inp.inbox();
        let to = rx.local_addr().unwrap();
        for d in frame() {
            out.push(&tx, to, &d);
        }
        out.flush(&tx);
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < 3 {
            rx.readable().await.unwrap();
            if inp.recv(&rx, &mut inbox).is_ok() {
                for (from, d) in inbox.datagrams() {
                    assert_eq!(from, tx.local_addr().unwrap());
                    got.push(d.to_vec());
                }
            }
        }
        assert_eq!(got, frame());
    }

    #[tokio::test]
    async fn without_batching_every_datagram_is_its_own_call() {
        let (tx, rx) = (bound().await, bound().await);
        let mut udp = Udp::new(&tx, false);
        let to = rx.local_addr().unwrap();
        // A plain send goes through tokio, which must have seen the socket writable.
        tx.writable().await.unwrap();
        for d in frame() {
            udp.push(&tx, to, &d);
        }
        udp.flush(&tx);
        assert_eq!((udp.sends, udp.datagrams), (3, 3));
        let mut plain = Udp::new(&rx, false);
        let mut inbox = plain.inbox();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < 3 {
            rx.readable().await.unwrap();
            if plain.recv(&rx, &mut inbox).is_ok() {
                got.extend(inbox.datagrams().map(|(_, d)| d.to_vec()));
            }
        }
        assert_eq!(got, frame());
    }
}
