//! The embedded default store: OmaData's storage traits implemented on sled.
//!
//! - [`SledStore`]: one sled database directory; implements [`VaultStore`] and
//!   [`ConsentStore`] (the consent keyspace is the `consent` tree; a batch there is one
//!   atomic sled batch).
//!
//! - [`journal`]: the audit journal, append-only files in `<store>/audit/`.
//! - `hot`: wrapped keys and the newest version of each field in memory, kept in step
//!   with every write under per-client shard locks.
//! - [`backup`]: a consistent copy of a live store in one file, and its restore.
//! - `durable`: what sled's `flush` leaves to a power cut, made durable after it, with
//!   one sync shared by concurrent writers.
//! - [`permissions`]: directories 0700, files 0600, and directory syncs.
//!
//! Durability (`specs/durability.md`): every mutating method returns only after sled's
//! `flush` and an `fdatasync` of the files it wrote (the `durable` module), and the
//! vault acknowledges only after that. Every mutating method holds the write barrier's
//! shared side, so a backup (which takes it exclusively) sees no operation half done.

use omadata_consent::store::{ConsentStore, Entry, JournalNode, JournalRecord, Write, prefix_end};
use omadata_vault::ClientId;
use omadata_vault::store::{StoreError, StoredVersion, VaultStore, keys};
use parking_lot::RwLock;
use std::fs::File;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

pub mod backup;
mod durable;
mod hot;
pub mod journal;
pub mod permissions;

const META_TREE: &str = "meta";
const WRAPPED_KEYS_TREE: &str = "vault.wrapped_keys";
const RECORDS_TREE: &str = "vault.records";
const CONSENT_TREE: &str = "consent";
/// sled's page cache (its default is 1 GiB).
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The budget of the wrapped keys and newest versions kept beside it (`hot`).
const HOT_BYTES: usize = 48 * 1024 * 1024;

/// A sled database holding the vault's trees.
#[derive(Clone, Debug)]
pub struct SledStore {
    /// Bulk loading (seeding a benchmark store): writes are not flushed one by one;
    /// call [`SledStore::flush`] at the end. Never for a serving store.
    bulk_load: bool,
    /// Shared by every mutation, exclusive for a backup. Shared between clones.
    barrier: Arc<RwLock<()>>,
    db: sled::Db,
    meta: sled::Tree,
    wrapped_keys: sled::Tree,
    records: sled::Tree,
    consent: sled::Tree,
    journal: Arc<journal::Journal>,
    /// Shared between clones, so a bulk-loading handle keeps it in step too.
    hot: Arc<hot::HotCache>,
    /// sled's files, synced after its flush; one sync at a time, shared by the writers
    /// waiting for it.
    files: Arc<durable::DiskFiles>,
    sync_gate: Arc<durable::SyncGate>,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A record version from an entry of the records tree.
fn stored_version(
    entry: sled::Result<(sled::IVec, sled::IVec)>,
) -> Result<StoredVersion, StoreError> {
    let (key, value) = entry.map_err(backend)?;
    let (path, version) = keys::decode_record(&key)?;
    Ok(StoredVersion {
        path,
        version,
        sealed: value.to_vec(),
    })
}

/// The vault's trees, read whole when a store is copied (`omadata migrate-store`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultTree {
    Meta,
    WrappedKeys,
    Records,
}

impl SledStore {
    /// Up to `limit` stored entries of `tree` whose key sorts after `after`, in key order.
    pub fn vault_entries_after(
        &self,
        tree: VaultTree,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let tree = match tree {
            VaultTree::Meta => &self.meta,
            VaultTree::WrappedKeys => &self.wrapped_keys,
            VaultTree::Records => &self.records,
        };
        let range = match after {
            Some(after) => tree.range::<&[u8], _>((Bound::Excluded(after), Bound::Unbounded)),
            None => tree.iter(),
        };
        range
            .take(limit)
            .map(|item| {
                let (key, value) = item.map_err(backend)?;
                Ok((key.to_vec(), value.to_vec()))
            })
            .collect()
    }

