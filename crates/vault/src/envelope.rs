//! Byte formats of what the vault stores, all sealed with AES-256-GCM (ring).
//!
//! Every format starts with a version byte and carries a fresh random 96-bit nonce. The
//! associated data binds each ciphertext to where it belongs, so bytes copied to another
//! client, field, version or master key fail authentication instead of opening as wrong
//! data. The layouts are written down in `specs/formats.md`.

use crate::ids::ClientId;
use crate::keys::{DataKey, KEY_LEN, MasterKey, MasterKeyId};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

const RECORD_V1: u8 = 1;
const WRAPPED_KEY_V1: u8 = 1;
const KEY_CHECK_V1: u8 = 1;
const CLIENT_TEXT_V1: u8 = 1;
const TAG_LEN: usize = 16;
const KEY_CHECK_PLAINTEXT: &[u8] = b"omadata master key check";

/// Length of a wrapped data key: version, master key id, nonce, key, tag.
pub const WRAPPED_KEY_LEN: usize = 1 + MasterKeyId::LEN + NONCE_LEN + KEY_LEN + TAG_LEN;

/// The bytes did not open: altered, truncated, moved, or sealed under another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed bytes failed authentication")]
pub struct OpenError;

/// Sealing needs randomness for the nonce; this is the only way it can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random number generator failed")]
pub struct RandomError;

fn aead_key(bytes: &[u8; KEY_LEN]) -> Result<LessSafeKey, OpenError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| OpenError)
}

/// Seals `plaintext` as `version byte || nonce || ciphertext+tag`.
fn seal(
    key: &[u8; KEY_LEN],
    rng: &dyn SecureRandom,
    format: u8,
    header: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, RandomError> {
    let key = aead_key(key).map_err(|_| RandomError)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| RandomError)?;
    let mut out = Vec::with_capacity(1 + header.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(format);
    out.extend_from_slice(header);
    out.extend_from_slice(&nonce);
    let body_start = out.len();
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(body_start);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| RandomError)?;
    out.append(&mut body);
    Ok(out)
}

/// Opens what [`seal`] made; `header_len` bytes after the version byte are not secret
/// but must already be part of `aad`.
fn open(
    key: &[u8; KEY_LEN],
    format: u8,
    header_len: usize,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let min_len = 1 + header_len + NONCE_LEN + TAG_LEN;
    if sealed.len() < min_len || sealed[0] != format {
        return Err(OpenError);
    }
    let nonce_start = 1 + header_len;
    let nonce = Nonce::try_assume_unique_for_key(&sealed[nonce_start..nonce_start + NONCE_LEN])
        .map_err(|_| OpenError)?;
    let mut body = Zeroizing::new(sealed[nonce_start + NONCE_LEN..].to_vec());
    let key = aead_key(key)?;
    let plaintext_len = key
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| OpenError)?
        .len();
    body.truncate(plaintext_len);
    Ok(body)
}

