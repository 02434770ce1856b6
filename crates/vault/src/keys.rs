//! Key material: the master key that wraps data keys, and the per-client data keys.
//!
//! The master key comes from a key file or an environment variable and is never written
//! to the store. Its id is derived from the key itself, so a store can tell a wrong key
//! from the right one without holding the key. All key bytes are zeroized on drop and
//! never appear in `Debug` output.

use crate::error::VaultError;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

/// Makes a newly created file's name durable (a power cut must not take a key file
/// away from the data written under it): syncs the directory holding it.
pub fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    std::fs::File::open(parent.unwrap_or(Path::new(".")))?.sync_all()
}

pub const KEY_LEN: usize = 32;

/// The environment variable that may hold the master key, as 64 hex characters.
pub const MASTER_KEY_ENV: &str = "OMADATA_MASTER_KEY";

/// Names a master key: 16 hex characters derived from the key by a one-way hash.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MasterKeyId(String);

impl MasterKeyId {
    pub const LEN: usize = 16;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MasterKeyId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() == Self::LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s))
        } else {
            Err("a master key id is 16 lower-case hex characters".into())
        }
    }
}

impl From<MasterKeyId> for String {
    fn from(id: MasterKeyId) -> Self {
        id.0
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeyId({})", self.0)
    }
}

/// The key-encryption key. Wraps every client's data key; never stored.
pub struct MasterKey {
    id: MasterKeyId,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

/// Why a secret file was not read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{0}")]
    Io(std::io::Error),
    /// The file's mode lets its group or everyone read or write it.
    #[error(
        "{path} is readable or writable by others than its owner (mode {mode:o}); a secret key file must be private: run `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
}

/// Reads a secret file (a key or the enrolment secret), refusing one whose mode grants
/// anything to its group or to others (`mode & 0o077 != 0`): a key another account could
/// read is a key that may already be copied. The mode is checked on the opened file, so
/// a swap between the check and the read changes nothing. Files this project writes are
/// created 0600.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, SecretFileError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(SecretFileError::Io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(SecretFileError::Io)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Exposed {
                path: path.display().to_string(),
                mode: mode & 0o777,
            });
        }
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(SecretFileError::Io)?;
    Ok(text)
}

