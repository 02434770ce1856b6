//! The vault on the real embedded store: persistence, tampering with the database files,
//! wrong keys, rotation and erasure across restarts, and agreement with the in-memory store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use omadata_store_sled::SledStore;
use omadata_vault::memory::MemoryStore;
use omadata_vault::store::VaultStore;
use omadata_vault::{Author, Catalogue, ClientId, Keyring, MasterKey, Vault, VaultError};
use proptest::prelude::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

fn key_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    MasterKey::generate()
        .unwrap()
        .write_new_file(&path)
        .unwrap();
    path
}

fn open_vault(db: &Path, keys: &[&Path]) -> Result<Vault, VaultError> {
    let mut keyring = Keyring::new(MasterKey::from_file(keys[0])?);
    for extra in &keys[1..] {
        keyring.insert(MasterKey::from_file(extra)?);
    }
    let store = Arc::new(SledStore::open(db)?);
    Vault::open(store, keyring, Arc::new(Catalogue::builtin()?))
}

/// Opens the database directly, as an attacker with the files would; waits for the
/// vault's handle to release sled's lock.
fn open_raw(db: &Path) -> sled::Db {
    for _ in 0..50 {
        if let Ok(raw) = sled::open(db) {
            return raw;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sled::open(db).unwrap()
}

/// Flips one bit in every value of a sled tree, closing the database afterwards.
fn flip_bit_in_tree(db: &Path, tree: &str, byte: usize) {
    let raw = open_raw(db);
    let tree = raw.open_tree(tree).unwrap();
    let entries: Vec<_> = tree.iter().map(Result::unwrap).collect();
    assert!(!entries.is_empty());
    for (key, value) in entries {
        let mut value = value.to_vec();
        let at = byte.min(value.len() - 1);
        value[at] ^= 0x10;
        tree.insert(key, value).unwrap();
    }
    raw.flush().unwrap();
}

#[test]
fn records_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "master.key");
    let db = dir.path().join("db");
    let client = {
        let vault = open_vault(&db, &[&key]).unwrap();
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
        vault
            .write(
                client,
                "identity.name",
                json!("Aino V."),
                Author::Client(client),
                t(1),
            )
            .unwrap();
        client
    };
    let vault = open_vault(&db, &[&key]).unwrap();
    let history = vault.history(client, "identity.name").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].parse_value().unwrap(), json!("Aino V."));
}

#[test]
fn tampering_with_the_database_files_is_detected() {
    for (tree, byte) in [
        ("vault.records", 0),
        ("vault.records", 14),
        ("vault.records", 40),
        ("vault.wrapped_keys", 3),
        ("vault.wrapped_keys", 30),
        ("vault.wrapped_keys", 76),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path(), "master.key");
        let db = dir.path().join("db");
        let client = {
            let vault = open_vault(&db, &[&key]).unwrap();
            let client = vault.enrol_client().unwrap();
            vault
                .write(
                    client,
                    "situation.debts",
                    json!("2000 euros"),
                    Author::Client(client),
                    t(0),
                )
                .unwrap();
            client
        };
        flip_bit_in_tree(&db, tree, byte);
        let vault = open_vault(&db, &[&key]).unwrap();
        let err = vault.read(client, "situation.debts").unwrap_err();
        assert!(
            matches!(
                err,
                VaultError::Tampered { .. } | VaultError::MasterKeyNotLoaded { .. }
            ),
            "{tree} byte {byte}: {err}"
        );
    }
}

#[test]
fn wrong_or_missing_master_key_fails_clearly_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "master.key");
    let db = dir.path().join("db");
    {
        let vault = open_vault(&db, &[&key]).unwrap();
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
    }
    let missing = dir.path().join("no-such.key");
    let err = open_vault(&db, &[&missing]).unwrap_err();
    assert!(matches!(err, VaultError::MasterKeyMissing(_)), "{err}");
    assert!(err.to_string().contains("no-such.key"));
    assert!(
        !missing.exists(),
        "a missing key file must never be created silently"
    );

    let wrong = key_file(dir.path(), "wrong.key");
    let err = open_vault(&db, &[&wrong]).unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");
    // Still opens with the right key.
    open_vault(&db, &[&key]).unwrap();
}

