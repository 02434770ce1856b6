//! The append-only, tamper-evident audit log.
//!
//! Every consent event and every access decision is one entry: ids, field names and
//! outcomes, never record contents. Entries are leaves of an RFC 6962 Merkle tree; the
//! log signs checkpoints (size, root, time) with the service key, and gives inclusion and
//! consistency proofs. [`verify_entries`] recomputes everything from the raw entries and
//! detects any modified, deleted, inserted, reordered or truncated entry;
//! [`verify_store_cancellable`] does it streaming, in bounded memory, and can be stopped.
//!
//! Storage: entries are the store's audit journal (`ConsentStore::journal_*`): one record
//! per entry with its links to the previous entry of the same client, professional and
//! organisation and its log time; tree nodes of 16 leaves and more beside them. In the key
//! space only `a/k/size` checkpoints, and `a/e/seq` copies of entries that a consent
//! change wrote with its batch (imported on open if the journal lacks them). Stores
//! written before the journal (`a/e/` entries, `a/n/` nodes, `a/c|p|o|t/` indexes) are
//! imported into it on open.

use crate::canonical;
use crate::error::ConsentError;
use crate::merkle::{self, Hash, MissingNode, NodeSource};
use crate::model::{Action, GrantId, OrganisationId, PurposeCode, RequestId};
use crate::signing::{Jwks, ServiceKey};
use crate::store::{ConsentStore, JOURNAL_META, JournalNode, JournalRecord, Write};
use chrono::{DateTime, Utc};
use omadata_vault::store::StoreError;
use omadata_vault::{ClientId, ProfessionalId};
use parking_lot::{Condvar, Mutex};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// The canonical bytes of an entry, as [`canonical::to_vec`] writes them, but serialised
/// straight from a struct whose fields are in sorted order instead of through a JSON
/// tree: the generic way was 5 % of the gateway's CPU, under the log's lock. Every value
/// inside is a string, an integer, null or an array of strings, so no nested key needs
/// sorting. The verifier keeps the generic check.
fn canonical_entry(entry: &AuditEntry) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Sorted<'a> {
        action: &'a Option<Action>,
        at: &'a DateTime<Utc>,
        client: &'a Option<ClientId>,
        event: &'a AuditEvent,
        fields: &'a [String],
        grant: &'a Option<GrantId>,
        organisation: &'a Option<OrganisationId>,
        outcome: &'a Option<Outcome>,
        professional: &'a Option<ProfessionalId>,
        purpose: &'a Option<PurposeCode>,
        reason: &'a Option<String>,
        request: &'a Option<RequestId>,
        seq: u64,
    }
    // Exhaustive, so a new field cannot be left out without this failing to compile.
    let AuditEntry {
        seq,
        at,
        event,
        client,
        professional,
        organisation,
        grant,
        request,
        fields,
        action,
        purpose,
        outcome,
        reason,
    } = entry;
    serde_json::to_vec(&Sorted {
        action,
        at,
        client,
        event,
        fields,
        grant,
        organisation,
        outcome,
        professional,
        purpose,
        reason,
        request,
        seq: *seq,
    })
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

/// Entries of stores from before the journal, and the copies a consent change writes
/// with its batch: imported into the journal on open, then removed.
const ENTRY: &[u8] = b"a/e/";
/// Tree nodes and indexes of stores from before the journal: removed on open.
const LEGACY: [&[u8]; 5] = [b"a/n/", b"a/c/", b"a/p/", b"a/o/", b"a/t/"];
const CHECKPOINT: &[u8] = b"a/k/";

/// Tree nodes below this level are not stored: a leaf hash is the hash of its entry and
/// a lower node is hashed from at most 8 entries when a proof needs it.
const STORED_LEVEL: u32 = 4;
/// "No earlier entry" in a chain link.
const NO_LINK: u64 = u64::MAX;
/// The chain heads are saved after this many entries, so a start replays at most this
/// many.
const SNAPSHOT_EVERY: u64 = 1 << 16;
/// Entries imported into the journal per append, on open.
const IMPORT_BATCH: usize = 4096;
const SNAPSHOT_FORMAT: u8 = 1;

fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn entry_key(seq: u64) -> Vec<u8> {
    key(&[ENTRY, &seq.to_be_bytes()])
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    let tail = key
        .len()
        .checked_sub(8)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| StoreError::Corrupt("malformed audit key".into()))?;
    Ok(u64::from_be_bytes(tail))
}

fn parse_entry(seq: u64, bytes: &[u8]) -> Result<AuditEntry, ConsentError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ConsentError::Corrupt(format!("audit entry {seq}: {e}")))
}

/// What the log keeps beside each entry (the journal record's meta): the previous entry
/// of the same client, professional and organisation ([`NO_LINK`]: none), and the log
/// time in milliseconds, which never decreases along the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Links {
    client: u64,
    professional: u64,
    organisation: u64,
    at_millis: i64,
}

impl Links {
    fn encode(&self) -> [u8; JOURNAL_META] {
        let mut out = [0u8; JOURNAL_META];
        for (slot, value) in out.chunks_exact_mut(8).zip([
            self.client,
            self.professional,
            self.organisation,
            self.at_millis as u64,
        ]) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        out
    }

    fn decode(meta: &[u8; JOURNAL_META]) -> Self {
        let mut words = meta.chunks_exact(8).map(|c| {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            u64::from_be_bytes(word)
        });
        let mut next = || words.next().unwrap_or(NO_LINK);
        Links {
            client: next(),
            professional: next(),
            organisation: next(),
            at_millis: next() as i64,
        }
    }

