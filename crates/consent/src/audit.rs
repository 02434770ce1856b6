//! The append-only, tamper-evident audit log.
//!
//! Every consent event and every access decision is one entry: ids, field names and
//! outcomes, never record contents. Entries are leaves of an RFC 6962 Merkle tree; the
//! log signs checkpoints (size, root, time) with the service key, and gives inclusion and
//! consistency proofs. [`verify_entries`] recomputes everything from the raw entries and
//! detects any modified, deleted, inserted, reordered or truncated entry.
//!
//! Keys (all under `a/`): `e/seq` entry bytes; `n/level/index` Merkle nodes of level 4
//! and up (older stores hold levels 0-3 too; level 0 = leaf hashes); `c/client/seq`,
//! `p/professional/seq`, `o/organisation/seq`, `t/millis/seq` indexes; `k/size`
//! checkpoints.

use crate::canonical;
use crate::error::ConsentError;
use crate::merkle::{self, Hash, MissingNode, NodeSource};
use crate::model::{Action, GrantId, OrganisationId, PurposeCode, RequestId};
use crate::signing::{Jwks, ServiceKey};
use crate::store::{ConsentStore, Write};
use chrono::{DateTime, Utc};
use omadata_vault::store::StoreError;
use omadata_vault::{ClientId, ProfessionalId};
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditEvent {
    /// A professional asked for access.
    Request,
    /// The client approved a request (possibly narrowed); a grant was made.
    Approve,
    /// The client denied a request.
    Deny,
    /// A request lapsed unanswered.
    RequestExpire,
    /// The client granted on their own initiative.
    Grant,
    /// The client narrowed an existing grant.
    Narrow,
    /// The client revoked a grant.
    Revoke,
    /// A grant reached its end.
    Expire,
    /// An access decision about client data.
    Access,
    /// A pairing code was issued (not the code itself).
    PairingCode,
    /// The client's consent records were erased with the client.
    Erase,
    /// A person signed in (strong authentication accepted).
    Login,
    /// A sign-in was refused: weak assurance level, or not registered for the role.
    LoginRefused,
    /// A person signed out.
    Logout,
    /// An administrator registered or changed an organisation or its staff.
    Admin,
    /// Someone was locked out after too many failed attempts (guessing).
    Lockout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    Permit,
    Deny,
}

/// One log entry. Holds ids and field names, never record contents, and never a
/// national identity number: clients appear by their random internal id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event: AuditEvent,
    pub client: Option<ClientId>,
    pub professional: Option<ProfessionalId>,
    pub organisation: Option<OrganisationId>,
    pub grant: Option<GrantId>,
    pub request: Option<RequestId>,
    pub fields: Vec<String>,
    pub action: Option<Action>,
    pub purpose: Option<PurposeCode>,
    pub outcome: Option<Outcome>,
    /// A stable reason code for a deny.
    pub reason: Option<String>,
}

impl AuditEntry {
    /// A blank entry of `event` at `at`; the log assigns `seq`.
    pub fn new(event: AuditEvent, at: DateTime<Utc>) -> Self {
        Self {
            seq: 0,
            at,
            event,
            client: None,
            professional: None,
            organisation: None,
            grant: None,
            request: None,
            fields: Vec::new(),
            action: None,
            purpose: None,
            outcome: None,
            reason: None,
        }
    }
}

/// A signed statement of the log's size and root at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub tree_size: u64,
    /// Hex SHA-256 root hash.
    pub root_hash: String,
    pub timestamp: DateTime<Utc>,
    pub kid: String,
    /// Ed25519 over `omadata.checkpoint.v1\n{tree_size}\n{root_hash}\n{timestamp}\n`.
    pub signature: String,
}

fn checkpoint_message(tree_size: u64, root_hash: &str, timestamp: &DateTime<Utc>) -> Vec<u8> {
    format!(
        "omadata.checkpoint.v1\n{tree_size}\n{root_hash}\n{}\n",
        timestamp.to_rfc3339()
    )
    .into_bytes()
}

impl Checkpoint {
    pub fn root(&self) -> Option<Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.root_hash, &mut out).ok()?;
        Some(out)
    }

    pub fn verify_signature(&self, keys: &Jwks) -> bool {
        keys.find(&self.kid).is_some_and(|key| {
            key.verify(
                &checkpoint_message(self.tree_size, &self.root_hash, &self.timestamp),
                &self.signature,
            )
        })
    }
}

