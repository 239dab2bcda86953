//! Time-limited TURN credentials for the browsers, in coturn's REST API scheme
//! (`use-auth-secret` with `static-auth-secret`): the username is `<unix expiry>:<who>`, the
//! password base64(HMAC-SHA1(secret, username)). coturn checks the HMAC and refuses a
//! username whose expiry has passed, so a credential is useless after its time and names no
//! patient (`who` is an opaque room key).
//!
//! TURN matters where UDP to the SFU is blocked (hospital and clinic networks): the browser
//! relays through coturn, over UDP 3478, TCP, or TLS on 443 (`turns:` URLs).

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha1::Sha1;

/// Where coturn is and the secret shared with it.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// `turn:` / `turns:` URLs given to browsers, e.g. `turns:turn.example.jp:443?transport=tcp`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long a credential works (it must outlast a call: allocations are refreshed with it).
    pub ttl_secs: u64,
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IceServer {
    /// The TURN URLs.
    pub urls: Vec<String>,
    /// `<expiry>:<who>`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub credential: String,
}

impl TurnConfig {
    /// A credential for `who` (an opaque key; `:` is replaced) valid until `now + ttl`.
    pub fn credential(&self, who: &str, now_unix: i64) -> IceServer {
        let expiry = now_unix.saturating_add(self.ttl_secs as i64);
        let who: String = who
            .chars()
            .map(|c| if c == ':' { '-' } else { c })
            .collect();
        let username = format!("{expiry}:{who}");
        IceServer {
            urls: self.urls.clone(),
            credential: password(&self.secret, &username),
            username,
        }
    }
}

/// coturn's password for a REST-API username.
pub fn password(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_coturns_documented_scheme() {
        // `echo -n "1700000000:visit-1-patient" | openssl dgst -binary -sha1 -hmac s3cret | base64`
        assert_eq!(
            password("s3cret", "1700000000:visit-1-patient"),
            "r7ffnc+d3ddt0Zx8bQPtzubrpgc="
        );
    }

    #[test]
    fn the_username_carries_the_expiry_and_no_colon_from_the_key() {
        let c = TurnConfig {
            urls: vec!["turn:127.0.0.1:3478".into()],
            secret: "s3cret".into(),
            ttl_secs: 600,
        };
        let s = c.credential("visit:1:patient", 1_700_000_000);
        assert_eq!(s.username, "1700000600:visit-1-patient");
        assert_eq!(s.credential, password("s3cret", &s.username));
    }
}
