//! [`Consent`]: pairing codes, access requests, grants, narrowing, revocation, decisions
//! and the sweep that records expiries. Every change is written together with its audit
//! entry (and receipt) in one atomic, durable batch.
//!
//! Map of the module:
//! - Here: [`Consent`] itself, its configuration, and the checks and audit entries shared
//!   by the jobs below.
//! - `pairing`: pairing codes.
//! - `requests`: access requests, approval and denial, request listings.
//! - `grants`: own-initiative grants, narrowing, revocation, receipts, grant listings.
//! - `access`: the grants between a pair (cached), `decide`, `authorize` and friends;
//!   the rule itself is [`crate::decision`].
//! - `erasure`: a client's consent records erased with the client.
//! - `expiry`: the sweep.
//! - `sealed`: how a purpose's free text is sealed in storage and opened on read.
//!
//! Keys: [`crate::layout`].
//!
//! A purpose's free text is stored only sealed under the client's data key (the grant's or
//! request's `purpose.sealed_text`), and so is a receipt that carries it; both are opened
//! on read. Records written before held the text in clear and still read as they are.
//! See `specs/consent.md` ("What consent storage holds in clear").

mod access;
mod erasure;
mod expiry;
mod grants;
mod pairing;
mod requests;
mod sealed;

pub use crate::decision::{FieldDecision, decide_among};
pub use access::AccessAttempt;
pub use expiry::Sweep;
pub use grants::Narrowing;
pub use pairing::{MAX_LIVE_PAIRING_CODES, PairingCode};

use crate::audit::{AuditEntry, AuditEvent, AuditLog};
use crate::error::ConsentError;
use crate::model::*;
use crate::policy::SensitivityPolicy;
use crate::sealing::ClientSealer;
use crate::signing::{Jwks, ServiceKey};
use crate::store::ConsentStore;
use access::CachedGrants;
use chrono::{DateTime, Duration, Utc};
use omadata_vault::{Catalogue, ClientId, ProfessionalId};
use parking_lot::{Mutex, MutexGuard};
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Limits that a deployment may tune.
#[derive(Clone, Debug)]
pub struct ConsentConfig {
    /// The longest a grant may last.
    pub max_grant_duration: Duration,
    /// How long a client has to answer a request.
    pub request_answer_time: Duration,
    /// How long a pairing code can be used.
    pub pairing_code_lifetime: Duration,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self {
            max_grant_duration: Duration::days(365),
            request_answer_time: Duration::days(14),
            pairing_code_lifetime: Duration::minutes(15),
        }
    }
}

/// The terms of access: what a professional asks for, or what a client grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessAsk {
    pub fields: Vec<FieldSelector>,
    pub actions: BTreeSet<Action>,
    pub purpose: Purpose,
    pub valid_until: DateTime<Utc>,
}