fn record_aad(client: ClientId, path: &str, version: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + path.len());
    aad.extend_from_slice(b"omadata.record.v1\0");
    aad.push(RECORD_V1);
    aad.extend_from_slice(client.as_bytes());
    aad.extend_from_slice(path.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// Seals one record version of `client`'s field `path`.
pub fn seal_record(
    key: &DataKey,
    rng: &dyn SecureRandom,
    client: ClientId,
    path: &str,
    version: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, RandomError> {
    let aad = record_aad(client, path, version);
    seal(key.bytes(), rng, RECORD_V1, &[], &aad, plaintext)
}

/// Opens a record version; fails unless it was sealed for exactly this client, path and
/// version under this key, and not altered since.
pub fn open_record(
    key: &DataKey,
    client: ClientId,
    path: &str,
    version: u64,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let aad = record_aad(client, path, version);
    open(key.bytes(), RECORD_V1, 0, &aad, sealed)
}

fn client_text_aad(client: ClientId, label: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(48 + label.len());
    aad.extend_from_slice(b"omadata.client-text.v1\0");
    aad.push(CLIENT_TEXT_V1);
    aad.extend_from_slice(client.as_bytes());
    aad.extend_from_slice(label.as_bytes());
    aad
}

/// Seals something another part of the service keeps about `client` (a consent's free
/// text, a receipt) under the client's data key, bound to the client and to `label`
/// (which names the record and the part of it), so erasing the client shreds it too.
pub fn seal_client_text(
    key: &DataKey,
    rng: &dyn SecureRandom,
    client: ClientId,
    label: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, RandomError> {
    let aad = client_text_aad(client, label);
    seal(key.bytes(), rng, CLIENT_TEXT_V1, &[], &aad, plaintext)
}

/// Opens what [`seal_client_text`] made for exactly this client and label.
pub fn open_client_text(
    key: &DataKey,
    client: ClientId,
    label: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let aad = client_text_aad(client, label);
    open(key.bytes(), CLIENT_TEXT_V1, 0, &aad, sealed)
}

fn wrapped_key_aad(client: ClientId, master: &MasterKeyId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"omadata.wrapped-key.v1\0");
    aad.push(WRAPPED_KEY_V1);
    aad.extend_from_slice(client.as_bytes());
    aad.extend_from_slice(master.as_str().as_bytes());
    aad
}

/// Wraps a client's data key under the master key.
pub fn wrap_data_key(
    master: &MasterKey,
    rng: &dyn SecureRandom,
    client: ClientId,
    data_key: &DataKey,
) -> Result<Vec<u8>, RandomError> {
    let aad = wrapped_key_aad(client, master.id());
    seal(
        master.bytes(),
        rng,
        WRAPPED_KEY_V1,
        master.id().as_str().as_bytes(),
        &aad,
        data_key.bytes(),
    )
}

/// The id of the master key a wrapped data key claims to be sealed under. The claim is
/// authenticated when the key is unwrapped.
pub fn wrapped_key_master_id(wrapped: &[u8]) -> Result<MasterKeyId, OpenError> {
    if wrapped.len() != WRAPPED_KEY_LEN || wrapped[0] != WRAPPED_KEY_V1 {
        return Err(OpenError);
    }
    let id = std::str::from_utf8(&wrapped[1..1 + MasterKeyId::LEN]).map_err(|_| OpenError)?;
    MasterKeyId::try_from(id.to_owned()).map_err(|_| OpenError)
}

/// Unwraps a client's data key.
pub fn unwrap_data_key(
    master: &MasterKey,
    client: ClientId,
    wrapped: &[u8],
) -> Result<DataKey, OpenError> {
    if wrapped_key_master_id(wrapped)? != *master.id() {
        return Err(OpenError);
    }
    let aad = wrapped_key_aad(client, master.id());
    let plaintext = open(
        master.bytes(),
        WRAPPED_KEY_V1,
        MasterKeyId::LEN,
        &aad,
        wrapped,
    )?;
    DataKey::from_slice(&plaintext).ok_or(OpenError)
}

fn key_check_aad(master: &MasterKeyId) -> Vec<u8> {
    let mut aad = b"omadata.key-check.v1\0".to_vec();
    aad.extend_from_slice(master.as_str().as_bytes());
    aad
}

/// A token that proves, when it opens, that the loaded master key is the one the store
/// was sealed with.
pub fn seal_key_check(master: &MasterKey, rng: &dyn SecureRandom) -> Result<Vec<u8>, RandomError> {
    seal(
        master.bytes(),
        rng,
        KEY_CHECK_V1,
        &[],
        &key_check_aad(master.id()),
        KEY_CHECK_PLAINTEXT,
    )
}

pub fn verify_key_check(master: &MasterKey, token: &[u8]) -> Result<(), OpenError> {
    let plaintext = open(
        master.bytes(),
        KEY_CHECK_V1,
        0,
        &key_check_aad(master.id()),
        token,
    )?;
    if plaintext.as_slice() == KEY_CHECK_PLAINTEXT {
        Ok(())
    } else {
        Err(OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn flip_each_bit(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
        (0..bytes.len() * 8).map(move |bit| {
            let mut copy = bytes.to_vec();
            copy[bit / 8] ^= 1 << (bit % 8);
            copy
        })
    }

    #[test]
    fn record_round_trips_and_every_bit_flip_is_detected() {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let client = ClientId::random();
        let sealed = seal_record(&key, &rng, client, "identity.name", 3, b"Aino").unwrap();
        assert_eq!(
            open_record(&key, client, "identity.name", 3, &sealed)
                .unwrap()
                .as_slice(),
            b"Aino"
        );
        for tampered in flip_each_bit(&sealed) {
            assert_eq!(
                open_record(&key, client, "identity.name", 3, &tampered),
                Err(OpenError)
            );
        }
        for len in 0..sealed.len() {
            assert!(open_record(&key, client, "identity.name", 3, &sealed[..len]).is_err());
        }
    }

    #[test]
    fn record_is_bound_to_client_path_version_and_key() {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let client = ClientId::random();
        let sealed = seal_record(&key, &rng, client, "identity.name", 1, b"x").unwrap();
        let other_key = DataKey::generate(&rng).unwrap();
        assert!(open_record(&key, ClientId::random(), "identity.name", 1, &sealed).is_err());
        assert!(open_record(&key, client, "identity.email", 1, &sealed).is_err());
        assert!(open_record(&key, client, "identity.name", 2, &sealed).is_err());
        assert!(open_record(&other_key, client, "identity.name", 1, &sealed).is_err());
    }

    #[test]
    fn client_text_is_bound_to_client_label_and_key() {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let client = ClientId::random();
        let sealed = seal_client_text(&key, &rng, client, "grant/1/purpose.text", b"t").unwrap();
        assert_eq!(
            open_client_text(&key, client, "grant/1/purpose.text", &sealed)
                .unwrap()
                .as_slice(),
            b"t"
        );
        assert!(
            open_client_text(&key, ClientId::random(), "grant/1/purpose.text", &sealed).is_err()
        );
        assert!(open_client_text(&key, client, "grant/2/purpose.text", &sealed).is_err());
        let other_key = DataKey::generate(&rng).unwrap();
        assert!(open_client_text(&other_key, client, "grant/1/purpose.text", &sealed).is_err());
        // Not interchangeable with a record sealed under the same key.
        assert!(open_record(&key, client, "grant/1/purpose.text", 0, &sealed).is_err());
        for tampered in flip_each_bit(&sealed) {
            assert!(open_client_text(&key, client, "grant/1/purpose.text", &tampered).is_err());
        }
    }

    #[test]
    fn nonces_are_fresh_per_seal() {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let client = ClientId::random();
        let a = seal_record(&key, &rng, client, "a.b", 1, b"same").unwrap();
        let b = seal_record(&key, &rng, client, "a.b", 1, b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrapped_key_detects_every_bit_flip_and_other_clients() {
        let rng = SystemRandom::new();
        let master = MasterKey::generate().unwrap();
        let client = ClientId::random();
        let data_key = DataKey::generate(&rng).unwrap();
        let wrapped = wrap_data_key(&master, &rng, client, &data_key).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert_eq!(wrapped_key_master_id(&wrapped).unwrap(), *master.id());
        let unwrapped = unwrap_data_key(&master, client, &wrapped).unwrap();
        assert_eq!(unwrapped.bytes(), data_key.bytes());
        for tampered in flip_each_bit(&wrapped) {
            assert!(unwrap_data_key(&master, client, &tampered).is_err());
        }
        assert!(unwrap_data_key(&master, ClientId::random(), &wrapped).is_err());
        let other_master = MasterKey::generate().unwrap();
        assert!(unwrap_data_key(&other_master, client, &wrapped).is_err());
    }

    #[test]
    fn key_check_opens_only_under_its_key() {
        let rng = SystemRandom::new();
        let master = MasterKey::generate().unwrap();
        let token = seal_key_check(&master, &rng).unwrap();
        assert!(verify_key_check(&master, &token).is_ok());
        assert!(verify_key_check(&MasterKey::generate().unwrap(), &token).is_err());
    }
}
