//! Email through an SMTP relay (lettre): STARTTLS required, TLS from the first byte,
//! or none (a local relay); a login when the channel has one (its secret is the
//! password). One attempt per call, bounded by the timeout.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use federation_domain::notify::{Attempt, ChannelSpec, Message, Sender, SmtpTls};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::body::mail_body;
use crate::deny::DenyList;

/// Sends messages as email.
#[derive(Debug, Clone)]
pub struct SmtpSender {
    timeout: Duration,
    deny: std::sync::Arc<DenyList>,
}

impl SmtpSender {
    /// A sender whose attempts last at most `timeout`, refusing relays on `deny`.
    pub fn new(timeout: Duration, deny: DenyList) -> Self {
        Self {
            timeout,
            deny: std::sync::Arc::new(deny),
        }
    }
}

fn failed(error: impl Into<String>, retryable: bool, t: Instant) -> Attempt {
    Attempt {
        http_status: None,
        error: Some(error.into()),
        retryable,
        latency_ms: u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, channel: &ChannelSpec, message: &Message) -> Attempt {
        let started = Instant::now();
        let Some(email) = &channel.email else {
            return failed("the channel has no email settings", false, started);
        };
        let Ok(url) = url::Url::parse(channel.url.as_str()) else {
            return failed("the channel's URL does not parse", false, started);
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port().unwrap_or(email.tls.default_port());
        // The deny list, on every address the relay's name resolves to.
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => {
                let addrs: Vec<_> = addrs.collect();
                if !addrs.is_empty() && self.deny.filter(addrs.into_iter()).is_empty() {
                    return failed(
                        "the relay's address is refused by FEDERATION_NOTIFY_DENY",
                        false,
                        started,
                    );
                }
            }
            Err(e) => return failed(format!("resolving the relay: {e}"), true, started),
        }
        let from: Mailbox = match email.from.parse() {
            Ok(m) => m,
            Err(e) => return failed(format!("email.from: {e}"), false, started),
        };
        let mut builder = lettre::Message::builder()
            .from(from)
            .subject(message.headline())
            .message_id(Some(format!("<{}@federation>", message.idempotency_key())))
            .header(ContentType::TEXT_PLAIN);
        for to in &email.to {
            match to.parse::<Mailbox>() {
                Ok(m) => builder = builder.to(m),
                Err(e) => return failed(format!("email.to: {e}"), false, started),
            }
        }
        let mail = match builder.body(mail_body(message)) {
            Ok(m) => m,
            Err(e) => return failed(format!("building the mail: {e}"), false, started),
        };
        let tls = match email.tls {
            SmtpTls::None => Tls::None,
            mode => match TlsParameters::new(host.clone()) {
                Ok(p) if mode == SmtpTls::Tls => Tls::Wrapper(p),
                Ok(p) => Tls::Required(p),
                Err(e) => return failed(format!("TLS set-up: {e}"), false, started),
            },
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let (Some(user), Some(pass)) = (&email.username, &channel.secret) {
            transport =
                transport.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
        }
        let transport = transport.build();
        match tokio::time::timeout(self.timeout, transport.send(mail)).await {
            Err(_) => failed("the relay did not answer in time", true, started),
            Ok(Ok(_)) => Attempt {
                http_status: None,
                error: None,
                retryable: false,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            },
            Ok(Err(e)) => {
                let permanent = e.is_permanent();
                failed(format!("SMTP: {e}"), !permanent, started)
            }
        }
    }
}