    /// Opens (or creates) the database in `dir`. Only one process may hold it open.
    ///
    /// sled releases its lock file a moment after the last handle is dropped, so a
    /// reopen right after a close (a restart) retries briefly before giving up.
    ///
    /// The directory is created 0700; one that others could read is made private, with
    /// a warning ([`permissions`]).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |what: &str, e: std::io::Error| {
            StoreError::Backend(format!("{what} {}: {e}", dir.display()))
        };
        permissions::create_private_dir(dir).map_err(|e| io("cannot create", e))?;
        let loose = permissions::make_private(dir).map_err(|e| io("cannot secure", e))?;
        permissions::warn_if_fixed(dir, &loose);
        let mut attempt = 0;
        loop {
            match Self::config(dir).open() {
                Ok(db) => return Self::from_db(db, dir),
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::Other && attempt < 50 =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open database at {}: {e}",
                        dir.display()
                    )));
                }
            }
        }
    }

    /// sled's settings: the page cache is capped so memory stays bounded however large
    /// the store grows.
    fn config(dir: &Path) -> sled::Config {
        sled::Config::new().path(dir).cache_capacity(CACHE_BYTES)
    }

    /// Wraps the sled database opened in `dir`, with the audit journal in `dir/audit`.
    fn from_db(db: sled::Db, dir: &Path) -> Result<Self, StoreError> {
        let journal = Arc::new(journal::Journal::open(&dir.join("audit"))?);
        let files = Arc::new(Self::settle(dir).map_err(StoreError::Backend)?);
        Ok(Self {
            journal,
            files,
            sync_gate: Arc::new(durable::SyncGate::default()),
            bulk_load: false,
            barrier: Arc::new(RwLock::new(())),
            meta: db.open_tree(META_TREE).map_err(backend)?,
            wrapped_keys: db.open_tree(WRAPPED_KEYS_TREE).map_err(backend)?,
            records: db.open_tree(RECORDS_TREE).map_err(backend)?,
            consent: db.open_tree(CONSENT_TREE).map_err(backend)?,
            hot: Arc::new(hot::HotCache::new(HOT_BYTES)),
            db,
        })
    }

    /// Makes what opening wrote durable and private: sled writes `conf` unsynced and,
    /// on recovery, a snapshot it renames into place and old ones it removes; the
    /// directories and `audit/` may be new. Files sled created under the process umask
    /// become 0600.
    fn settle(dir: &Path) -> Result<durable::DiskFiles, String> {
        let fail = |e: std::io::Error| format!("settle {}: {e}", dir.display());
        permissions::make_private(dir).map_err(fail)?;
        File::open(dir.join("conf"))
            .and_then(|conf| conf.sync_all())
            .map_err(fail)?;
        let files = durable::DiskFiles::open(dir)?;
        files.make_durable()?;
        permissions::sync_dir(dir)
            .and_then(|()| permissions::sync_parent_dir(dir))
            .map_err(fail)?;
        Ok(files)
    }

    /// A handle for bulk loading: mutations no longer wait for the disk one by one.
    /// Acknowledged writes are durable only after [`SledStore::flush`].
    pub fn for_bulk_load(&self) -> Self {
        Self {
            bulk_load: true,
            ..self.clone()
        }
    }

    /// Blocks until everything written so far is on disk, the audit journal included
    /// (the end of a bulk load). The store first, then the journal (`specs/durability.md`).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.sync_store().map_err(StoreError::Backend)?;
        self.journal.sync()
    }

    /// The flush that mutating methods run before they return (skipped in bulk loading).
    fn flush_write(&self) -> Result<(), StoreError> {
        if self.bulk_load {
            return Ok(());
        }
        // Runs after the change was applied, so a failure leaves it unconfirmed, not undone.
        self.sync_store().map_err(StoreError::Unconfirmed)
    }

    /// sled's flush and the syncs it leaves undone, shared with every writer waiting.
    fn sync_store(&self) -> Result<(), String> {
        self.sync_gate.sync(|| {
            self.db.flush().map_err(|e| e.to_string())?;
            self.files.make_durable()
        })
    }

    /// How many times the store synced sled's files (each sync may serve many writes).
    pub fn data_syncs(&self) -> u64 {
        self.files.syncs()
    }

    fn versions(&self, prefix: &[u8]) -> Result<Vec<StoredVersion>, StoreError> {
        self.records
            .scan_prefix(prefix)
            .map(stored_version)
            .collect()
    }
}