#[test]
fn rotation_interrupted_on_disk_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old = key_file(dir.path(), "old.key");
    let new = key_file(dir.path(), "new.key");
    let db = dir.path().join("db");
    let clients: Vec<ClientId> = {
        let vault = open_vault(&db, &[&old]).unwrap();
        let clients: Vec<ClientId> = (0..6).map(|_| vault.enrol_client().unwrap()).collect();
        for (i, c) in clients.iter().enumerate() {
            vault
                .write(
                    *c,
                    "identity.name",
                    json!(i.to_string()),
                    Author::Client(*c),
                    t(0),
                )
                .unwrap();
        }
        vault
            .begin_rotation(MasterKey::from_file(&new).unwrap())
            .unwrap();
        assert!(!vault.rotation_step(2).unwrap().finished);
        clients
    };
    let err = open_vault(&db, &[&new]).unwrap_err();
    assert!(
        matches!(err, VaultError::RotationKeysMissing { .. }),
        "{err}"
    );
    {
        let vault = open_vault(&db, &[&old, &new]).unwrap();
        for (i, c) in clients.iter().enumerate() {
            assert_eq!(
                vault.read_value(*c, "identity.name").unwrap().unwrap(),
                json!(i.to_string())
            );
        }
        assert!(vault.resume_rotation().unwrap().finished);
    }
    let vault = open_vault(&db, &[&new]).unwrap();
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(
            vault.read_value(*c, "identity.name").unwrap().unwrap(),
            json!(i.to_string())
        );
    }
    drop(vault);
    let err = open_vault(&db, &[&old]).unwrap_err();
    assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn erasure_on_disk_leaves_a_backup_unreadable_once_the_old_master_key_is_retired() {
    let dir = tempfile::tempdir().unwrap();
    let old = key_file(dir.path(), "old.key");
    let new = key_file(dir.path(), "new.key");
    let db = dir.path().join("db");
    let backup = dir.path().join("backup");
    let (gone, stays) = {
        let vault = open_vault(&db, &[&old]).unwrap();
        let gone = vault.enrol_client().unwrap();
        let stays = vault.enrol_client().unwrap();
        for c in [gone, stays] {
            vault
                .write(c, "health.status", json!("secret"), Author::Client(c), t(0))
                .unwrap();
        }
        (gone, stays)
    };
    copy_dir(&db, &backup);
    {
        let vault = open_vault(&db, &[&old]).unwrap();
        let erasure = vault.erase_client(gone).unwrap();
        assert!(erasure.key_destroyed);
        assert_eq!(erasure.records_deleted, 1);
        vault
            .rotate_master_key(MasterKey::from_file(&new).unwrap())
            .unwrap();
    }
    std::fs::remove_file(&old).unwrap(); // the old master key is destroyed

    let vault = open_vault(&db, &[&new]).unwrap();
    assert!(matches!(
        vault.read(gone, "health.status"),
        Err(VaultError::UnknownClient(_))
    ));
    assert_eq!(
        vault.read_value(stays, "health.status").unwrap().unwrap(),
        json!("secret")
    );
    drop(vault);
    // The backup copy is sealed under the destroyed key: the new key cannot open it.
    assert!(matches!(
        open_vault(&backup, &[&new]),
        Err(VaultError::WrongMasterKey { .. })
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        client: usize,
        path: usize,
        text: String,
    },
    Erase {
        client: usize,
    },
    Read {
        client: usize,
        path: usize,
    },
    /// The current value only: the newest version, which the sled store keeps in memory.
    ReadCurrent {
        client: usize,
        path: usize,
    },
}

const PATHS: [&str; 3] = ["identity.name", "plan.follow_up", "situation.housing"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, "[a-z ]{0,30}").prop_map(|(client, path, text)| Op::Write { client, path, text }),
        1 => (0..3usize).prop_map(|client| Op::Erase { client }),
        2 => (0..3usize, 0..3usize).prop_map(|(client, path)| Op::Read { client, path }),
        3 => (0..3usize, 0..3usize).prop_map(|(client, path)| Op::ReadCurrent { client, path }),
    ]
}

