//! Wrapped keys and the newest version of each field, kept in memory beside sled's page
//! cache.
//!
//! An authorised read looks up one wrapped key and the newest version of every field it
//! opens. In sled each is a tree descent with page-cache bookkeeping and copies, and the
//! newest version a reverse scan: about a tenth of the gateway's CPU at 10^5 clients. Only
//! what is on disk anyway is kept here: sealed records and wrapped keys, never plaintext or
//! an unwrapped data key.
//!
//! It never serves a replaced or erased value: every write of the two trees, and every fill
//! after a miss, happens under the client's shard lock, so a reader that missed cannot put
//! back a value a writer replaced meanwhile. Bounded: a shard that has taken in its share
//! of the budget since it was last emptied is emptied.

use omadata_vault::ClientId;
use omadata_vault::store::StoredVersion;
use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;

const SHARDS: usize = 64;

/// What a cached item is charged beyond its bytes (keys, map slots).
const OVERHEAD: usize = 96;

#[derive(Debug)]
pub(crate) struct HotCache {
    shards: Vec<Mutex<Shard>>,
}

impl HotCache {
    /// A cache holding about `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        budget: budget / SHARDS,
                        ..Shard::default()
                    })
                })
                .collect(),
        }
    }

    /// The shard holding `client`, locked. Hold it across the sled operation that reads or
    /// writes what it caches.
    pub(crate) fn shard(&self, client: ClientId) -> MutexGuard<'_, Shard> {
        // Client ids are random (UUID v4): their first byte spreads them evenly.
        self.shards[usize::from(client.as_bytes()[0]) % SHARDS].lock()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Shard {
    budget: usize,
    /// Bytes taken in since the shard was last emptied.
    charged: usize,
    clients: HashMap<ClientId, Client>,
}

#[derive(Debug, Default)]
struct Client {
    /// `Some(None)`: the client is known to have no wrapped key.
    wrapped_key: Option<Option<Vec<u8>>>,
    /// The newest version of each field looked up; `None`: the field has none.
    newest: HashMap<String, Option<StoredVersion>>,
}

impl Shard {
    pub(crate) fn wrapped_key(&self, client: ClientId) -> Option<Option<Vec<u8>>> {
        self.clients.get(&client)?.wrapped_key.clone()
    }

    /// The client's wrapped key is now `key` (read from sled, or just written there).
    pub(crate) fn set_wrapped_key(&mut self, client: ClientId, key: Option<Vec<u8>>) {
        self.charge(key.as_ref().map_or(0, Vec::len));
        self.clients.entry(client).or_default().wrapped_key = Some(key);
    }

    pub(crate) fn forget_wrapped_key(&mut self, client: ClientId) {
        if let Some(cached) = self.clients.get_mut(&client) {
            cached.wrapped_key = None;
        }
    }

    pub(crate) fn newest(&self, client: ClientId, path: &str) -> Option<Option<StoredVersion>> {
        self.clients.get(&client)?.newest.get(path).cloned()
    }

    /// The field's newest version is `stored`, as read from sled.
    pub(crate) fn set_newest(
        &mut self,
        client: ClientId,
        path: &str,
        stored: Option<StoredVersion>,
    ) {
        self.charge(path.len() + stored.as_ref().map_or(0, |s| s.sealed.len()));
        self.clients
            .entry(client)
            .or_default()
            .newest
            .insert(path.to_owned(), stored);
    }

    /// Version `version` of `path` was just written as `sealed`: it is the newest if the
    /// field's newest is known and older (only then is it copied).
    pub(crate) fn written(&mut self, client: ClientId, path: &str, version: u64, sealed: &[u8]) {
        let Some(cached) = self.clients.get(&client).and_then(|c| c.newest.get(path)) else {
            return;
        };
        if cached.as_ref().is_none_or(|c| c.version < version) {
            let stored = StoredVersion {
                path: path.to_owned(),
                version,
                sealed: sealed.to_vec(),
            };
            self.set_newest(client, path, Some(stored));
        }
    }

    /// The client's records were deleted.
    pub(crate) fn forget_records(&mut self, client: ClientId) {
        if let Some(cached) = self.clients.get_mut(&client) {
            cached.newest.clear();
        }
    }

    /// Empties the shard when `bytes` more would take it over its budget.
    fn charge(&mut self, bytes: usize) {
        let bytes = bytes + OVERHEAD;
        if self.charged + bytes > self.budget {
            self.clients.clear();
            self.charged = 0;
        }
        self.charged += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(path: &str, version: u64) -> StoredVersion {
        StoredVersion {
            path: path.to_owned(),
            version,
            sealed: vec![version as u8; 100],
        }
    }

    #[test]
    fn a_write_replaces_a_known_newest_only_when_newer_and_a_full_shard_empties() {
        let cache = HotCache::new(SHARDS * 1_000);
        let client = ClientId::from_bytes([7; 16]);
        let mut shard = cache.shard(client);
        // Unknown fields stay unknown: a write does not make them cached.
        shard.written(client, "a", 1, &version("a", 1).sealed);
        assert_eq!(shard.newest(client, "a"), None);
        shard.set_newest(client, "a", None);
        shard.written(client, "a", 1, &version("a", 1).sealed);
        assert_eq!(shard.newest(client, "a"), Some(Some(version("a", 1))));
        shard.written(client, "a", 3, &version("a", 3).sealed);
        shard.written(client, "a", 2, &version("a", 2).sealed);
        assert_eq!(shard.newest(client, "a"), Some(Some(version("a", 3))));
        shard.forget_records(client);
        assert_eq!(shard.newest(client, "a"), None);
        shard.set_wrapped_key(client, Some(vec![1; 77]));
        assert_eq!(shard.wrapped_key(client), Some(Some(vec![1; 77])));
        shard.forget_wrapped_key(client);
        assert_eq!(shard.wrapped_key(client), None);
        drop(shard);
        // 1 000 bytes per shard, 198 per item here: the sixth empties the shard first.
        let cache = HotCache::new(SHARDS * 1_000);
        let mut shard = cache.shard(client);
        for v in 0..5 {
            shard.set_newest(client, &format!("f{v}"), Some(version("x", v)));
        }
        assert!(shard.newest(client, "f0").is_some());
        shard.set_newest(client, "f5", Some(version("x", 5)));
        assert_eq!(shard.newest(client, "f0"), None);
        assert!(shard.newest(client, "f5").is_some());
    }
}
