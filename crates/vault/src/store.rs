//! The storage the vault needs, as a trait the domain owns.
//!
//! Implementations: `omadata-store-sled` (the embedded default, on disk) and
//! [`crate::memory::MemoryStore`] (tests). Every mutating method returns only once its
//! change is durable: an acknowledged write must survive a crash.

use crate::ids::ClientId;
use std::fmt::Debug;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("storage holds an entry it cannot read: {0}")]
    Corrupt(String),
    /// The change was applied, but making it durable failed: it may or may not survive
    /// a crash. Never reported as "nothing was changed".
    #[error("the change was made but could not be confirmed on disk: {0}")]
    Unconfirmed(String),
}

impl StoreError {
    /// This error, as seen after the change was already applied.
    pub fn after_change(self) -> Self {
        match self {
            StoreError::Unconfirmed(_) => self,
            other => StoreError::Unconfirmed(other.to_string()),
        }
    }
}

/// One stored record version: the sealed bytes of `path` at `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredVersion {
    pub path: String,
    pub version: u64,
    pub sealed: Vec<u8>,
}

/// A wrapped data key and the newest stored version of some fields (`None`: no value).
pub type KeyAndLatest = (Vec<u8>, Vec<Option<StoredVersion>>);

pub trait VaultStore: Send + Sync + Debug {
    /// A store-wide setting (master-key records and the like).
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets (`Some`) or removes (`None`) a store-wide setting. Durable on return.
    fn set_meta(&self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError>;

    fn wrapped_key(&self, client: ClientId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the client's wrapped key with `new` (`None` removes it) only if it is
    /// currently `expected`; returns whether it did. Durable on return.
    fn compare_and_swap_wrapped_key(
        &self,
        client: ClientId,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` wrapped keys of clients whose id sorts after `after`, in id order.
    fn wrapped_keys_after(
        &self,
        after: Option<ClientId>,
        limit: usize,
    ) -> Result<Vec<(ClientId, Vec<u8>)>, StoreError>;

    /// Stores a record version unless that version already exists (then `false`).
    /// Durable on return.
    fn insert_record_version(
        &self,
        client: ClientId,
        path: &str,
        version: u64,
        sealed: &[u8],
    ) -> Result<bool, StoreError>;

    /// The highest version of one field.
    fn latest_record_version(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Option<StoredVersion>, StoreError>;

    /// The client's wrapped key (`None`: no such client) with the highest version of
    /// each of `paths`, in their order. One look, so a store across a network answers
    /// it in one round trip rather than one per field and one for the key.
    fn wrapped_key_and_latest(
        &self,
        client: ClientId,
        paths: &[&str],
    ) -> Result<Option<KeyAndLatest>, StoreError> {
        let Some(wrapped) = self.wrapped_key(client)? else {
            return Ok(None);
        };
        let latest = paths
            .iter()
            .map(|path| self.latest_record_version(client, path))
            .collect::<Result<_, _>>()?;
        Ok(Some((wrapped, latest)))
    }

    /// Every version of one field, oldest first.
    fn record_versions(
        &self,
        client: ClientId,
        path: &str,
    ) -> Result<Vec<StoredVersion>, StoreError>;

    /// Every version of every field of one client, by path, then version.
    fn client_records(&self, client: ClientId) -> Result<Vec<StoredVersion>, StoreError>;

    /// Removes the versions of one field numbered below `below`; returns how many. Not
    /// flushed on its own (it rides on the next durable write): a crash may bring pruned
    /// versions back, and the next prune removes them again.
    fn prune_record_versions(
        &self,
        client: ClientId,
        path: &str,
        below: u64,
    ) -> Result<usize, StoreError>;

    /// Removes every record version of one client; returns how many. Durable on return.
    fn delete_client_records(&self, client: ClientId) -> Result<usize, StoreError>;

    /// Whether any client data (a wrapped key or a record) is stored.
    fn holds_client_data(&self) -> Result<bool, StoreError>;
}

/// Byte keys shared by the ordered-map implementations: `client (16 bytes) || path ||
/// 0x00 || version (u64 big-endian)`. Catalogue paths never contain 0x00, so the prefix
/// of one path never matches another, and versions sort numerically.
pub mod keys {
    use super::StoreError;
    use crate::ids::ClientId;

    pub fn record(client: ClientId, path: &str, version: u64) -> Vec<u8> {
        let mut key = field_prefix(client, path);
        key.extend_from_slice(&version.to_be_bytes());
        key
    }

    pub fn field_prefix(client: ClientId, path: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(16 + path.len() + 1 + 8);
        key.extend_from_slice(client.as_bytes());
        key.extend_from_slice(path.as_bytes());
        key.push(0);
        key
    }

    pub fn client_prefix(client: ClientId) -> Vec<u8> {
        client.as_bytes().to_vec()
    }

    /// Splits a record key back into path and version.
    pub fn decode_record(key: &[u8]) -> Result<(String, u64), StoreError> {
        let corrupt =
            || StoreError::Corrupt(format!("malformed record key of {} bytes", key.len()));
        if key.len() < 16 + 1 + 8 {
            return Err(corrupt());
        }
        let (rest, version) = key.split_at(key.len() - 8);
        let version = u64::from_be_bytes(version.try_into().map_err(|_| corrupt())?);
        let path = rest
            .get(16..rest.len() - 1)
            .filter(|_| rest.last() == Some(&0))
            .ok_or_else(corrupt)?;
        let path = String::from_utf8(path.to_vec()).map_err(|_| corrupt())?;
        Ok((path, version))
    }

    pub fn decode_client(key: &[u8]) -> Result<ClientId, StoreError> {
        let bytes: [u8; 16] = key
            .try_into()
            .map_err(|_| StoreError::Corrupt("malformed client key".into()))?;
        Ok(ClientId::from_bytes(bytes))
    }
}