fn outcome<T: std::fmt::Debug>(result: Result<T, VaultError>) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(err) => format!("error: {err}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// The sled store and the in-memory store behave the same under any sequence of
    /// writes, reads and erasures.
    #[test]
    fn sled_and_memory_stores_agree(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let sled_store: Arc<dyn VaultStore> = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
        let memory_store: Arc<dyn VaultStore> = Arc::new(MemoryStore::new());
        let key = MasterKey::generate().unwrap();
        let hex_dir = tempfile::tempdir().unwrap();
        key.write_new_file(&hex_dir.path().join("k")).unwrap();
        let catalogue = Arc::new(Catalogue::builtin().unwrap());
        let vaults: Vec<Vault> = [sled_store, memory_store]
            .into_iter()
            .map(|store| Vault::open(store, Keyring::new(MasterKey::from_file(&hex_dir.path().join("k")).unwrap()), catalogue.clone()).unwrap())
            .collect();
        let clients: Vec<ClientId> = (0..3).map(|_| ClientId::random()).collect();
        for vault in &vaults {
            for c in &clients {
                prop_assert!(vault.enrol(*c).unwrap());
            }
        }
        for (step, op) in ops.iter().enumerate() {
            let results: Vec<String> = vaults
                .iter()
                .map(|vault| match op {
                    Op::Write { client, path, text } => outcome(vault.write(clients[*client], PATHS[*path], json!(text), Author::Client(clients[*client]), t(step as i64))),
                    Op::Erase { client } => outcome(vault.erase_client(clients[*client])),
                    Op::Read { client, path } => outcome(vault.history(clients[*client], PATHS[*path])),
                    Op::ReadCurrent { client, path } => outcome(vault.read_many(clients[*client], &[PATHS[*path]])),
                })
                .collect();
            prop_assert_eq!(&results[0], &results[1], "step {} {:?}", step, op);
        }
    }
}

mod consent_store {
    use super::*;
    use omadata_consent::store::{ConsentStore, MemoryConsentStore};

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(0xffu8), any::<u8>()],
            0..4,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

        /// Scans and batches behave identically on sled and in memory, at prefix edges
        /// (0x00, 0xff), in both directions, from any start.
        #[test]
        fn sled_and_memory_consent_stores_agree(
            batches in proptest::collection::vec(proptest::collection::vec((bytes(), proptest::option::of(bytes())), 1..6), 1..6),
            scans in proptest::collection::vec((bytes(), proptest::option::of(bytes()), any::<bool>(), 0..5usize), 1..10),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let sled_store = SledStore::open(&dir.path().join("db")).unwrap();
            let memory = MemoryConsentStore::new();
            for batch in batches {
                sled_store.apply(batch.clone()).unwrap();
                memory.apply(batch).unwrap();
            }
            for (prefix, from, reverse, limit) in scans {
                let a = sled_store.scan(&prefix, from.as_deref(), reverse, limit).unwrap();
                let b = memory.scan(&prefix, from.as_deref(), reverse, limit).unwrap();
                prop_assert_eq!(&a, &b, "prefix {:?} from {:?} reverse {}", prefix, from, reverse);
                prop_assert!(a.iter().all(|(k, _)| k.starts_with(&prefix)));
                prop_assert_eq!(sled_store.get(&prefix).unwrap(), memory.get(&prefix).unwrap());
            }
        }
    }

    #[test]
    fn consent_batches_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(&dir.path().join("db")).unwrap();
            store
                .apply(vec![
                    (b"g/1".to_vec(), Some(b"one".to_vec())),
                    (b"g/2".to_vec(), Some(b"two".to_vec())),
                ])
                .unwrap();
            store.apply(vec![(b"g/1".to_vec(), None)]).unwrap();
        }
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.get(b"g/1").unwrap(), None);
        assert_eq!(
            store.scan(b"g/", None, false, 10).unwrap(),
            vec![(b"g/2".to_vec(), b"two".to_vec())]
        );
    }
}

fn all_entries(db: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let raw = open_raw(db);
    let mut out = Vec::new();
    for name in ["meta", "vault.wrapped_keys", "vault.records", "consent"] {
        for item in raw.open_tree(name).unwrap().iter() {
            let (k, v) = item.unwrap();
            out.push((name.to_owned(), k.to_vec(), v.to_vec()));
        }
    }
    out
}

