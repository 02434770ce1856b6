//! Fixtures for OmaData's end-to-end tests (the tests themselves are in `e2e/`, compiled
//! into one binary).
//!
//! - [`open_sled_vault`]: the vault on a real sled directory with a key file, as the
//!   service opens it.

use omadata_store_sled::SledStore;
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault, VaultError};
use std::path::Path;
use std::sync::Arc;

/// Opens the vault in `dir/db` with the master key in `dir/master.key`.
pub fn open_sled_vault(dir: &Path) -> Result<Vault, VaultError> {
    let key = MasterKey::from_file(&dir.join("master.key"))?;
    let store = Arc::new(SledStore::open(&dir.join("db"))?);
    Vault::open(store, Keyring::new(key), Arc::new(Catalogue::builtin()?))
}
