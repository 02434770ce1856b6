//! The storage consent needs, as a trait the domain owns: an ordered key-value space with
//! atomic, durable batches. Indexes are keys the domain writes itself, so every lookup is
//! a prefix scan (O(log n) to find, then the matches), never a scan of everything.
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

    /// Applies the writes one after another without waiting for the disk; after a
    /// crash a prefix of them (in order) survives. Cheaper than an atomic batch where the
    /// caller can repair a cut-off tail (the audit log re-derives an entry's indexes).
    fn apply_in_order(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_deferred(writes)
    }

    /// Makes every write applied so far durable.
    fn sync(&self) -> Result<(), StoreError>;

    /// Applies every write or none. Durable on return.
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_deferred(writes)?;
        self.sync()
    }
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

/// In-memory store for tests. Clones share data.
#[derive(Clone, Default)]
pub struct MemoryConsentStore {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
    on_sync: Option<SyncHook>,
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

    /// An empty store whose every `sync` runs `hook` (and returns what it returns).
    pub fn with_sync_hook(hook: SyncHook) -> Self {
        Self {
            on_sync: Some(hook),
            ..Self::default()
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
        let mut map = self.map.write();
        for (key, value) in writes {
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        Ok(())
    }
}
