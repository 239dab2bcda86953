//! Which peer an incoming datagram belongs to, in O(1): STUN binding requests name the
//! server's ICE ufrag in their USERNAME (`server:client`), so a ufrag map finds the peer and
//! teaches the address map; every other datagram (DTLS, SRTP, SRTCP) is found by its source
//! address. str0m's own `accepts()` would need a scan of every peer on the node.

use std::collections::HashMap;
use std::net::SocketAddr;

use str0m::ice::StunMessage;

/// A peer's number on this node.
pub type PeerKey = u64;

/// The two maps, kept consistent: an address belongs to at most one peer.
#[derive(Debug, Default)]
pub struct Routes {
    by_ufrag: HashMap<String, PeerKey>,
    by_addr: HashMap<SocketAddr, PeerKey>,
}

/// Whether a datagram is STUN (RFC 7983: first byte 0–3).
pub fn is_stun(buf: &[u8]) -> bool {
    buf.first().is_some_and(|b| *b < 4)
}

impl Routes {
    /// Routes STUN that names `ufrag` to `peer` (replacing a previous ufrag after an ICE restart
    /// is the caller's `forget_ufrag`).
    pub fn set_ufrag(&mut self, ufrag: &str, peer: PeerKey) {
        self.by_ufrag.insert(ufrag.to_owned(), peer);
    }

    /// Stops routing an old ufrag.
    pub fn forget_ufrag(&mut self, ufrag: &str) {
        self.by_ufrag.remove(ufrag);
    }

    /// Forgets every route of a peer that left.
    pub fn remove_peer(&mut self, peer: PeerKey) {
        self.by_ufrag.retain(|_, p| *p != peer);
        self.by_addr.retain(|_, p| *p != peer);
    }

    /// The peer a datagram from `source` belongs to. A STUN message with a known ufrag also
    /// (re)binds its source address to that peer: that is how a client that changed network
    /// (Wi-Fi to 4G) is found again.
    pub fn lookup(&mut self, source: SocketAddr, buf: &[u8]) -> Option<PeerKey> {
        if is_stun(buf) {
            let msg = StunMessage::parse(buf).ok()?;
            if let Some((local, _remote)) = msg.split_username() {
                let peer = *self.by_ufrag.get(local)?;
                self.by_addr.insert(source, peer);
                return Some(peer);
            }
            // A STUN response (to our consent checks) carries no USERNAME.
            return self.by_addr.get(&source).copied();
        }
        self.by_addr.get(&source).copied()
    }

    /// How many addresses are routed (for tests and metrics).
    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binding request as a browser sends it, as far as routing reads it: USERNAME,
    /// PRIORITY and a MESSAGE-INTEGRITY (whose check is str0m's, after routing).
    fn binding(username: &str) -> Vec<u8> {
        let name = username.as_bytes();
        let padded = name.len().div_ceil(4) * 4;
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&[0x00, 0x06]);
        attrs.extend_from_slice(&(name.len() as u16).to_be_bytes());
        attrs.extend_from_slice(name);
        attrs.resize(4 + padded, 0);
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff]);
        attrs.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
        attrs.extend_from_slice(&[9; 20]);
        let mut b = vec![0x00, 0x01];
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        b.extend_from_slice(&[7; 12]);
        b.extend_from_slice(&attrs);
        b
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn stun_with_a_known_ufrag_binds_its_address() {
        let mut r = Routes::default();
        r.set_ufrag("srv1", 7);
        let rtp = [0x80u8, 96, 0, 1];
        assert_eq!(r.lookup(addr(1000), &rtp), None, "no route before STUN");
        assert_eq!(r.lookup(addr(1000), &binding("srv1:cli")), Some(7));
        assert_eq!(r.lookup(addr(1000), &rtp), Some(7));
    }

    #[test]
    fn unknown_ufrag_and_garbage_route_nowhere() {
        let mut r = Routes::default();
        r.set_ufrag("srv1", 7);
        assert_eq!(r.lookup(addr(1), &binding("other:cli")), None);
        assert_eq!(r.lookup(addr(1), &[0x00, 0x01, 0xff]), None);
        assert_eq!(r.lookup(addr(1), &[]), None);
        assert_eq!(r.addresses(), 0);
    }

    #[test]
    fn a_new_network_path_is_learned_and_a_removed_peer_forgotten() {
        let mut r = Routes::default();
        r.set_ufrag("srv1", 7);
        r.lookup(addr(1000), &binding("srv1:cli"));
        // The phone moves to 4G: a new source address, same ufrag.
        assert_eq!(r.lookup(addr(2000), &binding("srv1:cli")), Some(7));
        assert_eq!(r.lookup(addr(2000), &[0x80, 0]), Some(7));
        r.remove_peer(7);
        assert_eq!(r.lookup(addr(2000), &[0x80, 0]), None);
        assert_eq!(r.lookup(addr(3000), &binding("srv1:cli")), None);
    }

    #[test]
    fn an_ice_restart_moves_to_the_new_ufrag() {
        let mut r = Routes::default();
        r.set_ufrag("old", 3);
        r.forget_ufrag("old");
        r.set_ufrag("new", 3);
        assert_eq!(r.lookup(addr(5), &binding("old:c")), None);
        assert_eq!(r.lookup(addr(5), &binding("new:c")), Some(3));
    }
}
