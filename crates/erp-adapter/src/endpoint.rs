//! Which ERP endpoint URLs Shiphold may post to. A merchant types the URL, so without a policy
//! the server could be pointed at its own network (SSRF): only https to public addresses is
//! allowed, checked on the URL and again on every address its host resolves to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// The rules for ERP endpoint URLs.
///
/// ```
/// use shiphold_erp_adapter::EndpointPolicy;
/// let strict = EndpointPolicy::default();
/// assert!(strict.check_url("https://erp.example.com/hooks/shiphold").is_ok());
/// assert!(strict.check_url("http://erp.example.com/hooks").is_err());
/// assert!(strict.check_url("https://127.0.0.1/hooks").is_err());
/// assert!(strict.check_url("https://[fd00::1]/hooks").is_err());
/// // Tests and demos switch the checks off explicitly.
/// assert!(EndpointPolicy { allow_insecure: true }.check_url("http://127.0.0.1:8080/").is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointPolicy {
    /// Allow plain http and non-public addresses (loopback, private networks…). For tests and
    /// demos only.
    pub allow_insecure: bool,
}

/// Why an endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL at all.
    #[error("not a valid URL: {0}")]
    InvalidUrl(String),
    /// The scheme is not https (or http, when insecure endpoints are allowed).
    #[error("scheme `{0}` is not allowed; use https")]
    Scheme(String),
    /// The URL has no host.
    #[error("the URL has no host")]
    NoHost,
    /// The URL carries a user name or password; secrets belong in the shop's settings.
    #[error("the URL must not contain credentials")]
    Credentials,
    /// The host is a name that always means this machine (`localhost`).
    #[error("host `{0}` is not allowed")]
    LocalName(String),
    /// The host is, or resolves to, an address that is not public.
    #[error("address {addr} is not allowed ({kind})")]
    ForbiddenAddress {
        /// The address.
        addr: IpAddr,
        /// What kind of address it is, e.g. `loopback`.
        kind: &'static str,
    },
    /// The host name did not resolve to any address.
    #[error("host `{host}` did not resolve: {reason}")]
    Unresolved {
        /// The host name.
        host: String,
        /// The resolver's error.
        reason: String,
    },
}

impl EndpointPolicy {
    /// The production policy: https and public addresses only.
    pub const STRICT: Self = Self {
        allow_insecure: false,
    };
    /// The policy for tests and demos: anything http(s) goes.
    pub const INSECURE: Self = Self {
        allow_insecure: true,
    };

    /// Checks a URL without touching the network: the scheme, credentials, and the host when
    /// it is an IP address or `localhost`. Names are checked at delivery time by
    /// [`EndpointPolicy::check_resolved`] (or the client's resolver).
    pub fn check_url(&self, url: &str) -> Result<Url, EndpointError> {
        let parsed = Url::parse(url).map_err(|e| EndpointError::InvalidUrl(e.to_string()))?;
        self.check_parsed(&parsed)?;
        Ok(parsed)
    }

