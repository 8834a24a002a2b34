//! Handler tests: the whole router over a real `Federation` whose ports are mocks.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

mod auth;
mod common;
mod description;
mod discovery;
mod heartbeat;
mod hygiene;
mod operability;
mod ops;
mod projects;
mod rendered;
mod slos;
mod status_page;
mod uptime;
