//! The storage consent needs, as a trait the domain owns: an ordered key-value space with
//! atomic, durable batches. Indexes are keys the domain writes itself, so every lookup is
//! a prefix scan (O(log n) to find, then the matches), never a scan of everything.
//!
//! Beside the keys, the audit log's journal: records appended in order and made durable
//! in one step per group commit, with the log's stored tree nodes and a snapshot blob.
//! It keeps the audit log's writes off the key-value store, whose cost per key is the
//! gateway's main cost (docs/performance.md).
//!
//! Implementations: `omadata-store-sled` (on disk) and [`MemoryConsentStore`] (tests).

use omadata_vault::store::StoreError;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::Bound;
use std::sync::Arc;

/// A stored key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One change in a batch: set a key, or remove it (`None`).
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// Bytes the audit log keeps beside each journal record (its links and time).
pub const JOURNAL_META: usize = 32;

/// One audit journal record: an entry's bytes and the log's fixed-size block for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalRecord {
    pub bytes: Vec<u8>,
    pub meta: [u8; JOURNAL_META],
}

/// A stored tree node: level, index, hash.
pub type JournalNode = (u32, u64, [u8; 32]);

pub trait ConsentStore: Send + Sync + Debug {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Entries whose key starts with `prefix` and sorts at or after `from` (if given), in
    /// key order (or reverse), at most `limit`.
    fn scan(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// Applies every write or none, without waiting for the disk. Readers see the writes
    /// at once; they are durable after the next [`ConsentStore::sync`].
    fn apply_deferred(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Makes every write applied so far durable.
    fn sync(&self) -> Result<(), StoreError>;

    /// Applies every write or none. Durable on return.
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_deferred(writes)?;
        self.sync().map_err(StoreError::after_change)
    }

    /// Records in the audit journal.
    fn journal_len(&self) -> Result<u64, StoreError>;

    /// Appends `records` at the journal's end and stores `nodes`; on disk when it returns.
    /// After a crash the journal holds whole calls only.
    fn journal_append(
        &self,
        records: &[JournalRecord],
        nodes: &[JournalNode],
    ) -> Result<(), StoreError>;

    /// Record `seq` (0-based), if the journal holds it.
    fn journal_record(&self, seq: u64) -> Result<Option<JournalRecord>, StoreError>;

    /// A stored tree node, if any.
    fn journal_node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError>;

    /// The blob last given to [`ConsentStore::save_journal_snapshot`].
    fn journal_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the snapshot blob whole, durably (a crash keeps the old or the new one).
    fn save_journal_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError>;

    /// Records `from..from + limit` (fewer at the journal's end).
    fn journal_records(&self, from: u64, limit: usize) -> Result<Vec<JournalRecord>, StoreError> {
        let mut records = Vec::new();
        for seq in from..from.saturating_add(limit as u64) {
            match self.journal_record(seq)? {
                Some(record) => records.push(record),
                None => break,
            }
        }
        Ok(records)
    }

    /// Whether other processes write this store at the same time (several gateways on
    /// one database). Then the audit log appends, and consent changes are made, only
    /// during this process's turn ([`ConsentStore::take_turn`]), and caches follow
    /// [`ConsentStore::change_count`].
    fn shared(&self) -> bool {
        false
    }

    /// Waits for the turn and returns the journal's length as of then. Until
    /// [`ConsentStore::release_turn`], no other process appends to the journal or applies
    /// a batch with `apply_deferred`; when the turn is lost (the connection holding it
    /// ended), those writes fail rather than land outside it.
    fn take_turn(&self) -> Result<u64, StoreError> {
        self.journal_len()
    }

    /// Gives the turn back (a turn already lost needs nothing).
    fn release_turn(&self) {}

    /// Numbers that move on with the batches other processes applied, by what they may
    /// make stale ([`crate::layout::change_kind`]), so a process can tell that what it
    /// cached may be stale (`None`: no other process writes this store). A process's own
    /// batches may be counted too (it then forgets more than it must); leaving them out
    /// relies on every cache being right after the process's own writes, as the consent
    /// service, the directory and the gateway's sessions keep theirs.
    fn change_counts(&self) -> Result<Option<ChangeCounts>, StoreError> {
        Ok(None)
    }

    /// Whether this process is the one that signs the checkpoints now
    /// (one at a time among the processes sharing the store).
    fn leads(&self) -> bool {
        true
    }
}

/// How many batches of each kind that may make caches stale were applied
/// ([`ConsentStore::change_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    pub caches: u64,
    pub quotas: u64,
}

