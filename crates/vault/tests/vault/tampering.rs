use crate::{new_key, open, t};
use omadata_vault::memory::MemoryStore;
use omadata_vault::store::{VaultStore, keys};
use omadata_vault::{Author, VaultError};
use serde_json::json;

fn flipped(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut copy = bytes.to_vec();
    copy[bit / 8] ^= 1 << (bit % 8);
    copy
}

#[test]
fn every_flipped_bit_of_a_stored_record_is_detected() {
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
    let (key, sealed) = store.raw_records().pop().unwrap();
    for bit in 0..sealed.len() * 8 {
        store.put_raw_record(key.clone(), flipped(&sealed, bit));
        let err = vault.read(client, "identity.name").unwrap_err();
        assert!(
            matches!(err, VaultError::Tampered { .. }),
            "bit {bit}: {err}"
        );
        assert!(err.to_string().contains("identity.name"));
    }
    store.put_raw_record(key, sealed);
    assert_eq!(
        vault.read_value(client, "identity.name").unwrap().unwrap(),
        json!("Aino")
    );
}

#[test]
fn every_flipped_bit_of_a_wrapped_key_is_detected() {
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
    let wrapped = store.wrapped_key(client).unwrap().unwrap();
    for bit in 0..wrapped.len() * 8 {
        store.put_raw_wrapped_key(client, flipped(&wrapped, bit));
        let err = vault.read(client, "identity.name").unwrap_err();
        assert!(
            matches!(
                err,
                VaultError::Tampered { .. } | VaultError::MasterKeyNotLoaded { .. }
            ),
            "bit {bit}: {err}"
        );
    }
    store.put_raw_wrapped_key(client, wrapped[..wrapped.len() - 1].to_vec());
    assert!(matches!(
        vault.read(client, "identity.name"),
        Err(VaultError::Tampered { .. })
    ));
}

#[test]
fn ciphertext_moved_between_clients_fields_or_versions_is_detected() {
    let store = MemoryStore::new();
    let vault = open(&store, new_key().0);
    let alice = vault.enrol_client().unwrap();
    let bob = vault.enrol_client().unwrap();
    let a = Author::Client(alice);
    vault
        .write(alice, "identity.name", json!("Alice"), a, t(0))
        .unwrap();
    vault
        .write(alice, "identity.name", json!("Alice 2"), a, t(1))
        .unwrap();
    vault
        .write(alice, "identity.address", json!("Street 1"), a, t(2))
        .unwrap();
    vault
        .write(
            bob,
            "identity.name",
            json!("Bob"),
            Author::Client(bob),
            t(3),
        )
        .unwrap();
    let alice_v1 = store.record_versions(alice, "identity.name").unwrap()[0]
        .sealed
        .clone();

    // Into another client's record (same field and version).
    store.put_raw_record(keys::record(bob, "identity.name", 1), alice_v1.clone());
    assert!(matches!(
        vault.read(bob, "identity.name"),
        Err(VaultError::Tampered { .. })
    ));

    // Into another field of the same client.
    store.put_raw_record(keys::record(alice, "identity.address", 1), alice_v1.clone());
    assert!(matches!(
        vault.read(alice, "identity.address"),
        Err(VaultError::Tampered { .. })
    ));

    // Into another version of the same field (a rollback attempt).
    store.put_raw_record(keys::record(alice, "identity.name", 2), alice_v1);
    assert!(matches!(
        vault.read(alice, "identity.name"),
        Err(VaultError::Tampered { .. })
    ));

    // One client's wrapped data key given to another.
    let alice_key = store.wrapped_key(alice).unwrap().unwrap();
    store.put_raw_wrapped_key(bob, alice_key);
    assert!(matches!(
        vault.read(bob, "identity.name"),
        Err(VaultError::Tampered { .. })
    ));
}