impl VaultStore for SledStore {
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(name).map_err(backend)?.map(|v| v.to_vec()))
    }

    fn set_meta(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let _barrier = self.barrier.read();
        match value {
            Some(v) => self.meta.insert(name, v).map_err(backend)?,
            None => self.meta.remove(name).map_err(backend)?,
        };
        self.flush_write()
    }

    fn wrapped_key(&self, client: ClientId) -> Result<Option<Vec<u8>>, StoreError> {
        let mut hot = self.hot.shard(client);
        if let Some(cached) = hot.wrapped_key(client) {
            return Ok(cached);
        }
        let key = self
            .wrapped_keys
            .get(client.as_bytes())
            .map_err(backend)?
            .map(|v| v.to_vec());
        hot.set_wrapped_key(client, key.clone());
        Ok(key)
    }

    fn compare_and_swap_wrapped_key(
        &self,
        client: ClientId,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let _barrier = self.barrier.read();
        let swapped = {
            let mut hot = self.hot.shard(client);
            // Forgotten first, so an error leaves nothing stale behind.
            hot.forget_wrapped_key(client);
            let swapped = self
                .wrapped_keys
                .compare_and_swap(client.as_bytes(), expected, new)
                .map_err(backend)?
                .is_ok();
            if swapped {
                hot.set_wrapped_key(client, new.map(<[u8]>::to_vec));
            }
            swapped
        };
        if swapped {
            self.flush_write()?;
        }
        Ok(swapped)
    }

    fn wrapped_keys_after(
        &self,
        after: Option<ClientId>,
        limit: usize,
    ) -> Result<Vec<(ClientId, Vec<u8>)>, StoreError> {
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match after
        {
            Some(after) => Box::new(self.wrapped_keys.range::<&[u8], _>((
                std::ops::Bound::Excluded(after.as_bytes().as_slice()),
                std::ops::Bound::Unbounded,
            ))),
            None => Box::new(self.wrapped_keys.iter()),
        };
        entries
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                Ok((keys::decode_client(&key)?, value.to_vec()))
            })
            .collect()
    }

    fn insert_record_version(
        &self,
        client: ClientId,
        path: &str,
        version: u64,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let _barrier = self.barrier.read();
        let key = keys::record(client, path, version);
        let inserted = {
            let mut hot = self.hot.shard(client);
            let inserted = self
                .records
                .compare_and_swap(key, None as Option<&[u8]>, Some(sealed))
                .map_err(backend)?
                .is_ok();
            if inserted {
                hot.written(client, path, version, sealed);
            }
            inserted
        };
        if inserted {
            self.flush_write()?;
        }
        Ok(inserted)
    }

    fn latest_record_version(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        let mut hot = self.hot.shard(client);
        if let Some(cached) = hot.newest(client, path) {
            return Ok(cached);
        }
        let newest = self
            .records
            .scan_prefix(keys::field_prefix(client, path))
            .next_back()
            .map(stored_version)
            .transpose()?;
        hot.set_newest(client, path, newest.clone());
        Ok(newest)
    }

    fn record_versions(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        self.versions(&keys::field_prefix(client, path))
    }

    fn client_records(&self, client: ClientId) -> Result<Vec<StoredVersion>, StoreError> {
        self.versions(&keys::client_prefix(client))
    }

    fn prune_record_versions(
        &self,
        client: ClientId,
        path: &str,
        below: u64,
    ) -> Result<usize, StoreError> {
        let _barrier = self.barrier.read();
        let (start, end) = (
            keys::record(client, path, 0),
            keys::record(client, path, below),
        );
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for key in self.records.range(start..end).keys() {
            batch.remove(key.map_err(backend)?);
            count += 1;
        }
        if count > 0 {
            self.records.apply_batch(batch).map_err(backend)?;
        }
        Ok(count)
    }

    fn delete_client_records(&self, client: ClientId) -> Result<usize, StoreError> {
        let _barrier = self.barrier.read();
        let count = {
            // Held until the batch is applied, so no read can put a deleted version back.
            let mut hot = self.hot.shard(client);
            hot.forget_records(client);
            let mut batch = sled::Batch::default();
            let mut count = 0;
            for key in self.records.scan_prefix(keys::client_prefix(client)).keys() {
                batch.remove(key.map_err(backend)?);
                count += 1;
            }
            self.records.apply_batch(batch).map_err(backend)?;
            count
        };
        self.flush_write()?;
        Ok(count)
    }

    fn holds_client_data(&self) -> Result<bool, StoreError> {
        Ok(!self.wrapped_keys.is_empty() || !self.records.is_empty())
    }
}

