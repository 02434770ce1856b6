//! OmaData consent: a professional sees a client's data only through a grant the client
//! gave, and every consent event and access leaves a trace nobody can alter unnoticed.
//! No HTTP here.
//!
//! Map of the crate:
//! - [`model`]: grants, access requests, purposes, actions, grantees.
//! - [`decision`]: the access decision rule ([`decision::decide_among`]), first thing in
//!   its file, and [`Decision`] with its deny reasons.
//! - [`service`]: [`Consent`], the operations, one file per job: pairing codes, requests
//!   (approve, possibly narrowed; deny), grants (grant, narrow, revoke, receipts),
//!   `decide`/`authorize`, erasure, and the expiry sweep.
//! - [`directory`]: registered organisations and staff, enrolled clients (keyed hashes).
//! - [`policy`]: the sensitivity policy (`specs/sensitivity-policy.json`).
//! - [`receipt`]: Kantara-style consent receipts, Ed25519-signed, verifiable offline.
//! - [`audit`]: the append-only log: entries, per-client/professional chains and views,
//!   the group-commit write pipeline, signed checkpoints and proofs, export and verifier.
//! - [`merkle`]: RFC 6962 hashing, inclusion and consistency proofs.
//! - [`signing`]: the service's Ed25519 key and its JWKS.
//! - [`canonical`]: canonical JSON for what is signed.
//! - [`sealing`]: [`ClientSealer`], how free text about a client is sealed under the
//!   client's data key (the vault does it; consent never holds a key).
//! - [`store`]: the [`ConsentStore`] trait (sled implementation in `omadata-store-sled`)
//!   and an in-memory store for tests.
//! - [`layout`]: where everything lives in the store's key space: every key prefix and
//!   key builder, and the labels sealed text is bound to (the on-disk format).
//! - [`error`]: the crate's one error enum.
//!
//! Time is always passed in as `now`.

pub mod audit;
pub mod canonical;
pub mod decision;
pub mod directory;
pub mod error;
pub mod layout;
pub mod merkle;
pub mod model;
pub mod policy;
pub mod receipt;
pub mod sealing;
pub mod service;
pub mod signing;
pub mod store;

pub use directory::{
    ClientIdentity, Directory, EnrolmentSecret, NewOrganisation, NewStaff, Registrar, Staff,
    StaffRole, StaffStatus,
};
pub use error::ConsentError;
pub use model::*;
pub use policy::SensitivityPolicy;
pub use sealing::{ClientSealer, NoClientKeys, SealError};
pub use service::{
    AccessAsk, AccessAttempt, Consent, ConsentConfig, FieldDecision, Narrowing, PairingCode, Sweep,
};
pub use signing::{Jwks, PublicKey, ServiceKey};
pub use store::{ConsentStore, MemoryConsentStore};
