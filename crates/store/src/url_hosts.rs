//! A PostgreSQL URL's list of hosts (`HOST1:PORT1,HOST2:PORT2`, a primary and its
//! standbys), which the `url` crate does not parse.

use super::ACCEPTED;
use crate::error::StoreError;

/// Stands in for a list of several hosts while the rest of a URL is checked.
const HOSTS_PLACEHOLDER: &str = "hosts.invalid";

/// Checks a PostgreSQL URL (the `url` crate's rules, a list of several hosts checked
/// here and standing in for one host there) and returns its hosts as written
/// (`HOST` or `HOST:PORT`, one or more).
pub(super) fn postgres_hosts(url: &str) -> Result<Vec<String>, StoreError> {
    let no_host =
        || StoreError::InvalidUrl(format!("the PostgreSQL URL names no host; {ACCEPTED}"));
    let range = federation_domain::redact::host_list(url).ok_or_else(no_host)?;
    let entries: Vec<&str> = url[range.clone()].split(',').collect();
    let checked = if entries.len() > 1 {
        for entry in &entries {
            check_host_entry(entry)?;
        }
        format!(
            "{}{HOSTS_PLACEHOLDER}{}",
            &url[..range.start],
            &url[range.end..]
        )
    } else {
        url.to_owned()
    };
    let parsed = url::Url::parse(&checked).map_err(|e| {
        StoreError::InvalidUrl(format!("not a valid PostgreSQL URL ({e}); {ACCEPTED}"))
    })?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    Ok(entries.into_iter().map(str::to_owned).collect())
}

/// One host of a list: a name, an IPv4 address or a bracketed IPv6 address, with an
/// optional `:PORT`.
fn check_host_entry(entry: &str) -> Result<(), StoreError> {
    let bad = |why: &str| {
        StoreError::InvalidUrl(format!(
            "host {entry:?} in the URL's list of hosts: {why}; {ACCEPTED}"
        ))
    };
    let (host, port) = match entry.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address needs its closing ]"))?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected :PORT after the address"))?,
                ),
            };
            (addr, port)
        }
        None => match entry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        },
    };
    let name_like = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if host.is_empty() || !host.chars().all(name_like) {
        return Err(bad("not a host name or address"));
    }
    if let Some(port) = port {
        port.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
    }
    Ok(())
}
