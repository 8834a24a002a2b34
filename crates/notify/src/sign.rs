//! The webhook signature: HMAC-SHA256 with the channel's secret over
//! `<timestamp>.<body>`, sent as `X-Federation-Signature: t=<unix seconds>,v1=<hex>`
//! (the scheme of Stripe's webhooks; GitHub's `X-Hub-Signature-256` signs the body
//! alone). The timestamp inside the signed text lets a receiver refuse replays outside
//! a window of its choosing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Federation-Signature";

/// The signature's hex digest of `<timestamp>.<body>`.
pub fn digest(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The header's value: `t=<timestamp>,v1=<hex digest>`.
pub fn header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", digest(secret, timestamp, body))
}

/// Checks a header value as a receiver would (constant-time compare), accepting a
/// timestamp at most `tolerance_secs` from `now`. For tests and the docs' Rust snippet.
pub fn verify(secret: &[u8], value: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = Some(x),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let Some(bytes) = unhex(v1) else {
        return false;
    };
    mac.verify_slice(&bytes).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_hmac_sha256_of_timestamp_dot_body() {
        // A value computed independently
        // (python3: hmac.new(b"key", b"1700000000.{}", "sha256").hexdigest()).
        assert_eq!(
            digest(b"key", 1_700_000_000, b"{}"),
            "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        let h = header(b"s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify(b"s3cret", &h, b"{\"a\":1}", 1_700_000_100, 300));
        assert!(
            !verify(b"s3cret", &h, b"{\"a\":2}", 1_700_000_100, 300),
            "body changed"
        );
        assert!(
            !verify(b"other!", &h, b"{\"a\":1}", 1_700_000_100, 300),
            "other secret"
        );
        assert!(
            !verify(b"s3cret", &h, b"{\"a\":1}", 1_700_001_000, 300),
            "replay window"
        );
        assert!(!verify(b"s3cret", "t=x,v1=zz", b"", 0, 300));
    }
}
