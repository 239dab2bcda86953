//! Prometheus metrics at `/metrics`: request counts and latencies per route, job states.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SfuLabels {
    what: &'static str,
}

/// The registry and its metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    jobs: Family<JobLabels, Gauge>,
    sfu: Family<SfuLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tsunagu");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register("jobs", "Background jobs by status", jobs.clone());
        let sfu = Family::<SfuLabels, Gauge>::default();
        registry.register(
            "sfu",
            "The SFU of this node: connections, rooms, and RTP packets in, out and unrouted since start",
            sfu.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            jobs,
            sfu,
        }
    }
}

/// Counts and times every request by its route template (never the raw path, which may
/// hold ids).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.requests
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    m.latency
        .get_or_create(&LatencyLabels { method, route })
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// Renders the registry in the Prometheus text format.
pub async fn serve(
    State(state): State<AppState>,
    crate::session::ClientIp(ip): crate::session::ClientIp,
    headers: axum::http::HeaderMap,
) -> Response {
    // Counts of requests, jobs and errors tell an outsider too much about a clinic's
    // traffic: a token where one is set, otherwise only this machine may read them.
    let allowed = match &state.config.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| {
                use subtle::ConstantTimeEq;
                bool::from(given.as_bytes().ct_eq(token.as_bytes()))
            }),
        None => ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback()),
    };
    if !allowed {
        return crate::error::AppError(tsunagu_kernel::DomainError::Unauthorized(
            "error.metrics.token",
        ))
        .into_response();
    }
    if let Ok(counts) = state.jobs.counts().await {
        for (status, n) in counts {
            state
                .metrics
                .jobs
                .get_or_create(&JobLabels { status })
                .set(n);
        }
    }
    if let Some(Ok(st)) = match state.config.sfu.as_ref() {
        Some(sfu) => Some(sfu.stats().await),
        None => None,
    } {
        for (what, n) in [
            ("connections", st.peers as i64),
            ("rooms", st.rooms as i64),
            ("packets_in", st.packets_in as i64),
            ("packets_out", st.packets_out as i64),
            ("unrouted", st.unrouted as i64),
        ] {
            state.metrics.sfu.get_or_create(&SfuLabels { what }).set(n);
        }
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &state.metrics.registry).is_err() {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
