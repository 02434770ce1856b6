//! The vault's operations over a [`VaultStore`].
//!
//! Keys in the store:
//! - `master_key.active`: id of the master key that wraps the data keys;
//! - `master_key.check.<id>`: a token sealed under that key, so a wrong key is caught at
//!   start instead of at the first read;
//! - `master_key.rotation`: `{from, to}` while a rotation is unfinished.

use crate::catalogue::{Catalogue, FieldSpec};
use crate::envelope::{self, OpenError, RandomError};
use crate::error::VaultError;
use crate::ids::{Author, ClientId};
use crate::keys::{DataKey, Keyring, MasterKey, MasterKeyId};
use crate::store::{StoredVersion, VaultStore};
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;
use std::sync::Arc;

const META_ACTIVE: &str = "master_key.active";
const META_ROTATION: &str = "master_key.rotation";
const WRITE_ATTEMPTS: usize = 16;
const ROTATION_BATCH: usize = 256;
/// Versions of one field kept: older ones are pruned as new ones are written, so a
/// client (or a professional writing for them) cannot grow storage without limit, and
/// never has an edit refused for it. Stored at most `MAX_VERSIONS + PRUNE_EVERY - 1`.
pub const MAX_VERSIONS: u64 = 100;
/// Pruning runs on every this many-th version, so most writes pay nothing for it.
const PRUNE_EVERY: u64 = 16;

fn check_meta(id: &MasterKeyId) -> String {
    format!("master_key.check.{id}")
}

/// One version of one field, opened.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub path: String,
    pub version: u64,
    /// The value as the JSON text that was sealed: a reader serves it as it is, without
    /// parsing it into a tree and escaping it again (for a 4 KiB text that was most of
    /// the JSON work of a read). [`Record::parse_value`] gives the tree.
    pub value: Box<RawValue>,
    pub author: Author,
    pub written_at: DateTime<Utc>,
}

impl Record {
    /// The value as a JSON tree.
    pub fn parse_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.value.get())
    }
}

/// Equal when every part is; values compare as their JSON text, which one serializer
/// wrote, so equal values have equal text.
impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.version == other.version
            && self.value.get() == other.value.get()
            && self.author == other.author
            && self.written_at == other.written_at
    }
}

/// What is sealed: the value together with who wrote it and when, so that none of it is
/// readable without the client's key.
#[derive(Serialize)]
struct SealedBody<'a> {
    value: &'a Value,
    author: Author,
    written_at: DateTime<Utc>,
}

/// A [`SealedBody`] as it is read back, its value kept as JSON text.
#[derive(Deserialize)]
struct OpenedBody<'a> {
    #[serde(borrow)]
    value: &'a RawValue,
    author: Author,
    written_at: DateTime<Utc>,
}

/// What an erasure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Erasure {
    pub key_destroyed: bool,
    pub records_deleted: usize,
}

/// How far a master-key rotation has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationProgress {
    pub from: MasterKeyId,
    pub to: MasterKeyId,
    /// Data keys rewrapped by this call.
    pub rewrapped: usize,
    pub finished: bool,
}

#[derive(Serialize, Deserialize)]
struct RotationMarker {
    from: MasterKeyId,
    to: MasterKeyId,
}

#[derive(Debug)]
struct KeyState {
    keyring: Keyring,
    active: MasterKeyId,
    rotating_to: Option<MasterKeyId>,
}

impl KeyState {
    /// The key new data keys are wrapped under.
    fn wrapping_key(&self) -> Result<&MasterKey, VaultError> {
        let id = self.rotating_to.as_ref().unwrap_or(&self.active);
        self.keyring
            .get(id)
            .ok_or_else(|| VaultError::MasterKeyNotLoaded {
                what: "the wrapping key".into(),
                id: id.clone(),
            })
    }
}