    fn previous(&self, chain: Chain) -> u64 {
        match chain {
            Chain::Client => self.client,
            Chain::Professional => self.professional,
            Chain::Organisation => self.organisation,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chain {
    Client,
    Professional,
    Organisation,
}

const CHAINS: [Chain; 3] = [Chain::Client, Chain::Professional, Chain::Organisation];

/// The ids an entry is chained by.
fn chain_ids(entry: &AuditEntry) -> [Option<[u8; 16]>; 3] {
    [
        entry.client.map(|c| *c.as_bytes()),
        entry.professional.map(|p| *p.as_bytes()),
        entry.organisation.map(|o| *o.as_bytes()),
    ]
}

/// Heads sorted by id, as saved in a snapshot.
type SortedHeads = Arc<[([u8; 16], u64)]>;

fn sorted_get(sorted: &[([u8; 16], u64)], id: &[u8; 16]) -> Option<u64> {
    sorted
        .binary_search_by(|(key, _)| key.cmp(id))
        .ok()
        .map(|i| sorted[i].1)
}

/// The heads of one kind of chain: a sorted base as of the last saved snapshot, shared
/// with the thread that saved it, and a map of the heads that moved since.
///
/// At 10^6 clients a single map took a third of the start-up time to rebuild (hashing and
/// growing it) and a lock-holding clone of tens of megabytes at every snapshot; the base
/// is read from the snapshot in one pass and shared, and only the moved heads are copied.
/// The ids are random UUIDs the service made, so a fast non-keyed hash is safe for them.
#[derive(Clone, Debug, Default)]
struct ChainHeads {
    base: SortedHeads,
    moved: FxHashMap<[u8; 16], u64>,
}

impl ChainHeads {
    fn get(&self, id: &[u8; 16]) -> Option<u64> {
        match self.moved.get(id) {
            Some(seq) => Some(*seq),
            None => sorted_get(&self.base, id),
        }
    }

    fn insert(&mut self, id: [u8; 16], seq: u64) -> Option<u64> {
        let previous = self.get(&id);
        self.moved.insert(id, seq);
        previous
    }

    /// Forgets `id`, which had no head before its newest insert (so the base lacks it).
    fn remove_new(&mut self, id: &[u8; 16]) {
        self.moved.remove(id);
    }

    /// Every head, sorted by id.
    fn merged(&self) -> SortedHeads {
        let mut moved: Vec<([u8; 16], u64)> = self.moved.iter().map(|(k, v)| (*k, *v)).collect();
        moved.sort_unstable_by_key(|(id, _)| *id);
        let mut out = Vec::with_capacity(self.base.len() + moved.len());
        let (mut base, mut moved) = (self.base.iter().peekable(), moved.into_iter().peekable());
        loop {
            let next = match (base.peek(), moved.peek()) {
                (Some(b), Some(m)) => match b.0.cmp(&m.0) {
                    std::cmp::Ordering::Less => base.next().copied(),
                    std::cmp::Ordering::Greater => moved.next(),
                    std::cmp::Ordering::Equal => {
                        base.next();
                        moved.next()
                    }
                },
                (Some(_), None) => base.next().copied(),
                (None, Some(_)) => moved.next(),
                (None, None) => break,
            };
            out.extend(next);
        }
        out.into()
    }

    /// Takes `merged`, this chain's heads as of an earlier moment made from this very
    /// base, as the new base: a moved head that still equals it is dropped (a head only
    /// moves forward, so an equal one has not moved since).
    fn rebase(&mut self, merged: SortedHeads) {
        self.moved
            .retain(|id, seq| sorted_get(&merged, id) != Some(*seq));
        self.base = merged;
    }
}

/// The newest entry of every client, professional and organisation: where a view's walk
/// along the links starts.
#[derive(Clone, Debug, Default)]
struct Heads([ChainHeads; 3]);

impl Heads {
    fn head(&self, chain: Chain, id: &[u8; 16]) -> Option<u64> {
        self.0[chain as usize].get(id)
    }

    /// Makes `seq` the head of each of `ids`' chains; returns the links to the previous
    /// heads.
    fn link(&mut self, ids: &[Option<[u8; 16]>; 3], seq: u64) -> [u64; 3] {
        let mut previous = [NO_LINK; 3];
        for ((heads, id), prev) in self.0.iter_mut().zip(ids).zip(previous.iter_mut()) {
            if let Some(id) = id {
                *prev = heads.insert(*id, seq).unwrap_or(NO_LINK);
            }
        }
        previous
    }

    /// Undoes [`Heads::link`].
    fn unlink(&mut self, ids: &[Option<[u8; 16]>; 3], previous: [u64; 3]) {
        for ((heads, id), prev) in self.0.iter_mut().zip(ids).zip(previous) {
            if let Some(id) = id {
                if prev == NO_LINK {
                    heads.remove_new(id);
                } else {
                    heads.insert(*id, prev);
                }
            }
        }
    }

    fn merged(&self) -> [SortedHeads; 3] {
        [self.0[0].merged(), self.0[1].merged(), self.0[2].merged()]
    }

    fn rebase(&mut self, merged: [SortedHeads; 3]) {
        for (heads, merged) in self.0.iter_mut().zip(merged) {
            heads.rebase(merged);
        }
    }

    /// Format: [`SNAPSHOT_FORMAT`], the number of entries covered (u64 BE), then per
    /// chain the count (u64 BE) and (id, seq) pairs, sorted by id.
    fn encode(merged: &[SortedHeads; 3], covered: u64) -> Vec<u8> {
        let pairs: usize = merged.iter().map(|m| m.len()).sum();
        let mut out = Vec::with_capacity(9 + 24 + pairs * 24);
        out.push(SNAPSHOT_FORMAT);
        out.extend_from_slice(&covered.to_be_bytes());
        for heads in merged {
            out.extend_from_slice(&(heads.len() as u64).to_be_bytes());
            for (id, seq) in heads.iter() {
                out.extend_from_slice(id);
                out.extend_from_slice(&seq.to_be_bytes());
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<(u64, Self)> {
        let (&format, mut rest) = bytes.split_first()?;
        if format != SNAPSHOT_FORMAT {
            return None;
        }
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let word = |b: &[u8]| -> Option<u64> { Some(u64::from_be_bytes(b.try_into().ok()?)) };
        let covered = word(take(8)?)?;
        let mut heads = Heads::default();
        for chain in heads.0.iter_mut() {
            let count = usize::try_from(word(take(8)?)?).ok()?;
            // A count larger than the bytes left is damage, not a size to reserve.
            let mut sorted = Vec::with_capacity(count.min(bytes.len() / 24));
            for _ in 0..count {
                let id: [u8; 16] = take(16)?.try_into().ok()?;
                sorted.push((id, word(take(8)?)?));
            }
            // Snapshots written before they were sorted are sorted here.
            if !sorted.is_sorted_by_key(|(id, _)| *id) {
                sorted.sort_unstable_by_key(|(id, _)| *id);
            }
            chain.base = sorted.into();
        }
        Some((covered, heads))
    }
}

/// An appended entry not yet in the journal.
#[derive(Debug)]
struct Pending {
    seq: u64,
    record: JournalRecord,
    ids: [Option<[u8; 16]>; 3],
    /// Stored tree nodes its append completed.
    nodes: Vec<JournalNode>,
}

/// The end of the log, under one lock.
#[derive(Debug)]
struct Tail {
    next_seq: u64,
    /// Appended but not yet in the journal, oldest first, ending at `next_seq - 1`.
    pending: VecDeque<Pending>,
    /// `frontier[level]`: the newest complete node at `level` still waiting for its
    /// right sibling.
    frontier: Vec<Option<Hash>>,
    heads: Heads,
    /// The log time of the newest entry.
    last_at_millis: i64,
    /// Entries the saved snapshot of the heads covers.
    snapshot_covered: u64,
    /// Consent-change copies of entries now in the journal: removed with the next change.
    stale_copies: Vec<u64>,
}

impl Tail {
    fn pending_record(&self, seq: u64) -> Option<&Pending> {
        let first = self.pending.front()?.seq;
        self.pending
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }
}

/// The log's nodes: stored ones from the journal (or an entry still waiting for it),
/// leaf hashes from the entries; `merkle::subtree_hash` hashes the rest from these.
struct LogNodes<'a> {
    store: &'a dyn ConsentStore,
    tail: Option<&'a Mutex<Tail>>,
}

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

impl NodeSource for LogNodes<'_> {
    type Error = NodeError;
    fn node(&self, level: u32, index: u64) -> Result<Option<Hash>, NodeError> {
        if level == 0 {
            if let Some(tail) = self.tail
                && let Some(p) = tail.lock().pending_record(index)
            {
                return Ok(Some(merkle::leaf_hash(&p.record.bytes)));
            }
            return Ok(self
                .store
                .journal_record(index)?
                .map(|r| merkle::leaf_hash(&r.bytes)));
        }
        if level < STORED_LEVEL {
            return Ok(None);
        }
        let completed_by = index
            .checked_add(1)
            .and_then(|n| n.checked_mul(1u64.checked_shl(level)?))
            .and_then(|n| n.checked_sub(1));
        if let (Some(tail), Some(seq)) = (self.tail, completed_by)
            && let Some(p) = tail.lock().pending_record(seq)
        {
            return Ok(p
                .nodes
                .iter()
                .find(|(l, i, _)| (*l, *i) == (level, index))
                .map(|(_, _, hash)| *hash));
        }
        Ok(self.store.journal_node(level, index)?)
    }
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, by level.
fn frontier_of(source: &LogNodes<'_>, size: u64) -> Result<Vec<Option<Hash>>, ConsentError> {
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

/// Which entries an audit view asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFilter {
    All,
    Client(ClientId),
    Professional(ProfessionalId),
    Organisation(OrganisationId),
}

impl AuditFilter {
    fn chain(&self) -> Option<(Chain, [u8; 16])> {
        match self {
            AuditFilter::All => None,
            AuditFilter::Client(c) => Some((Chain::Client, *c.as_bytes())),
            AuditFilter::Professional(p) => Some((Chain::Professional, *p.as_bytes())),
            AuditFilter::Organisation(o) => Some((Chain::Organisation, *o.as_bytes())),
        }
    }
}

/// The log. Entries live in the store's journal; an access entry waits in memory until
/// the next group commit appends every waiting entry in one durable journal write. Views
/// follow each entry's links to the previous entry of the same client, professional or
/// organisation; the newest of each is held in memory (and saved now and then).
#[derive(Debug)]
pub struct AuditLog {
    store: Arc<dyn ConsentStore>,
    key: Arc<ServiceKey>,
    tail: Mutex<Tail>,
    /// Entries below this sequence number are known to be on disk.
    durable_below: AtomicU64,
    /// Held by the one caller writing the journal for everyone (group commit), and by a
    /// consent change from its batch to its journal write.
    flushing: Mutex<()>,
    /// Signalled after every append, for a flusher waiting on [`AuditLog::wait_for_pending`].
    appended: Condvar,
    /// The thread saving the chain heads, if one was started.
    saving: Mutex<Option<std::thread::JoinHandle<[SortedHeads; 3]>>>,
}

impl AuditLog {
    pub fn open(store: Arc<dyn ConsentStore>, key: Arc<ServiceKey>) -> Result<Self, ConsentError> {
        let journaled = store.journal_len()?;
        let nodes = LogNodes {
            store: store.as_ref(),
            tail: None,
        };
        let frontier = frontier_of(&nodes, journaled)?;
        let (covered, mut heads) = store
            .journal_snapshot()?
            .and_then(|bytes| Heads::decode(&bytes))
            .filter(|(covered, _)| *covered <= journaled)
            .unwrap_or_default();
        let mut last_at_millis = i64::MIN;
        for seq in covered..journaled {
            let record = store
                .journal_record(seq)?
                .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
            heads.link(&chain_ids(&parse_entry(seq, &record.bytes)?), seq);
        }
        if let Some(last) = journaled.checked_sub(1)
            && let Some(record) = store.journal_record(last)?
        {
            last_at_millis = Links::decode(&record.meta).at_millis;
        }
        let log = Self {
            store,
            key,
            tail: Mutex::new(Tail {
                next_seq: journaled,
                pending: VecDeque::new(),
                frontier,
                heads,
                last_at_millis,
                snapshot_covered: covered,
                stale_copies: Vec::new(),
            }),
            durable_below: AtomicU64::new(journaled),
            flushing: Mutex::new(()),
            appended: Condvar::new(),
            saving: Mutex::new(None),
        };
        log.import()?;
        Ok(log)
    }

    /// Brings into the journal the entries only the key space holds: every entry of a
    /// store from before the journal or of a restored backup, or the copies a consent
    /// change wrote with its batch when a crash cut off its journal write. Then removes
    /// them and the old layout's nodes and indexes.
    fn import(&self) -> Result<(), ConsentError> {
        let _flusher = self.flushing.lock();
        loop {
            let next = self.len();
            let batch = self
                .store
                .scan(ENTRY, Some(&entry_key(next)), false, IMPORT_BATCH)?;
            let mut imported = 0u64;
            for (k, bytes) in &batch {
                let seq = seq_of(k)?;
                if seq != next + imported {
                    tracing::warn!(
                        seq,
                        expected = next + imported,
                        "audit entries after a gap left out"
                    );
                    break;
                }
                let entry = parse_entry(seq, bytes)?;
                if entry.seq != seq {
                    return Err(ConsentError::Corrupt(format!(
                        "audit entry {seq} carries sequence number {}",
                        entry.seq
                    )));
                }
                self.push(&mut self.tail.lock(), entry, Some(bytes.clone()))?;
                imported += 1;
            }
            if imported == 0 {
                break;
            }
            tracing::info!(
                entries = imported,
                "imported audit entries into the journal"
            );
            self.write_pending()?;
        }
        let journaled = self.len();
        for prefix in std::iter::once(ENTRY).chain(LEGACY) {
            loop {
                let keys = self.store.scan(prefix, None, false, IMPORT_BATCH)?;
                let mut removals = Vec::new();
                for (k, _) in &keys {
                    if prefix == ENTRY && seq_of(k)? >= journaled {
                        break;
                    }
                    removals.push((k.clone(), None));
                }
                let done = removals.len() < IMPORT_BATCH;
                if !removals.is_empty() {
                    self.store.apply(removals)?;
                }
                if done {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The number of entries.
    pub fn len(&self) -> u64 {
        self.tail.lock().next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `entry` as the next one: assigns its `seq` and log time (never before the
    /// previous entry's), hashes it into the tree and links it into its chains. An
    /// imported entry keeps its `bytes` as they are.
    fn push(
        &self,
        tail: &mut Tail,
        mut entry: AuditEntry,
        bytes: Option<Vec<u8>>,
    ) -> Result<AuditEntry, ConsentError> {
        let seq = tail.next_seq;
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => {
                entry.seq = seq;
                if entry.at.timestamp_millis() < tail.last_at_millis
                    && let Some(last) = DateTime::from_timestamp_millis(tail.last_at_millis)
                {
                    entry.at = last;
                }
                canonical_entry(&entry).map_err(|e| ConsentError::Corrupt(e.to_string()))?
            }
        };
        let at_millis = entry.at.timestamp_millis().max(tail.last_at_millis);
        let mut hash = merkle::leaf_hash(&bytes);
        let mut nodes = Vec::new();
        let (mut level, mut index) = (0u32, seq);
        while index % 2 == 1 {
            let left = tail
                .frontier
                .get(level as usize)
                .copied()
                .flatten()
                .ok_or_else(|| ConsentError::Corrupt(format!("audit tree lacks node {level}")))?;
            hash = merkle::node_hash(&left, &hash);
            level += 1;
            index /= 2;
            if level >= STORED_LEVEL {
                nodes.push((level, index, hash));
            }
        }
        *tail
            .frontier
            .get_mut(level as usize)
            .ok_or_else(|| ConsentError::Corrupt("audit tree too deep".into()))? = Some(hash);
        let ids = chain_ids(&entry);
        let [client, professional, organisation] = tail.heads.link(&ids, seq);
        let links = Links {
            client,
            professional,
            organisation,
            at_millis,
        };
        tail.pending.push_back(Pending {
            seq,
            record: JournalRecord {
                bytes,
                meta: links.encode(),
            },
            ids,
            nodes,
        });
        tail.next_seq = seq + 1;
        tail.last_at_millis = at_millis;
        Ok(entry)
    }

    /// Undoes the newest [`AuditLog::push`].
    fn unpush(tail: &mut Tail, frontier: Vec<Option<Hash>>, last_at_millis: i64) {
        if let Some(p) = tail.pending.pop_back() {
            let links = Links::decode(&p.record.meta);
            let previous = CHAINS.map(|chain| links.previous(chain));
            tail.heads.unlink(&p.ids, previous);
            tail.next_seq = p.seq;
        }
        tail.frontier = frontier;
        tail.last_at_millis = last_at_millis;
    }

    /// Appends `entry` (its `seq` is assigned) together with `extra` writes, atomically
    /// and durably: a consent change and its log entry land together or not at all.
    pub fn append_with(
        &self,
        entry: AuditEntry,
        extra: Vec<Write>,
    ) -> Result<AuditEntry, ConsentError> {
        // No group commit may write this entry to the journal before its change is on disk.
        let _flusher = self.flushing.lock();
        let entry = {
            let mut tail = self.tail.lock();
            let (frontier, last_at) = (tail.frontier.clone(), tail.last_at_millis);
            let entry = self.push(&mut tail, entry, None)?;
            // The change, with a copy of every entry not yet in the journal (this one
            // last): if a crash cuts off the journal write below, `open` imports them.
            let mut writes = extra;
            writes.extend(
                tail.pending
                    .iter()
                    .map(|p| (entry_key(p.seq), Some(p.record.bytes.clone()))),
            );
            writes.extend(tail.stale_copies.iter().map(|&seq| (entry_key(seq), None)));
            if let Err(e) = self.store.apply_deferred(writes) {
                // Nothing landed: the change did not happen, so neither did its entry.
                Self::unpush(&mut tail, frontier, last_at);
                return Err(e.into());
            }
            tail.stale_copies.clear();
            (
                entry,
                tail.pending.iter().map(|p| p.seq).collect::<Vec<_>>(),
            )
        };
        let (entry, copied) = entry;
        // From here the change has landed: a failure must not read "nothing changed".
        self.store.sync().map_err(StoreError::after_change)?;
        self.write_pending().map_err(|e| match e {
            ConsentError::Store(e) => ConsentError::Store(e.after_change()),
            other => ConsentError::Store(StoreError::Unconfirmed(other.to_string())),
        })?;
        // The copies are no longer needed once the journal has their entries.
        self.tail.lock().stale_copies.extend(copied);
        Ok(entry)
    }

    /// Appends an entry without waiting for the disk; the caller must
    /// [`AuditLog::sync_through`] the returned `seq` before acting on it (answering a
    /// request). Many callers share one journal write this way (group commit).
    pub fn append_deferred(&self, entry: AuditEntry) -> Result<AuditEntry, ConsentError> {
        let entry = self.push(&mut self.tail.lock(), entry, None)?;
        self.appended.notify_all();
        Ok(entry)
    }

    /// Writes every waiting entry to the journal (one durable write). The caller holds
    /// `flushing`.
    fn write_pending(&self) -> Result<(), ConsentError> {
        let (records, nodes, count, appended) = {
            let tail = self.tail.lock();
            let records: Vec<JournalRecord> =
                tail.pending.iter().map(|p| p.record.clone()).collect();
            let nodes: Vec<JournalNode> =
                tail.pending.iter().flat_map(|p| p.nodes.clone()).collect();
            (records, nodes, tail.pending.len(), tail.next_seq)
        };
        if count > 0 {
            self.store.journal_append(&records, &nodes)?;
            // Only appends ran meanwhile (they add at the back): the front is ours.
            self.tail.lock().pending.drain(..count);
        }
        self.durable_below.fetch_max(appended, Ordering::AcqRel);
        self.maybe_save_heads()?;
        Ok(())
    }

    /// Saves the chain heads as of the journal's end once enough entries went by.
    fn maybe_save_heads(&self) -> Result<(), ConsentError> {
        // Merging, encoding and writing tens of megabytes would hold up group commits: a
        // thread of its own does it, one at a time. A failed save is retried an interval
        // later.
        let mut saving = self.saving.lock();
        if saving.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.rebase_on_saved(saving.take());
        let Some((covered, heads)) = self.heads_to_save(SNAPSHOT_EVERY) else {
            return Ok(());
        };
        let store = self.store.clone();
        let writer = std::thread::Builder::new()
            .name("audit-heads".into())
            .spawn(move || {
                let merged = heads.merged();
                if let Err(e) = store.save_journal_snapshot(&Heads::encode(&merged, covered)) {
                    tracing::warn!(error = %e, "saving the audit chain heads failed");
                }
                merged
            })
            .map_err(|e| ConsentError::Store(StoreError::Backend(e.to_string())))?;
        *saving = Some(writer);
        Ok(())
    }

    /// The chain heads as of the journal's end, if at least `interval` entries went into
    /// the journal since the last snapshot.
    fn heads_to_save(&self, interval: u64) -> Option<(u64, Heads)> {
        let mut tail = self.tail.lock();
        let covered = tail.pending.front().map_or(tail.next_seq, |p| p.seq);
        if covered < tail.snapshot_covered + interval {
            return None;
        }
        // The heads without the entries still waiting, newest first. The clone copies only
        // the heads moved since the last snapshot.
        let mut heads = tail.heads.clone();
        for p in tail.pending.iter().rev() {
            let links = Links::decode(&p.record.meta);
            heads.unlink(&p.ids, CHAINS.map(|chain| links.previous(chain)));
        }
        tail.snapshot_covered = covered;
        Some((covered, heads))
    }

    /// Writes what waits and saves the chain heads as of the end of the log, so that the
    /// next open replays nothing: for a clean shutdown and the end of a bulk load.
    pub fn save_heads(&self) -> Result<(), ConsentError> {
        self.sync_pending()?;
        let mut saving = self.saving.lock();
        self.rebase_on_saved(saving.take());
        if let Some((covered, heads)) = self.heads_to_save(1) {
            let merged = heads.merged();
            self.store
                .save_journal_snapshot(&Heads::encode(&merged, covered))?;
            self.tail.lock().heads.rebase(merged);
        }
        Ok(())
    }

    /// Takes the heads a finished save merged as the new base (whether or not the write
    /// succeeded: they are right either way).
    fn rebase_on_saved(&self, finished: Option<std::thread::JoinHandle<[SortedHeads; 3]>>) {
        if let Some(Ok(merged)) = finished.map(std::thread::JoinHandle::join) {
            self.tail.lock().heads.rebase(merged);
        }
    }

    /// Waits for a save of the chain heads under way, if any.
    pub fn wait_for_saved_heads(&self) {
        let mut saving = self.saving.lock();
        self.rebase_on_saved(saving.take());
    }

    /// Returns once entry `seq` (and everything before it) is on disk. Concurrent callers
    /// wait for one journal write instead of each making their own.
    pub fn sync_through(&self, seq: u64) -> Result<(), ConsentError> {
        if self.durable_below() > seq {
            return Ok(());
        }
        let _flusher = self.flushing.lock();
        if self.durable_below() > seq {
            return Ok(());
        }
        self.write_pending()
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

    /// Makes everything appended so far durable (one journal write) and returns the new
    /// [`AuditLog::durable_below`].
    pub fn sync_pending(&self) -> Result<u64, ConsentError> {
        if let Some(last) = self.len().checked_sub(1) {
            self.sync_through(last)?;
        }
        Ok(self.durable_below())
    }

    pub fn append(&self, entry: AuditEntry) -> Result<AuditEntry, ConsentError> {
        self.append_with(entry, Vec::new())
    }

    /// Record `seq`: from memory while it waits for its group commit, else the journal.
    fn record(&self, seq: u64) -> Result<Option<JournalRecord>, ConsentError> {
        if let Some(p) = self.tail.lock().pending_record(seq) {
            return Ok(Some(p.record.clone()));
        }
        Ok(self.store.journal_record(seq)?)
    }

    /// The raw bytes of entry `seq`.
    pub fn raw_entry(&self, seq: u64) -> Result<Option<Vec<u8>>, ConsentError> {
        Ok(self.record(seq)?.map(|r| r.bytes))
    }

    fn entry_and_links(&self, seq: u64) -> Result<(AuditEntry, Links), ConsentError> {
        let record = self
            .record(seq)?
            .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
        Ok((
            parse_entry(seq, &record.bytes)?,
            Links::decode(&record.meta),
        ))
    }

    /// The first entry whose log time is after `millis` (binary search: log time never
    /// decreases).
    fn first_after(&self, millis: i64, size: u64) -> Result<u64, ConsentError> {
        let (mut low, mut high) = (0u64, size);
        while low < high {
            let mid = low + (high - low) / 2;
            let record = self
                .record(mid)?
                .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {mid} is missing")))?;
            if Links::decode(&record.meta).at_millis > millis {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        Ok(low)
    }

    /// Entries matching `filter`, newest first, with `seq` below `before_seq` (paging)
    /// and `at` within `[from, to)` if given. Never reads every entry: a client,
    /// professional or organisation view walks that chain's links from its newest entry
    /// (or from `before_seq` when that is one of its entries); a time range starts at a
    /// binary search; every walk stops at the first entry logged before `from`.
    pub fn query(
        &self,
        filter: AuditFilter,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ConsentError> {
        let size = self.len();
        let end = before_seq.map_or(size, |b| b.min(size));
        let mut out = Vec::new();
        if limit == 0 || end == 0 {
            return Ok(out);
        }
        let from_millis = from.map(|f| f.timestamp_millis());
        // Where the walk starts, and how it steps back.
        let (mut next, chain) = match filter.chain() {
            None => {
                let start = match to {
                    Some(to) => self.first_after(to.timestamp_millis(), end)?.min(end),
                    None => end,
                };
                (start.checked_sub(1), None)
            }
            Some((chain, id)) => {
                let from_page = match before_seq {
                    Some(b) if b < size => {
                        let (entry, links) = self.entry_and_links(b)?;
                        (chain_ids(&entry)[chain as usize] == Some(id))
                            .then(|| links.previous(chain))
                    }
                    _ => None,
                };
                let start = match from_page {
                    Some(previous) => previous,
                    None => self.tail.lock().heads.head(chain, &id).unwrap_or(NO_LINK),
                };
                ((start != NO_LINK).then_some(start), Some((chain, id)))
            }
        };
        while let Some(seq) = next {
            let (entry, links) = self.entry_and_links(seq)?;
            next = match chain {
                None => seq.checked_sub(1),
                Some((chain, _)) => {
                    let previous = links.previous(chain);
                    (previous != NO_LINK && previous < seq).then_some(previous)
                }
            };
            // Log time never decreases: nothing further back is in the range.
            if from_millis.is_some_and(|f| links.at_millis < f) {
                break;
            }
            if let Some((chain, id)) = chain
                && chain_ids(&entry)[chain as usize] != Some(id)
            {
                return Err(ConsentError::Corrupt(format!(
                    "audit entry {seq} is linked into another chain"
                )));
            }
            if seq >= end || to.is_some_and(|t| entry.at >= t) || from.is_some_and(|f| entry.at < f)
            {
                continue;
            }
            out.push(entry);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn nodes(&self) -> LogNodes<'_> {
        LogNodes {
            store: self.store.as_ref(),
            tail: Some(&self.tail),
        }
    }

    pub fn root(&self, size: u64) -> Result<Hash, ConsentError> {
        Ok(merkle::root(&self.nodes(), size)?)
    }

    /// Signs and stores a checkpoint of the log as it is now. Waiting entries are
    /// written first: a checkpoint never covers an entry a crash could lose.
    pub fn checkpoint(&self, now: DateTime<Utc>) -> Result<Checkpoint, ConsentError> {
        let size = self.sync_pending()?;
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

    /// The newest checkpoint if it already covers the whole log; otherwise signs and
    /// stores a new one. Signing only when the log has grown bounds how many checkpoints
    /// anyone can make the service store.
    pub fn checkpoint_if_grown(&self, now: DateTime<Utc>) -> Result<Checkpoint, ConsentError> {
        match self.latest_checkpoint()? {
            Some(latest) if latest.tree_size >= self.len() => Ok(latest),
            _ => self.checkpoint(now),
        }
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
        Ok(merkle::inclusion_proof(&self.nodes(), seq, size)?)
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
            &self.nodes(),
            old_size,
            new_size,
        )?)
    }

    /// The raw entries in order, `limit` at a time from `from_seq`: for export and
    /// verification.
    pub fn raw_entries(&self, from_seq: u64, limit: usize) -> Result<Vec<Vec<u8>>, ConsentError> {
        let end = from_seq.saturating_add(limit as u64).min(self.len());
        (from_seq..end)
            .map(|seq| {
                self.raw_entry(seq)?
                    .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))
            })
            .collect()
    }

    /// Verifies the stored log from its raw entries against its stored checkpoints.
    pub fn verify(&self, keys: &Jwks) -> Result<LogReport, LogInvalid> {
        verify_store(self.store.as_ref(), keys)
    }

    /// [`AuditLog::verify`], stopping early once `cancel` is set.
    pub fn verify_cancellable(
        &self,
        keys: &Jwks,
        cancel: &AtomicBool,
    ) -> Result<LogReport, LogInvalid> {
        verify_store_cancellable(self.store.as_ref(), keys, cancel)
    }
}

/// Every raw entry and checkpoint in a store, without the signing key: what an auditor
/// exports or verifies.
pub fn export_store(
    store: &dyn ConsentStore,
) -> Result<(Vec<Vec<u8>>, Vec<Checkpoint>), ConsentError> {
    // The journal, then entries only the key space holds yet (see `AuditLog::import`).
    let journaled = store.journal_len()?;
    let mut entries = Vec::new();
    for seq in 0..journaled {
        let record = store
            .journal_record(seq)?
            .ok_or_else(|| ConsentError::Corrupt(format!("audit entry {seq} is missing")))?;
        entries.push(record.bytes);
    }
    entries.extend(
        store
            .scan(ENTRY, Some(&entry_key(journaled)), false, usize::MAX)?
            .into_iter()
            .map(|(_, v)| v),
    );
    let checkpoints = store
        .scan(CHECKPOINT, None, false, usize::MAX)?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| ConsentError::Corrupt(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok((entries, checkpoints))
}

/// Verifies the log held in a store (see [`verify_store_cancellable`]).
pub fn verify_store(store: &dyn ConsentStore, keys: &Jwks) -> Result<LogReport, LogInvalid> {
    verify_store_cancellable(store, keys, &AtomicBool::new(false))
}

/// Verifies the log held in a store, streaming: entries and checkpoints are read
/// [`VERIFY_BATCH`] at a time and the tree is recomputed as they pass, so memory stays
/// bounded whatever the log's length. Stops with [`LogInvalid::Cancelled`] at the next
/// batch once `cancel` is set.
pub fn verify_store_cancellable(
    store: &dyn ConsentStore,
    keys: &Jwks,
    cancel: &AtomicBool,
) -> Result<LogReport, LogInvalid> {
    let journaled = store
        .journal_len()
        .map_err(|e| LogInvalid::Unreadable(e.to_string()))?;
    // The journal, then entries only the key space holds yet (see `AuditLog::import`).
    let journal = JournalEntries {
        store,
        next: 0,
        end: journaled,
        buffer: VecDeque::new(),
    };
    let copies =
        StoredPages::new(store, ENTRY, Some(entry_key(journaled))).map(|r| r.map(|(_, v)| v));
    let checkpoints = StoredPages::new(store, CHECKPOINT, None).map(|r| {
        r.and_then(|(_, v)| {
            serde_json::from_slice(&v).map_err(|e| LogInvalid::Unreadable(e.to_string()))
        })
    });
    verify_stream(journal.chain(copies), checkpoints, keys, cancel)
}

/// Entries (and checkpoints) a streaming verification reads, and holds, at a time.
pub const VERIFY_BATCH: usize = 1024;

/// Journal records `next..end`, read [`VERIFY_BATCH`] at a time.
struct JournalEntries<'a> {
    store: &'a dyn ConsentStore,
    next: u64,
    end: u64,
    buffer: VecDeque<Vec<u8>>,
}

impl Iterator for JournalEntries<'_> {
    type Item = Result<Vec<u8>, LogInvalid>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && self.next < self.end {
            let end = self.end.min(self.next.saturating_add(VERIFY_BATCH as u64));
            for seq in self.next..end {
                match self.store.journal_record(seq) {
                    Ok(Some(record)) => self.buffer.push_back(record.bytes),
                    Ok(None) => {
                        self.next = self.end;
                        return Some(Err(LogInvalid::Unreadable(format!(
                            "audit entry {seq} is missing"
                        ))));
                    }
                    Err(e) => {
                        self.next = self.end;
                        return Some(Err(LogInvalid::Unreadable(e.to_string())));
                    }
                }
            }
            self.next = end;
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// The keys under a prefix in key order, scanned [`VERIFY_BATCH`] at a time.
struct StoredPages<'a> {
    store: &'a dyn ConsentStore,
    prefix: &'static [u8],
    /// Where the next scan starts; `None` once the prefix is exhausted.
    from: Option<Vec<u8>>,
    buffer: VecDeque<crate::store::Entry>,
}

impl<'a> StoredPages<'a> {
    fn new(store: &'a dyn ConsentStore, prefix: &'static [u8], from: Option<Vec<u8>>) -> Self {
        Self {
            store,
            prefix,
            from: Some(from.unwrap_or_else(|| prefix.to_vec())),
            buffer: VecDeque::new(),
        }
    }
}

impl Iterator for StoredPages<'_> {
    type Item = Result<crate::store::Entry, LogInvalid>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty()
            && let Some(from) = self.from.take()
        {
            match self
                .store
                .scan(self.prefix, Some(&from), false, VERIFY_BATCH)
            {
                Ok(page) => {
                    if page.len() == VERIFY_BATCH {
                        // The least key after the page's last one.
                        self.from = page.last().map(|(k, _)| {
                            let mut next = k.clone();
                            next.push(0);
                            next
                        });
                    }
                    self.buffer.extend(page);
                }
                Err(e) => return Some(Err(LogInvalid::Unreadable(e.to_string()))),
            }
        }
        self.buffer.pop_front().map(Ok)
    }
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
    /// Not a finding about the log: whoever asked went away before it finished.
    #[error("verification was cancelled before it finished")]
    Cancelled,
}

/// Recomputes the tree over raw entries (in order) and checks every checkpoint.
pub fn verify_entries<'a>(
    entries: impl Iterator<Item = &'a [u8]>,
    checkpoints: &[Checkpoint],
    keys: &Jwks,
) -> Result<LogReport, LogInvalid> {
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| (c.tree_size, c.timestamp));
    verify_stream(
        entries.map(|bytes| Ok(bytes.to_vec())),
        sorted.into_iter().cloned().map(Ok),
        keys,
        &AtomicBool::new(false),
    )
}

/// Checks one raw entry at `position`: canonical, and numbered by its position.
fn check_entry(position: u64, bytes: &[u8]) -> Result<(), LogInvalid> {
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
    Ok(())
}

/// The streaming verifier: reads `entries` in order once, keeping only the tree's right
/// edge ([`merkle::Frontier`]), and checks each checkpoint (given in ascending
/// `tree_size`) when the entries reach its size. Memory is O(log n) plus what the
/// iterators buffer. `cancel` is read every [`VERIFY_BATCH`] entries.
pub fn verify_stream(
    mut entries: impl Iterator<Item = Result<Vec<u8>, LogInvalid>>,
    checkpoints: impl Iterator<Item = Result<Checkpoint, LogInvalid>>,
    keys: &Jwks,
    cancel: &AtomicBool,
) -> Result<LogReport, LogInvalid> {
    let mut tree = merkle::Frontier::new();
    // Reads entries into the tree until it holds `size` of them or they run out.
    let mut advance = |tree: &mut merkle::Frontier, size: u64| -> Result<(), LogInvalid> {
        while tree.len() < size {
            let position = tree.len();
            if position.is_multiple_of(VERIFY_BATCH as u64) && cancel.load(Ordering::Acquire) {
                return Err(LogInvalid::Cancelled);
            }
            let Some(bytes) = entries.next() else {
                return Ok(());
            };
            let bytes = bytes?;
            check_entry(position, &bytes)?;
            tree.push(&bytes);
        }
        Ok(())
    };
    let mut previous: Option<Checkpoint> = None;
    let mut verified = 0usize;
    for checkpoint in checkpoints {
        let checkpoint = checkpoint?;
        let size = checkpoint.tree_size;
        if !checkpoint.verify_signature(keys) {
            return Err(LogInvalid::BadCheckpointSignature { size });
        }
        if let Some(prev) = &previous
            && (prev.timestamp > checkpoint.timestamp || prev.tree_size > size)
        {
            return Err(LogInvalid::NotAnExtension {
                old: prev.tree_size,
                new: size,
            });
        }
        advance(&mut tree, size)?;
        if tree.len() < size {
            return Err(LogInvalid::Truncated {
                size,
                entries: tree.len(),
            });
        }
        if Some(tree.root()) != checkpoint.root() {
            return Err(LogInvalid::RootMismatch { size });
        }
        previous = Some(checkpoint);
        verified += 1;
    }
    advance(&mut tree, u64::MAX)?;
    let entries = tree.len();
    let anchored = previous.map_or(0, |c| c.tree_size);
    Ok(LogReport {
        entries,
        root_hash: hex::encode(tree.root()),
        checkpoints_verified: verified,
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    type ChainIds = [Option<[u8; 16]>; 3];

    #[derive(Clone, Debug)]
    enum Op {
        /// A new entry names this id (of eight).
        Append(u8),
        /// The waiting entries reach the journal.
        Journal,
        /// The newest waiting entry's append fails and is undone.
        UndoNewest,
        /// A snapshot: the heads without the waiting entries, merged.
        Snapshot,
        /// The last snapshot's merge becomes the base.
        Rebase,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..8).prop_map(Op::Append),
            1 => Just(Op::Journal),
            1 => Just(Op::UndoNewest),
            1 => Just(Op::Snapshot),
            1 => Just(Op::Rebase),
        ]
    }

    fn entry_strategy() -> impl Strategy<Value = AuditEntry> {
        let text = "\\PC{0,12}|[\"\\\\\\n\\u{0}-\\u{1f}äö€😀]{0,6}";
        (
            any::<u64>(),
            0i64..4_000_000_000_000,
            proptest::collection::vec(proptest::string::string_regex(text).unwrap(), 0..4),
            proptest::option::of(proptest::string::string_regex(text).unwrap()),
            any::<[bool; 8]>(),
            any::<u128>(),
        )
            .prop_map(|(seq, millis, fields, reason, some, id)| {
                let uuid = uuid::Uuid::from_u128(id);
                let mut entry = AuditEntry::new(
                    AuditEvent::Revoke,
                    DateTime::from_timestamp_millis(millis).unwrap(),
                );
                entry.seq = seq;
                entry.fields = fields;
                entry.reason = reason;
                entry.client = some[0].then(|| ClientId::from_bytes(*uuid.as_bytes()));
                entry.professional = some[1].then(|| ProfessionalId::from_bytes(*uuid.as_bytes()));
                entry.organisation = some[2].then(|| OrganisationId::from_bytes(*uuid.as_bytes()));
                entry.grant = some[3].then(|| GrantId::from_bytes(*uuid.as_bytes()));
                entry.request = some[4].then(|| RequestId::from_bytes(*uuid.as_bytes()));
                entry.action = some[5].then_some(Action::Read);
                entry.purpose = some[6].then_some(PurposeCode::SharedPlan);
                entry.outcome = some[7].then_some(Outcome::Permit);
                entry
            })
    }

    proptest! {
        /// The fast canonical form of an entry is byte for byte the generic one.
        #[test]
        fn canonical_entry_is_the_generic_canonical_form(entry in entry_strategy()) {
            prop_assert_eq!(canonical_entry(&entry).unwrap(), canonical::to_vec(&entry).unwrap());
        }
    }

    proptest! {
        /// The base-plus-moved heads answer like one plain map through appends, undone
        /// appends, snapshots and rebases in any order.
        #[test]
        fn chain_heads_match_a_plain_map(ops in proptest::collection::vec(op(), 1..200)) {
            let mut heads = Heads::default();
            let mut model: HashMap<[u8; 16], u64> = HashMap::new();
            // Each waiting entry's ids and the links its append returned.
            let mut waiting: Vec<(ChainIds, [u64; 3])> = Vec::new();
            let mut saved: Option<[SortedHeads; 3]> = None;
            for (seq, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Append(n) => {
                        let ids = [Some([n; 16]), None, None];
                        let previous = heads.link(&ids, seq as u64);
                        prop_assert_eq!(previous[0], model.insert([n; 16], seq as u64).unwrap_or(NO_LINK));
                        waiting.push((ids, previous));
                    }
                    Op::Journal => waiting.clear(),
                    Op::UndoNewest => {
                        if let Some((ids, previous)) = waiting.pop() {
                            heads.unlink(&ids, previous);
                            let id = ids[0].unwrap();
                            if previous[0] == NO_LINK {
                                model.remove(&id);
                            } else {
                                model.insert(id, previous[0]);
                            }
                        }
                    }
                    Op::Snapshot => {
                        let mut copy = heads.clone();
                        for (ids, previous) in waiting.iter().rev() {
                            copy.unlink(ids, *previous);
                        }
                        saved = Some(copy.merged());
                    }
                    Op::Rebase => {
                        if let Some(merged) = saved.take() {
                            heads.rebase(merged);
                        }
                    }
                }
                for n in 0u8..8 {
                    prop_assert_eq!(heads.head(Chain::Client, &[n; 16]), model.get(&[n; 16]).copied());
                }
            }
            // What a snapshot encodes decodes to the same heads.
            let (covered, decoded) = Heads::decode(&Heads::encode(&heads.merged(), 7)).unwrap();
            prop_assert_eq!(covered, 7);
            for n in 0u8..8 {
                prop_assert_eq!(decoded.head(Chain::Client, &[n; 16]), model.get(&[n; 16]).copied());
            }
        }
    }
}
