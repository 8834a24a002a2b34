//! What the request tracing writes: a line per request, never a key.
//!
//! A test binary of its own: tracing caches per callsite whether anyone listens, and
//! tests running beside it in one process without this subscriber would race that
//! cache.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

#[path = "http/common.rs"]
#[expect(dead_code, reason = "a test binary uses some of the shared helpers")]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use federation_domain::ports::MockProjectRepository;
use federation_domain::RepositoryError;

use common::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[actix_web::test]
async fn requests_are_logged_without_keys_or_store_text_reaching_clients() {
    let buf = Buffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut repo = MockProjectRepository::new();
    repo.expect_history().times(1).returning(|_, _| {
        Err(RepositoryError::Internal(
            "deadlock detected on tuple 42".into(),
        ))
    });
    let h = Builder::new(repo)
        .projects(vec![project("commandcenter")])
        .build();

    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects?limit=5"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .send(
            TestRequest::get()
                .uri("/api/fed/projects")
                .insert_header(("X-API-Key", "guess-123")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .send_w(TestRequest::get().uri("/api/fed/projects/commandcenter/history"))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.raw.contains("deadlock"));

    let logs = buf.text();
    assert!(logs.contains("path=/api/fed/projects"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("status=403"), "{logs}");
    assert!(logs.contains("status=500"), "{logs}");
    // The store's text is for operators: logged, never answered.
    assert!(logs.contains("deadlock detected"), "{logs}");
    for secret in [WRITE_KEY, READ_KEY, "guess-123"] {
        assert!(!logs.contains(secret), "a key was logged: {logs}");
    }
    assert!(
        !logs.contains("limit=5"),
        "query strings are not logged: {logs}"
    );
}
