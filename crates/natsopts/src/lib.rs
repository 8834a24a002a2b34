//! How the federation's NATS clients say who they are: the one place the service
//! (`federation-nats`) and the heartbeat publisher (`federation-heartbeat`) build their
//! async-nats options from the same settings.
//!
//! - credentials in the URL (`nats://user:pass@host`, `nats://token@host`): async-nats
//!   ignores them there, so they are applied by hand, and the URL the client is given
//!   (and logs) has none ([`connect_url`]);
//! - `NATS_TOKEN`, `NATS_CREDS` (a `.creds` file, read at each call so a rotated file is
//!   picked up), `NATS_NKEY`;
//! - TLS: a `tls://` URL requires it; `NATS_TLS_CA_FILE` adds CA certificates and
//!   requires it; `NATS_TLS_CERT_FILE` with `NATS_TLS_KEY_FILE` is a client certificate.
//!   Each file is checked for a PEM block before anything connects (async-nats reads
//!   them only when it connects, then retries without saying why).
//!
//! Errors name the setting and the file, never a secret; `Debug` masks the token and
//! the seed.

#![warn(missing_docs)]

mod pem;
mod url_credentials;

use std::path::PathBuf;

use async_nats::ConnectOptions;
use thiserror::Error;

pub use url_credentials::{connect_url, url_credentials};

/// NATS authentication and TLS, as the settings name them.
#[derive(Clone, Default)]
pub struct NatsAuth {
    /// A token (`NATS_TOKEN`).
    pub token: Option<String>,
    /// A credentials file (`NATS_CREDS`).
    pub creds: Option<PathBuf>,
    /// An NKey seed (`NATS_NKEY`).
    pub nkey: Option<String>,
    /// CA certificates (PEM) the server's certificate must chain to; setting it
    /// requires TLS (`NATS_TLS_CA_FILE`).
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate and its key, PEM, for servers that verify clients
    /// (`NATS_TLS_CERT_FILE`, `NATS_TLS_KEY_FILE`; both or neither).
    pub tls_client: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("NatsAuth")
            .field("token", &masked(&self.token))
            .field("creds", &self.creds)
            .field("nkey", &masked(&self.nkey))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client", &self.tls_client)
            .finish()
    }
}

/// Why the client options could not be built.
#[derive(Debug, Error)]
pub enum NatsOptionsError {
    /// The credentials file could not be read.
    #[error("cannot read NATS credentials file {path}: {source}")]
    Credentials {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file is missing, unreadable, or holds no PEM block of the right kind.
    #[error("cannot use {setting} {path}: {message}")]
    TlsFile {
        /// The setting (`NATS_TLS_CA_FILE`, …).
        setting: &'static str,
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

impl NatsAuth {
    /// async-nats options carrying this authentication for a client of `url` (the
    /// credentials file is read here), requiring TLS for a `tls://` URL or a CA file.
    /// Connect to [`connect_url`]`(url)`, which leaves the URL's credentials out.
    pub async fn connect_options(&self, url: &str) -> Result<ConnectOptions, NatsOptionsError> {
        let mut options = match &self.creds {
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| NatsOptionsError::Credentials {
                    path: path.display().to_string(),
                    source,
                })?,
            None => ConnectOptions::new(),
        };
        if let Some((user, password)) = url_credentials(url) {
            options = match password {
                Some(password) => options.user_and_password(user, password),
                None => options.token(user),
            };
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(nkey) = &self.nkey {
            options = options.nkey(nkey.clone());
        }
        if url.trim_start().starts_with("tls://") {
            options = options.require_tls(true);
        }
        if let Some(ca) = &self.tls_ca_file {
            pem::check(ca, "NATS_TLS_CA_FILE", "CERTIFICATE")?;
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.tls_client {
            pem::check(cert, "NATS_TLS_CERT_FILE", "CERTIFICATE")?;
            pem::check(key, "NATS_TLS_KEY_FILE", "PRIVATE KEY")?;
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_token_and_the_seed() {
        let auth = NatsAuth {
            token: Some("tok-secret".into()),
            nkey: Some("SUAseed".into()),
            creds: Some("/etc/fed.creds".into()),
            ..NatsAuth::default()
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("tok-secret") && !shown.contains("SUAseed"),
            "{shown}"
        );
        assert!(shown.contains("/etc/fed.creds"), "{shown}");
    }

    #[tokio::test]
    async fn a_missing_credentials_file_is_named() {
        let auth = NatsAuth {
            creds: Some("/nonexistent/fed.creds".into()),
            ..NatsAuth::default()
        };
        let err = auth.connect_options("nats://127.0.0.1:4222").await.err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("cannot read NATS credentials file /nonexistent/fed.creds"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tls_files_are_checked_naming_the_setting_and_never_the_secrets() {
        let auth = NatsAuth {
            token: Some("tok-secret".into()),
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..NatsAuth::default()
        };
        let err = auth
            .connect_options("nats://u:hunter2@127.0.0.1:4222")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("cannot use NATS_TLS_CA_FILE /nonexistent/ca.pem: "),
            "{err}"
        );
        assert!(
            !err.contains("tok-secret") && !err.contains("hunter2"),
            "{err}"
        );
    }
}