#[test]
fn a_backup_of_a_live_store_is_consistent_and_restores_whole() {
    use omadata_store_sled::backup::BackupError;
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "master.key");
    let db = dir.path().join("db");
    let store = Arc::new(SledStore::open(&db).unwrap());
    let vault = Arc::new(
        Vault::open(
            store.clone(),
            Keyring::new(MasterKey::from_file(&key).unwrap()),
            Arc::new(Catalogue::builtin().unwrap()),
        )
        .unwrap(),
    );
    // Writers keep writing while the backup is taken; each records what was acknowledged.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (vault, stop, acknowledged) = (vault.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let client = vault.enrol_client().unwrap();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Acquire) || i < 20 {
                    let value = json!(format!("writer {w} note {i}"));
                    vault
                        .write(
                            client,
                            "plan.follow_up",
                            value.clone(),
                            Author::Client(client),
                            t(0),
                        )
                        .unwrap();
                    acknowledged.lock().push((client, value));
                    i += 1;
                }
            })
        })
        .collect();
    while acknowledged.lock().len() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before: Vec<_> = acknowledged.lock().clone();
    let mut copy = Vec::new();
    let summary = store.write_backup(&mut copy).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Release);
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(summary.bytes, copy.len() as u64);
    assert_eq!(
        SledStore::check_backup(&mut copy.as_slice()).unwrap(),
        summary
    );

    let restored_db = dir.path().join("restored");
    let restored = SledStore::restore(&restored_db, &mut copy.as_slice()).unwrap();
    assert_eq!(restored, summary);
    assert!(matches!(
        SledStore::restore(&restored_db, &mut copy.as_slice()),
        Err(BackupError::TargetExists(_))
    ));
    let restored_vault = open_vault(&restored_db, &[&key]).unwrap();
    for (client, value) in &before {
        let history = restored_vault.history(*client, "plan.follow_up").unwrap();
        assert!(
            history.iter().any(|v| &v.parse_value().unwrap() == value),
            "acknowledged before the backup but missing: {value}"
        );
    }
    drop(restored_vault);
    assert_eq!(all_entries(&restored_db).len() as u64, summary.records);

    // Damaged or cut-short copies are refused and leave no directory behind.
    let target = dir.path().join("from-damaged");
    for at in [0, 20, copy.len() / 2, copy.len() - 40, copy.len() - 1] {
        let mut damaged = copy.clone();
        damaged[at] ^= 0x01;
        assert!(
            SledStore::restore(&target, &mut damaged.as_slice()).is_err(),
            "flip at {at}"
        );
        assert!(!target.exists());
    }
    for len in [0, 10, copy.len() / 3, copy.len() - 1] {
        assert!(
            SledStore::restore(&target, &mut &copy[..len]).is_err(),
            "cut at {len}"
        );
        assert!(!target.exists());
    }
    let mut longer = copy.clone();
    longer.push(0);
    assert!(SledStore::check_backup(&mut longer.as_slice()).is_err());
}

fn journal_record(i: u64) -> omadata_consent::store::JournalRecord {
    omadata_consent::store::JournalRecord {
        bytes: format!("{{\"entry\":{i}}}").into_bytes(),
        meta: [i as u8; 32],
    }
}

