//! DNS rebinding: a web page can point a name it owns at 127.0.0.1 and then read and
//! write a service that answers without a key on the loopback interface, its requests
//! carrying its own name in `Host`. When the service has no API keys and listens on
//! loopback, only requests naming a loopback host (`localhost`, `*.localhost`,
//! `127.0.0.0/8`, `::1`) or a configured one (`FEDERATION_ALLOWED_HOSTS`) are served;
//! others get 403 `host_not_allowed`. With keys, or on another interface (an operator's
//! choice), the key is the guard.

use std::net::IpAddr;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use crate::error::ApiError;
use crate::ApiState;

/// The host names a keyless loopback service answers, besides loopback ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// From `FEDERATION_ALLOWED_HOSTS`: comma-separated names (ports and case ignored).
    pub fn parse(raw: Option<&str>) -> Self {
        AllowedHosts(
            raw.unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    /// Whether a request whose `Host` is `host` (as sent, port included) is served.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host);
        is_loopback_name(&name) || self.0.contains(&name)
    }
}

/// The name of a `Host` header value, lowercased, without its port or IPv6 brackets.
fn host_name(host: &str) -> String {
    let host = host.trim();
    if host.parse::<IpAddr>().is_ok() {
        // A bare address (an IPv6 one has colons that are no port).
        return host.to_ascii_lowercase();
    }
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The middleware: 403 for a request whose `Host` is neither loopback nor allowed, when
/// the state says hosts are checked.
pub(crate) async fn check_host(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refused = req
        .app_data::<web::Data<ApiState>>()
        .and_then(|state| state.allowed_hosts.as_ref())
        .is_some_and(|allowed| {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| req.connection_info().host().to_owned());
            !allowed.allows(&host)
        });
    if refused {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "this service has no API keys and answers only requests to a loopback host \
             name (or one of FEDERATION_ALLOWED_HOSTS)",
        );
        return Ok(req.into_response(e.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::AllowedHosts;

    #[test]
    fn loopback_names_and_configured_ones_are_allowed() {
        let none = AllowedHosts::parse(None);
        for ok in [
            "localhost",
            "localhost:8001",
            "LOCALHOST.",
            "dashboard.localhost:8001",
            "127.0.0.1",
            "127.0.0.1:8001",
            "127.1.2.3",
            "[::1]:8001",
            "::1",
        ] {
            assert!(none.allows(ok), "{ok}");
        }
        for refused in [
            "evil.attacker.com",
            "evil.attacker.com:8001",
            "localhost.attacker.com",
            "10.0.0.1",
            "[::2]",
            "",
        ] {
            assert!(!none.allows(refused), "{refused}");
        }
        let some = AllowedHosts::parse(Some(" Fed.Internal , other "));
        assert!(some.allows("fed.internal:8001") && some.allows("OTHER"));
        assert!(!some.allows("evil.attacker.com"));
    }
}
