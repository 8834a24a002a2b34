//! Channels declared in the catalog file, on the real binary, on PostgreSQL and SQLite:
//! applied at start with their secrets from the environment (shown nowhere), the file
//! winning over a REST change of the same name on SIGHUP while REST-only channels stay,
//! a bad entry changing nothing; the dashboard's channel panel is served.

use std::time::Duration;

use federation_testkit::{Receiver, ReceiverMode};
use serde_json::{json, Value};

use crate::binary::Binary;
use crate::helpers::{Backend, TestConfig, READ_KEY, WRITE_KEY};

const SECRET: &str = "whsec-from-the-environment-0123";
const SLACK_TOKEN: &str = "T000/B000/SLACKTOKENXYZ";

fn file(receiver: &str, ops_enabled: bool, extra: &str) -> String {
    format!(
        "projects: []\n\
         channels:\n\
         \x20 - name: ops\n\
         \x20   kind: webhook\n\
         \x20   url: {receiver}\n\
         \x20   secret_env: OPS_WEBHOOK_SECRET\n\
         \x20   enabled: {ops_enabled}\n\
         \x20   rules: {{on: [offline, recovered], hold_seconds: 30}}\n\
         \x20 - name: chat\n\
         \x20   kind: slack\n\
         \x20   url_env: SLACK_WEBHOOK_URL\n\
         {extra}"
    )
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(method, url).header("X-API-Key", WRITE_KEY);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn catalog_channels(config: TestConfig) {
    let receiver = Receiver::start(ReceiverMode::Ok).unwrap();
    let slack = Receiver::start(ReceiverMode::Ok).unwrap();
    let slack_url = slack
        .url
        .replace("/hook", &format!("/services/{SLACK_TOKEN}"));
    config.write_projects(&file(&receiver.url, true, ""));
    let mut env = config.env.clone();
    env.insert("LOG_FORMAT".into(), "json".into());
    env.insert("LOG_LEVEL".into(), "info".into());
    env.insert("OPS_WEBHOOK_SECRET".into(), SECRET.into());
    env.insert("SLACK_WEBHOOK_URL".into(), slack_url.clone());
    let service = Binary::spawn(config.dir.path(), &["serve"], &env);
    let address = service.address().await;
    let url = |path: &str| format!("http://{address}{path}");
    let client = reqwest::Client::new();
    use reqwest::Method;

    // Applied at start: both channels, no secret and no Slack token in any read.
    let (status, list) = call(&client, Method::GET, url("/api/fed/channels"), None).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chat", "ops"], "{list}");
    assert_eq!(list[1]["secret_set"], true);
    assert_eq!(list[1]["rules"]["hold_seconds"], 30);
    assert_eq!(list[1]["failures_last_hour"], 0);
    let shown = list.to_string();
    assert!(
        !shown.contains(SECRET) && !shown.contains("SLACKTOKEN"),
        "{shown}"
    );

    // The secret from the environment signs: a test send verifies with it.
    let (status, delivery) = call(
        &client,
        Method::POST,
        url("/api/fed/channels/ops/test"),
        None,
    )
    .await;
    assert_eq!((status, delivery["status"].as_str()), (200, Some("sent")));
    let got = receiver.received();
    assert!(federation_notify::sign::verify(
        SECRET.as_bytes(),
        got[0].header("x-federation-signature"),
        &got[0].body,
        chrono::Utc::now().timestamp(),
        300
    ));
    // A failing Slack receiver: the failure counts in the channel's last hour.
    slack.set_mode(ReceiverMode::Status(500));
    call(
        &client,
        Method::POST,
        url("/api/fed/channels/chat/test"),
        None,
    )
    .await;
    assert_eq!(slack.count(), 1, "the Slack URL came from the environment");
    let (_, chat) = call(&client, Method::GET, url("/api/fed/channels/chat"), None).await;
    assert_eq!(
        (
            chat["failures_last_hour"].as_u64(),
            chat["last_delivery"]["status"].as_str()
        ),
        (Some(1), Some("failed")),
        "{chat}"
    );

    // Over REST: ops disabled, and a channel the file does not name.
    let (status, body) = call(
        &client,
        Method::PUT,
        url("/api/fed/channels/ops"),
        Some(json!({"kind": "webhook", "url": receiver.url, "enabled": false})),
    )
    .await;
    assert_eq!(
        (status, body["enabled"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    let (status, body) = call(
        &client,
        Method::POST,
        url("/api/fed/channels"),
        Some(json!({"name": "rest-only", "kind": "slack", "url": "https://hooks.example/x"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A bad entry on SIGHUP: named, and nothing changes (not even the good entries).
    const APPLIED: &str = "catalog channels applied";
    let applied_before = service.logs(APPLIED).len();
    config.write_projects(&file(
        &receiver.url,
        true,
        "\x20 - {name: pager, kind: webhook, url: 'https://p.example', secret_env: NOT_SET}\n",
    ));
    service.signal("HUP");
    let refused = service
        .wait_for_log(
            "the catalog file was not applied; nothing changed",
            1,
            Duration::from_secs(30),
        )
        .await;
    let error = refused["fields"]["error"]
        .as_str()
        .or_else(|| refused["error"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("channels[2] (name \"pager\"): secret_env"),
        "{refused}"
    );
    let (_, ops) = call(&client, Method::GET, url("/api/fed/channels/ops"), None).await;
    assert_eq!(ops["enabled"], false, "{ops}");

    // The file fixed: it wins for "ops" (enabled again, its secret kept from the
    // environment) and leaves "rest-only" alone.
    config.write_projects(&file(&receiver.url, true, ""));
    service.signal("HUP");
    let applied = service
        .wait_for_log(APPLIED, applied_before + 1, Duration::from_secs(30))
        .await;
    let fields = if applied["fields"].is_object() {
        &applied["fields"]
    } else {
        &applied
    };
    assert_eq!(
        (fields["replaced"].as_u64(), fields["unchanged"].as_u64()),
        (Some(1), Some(1)),
        "{applied}"
    );
    let (_, ops) = call(&client, Method::GET, url("/api/fed/channels/ops"), None).await;
    assert_eq!(
        (ops["enabled"].as_bool(), ops["secret_set"].as_bool()),
        (Some(true), Some(true))
    );
    let (status, _) = call(
        &client,
        Method::GET,
        url("/api/fed/channels/rest-only"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // The dashboard's panel script is served, and the page loads it.
    let page = client
        .get(url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/assets/channels.js") && page.contains("id=\"channels\""));
    let script = client
        .get(url("/assets/channels.js"))
        .header("X-API-Key", READ_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("failures_last_hour"));

    // Nothing the service printed holds a secret.
    let printed = service.output();
    assert!(
        !printed.contains(SECRET) && !printed.contains("SLACKTOKEN"),
        "a secret in the logs"
    );
}

on_both_backends!(catalog_declared_channels, catalog_channels);
