//! The vault's one error enum. Messages name the problem and never contain key material
//! or record contents.

use crate::ids::ClientId;
use crate::keys::MasterKeyId;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("unknown field `{path}`: it is not in the field catalogue")]
    UnknownField { path: String },

    #[error("invalid value for `{path}`: {reason}")]
    InvalidValue { path: String, reason: String },

    #[error("`{path}` may not be written by {author}")]
    NotAnAuthor { path: String, author: String },

    #[error("no data key for client {0}: never enrolled, or erased")]
    UnknownClient(ClientId),

    #[error("integrity check failed for {what}: the stored bytes were altered, moved or truncated")]
    Tampered { what: String },

    #[error("{what} is sealed under master key {id}, which is not loaded")]
    MasterKeyNotLoaded { what: String, id: MasterKeyId },

    #[error(
        "wrong master key: this store was sealed with master key {expected}, but the loaded key is {loaded}; refusing to start (no new key is created over existing data)"
    )]
    WrongMasterKey {
        expected: MasterKeyId,
        loaded: String,
    },

    #[error(
        "a master-key rotation from {from} to {to} is unfinished; load both keys to resume it (loaded: {loaded})"
    )]
    RotationKeysMissing {
        from: MasterKeyId,
        to: MasterKeyId,
        loaded: String,
    },

    #[error(
        "a master-key rotation to {to} is already under way; resume it before starting another"
    )]
    RotationInProgress { to: MasterKeyId },

    #[error("the store holds data but no master-key record; refusing to open it")]
    MissingKeyRecord,

    #[error("master key missing: {0}")]
    MasterKeyMissing(String),

    #[error("master key unusable: {0}")]
    MasterKeyMalformed(String),

    #[error("could not write master key file {path}: {reason}")]
    MasterKeyFile { path: String, reason: String },

    #[error("concurrent writes to `{path}` kept colliding; try again")]
    WriteConflict { path: String },

    #[error("the system random number generator failed")]
    Random,

    #[error(transparent)]
    Store(#[from] StoreError),
}
