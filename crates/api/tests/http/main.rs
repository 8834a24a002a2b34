//! Handler tests: the whole router over a real `Federation` whose ports are mocks.

mod auth;
mod common;
mod heartbeat;
mod operability;
mod ops;
mod projects;
