//! The HTTP sender: one POST per attempt, with timeouts, no redirects followed, and
//! the deny list applied to every address it would connect to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use federation_domain::notify::{Attempt, ChannelKind, ChannelSpec, Message, Sender};
use reqwest::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};

use crate::body::{slack, WebhookBody};
use crate::deny::{DenyList, Resolver};
use crate::sign;

/// The header that carries a message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The header that names the event (`offline`, `recovered`, …).
pub const EVENT_HEADER: &str = "X-Federation-Event";
/// Longest error text kept in the record.
const ERROR_MAX: usize = 300;

/// The sender's limits.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How long opening a connection (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// How long one attempt may take in all, the answer's headers included.
    pub timeout: Duration,
    /// Addresses never connected to.
    pub deny: DenyList,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            deny: DenyList::default(),
        }
    }
}

/// Sends messages over HTTP(S): JSON to a webhook (signed), Slack's body to Slack.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    deny: Arc<DenyList>,
}

/// The HTTP client could not be built (its TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("building the notification HTTP client: {0}")]
pub struct BuildError(String);

impl HttpSender {
    /// A sender with these limits.
    pub fn new(opts: HttpOptions) -> Result<Self, BuildError> {
        let deny = Arc::new(opts.deny);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.timeout)
            .dns_resolver(Arc::new(Resolver(deny.clone())))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(Self { client, deny })
    }

    fn refused_literal(&self, url: &reqwest::Url) -> bool {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.deny.refuses(ip.into()),
            Some(url::Host::Ipv6(ip)) => self.deny.refuses(ip.into()),
            _ => false,
        }
    }
}

/// The body of a message for a channel of this kind.
pub fn encode(kind: ChannelKind, message: &Message) -> Vec<u8> {
    let json = match kind {
        ChannelKind::Webhook => serde_json::to_vec(&WebhookBody::from(message)),
        ChannelKind::Slack => serde_json::to_vec(&slack(message)),
        ChannelKind::Email => Ok(crate::body::mail_body(message).into_bytes()),
    };
    json.unwrap_or_default()
}

fn failed(error: impl Into<String>, retryable: bool, http: Option<u16>, t: Instant) -> Attempt {
    let mut error: String = error.into();
    if error.len() > ERROR_MAX {
        let mut cut = ERROR_MAX;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
    }
    Attempt {
        http_status: http,
        error: Some(error),
        retryable,
        latency_ms: elapsed_ms(t),
    }
}

fn elapsed_ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A transport error in words, without the URL (a Slack URL is a secret).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "the receiver did not answer in time".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl Sender for HttpSender {
    async fn send(&self, channel: &ChannelSpec, message: &Message) -> Attempt {
        let started = Instant::now();
        let url = match reqwest::Url::parse(channel.url.as_str()) {
            Ok(u) => u,
            Err(_) => return failed("the channel's URL does not parse", false, None, started),
        };
        if self.refused_literal(&url) {
            return failed(
                "the receiver's address is refused by FEDERATION_NOTIFY_DENY",
                false,
                None,
                started,
            );
        }
        let body = encode(channel.kind, message);
        let key = message.idempotency_key();
        let mut req = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static("federation-notify"))
            .header(IDEMPOTENCY_HEADER, key)
            .header(EVENT_HEADER, message.event.as_str());
        if let Some(secret) = &channel.secret {
            let t = chrono::Utc::now().timestamp();
            req = req.header(
                sign::SIGNATURE_HEADER,
                sign::header(secret.expose().as_bytes(), t, &body),
            );
        }
        match req.body(body).send().await {
            Ok(resp) => {
                let status = resp.status();
                let code = Some(status.as_u16());
                if status.is_success() {
                    Attempt {
                        http_status: code,
                        error: None,
                        retryable: false,
                        latency_ms: elapsed_ms(started),
                    }
                } else if status.is_redirection() {
                    failed(
                        format!("the receiver answered with a redirect (HTTP {}), which is never followed", status.as_u16()),
                        false,
                        code,
                        started,
                    )
                } else {
                    let retryable = status.is_server_error()
                        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                        || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                    failed(
                        format!("HTTP {}", status.as_u16()),
                        retryable,
                        code,
                        started,
                    )
                }
            }
            Err(e) => failed(describe(e), true, None, started),
        }
    }
}
