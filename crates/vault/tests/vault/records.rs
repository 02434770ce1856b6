use crate::{new_key, open, t};
use omadata_vault::memory::MemoryStore;
use omadata_vault::store::VaultStore;
use omadata_vault::{Author, ProfessionalId, VaultError};
use serde_json::json;

#[test]
fn write_read_and_history_keep_author_and_time() {
    let store = MemoryStore::new();
    let vault = open(&store, new_key().0);
    let client = vault.enrol_client().unwrap();
    let pro = ProfessionalId::random();

    let first = vault
        .write(
            client,
            "plan.agreed_actions",
            json!("Apply to vocational school"),
            Author::Client(client),
            t(0),
        )
        .unwrap();
    assert_eq!(first.version, 1);
    let second = vault
        .write(
            client,
            "plan.agreed_actions",
            json!("Visit the school on Monday"),
            Author::Professional(pro),
            t(60),
        )
        .unwrap();
    assert_eq!(second.version, 2);

    let current = vault.read(client, "plan.agreed_actions").unwrap().unwrap();
    assert_eq!(
        current.parse_value().unwrap(),
        json!("Visit the school on Monday")
    );
    assert_eq!(current.author, Author::Professional(pro));
    assert_eq!(current.written_at, t(60));
    assert_eq!(current.version, 2);

    let history = vault.history(client, "plan.agreed_actions").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[0].parse_value().unwrap(),
        json!("Apply to vocational school")
    );
    assert_eq!(history[0].author, Author::Client(client));
    assert_eq!(history[0].written_at, t(0));
    assert_eq!(history[1], current);

    assert_eq!(vault.read(client, "identity.name").unwrap(), None);
    assert!(vault.history(client, "identity.name").unwrap().is_empty());
}

#[test]
fn current_records_and_all_versions_cover_every_field() {
    let store = MemoryStore::new();
    let vault = open(&store, new_key().0);
    let client = vault.enrol_client().unwrap();
    let other = vault.enrol_client().unwrap();
    let me = Author::Client(client);
    vault
        .write(client, "identity.name", json!("Aino"), me, t(0))
        .unwrap();
    vault
        .write(client, "identity.name", json!("Aino V."), me, t(1))
        .unwrap();
    vault
        .write(client, "identity.languages", json!(["suomi"]), me, t(2))
        .unwrap();
    vault
        .write(
            other,
            "identity.name",
            json!("Other"),
            Author::Client(other),
            t(3),
        )
        .unwrap();

    let current = vault.current_records(client).unwrap();
    let pairs: Vec<(&str, u64)> = current
        .iter()
        .map(|r| (r.path.as_str(), r.version))
        .collect();
    assert_eq!(pairs, vec![("identity.languages", 1), ("identity.name", 2)]);
    assert_eq!(current[1].parse_value().unwrap(), json!("Aino V."));
    assert_eq!(vault.all_versions(client).unwrap().len(), 3);
}