impl MasterKey {
    /// A new random master key.
    pub fn generate() -> Result<Self, VaultError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| VaultError::Random)?;
        Ok(Self::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(b"omadata.master-key-id.v1\0");
        context.update(bytes.as_ref());
        let id = hex::encode(&context.finish().as_ref()[..MasterKeyId::LEN / 2]);
        Self {
            id: MasterKeyId(id),
            bytes,
        }
    }

    /// Parses 64 hex characters (surrounding whitespace ignored). `source` names where
    /// the text came from, for the error message; the text itself is never echoed.
    pub fn from_hex(source: &str, text: &str) -> Result<Self, VaultError> {
        let trimmed = text.trim();
        if trimmed.len() != KEY_LEN * 2 {
            return Err(VaultError::MasterKeyMalformed(format!(
                "{source} must hold exactly {} hex characters (a 256-bit key), found {}",
                KEY_LEN * 2,
                trimmed.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(trimmed, bytes.as_mut()).map_err(|_| {
            VaultError::MasterKeyMalformed(format!("{source} holds characters that are not hex"))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads a key file written by [`MasterKey::write_new_file`]; refuses one that others
    /// than its owner may read (see [`read_secret_file`]).
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        let source = format!("key file {}", path.display());
        let text = read_secret_file(path).map_err(|e| match e {
            SecretFileError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                VaultError::MasterKeyMissing(format!(
                    "{source} does not exist; create one with `keys generate` or set {MASTER_KEY_ENV}"
                ))
            }
            SecretFileError::Io(e) => {
                VaultError::MasterKeyMissing(format!("{source} cannot be read: {e}"))
            }
            exposed @ SecretFileError::Exposed { .. } => VaultError::MasterKeyFile {
                path: path.display().to_string(),
                reason: exposed.to_string(),
            },
        })?;
        Self::from_hex(&source, &text)
    }

    /// Reads the key from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, VaultError> {
        let text = std::env::var(var).map(Zeroizing::new).map_err(|_| {
            VaultError::MasterKeyMissing(format!("environment variable {var} is not set"))
        })?;
        Self::from_hex(&format!("environment variable {var}"), &text)
    }

    /// Writes this key to a new file readable only by its owner. Refuses to overwrite an
    /// existing file: replacing a key over existing data would make that data unreadable.
    pub fn write_new_file(&self, path: &Path) -> Result<(), VaultError> {
        let fail = |reason: String| VaultError::MasterKeyFile {
            path: path.display().to_string(),
            reason,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                fail("it already exists; a key file is never overwritten".into())
            } else {
                fail(e.to_string())
            }
        })?;
        let mut text = Zeroizing::new(hex::encode(self.bytes.as_ref()));
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| sync_parent_dir(path))
            .map_err(|e| fail(e.to_string()))
    }

    pub fn id(&self) -> &MasterKeyId {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// A client's data key. Lives unwrapped only for the duration of one operation.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, VaultError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(bytes.as_mut()).map_err(|_| VaultError::Random)?;
        Ok(Self(bytes))
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl Zeroize for DataKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// The master keys loaded at start: normally one; two while a rotation runs.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(primary: MasterKey) -> Self {
        Self {
            keys: vec![primary],
        }
    }

    /// Adds another key (the old or the new one of a rotation). A key already present is
    /// not added twice.
    pub fn with(mut self, key: MasterKey) -> Self {
        self.insert(key);
        self
    }

    pub fn insert(&mut self, key: MasterKey) {
        if self.get(key.id()).is_none() {
            self.keys.push(key);
        }
    }

    /// The first key given: the one a fresh store is sealed with.
    pub fn primary(&self) -> Option<&MasterKey> {
        self.keys.first()
    }

    pub fn get(&self, id: &MasterKeyId) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id() == id)
    }

    pub fn contains(&self, id: &MasterKeyId) -> bool {
        self.get(id).is_some()
    }

    /// Drops every key but `id`, after a rotation has finished.
    pub fn retain_only(&mut self, id: &MasterKeyId) {
        self.keys.retain(|k| k.id() == id);
    }

    /// The loaded key ids, for error messages.
    pub fn describe(&self) -> String {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id().as_str()).collect();
        ids.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = MasterKey::from_hex("test", HEX).unwrap();
        let shown = format!(
            "{key:?} {:?}",
            Keyring::new(MasterKey::from_hex("t", HEX).unwrap())
        );
        assert!(!shown.contains("0001020304"), "{shown}");
        assert!(!shown.contains("[0, 1, 2"), "{shown}");
        assert!(shown.contains(key.id().as_str()));
        let data_key = DataKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(format!("{data_key:?}"), "DataKey(<redacted>)");
    }

    #[test]
    fn id_is_stable_and_distinguishes_keys() {
        let a = MasterKey::from_hex("a", HEX).unwrap();
        let a_again = MasterKey::from_hex("a", &format!("  {HEX}\n")).unwrap();
        let b = MasterKey::generate().unwrap();
        assert_eq!(a.id(), a_again.id());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().as_str().len(), 16);
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let short = MasterKey::from_hex("key file k", "abcd")
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("key file k") && short.contains("64 hex"),
            "{short}"
        );
        let not_hex = "zz".repeat(32);
        let err = MasterKey::from_hex("key file k", &not_hex)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not hex") && !err.contains("zzzz"), "{err}");
    }

    #[test]
    fn key_file_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let missing = MasterKey::from_file(&path).unwrap_err();
        assert!(matches!(missing, VaultError::MasterKeyMissing(_)));
        assert!(missing.to_string().contains("master.key"));

        let key = MasterKey::generate().unwrap();
        key.write_new_file(&path).unwrap();
        let loaded = MasterKey::from_file(&path).unwrap();
        assert_eq!(loaded.id(), key.id());
        assert_eq!(loaded.bytes(), key.bytes());

        let other = MasterKey::generate().unwrap();
        let refused = other.write_new_file(&path).unwrap_err();
        assert!(refused.to_string().contains("never overwritten"));
        assert_eq!(MasterKey::from_file(&path).unwrap().id(), key.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::generate()
            .unwrap()
            .write_new_file(&path)
            .unwrap();
        for mode in [0o640, 0o604, 0o660, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = MasterKey::from_file(&path).unwrap_err().to_string();
            assert!(
                err.contains("master.key") && err.contains("chmod 600"),
                "{mode:o}: {err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(MasterKey::from_file(&path).is_ok());
    }
}
