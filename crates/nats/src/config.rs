//! How to reach NATS: the settings, the credentials and the client options built from
//! them.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectOptions;
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
            .field("canary_interval", &self.canary_interval)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum NatsError {
    #[error("cannot read NATS credentials file {path}: {source}")]
    Credentials {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use {setting} {path}: {message}")]
    TlsFile {
        setting: &'static str,
        path: String,
        message: String,
    },
    #[error("cannot set up the NATS client: {0}")]
    Connect(String),
    #[error("cannot subscribe to {subject}: {message}")]
    Subscribe { subject: String, message: String },
}

/// The client options that say who we are: credentials (file, URL, token, nkey) and TLS.
/// The credentials file is read on every call, so a client built later picks up a
/// rotated file.
pub(crate) async fn auth_options(config: &NatsConfig) -> Result<ConnectOptions, NatsError> {
    let mut options = match &config.creds {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| NatsError::Credentials {
                path: path.display().to_string(),
                source,
            })?,
        None => ConnectOptions::new(),
    };
    // Credentials in the URL (`nats://user:pass@host`, or `nats://token@host`): the
    // client library ignores them, so they are applied here.
    if let Some((user, password)) = url_credentials(&config.url) {
        options = match password {
            Some(password) => options.user_and_password(user, password),
            None => options.token(user),
        };
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(nkey) = &config.nkey {
        options = options.nkey(nkey.clone());
    }
    if config.url.starts_with("tls://") {
        options = options.require_tls(true);
    }
    if let Some(ca) = &config.tls_ca_file {
        check_pem(ca, "NATS_TLS_CA_FILE", "CERTIFICATE")?;
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &config.tls_client {
        check_pem(cert, "NATS_TLS_CERT_FILE", "CERTIFICATE")?;
        check_pem(key, "NATS_TLS_KEY_FILE", "PRIVATE KEY")?;
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// Fails, naming the setting and the file, unless `path` is readable PEM holding a
/// `-----BEGIN …{label}-----` block (async-nats reads it only when it connects, and then
/// retries without saying why).
fn check_pem(path: &std::path::Path, setting: &'static str, label: &str) -> Result<(), NatsError> {
    let failed = |message: String| NatsError::TlsFile {
        setting,
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")));
    if !found {
        return Err(failed(format!("no PEM {label} in it")));
    }
    Ok(())
}

/// The URL with any user, password or token in it masked, for logs.
pub(crate) fn redacted_url(raw: &str) -> String {
    federation_domain::redact::url(raw)
}

/// The user and password (or token, when there is no password) in a NATS URL, decoded.
fn url_credentials(raw: &str) -> Option<(String, Option<String>)> {
    federation_domain::redact::userinfo(raw)
}

/// The URL given to the client library: without its user info, which
/// [`auth_options`] passes separately (async-nats ignores it in the URL and logs the
/// URL it connects to).
pub(crate) fn connect_url(raw: &str) -> String {
    federation_domain::redact::without_userinfo(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_url() {
        assert_eq!(url_credentials("nats://127.0.0.1:4222"), None);
        assert_eq!(
            url_credentials("nats://svc:p%40ss@127.0.0.1:4222"),
            Some(("svc".into(), Some("p@ss".into())))
        );
        assert_eq!(
            url_credentials("tls://s3cret@nats.example.com"),
            Some(("s3cret".into(), None))
        );
    }

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