pub struct Vault {
    store: Arc<dyn VaultStore>,
    catalogue: Arc<Catalogue>,
    keys: RwLock<KeyState>,
    rotation_cursor: Mutex<Option<ClientId>>,
    rng: SystemRandom,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.read();
        f.debug_struct("Vault")
            .field("store", &self.store)
            .field("active_master_key", &keys.active)
            .field("rotating_to", &keys.rotating_to)
            .finish_non_exhaustive()
    }
}

fn random_failed(_: RandomError) -> VaultError {
    VaultError::Random
}

fn parse_id(bytes: &[u8]) -> Result<MasterKeyId, VaultError> {
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| VaultError::Tampered {
        what: "the master-key record".into(),
    })?;
    MasterKeyId::try_from(text).map_err(|_| VaultError::Tampered {
        what: "the master-key record".into(),
    })
}

impl Vault {
    /// Opens the vault over `store` with the loaded master key(s).
    ///
    /// A fresh store is sealed with the keyring's primary key. A store that already holds
    /// data opens only with the key it was sealed with (both keys while a rotation is
    /// unfinished); nothing is ever re-keyed silently.
    pub fn open(
        store: Arc<dyn VaultStore>,
        keyring: Keyring,
        catalogue: Arc<Catalogue>,
    ) -> Result<Self, VaultError> {
        let rng = SystemRandom::new();
        let state = match store.meta(META_ACTIVE)? {
            None => Self::initialise(store.as_ref(), &rng, keyring)?,
            Some(active) => Self::check_keys(store.as_ref(), keyring, parse_id(&active)?)?,
        };
        Ok(Self {
            store,
            catalogue,
            keys: RwLock::new(state),
            rotation_cursor: Mutex::new(None),
            rng,
        })
    }

    fn initialise(
        store: &dyn VaultStore,
        rng: &SystemRandom,
        keyring: Keyring,
    ) -> Result<KeyState, VaultError> {
        if store.holds_client_data()? {
            return Err(VaultError::MissingKeyRecord);
        }
        let primary = keyring
            .primary()
            .ok_or_else(|| VaultError::MasterKeyMissing("no master key was loaded".into()))?;
        let id = primary.id().clone();
        let token = envelope::seal_key_check(primary, rng).map_err(random_failed)?;
        store.set_meta(&check_meta(&id), Some(&token))?;
        store.set_meta(META_ACTIVE, Some(id.as_str().as_bytes()))?;
        tracing::info!(master_key = %id, "sealed a new vault store");
        Ok(KeyState {
            keyring,
            active: id,
            rotating_to: None,
        })
    }

    fn verify_loaded(
        store: &dyn VaultStore,
        keyring: &Keyring,
        id: &MasterKeyId,
    ) -> Result<(), VaultError> {
        let wrong = || VaultError::WrongMasterKey {
            expected: id.clone(),
            loaded: keyring.describe(),
        };
        let key = keyring.get(id).ok_or_else(wrong)?;
        let token = store
            .meta(&check_meta(id))?
            .ok_or(VaultError::MissingKeyRecord)?;
        envelope::verify_key_check(key, &token).map_err(|_| wrong())
    }

    fn check_keys(
        store: &dyn VaultStore,
        mut keyring: Keyring,
        active: MasterKeyId,
    ) -> Result<KeyState, VaultError> {
        let rotation = match store.meta(META_ROTATION)? {
            None => None,
            Some(bytes) => Some(serde_json::from_slice::<RotationMarker>(&bytes).map_err(
                |_| VaultError::Tampered {
                    what: "the rotation record".into(),
                },
            )?),
        };
        match rotation {
            // The rotation finished but stopped before clearing its marker.
            Some(marker) if marker.to == active => {
                Self::verify_loaded(store, &keyring, &active)?;
                store.set_meta(META_ROTATION, None)?;
                keyring.retain_only(&active);
                Ok(KeyState {
                    keyring,
                    active,
                    rotating_to: None,
                })
            }
            Some(marker) => {
                if !keyring.contains(&marker.from) || !keyring.contains(&marker.to) {
                    return Err(VaultError::RotationKeysMissing {
                        from: marker.from,
                        to: marker.to,
                        loaded: keyring.describe(),
                    });
                }
                Self::verify_loaded(store, &keyring, &marker.from)?;
                Self::verify_loaded(store, &keyring, &marker.to)?;
                tracing::warn!(from = %marker.from, to = %marker.to, "master-key rotation is unfinished; resume it");
                Ok(KeyState {
                    keyring,
                    active,
                    rotating_to: Some(marker.to),
                })
            }
            None => {
                Self::verify_loaded(store, &keyring, &active)?;
                keyring.retain_only(&active);
                Ok(KeyState {
                    keyring,
                    active,
                    rotating_to: None,
                })
            }
        }
    }

