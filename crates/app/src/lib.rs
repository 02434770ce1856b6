//! OmaData's use cases: one function for each thing a person can do, across the vault,
//! consent and the directory. Plain inputs (who acts, what they sent, `now`), domain
//! results, one error enum; no HTTP (the gateway maps [`AppError`] to answers).
//!
//! Map of the crate:
//! - [`Services`]: the domain services a use case reaches, with the group commit, the
//!   scheduled checkpoints, the quotas and the decision counters.
//! - [`principal`]: who acts ([`Role`], [`Principal`]).
//! - [`sign_in`]: enrol-or-find at sign-in, the principal a token names, sign-in and
//!   sign-out audit entries.
//! - [`client`]: the client's own data and consents (read, write, pairing codes,
//!   approve / narrow / deny, grant, revoke, receipts, access log, export, erasure).
//! - [`professional`]: requests, the professional's clients, reading and writing a
//!   client's record (decision, open, audit, group commit).
//! - [`auditor`]: events, checkpoints, proofs, verification; [`admin`]: staff.
//! - [`commit`]: group commit of the audit log (one flusher thread).
//! - [`checkpoints`]: checkpoints signed on a schedule (one thread).
//! - [`limits`]: quotas against guessing and against growing storage.
//! - [`error`]: the one error enum, [`AppError`].
//! - [`calendar`]: what a date on a page means (a day in Helsinki) and how dates are
//!   written in Finnish, Swedish and English ([`calendar::Language`]).
//!
//! Rules live in the domain crates (the access decision and the audit log in
//! `omadata-consent`, sealing in `omadata-vault`); a use case only puts them in order,
//! and waits for the audit entry to be durable before it returns what was disclosed.

pub mod admin;
pub mod auditor;
pub mod calendar;
pub mod checkpoints;
pub mod client;
pub mod commit;
pub mod error;
pub mod limits;
pub mod principal;
pub mod professional;
pub mod sign_in;

pub use error::{AppError, AppResult};
pub use principal::{Principal, Role};

use chrono::{DateTime, Utc};
use omadata_clock::Clock;
use omadata_consent::audit::AuditEntry;
use omadata_consent::{Consent, Directory};
use omadata_vault::Vault;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Access decisions made, for the metrics.
#[derive(Debug, Default)]
pub struct DecisionCounters {
    pub permits: AtomicU64,
    pub denies: AtomicU64,
}

impl DecisionCounters {
    fn count(&self, permits: u64, denies: u64) {
        self.permits.fetch_add(permits, Ordering::Relaxed);
        self.denies.fetch_add(denies, Ordering::Relaxed);
    }
}

/// What every use case reaches. Held in an `Arc`: writes run on the blocking pool.
#[derive(Debug)]
pub struct Services {
    /// Declared first so it is dropped first: its flusher stops before the stores close.
    pub committer: commit::AuditCommitter,
    /// Held for its drop, which stops the signer before the stores close.
    _checkpointer: Option<checkpoints::Checkpointer>,
    pub vault: Arc<Vault>,
    pub consent: Consent,
    pub directory: Directory,
    pub quotas: limits::Quotas,
    pub decisions: DecisionCounters,
    /// The looks at the shared store's change counts ([`Services::observe_changes`]).
    change_looks: ChangeLooks,
}

/// The looks at a shared store's change counts, one at a time. A request needs a look
/// begun after it arrived (so it sees every change acknowledged before), and one look
/// serves every request that arrived before it began: under load a look is shared by
/// the requests that came while the one before it ran, instead of one query each.
#[derive(Debug, Default)]
struct ChangeLooks {
    /// Looks begun so far (the next look's number is this plus one).
    begun: AtomicU64,
    /// The last look that finished; held while a look runs, so looks run one at a time
    /// and waiters queue in order.
    finished: tokio::sync::Mutex<LastLook>,
}

#[derive(Debug, Default)]
struct LastLook {
    number: u64,
    /// The counts as of the last look that succeeded.
    counts: Option<omadata_consent::store::ChangeCounts>,
    /// Why the last look failed, if it did: the requests that waited for it fail with
    /// it at once rather than each trying again in turn (a database that does not
    /// answer would hold each of them for a whole call timeout, one after another).
    failure: Option<String>,
}

impl Services {
    /// The services with the group commit running; with `checkpoint_every`, also the
    /// scheduled checkpoint signing (one signed at once).
    pub fn start(
        vault: Arc<Vault>,
        consent: Consent,
        directory: Directory,
        clock: Arc<dyn Clock>,
        checkpoint_every: Option<Duration>,
    ) -> std::io::Result<Arc<Self>> {
        // Events counted before a restart (or by the gateway this one took over from).
        let quotas = limits::Quotas::restore(consent.store().as_ref(), clock.now())
            .map_err(std::io::Error::other)?;
        let committer = commit::AuditCommitter::start(consent.audit_handle())?;
        let checkpointer = checkpoint_every
            .map(|every| checkpoints::Checkpointer::start(consent.audit_handle(), clock, every))
            .transpose()?;
        Ok(Arc::new(Self {
            committer,
            _checkpointer: checkpointer,
            vault,
            consent,
            directory,
            quotas,
            decisions: DecisionCounters::default(),
            change_looks: ChangeLooks::default(),
        }))
    }

