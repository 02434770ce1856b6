use crate::{catalogue, new_key, open, same_key, t};
use omadata_vault::memory::MemoryStore;
use omadata_vault::{Author, Keyring, MasterKey, Vault, VaultError};
use serde_json::json;
use std::sync::Arc;

#[test]
fn reopening_with_the_same_key_reads_everything() {
    let store = MemoryStore::new();
    let (key, hex) = new_key();
    let vault = open(&store, key);
    let client = vault.enrol_client().unwrap();
    vault
        .write(
            client,
            "identity.name",
            json!("Aino"),
            Author::Client(client),
            t(0),
        )
        .unwrap();
    let key_id = vault.active_master_key();
    drop(vault);

    let reloaded = MasterKey::from_hex("key file", &hex).unwrap();
    assert_eq!(*reloaded.id(), key_id);
    let vault = open(&store, reloaded);
    assert_eq!(
        vault.read_value(client, "identity.name").unwrap().unwrap(),
        json!("Aino")
    );
}

#[test]
fn a_wrong_master_key_is_refused_with_a_message_naming_both_keys() {
    let store = MemoryStore::new();
    let (key, hex) = new_key();
    let vault = open(&store, same_key(&key, &hex));
    let client = vault.enrol_client().unwrap();
    vault
        .write(
            client,
            "identity.name",
            json!("Aino"),
            Author::Client(client),
            t(0),
        )
        .unwrap();
    drop(vault);

    let wrong = MasterKey::generate().unwrap();
    let wrong_id = wrong.id().clone();
    let err = Vault::open(Arc::new(store.clone()), Keyring::new(wrong), catalogue()).unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(key.id().as_str()), "{message}");
    assert!(message.contains(wrong_id.as_str()), "{message}");
    assert!(message.contains("no new key is created"), "{message}");

    // The refused start wrote nothing: the right key still opens everything.
    let vault = open(&store, key);
    assert_eq!(
        vault.read_value(client, "identity.name").unwrap().unwrap(),
        json!("Aino")
    );
}

#[test]
fn a_store_with_data_but_no_key_record_is_refused() {
    let store = MemoryStore::new();
    let vault = open(&store, new_key().0);
    let client = vault.enrol_client().unwrap();
    vault
        .write(
            client,
            "identity.name",
            json!("Aino"),
            Author::Client(client),
            t(0),
        )
        .unwrap();
    drop(vault);
    // An attacker, or a botched restore, drops the master-key record.
    use omadata_vault::store::VaultStore;
    store.set_meta("master_key.active", None).unwrap();
    let err = Vault::open(
        Arc::new(store.clone()),
        Keyring::new(MasterKey::generate().unwrap()),
        catalogue(),
    )
    .unwrap_err();
    assert!(matches!(err, VaultError::MissingKeyRecord), "{err}");
}

#[test]
fn a_forged_key_check_is_detected() {
    use omadata_vault::store::VaultStore;
    let store = MemoryStore::new();
    let (key, hex) = new_key();
    drop(open(&store, same_key(&key, &hex)));
    let name = format!("master_key.check.{}", key.id());
    let mut token = store.meta(&name).unwrap().unwrap();
    token[5] ^= 1;
    store.set_meta(&name, Some(&token)).unwrap();
    let err = Vault::open(Arc::new(store.clone()), Keyring::new(key), catalogue()).unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");
}
