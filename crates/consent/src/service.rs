//! [`Consent`]: pairing codes, access requests, grants, narrowing, revocation, decisions
//! and the sweep that records expiries. Every change is written together with its audit
//! entry (and receipt) in one atomic, durable batch.
//!
//! Keys: `g/grant` grants; `gx/professional/client/grant` the decision index;
//! `gc/client/grant`; `ge/until/grant` grants whose expiry is not yet logged;
//! `r/request`; `rc/client/request`; `rp/professional/request`; `re/answer_by/request`
//! pending requests; `pc/sha256(code)` pairing codes, `pcc/client/sha256(code)` a client's
//! codes, `pce/expires_at/sha256(code)` codes by expiry (for the sweep); `rcpt/grant/n`
//! receipts.
//!
//! A purpose's free text is stored only sealed under the client's data key (the grant's or
//! request's `purpose.sealed_text`), and so is a receipt that carries it; both are opened
//! on read. Records written before held the text in clear and still read as they are.
//! See `specs/consent.md` ("What consent storage holds in clear").

use crate::audit::{AuditEntry, AuditEvent, AuditLog, Outcome};
use crate::error::ConsentError;
use crate::model::*;
use crate::policy::SensitivityPolicy;
use crate::receipt::{self, ReceiptEvent};
use crate::sealing::{ClientSealer, SealError};
use crate::signing::{Jwks, ServiceKey};
use crate::store::{ConsentStore, Write};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use omadata_vault::{Catalogue, ClientId, ProfessionalId};
use parking_lot::{Mutex, MutexGuard};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// A code the client shows so a professional can find them. 50 random bits; single use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredPairingCode {
    client: ClientId,
    expires_at: DateTime<Utc>,
}

/// How a client narrows a request at approval, or a grant later. `None` keeps as is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Narrowing {
    #[serde(default)]
    pub fields: Option<Vec<FieldSelector>>,
    #[serde(default)]
    pub actions: Option<BTreeSet<Action>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// The terms of access: what a professional asks for, or what a client grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessAsk {
    pub fields: Vec<FieldSelector>,
    pub actions: BTreeSet<Action>,
    pub purpose: Purpose,
    pub valid_until: DateTime<Utc>,
}

/// The decision about one field in an audited access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDecision {
    pub field: String,
    pub decision: Decision,
}

/// Who tries to do what with whose data, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessAttempt {
    pub professional: ProfessionalId,
    pub organisation: OrganisationId,
    pub client: ClientId,
    pub action: Action,
    pub now: DateTime<Utc>,
}

/// What a sweep recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub grants_expired: usize,
    pub requests_expired: usize,
    /// Expired pairing codes removed from storage.
    pub codes_removed: usize,
}

/// Unused, unexpired pairing codes a client may hold at once: enough to pair with a few
/// professionals in one sitting, too few to fill storage.
pub const MAX_LIVE_PAIRING_CODES: usize = 5;

/// Expired codes (of anyone) removed per code issued: the sweep's work spread over use,
/// so storage stays bounded even if no scheduled sweep runs.
const CODES_SWEPT_PER_ISSUE: usize = 32;

/// One page of a list: its items, and the key to continue after (`None`: the last page).
pub type Page<T, K> = (Vec<T>, Option<K>);

/// Fields, actions and end of access after a narrowing.
type Terms = (BTreeSet<String>, BTreeSet<Action>, DateTime<Utc>);

const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32
const CODE_LEN: usize = 10;