    /// Appends an audit entry that changes nothing else and returns once it is on disk,
    /// sharing the flush with concurrent requests (group commit).
    pub async fn audit(self: &Arc<Self>, entry: AuditEntry) -> AppResult<AuditEntry> {
        let (entry, ticket) = self
            .appending(move |services| Ok(services.consent.audit().append_deferred(entry)?))
            .await?;
        self.committer.durable(Some(ticket)).await?;
        Ok(entry)
    }

    /// Whether the store answers.
    pub async fn ready(self: &Arc<Self>) -> AppResult<()> {
        self.reading(|services| {
            services.directory.organisations()?;
            Ok(())
        })
        .await
    }

    /// The field catalogue: every field a record can hold, with its sensitivity.
    pub fn catalogue(&self) -> &omadata_vault::Catalogue {
        self.vault.catalogue()
    }

    /// The public keys that verify receipts and checkpoints.
    pub fn published_keys(&self) -> omadata_consent::Jwks {
        self.consent.jwks()
    }

    /// How many entries the audit log holds.
    pub fn audit_entries(&self) -> u64 {
        self.consent.audit().len()
    }

    /// Saves the audit log's chain heads (at shutdown: the next start replays no
    /// entries).
    pub fn save_audit_heads(&self) -> AppResult<()> {
        Ok(self.consent.audit().save_heads()?)
    }

    /// Whether `key` is still under `quota`'s limit at `now` (nothing is counted). On a
    /// shared store, a key whose events were forgotten is read from the store first.
    pub async fn allows(
        self: &Arc<Self>,
        quota: limits::Quota,
        key: &str,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        let limiter = self.quotas.limiter(quota);
        if !limiter.is_current(key) {
            let owned = key.to_owned();
            self.on_disk(move |services| {
                Ok(services.quotas.limiter(quota).reload(
                    services.consent.store().as_ref(),
                    quota.name(),
                    &owned,
                    now,
                )?)
            })
            .await?;
        }
        Ok(limiter.allows(key, now))
    }

    /// On a store other gateways share: forgets what this process cached (grants, staff,
    /// quota events, and whatever `forget_more` forgets, such as the gateway's sessions)
    /// once the store's change counts moved since the last look. Called before a request
    /// is served, so a change any gateway acknowledged holds at the next request through
    /// every other: the look it waits for began after it arrived, and what that look
    /// made stale is forgotten before any request it serves goes on.
    pub async fn observe_changes(self: &Arc<Self>, forget_more: impl FnOnce()) -> AppResult<()> {
        if !self.consent.audit().is_shared() {
            return Ok(());
        }
        let looks = &self.change_looks;
        let needed = looks.begun.load(Ordering::SeqCst) + 1;
        let mut last = looks.finished.lock().await;
        if last.number >= needed {
            return match &last.failure {
                None => Ok(()),
                Some(failure) => {
                    Err(omadata_vault::store::StoreError::Backend(failure.clone()).into())
                }
            };
        }
        let number = looks.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let looked = self
            .on_disk(|services| Ok(services.consent.store().change_counts()?))
            .await;
        last.number = number;
        let counts = match looked {
            Ok(Some(counts)) => counts,
            Ok(None) => {
                last.failure = None;
                return Ok(());
            }
            Err(error) => {
                last.failure = Some(error.to_string());
                return Err(error);
            }
        };
        last.failure = None;
        let seen = last.counts;
        let caches_moved = seen.is_none_or(|seen| counts.caches > seen.caches);
        let quotas_moved = seen.is_none_or(|seen| counts.quotas > seen.quotas);
        if caches_moved {
            self.consent.forget_cached();
            self.directory.forget_cached();
            forget_more();
        }
        if quotas_moved {
            self.quotas.forget();
        }
        let before = seen.unwrap_or_default();
        last.counts = Some(omadata_consent::store::ChangeCounts {
            caches: before.caches.max(counts.caches),
            quotas: before.quotas.max(counts.quotas),
        });
        Ok(())
    }

    /// Counts one event of `quota` for `key`, durably; whether it was within the limit.
    pub async fn count(
        self: &Arc<Self>,
        quota: limits::Quota,
        key: String,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        self.on_disk(move |services| {
            Ok(services
                .quotas
                .record(services.consent.store().as_ref(), quota, &key, now)?)
        })
        .await
    }

    /// Runs `work`, which appends to the audit log: on a shared store an append may wait
    /// for this gateway's turn (the database), so it runs on the blocking pool there; on
    /// the embedded store it only touches memory and runs here.
    pub async fn appending<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Services) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        self.on_blocking_pool_when_shared(work).await
    }

    /// Runs `work`, which reads the stores (the vault, consent, the directory, the audit
    /// log's entries, checkpoints and proofs): a shared store is a database across the
    /// network, and an async worker must never wait on the database, so there it runs on
    /// the blocking pool; on the embedded store a read only touches memory and the local
    /// disk cache, and runs here.
    pub async fn reading<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Services) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        self.on_blocking_pool_when_shared(work).await
    }

    /// Runs `work` on the blocking pool when the store is shared (a database other
    /// gateways use too, reached over the network), else here.
    async fn on_blocking_pool_when_shared<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Services) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        if self.consent.audit().is_shared() {
            self.on_disk(work).await
        } else {
            work(self)
        }
    }

    /// Runs `work`, which waits for the disk (a durable write), on the blocking pool so
    /// the async workers go on serving meanwhile.
    pub async fn on_disk<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Services) -> AppResult<T> + Send + 'static,
    ) -> AppResult<T> {
        let services = self.clone();
        tokio::task::spawn_blocking(move || work(&services))
            .await
            .map_err(|_| AppError::WorkerLost)?
    }
}