    pub fn catalogue(&self) -> &Arc<Catalogue> {
        &self.catalogue
    }

    /// The master key that wraps data keys now (the old one until a rotation finishes).
    pub fn active_master_key(&self) -> MasterKeyId {
        self.keys.read().active.clone()
    }

    /// The key an unfinished rotation is moving to.
    pub fn rotation_target(&self) -> Option<MasterKeyId> {
        self.keys.read().rotating_to.clone()
    }

    /// Gives a new client a fresh random id and data key.
    pub fn enrol_client(&self) -> Result<ClientId, VaultError> {
        loop {
            let client = ClientId::random();
            if self.enrol(client)? {
                return Ok(client);
            }
        }
    }

    /// Creates a data key for `client`; `false` if it already has one.
    pub fn enrol(&self, client: ClientId) -> Result<bool, VaultError> {
        let data_key = DataKey::generate(&self.rng)?;
        let wrapped = {
            let keys = self.keys.read();
            envelope::wrap_data_key(keys.wrapping_key()?, &self.rng, client, &data_key)
                .map_err(random_failed)?
        };
        Ok(self
            .store
            .compare_and_swap_wrapped_key(client, None, Some(&wrapped))?)
    }

    pub fn is_enrolled(&self, client: ClientId) -> Result<bool, VaultError> {
        Ok(self.store.wrapped_key(client)?.is_some())
    }

    fn data_key(&self, client: ClientId) -> Result<DataKey, VaultError> {
        let wrapped = self
            .store
            .wrapped_key(client)?
            .ok_or(VaultError::UnknownClient(client))?;
        self.unwrap_data_key(client, &wrapped)
    }

    fn unwrap_data_key(&self, client: ClientId, wrapped: &[u8]) -> Result<DataKey, VaultError> {
        let what = || format!("the data key of client {client}");
        let id = envelope::wrapped_key_master_id(wrapped)
            .map_err(|_| VaultError::Tampered { what: what() })?;
        let keys = self.keys.read();
        let master = keys
            .keyring
            .get(&id)
            .ok_or_else(|| VaultError::MasterKeyNotLoaded { what: what(), id })?;
        envelope::unwrap_data_key(master, client, wrapped)
            .map_err(|_| VaultError::Tampered { what: what() })
    }

    fn field(&self, path: &str) -> Result<&FieldSpec, VaultError> {
        self.catalogue
            .field(path)
            .ok_or_else(|| VaultError::UnknownField {
                path: path.to_owned(),
            })
    }

