//! Behaviour of the vault over the in-memory store: one test binary, one module a theme.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod erasure;
mod keys;
mod properties;
mod records;
mod rotation;
mod tampering;

use chrono::{DateTime, Utc};
use omadata_vault::memory::MemoryStore;
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault};
use std::sync::Arc;

pub fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

pub fn catalogue() -> Arc<Catalogue> {
    Arc::new(Catalogue::builtin().unwrap())
}

/// Loads a copy of `key` (as a restarted process would from the key file).
pub fn same_key(key: &MasterKey, hex: &str) -> MasterKey {
    let copy = MasterKey::from_hex("test", hex).unwrap();
    assert_eq!(copy.id(), key.id());
    copy
}

/// A master key together with its hex text, so tests can "reload" it.
pub fn new_key() -> (MasterKey, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let key = MasterKey::generate().unwrap();
    key.write_new_file(&path).unwrap();
    let hex = std::fs::read_to_string(&path).unwrap();
    (key, hex)
}

pub fn open(store: &MemoryStore, key: MasterKey) -> Vault {
    Vault::open(Arc::new(store.clone()), Keyring::new(key), catalogue()).unwrap()
}
