//! `LOG_FORMAT=json` on the real binary: every line is JSON, and a request's lines carry
//! the `X-Request-Id` it came with (which the response echoes).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_federation"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info")
        .env("SERVICE_PORT", "0")
        .env("FEDERATION_PROJECTS_FILE", dir.path().join("none.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _service = Service(child);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a log line");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        v
    };

    let address = loop {
        let v = next();
        if v["message"] == "federation service listening" {
            break v["address"].as_str().unwrap().to_owned();
        }
    };
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{address}/api/fed/projects/nothing"))
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");

    let line = loop {
        let v = next();
        if v["message"] == "request" {
            break v;
        }
    };
    assert_eq!(line["span"]["request_id"], "trace-me-42", "{line}");
    assert_eq!(line["span"]["path"], "/api/fed/projects/nothing", "{line}");
    assert_eq!(line["status"], 404, "{line}");
    assert_eq!(line["level"], "INFO");
}
