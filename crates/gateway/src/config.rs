//! Gateway settings.

use chrono::Duration;
use std::net::IpAddr;
use url::Url;
use zeroize::Zeroizing;

/// The Finnish substantial and high levels of assurance, national and eIDAS.
pub const DEFAULT_ACCEPTED_ACR: [&str; 4] = [
    "http://ftn.ficora.fi/2017/loa2",
    "http://ftn.ficora.fi/2017/loa3",
    "http://eidas.europa.eu/LoA/substantial",
    "http://eidas.europa.eu/LoA/high",
];

#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The provider's issuer URL; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where people reach the gateway; the OpenID redirect URL is built from it.
    pub public_url: Url,
    pub oidc: OidcSettings,
    /// `acr` values accepted in ID tokens.
    pub accepted_acr: Vec<String>,
    /// Mark cookies `Secure`. Off only for plain http on loopback (the demo).
    pub cookie_secure: bool,
    pub session_ttl: Duration,
    pub bearer_ttl: Duration,
    /// How recent a sign-in irreversible actions (erasure) need.
    pub reauthentication_max_age: Duration,
    pub max_body_bytes: usize,
    /// How often the audit log's checkpoint is signed (when the log has grown).
    pub checkpoint_interval: std::time::Duration,
    /// How long a request may take before it is answered anyway (see `deadline`).
    pub request_timeout: std::time::Duration,
    /// Connection limits, trusted proxies and the metrics token.
    pub network: NetworkSettings,
}

/// How the gateway treats connections and their addresses.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    /// Time a client has to send a complete request head, counted from when the
    /// connection opens or its previous response was sent: a client that trickles its
    /// headers (slow loris) or leaves a kept-alive connection unused is cut off after it.
    pub header_read_timeout: std::time::Duration,
    /// Longest pause while a request body is read; the whole request, body included,
    /// also ends with 408 after 30 s.
    pub body_read_timeout: std::time::Duration,
    /// A connection on which no byte moved either way for this long is closed (after
    /// its request under way, if any, has had the same time again): a client that stops
    /// reading its response cannot hold the connection.
    pub idle_timeout: std::time::Duration,
    /// Open connections at most; further clients wait in the listen queue until one
    /// closes.
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` header names the client (reverse proxies). From
    /// any other peer the header is ignored: anyone can write it.
    pub trusted_proxies: Vec<IpCidr>,
    /// Bearer token that `GET /metrics` requires; without one, `/metrics` answers 404.
    pub metrics_token: Option<Zeroizing<String>>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            idle_timeout: std::time::Duration::from_secs(60),
            max_connections: 4096,
            trusted_proxies: Vec::new(),
            metrics_token: None,
        }
    }
}

impl NetworkSettings {
    /// Whether `address` is one of the trusted proxies.
    pub fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(address))
    }
}

/// An address block: `10.0.0.0/8`, `::1/128`, or one address (`192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

impl IpCidr {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical_ip(address)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_match(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                prefix_match(u128::from(net), u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: u128, address: u128, bits: u8, prefix: u8) -> bool {
    let host_bits = u32::from(bits - prefix);
    net.checked_shr(host_bits).unwrap_or(0) == address.checked_shr(host_bits).unwrap_or(0)
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.7`) is the IPv4 address.
pub fn canonical_ip(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

impl std::str::FromStr for IpCidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = canonical_ip(
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("{text:?} is not an IP address or block (a.b.c.d/n)"))?,
        );
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl GatewayConfig {
    /// Settings for a gateway at `public_url` that signs people in at the provider
    /// `oidc`; the rest at their defaults.
    pub fn new(public_url: Url, oidc: OidcSettings) -> Self {
        let cookie_secure = public_url.scheme() == "https";
        Self {
            public_url,
            oidc,
            accepted_acr: DEFAULT_ACCEPTED_ACR
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            cookie_secure,
            session_ttl: Duration::hours(8),
            bearer_ttl: Duration::minutes(15),
            reauthentication_max_age: Duration::minutes(5),
            max_body_bytes: 64 * 1024,
            checkpoint_interval: std::time::Duration::from_secs(300),
            request_timeout: std::time::Duration::from_secs(30),
            network: NetworkSettings::default(),
        }
    }

    pub fn redirect_url(&self) -> String {
        format!(
            "{}/auth/callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_blocks_parse_and_match() {
        let net: IpCidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        let one: IpCidr = "127.0.0.5".parse().unwrap();
        assert!(one.contains("127.0.0.5".parse().unwrap()));
        assert!(!one.contains("127.0.0.6".parse().unwrap()));
        let all: IpCidr = "::/0".parse().unwrap();
        assert!(all.contains("2001:db8::1".parse().unwrap()));
        assert!(!all.contains("192.0.2.1".parse().unwrap()));
        let v6: IpCidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpCidr>().is_err());
        assert!("proxy.example".parse::<IpCidr>().is_err());
    }
}
