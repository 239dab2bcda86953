//! What every tsunagu web front shares — the platform's and the eligibility service's.
//!
//! Each service has its own web crate with its own pages, API and state; both are built
//! from these pieces so that the rules every route obeys are written once: errors map to
//! HTTP in exactly one place ([`error`]) in the caller's language ([`lang`]); forms show
//! what to fix ([`form`]); sessions live server-side behind a cookie, with a CSRF token
//! checked on every form POST ([`session`]); strict security headers and a request id on
//! every request ([`security`]); the client address is the forwarded one only from trusted
//! proxies ([`proxy`]); no control character enters through any path, query, form or body
//! ([`input`]); JSON and multipart bodies refuse what they cannot read with a field name
//! ([`json`], [`multipart`]); and both OpenAPI documents share one set of conventions
//! ([`apidoc`]).

pub mod apidoc;
pub mod error;
pub mod form;
pub mod input;
pub mod json;
pub mod lang;
pub mod multipart;
pub mod proxy;
pub mod security;
pub mod session;
