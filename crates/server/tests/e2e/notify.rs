//! Notification channels over REST on the real service, on PostgreSQL and SQLite:
//! created, refused with the field named, read without their secrets, tested against a
//! receiver this test starts (signature checked), replaced, deleted; deliveries listed.

use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp, TestConfig, READ_KEY, WRITE_KEY};
use federation_testkit::{Receiver, ReceiverMode};

const SECRET: &str = "whsec-0123456789abcdef";

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    key: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("X-API-Key", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

fn webhook(url: &str) -> Value {
    json!({"name": "Ops", "kind": "webhook", "url": url, "secret": SECRET,
           "rules": {"tags": ["prod"], "on": ["offline", "recovered"], "hold_seconds": 120}})
}

async fn channels_over_rest(config: TestConfig) {
    use reqwest::Method;
    let app = config.start().await;
    let receiver = Receiver::start(ReceiverMode::Ok).unwrap();

    let (status, body, headers) = send(
        &app,
        Method::POST,
        "/api/fed/channels",
        Some(webhook(&receiver.url)),
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["location"], "/api/fed/channels/ops");
    assert_eq!(body["name"], "ops");
    assert_eq!(body["secret_set"], true);
    assert_eq!(body["rules"]["hold_seconds"], 120);
    assert_eq!(body["rules"]["on"], json!(["offline", "recovered"]));
    assert!(!body.to_string().contains(SECRET));

    let (status, body, _) = send(
        &app,
        Method::POST,
        "/api/fed/channels",
        Some(webhook(&receiver.url)),
        WRITE_KEY,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("exists")),
        "{body}"
    );

    // Bad input: 422 naming the field.
    for (patch, field) in [
        (json!({"url": "https://user:pw@receiver.example/h"}), "url"),
        (json!({"url": "ftp://receiver.example/h"}), "url"),
        (json!({"secret": null}), "secret"),
        (json!({"secret": "short"}), "secret"),
        (json!({"kind": "pager"}), "kind"),
        (
            json!({"rules": {"hold_seconds": 999999}}),
            "rules.hold_seconds",
        ),
        (json!({"rules": {"on": ["sideways"]}}), "rules.on[0]"),
        // serde would read the rules from an array: refused as the description says.
        (json!({"rules": [null, null]}), "rules"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let mut body = webhook(&receiver.url);
        body["name"] = json!("other");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, reply, _) = send(
            &app,
            Method::POST,
            "/api/fed/channels",
            Some(body),
            WRITE_KEY,
        )
        .await;
        assert_eq!(status, 422, "{patch}: {reply}");
        let named = reply["error"]["field"].as_str().unwrap_or_default();
        assert!(
            named.starts_with(field.split('[').next().unwrap()),
            "{patch}: {reply}"
        );
        assert!(!reply.to_string().contains("pw@"), "{reply}");
    }

    // A Slack channel: its URL is a secret, shown as scheme and host.
    let slack_url = format!(
        "{}/services/T000/B000/XXXXSECRET",
        receiver.url.trim_end_matches("/hook")
    );
    let (status, body, _) = send(
        &app,
        Method::POST,
        "/api/fed/channels",
        Some(json!({"name": "chat", "kind": "slack", "url": slack_url})),
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.to_string().contains("XXXXSECRET"), "{body}");

    // An email channel: its SMTP password is write-only too.
    let (status, body, _) = send(&app, Method::POST, "/api/fed/channels",
        Some(json!({"name": "mail", "kind": "email", "url": "smtp://mail.example:587", "secret": "hunter2-password",
                    "email": {"from": "federation@example.org", "to": ["ops@example.org"], "username": "bot"}})),
        WRITE_KEY).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"]["tls"], "starttls", "{body}");
    assert_eq!(body["secret_set"], true);
    assert!(!body.to_string().contains("hunter2"), "{body}");
    let (status, body, _) = send(&app, Method::POST, "/api/fed/channels",
        Some(json!({"name": "mail2", "kind": "email", "url": "smtp://u:p@mail.example", "email": {"from": "f@x.org", "to": ["a@x.org"]}})),
        WRITE_KEY).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("url")),
        "{body}"
    );
    let (status, _, _) = send(
        &app,
        Method::DELETE,
        "/api/fed/channels/mail",
        None,
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 204);

    // Reads: the read key may, and nothing shows a secret.
    let list = app.read_json("/api/fed/channels").await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(!list.to_string().contains(SECRET) && !list.to_string().contains("XXXXSECRET"));
    let (status, _, _) = send(
        &app,
        Method::POST,
        "/api/fed/channels",
        Some(webhook(&receiver.url)),
        READ_KEY,
    )
    .await;
    assert_eq!(status, 403);

    // A test send reaches the receiver, signed; it is recorded.
    let (status, body, _) = send(
        &app,
        Method::POST,
        "/api/fed/channels/ops/test",
        None,
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "sent", "{body}");
    assert_eq!(body["event"], "test");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let now = chrono::Utc::now().timestamp();
    assert!(federation_notify::sign::verify(
        SECRET.as_bytes(),
        got[0].header("x-federation-signature"),
        &got[0].body,
        now,
        300
    ));
    let sent: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(sent["event"], "test");
    assert_eq!(sent["id"], got[0].header("idempotency-key"));

    // Replaced without a secret: the stored one still signs.
    let mut replace = webhook(&receiver.url);
    replace.as_object_mut().unwrap().remove("secret");
    replace["enabled"] = json!(false);
    let (status, body, _) = send(
        &app,
        Method::PUT,
        "/api/fed/channels/ops",
        Some(replace.clone()),
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], false);
    assert_eq!(body["secret_set"], true);
    replace["name"] = json!("renamed");
    let (status, body, _) = send(
        &app,
        Method::PUT,
        "/api/fed/channels/ops",
        Some(replace),
        WRITE_KEY,
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (409, Some("name")),
        "{body}"
    );
    let (status, _, _) = send(
        &app,
        Method::POST,
        "/api/fed/channels/ops/test",
        None,
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 200);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert!(federation_notify::sign::verify(
        SECRET.as_bytes(),
        got[1].header("x-federation-signature"),
        &got[1].body,
        now,
        300
    ));

    // A failing receiver: the test send says so, and the delivery is recorded failed.
    receiver.set_mode(ReceiverMode::Status(500));
    let (_, body, _) = send(
        &app,
        Method::POST,
        "/api/fed/channels/ops/test",
        None,
        WRITE_KEY,
    )
    .await;
    assert_eq!(
        (body["status"].as_str(), body["http_status"].as_u64()),
        (Some("failed"), Some(500)),
        "{body}"
    );

    let deliveries = app.read_json("/api/fed/deliveries?channel=ops").await;
    let statuses: Vec<_> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["failed", "sent", "sent"], "{deliveries}");
    let one = app.read_json("/api/fed/channels/ops").await;
    assert_eq!(one["last_delivery"]["status"], "failed", "{one}");
    let (status, _, _) = send(
        &app,
        Method::GET,
        "/api/fed/deliveries?limit=0",
        None,
        READ_KEY,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = send(
        &app,
        Method::GET,
        "/api/fed/deliveries?channel=nobody",
        None,
        READ_KEY,
    )
    .await;
    assert_eq!(status, 404);

    let (status, _, _) = send(
        &app,
        Method::DELETE,
        "/api/fed/channels/ops",
        None,
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = send(&app, Method::GET, "/api/fed/channels/ops", None, READ_KEY).await;
    assert_eq!(status, 404);
    let (status, _, _) = send(
        &app,
        Method::DELETE,
        "/api/fed/channels/ops",
        None,
        WRITE_KEY,
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

on_both_backends!(channels, channels_over_rest);
