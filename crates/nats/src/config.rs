//! How to reach NATS: the settings, the credentials and the client options built from
//! them.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectOptions;
use federation_nats_options::{NatsAuth, NatsOptionsError};
use thiserror::Error;

/// How to reach NATS and which subjects to use.
#[derive(Clone)]
pub struct NatsConfig {
    pub url: String,
    pub token: Option<String>,
    pub creds: Option<PathBuf>,
    pub nkey: Option<String>,
    /// CA certificates (PEM) the server's certificate must chain to; setting it
    /// requires TLS (`NATS_TLS_CA_FILE`).
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM), for servers that verify clients
    /// (`NATS_TLS_CERT_FILE`, `NATS_TLS_KEY_FILE`; both or neither).
    pub tls_client: Option<(PathBuf, PathBuf)>,
    pub presence_subject: String,
    pub events_subject: String,
    /// Our canaries travel on `<it>.<instance>`: a subject of the service's own, outside
    /// the presence subjects (default `hub.federation.canary`).
    pub canary_subject: String,
    pub canary_interval: Duration,
    pub queue_capacity: usize,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("NatsConfig")
            .field("url", &redacted_url(&self.url))
            .field("token", &masked(&self.token))
            .field("creds", &self.creds)
            .field("nkey", &masked(&self.nkey))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client", &self.tls_client)
            .field("presence_subject", &self.presence_subject)
            .field("events_subject", &self.events_subject)
            .field("canary_subject", &self.canary_subject)
            .field("canary_interval", &self.canary_interval)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum NatsError {
    /// The credentials file or a TLS file cannot be used (the message names the setting
    /// and the file).
    #[error(transparent)]
    Options(#[from] NatsOptionsError),
    #[error("cannot set up the NATS client: {0}")]
    Connect(String),
    #[error("cannot subscribe to {subject}: {message}")]
    Subscribe { subject: String, message: String },
}

impl NatsConfig {
    /// The authentication part, as the publisher takes it too.
    pub fn auth(&self) -> NatsAuth {
        NatsAuth {
            token: self.token.clone(),
            creds: self.creds.clone(),
            nkey: self.nkey.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_client: self.tls_client.clone(),
        }
    }
}

/// The client options that say who we are: credentials (file, URL, token, nkey) and TLS
/// (`federation-nats-options`, shared with the heartbeat publisher). The credentials
/// file is read on every call, so a client built later picks up a rotated file.
pub(crate) async fn auth_options(config: &NatsConfig) -> Result<ConnectOptions, NatsError> {
    Ok(config.auth().connect_options(&config.url).await?)
}

/// The URL with any user, password or token in it masked, for logs.
pub(crate) fn redacted_url(raw: &str) -> String {
    federation_domain::redact::url(raw)
}

/// The URL given to the client library: without its user info, which
/// [`auth_options`] passes separately (async-nats ignores it in the URL and logs the
/// URL it connects to).
pub(crate) fn connect_url(raw: &str) -> String {
    federation_nats_options::connect_url(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_every_secret() {
        let config = NatsConfig {
            url: "nats://svc:hunter2@127.0.0.1:4222".into(),
            token: Some("tok-secret".into()),
            creds: None,
            nkey: Some("SUAseed".into()),
            tls_ca_file: None,
            tls_client: None,
            presence_subject: "hub.presence".into(),
            events_subject: "hub.federation.status".into(),
            canary_subject: "hub.federation.canary".into(),
            canary_interval: Duration::from_secs(5),
            queue_capacity: 10,
        };
        let shown = format!("{config:?}");
        // The one redaction keeps a user name that has a password (only a lone user
        // name may be a token).
        for secret in ["hunter2", "tok-secret", "SUAseed"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("svc:***@127.0.0.1:4222"), "{shown}");
        // The client library is given no credentials in the URL (it would log them).
        assert_eq!(connect_url(&config.url), "nats://127.0.0.1:4222");
    }

    #[tokio::test]
    async fn a_missing_credentials_file_is_reported_with_its_path() {
        let config = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            token: None,
            creds: Some("/nonexistent/fed.creds".into()),
            nkey: None,
            tls_ca_file: None,
            tls_client: None,
            presence_subject: "hub.presence".into(),
            events_subject: "hub.federation.status".into(),
            canary_subject: "hub.federation.canary".into(),
            canary_interval: Duration::from_secs(5),
            queue_capacity: 10,
        };
        let err = auth_options(&config).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("/nonexistent/fed.creds")),
            "{err:?}"
        );
    }
}
