//! Gateway settings.

use chrono::Duration;
use url::Url;

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
    /// Serve the built-in test identity provider under `/test-idp` (never in production).
    pub test_idp: bool,
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
}

impl GatewayConfig {
    /// Settings for a gateway at `public_url` that logs in through its own test provider.
    pub fn with_test_idp(public_url: Url) -> Self {
        let issuer = format!("{}/test-idp", public_url.as_str().trim_end_matches('/'));
        let cookie_secure = public_url.scheme() == "https";
        Self {
            public_url,
            oidc: OidcSettings {
                issuer,
                client_id: "omadata-demo".into(),
                client_secret: None,
            },
            accepted_acr: DEFAULT_ACCEPTED_ACR
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            test_idp: true,
            cookie_secure,
            session_ttl: Duration::hours(8),
            bearer_ttl: Duration::minutes(15),
            reauthentication_max_age: Duration::minutes(5),
            max_body_bytes: 64 * 1024,
            checkpoint_interval: std::time::Duration::from_secs(300),
            request_timeout: std::time::Duration::from_secs(30),
        }
    }

    pub fn redirect_url(&self) -> String {
        format!(
            "{}/auth/callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }
}