    /// [`EndpointPolicy::check_url`] for an already parsed URL.
    pub fn check_parsed(&self, url: &Url) -> Result<(), EndpointError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure => {}
            other => return Err(EndpointError::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::Credentials);
        }
        let host = url.host().ok_or(EndpointError::NoHost)?;
        if self.allow_insecure {
            return Ok(());
        }
        match host {
            Host::Ipv4(v4) => self.check_ip(IpAddr::V4(v4)),
            Host::Ipv6(v6) => self.check_ip(IpAddr::V6(v6)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    Err(EndpointError::LocalName(name))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Checks one resolved address.
    ///
    /// ```
    /// use shiphold_erp_adapter::EndpointPolicy;
    /// let p = EndpointPolicy::STRICT;
    /// assert!(p.check_ip("93.184.215.14".parse().unwrap()).is_ok());
    /// assert!(p.check_ip("100.64.0.1".parse().unwrap()).is_err()); // carrier-grade NAT
    /// assert!(p.check_ip("::ffff:10.0.0.1".parse().unwrap()).is_err()); // mapped private
    /// ```
    pub fn check_ip(&self, addr: IpAddr) -> Result<(), EndpointError> {
        if self.allow_insecure {
            return Ok(());
        }
        match forbidden_kind(addr) {
            Some(kind) => Err(EndpointError::ForbiddenAddress { addr, kind }),
            None => Ok(()),
        }
    }

    /// Resolves the URL's host and checks every address it resolves to (all of them, since
    /// the connection may use any). Returns the addresses.
    #[cfg(feature = "client")]
    pub async fn check_resolved(
        &self,
        url: &Url,
    ) -> Result<Vec<std::net::SocketAddr>, EndpointError> {
        self.check_parsed(url)?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<std::net::SocketAddr> = match url.host() {
            Some(Host::Ipv4(v4)) => vec![(IpAddr::V4(v4), port).into()],
            Some(Host::Ipv6(v6)) => vec![(IpAddr::V6(v6), port).into()],
            Some(Host::Domain(name)) => self.resolve(name, port).await?,
            None => return Err(EndpointError::NoHost),
        };
        Ok(addrs)
    }

    /// Resolves a host name and checks every address.
    #[cfg(feature = "client")]
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<std::net::SocketAddr>, EndpointError> {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| EndpointError::Unresolved {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(EndpointError::Unresolved {
                host: host.to_owned(),
                reason: "no addresses".to_owned(),
            });
        }
        for addr in &addrs {
            self.check_ip(addr.ip())?;
        }
        Ok(addrs)
    }
}

/// The kind of a non-public address, or `None` for a public one.
///
/// ```
/// use shiphold_erp_adapter::forbidden_kind;
/// assert_eq!(forbidden_kind("192.168.1.10".parse().unwrap()), Some("private"));
/// assert_eq!(forbidden_kind("fe80::1".parse().unwrap()), Some("link-local"));
/// assert_eq!(forbidden_kind("1.1.1.1".parse().unwrap()), None);
/// ```
pub fn forbidden_kind(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if a == 100 && (64..128).contains(&b) {
        "carrier-grade NAT"
    } else if a == 192 && b == 0 && c == 0 {
        "IETF protocol assignment"
    } else if ip.is_documentation() {
        "documentation"
    } else if a == 198 && (b == 18 || b == 19) {
        "benchmarking"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() || a >= 240 {
        "reserved"
    } else {
        return None;
    };
    Some(kind)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that carry an IPv4 address reach that address: judge it instead.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let seg = ip.segments();
    let o = ip.octets();
    if seg[0..4] == [0, 0, 0, 0] && seg[4] == 0xffff && seg[5] == 0 {
        // IPv4-translated (::ffff:0:0/96, SIIT): the last 32 bits are the IPv4 destination.
        return forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2] == 0x0001 {
        // Local-use NAT64 (64:ff9b:1::/48): translated by the operator's own gateway into
        // addresses this policy cannot judge, so never a public destination.
        return Some("local-use NAT64");
    }
    if seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        // NAT64 (64:ff9b::/96)
        return forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if seg[0] == 0x2002 {
        // 6to4 (2002::/16) embeds the IPv4 address in the next 32 bits.
        return forbidden_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    let kind = if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if seg[0..6] == [0, 0, 0, 0, 0, 0] {
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        "IPv4-compatible"
    } else if (seg[0] & 0xfe00) == 0xfc00 {
        "private"
    } else if (seg[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if (seg[0] & 0xffc0) == 0xfec0 {
        "site-local"
    } else if (seg[0] & 0xff00) == 0xff00 {
        "multicast"
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        "documentation"
    } else if seg[0] == 0x2001 && seg[1] == 0 {
        // Teredo tunnels to an address the policy cannot see.
        "Teredo"
    } else if seg[0] == 0x0100 && seg[1..4] == [0, 0, 0] {
        "discard-only"
    } else {
        return None;
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_public_range_is_refused() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fdff::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.1.1",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
            "::7f00:1",
            "2001::1",
            // IPv4-translated forms of loopback and the metadata address, and local-use NAT64.
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1::808:808",
        ];
        for a in refused {
            let ip: IpAddr = a.parse().expect("test address");
            assert!(forbidden_kind(ip).is_some(), "{a} should be refused");
            assert!(EndpointPolicy::INSECURE.check_ip(ip).is_ok());
        }
        let allowed = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for a in allowed {
            let ip: IpAddr = a.parse().expect("test address");
            assert_eq!(forbidden_kind(ip), None, "{a} should be allowed");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_hosts() {
        let p = EndpointPolicy::STRICT;
        assert!(p.check_url("https://erp.example.com:8443/x?y=1").is_ok());
        assert!(matches!(
            p.check_url("http://erp.example.com"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            p.check_url("ftp://erp.example.com"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            p.check_url("not a url"),
            Err(EndpointError::InvalidUrl(_))
        ));
        assert!(matches!(
            p.check_url("https://user:pw@erp.example.com"),
            Err(EndpointError::Credentials)
        ));
        assert!(matches!(
            p.check_url("https://localhost/"),
            Err(EndpointError::LocalName(_))
        ));
        assert!(matches!(
            p.check_url("https://a.localhost./"),
            Err(EndpointError::LocalName(_))
        ));
        // The URL parser normalises odd IPv4 spellings, so they cannot slip through as names.
        for sneaky in [
            "https://2130706433/",
            "https://0x7f.1/",
            "https://127.1/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:0:127.0.0.1]/",
            "https://[::ffff:0:a9fe:a9fe]/",
            "https://[64:ff9b:1::a9fe:a9fe]/",
        ] {
            assert!(
                matches!(
                    p.check_url(sneaky),
                    Err(EndpointError::ForbiddenAddress { .. })
                ),
                "{sneaky}"
            );
        }
        assert!(
            EndpointPolicy::INSECURE
                .check_url("http://127.0.0.1:9/")
                .is_ok()
        );
        assert!(
            EndpointPolicy::INSECURE
                .check_url("ftp://127.0.0.1:9/")
                .is_err()
        );
    }

    #[cfg(feature = "client")]
    #[tokio::test]
    async fn resolved_addresses_are_checked() {
        let url = Url::parse("https://localhost.:8443/").expect("url");
        // `localhost.` is refused by name already; resolve a name through the system resolver
        // that is loopback by definition instead, via the crate-private path.
        assert!(EndpointPolicy::STRICT.check_resolved(&url).await.is_err());
        let err = EndpointPolicy::STRICT.resolve("localhost", 443).await;
        assert!(
            matches!(err, Err(EndpointError::ForbiddenAddress { .. })),
            "{err:?}"
        );
        let ok = EndpointPolicy::INSECURE.resolve("localhost", 443).await;
        assert!(ok.is_ok_and(|a| !a.is_empty()));
        let literal = Url::parse("https://127.0.0.1/").expect("url");
        assert!(
            EndpointPolicy::INSECURE
                .check_resolved(&literal)
                .await
                .is_ok()
        );
    }
}
