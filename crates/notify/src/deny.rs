//! `FEDERATION_NOTIFY_DENY`: CIDR blocks no notification may be sent to. Private
//! networks are allowed by default (hubs and their receivers live there); an operator
//! who wants receivers only on the internet lists them. The check applies to the
//! addresses a name resolves to (so a DNS answer cannot slip past it) and to a literal
//! IP in the URL.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// A refused CIDR block list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyList(Vec<IpNet>);

/// A deny list entry that is not a CIDR block or an address.
#[derive(Debug, thiserror::Error)]
#[error("FEDERATION_NOTIFY_DENY: {entry:?} is not a CIDR block (10.0.0.0/8) or an address")]
pub struct DenyListError {
    /// The entry.
    pub entry: String,
}

impl DenyList {
    /// Parses comma- or blank-separated blocks; a bare address is a /32 or /128.
    pub fn parse(raw: &str) -> Result<Self, DenyListError> {
        let mut nets = Vec::new();
        for entry in raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| DenyListError {
                    entry: entry.to_owned(),
                })?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether nothing is refused.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is refused (an IPv4-mapped IPv6 address is judged as IPv4).
    pub fn refuses(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The addresses not refused.
    pub fn filter(&self, addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
        addrs.filter(|a| !self.refuses(a.ip())).collect()
    }
}

/// A resolver for reqwest that drops refused addresses from every answer, and fails
/// when none is left.
#[derive(Debug, Clone)]
pub(crate) struct Resolver(pub(crate) std::sync::Arc<DenyList>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let deny = self.0.clone();
        Box::pin(async move {
            let host = format!("{}:0", name.as_str());
            let found = tokio::net::lookup_host(host).await?;
            let allowed = deny.filter(found);
            if allowed.is_empty() {
                return Err(
                    "every address of the receiver is refused by FEDERATION_NOTIFY_DENY".into(),
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_addresses_parse_and_refuse() {
        let d = DenyList::parse("10.0.0.0/8, 192.168.1.7 fd00::/8").unwrap();
        assert!(d.refuses("10.1.2.3".parse().unwrap()));
        assert!(d.refuses("192.168.1.7".parse().unwrap()));
        assert!(!d.refuses("192.168.1.8".parse().unwrap()));
        assert!(d.refuses("fd12::1".parse().unwrap()));
        assert!(d.refuses("::ffff:10.9.9.9".parse().unwrap()), "mapped IPv4");
        assert!(!d.refuses("127.0.0.1".parse().unwrap()));
        assert!(DenyList::parse("").unwrap().is_empty());
        let e = DenyList::parse("10.0.0.0/33").unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/33"));
    }
}
