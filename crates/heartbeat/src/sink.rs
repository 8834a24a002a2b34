use std::time::Duration;

use async_nats::connection::State;
use federation_nats_options::NatsAuth;

use crate::{HeartbeatConfig, HeartbeatError, HeartbeatPayload};

/// How long a flush (NATS) or a request (HTTP) may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest part of a refusal's body kept in [`HeartbeatError::Rejected`].
const MAX_BODY_CHARS: usize = 500;

/// An async-nats client for heartbeats: it retries the first connect and reconnects
/// without limit, so it returns at once even while NATS is down. `tls://` URLs, and a
/// CA file, require TLS. `auth` is the service's own NATS settings
/// (`federation-nats-options`): credentials in the URL, token, creds file, nkey, TLS files.
pub async fn connect_nats(
    url: &str,
    auth: &NatsAuth,
) -> Result<async_nats::Client, HeartbeatError> {
    auth.connect_options(url)
        .await
        .map_err(|e| HeartbeatError::Connect(e.to_string()))?
        .name("federation-heartbeat")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .connect(federation_nats_options::connect_url(url).as_str())
        .await
        .map_err(|e| HeartbeatError::Connect(e.to_string()))
}

/// Where HTTP heartbeats go: `POST {server}/api/fed/projects/{slug}/heartbeat`.
/// `Debug` prints whether a key is set, never the key.
#[derive(Clone)]
pub struct HttpTarget {
    /// The service's base URL, e.g. `http://127.0.0.1:8001` (`https://` works too).
    pub server: String,
    /// Sent as `X-API-Key` when the service has keys configured.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("server", &self.server)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl HttpTarget {
    /// The service at `server` (e.g. `http://localhost:8000`), without an API key.
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            api_key: None,
        }
    }

    /// Sends `key` as `X-API-Key` (`None` or empty: no key).
    ///
    /// A project's heartbeat key goes here too: the service takes it in the same header.
    pub fn api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key.filter(|k| !k.is_empty());
        self
    }
}

/// Where beats go: a NATS client, or the service's HTTP endpoint.
#[derive(Clone)]
pub struct Sink(Inner);

#[derive(Clone)]
enum Inner {
    Nats(async_nats::Client),
    Http {
        client: reqwest::Client,
        target: HttpTarget,
    },
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Nats(_) => f.write_str("Sink::Nats"),
            Inner::Http { target, .. } => write!(f, "Sink::Http({})", target.server),
        }
    }
}

impl Sink {
    /// Publishes on `<prefix>.<slug>` through `client` (make one with [`connect_nats`],
    /// or share the project's own).
    pub fn nats(client: async_nats::Client) -> Self {
        Sink(Inner::Nats(client))
    }

    /// Posts to the service's heartbeat endpoint.
    pub fn http(target: HttpTarget) -> Result<Self, HeartbeatError> {
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .user_agent(concat!("federation-heartbeat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HeartbeatError::Http {
                url: target.server.clone(),
                message: e.to_string(),
            })?;
        Ok(Sink(Inner::Http { client, target }))
    }

    /// Whether a beat sent now can leave (always true over HTTP, where each request
    /// finds out for itself).
    pub fn is_connected(&self) -> bool {
        match &self.0 {
            Inner::Nats(client) => client.connection_state() == State::Connected,
            Inner::Http { .. } => true,
        }
    }

    /// Sends one payload. Over NATS this hands it to the client (see [`Sink::flush`]);
    /// over HTTP it waits for the service's 202.
    pub async fn send(
        &self,
        config: &HeartbeatConfig,
        payload: &HeartbeatPayload<'_>,
    ) -> Result<(), HeartbeatError> {
        let body = payload
            .encode()
            .map_err(|e| HeartbeatError::Publish(e.to_string()))?;
        match &self.0 {
            Inner::Nats(client) => client
                .publish(config.subject(), body.into())
                .await
                .map_err(|e| HeartbeatError::Publish(e.to_string())),
            Inner::Http { client, target } => {
                let url = format!(
                    "{}/api/fed/projects/{}/heartbeat",
                    target.server.trim_end_matches('/'),
                    config.slug()
                );
                let mut request = client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
                if let Some(key) = &target.api_key {
                    request = request.header("X-API-Key", key);
                }
                let response = request.send().await.map_err(|e| HeartbeatError::Http {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
                let status = response.status();
                if status == reqwest::StatusCode::ACCEPTED {
                    return Ok(());
                }
                let body = response.text().await.unwrap_or_default();
                Err(HeartbeatError::Rejected {
                    status: status.as_u16(),
                    body: body.chars().take(MAX_BODY_CHARS).collect(),
                })
            }
        }
    }

    /// Waits until what was sent has reached the server (NATS), at most 5 s.
    pub async fn flush(&self) -> Result<(), HeartbeatError> {
        match &self.0 {
            Inner::Nats(client) => tokio::time::timeout(SEND_TIMEOUT, client.flush())
                .await
                .map_err(|_| {
                    HeartbeatError::Flush(format!(
                        "not flushed within {SEND_TIMEOUT:?} (is NATS reachable?)"
                    ))
                })?
                .map_err(|e| HeartbeatError::Flush(e.to_string())),
            Inner::Http { .. } => Ok(()),
        }
    }
}