#[test]
fn refused_writes_change_nothing() {
    let store = MemoryStore::new();
    let vault = open(&store, new_key().0);
    let client = vault.enrol_client().unwrap();
    let me = Author::Client(client);
    vault
        .write(client, "identity.name", json!("Aino"), me, t(0))
        .unwrap();
    let before = store.raw_records();

    let unknown = vault
        .write(client, "identity.shoe_size", json!("42"), me, t(1))
        .unwrap_err();
    assert!(
        matches!(unknown, VaultError::UnknownField { .. }),
        "{unknown}"
    );
    assert!(unknown.to_string().contains("identity.shoe_size"));
    let too_long = vault
        .write(client, "identity.name", json!("x".repeat(201)), me, t(1))
        .unwrap_err();
    assert!(
        too_long.to_string().contains("at most 200 characters"),
        "{too_long}"
    );
    let wrong_type = vault
        .write(client, "identity.name", json!({"first": "A"}), me, t(1))
        .unwrap_err();
    assert!(matches!(wrong_type, VaultError::InvalidValue { .. }));
    // Professional-only field written by the client, client-only field by a professional,
    // and one client writing into another's record.
    let pro = Author::Professional(ProfessionalId::random());
    assert!(matches!(
        vault.write(client, "encounters.visits", json!("x"), me, t(1)),
        Err(VaultError::NotAnAuthor { .. })
    ));
    assert!(matches!(
        vault.write(client, "needs.own_goals", json!("x"), pro, t(1)),
        Err(VaultError::NotAnAuthor { .. })
    ));
    let intruder = vault.enrol_client().unwrap();
    assert!(matches!(
        vault.write(
            client,
            "identity.name",
            json!("x"),
            Author::Client(intruder),
            t(1)
        ),
        Err(VaultError::NotAnAuthor { .. })
    ));
    let stranger = omadata_vault::ClientId::random();
    assert!(matches!(
        vault.write(
            stranger,
            "identity.name",
            json!("x"),
            Author::Client(stranger),
            t(1)
        ),
        Err(VaultError::UnknownClient(_))
    ));

    assert_eq!(store.raw_records(), before);
    assert_eq!(vault.history(client, "identity.name").unwrap().len(), 1);
}

#[test]
fn nothing_readable_is_stored_in_clear() {
    let store = MemoryStore::new();
    let vault = open(&store, new_key().0);
    let client = vault.enrol_client().unwrap();
    let pro = ProfessionalId::random();
    vault
        .write(
            client,
            "health.status",
            json!("Diagnosis: asthma"),
            Author::Professional(pro),
            t(0),
        )
        .unwrap();
    for (_, sealed) in store.raw_records() {
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("asthma"));
        assert!(!text.contains(&pro.to_string()));
    }
}

#[test]
fn concurrent_writers_get_distinct_versions() {
    let store = MemoryStore::new();
    let vault = std::sync::Arc::new(open(&store, new_key().0));
    let client = vault.enrol_client().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let vault = vault.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    vault
                        .write(
                            client,
                            "plan.follow_up",
                            json!(format!("{n}-{i}")),
                            Author::Client(client),
                            t(i),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let versions: Vec<u64> = vault
        .history(client, "plan.follow_up")
        .unwrap()
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, (1..=100).collect::<Vec<_>>());
    assert!(store.holds_client_data().unwrap());
}

#[test]
fn old_versions_are_pruned_so_one_field_cannot_grow_storage_without_limit() {
    use omadata_vault::MAX_VERSIONS;
    let store = omadata_vault::memory::MemoryStore::new();
    let (_, hex) = crate::new_key();
    let vault = omadata_vault::Vault::open(
        std::sync::Arc::new(store.clone()),
        omadata_vault::Keyring::new(omadata_vault::MasterKey::from_hex("k", &hex).unwrap()),
        crate::catalogue(),
    )
    .unwrap();
    let client = vault.enrol_client().unwrap();
    let writes = 3 * MAX_VERSIONS;
    for i in 0..writes {
        let record = vault
            .write(
                client,
                "identity.name",
                serde_json::json!(format!("name {i}")),
                omadata_vault::Author::Client(client),
                crate::t(i as i64),
            )
            .unwrap();
        // Never refused, and numbered on.
        assert_eq!(record.version, i + 1);
        let kept = store.raw_records().len() as u64;
        assert!(kept <= MAX_VERSIONS + 16, "{kept} versions kept after {i}");
    }
    let history = vault.history(client, "identity.name").unwrap();
    assert!(history.len() as u64 >= MAX_VERSIONS);
    assert_eq!(history.last().unwrap().version, writes);
    // The newest versions are kept, contiguous.
    for pair in history.windows(2) {
        assert_eq!(pair[0].version + 1, pair[1].version);
    }
    assert_eq!(
        vault.read_value(client, "identity.name").unwrap(),
        Some(serde_json::json!(format!("name {}", writes - 1)))
    );
}
