//! Black-box tests: the real application on port 0, on SQLite (a temp file) or, when
//! `TSUNAGU_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database per test.
//! One test binary for the whole suite (see STYLE.md); one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod booking;
mod documents;
mod eligibility;
mod eligibility_web;
mod helpers;
mod jobs_outbox;
mod live;
mod media;
mod media_net;
mod parity;
mod platform;
mod rtc_client;
mod security;
mod setup;
mod staff;
mod tenancy;
mod visits;
