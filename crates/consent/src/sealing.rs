//! [`ClientSealer`]: the one capability consent has over the clients' keys. What a
//! consent record says about a person in free text (a purpose's text, a receipt that
//! carries it) is stored sealed under that client's data key, so erasing the client
//! (crypto-shredding) makes it unreadable wherever copies of the store are. Consent never
//! holds the master key nor a data key: it asks the sealer to seal and open.
//!
//! The vault implements it ([`omadata_vault::Vault`]); tools that only append to the audit
//! log use [`NoClientKeys`]. What stays in clear, and why: `specs/consent.md`.

use omadata_vault::{ClientId, StoreError, Vault, VaultError};
use std::fmt::Debug;
use zeroize::Zeroizing;

/// Why sealed bytes did not open, or plaintext was not sealed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SealError {
    /// The client has no data key: erased (or never enrolled). What was sealed for them
    /// is gone for good; readers go on without it.
    #[error("the client has no data key (erased)")]
    NoKey,
    /// No keys are loaded here (a tool that only appends to the audit log).
    #[error("client keys are not available here")]
    Unavailable,
    /// The keys could not be read from storage.
    #[error(transparent)]
    Store(StoreError),
    /// Altered bytes, bytes of another client or record.
    #[error("{0}")]
    Failed(String),
}

/// Seals and opens bytes about one client under that client's data key. `label` names
/// the record and its part (`grant/<id>/purpose.text`); the sealed bytes open only for
/// the same client and label.
pub trait ClientSealer: Send + Sync + Debug {
    fn seal(&self, client: ClientId, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError>;
    fn open(
        &self,
        client: ClientId,
        label: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

fn seal_error(error: VaultError) -> SealError {
    match error {
        VaultError::UnknownClient(_) => SealError::NoKey,
        VaultError::Store(error) => SealError::Store(error),
        other => SealError::Failed(other.to_string()),
    }
}

impl ClientSealer for Vault {
    fn seal(&self, client: ClientId, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.seal_for_client(client, label, plaintext)
            .map_err(seal_error)
    }

    fn open(
        &self,
        client: ClientId,
        label: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_for_client(client, label, sealed)
            .map_err(seal_error)
    }
}

/// A sealer without keys, for tools that open consent only to append to the audit log:
/// sealing and opening both fail ([`SealError::Unavailable`]), so nothing is ever
/// stored in clear through it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClientKeys;

impl ClientSealer for NoClientKeys {
    fn seal(&self, _: ClientId, _: &str, _: &[u8]) -> Result<Vec<u8>, SealError> {
        Err(SealError::Unavailable)
    }

    fn open(&self, _: ClientId, _: &str, _: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        Err(SealError::Unavailable)
    }
}
