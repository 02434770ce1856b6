//! Everything a request handler can reach.

use crate::config::GatewayConfig;
use crate::oidc::RelyingParty;
use crate::sessions::Sessions;
use crate::tokens::BearerKeys;
use chrono::{DateTime, Utc};
use omadata_clock::Clock;
use omadata_consent::ServiceKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for `/metrics` (the access decisions are counted by the use cases:
/// `omadata_app::DecisionCounters`).
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub client_errors: AtomicU64,
    pub logins: AtomicU64,
    pub logins_refused: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The use cases' services and the gateway's own parts.
#[derive(Debug)]
pub struct Services {
    /// What the use cases reach (vault, consent, directory, group commit, quotas).
    pub app: Arc<omadata_app::Services>,
    pub signing_key: Arc<ServiceKey>,
    pub clock: Arc<dyn Clock>,
    pub config: GatewayConfig,
    pub sessions: Sessions,
    /// Seals logins under way into the browser's login cookie.
    pub(crate) logins: crate::sessions::LoginSealer,
    pub relying_party: RelyingParty,
    pub bearer: BearerKeys,
    pub metrics: Metrics,
    pub limits: crate::limits::Limits,
}

#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Services>);

impl AppState {
    pub fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }

    pub fn services(&self) -> &Services {
        &self.0
    }

    /// The use cases' services.
    pub fn app(&self) -> &Arc<omadata_app::Services> {
        &self.0.app
    }
}