#[test]
fn the_audit_journal_survives_cut_appends_and_lost_derived_files() {
    use omadata_consent::store::ConsentStore;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let audit = db.join("audit");
    let nodes = |i: u64| vec![(4u32, i, [i as u8 + 1; 32])];
    {
        let store = SledStore::open(&db).unwrap();
        for i in 0..10u64 {
            store
                .journal_append(&[journal_record(i)], &nodes(i))
                .unwrap();
        }
        assert_eq!(store.journal_len().unwrap(), 10);
    }
    let all_there = |store: &SledStore, len: u64| {
        assert_eq!(store.journal_len().unwrap(), len);
        for i in 0..len {
            assert_eq!(store.journal_record(i).unwrap().unwrap(), journal_record(i));
            assert_eq!(store.journal_node(4, i).unwrap(), Some([i as u8 + 1; 32]));
        }
        assert_eq!(store.journal_record(len).unwrap(), None);
    };
    // An append cut short: half a frame at the end of the log.
    let log = audit.join("log");
    let whole = std::fs::metadata(&log).unwrap().len();
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[1, 0, 0, 0, 40, 9, 9]);
    std::fs::write(&log, &bytes).unwrap();
    {
        let store = SledStore::open(&db).unwrap();
        all_there(&store, 10);
        assert_eq!(std::fs::metadata(&log).unwrap().len(), whole, "cut back");
        // The next append goes where the cut one was.
        store
            .journal_append(&[journal_record(10)], &nodes(10))
            .unwrap();
        all_there(&store, 11);
    }
    // The derived files lost (never synced before a crash): rebuilt from the log.
    for name in ["slots", "synced", "nodes-04"] {
        std::fs::remove_file(audit.join(name)).unwrap();
    }
    {
        let store = SledStore::open(&db).unwrap();
        all_there(&store, 11);
    }
    // A frame that fails its check (here the last append's end) drops that append whole.
    let mut bytes = std::fs::read(&log).unwrap();
    let last_byte = bytes.len() - 1;
    bytes[last_byte] ^= 1;
    std::fs::write(&log, &bytes).unwrap();
    std::fs::remove_file(audit.join("synced")).unwrap();
    let store = SledStore::open(&db).unwrap();
    assert_eq!(
        store.journal_len().unwrap(),
        10,
        "the damaged last append dropped"
    );
    for i in 0..10 {
        assert_eq!(store.journal_record(i).unwrap().unwrap(), journal_record(i));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Whatever happens to the log's bytes, opening never fails or panics, and keeps
    /// exactly the appends before the first damaged one.
    #[test]
    fn a_damaged_audit_journal_keeps_the_whole_appends_before_the_damage(
        appends in 1..12u64,
        damage_at in any::<prop::sample::Index>(),
        damage in proptest::collection::vec(any::<u8>(), 1..40),
        truncate in any::<bool>(),
    ) {
        use omadata_store_sled::journal::Journal;
        let dir = tempfile::tempdir().unwrap();
        let mut ends = Vec::new();
        {
            let journal = Journal::open(dir.path()).unwrap();
            for i in 0..appends {
                journal.append(&[journal_record(2 * i), journal_record(2 * i + 1)], &[], true).unwrap();
                ends.push(std::fs::metadata(dir.path().join("log")).unwrap().len());
            }
        }
        let log = dir.path().join("log");
        let mut bytes = std::fs::read(&log).unwrap();
        let at = damage_at.index(bytes.len());
        if truncate {
            bytes.truncate(at);
        } else {
            for (offset, b) in damage.iter().enumerate() {
                if let Some(byte) = bytes.get_mut(at + offset) {
                    *byte ^= b | 1;
                }
            }
        }
        std::fs::write(&log, &bytes).unwrap();
        // The derived files say nothing about the damage: rebuild from the whole log.
        std::fs::remove_file(dir.path().join("synced")).unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let whole_appends = ends.iter().filter(|end| **end <= at as u64).count() as u64;
        prop_assert_eq!(journal.len(), 2 * whole_appends);
        for seq in 0..journal.len() {
            prop_assert_eq!(journal.record(seq).unwrap().unwrap(), journal_record(seq));
        }
    }
}

#[test]
fn pruning_removes_exactly_the_older_versions_of_one_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db")).unwrap();
    let client = ClientId::random();
    for version in 1..=10u64 {
        for path in ["identity.name", "identity.phone"] {
            assert!(
                store
                    .insert_record_version(client, path, version, b"sealed")
                    .unwrap()
            );
        }
    }
    assert_eq!(
        store
            .prune_record_versions(client, "identity.name", 7)
            .unwrap(),
        6
    );
    let kept: Vec<u64> = store
        .record_versions(client, "identity.name")
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, (7..=10).collect::<Vec<_>>());
    assert_eq!(
        store
            .latest_record_version(client, "identity.name")
            .unwrap()
            .unwrap()
            .version,
        10
    );
    assert_eq!(
        store
            .record_versions(client, "identity.phone")
            .unwrap()
            .len(),
        10
    );
}