/// The in-memory journal of a [`MemoryConsentStore`].
#[derive(Debug, Default)]
struct MemoryJournal {
    records: Vec<JournalRecord>,
    nodes: std::collections::HashMap<(u32, u64), [u8; 32]>,
    snapshot: Option<Vec<u8>>,
}

/// The first key after every key that starts with `prefix` (`None`: no such key).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Runs at every [`ConsentStore::sync`] of a [`MemoryConsentStore`]: a disk that is slow,
/// counted or failing, in tests.
pub type SyncHook = Arc<dyn Fn(&MemoryConsentStore) -> Result<(), StoreError> + Send + Sync>;

/// What the processes sharing one in-memory store share besides the data: the turn, the
/// change count and the leader.
#[derive(Debug, Default)]
struct Sharing {
    /// The process holding the turn.
    holder: parking_lot::Mutex<Option<u64>>,
    freed: parking_lot::Condvar,
    changes: std::sync::atomic::AtomicU64,
    quota_changes: std::sync::atomic::AtomicU64,
    processes: std::sync::atomic::AtomicU64,
    leader: parking_lot::Mutex<Option<u64>>,
}

/// In-memory store for tests. Clones share data; [`MemoryConsentStore::shared`] and
/// [`MemoryConsentStore::another_process`] make handles that behave like separate
/// processes on one shared database.
#[derive(Clone, Default)]
pub struct MemoryConsentStore {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
    journal: Arc<RwLock<MemoryJournal>>,
    on_sync: Option<SyncHook>,
    sharing: Option<Arc<Sharing>>,
    process: u64,
}

impl Debug for MemoryConsentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryConsentStore")
            .field("keys", &self.map.read().len())
            .field("sync_hook", &self.on_sync.is_some())
            .finish()
    }
}

