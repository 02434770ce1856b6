//! What makes an acknowledgement true after a power cut, short of cutting the power
//! (that is `tests/e2e/power_cut.rs`): every write ends in a data sync of sled's files,
//! concurrent writers share those syncs, and everything at rest is private.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omadata_consent::store::{ConsentStore, JournalRecord};
use omadata_store_sled::SledStore;
use omadata_vault::ClientId;
use omadata_vault::store::VaultStore;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Every entry under `dir` (itself included) with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let is_dir = path.is_dir();
        out.push((path.clone(), mode(&path), is_dir));
        if is_dir {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    out
}

fn assert_private(dir: &Path) {
    let all = modes(dir);
    assert!(all.len() > 3, "{all:?}");
    for (path, mode, is_dir) in all {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} is {mode:o}", path.display());
    }
}

/// Runs `f` with a umask that lets everyone read new files, as a careless service unit
/// might: the store must not depend on the umask.
fn with_loose_umask<T>(f: impl FnOnce() -> T) -> T {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let out = f();
    rustix::process::umask(old);
    out
}

#[test]
fn every_write_returns_only_after_a_data_sync_of_sleds_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db")).unwrap();
    let client = ClientId::random();
    let before = std::cell::Cell::new(store.data_syncs());
    let check = |what: &str| {
        let now = store.data_syncs();
        assert!(now > before.get(), "{what} returned without a data sync");
        before.set(now);
    };
    assert!(
        store
            .insert_record_version(client, "plan.follow_up", 1, b"sealed")
            .unwrap()
    );
    check("a record write");
    store
        .compare_and_swap_wrapped_key(client, None, Some(b"wrapped"))
        .unwrap();
    check("a key swap");
    store.set_meta("setting", Some(b"on")).unwrap();
    check("a setting");
    store
        .apply(vec![(b"g/1".to_vec(), Some(b"grant".to_vec()))])
        .unwrap();
    check("a consent batch");
    store.delete_client_records(client).unwrap();
    check("an erasure");
    // Bulk loading leaves the sync to the final flush.
    let bulk = store.for_bulk_load();
    bulk.insert_record_version(client, "plan.follow_up", 2, b"sealed")
        .unwrap();
    assert_eq!(store.data_syncs(), before.get());
    bulk.flush().unwrap();
    check("the end of a bulk load");
}

#[test]
fn concurrent_writers_share_data_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    const WRITERS: u64 = 64;
    const EACH: u64 = 10;
    let before = store.data_syncs();
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            let store = store.clone();
            scope.spawn(move || {
                let client = ClientId::random();
                for version in 1..=EACH {
                    assert!(
                        store
                            .insert_record_version(client, "plan.follow_up", version, &[7; 256])
                            .unwrap()
                    );
                }
            });
        }
    });
    let syncs = store.data_syncs() - before;
    assert!(syncs >= 1);
    assert!(
        syncs < WRITERS * EACH / 2,
        "{syncs} syncs for {} writes: writers do not share them",
        WRITERS * EACH
    );
}

#[test]
fn everything_at_rest_is_readable_only_by_the_service() {
    with_loose_umask(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("db");
        let client = ClientId::random();
        {
            let store = SledStore::open(&db).unwrap();
            store
                .insert_record_version(client, "plan.follow_up", 1, b"sealed")
                .unwrap();
            // A value too large for sled's log buffers lands in a blob file of its own.
            store
                .insert_record_version(client, "plan.follow_up", 2, &vec![9; 300 * 1024])
                .unwrap();
            store
                .apply(vec![(b"g/1".to_vec(), Some(b"grant".to_vec()))])
                .unwrap();
            let records: Vec<JournalRecord> = (0..3)
                .map(|i| JournalRecord {
                    bytes: vec![i; 40],
                    meta: [i; omadata_consent::store::JOURNAL_META],
                })
                .collect();
            // Enough records for stored tree nodes, in a node file of their own.
            store
                .journal_append(&records, &[(4, 0, [1; 32]), (5, 0, [2; 32])])
                .unwrap();
            store.save_journal_snapshot(b"heads").unwrap();
            assert!(
                std::fs::read_dir(db.join("blobs")).unwrap().count() > 0,
                "no blob file was written"
            );
            assert_private(&db);
            assert_eq!(mode(&dir.path().join("data")), 0o700);

            let mut copy = Vec::new();
            store.write_backup(&mut copy).unwrap();
            let restored = dir.path().join("restored");
            SledStore::restore(&restored, &mut copy.as_slice()).unwrap();
            assert_private(&restored);
        }
        // A backup file made the way `omadata backup` makes it.
        let file = dir.path().join("backup.omadata");
        omadata_store_sled::permissions::create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);

        // A store others can read (an older release, a loose umask) is made private on
        // open.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(db.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(db.join("audit/log"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let store = SledStore::open(&db).unwrap();
        assert_private(&db);
        drop(store);
    });
}