const ENTRY: &[u8] = b"a/e/";
const NODE: &[u8] = b"a/n/";
const BY_CLIENT: &[u8] = b"a/c/";
const BY_PROFESSIONAL: &[u8] = b"a/p/";
const BY_ORGANISATION: &[u8] = b"a/o/";
const BY_TIME: &[u8] = b"a/t/";
const CHECKPOINT: &[u8] = b"a/k/";

fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn node_key(level: u32, index: u64) -> Vec<u8> {
    key(&[NODE, &[level as u8], &index.to_be_bytes()])
}

/// Milliseconds since the epoch, order-preserving as unsigned big-endian bytes.
fn time_key(at: &DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    let tail = key
        .len()
        .checked_sub(8)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| StoreError::Corrupt("malformed audit index key".into()))?;
    Ok(u64::from_be_bytes(tail))
}

struct StoreNodes<'a>(&'a dyn ConsentStore);

#[derive(Debug, thiserror::Error)]
enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Missing(#[from] MissingNode),
}

impl From<NodeError> for ConsentError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Store(e) => ConsentError::Store(e),
            NodeError::Missing(m) => ConsentError::Corrupt(m.to_string()),
        }
    }
}

/// Nodes below this level are not stored (older stores hold them all): a leaf hash is
/// the hash of its entry and a lower node is hashed from at most 8 entries, so a proof
/// reads a few more entries instead of every append writing two more keys.
const STORED_LEVEL: u32 = 4;

impl NodeSource for StoreNodes<'_> {
    type Error = NodeError;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, NodeError> {
        if let Some(stored) = self.0.get(&node_key(level, index))? {
            return Ok(<[u8; 32]>::try_from(stored.as_slice()).ok());
        }
        // A node that is not stored is hashed from its children (`merkle::subtree_hash`),
        // down to the leaves, which are the entries' hashes.
        if level > 0 {
            return Ok(None);
        }
        Ok(self
            .0
            .get(&key(&[ENTRY, &index.to_be_bytes()]))?
            .map(|bytes| merkle::leaf_hash(&bytes)))
    }
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, by level:
/// what the next appends hash with.
fn frontier_of(source: &StoreNodes<'_>, size: u64) -> Result<Vec<Option<Hash>>, ConsentError> {
    let mut frontier = vec![None; 64];
    for (level, slot) in frontier.iter_mut().enumerate() {
        let subtrees = size >> level;
        if subtrees % 2 == 1 {
            let start = (subtrees - 1) << level;
            *slot = Some(merkle::subtree_hash(source, start, start + (1 << level))?);
        }
    }
    Ok(frontier)
}

/// The end of the log: the next sequence number and the tree's frontier
/// (`frontier[level]`: the newest complete node at `level` still waiting for its right
/// sibling).
#[derive(Debug)]
struct Tail {
    next_seq: u64,
    frontier: Vec<Option<Hash>>,
}

/// Which entries an audit view asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFilter {
    All,
    Client(ClientId),
    Professional(ProfessionalId),
    Organisation(OrganisationId),
}

#[derive(Debug)]
pub struct AuditLog {
    store: Arc<dyn ConsentStore>,
    key: Arc<ServiceKey>,
    tail: Mutex<Tail>,
    /// Entries below this sequence number are known to be on disk.
    durable_below: AtomicU64,
    /// Held by the one caller flushing for everyone (group commit).
    flushing: Mutex<()>,
    /// Signalled after every append, for a flusher waiting on [`AuditLog::wait_for_pending`].
    appended: Condvar,
}

