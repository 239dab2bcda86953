//! The TURN credentials tsunagu issues, against a real coturn (Debian's `turnserver`): a fresh
//! credential allocates a relay; an expired one and a forged one are refused.
//!
//! Ignored in a plain `cargo test` (coturn is a system package); `.ci/run` installs coturn
//! and runs it with `--include-ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use tsunagu_rtc::turn::TurnConfig;

const SECRET: &str = "tsunagu-test-secret";
const REALM: &str = "tsunagu.test";

struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_coturn(port: u16) -> Coturn {
    let child = Command::new("turnserver")
        .args([
            "-n",
            "--listening-ip=127.0.0.1",
            &format!("--listening-port={port}"),
            "--relay-ip=127.0.0.1",
            "--min-port=49160",
            "--max-port=49200",
            "--use-auth-secret",
            &format!("--static-auth-secret={SECRET}"),
            &format!("--realm={REALM}"),
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            "--log-file=stdout",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver (Debian's coturn) must be installed: .ci/run installs it");
    Coturn(child)
}

/// A STUN/TURN message: type, transaction id, attributes (type, value).
fn message(typ: u16, tid: [u8; 12], attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in attrs {
        body.extend_from_slice(&t.to_be_bytes());
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let mut m = Vec::new();
    m.extend_from_slice(&typ.to_be_bytes());
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
    m.extend_from_slice(&tid);
    m.extend_from_slice(&body);
    m
}

/// Appends MESSAGE-INTEGRITY (RFC 5389 §15.4) with the long-term key MD5(user:realm:pass).
fn with_integrity(mut m: Vec<u8>, username: &str, password: &str) -> Vec<u8> {
    let key = Md5::digest(format!("{username}:{REALM}:{password}").as_bytes());
    let len = (m.len() - 20 + 24) as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(&m);
    let tag = mac.finalize().into_bytes();
    m.extend_from_slice(&0x0008u16.to_be_bytes());
    m.extend_from_slice(&20u16.to_be_bytes());
    m.extend_from_slice(&tag);
    m
}

fn attr(resp: &[u8], want: u16) -> Option<Vec<u8>> {
    let mut i = 20;
    while i + 4 <= resp.len() {
        let t = u16::from_be_bytes([resp[i], resp[i + 1]]);
        let l = u16::from_be_bytes([resp[i + 2], resp[i + 3]]) as usize;
        let v = resp.get(i + 4..i + 4 + l)?.to_vec();
        if t == want {
            return Some(v);
        }
        i += 4 + l.div_ceil(4) * 4;
    }
    None
}

fn exchange(sock: &UdpSocket, m: &[u8]) -> Vec<u8> {
    for _ in 0..50 {
        sock.send(m).unwrap();
        let mut buf = [0u8; 1500];
        match sock.recv(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            // Not listening yet (port unreachable comes back at once): wait and retry.
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    panic!("coturn did not answer");
}

/// Tries an Allocate with a credential: true when coturn grants a relay.
fn allocate(port: u16, username: &str, password: &str) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let transport = (0x0019u16, vec![17, 0, 0, 0]);
    // First without credentials: 401 with the realm and a nonce.
    let first = exchange(
        &sock,
        &message(0x0003, [1; 12], std::slice::from_ref(&transport)),
    );
    assert_eq!(
        u16::from_be_bytes([first[0], first[1]]),
        0x0113,
        "401 challenge"
    );
    let nonce = attr(&first, 0x0015).expect("nonce");
    let m = message(
        0x0003,
        [2; 12],
        &[
            transport,
            (0x0006, username.as_bytes().to_vec()),
            (0x0014, REALM.as_bytes().to_vec()),
            (0x0015, nonce),
        ],
    );
    let resp = exchange(&sock, &with_integrity(m, username, password));
    match u16::from_be_bytes([resp[0], resp[1]]) {
        0x0103 => true,
        0x0113 => false,
        other => panic!("unexpected TURN response type {other:#06x}"),
    }
}

#[test]
#[ignore = "needs Debian's coturn (turnserver); .ci/run installs it and runs ignored tests"]
fn coturn_takes_fresh_credentials_and_refuses_expired_or_forged_ones() {
    let port = free_udp_port();
    let _coturn = start_coturn(port);
    let cfg = TurnConfig {
        urls: vec![format!("turn:127.0.0.1:{port}")],
        secret: SECRET.into(),
        ttl_secs: 600,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // coturn needs a moment to open its port; the first exchange retries.
    let fresh = cfg.credential("visit-1-patient", now);
    assert!(
        allocate(port, &fresh.username, &fresh.credential),
        "a fresh credential allocates"
    );
    let expired = cfg.credential("visit-1-patient", now - 700);
    assert!(
        !allocate(port, &expired.username, &expired.credential),
        "an expired one is refused"
    );
    assert!(
        !allocate(port, &fresh.username, "Zm9yZ2VkIGNyZWRlbnRpYWw="),
        "a forged one is refused"
    );
    let other = TurnConfig {
        secret: "another-secret".into(),
        ..cfg.clone()
    }
    .credential("x", now);
    assert!(
        !allocate(port, &other.username, &other.credential),
        "another server's secret is refused"
    );
}