fn k(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn time_key(at: &DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ConsentError> {
    serde_json::to_vec(value).map_err(|e| ConsentError::Corrupt(e.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, ConsentError> {
    serde_json::from_slice(bytes).map_err(|e| ConsentError::Corrupt(format!("{what}: {e}")))
}

fn code_hash(code: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, code.as_bytes())
        .as_ref()
        .to_vec()
}

/// Upper-case, without separators or spaces, with the Crockford look-alikes mapped.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
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

/// Grants as read in one generation.
type CachedGrants = (u64, Vec<Grant>);

/// Pairs in the grant cache at most; it is emptied when full.
const GRANT_CACHE_LIMIT: usize = 100_000;

/// Held for the whole of a consent change; ends it by moving the generation on (before
/// the lock is released), so no later decision uses grants read before the change.
struct ChangeGuard<'a> {
    _lock: MutexGuard<'a, ()>,
    generation: &'a AtomicU64,
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
    fn change(&self) -> ChangeGuard<'_> {
        ChangeGuard {
            _lock: self.changes.lock(),
            generation: &self.generation,
        }
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
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

    // ---- pairing codes and requests -------------------------------------------------

    /// Issues a short-lived, single-use pairing code for `client`: at most
    /// [`MAX_LIVE_PAIRING_CODES`] unused, unexpired ones at a time (the client's expired
    /// codes are removed first, and a few of anyone's with them).
    pub fn issue_pairing_code(
        &self,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<PairingCode, ConsentError> {
        let _guard = self.change();
        let mut writes: Vec<Write> = Vec::new();
        let mut live = 0usize;
        for (key, value) in
            self.store
                .scan(&k(&[b"pcc/", client.as_bytes()]), None, false, usize::MAX)?
        {
            let expires_at = expiry_of(&value)?;
            if now >= expires_at {
                writes.extend(code_removal(code_hash_suffix(&key)?, client, expires_at));
            } else {
                live += 1;
            }
        }
        if live >= MAX_LIVE_PAIRING_CODES {
            return Err(ConsentError::TooManyPairingCodes {
                limit: MAX_LIVE_PAIRING_CODES,
            });
        }
        writes.extend(self.expired_code_removals(now, CODES_SWEPT_PER_ISSUE)?);
        let mut random = [0u8; CODE_LEN];
        self.rng
            .fill(&mut random)
            .map_err(|_| invalid("pairing code", "the random number generator failed"))?;
        let raw: String = random
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
            .collect();
        let expires_at = now + self.config.pairing_code_lifetime;
        let stored = StoredPairingCode { client, expires_at };
        let hash = code_hash(&raw);
        writes.push((k(&[b"pc/", &hash]), Some(json(&stored)?)));
        writes.push((
            k(&[b"pcc/", client.as_bytes(), &hash]),
            Some(time_key(&expires_at).to_vec()),
        ));
        writes.push((
            k(&[b"pce/", &time_key(&expires_at), &hash]),
            Some(client.as_bytes().to_vec()),
        ));
        let mut entry = AuditEntry::new(AuditEvent::PairingCode, now);
        entry.client = Some(client);
        self.audit.append_with(entry, writes)?;
        Ok(PairingCode {
            code: format!("{}-{}", &raw[..5], &raw[5..]),
            expires_at,
        })
    }

    /// The writes that remove up to `limit` codes that expired by `now`, oldest first
    /// (the expiry index is in time order, so only due keys are read).
    fn expired_code_removals(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Write>, ConsentError> {
        let last = k(&[b"pce/", &time_key(&now)]);
        let mut writes = Vec::new();
        for (key, value) in self.store.scan(b"pce/", None, false, limit)? {
            // `time_key(now)` then the hash: keys before it expired strictly before now,
            // keys equal in time expired exactly now (expiry is `now >= expires_at`).
            if key.get(..last.len()).is_some_and(|t| t > last.as_slice()) {
                break;
            }
            let client = ClientId::from_bytes(
                <[u8; 16]>::try_from(value.as_slice())
                    .map_err(|_| ConsentError::Corrupt("malformed code index".into()))?,
            );
            let expires_at = key
                .get(4..12)
                .map(expiry_of)
                .transpose()?
                .ok_or_else(|| ConsentError::Corrupt("malformed code index".into()))?;
            writes.extend(code_removal(code_hash_suffix(&key)?, client, expires_at));
        }
        Ok(writes)
    }

    /// A professional asks for access with the client's pairing code. Refused before the
    /// client sees it if it breaks the sensitivity policy or the limits.
    pub fn request_access(
        &self,
        requester: &Grantee,
        pairing_code: &str,
        ask: AccessAsk,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ConsentError> {
        let _guard = self.change();
        let code_key = k(&[b"pc/", &code_hash(&normalise_code(pairing_code))]);
        let stored: StoredPairingCode = match self.store.get(&code_key)? {
            Some(bytes) => parse(&bytes, "pairing code")?,
            None => return Err(ConsentError::PairingCodeInvalid),
        };
        if now >= stored.expires_at {
            return Err(ConsentError::PairingCodeInvalid);
        }
        let fields = self.resolve_fields(&ask.fields)?;
        Self::check_actions(&ask.actions)?;
        Self::check_purpose(&ask.purpose)?;
        self.check_window(ask.valid_until, now)?;
        self.policy
            .check(&self.catalogue, requester.profession, &fields)?;
        let request = AccessRequest {
            id: RequestId::random(),
            client: stored.client,
            requester: requester.clone(),
            fields,
            actions: ask.actions,
            purpose: ask.purpose,
            valid_until: ask.valid_until,
            created_at: now,
            answer_by: now + self.config.request_answer_time,
            status: RequestStatus::Pending,
            grant: None,
            answered_at: None,
        };
        let id = request.id.as_bytes();
        let mut writes: Vec<Write> = code_removal(
            code_hash_suffix(&code_key)?,
            stored.client,
            stored.expires_at,
        );
        writes.extend([
            (k(&[b"r/", id]), Some(self.stored_request(&request)?)),
            (
                k(&[b"rc/", request.client.as_bytes(), id]),
                Some(Vec::new()),
            ),
            (
                k(&[b"rp/", requester.professional.as_bytes(), id]),
                Some(Vec::new()),
            ),
            (
                k(&[b"re/", &time_key(&request.answer_by), id]),
                Some(Vec::new()),
            ),
        ]);
        let mut entry = self.entry_for_request(AuditEvent::Request, &request, now);
        entry.fields = request.fields.iter().cloned().collect();
        self.audit.append_with(entry, writes)?;
        Ok(request)
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

    pub fn request(&self, id: RequestId) -> Result<Option<AccessRequest>, ConsentError> {
        self.store
            .get(&k(&[b"r/", id.as_bytes()]))?
            .map(|b| self.opened(&b, "request", &request_text_label(id)))
            .transpose()
    }

    fn requests_by(&self, prefix: Vec<u8>) -> Result<Vec<AccessRequest>, ConsentError> {
        let mut out = Vec::new();
        for (key, _) in self.store.scan(&prefix, None, false, usize::MAX)? {
            let id = id_suffix(&key)?;
            if let Some(request) = self.request(RequestId::from_bytes(id))? {
                out.push(request);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(out)
    }

    /// The client's requests, newest first (status as stored; see `status_at`).
    pub fn requests_for_client(
        &self,
        client: ClientId,
    ) -> Result<Vec<AccessRequest>, ConsentError> {
        self.requests_by(k(&[b"rc/", client.as_bytes()]))
    }

    pub fn requests_by_professional(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<AccessRequest>, ConsentError> {
        self.requests_by(k(&[b"rp/", professional.as_bytes()]))
    }

    fn pending_request(
        &self,
        client: ClientId,
        id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ConsentError> {
        // Another client's request answers exactly like a missing one.
        let request = self
            .request(id)?
            .filter(|r| r.client == client)
            .ok_or(ConsentError::UnknownRequest(id))?;
        if request.status_at(now) != RequestStatus::Pending {
            return Err(ConsentError::RequestNotPending(id));
        }
        Ok(request)
    }

    fn narrowed(
        &self,
        fields: &BTreeSet<String>,
        actions: &BTreeSet<Action>,
        valid_until: DateTime<Utc>,
        narrowing: &Narrowing,
        now: DateTime<Utc>,
    ) -> Result<Terms, ConsentError> {
        let new_fields = match &narrowing.fields {
            Some(selectors) => self.resolve_fields(selectors)?,
            None => fields.clone(),
        };
        if let Some(extra) = new_fields.difference(fields).next() {
            return Err(ConsentError::Widening(format!(
                "`{extra}` was not asked for or granted"
            )));
        }
        let new_actions = narrowing.actions.clone().unwrap_or_else(|| actions.clone());
        Self::check_actions(&new_actions)?;
        if let Some(extra) = new_actions.difference(actions).next() {
            return Err(ConsentError::Widening(format!(
                "action {extra:?} was not asked for or granted"
            )));
        }
        let new_until = narrowing.valid_until.unwrap_or(valid_until);
        if new_until > valid_until {
            return Err(ConsentError::Widening(
                "the end may only come earlier".into(),
            ));
        }
        if new_until <= now {
            return Err(invalid(
                "valid_until",
                "the end of access must be in the future",
            ));
        }
        Ok((new_fields, new_actions, new_until))
    }

    fn grant_writes(
        &self,
        grant: &Grant,
        receipt_bytes: Vec<u8>,
        new: bool,
    ) -> Result<Vec<Write>, ConsentError> {
        let id = grant.id.as_bytes();
        let receipt_index = self
            .store
            .scan(&k(&[b"rcpt/", id]), None, false, usize::MAX)?
            .len() as u32;
        // A receipt that carries the purpose's text is kept sealed like the text; the
        // client is handed it opened.
        let stored_receipt = if grant.purpose.text.is_some() {
            self.sealer.seal(
                grant.client,
                &receipt_label(grant.id, receipt_index),
                &receipt_bytes,
            )?
        } else {
            receipt_bytes
        };
        let mut writes: Vec<Write> = vec![
            (k(&[b"g/", id]), Some(self.stored_grant(grant)?)),
            (
                k(&[b"rcpt/", id, &receipt_index.to_be_bytes()]),
                Some(stored_receipt),
            ),
        ];
        if new {
            writes.push((
                k(&[
                    b"gx/",
                    grant.grantee.professional.as_bytes(),
                    grant.client.as_bytes(),
                    id,
                ]),
                Some(Vec::new()),
            ));
            writes.push((k(&[b"gc/", grant.client.as_bytes(), id]), Some(Vec::new())));
        }
        Ok(writes)
    }

    fn signed_receipt(
        &self,
        grant: &Grant,
        event: ReceiptEvent,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ConsentError> {
        receipt::sign_receipt(
            &self.key,
            receipt::receipt_body(&self.catalogue, grant, event, now),
        )
    }

    /// The client approves a request, possibly narrowed. Returns the new grant.
    pub fn approve(
        &self,
        client: ClientId,
        request_id: RequestId,
        narrowing: &Narrowing,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change();
        let mut request = self.pending_request(client, request_id, now)?;
        let (fields, actions, valid_until) = self.narrowed(
            &request.fields,
            &request.actions,
            request.valid_until,
            narrowing,
            now,
        )?;
        self.check_window(valid_until, now)?;
        self.policy
            .check(&self.catalogue, request.requester.profession, &fields)?;
        let grant = Grant {
            id: GrantId::random(),
            client,
            grantee: request.requester.clone(),
            fields,
            actions,
            purpose: request.purpose.clone(),
            valid_from: now,
            valid_until,
            revoked_at: None,
            expiry_logged: false,
            request: Some(request.id),
            created_at: now,
            updated_at: now,
        };
        request.status = RequestStatus::Approved;
        request.grant = Some(grant.id);
        request.answered_at = Some(now);
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Grant, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, true)?;
        writes.push((
            k(&[b"ge/", &time_key(&grant.valid_until), grant.id.as_bytes()]),
            Some(Vec::new()),
        ));
        writes.extend(self.request_answered_writes(&request)?);
        self.audit.append_with(
            self.entry_for_grant(AuditEvent::Approve, &grant, now),
            writes,
        )?;
        Ok(grant)
    }

    fn request_answered_writes(&self, request: &AccessRequest) -> Result<Vec<Write>, ConsentError> {
        Ok(vec![
            (
                k(&[b"r/", request.id.as_bytes()]),
                Some(self.stored_request(request)?),
            ),
            (
                k(&[b"re/", &time_key(&request.answer_by), request.id.as_bytes()]),
                None,
            ),
        ])
    }

    /// The client denies a request. Nothing is shared and nothing else changes for them.
    pub fn deny(
        &self,
        client: ClientId,
        request_id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ConsentError> {
        let _guard = self.change();
        let mut request = self.pending_request(client, request_id, now)?;
        request.status = RequestStatus::Denied;
        request.answered_at = Some(now);
        let writes = self.request_answered_writes(&request)?;
        self.audit.append_with(
            self.entry_for_request(AuditEvent::Deny, &request, now),
            writes,
        )?;
        Ok(request)
    }

    /// The client grants on their own initiative.
    pub fn grant(
        &self,
        client: ClientId,
        grantee: &Grantee,
        terms: AccessAsk,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change();
        let AccessAsk {
            fields,
            actions,
            purpose,
            valid_until,
        } = terms;
        let fields = self.resolve_fields(&fields)?;
        Self::check_actions(&actions)?;
        Self::check_purpose(&purpose)?;
        self.check_window(valid_until, now)?;
        self.policy
            .check(&self.catalogue, grantee.profession, &fields)?;
        let grant = Grant {
            id: GrantId::random(),
            client,
            grantee: grantee.clone(),
            fields,
            actions,
            purpose,
            valid_from: now,
            valid_until,
            revoked_at: None,
            expiry_logged: false,
            request: None,
            created_at: now,
            updated_at: now,
        };
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Grant, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, true)?;
        writes.push((
            k(&[b"ge/", &time_key(&grant.valid_until), grant.id.as_bytes()]),
            Some(Vec::new()),
        ));
        self.audit
            .append_with(self.entry_for_grant(AuditEvent::Grant, &grant, now), writes)?;
        Ok(grant)
    }

    pub fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, ConsentError> {
        self.store
            .get(&k(&[b"g/", id.as_bytes()]))?
            .map(|b| self.opened(&b, "grant", &grant_text_label(id)))
            .transpose()
    }

    fn client_grant(&self, client: ClientId, id: GrantId) -> Result<Grant, ConsentError> {
        self.get_grant(id)?
            .filter(|g| g.client == client)
            .ok_or(ConsentError::UnknownGrant(id))
    }

    /// The client narrows an active grant: fewer fields or actions, an earlier end.
    pub fn narrow(
        &self,
        client: ClientId,
        id: GrantId,
        narrowing: &Narrowing,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change();
        let mut grant = self.client_grant(client, id)?;
        if grant.state(now) != GrantState::Active {
            return Err(ConsentError::GrantNotActive(id));
        }
        let (fields, actions, valid_until) = self.narrowed(
            &grant.fields,
            &grant.actions,
            grant.valid_until,
            narrowing,
            now,
        )?;
        let old_until = grant.valid_until;
        grant.fields = fields;
        grant.actions = actions;
        grant.valid_until = valid_until;
        grant.updated_at = now;
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Narrow, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, false)?;
        writes.push((k(&[b"ge/", &time_key(&old_until), id.as_bytes()]), None));
        writes.push((
            k(&[b"ge/", &time_key(&valid_until), id.as_bytes()]),
            Some(Vec::new()),
        ));
        self.audit.append_with(
            self.entry_for_grant(AuditEvent::Narrow, &grant, now),
            writes,
        )?;
        Ok(grant)
    }

    /// The client revokes a grant; it permits nothing from the next decision on.
    pub fn revoke(
        &self,
        client: ClientId,
        id: GrantId,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change();
        let mut grant = self.client_grant(client, id)?;
        match grant.state(now) {
            GrantState::Active | GrantState::NotYetValid => {}
            GrantState::Revoked | GrantState::Expired => {
                return Err(ConsentError::GrantNotActive(id));
            }
        }
        grant.revoked_at = Some(now);
        grant.updated_at = now;
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Revoke, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, false)?;
        writes.push((
            k(&[b"ge/", &time_key(&grant.valid_until), id.as_bytes()]),
            None,
        ));
        self.audit.append_with(
            self.entry_for_grant(AuditEvent::Revoke, &grant, now),
            writes,
        )?;
        Ok(grant)
    }

    fn grants_by(&self, prefix: Vec<u8>) -> Result<Vec<Grant>, ConsentError> {
        let mut out = Vec::new();
        for (key, _) in self.store.scan(&prefix, None, false, usize::MAX)? {
            if let Some(grant) = self.get_grant(GrantId::from_bytes(id_suffix(&key)?))? {
                out.push(grant);
            }
        }
        Ok(out)
    }

    /// Up to `limit` ids of index `prefix` (`prefix/id` keys) after `after`, in key
    /// order, and the id to continue after when more follow: a key-range scan.
    fn index_page(
        &self,
        prefix: &[u8],
        after: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<[u8; 16], [u8; 16]>, ConsentError> {
        let from = after.map(|id| k(&[prefix, &id, &[0]]));
        let mut ids = self
            .store
            .scan(prefix, from.as_deref(), false, limit.saturating_add(1))?
            .iter()
            .map(|(key, _)| id_suffix(key))
            .collect::<Result<Vec<_>, _>>()?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        let next = if more { ids.last().copied() } else { None };
        Ok((ids, next))
    }

    /// A page of the client's grants (see [`Consent::grants_for_client`]), in id order.
    pub fn grants_for_client_page(
        &self,
        client: ClientId,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<(Vec<Grant>, Option<GrantId>), ConsentError> {
        let (ids, next) = self.index_page(
            &k(&[b"gc/", client.as_bytes()]),
            after.map(|g| *g.as_bytes()),
            limit,
        )?;
        let mut grants = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(grant) = self.get_grant(GrantId::from_bytes(id))? {
                grants.push(grant);
            }
        }
        Ok((grants, next.map(GrantId::from_bytes)))
    }

    fn requests_page(
        &self,
        prefix: Vec<u8>,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<RequestId>), ConsentError> {
        let (ids, next) = self.index_page(&prefix, after.map(|r| *r.as_bytes()), limit)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(request) = self.request(RequestId::from_bytes(id))? {
                out.push(request);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok((out, next.map(RequestId::from_bytes)))
    }

    /// A page of the client's requests: pages follow the index (id order), each page
    /// newest first.
    pub fn requests_for_client_page(
        &self,
        client: ClientId,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<RequestId>), ConsentError> {
        self.requests_page(k(&[b"rc/", client.as_bytes()]), after, limit)
    }

    /// A page of the professional's requests, like [`Consent::requests_for_client_page`].
    pub fn requests_by_professional_page(
        &self,
        professional: ProfessionalId,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<RequestId>), ConsentError> {
        self.requests_page(k(&[b"rp/", professional.as_bytes()]), after, limit)
    }

    /// Up to `limit` clients (in id order, after `after`) for whom `keep` accepts at
    /// least one of the professional's grants, each with those grants, and the client to
    /// continue after when more may follow. Reads the `gx/professional/client/grant`
    /// index a page at a time.
    pub fn clients_of_professional_page(
        &self,
        professional: ProfessionalId,
        after: Option<ClientId>,
        limit: usize,
        keep: impl Fn(&Grant) -> bool,
    ) -> Result<Page<(ClientId, Vec<Grant>), ClientId>, ConsentError> {
        const SCAN: usize = 256;
        let prefix = k(&[b"gx/", professional.as_bytes()]);
        // Past every key of the client: its prefix, then the greatest grant id, then more.
        let past = |client: &ClientId| k(&[&prefix, client.as_bytes(), &[0xff; 16], &[0]]);
        let mut from = after.as_ref().map(past);
        let mut out: Vec<(ClientId, Vec<Grant>)> = Vec::new();
        loop {
            let page = self.store.scan(&prefix, from.as_deref(), false, SCAN)?;
            let full = page.len() == SCAN;
            for (key, _) in &page {
                let client = key
                    .get(prefix.len()..prefix.len() + 16)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(ClientId::from_bytes)
                    .ok_or_else(|| ConsentError::Corrupt("malformed index key".into()))?;
                from = Some(k(&[key, &[0]]));
                let Some(grant) = self.get_grant(GrantId::from_bytes(id_suffix(key)?))? else {
                    continue;
                };
                if !keep(&grant) {
                    continue;
                }
                match out.last_mut() {
                    Some((last, grants)) if *last == client => grants.push(grant),
                    _ => {
                        if out.len() == limit {
                            let next = out.last().map(|(c, _)| *c);
                            return Ok((out, next));
                        }
                        out.push((client, vec![grant]));
                    }
                }
            }
            if !full {
                return Ok((out, None));
            }
        }
    }

    /// Every grant the client has given, in any state.
    pub fn grants_for_client(&self, client: ClientId) -> Result<Vec<Grant>, ConsentError> {
        self.grants_by(k(&[b"gc/", client.as_bytes()]))
    }

    /// Every grant given to the professional, in any state.
    pub fn grants_for_professional(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<Grant>, ConsentError> {
        self.grants_by(k(&[b"gx/", professional.as_bytes()]))
    }

    /// The grants between one professional and one client: an index prefix scan.
    /// From memory while no consent change has happened since they were read.
    pub fn grants_between(
        &self,
        professional: ProfessionalId,
        client: ClientId,
    ) -> Result<Vec<Grant>, ConsentError> {
        // Read before the store: a change that lands after this read makes the entry stale.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((read_in, grants)) = self.grant_cache.lock().get(&(professional, client))
            && *read_in == generation
        {
            return Ok(grants.clone());
        }
        let grants = self.grants_by(k(&[b"gx/", professional.as_bytes(), client.as_bytes()]))?;
        let mut cache = self.grant_cache.lock();
        if cache.len() >= GRANT_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert((professional, client), (generation, grants.clone()));
        Ok(grants)
    }

    /// Every receipt of a grant, oldest first, if the grant is the client's: the signed
    /// bytes, opened where they are stored sealed. Once the client's key is gone (erased)
    /// a sealed receipt is left out: it can no longer be read.
    pub fn receipts(&self, client: ClientId, id: GrantId) -> Result<Vec<Vec<u8>>, ConsentError> {
        self.client_grant(client, id)?;
        let mut receipts = Vec::new();
        for (key, stored) in
            self.store
                .scan(&k(&[b"rcpt/", id.as_bytes()]), None, false, usize::MAX)?
        {
            // A receipt file is canonical JSON; anything else is one sealed.
            if stored.first() == Some(&b'{') {
                receipts.push(stored);
                continue;
            }
            let index = key
                .len()
                .checked_sub(4)
                .and_then(|start| key.get(start..))
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| ConsentError::Corrupt("malformed receipt key".into()))?;
            match self.sealer.open(client, &receipt_label(id, index), &stored) {
                Ok(opened) => receipts.push(opened.to_vec()),
                Err(SealError::NoKey) => {}
                Err(SealError::Store(error)) => return Err(error.into()),
                Err(error) => return Err(ConsentError::Corrupt(format!("receipt: {error}"))),
            }
        }
        Ok(receipts)
    }

    // ---- sealed free text -----------------------------------------------------------

    /// A grant as stored: its purpose's text sealed.
    fn stored_grant(&self, grant: &Grant) -> Result<Vec<u8>, ConsentError> {
        self.sealed_json(grant, grant.client, &grant_text_label(grant.id))
    }

    /// A request as stored: its purpose's text sealed.
    fn stored_request(&self, request: &AccessRequest) -> Result<Vec<u8>, ConsentError> {
        self.sealed_json(request, request.client, &request_text_label(request.id))
    }

    /// `record`'s JSON with `purpose.text` replaced by `purpose.sealed_text`: the text
    /// sealed for `client` and `label`, in base64.
    fn sealed_json<T: Serialize>(
        &self,
        record: &T,
        client: ClientId,
        label: &str,
    ) -> Result<Vec<u8>, ConsentError> {
        let mut value =
            serde_json::to_value(record).map_err(|e| ConsentError::Corrupt(e.to_string()))?;
        if let Some(purpose) = value.get_mut("purpose").and_then(Value::as_object_mut)
            && let Some(Value::String(text)) = purpose.remove("text")
        {
            let sealed = self.sealer.seal(client, label, text.as_bytes())?;
            purpose.insert(
                SEALED_TEXT.to_owned(),
                Value::String(STANDARD_NO_PAD.encode(sealed)),
            );
        }
        json(&value)
    }

    /// Reads a stored grant or request, opening `purpose.sealed_text` into `purpose.text`.
    /// A record stored before texts were sealed holds `purpose.text` in clear and reads
    /// as it is. After the client's erasure the text cannot be opened: the record reads
    /// without it.
    fn opened<T: for<'de> Deserialize<'de>>(
        &self,
        bytes: &[u8],
        what: &str,
        label: &str,
    ) -> Result<T, ConsentError> {
        let marker = format!("\"{SEALED_TEXT}\"");
        if !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            return parse(bytes, what);
        }
        let corrupt = |reason: String| ConsentError::Corrupt(format!("{what}: {reason}"));
        let mut value: Value = parse(bytes, what)?;
        let client: ClientId = value
            .get("client")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt("no client".into()))?;
        if let Some(purpose) = value.get_mut("purpose").and_then(Value::as_object_mut)
            && let Some(sealed) = purpose.remove(SEALED_TEXT)
        {
            let sealed = sealed
                .as_str()
                .and_then(|b64| STANDARD_NO_PAD.decode(b64).ok())
                .ok_or_else(|| corrupt("malformed sealed text".into()))?;
            match self.sealer.open(client, label, &sealed) {
                Ok(text) => {
                    let text = String::from_utf8(text.to_vec())
                        .map_err(|_| corrupt("sealed text is not UTF-8".into()))?;
                    purpose.insert("text".to_owned(), Value::String(text));
                }
                // Crypto-shredded with the client: the record reads without its text.
                Err(SealError::NoKey) => {}
                Err(SealError::Store(error)) => return Err(error.into()),
                Err(error) => return Err(corrupt(error.to_string())),
            }
        }
        serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
    }

    // ---- decisions ------------------------------------------------------------------

    /// May `professional` do `action` on `client`'s `field` at `now`? Default deny; a
    /// permit names its grant. The grants come from [`Consent::grants_between`], which
    /// reads them again after any consent change, so a revocation holds from the very
    /// next decision.
    pub fn decide(
        &self,
        professional: ProfessionalId,
        client: ClientId,
        field: &str,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Decision, ConsentError> {
        let grants = self.grants_between(professional, client)?;
        Ok(decide_among(&self.catalogue, &grants, field, action, now))
    }

    /// Decides for each field and writes the decisions to the audit log (one entry per
    /// permitting grant, one for the denied fields); durable before it returns.
    pub fn authorize(
        &self,
        professional: ProfessionalId,
        organisation: OrganisationId,
        client: ClientId,
        fields: &[String],
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Vec<FieldDecision>, ConsentError> {
        let (decisions, last_entry) =
            self.authorize_deferred(professional, organisation, client, fields, action, now)?;
        if let Some(seq) = last_entry {
            self.audit.sync_through(seq)?;
        }
        Ok(decisions)
    }

    /// Like [`Consent::authorize`], but the audit entries may not be on disk yet: the
    /// caller must `audit().sync_through(seq)` with the returned sequence number before
    /// it acts on any decision. Lets concurrent requests share one flush.
    pub fn authorize_deferred(
        &self,
        professional: ProfessionalId,
        organisation: OrganisationId,
        client: ClientId,
        fields: &[String],
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FieldDecision>, Option<u64>), ConsentError> {
        let grants = self.grants_between(professional, client)?;
        let attempt = AccessAttempt {
            professional,
            organisation,
            client,
            action,
            now,
        };
        self.authorize_deferred_among(&attempt, &grants, fields)
    }

    /// Whether a professional's read of this client would be permitted for at least one
    /// field, decided without auditing: lets a refused probe be turned away before its
    /// decision adds to the log, while reads the grants allow go on.
    pub fn permits_any_read(
        &self,
        professional: ProfessionalId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<bool, ConsentError> {
        let grants = self.grants_between(professional, client)?;
        Ok(grants.iter().flat_map(|g| &g.fields).any(|field| {
            decide_among(&self.catalogue, &grants, field, Action::Read, now).is_permit()
        }))
    }

    /// A read of everything the pair's grants ever named, decided field by field with the
    /// audit entries queued as in [`Consent::authorize_deferred`]: a professional's view
    /// of a client. Fields no grant names are not even considered; with no grant at all
    /// the attempt itself is decided (and audited) as field `*`.
    pub fn authorize_granted_reads_deferred(
        &self,
        professional: ProfessionalId,
        organisation: OrganisationId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FieldDecision>, Option<u64>), ConsentError> {
        let grants = self.grants_between(professional, client)?;
        let named: BTreeSet<&String> = grants.iter().flat_map(|g| &g.fields).collect();
        let fields: Vec<String> = if named.is_empty() {
            vec!["*".to_owned()]
        } else {
            named.into_iter().cloned().collect()
        };
        let attempt = AccessAttempt {
            professional,
            organisation,
            client,
            action: Action::Read,
            now,
        };
        self.authorize_deferred_among(&attempt, &grants, &fields)
    }

    /// [`Consent::authorize_deferred`] over grants the caller already read with
    /// [`Consent::grants_between`] for the same professional and client (one look-up
    /// per request instead of two).
    pub fn authorize_deferred_among(
        &self,
        attempt: &AccessAttempt,
        grants: &[Grant],
        fields: &[String],
    ) -> Result<(Vec<FieldDecision>, Option<u64>), ConsentError> {
        let AccessAttempt {
            professional,
            organisation,
            client,
            action,
            now,
        } = *attempt;
        // Another pair's grant must never decide: refuse rather than trust the caller.
        if grants
            .iter()
            .any(|g| g.grantee.professional != professional || g.client != client)
        {
            return Err(invalid(
                "grants",
                "grants of another professional or client were given",
            ));
        }
        let decisions: Vec<FieldDecision> = fields
            .iter()
            .map(|field| FieldDecision {
                field: field.clone(),
                decision: decide_among(&self.catalogue, grants, field, action, now),
            })
            .collect();
        let base = |outcome| {
            let mut entry = AuditEntry::new(AuditEvent::Access, now);
            entry.client = Some(client);
            entry.professional = Some(professional);
            entry.organisation = Some(organisation);
            entry.action = Some(action);
            entry.outcome = Some(outcome);
            entry
        };
        let mut permitted: Vec<(GrantId, PurposeCode, Vec<String>)> = Vec::new();
        let mut denied: Vec<String> = Vec::new();
        let mut reason: Option<DenyReason> = None;
        for d in &decisions {
            match &d.decision {
                Decision::Permit { grant, purpose } => {
                    match permitted.iter_mut().find(|(g, _, _)| g == grant) {
                        Some((_, _, fields)) => fields.push(d.field.clone()),
                        None => permitted.push((*grant, purpose.code, vec![d.field.clone()])),
                    }
                }
                Decision::Deny { reason: r } => {
                    denied.push(d.field.clone());
                    reason.get_or_insert(*r);
                }
            }
        }
        let mut last_entry = None;
        for (grant, purpose, fields) in permitted {
            let mut entry = base(Outcome::Permit);
            entry.grant = Some(grant);
            entry.purpose = Some(purpose);
            entry.fields = fields;
            last_entry = Some(self.audit.append_deferred(entry)?.seq);
        }
        if !denied.is_empty() {
            let mut entry = base(Outcome::Deny);
            entry.fields = denied;
            entry.reason = reason
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            last_entry = Some(self.audit.append_deferred(entry)?.seq);
        }
        Ok((decisions, last_entry))
    }

    // ---- erasure --------------------------------------------------------------------

    /// Erases the client's consent records when the client is erased: every grant ends
    /// at once (revocation entries in the log), pending requests are denied, then the
    /// grants, requests, receipts and their indexes are deleted. The log keeps its
    /// entries (see `specs/audit-log.md`).
    pub fn erase_client(
        &self,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<usize, ConsentError> {
        let grants = self.grants_for_client(client)?;
        for grant in &grants {
            if matches!(
                grant.state(now),
                GrantState::Active | GrantState::NotYetValid
            ) {
                self.revoke(client, grant.id, now)?;
            }
        }
        let requests = self.requests_for_client(client)?;
        for request in &requests {
            if request.status_at(now) == RequestStatus::Pending {
                self.deny(client, request.id, now)?;
            }
        }
        let _guard = self.change();
        let mut writes: Vec<Write> = Vec::new();
        for grant in self.grants_for_client(client)? {
            let id = grant.id.as_bytes();
            writes.push((k(&[b"g/", id]), None));
            writes.push((
                k(&[
                    b"gx/",
                    grant.grantee.professional.as_bytes(),
                    client.as_bytes(),
                    id,
                ]),
                None,
            ));
            writes.push((k(&[b"gc/", client.as_bytes(), id]), None));
            writes.push((k(&[b"ge/", &time_key(&grant.valid_until), id]), None));
            for (key, _) in self
                .store
                .scan(&k(&[b"rcpt/", id]), None, false, usize::MAX)?
            {
                writes.push((key, None));
            }
        }
        for request in self.requests_for_client(client)? {
            let id = request.id.as_bytes();
            writes.push((k(&[b"r/", id]), None));
            writes.push((k(&[b"rc/", client.as_bytes(), id]), None));
            writes.push((
                k(&[b"rp/", request.requester.professional.as_bytes(), id]),
                None,
            ));
            writes.push((k(&[b"re/", &time_key(&request.answer_by), id]), None));
        }
        for (key, value) in
            self.store
                .scan(&k(&[b"pcc/", client.as_bytes()]), None, false, usize::MAX)?
        {
            writes.extend(code_removal(
                code_hash_suffix(&key)?,
                client,
                expiry_of(&value)?,
            ));
        }
        let mut entry = AuditEntry::new(AuditEvent::Erase, now);
        entry.client = Some(client);
        self.audit.append_with(entry, writes)?;
        Ok(grants.len())
    }

    // ---- expiry ---------------------------------------------------------------------

    /// Writes `expire` entries for grants that reached their end and lapses unanswered
    /// requests. Decisions never depend on this having run; it makes the log complete.
    pub fn sweep(&self, now: DateTime<Utc>) -> Result<Sweep, ConsentError> {
        let _guard = self.change();
        let mut sweep = Sweep::default();
        for (key, id) in self.due(b"ge/", now)? {
            let id = GrantId::from_bytes(id);
            let Some(mut grant) = self.get_grant(id)? else {
                self.store.apply(vec![(key, None)])?;
                continue;
            };
            if grant.state(now) != GrantState::Expired {
                continue;
            }
            grant.expiry_logged = true;
            let writes = vec![
                (k(&[b"g/", id.as_bytes()]), Some(self.stored_grant(&grant)?)),
                (key, None),
            ];
            self.audit.append_with(
                self.entry_for_grant(AuditEvent::Expire, &grant, now),
                writes,
            )?;
            sweep.grants_expired += 1;
        }
        for (key, id) in self.due(b"re/", now)? {
            let id = RequestId::from_bytes(id);
            let Some(mut request) = self.request(id)? else {
                self.store.apply(vec![(key, None)])?;
                continue;
            };
            if request.status_at(now) != RequestStatus::Expired {
                continue;
            }
            request.status = RequestStatus::Expired;
            let writes = vec![
                (
                    k(&[b"r/", id.as_bytes()]),
                    Some(self.stored_request(&request)?),
                ),
                (key, None),
            ];
            self.audit.append_with(
                self.entry_for_request(AuditEvent::RequestExpire, &request, now),
                writes,
            )?;
            sweep.requests_expired += 1;
        }
        // Expired codes carry no audit entry of their own (their issue was logged), so
        // they go in plain batches.
        loop {
            let removals = self.expired_code_removals(now, 256)?;
            if removals.is_empty() {
                break;
            }
            sweep.codes_removed += removals.len() / 3;
            self.store.apply(removals)?;
        }
        Ok(sweep)
    }
}

/// An index key due for the sweep, with the id it points to.
type DueKey = (Vec<u8>, [u8; 16]);

impl Consent {
    /// Keys of a time index (`prefix/time/id`) due at `now`, read a page at a time so
    /// that a sweep reads only what is due, not the whole index.
    fn due(&self, prefix: &[u8], now: DateTime<Utc>) -> Result<Vec<DueKey>, ConsentError> {
        const PAGE: usize = 256;
        let last = k(&[prefix, &time_key(&now), &[0xff; 16]]);
        let mut due = Vec::new();
        let mut from: Option<Vec<u8>> = None;
        loop {
            let page = self.store.scan(prefix, from.as_deref(), false, PAGE)?;
            let full = page.len() == PAGE;
            for (key, _) in page {
                if key > last {
                    return Ok(due);
                }
                if from.as_ref() == Some(&key) {
                    continue;
                }
                let id = id_suffix(&key)?;
                from = Some(key.clone());
                due.push((key, id));
            }
            if !full {
                return Ok(due);
            }
        }
    }
}

/// The key of a purpose's sealed text in a stored grant or request.
const SEALED_TEXT: &str = "sealed_text";

/// What a grant's purpose text is sealed for (the associated data binds it).
fn grant_text_label(id: GrantId) -> String {
    format!("grant/{id}/purpose.text")
}

/// What a request's purpose text is sealed for.
fn request_text_label(id: RequestId) -> String {
    format!("request/{id}/purpose.text")
}

/// What a grant's `index`-th receipt is sealed for.
fn receipt_label(id: GrantId, index: u32) -> String {
    format!("grant/{id}/receipt/{index}")
}

/// The three keys of one pairing code (by hash, by client, by expiry), removed.
fn code_removal(hash: [u8; 32], client: ClientId, expires_at: DateTime<Utc>) -> Vec<Write> {
    vec![
        (k(&[b"pc/", &hash]), None),
        (k(&[b"pcc/", client.as_bytes(), &hash]), None),
        (k(&[b"pce/", &time_key(&expires_at), &hash]), None),
    ]
}

/// The last 32 bytes of a code key: the code's hash.
fn code_hash_suffix(key: &[u8]) -> Result<[u8; 32], ConsentError> {
    key.len()
        .checked_sub(32)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ConsentError::Corrupt("malformed pairing code key".into()))
}

/// The time a [`time_key`] encodes.
fn expiry_of(bytes: &[u8]) -> Result<DateTime<Utc>, ConsentError> {
    let raw = <[u8; 8]>::try_from(bytes)
        .map_err(|_| ConsentError::Corrupt("malformed pairing code expiry".into()))?;
    let millis = (u64::from_be_bytes(raw) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| ConsentError::Corrupt("malformed pairing code expiry".into()))
}

/// The last 16 bytes of an index key: the id it points to.
fn id_suffix(key: &[u8]) -> Result<[u8; 16], ConsentError> {
    key.len()
        .checked_sub(16)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| ConsentError::Corrupt("malformed index key".into()))
}

/// The decision rule, over the grants between one professional and one client.
pub fn decide_among(
    catalogue: &Catalogue,
    grants: &[Grant],
    field: &str,
    action: Action,
    now: DateTime<Utc>,
) -> Decision {
    let deny = |reason| Decision::Deny { reason };
    if grants.is_empty() {
        return deny(DenyReason::NoGrant);
    }
    if catalogue.field(field).is_none() {
        return deny(DenyReason::UnknownField);
    }
    let covering: Vec<&Grant> = grants.iter().filter(|g| g.fields.contains(field)).collect();
    if covering.is_empty() {
        return deny(DenyReason::FieldNotGranted);
    }
    if let Some(grant) = covering
        .iter()
        .find(|g| g.state(now) == GrantState::Active && g.actions.contains(&action))
    {
        return Decision::Permit {
            grant: grant.id,
            purpose: grant.purpose.clone(),
        };
    }
    let states: Vec<GrantState> = covering.iter().map(|g| g.state(now)).collect();
    let reason = if states.contains(&GrantState::Active) {
        DenyReason::ActionNotGranted
    } else if states.contains(&GrantState::Revoked) {
        DenyReason::Revoked
    } else if states.contains(&GrantState::Expired) {
        DenyReason::Expired
    } else {
        DenyReason::NotYetValid
    };
    deny(reason)
}