impl MemoryConsentStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose every `sync` and journal append runs `hook` (and returns
    /// what it returns; a journal append that fails appends nothing).
    pub fn with_sync_hook(hook: SyncHook) -> Self {
        Self {
            on_sync: Some(hook),
            ..Self::default()
        }
    }

    /// An empty store that several processes share (each takes a handle with
    /// [`MemoryConsentStore::another_process`]).
    pub fn shared() -> Self {
        Self {
            sharing: Some(Arc::new(Sharing::default())),
            ..Self::default()
        }
    }

    /// A handle on the same data that acts as another process: its own turn.
    pub fn another_process(&self) -> Self {
        let mut other = self.clone();
        if let Some(sharing) = &self.sharing {
            other.process = sharing
                .processes
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                + 1;
        }
        other
    }

    /// Ends this process's turn from outside, as a broken connection would.
    pub fn lose_turn(&self) {
        self.release_turn();
    }

    /// Refuses a write outside this process's turn (a shared store only).
    fn check_turn(&self) -> Result<(), StoreError> {
        match &self.sharing {
            Some(sharing) if *sharing.holder.lock() != Some(self.process) => Err(
                StoreError::Backend("this process does not hold the turn".into()),
            ),
            _ => Ok(()),
        }
    }

    /// The counter a batch of `writes` moves on, if any (a shared store).
    fn change_counter(&self, writes: &[Write]) -> Option<&std::sync::atomic::AtomicU64> {
        use crate::layout::{ChangeKind, change_kind};
        let sharing = self.sharing.as_ref()?;
        match change_kind(writes.iter().map(|(k, v)| (k.as_slice(), v.is_none()))) {
            ChangeKind::Nothing => None,
            ChangeKind::Quotas => Some(&sharing.quota_changes),
            ChangeKind::Caches => Some(&sharing.changes),
        }
    }

    fn write_map(&self, writes: Vec<Write>) {
        let counter = self.change_counter(&writes);
        let mut map = self.map.write();
        for (key, value) in writes {
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        // Moved on once the writes are visible, as a transaction's count is.
        if let Some(counter) = counter {
            counter.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// Overwrites or removes a raw entry, as an attacker with the files could.
    pub fn put_raw(&self, key: &[u8], value: Option<Vec<u8>>) {
        let mut map = self.map.write();
        match value {
            Some(v) => map.insert(key.to_vec(), v),
            None => map.remove(key),
        };
    }

    /// Overwrites journal record `seq`'s bytes, as an attacker with the files could.
    pub fn put_raw_journal(&self, seq: u64, bytes: Vec<u8>) {
        let mut journal = self.journal.write();
        if let Some(record) = usize::try_from(seq)
            .ok()
            .and_then(|i| journal.records.get_mut(i))
        {
            record.bytes = bytes;
        }
    }

    /// Cuts the journal to its first `len` records, as a lost write could.
    pub fn truncate_journal(&self, len: u64) {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.journal.write().records.truncate(len);
    }
}

impl ConsentStore for MemoryConsentStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.read().get(key).cloned())
    }

    fn scan(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let map = self.map.read();
        let matches = |k: &Vec<u8>| k.starts_with(prefix);
        let pairs = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if reverse {
            let upper = match (from, prefix_end(prefix)) {
                (Some(from), _) if from < prefix => return Ok(Vec::new()),
                (Some(from), Some(end)) if from >= end.as_slice() => Bound::Excluded(end),
                (Some(from), _) => Bound::Included(from.to_vec()),
                (None, Some(end)) => Bound::Excluded(end),
                (None, None) => Bound::Unbounded,
            };
            map.range((Bound::Included(prefix.to_vec()), upper))
                .rev()
                .filter(|(k, _)| matches(k))
                .take(limit)
                .map(pairs)
                .collect()
        } else {
            let start = match from {
                Some(from) if from > prefix => from.to_vec(),
                _ => prefix.to_vec(),
            };
            map.range(start..)
                .take_while(|(k, _)| matches(k))
                .take(limit)
                .map(pairs)
                .collect()
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        match &self.on_sync {
            Some(hook) => hook(self),
            None => Ok(()),
        }
    }

    fn apply_deferred(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.check_turn()?;
        self.write_map(writes);
        Ok(())
    }

    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.write_map(writes);
        self.sync().map_err(StoreError::after_change)
    }

    fn journal_len(&self) -> Result<u64, StoreError> {
        Ok(self.journal.read().records.len() as u64)
    }

    fn journal_append(
        &self,
        records: &[JournalRecord],
        nodes: &[JournalNode],
    ) -> Result<(), StoreError> {
        self.check_turn()?;
        if let Some(hook) = &self.on_sync {
            hook(self)?;
        }
        let mut journal = self.journal.write();
        journal.records.extend_from_slice(records);
        for (level, index, hash) in nodes {
            journal.nodes.insert((*level, *index), *hash);
        }
        Ok(())
    }

    fn journal_record(&self, seq: u64) -> Result<Option<JournalRecord>, StoreError> {
        Ok(usize::try_from(seq)
            .ok()
            .and_then(|i| self.journal.read().records.get(i).cloned()))
    }

    fn journal_node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.journal.read().nodes.get(&(level, index)).copied())
    }

    fn journal_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.journal.read().snapshot.clone())
    }

    fn save_journal_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.journal.write().snapshot = Some(bytes.to_vec());
        Ok(())
    }

    fn shared(&self) -> bool {
        self.sharing.is_some()
    }

    fn take_turn(&self) -> Result<u64, StoreError> {
        if let Some(sharing) = &self.sharing {
            let mut holder = sharing.holder.lock();
            while holder.is_some_and(|p| p != self.process) {
                sharing.freed.wait(&mut holder);
            }
            *holder = Some(self.process);
        }
        self.journal_len()
    }

    fn release_turn(&self) {
        if let Some(sharing) = &self.sharing {
            let mut holder = sharing.holder.lock();
            if *holder == Some(self.process) {
                *holder = None;
                sharing.freed.notify_all();
            }
        }
    }

    fn change_counts(&self) -> Result<Option<ChangeCounts>, StoreError> {
        Ok(self.sharing.as_ref().map(|s| ChangeCounts {
            caches: s.changes.load(std::sync::atomic::Ordering::Acquire),
            quotas: s.quota_changes.load(std::sync::atomic::Ordering::Acquire),
        }))
    }

    fn leads(&self) -> bool {
        match &self.sharing {
            Some(sharing) => *sharing.leader.lock().get_or_insert(self.process) == self.process,
            None => true,
        }
    }
}