/// One page of a list: its items, and the key to continue after (`None`: the last page).
pub type Page<T, K> = (Vec<T>, Option<K>);

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ConsentError> {
    serde_json::to_vec(value).map_err(|e| ConsentError::Corrupt(e.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ConsentError> {
    serde_json::from_slice(bytes).map_err(|e| ConsentError::Corrupt(format!("{what}: {e}")))
}

fn invalid(what: &'static str, reason: impl Into<String>) -> ConsentError {
    ConsentError::Invalid {
        what,
        reason: reason.into(),
    }
}

#[derive(Debug)]
pub struct Consent {
    store: Arc<dyn ConsentStore>,
    catalogue: Arc<Catalogue>,
    policy: SensitivityPolicy,
    audit: Arc<AuditLog>,
    key: Arc<ServiceKey>,
    /// Seals free text about a client under the client's data key.
    sealer: Arc<dyn ClientSealer>,
    config: ConsentConfig,
    rng: SystemRandom,
    /// Serialises consent changes: each is read-check-write.
    changes: Mutex<()>,
    /// Counts finished consent changes; a cached read is good only while it stands.
    generation: AtomicU64,
    /// The grants of recently seen (professional, client) pairs, with the generation
    /// they were read in: a decision reads them from memory until the next change.
    grant_cache: Mutex<HashMap<(ProfessionalId, ClientId), CachedGrants>>,
}

/// Held for the whole of a consent change; ends it by moving the generation on (before
/// the lock is released), so no later decision uses grants read before the change.
struct ChangeGuard<'a> {
    _lock: MutexGuard<'a, ()>,
    generation: &'a AtomicU64,
    /// No other process changes consent meanwhile (a shared store).
    _turn: crate::audit::TurnHold<'a>,
}

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Consent {
    pub fn open(
        store: Arc<dyn ConsentStore>,
        catalogue: Arc<Catalogue>,
        policy: SensitivityPolicy,
        key: Arc<ServiceKey>,
        sealer: Arc<dyn ClientSealer>,
        config: ConsentConfig,
    ) -> Result<Self, ConsentError> {
        let audit = Arc::new(AuditLog::open(store.clone(), key.clone())?);
        Ok(Self {
            store,
            catalogue,
            policy,
            audit,
            key,
            sealer,
            config,
            rng: SystemRandom::new(),
            changes: Mutex::new(()),
            generation: AtomicU64::new(0),
            grant_cache: Mutex::new(HashMap::new()),
        })
    }

    /// Starts a consent change (see [`ChangeGuard`]).
    fn change(&self) -> Result<ChangeGuard<'_>, ConsentError> {
        let lock = self.changes.lock();
        Ok(ChangeGuard {
            _turn: self.audit.hold_turn()?,
            _lock: lock,
            generation: &self.generation,
        })
    }

    /// Forgets the cached grants (another process may have changed consent).
    pub fn forget_cached(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The store consent keeps its records in (the gateway keeps its sessions there too).
    pub fn store(&self) -> Arc<dyn ConsentStore> {
        self.store.clone()
    }

    /// A shared handle on the log, for a flusher thread (group commit).
    pub fn audit_handle(&self) -> Arc<AuditLog> {
        self.audit.clone()
    }

    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    pub fn config(&self) -> &ConsentConfig {
        &self.config
    }

    /// The fields the sensitivity policy lets a professional of `profession` be shared, in
    /// catalogue order: what a request form may offer them.
    pub fn shareable_fields(&self, profession: crate::model::Profession) -> Vec<String> {
        self.catalogue
            .fields()
            .iter()
            .filter(|field| {
                let one = std::iter::once(field.path.clone()).collect();
                self.policy.check(&self.catalogue, profession, &one).is_ok()
            })
            .map(|field| field.path.clone())
            .collect()
    }

    /// The published keys that verify receipts and checkpoints.
    pub fn jwks(&self) -> Jwks {
        Jwks::of(&[self.key.public()])
    }

    /// Resolves paths and categories to a non-empty set of catalogue paths.
    pub fn resolve_fields(
        &self,
        selectors: &[FieldSelector],
    ) -> Result<BTreeSet<String>, ConsentError> {
        let mut fields = BTreeSet::new();
        for selector in selectors {
            match selector {
                FieldSelector::Path(path) => {
                    if self.catalogue.field(path).is_none() {
                        return Err(ConsentError::UnknownField(path.clone()));
                    }
                    fields.insert(path.clone());
                }
                FieldSelector::Category(category) => {
                    let before = fields.len();
                    fields.extend(
                        self.catalogue
                            .fields_in_category(category)
                            .map(|f| f.path.clone()),
                    );
                    if fields.len() == before
                        && !self
                            .catalogue
                            .categories()
                            .iter()
                            .any(|c| c.id == *category)
                    {
                        return Err(ConsentError::UnknownCategory(category.clone()));
                    }
                }
            }
        }
        if fields.is_empty() {
            return Err(invalid("fields", "name at least one field or category"));
        }
        Ok(fields)
    }

    fn check_purpose(purpose: &Purpose) -> Result<(), ConsentError> {
        if let Some(text) = &purpose.text {
            if text.chars().count() > MAX_PURPOSE_TEXT {
                return Err(invalid(
                    "purpose",
                    format!("the text may be at most {MAX_PURPOSE_TEXT} characters"),
                ));
            }
            if text.chars().any(|c| c.is_control() && c != '\n') {
                return Err(invalid("purpose", "the text contains control characters"));
            }
        }
        Ok(())
    }

    fn check_window(
        &self,
        valid_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), ConsentError> {
        if valid_until <= now {
            return Err(invalid(
                "valid_until",
                "the end of access must be in the future",
            ));
        }
        if valid_until > now + self.config.max_grant_duration {
            return Err(invalid(
                "valid_until",
                format!(
                    "access may last at most {} days",
                    self.config.max_grant_duration.num_days()
                ),
            ));
        }
        Ok(())
    }

    fn check_actions(actions: &BTreeSet<Action>) -> Result<(), ConsentError> {
        if actions.is_empty() {
            return Err(invalid("actions", "name at least one action"));
        }
        Ok(())
    }

    fn entry_for_request(
        &self,
        event: AuditEvent,
        request: &AccessRequest,
        now: DateTime<Utc>,
    ) -> AuditEntry {
        let mut entry = AuditEntry::new(event, now);
        entry.client = Some(request.client);
        entry.professional = Some(request.requester.professional);
        entry.organisation = Some(request.requester.organisation.id);
        entry.request = Some(request.id);
        entry.purpose = Some(request.purpose.code);
        entry
    }

    fn entry_for_grant(&self, event: AuditEvent, grant: &Grant, now: DateTime<Utc>) -> AuditEntry {
        let mut entry = AuditEntry::new(event, now);
        entry.client = Some(grant.client);
        entry.professional = Some(grant.grantee.professional);
        entry.organisation = Some(grant.grantee.organisation.id);
        entry.grant = Some(grant.id);
        entry.request = grant.request;
        entry.purpose = Some(grant.purpose.code);
        entry.fields = grant.fields.iter().cloned().collect();
        entry
    }
}
