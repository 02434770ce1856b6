//! An in-memory [`VaultStore`] for unit tests. Clones share the same data, so a test
//! can "restart" a vault over it, and reach in to alter stored bytes as an attacker
//! with the database files could.

use crate::ids::ClientId;
use crate::store::{StoreError, StoredVersion, VaultStore, keys};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default)]
struct Maps {
    meta: BTreeMap<String, Vec<u8>>,
    wrapped_keys: BTreeMap<ClientId, Vec<u8>>,
    records: BTreeMap<Vec<u8>, Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    maps: Arc<Mutex<Maps>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every stored record as (key, sealed bytes), for tests that tamper with them.
    pub fn raw_records(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let maps = self.maps.lock();
        maps.records
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Overwrites one raw record entry, as an attacker with the files could.
    pub fn put_raw_record(&self, key: Vec<u8>, sealed: Vec<u8>) {
        self.maps.lock().records.insert(key, sealed);
    }

    /// Overwrites one wrapped key, as an attacker with the files could.
    pub fn put_raw_wrapped_key(&self, client: ClientId, wrapped: Vec<u8>) {
        self.maps.lock().wrapped_keys.insert(client, wrapped);
    }

    /// A deep copy, like a backup taken now.
    pub fn snapshot(&self) -> Self {
        let maps = self.maps.lock();
        Self {
            maps: Arc::new(Mutex::new(Maps {
                meta: maps.meta.clone(),
                wrapped_keys: maps.wrapped_keys.clone(),
                records: maps.records.clone(),
            })),
        }
    }
}

fn versions_with_prefix(maps: &Maps, prefix: &[u8]) -> Result<Vec<StoredVersion>, StoreError> {
    maps.records
        .range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| {
            let (path, version) = keys::decode_record(k)?;
            Ok(StoredVersion {
                path,
                version,
                sealed: v.clone(),
            })
        })
        .collect()
}

impl VaultStore for MemoryStore {
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.maps.lock().meta.get(name).cloned())
    }

    fn set_meta(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let mut maps = self.maps.lock();
        match value {
            Some(v) => maps.meta.insert(name.to_owned(), v.to_vec()),
            None => maps.meta.remove(name),
        };
        Ok(())
    }

    fn wrapped_key(&self, client: ClientId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.maps.lock().wrapped_keys.get(&client).cloned())
    }

    fn compare_and_swap_wrapped_key(
        &self,
        client: ClientId,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut maps = self.maps.lock();
        if maps.wrapped_keys.get(&client).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => maps.wrapped_keys.insert(client, v.to_vec()),
            None => maps.wrapped_keys.remove(&client),
        };
        Ok(true)
    }

    fn wrapped_keys_after(
        &self,
        after: Option<ClientId>,
        limit: usize,
    ) -> Result<Vec<(ClientId, Vec<u8>)>, StoreError> {
        let maps = self.maps.lock();
        Ok(maps
            .wrapped_keys
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| **id > a))
            .take(limit)
            .map(|(id, v)| (*id, v.clone()))
            .collect())
    }

    fn insert_record_version(
        &self,
        client: ClientId,
        path: &str,
        version: u64,
        sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let mut maps = self.maps.lock();
        let key = keys::record(client, path, version);
        if maps.records.contains_key(&key) {
            return Ok(false);
        }
        maps.records.insert(key, sealed.to_vec());
        Ok(true)
    }

    fn latest_record_version(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Option<StoredVersion>, StoreError> {
        Ok(self.record_versions(client, path)?.pop())
    }

    fn record_versions(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Vec<StoredVersion>, StoreError> {
        versions_with_prefix(&self.maps.lock(), &keys::field_prefix(client, path))
    }

    fn client_records(&self, client: ClientId) -> Result<Vec<StoredVersion>, StoreError> {
        versions_with_prefix(&self.maps.lock(), &keys::client_prefix(client))
    }

    fn prune_record_versions(
        &self,
        client: ClientId,
        path: &str,
        below: u64,
    ) -> Result<usize, StoreError> {
        let (start, end) = (
            keys::record(client, path, 0),
            keys::record(client, path, below),
        );
        let mut maps = self.maps.lock();
        let doomed: Vec<Vec<u8>> = maps
            .records
            .range(start..end)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &doomed {
            maps.records.remove(key);
        }
        Ok(doomed.len())
    }

    fn delete_client_records(&self, client: ClientId) -> Result<usize, StoreError> {
        let prefix = keys::client_prefix(client);
        let mut maps = self.maps.lock();
        let doomed: Vec<Vec<u8>> = maps
            .records
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &doomed {
            maps.records.remove(key);
        }
        Ok(doomed.len())
    }

    fn holds_client_data(&self) -> Result<bool, StoreError> {
        let maps = self.maps.lock();
        Ok(!maps.wrapped_keys.is_empty() || !maps.records.is_empty())
    }
}