impl ConsentStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.consent.get(key).map_err(backend)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let end = prefix_end(prefix);
        let upper = match (reverse, from, end) {
            (true, Some(from), Some(end)) if from >= end.as_slice() => Bound::Excluded(end),
            (true, Some(from), _) => Bound::Included(from.to_vec()),
            (_, _, Some(end)) => Bound::Excluded(end),
            (_, _, None) => Bound::Unbounded,
        };
        let lower = match (reverse, from) {
            (false, Some(from)) if from > prefix => Bound::Included(from.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        let empty = match (&lower, &upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            (Bound::Included(l), Bound::Excluded(u)) => l >= u,
            _ => false,
        };
        if empty {
            return Ok(Vec::new());
        }
        let range = self.consent.range::<Vec<u8>, _>((lower, upper));
        let collect = |item: sled::Result<(sled::IVec, sled::IVec)>| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(backend)
        };
        if reverse {
            range.rev().take(limit).map(collect).collect()
        } else {
            range.take(limit).map(collect).collect()
        }
    }

    fn apply_deferred(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let _barrier = self.barrier.read();
        let mut batch = sled::Batch::default();
        for (key, value) in writes {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        self.consent.apply_batch(batch).map_err(backend)
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.flush_write()
    }

    fn journal_len(&self) -> Result<u64, StoreError> {
        Ok(self.journal.len())
    }

    fn journal_append(
        &self,
        records: &[JournalRecord],
        nodes: &[JournalNode],
    ) -> Result<(), StoreError> {
        let _barrier = self.barrier.read();
        // A consent change whose sled sync failed may have left entries waiting: none may
        // reach the journal while its change may not be on disk (`specs/durability.md`).
        if let Some(failure) = self.sync_gate.failure() {
            return Err(StoreError::Backend(format!(
                "the store could not sync earlier ({failure}); restart the service"
            )));
        }
        self.journal.append(records, nodes, !self.bulk_load)
    }

    fn journal_record(&self, seq: u64) -> Result<Option<JournalRecord>, StoreError> {
        self.journal.record(seq)
    }

    fn journal_node(&self, level: u32, index: u64) -> Result<Option<[u8; 32]>, StoreError> {
        self.journal.node(level, index)
    }

    fn journal_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.journal.snapshot()
    }

    fn save_journal_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.journal.save_snapshot(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers racing a writer, with a cache small enough to miss again and again, never
    /// see the newest version go backwards, and once the writer is done they all see its
    /// last version (fails when a write leaves the kept version alone). That a fill cannot
    /// put back a replaced version rests on the shard lock held across it; this race is
    /// too narrow for a test to hit reliably.
    #[test]
    fn the_newest_version_kept_in_memory_never_goes_back_under_concurrent_writes() {
        let dir = tempfile::tempdir().unwrap();
        // A budget of a few items per shard: the shard empties every few fills, so readers
        // miss (and fill from sled) again and again while the writer writes.
        let store = SledStore {
            hot: Arc::new(hot::HotCache::new(64 * 300)),
            ..SledStore::open(&dir.path().join("db")).unwrap()
        };
        // No flush per write: the race, not the disk, is under test.
        let bulk = store.for_bulk_load();
        let client = ClientId::random();
        const VERSIONS: u64 = 5_000;
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let mut seen = 0;
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                    while seen < VERSIONS {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "stuck at version {seen}"
                        );
                        let newest = store
                            .latest_record_version(client, "plan.follow_up")
                            .unwrap()
                            .map_or(0, |v| v.version);
                        assert!(newest >= seen, "went back from {seen} to {newest}");
                        seen = newest;
                    }
                });
            }
            scope.spawn(|| {
                for version in 1..=VERSIONS {
                    assert!(
                        bulk.insert_record_version(
                            client,
                            "plan.follow_up",
                            version,
                            &version.to_be_bytes()
                        )
                        .unwrap()
                    );
                }
            });
        });
        let newest = store
            .latest_record_version(client, "plan.follow_up")
            .unwrap()
            .unwrap();
        assert_eq!(
            (newest.version, newest.sealed),
            (VERSIONS, VERSIONS.to_be_bytes().to_vec())
        );
        // Erasure: the records and the wrapped key are gone for every reader at once.
        assert!(
            store
                .compare_and_swap_wrapped_key(client, None, Some(b"wrapped"))
                .unwrap()
        );
        assert_eq!(
            store.wrapped_key(client).unwrap(),
            Some(b"wrapped".to_vec())
        );
        assert!(
            store
                .compare_and_swap_wrapped_key(client, Some(b"wrapped"), None)
                .unwrap()
        );
        assert_eq!(
            store.delete_client_records(client).unwrap(),
            VERSIONS as usize
        );
        assert_eq!(store.wrapped_key(client).unwrap(), None);
        assert_eq!(
            store
                .latest_record_version(client, "plan.follow_up")
                .unwrap(),
            None
        );
    }
}