impl AuditLog {
    pub fn open(store: Arc<dyn ConsentStore>, key: Arc<ServiceKey>) -> Result<Self, ConsentError> {
        let next_seq = match store.scan(ENTRY, None, true, 1)?.first() {
            Some((k, _)) => seq_of(k)? + 1,
            None => 0,
        };
        // The frontier before the newest entry: every node it needs was completed by an
        // earlier entry, so none was cut short.
        let before_last = frontier_of(&StoreNodes(store.as_ref()), next_seq.saturating_sub(1))?;
        let log = Self {
            store,
            key,
            tail: Mutex::new(Tail {
                next_seq,
                frontier: before_last,
            }),
            durable_below: AtomicU64::new(next_seq),
            flushing: Mutex::new(()),
            appended: Condvar::new(),
        };
        // An append may have been cut short by a crash after its entry: re-derive the
        // newest entry's keys (idempotent; the store keeps a prefix of in-order writes).
        if let Some(last) = next_seq.checked_sub(1) {
            let entry = log.entry(last)?;
            let bytes = log.raw_entry(last)?.unwrap_or_default();
            // Write only what is missing: a normal start reads a few keys and writes none.
            let mut missing = Vec::new();
            let derived = log.derived_writes(&entry, &bytes, &mut log.tail.lock().frontier)?;
            for (key, value) in derived {
                if log.store.get(&key)? != value {
                    missing.push((key, value));
                }
            }
            if !missing.is_empty() {
                tracing::warn!(
                    seq = last,
                    keys = missing.len(),
                    "re-deriving a cut-short audit entry"
                );
                log.store.apply(missing)?;
            }
        }
        Ok(log)
    }

    /// The number of entries.
    pub fn len(&self) -> u64 {
        self.tail.lock().next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `entry` (its `seq` is assigned) together with `extra` writes, atomically
    /// and durably: a consent change and its log entry land together or not at all.
    pub fn append_with(
        &self,
        entry: AuditEntry,
        extra: Vec<Write>,
    ) -> Result<AuditEntry, ConsentError> {
        let entry = self.append_deferred(entry, extra)?;
        self.sync_through(entry.seq)?;
        Ok(entry)
    }

    /// Appends like [`AuditLog::append_with`] but returns before the disk has it; the
    /// caller must [`AuditLog::sync_through`] the returned `seq` before acting on it
    /// (answering a request). Many callers share one flush this way (group commit).
    pub fn append_deferred(
        &self,
        mut entry: AuditEntry,
        extra: Vec<Write>,
    ) -> Result<AuditEntry, ConsentError> {
        let mut tail = self.tail.lock();
        let seq = tail.next_seq;
        entry.seq = seq;
        let bytes = canonical::to_vec(&entry).map_err(|e| ConsentError::Corrupt(e.to_string()))?;
        let frontier_before = tail.frontier.clone();
        let derived = self.derived_writes(&entry, &bytes, &mut tail.frontier)?;
        let entry_write = (key(&[ENTRY, &seq.to_be_bytes()]), Some(bytes));
        if extra.is_empty() {
            // The entry first, then what derives from it: a crash that cuts this short
            // leaves an entry whose derived keys `open` re-derives.
            let mut writes = vec![entry_write];
            writes.extend(derived);
            self.store.apply_in_order(writes)
        } else {
            // A consent change and its entry land together or not at all.
            let mut writes = extra;
            writes.extend(derived);
            writes.push(entry_write);
            self.store.apply_deferred(writes)
        }
        .inspect_err(|_| tail.frontier = frontier_before)?;
        tail.next_seq = seq + 1;
        self.appended.notify_all();
        Ok(entry)
    }

    /// The keys derived from an entry: the perfect subtrees it completes (from
    /// [`STORED_LEVEL`] up) and its index keys. Moves `frontier` past the entry.
    fn derived_writes(
        &self,
        entry: &AuditEntry,
        bytes: &[u8],
        frontier: &mut [Option<Hash>],
    ) -> Result<Vec<Write>, ConsentError> {
        let seq = entry.seq;
        let seq_bytes = seq.to_be_bytes();
        let mut writes = Vec::with_capacity(8);
        let mut hash = merkle::leaf_hash(bytes);
        let (mut level, mut index) = (0u32, seq);
        while index % 2 == 1 {
            let left = frontier
                .get(level as usize)
                .copied()
                .flatten()
                .ok_or_else(|| {
                    ConsentError::Corrupt(format!("audit tree lacks node {level}/{}", index - 1))
                })?;
            hash = merkle::node_hash(&left, &hash);
            level += 1;
            index /= 2;
            if level >= STORED_LEVEL {
                writes.push((node_key(level, index), Some(hash.to_vec())));
            }
        }
        *frontier
            .get_mut(level as usize)
            .ok_or_else(|| ConsentError::Corrupt("audit tree too deep".into()))? = Some(hash);
        if let Some(client) = entry.client {
            writes.push((
                key(&[BY_CLIENT, client.as_bytes(), &seq_bytes]),
                Some(Vec::new()),
            ));
        }
        if let Some(professional) = entry.professional {
            writes.push((
                key(&[BY_PROFESSIONAL, professional.as_bytes(), &seq_bytes]),
                Some(Vec::new()),
            ));
        }
        if let Some(organisation) = entry.organisation {
            writes.push((
                key(&[BY_ORGANISATION, organisation.as_bytes(), &seq_bytes]),
                Some(Vec::new()),
            ));
        }
        writes.push((
            key(&[BY_TIME, &time_key(&entry.at), &seq_bytes]),
            Some(Vec::new()),
        ));
        Ok(writes)
    }

    /// Returns once entry `seq` (and everything before it) is on disk. Concurrent callers
    /// wait for one flush instead of each making their own.
    pub fn sync_through(&self, seq: u64) -> Result<(), ConsentError> {
        if self.durable_below.load(Ordering::Acquire) > seq {
            return Ok(());
        }
        let _flusher = self.flushing.lock();
        if self.durable_below.load(Ordering::Acquire) > seq {
            return Ok(());
        }
        // Everything appended until now rides on this flush.
        let appended = self.len();
        self.store.sync()?;
        self.durable_below.fetch_max(appended, Ordering::AcqRel);
        Ok(())
    }

    /// Entries below this sequence number are on disk.
    pub fn durable_below(&self) -> u64 {
        self.durable_below.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for an entry that is not yet on disk; true if there is one.
    /// A flusher thread loops on this and [`AuditLog::sync_pending`].
    pub fn wait_for_pending(&self, timeout: std::time::Duration) -> bool {
        let mut tail = self.tail.lock();
        if tail.next_seq > self.durable_below() {
            return true;
        }
        self.appended.wait_for(&mut tail, timeout);
        tail.next_seq > self.durable_below()
    }

    /// Makes everything appended so far durable (one flush) and returns the new
    /// [`AuditLog::durable_below`].
    pub fn sync_pending(&self) -> Result<u64, ConsentError> {
        let appended = self.len();
        if let Some(last) = appended.checked_sub(1) {
            self.sync_through(last)?;
        }
        Ok(self.durable_below())
    }

    pub fn append(&self, entry: AuditEntry) -> Result<AuditEntry, ConsentError> {
        self.append_with(entry, Vec::new())
    }

    /// The raw bytes of entry `seq`.
    pub fn raw_entry(&self, seq: u64) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.store.get(&key(&[ENTRY, &seq.to_be_bytes()]))?)
    }

