//! The client's real address behind a reverse proxy. Rate limits, sessions' origins and the
//! audit log all use the client's address; behind a proxy the socket's peer is the proxy.
//! Only proxies named in `trusted_proxies` are believed: `X-Forwarded-For` is read from the
//! right, skipping trusted hops, and the first address not trusted is the client. A header
//! from anyone else is ignored, so a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// Parses the configured proxies: addresses (`10.0.0.5`) or networks (`10.0.0.0/8`).
pub fn parse_trusted(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("trusted_proxies: {s} is not an address or network"))
        })
        .collect()
}

/// The client behind `peer`, if `peer` is a trusted proxy that said who it was.
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return None;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .ok()?;
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or_else(|| hops.first())
        .copied()
}

/// Replaces the peer address with the forwarded client's, for every later reader.
pub async fn real_client(
    State(trusted): State<std::sync::Arc<Vec<IpNet>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let trusted = trusted.as_slice();
    if !trusted.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
        && let Some(ip) = forwarded_client(peer.ip(), req.headers(), trusted)
    {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, peer.port())));
    }
    next.run(req).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted = parse_trusted(&["10.0.0.0/8".into(), "192.0.2.1".into()]).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Straight from the internet: the header is the client's own claim.
        assert_eq!(
            forwarded_client(ip("203.0.113.9"), &headers(&["198.51.100.1"]), &trusted),
            None
        );
        // Through our proxy: the right-most untrusted hop, not what the client prepended.
        assert_eq!(
            forwarded_client(
                ip("10.1.2.3"),
                &headers(&["1.1.1.1, 198.51.100.7", "192.0.2.1"]),
                &trusted
            ),
            Some(ip("198.51.100.7"))
        );
        // Garbage in the header: keep the proxy's address.
        assert_eq!(
            forwarded_client(ip("10.1.2.3"), &headers(&["not-an-ip"]), &trusted),
            None
        );
        assert!(parse_trusted(&["nonsense".into()]).is_err());
    }
}
