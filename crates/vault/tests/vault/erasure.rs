use crate::{catalogue, new_key, t};
use omadata_vault::memory::MemoryStore;
use omadata_vault::store::VaultStore;
use omadata_vault::{Author, Keyring, MasterKey, Vault, VaultError};
use serde_json::json;
use std::sync::Arc;

#[test]
fn erasure_destroys_the_key_then_the_records() {
    let store = MemoryStore::new();
    let (_, hex) = new_key();
    let vault = Vault::open(
        Arc::new(store.clone()),
        Keyring::new(MasterKey::from_hex("k", &hex).unwrap()),
        catalogue(),
    )
    .unwrap();
    let gone = vault.enrol_client().unwrap();
    let stays = vault.enrol_client().unwrap();
    for (client, name) in [(gone, "Gone"), (stays, "Stays")] {
        vault
            .write(
                client,
                "identity.name",
                json!(name),
                Author::Client(client),
                t(0),
            )
            .unwrap();
        vault
            .write(
                client,
                "identity.name",
                json!(format!("{name} 2")),
                Author::Client(client),
                t(1),
            )
            .unwrap();
    }

    let erasure = vault.erase_client(gone).unwrap();
    assert!(erasure.key_destroyed);
    assert_eq!(erasure.records_deleted, 2);
    assert_eq!(store.wrapped_key(gone).unwrap(), None);
    assert!(store.client_records(gone).unwrap().is_empty());
    assert!(matches!(
        vault.read(gone, "identity.name"),
        Err(VaultError::UnknownClient(_))
    ));
    assert!(matches!(
        vault.write(
            gone,
            "identity.name",
            json!("back"),
            Author::Client(gone),
            t(2)
        ),
        Err(VaultError::UnknownClient(_))
    ));
    // The other client is untouched.
    assert_eq!(
        vault.read_value(stays, "identity.name").unwrap().unwrap(),
        json!("Stays 2")
    );
    // Erasing again is harmless.
    let again = vault.erase_client(gone).unwrap();
    assert!(!again.key_destroyed);
    assert_eq!(again.records_deleted, 0);
}

#[test]
fn records_copied_before_erasure_cannot_be_opened_afterwards() {
    let store = MemoryStore::new();
    let (_, old_hex) = new_key();
    let vault = Vault::open(
        Arc::new(store.clone()),
        Keyring::new(MasterKey::from_hex("k", &old_hex).unwrap()),
        catalogue(),
    )
    .unwrap();
    let client = vault.enrol_client().unwrap();
    vault
        .write(
            client,
            "health.status",
            json!("private"),
            Author::Client(client),
            t(0),
        )
        .unwrap();
    let backup = store.snapshot();

    vault.erase_client(client).unwrap();

    // Put the copied records back into the live store: with the key destroyed they are
    // ciphertext nobody can open, not even the vault with its master key.
    for (key, sealed) in backup.raw_records() {
        store.put_raw_record(key, sealed);
    }
    assert!(matches!(
        vault.read(client, "health.status"),
        Err(VaultError::UnknownClient(_))
    ));
    // Re-enrolling the same id yields a new, different data key: the old records still fail.
    assert!(vault.enrol(client).unwrap());
    assert!(matches!(
        vault.read(client, "health.status"),
        Err(VaultError::Tampered { .. })
    ));
    vault.erase_client(client).unwrap();

    // The backup itself still holds the wrapped key under the old master key. Rotating the
    // master key after erasure and destroying the old one closes that door too.
    let (new_key_material, new_hex) = new_key();
    vault
        .rotate_master_key(MasterKey::from_hex("k", &new_hex).unwrap())
        .unwrap();
    let err = Vault::open(
        Arc::new(backup.clone()),
        Keyring::new(MasterKey::from_hex("k", &new_hex).unwrap()),
        catalogue(),
    )
    .unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");
    // The backup's wrapped key cannot be opened with the new master key either.
    let wrapped = backup.wrapped_key(client).unwrap().unwrap();
    assert!(omadata_vault::envelope::unwrap_data_key(&new_key_material, client, &wrapped).is_err());
}