    fn entry(&self, seq: u64) -> Result<AuditEntry, ConsentError> {
        let bytes = self
            .raw_entry(seq)?
            .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ConsentError::Corrupt(format!("audit entry {seq}: {e}")))
    }

    /// Entries matching `filter`, newest first, with `seq` below `before_seq` (paging)
    /// and `at` within `[from, to)` if given. Answered from indexes, never by reading
    /// every entry: by client, professional or organisation through their index, by time
    /// alone through the time index.
    pub fn query(
        &self,
        filter: AuditFilter,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ConsentError> {
        const PAGE: usize = 256;
        let size = self.len();
        let mut out = Vec::new();
        if limit == 0 || before_seq == Some(0) {
            return Ok(out);
        }
        let by_time = filter == AuditFilter::All && to.is_some();
        let prefix = match filter {
            AuditFilter::All if by_time => BY_TIME.to_vec(),
            AuditFilter::All => ENTRY.to_vec(),
            AuditFilter::Client(c) => key(&[BY_CLIENT, c.as_bytes()]),
            AuditFilter::Professional(p) => key(&[BY_PROFESSIONAL, p.as_bytes()]),
            AuditFilter::Organisation(o) => key(&[BY_ORGANISATION, o.as_bytes()]),
        };
        let mut cursor: Option<Vec<u8>> = match (by_time, to, before_seq) {
            (true, Some(to), _) => {
                let last_ms = to - chrono::Duration::milliseconds(1);
                Some(key(&[BY_TIME, &time_key(&last_ms), &[0xff; 8]]))
            }
            (false, _, Some(before)) => Some(key(&[&prefix, &(before - 1).to_be_bytes()])),
            _ => None,
        };
        let mut skip_first = false;
        loop {
            let batch = self.store.scan(&prefix, cursor.as_deref(), true, PAGE)?;
            for (i, (k, _)) in batch.iter().enumerate() {
                if skip_first && i == 0 {
                    continue;
                }
                let seq = seq_of(k)?;
                if before_seq.is_some_and(|b| seq >= b) || seq >= size {
                    continue;
                }
                let entry = self.entry(seq)?;
                // An append that failed half-way can leave an index key naming a sequence
                // number a later entry reuses: only the entry itself decides.
                let belongs = match filter {
                    AuditFilter::All => true,
                    AuditFilter::Client(c) => entry.client == Some(c),
                    AuditFilter::Professional(p) => entry.professional == Some(p),
                    AuditFilter::Organisation(o) => entry.organisation == Some(o),
                };
                if !belongs || to.is_some_and(|t| entry.at >= t) {
                    continue;
                }
                if from.is_some_and(|f| entry.at < f) {
                    if by_time {
                        return Ok(out);
                    }
                    continue;
                }
                out.push(entry);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            if batch.len() < PAGE {
                return Ok(out);
            }
            cursor = batch.last().map(|(k, _)| k.clone());
            skip_first = true;
        }
    }

    pub fn root(&self, size: u64) -> Result<Hash, ConsentError> {
        Ok(merkle::root(&StoreNodes(self.store.as_ref()), size)?)
    }

    /// Signs and stores a checkpoint of the log as it is now.
    pub fn checkpoint(&self, now: DateTime<Utc>) -> Result<Checkpoint, ConsentError> {
        let size = self.len();
        let root_hash = hex::encode(self.root(size)?);
        let signature = self.key.sign(&checkpoint_message(size, &root_hash, &now));
        let checkpoint = Checkpoint {
            tree_size: size,
            root_hash,
            timestamp: now,
            kid: self.key.kid().to_owned(),
            signature,
        };
        let bytes =
            serde_json::to_vec(&checkpoint).map_err(|e| ConsentError::Corrupt(e.to_string()))?;
        self.store
            .apply(vec![(key(&[CHECKPOINT, &size.to_be_bytes()]), Some(bytes))])?;
        Ok(checkpoint)
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, ConsentError> {
        self.store
            .scan(CHECKPOINT, None, false, usize::MAX)?
            .into_iter()
            .map(|(_, v)| {
                serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string()))
            })
            .collect()
    }

    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ConsentError> {
        self.store
            .scan(CHECKPOINT, None, true, 1)?
            .into_iter()
            .next()
            .map(|(_, v)| {
                serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, ConsentError> {
        if seq >= size || size > self.len() {
            return Err(ConsentError::Invalid {
                what: "proof request",
                reason: format!(
                    "entry {seq} is not in a tree of size {size} (log has {})",
                    self.len()
                ),
            });
        }
        Ok(merkle::inclusion_proof(
            &StoreNodes(self.store.as_ref()),
            seq,
            size,
        )?)
    }

    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, ConsentError> {
        if old_size > new_size || new_size > self.len() {
            return Err(ConsentError::Invalid {
                what: "proof request",
                reason: format!(
                    "no consistency between sizes {old_size} and {new_size} (log has {})",
                    self.len()
                ),
            });
        }
        Ok(merkle::consistency_proof(
            &StoreNodes(self.store.as_ref()),
            old_size,
            new_size,
        )?)
    }

    /// The raw entries in order, `limit` at a time from `from_seq`: for export and
    /// verification.
    pub fn raw_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<Vec<u8>>, ConsentError> {
        Ok(self
            .store
            .scan(
                ENTRY,
                Some(&key(&[ENTRY, &from_seq.to_be_bytes()])),
                false,
                limit,
            )?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// Verifies the stored log from its raw entries against its stored checkpoints.
    pub fn verify(&self, keys: &Jwks) -> Result<LogReport, LogInvalid> {
        verify_store(self.store.as_ref(), keys)
    }
}

/// Every raw entry and checkpoint in a store, without the signing key: what an auditor
/// exports or verifies.
pub fn export_store(
    store: &dyn ConsentStore,
) -> Result<(Vec<Vec<u8>>, Vec<Checkpoint>), ConsentError> {
    let entries = store
        .scan(ENTRY, None, false, usize::MAX)?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let checkpoints = store
        .scan(CHECKPOINT, None, false, usize::MAX)?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok((entries, checkpoints))
}

/// Verifies the log held in a store.
pub fn verify_store(store: &dyn ConsentStore, keys: &Jwks) -> Result<LogReport, LogInvalid> {
    let (entries, checkpoints) =
        export_store(store).map_err(|e| LogInvalid::Unreadable(e.to_string()))?;
    verify_entries(entries.iter().map(Vec::as_slice), &checkpoints, keys)
}

/// What a verification established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogReport {
    pub entries: u64,
    pub root_hash: String,
    pub checkpoints_verified: usize,
    /// Entries after the last checkpoint: intact in order, but not yet anchored by a
    /// signature.
    pub unanchored_entries: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogInvalid {
    #[error("entry at position {position} is malformed: {reason}")]
    MalformedEntry { position: u64, reason: String },
    #[error(
        "entry at position {position} carries sequence number {seq}: entries were deleted, inserted or reordered"
    )]
    OutOfOrder { position: u64, seq: u64 },
    #[error("checkpoint of size {size} has a bad signature or an unknown key")]
    BadCheckpointSignature { size: u64 },
    #[error(
        "checkpoint of size {size} is signed, but the log has only {entries} entries: the log was truncated"
    )]
    Truncated { size: u64, entries: u64 },
    #[error(
        "the first {size} entries do not hash to the signed root: entries were modified, deleted, inserted or reordered"
    )]
    RootMismatch { size: u64 },
    #[error("checkpoint of size {new} does not extend checkpoint of size {old}")]
    NotAnExtension { old: u64, new: u64 },
    #[error("the log cannot be read: {0}")]
    Unreadable(String),
}

