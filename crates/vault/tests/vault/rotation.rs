use crate::{catalogue, new_key, t};
use omadata_vault::memory::MemoryStore;
use omadata_vault::store::VaultStore;
use omadata_vault::{Author, ClientId, Keyring, MasterKey, Vault, VaultError, envelope};
use serde_json::json;
use std::sync::Arc;

fn key(hex: &str) -> MasterKey {
    MasterKey::from_hex("test", hex).unwrap()
}

fn vault_with(store: &MemoryStore, keyring: Keyring) -> Result<Vault, VaultError> {
    Vault::open(Arc::new(store.clone()), keyring, catalogue())
}

/// Ten clients with one record each, sealed under `old`.
fn populated(store: &MemoryStore, old: &str) -> Vec<ClientId> {
    let vault = vault_with(store, Keyring::new(key(old))).unwrap();
    (0..10)
        .map(|i| {
            let client = vault.enrol_client().unwrap();
            vault
                .write(
                    client,
                    "identity.name",
                    json!(format!("client {i}")),
                    Author::Client(client),
                    t(i),
                )
                .unwrap();
            client
        })
        .collect()
}

fn wrapped_under(store: &MemoryStore, client: ClientId) -> String {
    let wrapped = store.wrapped_key(client).unwrap().unwrap();
    envelope::wrapped_key_master_id(&wrapped)
        .unwrap()
        .to_string()
}

fn assert_all_readable(vault: &Vault, clients: &[ClientId]) {
    for (i, client) in clients.iter().enumerate() {
        let record = vault.read(*client, "identity.name").unwrap().unwrap();
        assert_eq!(record.parse_value().unwrap(), json!(format!("client {i}")));
    }
}

#[test]
fn rotation_rewraps_every_key_and_reencrypts_no_record() {
    let store = MemoryStore::new();
    let (_, old_hex) = new_key();
    let (new, new_hex) = new_key();
    let clients = populated(&store, &old_hex);
    let records_before = store.raw_records();

    let vault = vault_with(&store, Keyring::new(key(&old_hex))).unwrap();
    let progress = vault.rotate_master_key(key(&new_hex)).unwrap();
    assert!(progress.finished);
    assert_eq!(progress.rewrapped, 10);
    assert_eq!(vault.active_master_key(), *new.id());
    assert_all_readable(&vault, &clients);
    assert_eq!(
        store.raw_records(),
        records_before,
        "records must not be re-encrypted"
    );
    for client in &clients {
        assert_eq!(wrapped_under(&store, *client), new.id().to_string());
    }
    drop(vault);

    // After the rotation the new key alone opens the store and the old key is refused.
    let vault = vault_with(&store, Keyring::new(key(&new_hex))).unwrap();
    assert_all_readable(&vault, &clients);
    let err = vault_with(&store, Keyring::new(key(&old_hex))).unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");
    assert!(err.to_string().contains(new.id().as_str()));
}

#[test]
fn an_interrupted_rotation_reads_throughout_and_resumes() {
    let store = MemoryStore::new();
    let (old, old_hex) = new_key();
    let (new, new_hex) = new_key();
    let clients = populated(&store, &old_hex);

    let vault = vault_with(&store, Keyring::new(key(&old_hex))).unwrap();
    vault.begin_rotation(key(&new_hex)).unwrap();
    let step = vault.rotation_step(4).unwrap();
    assert_eq!((step.rewrapped, step.finished), (4, false));
    // Mid-rotation: mixed wrappings, every record readable, new clients use the new key.
    assert_all_readable(&vault, &clients);
    let late = vault.enrol_client().unwrap();
    assert_eq!(wrapped_under(&store, late), new.id().to_string());
    drop(vault); // the process dies here

    let under_new = clients
        .iter()
        .filter(|c| wrapped_under(&store, **c) == new.id().to_string())
        .count();
    assert_eq!(under_new, 4);

    // Restarting with only one of the two keys is refused, naming both.
    for lone in [&old_hex, &new_hex] {
        let err = vault_with(&store, Keyring::new(key(lone))).unwrap_err();
        assert!(
            matches!(err, VaultError::RotationKeysMissing { .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains(old.id().as_str()) && message.contains(new.id().as_str()));
    }

    let vault = vault_with(&store, Keyring::new(key(&old_hex)).with(key(&new_hex))).unwrap();
    assert_eq!(vault.rotation_target(), Some(new.id().clone()));
    assert_all_readable(&vault, &clients);
    // Starting a rotation to a third key while this one is unfinished is refused.
    let third = MasterKey::generate().unwrap();
    assert!(matches!(
        vault.begin_rotation(third),
        Err(VaultError::RotationInProgress { .. })
    ));
    let done = vault.resume_rotation().unwrap();
    assert!(done.finished);
    assert_eq!(done.rewrapped, 6);
    assert_all_readable(&vault, &clients);
    drop(vault);

    let vault = vault_with(&store, Keyring::new(key(&new_hex))).unwrap();
    assert_all_readable(&vault, &clients);
    assert_eq!(vault.rotation_target(), None);
}

#[test]
fn a_rotation_that_stopped_after_switching_keys_finishes_at_start() {
    let store = MemoryStore::new();
    let (_, old_hex) = new_key();
    let (new, new_hex) = new_key();
    let clients = populated(&store, &old_hex);
    let vault = vault_with(&store, Keyring::new(key(&old_hex))).unwrap();
    vault.rotate_master_key(key(&new_hex)).unwrap();
    drop(vault);
    // Simulate a crash between switching the active key and clearing the marker.
    let marker = format!(r#"{{"from":"{}","to":"{}"}}"#, key(&old_hex).id(), new.id());
    store
        .set_meta("master_key.rotation", Some(marker.as_bytes()))
        .unwrap();
    let vault = vault_with(&store, Keyring::new(key(&new_hex))).unwrap();
    assert_eq!(vault.rotation_target(), None);
    assert_all_readable(&vault, &clients);
    assert_eq!(store.meta("master_key.rotation").unwrap(), None);
}

#[test]
fn rotating_to_the_active_key_is_refused() {
    let store = MemoryStore::new();
    let (_, hex) = new_key();
    let vault = vault_with(&store, Keyring::new(key(&hex))).unwrap();
    assert!(vault.rotate_master_key(key(&hex)).is_err());
    assert_eq!(vault.rotation_target(), None);
}
