//! OmaData vault: each client's records, encrypted under the client's own data key.
//!
//! Map of the crate:
//! - [`catalogue`]: the field catalogue (`specs/fields.json`): dotted paths, categories,
//!   sensitivity, who may author, value types and limits, labels and plain-language
//!   explanations in fi/sv/en.
//! - [`keys`]: the master key (loaded from a file or the environment, never stored) and
//!   per-client data keys; both zeroized on drop and redacted in `Debug`.
//! - [`envelope`]: the byte formats of sealed records and wrapped keys (AES-256-GCM, ring),
//!   with associated data binding client, field and version.
//! - [`store`]: the [`VaultStore`] trait the domain owns; the sled implementation lives in
//!   the `omadata-store-sled` crate, an in-memory one in [`memory`] for tests.
//! - [`vault`]: [`Vault`], the operations: enrol, write, read, history, erase
//!   (crypto-shredding) and master-key rotation that can be resumed.
//! - [`ids`]: client and professional identifiers, and record authors.
//! - [`error`]: the crate's one error enum.
//!
//! Time is always passed in as `now`; nothing here reads the clock.

pub mod catalogue;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod keys;
pub mod memory;
pub mod store;
pub mod vault;

pub use catalogue::{Authors, Catalogue, FieldSpec, Sensitivity};
pub use error::VaultError;
pub use ids::{Author, ClientId, ProfessionalId};
pub use keys::{Keyring, MasterKey, MasterKeyId};
pub use store::{StoreError, VaultStore};
pub use vault::{Erasure, MAX_VERSIONS, Record, RotationProgress, Vault};
