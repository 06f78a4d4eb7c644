//! End-to-end tests of the server: a real HTTP server in the test process, real Python
//! workers behind it, and a real HTTP client.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test at the first unexpected state"
)]

mod api;
mod auth;
mod chaos;
mod events;
mod faults;
mod reload;
mod support;
