//! Everything a request handler can reach.

use crate::config::GatewayConfig;
use crate::oidc::RelyingParty;
use crate::sessions::Sessions;
use crate::test_idp::TestIdp;
use crate::tokens::BearerKeys;
use chrono::{DateTime, Utc};
use omadata_clock::Clock;
use omadata_consent::{Consent, Directory, ServiceKey};
use omadata_vault::Vault;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub client_errors: AtomicU64,
    pub logins: AtomicU64,
    pub logins_refused: AtomicU64,
    pub permits: AtomicU64,
    pub denies: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The domain services and the gateway's own parts.
#[derive(Debug)]
pub struct Services {
    /// Declared first so it is dropped first: its flusher stops before the stores close.
    pub committer: crate::commit::AuditCommitter,
    /// Also stopped before the stores close.
    pub checkpointer: crate::checkpoints::Checkpointer,
    pub vault: Arc<Vault>,
    pub consent: Consent,
    pub directory: Directory,
    pub signing_key: Arc<ServiceKey>,
    pub clock: Arc<dyn Clock>,
    pub config: GatewayConfig,
    pub sessions: Sessions,
    pub relying_party: RelyingParty,
    pub test_idp: Option<TestIdp>,
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

    pub fn test_idp(&self) -> Option<&TestIdp> {
        self.0.test_idp.as_ref()
    }

    pub fn services(&self) -> &Services {
        &self.0
    }

    /// Appends an audit entry that changes nothing else and returns once it is on disk,
    /// sharing the flush with concurrent requests (group commit).
    pub async fn audit(
        &self,
        entry: omadata_consent::audit::AuditEntry,
    ) -> crate::error::ApiResult<omadata_consent::audit::AuditEntry> {
        let entry = self.services().consent.audit().append_deferred(entry)?;
        self.services().committer.durable(Some(entry.seq)).await?;
        Ok(entry)
    }

    /// Runs `work`, which waits for the disk (a durable write), on the blocking pool so
    /// the async workers go on serving meanwhile.
    pub async fn on_disk<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Services) -> T + Send + 'static,
    ) -> crate::error::ApiResult<T> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(state.services()))
            .await
            .map_err(|_| crate::error::ApiError::internal())
    }
}