    /// Writes a new version of `client`'s field `path`. Checked against the catalogue
    /// first; a refused write changes nothing. Returns once the version is durable.
    pub fn write(
        &self,
        client: ClientId,
        path: &str,
        value: Value,
        author: Author,
        now: DateTime<Utc>,
    ) -> Result<Record, VaultError> {
        let field = self.catalogue.validate(path, &value)?;
        let may_author = match author {
            Author::Client(id) => id == client && field.author.allows_client(),
            Author::Professional(_) => field.author.allows_professional(),
        };
        if !may_author {
            let author = match author {
                Author::Client(id) if id != client => "another client",
                Author::Client(_) => "the client",
                Author::Professional(_) => "a professional",
            };
            return Err(VaultError::NotAnAuthor {
                path: path.to_owned(),
                author: author.into(),
            });
        }
        let key = self.data_key(client)?;
        let body = SealedBody {
            value: &value,
            author,
            written_at: now,
        };
        let plaintext = zeroize::Zeroizing::new(serde_json::to_vec(&body).map_err(|e| {
            VaultError::InvalidValue {
                path: path.to_owned(),
                reason: e.to_string(),
            }
        })?);
        // What the write returns, made before anything is stored.
        let returned =
            serde_json::value::to_raw_value(&value).map_err(|e| VaultError::InvalidValue {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        for _ in 0..WRITE_ATTEMPTS {
            let version = self
                .store
                .latest_record_version(client, path)?
                .map_or(1, |latest| latest.version.saturating_add(1));
            let sealed = envelope::seal_record(&key, &self.rng, client, path, version, &plaintext)
                .map_err(random_failed)?;
            if self
                .store
                .insert_record_version(client, path, version, &sealed)?
            {
                // An erasure may have run between reading the key and storing the record;
                // then this record must not outlive it.
                if self.store.wrapped_key(client)?.is_none() {
                    self.store.delete_client_records(client)?;
                    return Err(VaultError::UnknownClient(client));
                }
                if version > MAX_VERSIONS && version.is_multiple_of(PRUNE_EVERY) {
                    // The write is durable already; a failed prune is retried by the
                    // next one and must not turn an applied write into an error.
                    let below = version - MAX_VERSIONS + 1;
                    if let Err(error) = self.store.prune_record_versions(client, path, below) {
                        tracing::warn!(%error, "pruning old record versions failed");
                    }
                }
                return Ok(Record {
                    path: path.to_owned(),
                    version,
                    value: returned,
                    author,
                    written_at: now,
                });
            }
        }
        Err(VaultError::WriteConflict {
            path: path.to_owned(),
        })
    }

    fn open_version(
        &self,
        key: &DataKey,
        client: ClientId,
        stored: StoredVersion,
    ) -> Result<Record, VaultError> {
        let tampered = |_: OpenError| VaultError::Tampered {
            what: format!(
                "record `{}` version {} of client {client}",
                stored.path, stored.version
            ),
        };
        let plaintext =
            envelope::open_record(key, client, &stored.path, stored.version, &stored.sealed)
                .map_err(tampered)?;
        let body: OpenedBody =
            serde_json::from_slice(&plaintext).map_err(|_| tampered(OpenError))?;
        Ok(Record {
            path: stored.path,
            version: stored.version,
            value: body.value.to_owned(),
            author: body.author,
            written_at: body.written_at,
        })
    }

    /// The current value of one field, if it was ever written.
    pub fn read(&self, client: ClientId, path: &str) -> Result<Option<Record>, VaultError> {
        Ok(self.read_many(client, &[path])?.pop().flatten())
    }

    /// The current value of one field as a JSON tree, if it was ever written.
    pub fn read_value(&self, client: ClientId, path: &str) -> Result<Option<Value>, VaultError> {
        self.read(client, path)?
            .map(|record| {
                record.parse_value().map_err(|_| VaultError::Tampered {
                    what: format!("record `{path}` of client {client}"),
                })
            })
            .transpose()
    }

    /// The current values of several fields, in the order asked, unwrapping the client's
    /// data key once.
    pub fn read_many(
        &self,
        client: ClientId,
        paths: &[&str],
    ) -> Result<Vec<Option<Record>>, VaultError> {
        for path in paths {
            self.field(path)?;
        }
        let (wrapped, latest) = self
            .store
            .wrapped_key_and_latest(client, paths)?
            .ok_or(VaultError::UnknownClient(client))?;
        let key = self.unwrap_data_key(client, &wrapped)?;
        latest
            .into_iter()
            .map(|stored| {
                stored
                    .map(|stored| self.open_version(&key, client, stored))
                    .transpose()
            })
            .collect()
    }

    /// Every version of one field, oldest first.
    pub fn history(&self, client: ClientId, path: &str) -> Result<Vec<Record>, VaultError> {
        self.field(path)?;
        let key = self.data_key(client)?;
        self.store
            .record_versions(client, path)?
            .into_iter()
            .map(|stored| self.open_version(&key, client, stored))
            .collect()
    }

    /// The current value of every field the client has, in path order.
    pub fn current_records(&self, client: ClientId) -> Result<Vec<Record>, VaultError> {
        let key = self.data_key(client)?;
        let mut latest: Vec<StoredVersion> = Vec::new();
        for stored in self.store.client_records(client)? {
            match latest.last_mut() {
                Some(last) if last.path == stored.path => *last = stored,
                _ => latest.push(stored),
            }
        }
        latest
            .into_iter()
            .map(|stored| self.open_version(&key, client, stored))
            .collect()
    }

    /// Every version of every field: everything held about the client.
    pub fn all_versions(&self, client: ClientId) -> Result<Vec<Record>, VaultError> {
        let key = self.data_key(client)?;
        self.store
            .client_records(client)?
            .into_iter()
            .map(|stored| self.open_version(&key, client, stored))
            .collect()
    }

    /// Seals `plaintext` that another part of the service keeps about `client` under the
    /// client's data key, bound to the client and `label`: [`Vault::erase_client`] makes
    /// it unreadable with the records. `UnknownClient` if the client has no data key.
    pub fn seal_for_client(
        &self,
        client: ClientId,
        label: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        let key = self.data_key(client)?;
        envelope::seal_client_text(&key, &self.rng, client, label, plaintext).map_err(random_failed)
    }

    /// Opens what [`Vault::seal_for_client`] sealed for this client and label.
    /// `UnknownClient` once the client is erased (the key is gone); `Tampered` if the bytes
    /// were altered or belong to another client or label.
    pub fn open_for_client(
        &self,
        client: ClientId,
        label: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
        let key = self.data_key(client)?;
        envelope::open_client_text(&key, client, label, sealed).map_err(|_| VaultError::Tampered {
            what: format!("sealed `{label}` of client {client}"),
        })
    }

    /// Crypto-shredding: destroys the client's data key first, then deletes the records.
    /// Once the key is gone the records are unreadable wherever copies of them are, and a
    /// retry after an interruption finishes the deletion.
    pub fn erase_client(&self, client: ClientId) -> Result<Erasure, VaultError> {
        let mut key_destroyed = false;
        while let Some(wrapped) = self.store.wrapped_key(client)? {
            if self
                .store
                .compare_and_swap_wrapped_key(client, Some(&wrapped), None)?
            {
                key_destroyed = true;
                break;
            }
        }
        let records_deleted = self.store.delete_client_records(client)?;
        tracing::info!(%client, key_destroyed, records_deleted, "client erased");
        Ok(Erasure {
            key_destroyed,
            records_deleted,
        })
    }

    /// Starts rotating to `new_key`: from now on new data keys are wrapped under it and
    /// both keys unwrap. Call [`Vault::rotation_step`] or [`Vault::resume_rotation`] to
    /// rewrap the existing data keys. Records are never re-encrypted.
    pub fn begin_rotation(&self, new_key: MasterKey) -> Result<(), VaultError> {
        let mut keys = self.keys.write();
        let new_id = new_key.id().clone();
        match &keys.rotating_to {
            Some(to) if *to == new_id => return Ok(()),
            Some(to) => return Err(VaultError::RotationInProgress { to: to.clone() }),
            None if new_id == keys.active => {
                return Err(VaultError::MasterKeyMalformed(format!(
                    "the new key is the active key {new_id}; generate a new one to rotate"
                )));
            }
            None => {}
        }
        let token = envelope::seal_key_check(&new_key, &self.rng).map_err(random_failed)?;
        self.store.set_meta(&check_meta(&new_id), Some(&token))?;
        let marker = RotationMarker {
            from: keys.active.clone(),
            to: new_id.clone(),
        };
        let marker = serde_json::to_vec(&marker)
            .map_err(|e| VaultError::Store(crate::store::StoreError::Backend(e.to_string())))?;
        self.store.set_meta(META_ROTATION, Some(&marker))?;
        keys.keyring.insert(new_key);
        keys.rotating_to = Some(new_id.clone());
        *self.rotation_cursor.lock() = None;
        tracing::info!(from = %keys.active, to = %new_id, "master-key rotation started");
        Ok(())
    }

    /// Rewraps up to `max_keys` data keys; finishes the rotation when none are left.
    pub fn rotation_step(&self, max_keys: usize) -> Result<RotationProgress, VaultError> {
        let mut cursor = self.rotation_cursor.lock();
        let (from, to, batch_len, rewrapped) = {
            let keys = self.keys.read();
            let Some(to) = keys.rotating_to.clone() else {
                return Ok(RotationProgress {
                    from: keys.active.clone(),
                    to: keys.active.clone(),
                    rewrapped: 0,
                    finished: true,
                });
            };
            let new_key = keys.wrapping_key()?;
            let batch = self.store.wrapped_keys_after(*cursor, max_keys.max(1))?;
            let mut rewrapped = 0;
            for (client, wrapped) in &batch {
                *cursor = Some(*client);
                let what = || format!("the data key of client {client}");
                let id = envelope::wrapped_key_master_id(wrapped)
                    .map_err(|_| VaultError::Tampered { what: what() })?;
                if id == to {
                    continue;
                }
                let old_key = keys
                    .keyring
                    .get(&id)
                    .ok_or_else(|| VaultError::MasterKeyNotLoaded { what: what(), id })?;
                let data_key = envelope::unwrap_data_key(old_key, *client, wrapped)
                    .map_err(|_| VaultError::Tampered { what: what() })?;
                let rewrapped_key = envelope::wrap_data_key(new_key, &self.rng, *client, &data_key)
                    .map_err(random_failed)?;
                // A client erased meanwhile stays erased: the swap then does nothing.
                if self.store.compare_and_swap_wrapped_key(
                    *client,
                    Some(wrapped),
                    Some(&rewrapped_key),
                )? {
                    rewrapped += 1;
                }
            }
            (keys.active.clone(), to, batch.len(), rewrapped)
        };
        let finished = batch_len < max_keys.max(1);
        if finished {
            self.finish_rotation(&from, &to)?;
            *cursor = None;
        }
        Ok(RotationProgress {
            from,
            to,
            rewrapped,
            finished,
        })
    }

    fn finish_rotation(&self, from: &MasterKeyId, to: &MasterKeyId) -> Result<(), VaultError> {
        let mut keys = self.keys.write();
        // Order matters for a crash in between: once `active` names the new key, the old
        // marker is recognised as finished at the next start.
        self.store
            .set_meta(META_ACTIVE, Some(to.as_str().as_bytes()))?;
        self.store.set_meta(META_ROTATION, None)?;
        self.store.set_meta(&check_meta(from), None)?;
        keys.active = to.clone();
        keys.rotating_to = None;
        keys.keyring.retain_only(to);
        tracing::info!(%from, %to, "master-key rotation finished");
        Ok(())
    }

    /// Runs an unfinished rotation to its end.
    pub fn resume_rotation(&self) -> Result<RotationProgress, VaultError> {
        let mut total = 0;
        loop {
            let progress = self.rotation_step(ROTATION_BATCH)?;
            total += progress.rewrapped;
            if progress.finished {
                return Ok(RotationProgress {
                    rewrapped: total,
                    ..progress
                });
            }
        }
    }

    /// Rotates to `new_key` in one call: every data key is rewrapped, no record is
    /// re-encrypted, and reads keep working throughout.
    pub fn rotate_master_key(&self, new_key: MasterKey) -> Result<RotationProgress, VaultError> {
        self.begin_rotation(new_key)?;
        self.resume_rotation()
    }
}
