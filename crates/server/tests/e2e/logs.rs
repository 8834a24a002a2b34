//! `LOG_FORMAT=json` on the real binary: every line is JSON, and a request's lines carry
//! the `X-Request-Id` it came with (which the response echoes).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::binary::Binary;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let env = HashMap::from([
        ("LOG_FORMAT".to_owned(), "json".to_owned()),
        ("LOG_LEVEL".to_owned(), "info".to_owned()),
        ("SERVICE_PORT".to_owned(), "0".to_owned()),
        (
            "FEDERATION_PROJECTS_FILE".to_owned(),
            dir.path().join("none.yaml").display().to_string(),
        ),
    ]);
    let service = Binary::spawn(dir.path(), &["serve"], &env);
    let address = service.address().await;
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{address}/api/fed/projects/nothing"))
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");

    let line = service
        .wait_for_log("request", 1, Duration::from_secs(30))
        .await;
    assert_eq!(line["span"]["request_id"], "trace-me-42", "{line}");
    assert_eq!(line["span"]["path"], "/api/fed/projects/nothing", "{line}");
    assert_eq!(line["status"], 404, "{line}");
    assert_eq!(line["level"], "INFO");
    // Every line on stdout is JSON.
    for line in service.stdout_lines() {
        serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
}
