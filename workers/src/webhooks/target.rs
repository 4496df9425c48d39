//! Where a webhook may be sent. An organisation's admin chooses the URL, and the request goes
//! out from inside our network, so without a check a webhook could reach our own services
//! (the database's HTTP ports, a cloud metadata endpoint at 169.254.169.254) on their behalf:
//! server-side request forgery. A URL is checked when it is set and again when it is sent,
//! because a name may resolve to a public address today and to 127.0.0.1 tomorrow (DNS
//! rebinding). At send time the check sits in the HTTP client's resolver, so the address that
//! was checked is the address that is connected to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest webhook URL accepted.
const MAX_URL_LEN: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("an absolute http or https URL of at most {MAX_URL_LEN} characters")]
    NotHttp,
    #[error(
        "{0} is a loopback, private, link-local or otherwise internal address; webhooks go to public addresses only"
    )]
    Internal(IpAddr),
    #[error("{0} resolves to no public address (it resolves to {1})")]
    ResolvesInternal(String, IpAddr),
    #[error("{0} does not resolve: {1}")]
    Unresolvable(String, String),
}

/// Addresses a webhook must never reach: loopback, private (RFC 1918, unique local),
/// link-local (where cloud metadata services live), unspecified, shared (CGNAT), multicast and
/// broadcast. An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is judged as IPv4.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, shared address space (carrier-grade NAT), internal by intent.
        || (a == 100 && (64..128).contains(&b))
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7, unique local.
        || (first & 0xfe00) == 0xfc00
        // fe80::/10, link-local.
        || (first & 0xffc0) == 0xfe80
        // ::/96, the deprecated IPv4-compatible form (::127.0.0.1).
        || ip.segments()[..6].iter().all(|s| *s == 0)
}

/// Which webhook targets are allowed: public addresses only, unless `allow_private`
/// (`WEBHOOK_ALLOW_PRIVATE=true`, for development and tests with a receiver on this machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Whether `url` may be a webhook target now: an absolute http(s) URL whose host is, or
    /// resolves only to, public addresses.
    pub async fn check(&self, url: &str) -> Result<url::Url, TargetError> {
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .filter(|_| url.len() <= MAX_URL_LEN)
            .ok_or(TargetError::NotHttp)?;
        if self.allow_private {
            return Ok(parsed);
        }
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.literal(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.literal(IpAddr::V6(ip))?,
            Some(url::Host::Domain(name)) => {
                let port = parsed.port_or_known_default().unwrap_or(443);
                resolve_public(name, port).await?;
            }
            None => return Err(TargetError::NotHttp),
        }
        Ok(parsed)
    }

    /// An address written in the URL itself: the resolver never sees it, so it is judged here.
    pub fn literal(&self, ip: IpAddr) -> Result<(), TargetError> {
        if !self.allow_private && is_internal(ip) {
            Err(TargetError::Internal(ip))
        } else {
            Ok(())
        }
    }

    /// The resolver the webhook client connects through: it drops internal addresses (all of
    /// them internal: the request fails), unless private targets are allowed.
    pub(crate) fn resolver(&self) -> Option<Arc<PublicOnly>> {
        (!self.allow_private).then(|| Arc::new(PublicOnly))
    }
}

/// Every address `name` resolves to, if all are public.
async fn resolve_public(name: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| TargetError::Unresolvable(name.to_string(), e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable(
            name.to_string(),
            "no addresses".into(),
        ));
    }
    // One internal address is enough to refuse: a client may try them in any order.
    if let Some(internal) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(TargetError::ResolvesInternal(
            name.to_string(),
            internal.ip(),
        ));
    }
    Ok(addrs)
}

/// A DNS resolver for the webhook client that answers only public addresses.
#[derive(Debug, Default)]
pub(crate) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs = resolve_public(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_internal_range_is_internal() {
        for internal in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "100.128.0.1",
            "2001:4860:4860::8888",
            "fec0::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_to_internal_addresses_are_refused_unless_allowed() {
        let strict = TargetPolicy {
            allow_private: false,
        };
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "https://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/x",
            "http://localhost:9/hook",
        ] {
            assert!(strict.check(url).await.is_err(), "{url}");
        }
        for bad in ["ftp://example.com/x", "not a url", "mailto:a@example.com"] {
            assert_eq!(strict.check(bad).await, Err(TargetError::NotHttp), "{bad}");
        }
        let open = TargetPolicy {
            allow_private: true,
        };
        assert!(open.check("http://127.0.0.1:8080/hook").await.is_ok());
        assert!(open.resolver().is_none());
        assert!(strict.resolver().is_some());
    }

    #[tokio::test]
    async fn the_resolver_drops_a_name_that_resolves_inside() {
        let resolved = PublicOnly
            .resolve("localhost".parse::<Name>().unwrap())
            .await;
        assert!(resolved.is_err());
    }
}
