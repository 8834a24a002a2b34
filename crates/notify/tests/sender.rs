//! The HTTP sender against receivers the test starts: what a receiver gets (body,
//! signature, key), and how a failing, silent, slow or redirecting one is judged.

#![expect(
    clippy::unwrap_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use federation_domain::notify::{ChannelInput, ChannelSpec, Event, Message, Sender, Subject};
use federation_domain::Status;
use federation_notify::{sign, DenyList, HttpOptions, HttpSender};
use federation_testkit::{Receiver, ReceiverMode as Mode};

const SECRET: &str = "0123456789abcdef-secret";

fn channel(kind: &str, url: &str) -> ChannelSpec {
    ChannelSpec::parse(ChannelInput {
        name: Some("ops".into()),
        kind: Some(kind.into()),
        url: Some(url.into()),
        secret: (kind == "webhook").then(|| SECRET.into()),
        ..ChannelInput::default()
    })
    .unwrap()
}

fn message() -> Message {
    Message {
        channel: federation_domain::notify::ChannelName::parse("ops").unwrap(),
        revision: 42,
        event: Event::Recovered,
        subject: Some(Subject {
            slug: "alpha".into(),
            name: "Alpha <hub>".into(),
            hub_url: "http://alpha.internal:8000".into(),
            status: Status::Online,
            reason: None,
        }),
        at: Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap(),
        outage_seconds: Some(200),
        incident: None,
    }
}

fn sender(timeout: Duration) -> HttpSender {
    HttpSender::new(HttpOptions {
        connect_timeout: Duration::from_secs(2),
        timeout,
        deny: DenyList::default(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_webhook_gets_signed_json_with_its_idempotency_key() {
    let r = Receiver::start(Mode::Ok).unwrap();
    let attempt = sender(Duration::from_secs(5))
        .send(&channel("webhook", &r.url), &message())
        .await;
    assert!(attempt.delivered(), "{attempt:?}");
    assert_eq!(attempt.http_status, Some(200));
    let got = r.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.header("idempotency-key"), "42-ops-alpha");
    assert_eq!(req.header("x-federation-event"), "recovered");
    assert_eq!(req.header("content-type"), "application/json");
    let sig = req.header("x-federation-signature");
    let now = Utc::now().timestamp();
    assert!(
        sign::verify(SECRET.as_bytes(), sig, &req.body, now, 300),
        "{sig}"
    );
    assert!(!sign::verify(
        b"another-secret-123",
        sig,
        &req.body,
        now,
        300
    ));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["id"], "42-ops-alpha");
    assert_eq!(body["event"], "recovered");
    assert_eq!(body["outage_seconds"], 200);
    assert_eq!(body["project"]["slug"], "alpha");
    assert_eq!(body["text"], "Alpha <hub> (alpha) recovered after 3m 20s");
}

#[tokio::test]
async fn a_slack_channel_gets_text_and_blocks_escaped_and_no_signature() {
    let r = Receiver::start(Mode::Ok).unwrap();
    let attempt = sender(Duration::from_secs(5))
        .send(&channel("slack", &r.url), &message())
        .await;
    assert!(attempt.delivered(), "{attempt:?}");
    let req = &r.received()[0];
    assert!(!req.headers.contains_key("x-federation-signature"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body["text"],
        "Alpha &lt;hub&gt; (alpha) recovered after 3m 20s"
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert!(body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains(":large_green_circle:"));
}

#[tokio::test]
async fn a_500_is_retryable_and_a_404_is_not() {
    let r = Receiver::start(Mode::Status(500)).unwrap();
    let s = sender(Duration::from_secs(5));
    let a = s.send(&channel("webhook", &r.url), &message()).await;
    assert!(!a.delivered());
    assert!(a.retryable);
    assert_eq!(a.http_status, Some(500));
    assert_eq!(a.error.as_deref(), Some("HTTP 500"));
    r.set_mode(Mode::Status(404));
    let a = s.send(&channel("webhook", &r.url), &message()).await;
    assert!(!a.retryable);
    assert_eq!(a.http_status, Some(404));
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let r = Receiver::start(Mode::Redirect).unwrap();
    let a = sender(Duration::from_secs(5))
        .send(&channel("webhook", &r.url), &message())
        .await;
    assert!(!a.delivered());
    assert!(!a.retryable);
    assert_eq!(a.http_status, Some(302));
    assert_eq!(r.received().len(), 1, "the Location was not followed");
}

#[tokio::test]
async fn a_receiver_that_never_answers_or_is_slow_times_out() {
    for mode in [Mode::Hang, Mode::Slow(Duration::from_secs(5))] {
        let r = Receiver::start(mode).unwrap();
        let started = std::time::Instant::now();
        let a = sender(Duration::from_millis(500))
            .send(&channel("webhook", &r.url), &message())
            .await;
        let took = started.elapsed();
        assert!(!a.delivered(), "{mode:?}");
        assert!(a.retryable);
        assert_eq!(
            a.error.as_deref(),
            Some("the receiver did not answer in time")
        );
        assert!(took < Duration::from_secs(3), "{mode:?} took {took:?}");
    }
}

#[tokio::test]
async fn the_deny_list_refuses_a_literal_address_and_a_resolved_name() {
    let r = Receiver::start(Mode::Ok).unwrap();
    let deny = HttpSender::new(HttpOptions {
        deny: DenyList::parse("127.0.0.0/8").unwrap(),
        ..HttpOptions::default()
    })
    .unwrap();
    let a = deny.send(&channel("webhook", &r.url), &message()).await;
    assert!(!a.delivered());
    assert!(!a.retryable);
    assert!(a.error.unwrap().contains("FEDERATION_NOTIFY_DENY"));
    let by_name = r.url.replace("127.0.0.1", "localhost");
    let a = deny.send(&channel("webhook", &by_name), &message()).await;
    assert!(!a.delivered());
    assert!(
        a.error.unwrap().contains("FEDERATION_NOTIFY_DENY"),
        "resolved name"
    );
    assert!(r.received().is_empty());
}