/// Recomputes the tree over raw entries (in order) and checks every checkpoint.
pub fn verify_entries<'a>(
    entries: impl Iterator<Item = &'a [u8]>,
    checkpoints: &[Checkpoint],
    keys: &Jwks,
) -> Result<LogReport, LogInvalid> {
    let mut tree = merkle::MemoryTree::new();
    for (position, bytes) in entries.enumerate() {
        let position = position as u64;
        let entry: AuditEntry =
            serde_json::from_slice(bytes).map_err(|e| LogInvalid::MalformedEntry {
                position,
                reason: e.to_string(),
            })?;
        if canonical::to_vec(&entry).ok().as_deref() != Some(bytes) {
            return Err(LogInvalid::MalformedEntry {
                position,
                reason: "not in canonical form".into(),
            });
        }
        if entry.seq != position {
            return Err(LogInvalid::OutOfOrder {
                position,
                seq: entry.seq,
            });
        }
        tree.push(bytes);
    }
    let entries = tree.len();
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| (c.tree_size, c.timestamp));
    let mut previous: Option<&Checkpoint> = None;
    for checkpoint in &sorted {
        let size = checkpoint.tree_size;
        if !checkpoint.verify_signature(keys) {
            return Err(LogInvalid::BadCheckpointSignature { size });
        }
        if let Some(prev) = previous
            && prev.timestamp > checkpoint.timestamp
        {
            return Err(LogInvalid::NotAnExtension {
                old: prev.tree_size,
                new: size,
            });
        }
        if size > entries {
            return Err(LogInvalid::Truncated { size, entries });
        }
        let root = tree
            .root_at(size)
            .map_err(|e| LogInvalid::Unreadable(e.to_string()))?;
        if Some(root) != checkpoint.root() {
            return Err(LogInvalid::RootMismatch { size });
        }
        previous = Some(checkpoint);
    }
    let anchored = sorted.last().map_or(0, |c| c.tree_size);
    Ok(LogReport {
        entries,
        root_hash: hex::encode(tree.root()),
        checkpoints_verified: sorted.len(),
        unanchored_entries: entries - anchored,
    })
}

/// Checks, from two signed checkpoints and a consistency proof alone, that the newer one
/// extends the older: what an auditor who kept an old checkpoint runs.
pub fn verify_extension(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[Hash],
    keys: &Jwks,
) -> Result<(), LogInvalid> {
    for c in [old, new] {
        if !c.verify_signature(keys) {
            return Err(LogInvalid::BadCheckpointSignature { size: c.tree_size });
        }
    }
    let (Some(old_root), Some(new_root)) = (old.root(), new.root()) else {
        return Err(LogInvalid::NotAnExtension {
            old: old.tree_size,
            new: new.tree_size,
        });
    };
    if merkle::verify_consistency(old.tree_size, new.tree_size, &old_root, &new_root, proof) {
        Ok(())
    } else {
        Err(LogInvalid::NotAnExtension {
            old: old.tree_size,
            new: new.tree_size,
        })
    }
}
