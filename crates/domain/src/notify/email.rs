//! An email channel's target: an SMTP relay (its host and port in the channel's URL,
//! `smtp://host:port`), how to secure the connection, who it is from and to.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Most recipients one channel has.
pub const RECIPIENTS_MAX: usize = 20;
/// Longest address, in characters (RFC 5321's path limit).
pub const ADDRESS_MAX: usize = 254;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS, required: a relay that does not offer it gets nothing (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a relay on this host or a trusted network.
    None,
}

impl SmtpTls {
    /// Parses `starttls`, `tls` or `none`; errors name `email.tls`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim() {
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            "none" => Ok(SmtpTls::None),
            _ => Err(ValidationError::new(
                "email.tls",
                "must be \"starttls\", \"tls\" or \"none\"",
            )),
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// An email channel's settings as given, not yet validated.
#[derive(Debug, Clone, Default)]
pub struct EmailInput {
    /// Required: the sender address.
    pub from: Option<String>,
    /// Required: 1–20 recipient addresses.
    pub to: Option<Vec<String>>,
    /// The SMTP login, if the relay wants one (the password is the channel's secret).
    pub username: Option<String>,
    /// `starttls` (default), `tls` or `none`.
    pub tls: Option<String>,
}

/// An email channel's validated settings (stored as JSON; no password here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSpec {
    /// The sender.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The SMTP login.
    pub username: Option<String>,
    /// How the connection is secured.
    pub tls: SmtpTls,
}

/// A plausible address: `local@domain`, no blanks or control characters, no `<>`
/// (the mailer parses it fully when sending).
fn address(raw: &str, field: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    let ok = !s.is_empty()
        && s.chars().count() <= ADDRESS_MAX
        && s.split('@').count() == 2
        && !s.starts_with('@')
        && !s.ends_with('@')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            format!("must be an email address (local@domain, at most {ADDRESS_MAX} characters)"),
        ))
    }
}

impl EmailSpec {
    /// Validates the settings; errors name `email.FIELD`.
    pub fn parse(input: EmailInput) -> Result<Self, ValidationError> {
        let from = address(
            &input
                .from
                .ok_or_else(|| ValidationError::new("email.from", "is required"))?,
            "email.from",
        )?;
        let raw_to = input
            .to
            .ok_or_else(|| ValidationError::new("email.to", "is required"))?;
        if raw_to.is_empty() || raw_to.len() > RECIPIENTS_MAX {
            return Err(ValidationError::new(
                "email.to",
                format!("must list 1 to {RECIPIENTS_MAX} addresses"),
            ));
        }
        let to = raw_to
            .iter()
            .enumerate()
            .map(|(i, a)| address(a, &format!("email.to[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let username = input
            .username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if username
            .as_ref()
            .is_some_and(|u| u.chars().count() > ADDRESS_MAX || u.chars().any(char::is_control))
        {
            return Err(ValidationError::new(
                "email.username",
                format!("must be at most {ADDRESS_MAX} characters without control characters"),
            ));
        }
        let tls = input
            .tls
            .as_deref()
            .map_or(Ok(SmtpTls::Starttls), SmtpTls::parse)?;
        Ok(Self {
            from,
            to,
            username,
            tls,
        })
    }
}

/// Validates an SMTP relay URL: `smtp://host[:port]`, nothing else (no credentials: the
/// login is `email.username`, the password the channel's secret). Errors name `url`.
pub fn smtp_url(raw: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    let url = url::Url::parse(s)
        .map_err(|e| ValidationError::new("url", format!("must be smtp://host[:port] ({e})")))?;
    if url.scheme() != "smtp" {
        return Err(ValidationError::new(
            "url",
            "an email channel's URL must be smtp://host[:port] (TLS is chosen by email.tls)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ValidationError::new("url", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ValidationError::new(
            "url",
            "must not carry credentials (use email.username and secret)",
        ));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(ValidationError::new(
            "url",
            "must be smtp://host[:port] with no path or query",
        ));
    }
    Ok(s.to_owned())
}
