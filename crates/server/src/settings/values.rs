//! Reading one setting's value: durations, booleans, subjects, the HTTP limits, and the
//! error that names the variable and key a bad value came from.

use std::time::Duration;

use anyhow::bail;

use super::{HttpLimits, RawHttp, ENV_KEYS};

/// The environment variable that sets `key`, for error messages.
pub(super) fn env_for(key: &str) -> String {
    let vars: Vec<&str> = ENV_KEYS
        .iter()
        .filter(|(_, k)| *k == key)
        .map(|(v, _)| *v)
        .collect();
    if vars.is_empty() {
        key.to_owned()
    } else {
        format!("{} ({key})", vars.join(" / "))
    }
}

pub(super) fn invalid(key: &str, why: &str) -> anyhow::Error {
    anyhow::anyhow!("invalid configuration value for {}: {why}", env_for(key))
}

pub(super) fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

pub(super) fn parse_bool(raw: &str, key: &str) -> anyhow::Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(invalid(key, "must be true or false")),
    }
}

pub(super) fn subject(raw: &str, key: &str) -> anyhow::Result<String> {
    let s = raw.trim();
    let valid = !s.is_empty()
        && s.split('.').all(|t| {
            !t.is_empty() && !t.contains(['*', '>']) && !t.chars().any(char::is_whitespace)
        });
    if !valid {
        bail!(invalid(
            key,
            "must be a NATS subject without wildcards, such as hub.presence"
        ));
    }
    Ok(s.to_owned())
}

/// The canaries' subject prefix: a subject of the service's own, outside the presence
/// subjects (a listener of `<presence>.*` must receive heartbeats only).
pub(super) fn canary_subject(raw: &str, presence: &str) -> anyhow::Result<String> {
    let key = "nats.canary_subject";
    let canary = subject(raw, key)?;
    let presence = presence.trim();
    if canary == presence || canary.starts_with(&format!("{presence}.")) {
        bail!(invalid(
            key,
            "must be outside the presence subject (nats.presence_subject), such as \
             hub.federation.canary",
        ));
    }
    Ok(canary)
}

pub(super) fn http_limits(raw: &RawHttp) -> anyhow::Result<HttpLimits> {
    let timeout = |value: &str, key: &str| positive(parse_duration(value, key)?, key);
    Ok(HttpLimits {
        max_connections: raw
            .max_connections
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| invalid("http.max_connections", "must be a number 1-1000000"))?,
        keep_alive: timeout(&raw.keep_alive, "http.keep_alive")?,
        head_timeout: timeout(&raw.head_timeout, "http.head_timeout")?,
        body_timeout: timeout(&raw.body_timeout, "http.body_timeout")?,
        send_timeout: timeout(&raw.send_timeout, "http.send_timeout")?,
        disconnect_timeout: timeout(&raw.disconnect_timeout, "http.disconnect_timeout")?,
        shutdown_drain: parse_duration(&raw.shutdown_drain, "http.shutdown_drain")?,
    })
}

pub(super) fn positive(d: Duration, key: &str) -> anyhow::Result<Duration> {
    if d.is_zero() {
        return Err(invalid(key, "must be greater than zero"));
    }
    Ok(d)
}

/// Parses `90`, `90s`, `1.5s`, `500ms`, `1m`, `2h`, `90d`: plain numbers are seconds.
pub fn parse_duration(raw: &str, key: &str) -> anyhow::Result<Duration> {
    let s = raw.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| invalid(key, "must be a duration such as 90, 90s, 500ms or 1m"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(invalid(key, "unit must be ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| invalid(key, "is out of range"))
        .and_then(|d| {
            if d > Duration::from_secs(365 * 86400) {
                Err(invalid(key, "must be at most 365 days"))
            } else {
                Ok(d)
            }
        })
}

/// The URL with every secret masked: the one redaction (`federation_domain::redact`).
pub fn redact_url(url: &str) -> String {
    federation_domain::redact::url(url)
}
