use crate::*;
use omadata_consent::audit::{
    AuditEntry, AuditEvent, AuditFilter, Checkpoint, LogInvalid, verify_entries, verify_extension,
};
use omadata_consent::{canonical, merkle};

/// A log of `n` access entries over two clients and two professionals, with a
/// checkpoint after the first half and one at the end.
type Log = (
    Fixture,
    Vec<Vec<u8>>,
    Vec<Checkpoint>,
    [ClientId; 2],
    [Grantee; 2],
);

fn log(n: u64) -> Log {
    let f = fixture();
    let clients = [client(), client()];
    let pros = [
        professional(Profession::YouthWork),
        professional(Profession::YouthWork),
    ];
    let mut checkpoints = Vec::new();
    for i in 0..n {
        let pro = &pros[(i % 2) as usize];
        let c = clients[(i / 2 % 2) as usize];
        f.consent
            .authorize(
                pro.professional,
                pro.organisation.id,
                c,
                &["identity.name".to_string()],
                Action::Read,
                t(i as i64),
            )
            .unwrap();
        if i + 1 == n / 2 {
            checkpoints.push(f.consent.audit().checkpoint(t(i as i64)).unwrap());
        }
    }
    checkpoints.push(f.consent.audit().checkpoint(t(n as i64)).unwrap());
    let entries = f.consent.audit().raw_entries(0, usize::MAX).unwrap();
    assert_eq!(entries.len() as u64, n);
    (f, entries, checkpoints, clients, pros)
}

fn verify(
    entries: &[Vec<u8>],
    checkpoints: &[Checkpoint],
    f: &Fixture,
) -> Result<omadata_consent::audit::LogReport, LogInvalid> {
    verify_entries(
        entries.iter().map(Vec::as_slice),
        checkpoints,
        &f.consent.jwks(),
    )
}

fn reencode(bytes: &[u8], change: impl FnOnce(&mut AuditEntry)) -> Vec<u8> {
    let mut entry: AuditEntry = serde_json::from_slice(bytes).unwrap();
    change(&mut entry);
    canonical::to_vec(&entry).unwrap()
}

#[test]
fn an_intact_log_verifies_in_store_and_from_export() {
    let (f, entries, checkpoints, _, _) = log(37);
    let report = verify(&entries, &checkpoints, &f).unwrap();
    assert_eq!(report.entries, 37);
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.unanchored_entries, 0);
    let stored = f.consent.audit().verify(&f.consent.jwks()).unwrap();
    assert_eq!(stored, report);
    assert_eq!(
        f.consent
            .audit()
            .latest_checkpoint()
            .unwrap()
            .unwrap()
            .tree_size,
        37
    );
}

#[test]
fn every_kind_of_tampering_is_detected() {
    let (f, entries, checkpoints, _, _) = log(40);

    // Modified: an access turned from deny to permit, or a field renamed.
    let mut modified = entries.clone();
    modified[7] = reencode(&entries[7], |e| e.fields = vec!["health.status".into()]);
    assert!(matches!(
        verify(&modified, &checkpoints, &f),
        Err(LogInvalid::RootMismatch { size: 20 })
    ));
    let mut late = entries.clone();
    late[33] = reencode(&entries[33], |e| e.at = t(0));
    assert!(matches!(
        verify(&late, &checkpoints, &f),
        Err(LogInvalid::RootMismatch { size: 40 })
    ));

    // Deleted, and deleted with the rest renumbered to hide the gap.
    let mut deleted = entries.clone();
    deleted.remove(12);
    assert!(matches!(
        verify(&deleted, &checkpoints, &f),
        Err(LogInvalid::OutOfOrder { position: 12, .. })
    ));
    let renumbered: Vec<Vec<u8>> = deleted
        .iter()
        .enumerate()
        .map(|(i, b)| reencode(b, |e| e.seq = i as u64))
        .collect();
    assert!(matches!(
        verify(&renumbered, &checkpoints, &f),
        Err(LogInvalid::RootMismatch { .. })
    ));

    // Inserted, renumbered.
    let mut inserted = entries.clone();
    inserted.insert(3, entries[3].clone());
    let inserted: Vec<Vec<u8>> = inserted
        .iter()
        .enumerate()
        .map(|(i, b)| reencode(b, |e| e.seq = i as u64))
        .collect();
    assert!(matches!(
        verify(&inserted, &checkpoints, &f),
        Err(LogInvalid::RootMismatch { .. })
    ));

    // Reordered, with and without renumbering.
    let mut reordered = entries.clone();
    reordered.swap(4, 5);
    assert!(matches!(
        verify(&reordered, &checkpoints, &f),
        Err(LogInvalid::OutOfOrder { position: 4, .. })
    ));
    let reordered: Vec<Vec<u8>> = reordered
        .iter()
        .enumerate()
        .map(|(i, b)| reencode(b, |e| e.seq = i as u64))
        .collect();
    assert!(matches!(
        verify(&reordered, &checkpoints, &f),
        Err(LogInvalid::RootMismatch { .. })
    ));

    // Truncated below a signed size.
    assert!(matches!(
        verify(&entries[..39], &checkpoints, &f),
        Err(LogInvalid::Truncated {
            size: 40,
            entries: 39
        })
    ));

    // Whitespace or key order changed: not the signed bytes.
    let mut spaced = entries.clone();
    spaced[0] = serde_json::to_vec_pretty(
        &serde_json::from_slice::<serde_json::Value>(&entries[0]).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        verify(&spaced, &checkpoints, &f),
        Err(LogInvalid::MalformedEntry { position: 0, .. })
    ));

    // A checkpoint whose root was altered fails its signature.
    let mut forged = checkpoints.clone();
    forged[1].root_hash = hex::encode(merkle::leaf_hash(b"x"));
    assert!(matches!(
        verify(&entries, &forged, &f),
        Err(LogInvalid::BadCheckpointSignature { size: 40 })
    ));
}

#[test]
fn tampering_in_the_store_is_detected_by_the_stored_verifier() {
    let (f, entries, _, _, _) = log(10);
    let altered = reencode(&entries[2], |e| {
        e.outcome = Some(omadata_consent::audit::Outcome::Permit)
    });
    assert_ne!(altered, entries[2]);
    f.store.put_raw_journal(2, altered);
    assert!(matches!(
        f.consent.audit().verify(&f.consent.jwks()),
        Err(LogInvalid::RootMismatch { .. })
    ));
    // Entries cut off the end: the signed checkpoints say the log was longer.
    f.store.truncate_journal(2);
    assert!(matches!(
        f.consent.audit().verify(&f.consent.jwks()),
        Err(LogInvalid::Truncated { .. })
    ));
}

#[test]
fn proofs_from_the_store_verify_and_a_forked_checkpoint_does_not_extend() {
    let (f, entries, checkpoints, _, _) = log(25);
    let audit = f.consent.audit();
    let (old, new) = (&checkpoints[0], &checkpoints[1]);
    let proof = audit
        .consistency_proof(old.tree_size, new.tree_size)
        .unwrap();
    verify_extension(old, new, &proof, &f.consent.jwks()).unwrap();
    let root = new.root().unwrap();
    for (seq, bytes) in entries.iter().enumerate() {
        let path = audit.inclusion_proof(seq as u64, new.tree_size).unwrap();
        assert!(merkle::verify_inclusion(
            seq as u64,
            new.tree_size,
            &merkle::leaf_hash(bytes),
            &path,
            &root
        ));
    }
    assert!(audit.inclusion_proof(25, 25).is_err());

    // A second log with a different history, signed by the same key: its checkpoint of
    // the same size does not extend ours.
    let g = Fixture {
        consent: Consent::open(
            std::sync::Arc::new(MemoryConsentStore::new()),
            f.consent.catalogue().clone(),
            SensitivityPolicy::builtin().unwrap(),
            f.key.clone(),
            std::sync::Arc::new(crate::EnrollingSealer(f.vault.clone())),
            ConsentConfig::default(),
        )
        .unwrap(),
        store: MemoryConsentStore::new(),
        key: f.key.clone(),
        vault: f.vault.clone(),
    };
    for i in 0..25 {
        let mut entry = AuditEntry::new(AuditEvent::PairingCode, t(i));
        entry.client = Some(client());
        g.consent.audit().append(entry).unwrap();
    }
    let fork = g.consent.audit().checkpoint(t(100)).unwrap();
    assert!(matches!(
        verify_extension(old, &fork, &proof, &f.consent.jwks()),
        Err(LogInvalid::NotAnExtension { .. })
    ));
}

#[test]
fn views_are_answered_from_indexes_with_paging_and_time_ranges() {
    let (f, _, _, clients, pros) = log(40);
    let audit = f.consent.audit();
    let mine = audit
        .query(AuditFilter::Client(clients[0]), None, None, None, 100)
        .unwrap();
    assert_eq!(mine.len(), 20);
    assert!(mine.iter().all(|e| e.client == Some(clients[0])));
    assert!(mine.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let theirs = audit
        .query(
            AuditFilter::Professional(pros[1].professional),
            None,
            None,
            None,
            100,
        )
        .unwrap();
    assert_eq!(theirs.len(), 20);
    let org = audit
        .query(
            AuditFilter::Organisation(pros[0].organisation.id),
            None,
            None,
            None,
            100,
        )
        .unwrap();
    assert_eq!(org.len(), 20);

    // Paging: pages of 7 cover the client's entries exactly once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = audit
            .query(AuditFilter::Client(clients[0]), None, None, before, 7)
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| e.seq);
        seen.extend(page.into_iter().map(|e| e.seq));
    }
    assert_eq!(seen, mine.iter().map(|e| e.seq).collect::<Vec<_>>());

    // Time range [t(10), t(20)) over everyone: the entries written at t(10)..t(19).
    let range = audit
        .query(AuditFilter::All, Some(t(10)), Some(t(20)), None, 100)
        .unwrap();
    let mut times: Vec<i64> = range
        .iter()
        .map(|e| e.at.timestamp() - t(0).timestamp())
        .collect();
    times.sort();
    assert_eq!(times, (10..20).collect::<Vec<_>>());
    let client_range = audit
        .query(
            AuditFilter::Client(clients[1]),
            Some(t(10)),
            Some(t(20)),
            None,
            100,
        )
        .unwrap();
    assert!(
        client_range
            .iter()
            .all(|e| e.at >= t(10) && e.at < t(20) && e.client == Some(clients[1]))
    );
    let expected = (10..20u64).filter(|i| i / 2 % 2 == 1).count();
    assert_eq!(client_range.len(), expected);
}

/// A store whose journal writes are slow and counted.
#[derive(Debug, Default)]
struct FlushCounts {
    flushes: std::sync::atomic::AtomicUsize,
}

fn slow_flush_store() -> (MemoryConsentStore, std::sync::Arc<FlushCounts>) {
    use std::sync::atomic::Ordering;
    let counts = std::sync::Arc::new(FlushCounts::default());
    let seen = counts.clone();
    let store = MemoryConsentStore::with_sync_hook(std::sync::Arc::new(move |_| {
        std::thread::sleep(std::time::Duration::from_millis(2));
        seen.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }));
    (store, counts)
}

#[test]
fn concurrent_appends_share_flushes_and_none_returns_before_its_flush() {
    use std::sync::atomic::Ordering;
    let (store, counts) = slow_flush_store();
    let store = std::sync::Arc::new(store);
    let log = std::sync::Arc::new(
        omadata_consent::audit::AuditLog::open(
            store.clone(),
            std::sync::Arc::new(ServiceKey::generate().unwrap()),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (log, store) = (log.clone(), store.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let (entry, ticket) = log
                        .append_deferred(AuditEntry::new(AuditEvent::Access, t(i)))
                        .unwrap();
                    log.sync_through(ticket).unwrap();
                    assert!(
                        store.journal_len().unwrap() > entry.seq,
                        "returned before the journal held entry {}",
                        entry.seq
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let flushes = counts.flushes.load(Ordering::SeqCst);
    assert!(
        flushes < 200,
        "{flushes} flushes for 200 appends: no group commit"
    );
    assert_eq!(log.len(), 200);
}

#[test]
fn waiting_entries_are_readable_and_land_in_one_journal_write() {
    let (f, _, _, clients, _) = log(4);
    let audit = f.consent.audit();
    let root_before = audit.root(4).unwrap();
    let mut seqs = Vec::new();
    let mut last_ticket = None;
    for i in 0..5 {
        let mut entry = AuditEntry::new(AuditEvent::Access, t(50 + i));
        entry.client = Some(clients[0]);
        let (entry, ticket) = audit.append_deferred(entry).unwrap();
        seqs.push(entry.seq);
        last_ticket = Some(ticket);
    }
    assert_eq!(seqs, (4..9).collect::<Vec<_>>());
    // Before the group commit: in the tree, the views and the proofs, not on disk.
    assert_eq!(f.store.journal_len().unwrap(), 4);
    assert_eq!(audit.durable_below(), 4);
    let root = audit.root(9).unwrap();
    let leaf = merkle::leaf_hash(&audit.raw_entry(7).unwrap().unwrap());
    let proof = audit.inclusion_proof(7, 9).unwrap();
    assert!(merkle::verify_inclusion(7, 9, &leaf, &proof, &root));
    let consistency = audit.consistency_proof(4, 9).unwrap();
    assert!(merkle::verify_consistency(
        4,
        9,
        &root_before,
        &root,
        &consistency
    ));
    let view = |log: &omadata_consent::audit::AuditLog| -> Vec<u64> {
        log.query(AuditFilter::Client(clients[0]), None, None, None, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    let before_commit = view(audit);
    assert_eq!(&before_commit[..5], &[8, 7, 6, 5, 4]);
    // One group commit writes all five.
    audit.sync_through(last_ticket.unwrap()).unwrap();
    assert_eq!(f.store.journal_len().unwrap(), 9);
    assert_eq!(audit.durable_below(), 9);
    // A reopened log has them, the same views, and the next append extends the tree.
    let reopened =
        omadata_consent::audit::AuditLog::open(std::sync::Arc::new(f.store.clone()), f.key.clone())
            .unwrap();
    assert_eq!(reopened.len(), 9);
    assert_eq!(reopened.root(9).unwrap(), root);
    assert_eq!(view(&reopened), before_commit);
    reopened
        .append(AuditEntry::new(AuditEvent::Access, t(60)))
        .unwrap();
    let entries = reopened.raw_entries(0, usize::MAX).unwrap();
    let mut tree = merkle::MemoryTree::new();
    entries.iter().for_each(|e| tree.push(e));
    assert_eq!(reopened.root(10).unwrap(), tree.root());
    assert!(reopened.verify(&f.consent.jwks()).is_ok());
}

#[test]
fn log_time_never_goes_back_and_time_ranges_use_it() {
    let (f, _, _, _, _) = log(2);
    let audit = f.consent.audit();
    let late = audit
        .append(AuditEntry::new(AuditEvent::Access, t(100)))
        .unwrap();
    // The clock stepped back: the entry takes the previous entry's time.
    let early = audit
        .append(AuditEntry::new(AuditEvent::Access, t(90)))
        .unwrap();
    assert_eq!(early.at, late.at);
    let in_range = audit
        .query(AuditFilter::All, Some(t(95)), Some(t(101)), None, 10)
        .unwrap();
    assert_eq!(
        in_range.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![early.seq, late.seq]
    );
    assert!(
        audit
            .query(AuditFilter::All, Some(t(101)), None, None, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_consent_change_cut_off_before_its_journal_write_is_imported_on_open() {
    let (f, _, _, clients, _) = log(4);
    let audit = f.consent.audit();
    let mut access = AuditEntry::new(AuditEvent::Access, t(20));
    access.client = Some(clients[0]);
    let (waiting, _) = audit.append_deferred(access).unwrap();
    let mut change = AuditEntry::new(AuditEvent::Grant, t(21));
    change.client = Some(clients[0]);
    let change = audit
        .append_with(
            change,
            vec![(b"test/change".to_vec(), Some(b"made".to_vec()))],
        )
        .unwrap();
    assert_eq!((waiting.seq, change.seq), (4, 5));
    let root = audit.root(6).unwrap();
    // A crash after the change's batch reached the disk, before its journal write.
    f.store.truncate_journal(4);
    let reopened =
        omadata_consent::audit::AuditLog::open(std::sync::Arc::new(f.store.clone()), f.key.clone())
            .unwrap();
    assert_eq!(reopened.len(), 6, "the waiting entry and the change's own");
    assert_eq!(f.store.journal_len().unwrap(), 6);
    assert_eq!(reopened.root(6).unwrap(), root);
    assert_eq!(
        f.store.get(b"test/change").unwrap().as_deref(),
        Some(b"made".as_slice())
    );
    assert!(
        f.store
            .scan(b"a/e/", None, false, usize::MAX)
            .unwrap()
            .is_empty(),
        "the copies are removed once imported"
    );
    let newest = reopened
        .query(AuditFilter::Client(clients[0]), None, None, None, 2)
        .unwrap();
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 4]);
}

#[test]
fn a_store_from_before_the_journal_is_imported_on_open() {
    let (f, entries, checkpoints, clients, pros) = log(6);
    // The same log in the earlier layout: a key per entry, per tree node, per index.
    let legacy = MemoryConsentStore::default();
    for (key, value) in f.store.scan(b"", None, false, usize::MAX).unwrap() {
        legacy.put_raw(&key, Some(value));
    }
    let mut level: Vec<merkle::Hash> = Vec::new();
    for (seq, bytes) in entries.iter().enumerate() {
        let seq_bytes = (seq as u64).to_be_bytes();
        legacy.put_raw(
            &[b"a/e/".as_slice(), &seq_bytes].concat(),
            Some(bytes.clone()),
        );
        let entry: AuditEntry = serde_json::from_slice(bytes).unwrap();
        let client = entry.client.unwrap();
        legacy.put_raw(
            &[b"a/c/".as_slice(), client.as_bytes(), &seq_bytes].concat(),
            Some(Vec::new()),
        );
        level.push(merkle::leaf_hash(bytes));
    }
    let mut height = 0u8;
    while !level.is_empty() {
        for (index, hash) in level.iter().enumerate() {
            let key = [b"a/n/".as_slice(), &[height], &(index as u64).to_be_bytes()].concat();
            legacy.put_raw(&key, Some(hash.to_vec()));
        }
        level = level
            .chunks_exact(2)
            .map(|pair| merkle::node_hash(&pair[0], &pair[1]))
            .collect();
        height += 1;
    }
    assert_eq!(legacy.journal_len().unwrap(), 0);
    let log =
        omadata_consent::audit::AuditLog::open(std::sync::Arc::new(legacy.clone()), f.key.clone())
            .unwrap();
    assert_eq!(log.len(), 6);
    assert_eq!(legacy.journal_len().unwrap(), 6);
    assert_eq!(log.root(6).unwrap(), f.consent.audit().root(6).unwrap());
    for filter in [
        AuditFilter::Client(clients[0]),
        AuditFilter::Professional(pros[1].professional),
        AuditFilter::All,
    ] {
        assert_eq!(
            log.query(filter, None, None, None, 100).unwrap(),
            f.consent
                .audit()
                .query(filter, None, None, None, 100)
                .unwrap()
        );
    }
    let report = log.verify(&f.consent.jwks()).unwrap();
    assert_eq!(report.checkpoints_verified, checkpoints.len());
    for prefix in [b"a/e/", b"a/n/", b"a/c/"] {
        assert!(
            legacy
                .scan(prefix, None, false, usize::MAX)
                .unwrap()
                .is_empty(),
            "old layout keys removed"
        );
    }
    // New entries follow in the same tree and chains.
    let mut entry = AuditEntry::new(AuditEvent::Access, t(70));
    entry.client = Some(clients[0]);
    assert_eq!(log.append(entry).unwrap().seq, 6);
    log.checkpoint(t(71)).unwrap();
    let report = log.verify(&f.consent.jwks()).unwrap();
    assert_eq!((report.entries, report.unanchored_entries), (7, 0));
    let newest = log
        .query(AuditFilter::Client(clients[0]), None, None, None, 1)
        .unwrap();
    assert_eq!(newest[0].seq, 6);
}

/// Appends `count` access entries by `professional`, taking `clients` in turn, and writes
/// them to the journal every 1 000 (the last ones still wait).
fn append_accesses(
    audit: &omadata_consent::audit::AuditLog,
    clients: &[ClientId],
    professional: ProfessionalId,
    count: u64,
) {
    for i in 0..count {
        let mut entry = AuditEntry::new(AuditEvent::Access, t(100));
        entry.client = Some(clients[(i % clients.len() as u64) as usize]);
        entry.professional = Some(professional);
        audit.append_deferred(entry).unwrap();
        if i % 1000 == 999 {
            audit.sync_pending().unwrap();
        }
    }
}

#[test]
fn a_reopened_log_starts_from_its_saved_chain_heads() {
    let (f, _, _, clients, pros) = log(4);
    let audit = f.consent.audit();
    // More than one snapshot interval (65 536 entries), over the two clients.
    append_accesses(audit, &clients[..2], pros[0].professional, 70_000);
    audit.sync_pending().unwrap();
    audit.wait_for_saved_heads();
    assert!(
        f.store.journal_snapshot().unwrap().is_some(),
        "heads saved after 65 536 entries"
    );
    let reopened =
        omadata_consent::audit::AuditLog::open(std::sync::Arc::new(f.store.clone()), f.key.clone())
            .unwrap();
    for filter in [
        AuditFilter::Client(clients[0]),
        AuditFilter::Client(clients[1]),
        AuditFilter::Professional(pros[0].professional),
        AuditFilter::Professional(pros[1].professional),
    ] {
        let newest = |log: &omadata_consent::audit::AuditLog| {
            log.query(filter, None, None, None, 5).unwrap()
        };
        assert_eq!(newest(&reopened), newest(audit));
        assert!(!newest(&reopened).is_empty());
    }
    // Paging from an entry of the chain follows its link.
    let page = reopened
        .query(AuditFilter::Client(clients[0]), None, None, Some(70_000), 3)
        .unwrap();
    assert!(
        page.iter()
            .all(|e| e.seq < 70_000 && e.client == Some(clients[0]))
    );
    assert_eq!(page.len(), 3);
}

#[test]
fn heads_saved_at_shutdown_cover_the_whole_log() {
    let (f, _, _, clients, pros) = log(2);
    let audit = f.consent.audit();
    append_accesses(audit, &clients[..2], pros[0].professional, 10);
    // Waiting entries are written first, then the heads as of the end.
    audit.save_heads().unwrap();
    let snapshot = f.store.journal_snapshot().unwrap().unwrap();
    // specs/formats.md: format byte, then the number of entries covered (u64 BE).
    let covered = u64::from_be_bytes(snapshot[1..9].try_into().unwrap());
    assert_eq!(
        (covered, f.store.journal_len().unwrap()),
        (audit.len(), audit.len())
    );
    let reopened =
        omadata_consent::audit::AuditLog::open(std::sync::Arc::new(f.store.clone()), f.key.clone())
            .unwrap();
    for client in &clients[..2] {
        let newest = |log: &omadata_consent::audit::AuditLog| {
            log.query(AuditFilter::Client(*client), None, None, None, 3)
                .unwrap()
        };
        assert_eq!(newest(&reopened), newest(audit));
    }
}

#[test]
fn a_change_whose_flush_fails_is_reported_as_made_but_unconfirmed() {
    use omadata_consent::ConsentError;
    use omadata_vault::store::StoreError;
    use std::sync::atomic::{AtomicBool, Ordering};
    let failing = std::sync::Arc::new(AtomicBool::new(false));
    let disk_failing = failing.clone();
    let store = std::sync::Arc::new(MemoryConsentStore::with_sync_hook(std::sync::Arc::new(
        move |_| {
            if disk_failing.load(Ordering::SeqCst) {
                return Err(StoreError::Backend("disk full".into()));
            }
            Ok(())
        },
    )));
    let log = omadata_consent::audit::AuditLog::open(
        store.clone(),
        std::sync::Arc::new(ServiceKey::generate().unwrap()),
    )
    .unwrap();
    failing.store(true, Ordering::SeqCst);
    let error = log
        .append_with(
            AuditEntry::new(AuditEvent::Revoke, t(1)),
            vec![(b"test/change".to_vec(), Some(b"made".to_vec()))],
        )
        .unwrap_err();
    // The change is there, so the error must not say that nothing was changed.
    assert_eq!(
        store.get(b"test/change").unwrap().as_deref(),
        Some(&b"made"[..])
    );
    assert!(
        matches!(error, ConsentError::Store(StoreError::Unconfirmed(_))),
        "{error:?}"
    );
    // A plain `apply` whose flush fails says the same.
    let error = store
        .apply(vec![(b"test/other".to_vec(), Some(b"made".to_vec()))])
        .unwrap_err();
    assert!(matches!(error, StoreError::Unconfirmed(_)), "{error:?}");
    assert!(store.get(b"test/other").unwrap().is_some());
}

/// A store that counts the journal records read and can set a cancel flag when the
/// count reaches a mark: shows how far a verification read before it stopped.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryConsentStore,
    reads: std::sync::atomic::AtomicU64,
    cancel_at: u64,
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

impl omadata_consent::ConsentStore for CountingStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, omadata_vault::StoreError> {
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        from: Option<&[u8]>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<omadata_consent::store::Entry>, omadata_vault::StoreError> {
        self.inner.scan(prefix, from, reverse, limit)
    }
    fn apply_deferred(
        &self,
        writes: Vec<omadata_consent::store::Write>,
    ) -> Result<(), omadata_vault::StoreError> {
        self.inner.apply_deferred(writes)
    }
    fn sync(&self) -> Result<(), omadata_vault::StoreError> {
        self.inner.sync()
    }
    fn journal_len(&self) -> Result<u64, omadata_vault::StoreError> {
        self.inner.journal_len()
    }
    fn journal_append(
        &self,
        records: &[omadata_consent::store::JournalRecord],
        nodes: &[omadata_consent::store::JournalNode],
    ) -> Result<(), omadata_vault::StoreError> {
        self.inner.journal_append(records, nodes)
    }
    fn journal_record(
        &self,
        seq: u64,
    ) -> Result<Option<omadata_consent::store::JournalRecord>, omadata_vault::StoreError> {
        use std::sync::atomic::Ordering;
        if self.reads.fetch_add(1, Ordering::SeqCst) + 1 == self.cancel_at {
            self.cancel.store(true, Ordering::SeqCst);
        }
        self.inner.journal_record(seq)
    }
    fn journal_node(
        &self,
        level: u32,
        index: u64,
    ) -> Result<Option<[u8; 32]>, omadata_vault::StoreError> {
        self.inner.journal_node(level, index)
    }
    fn journal_snapshot(&self) -> Result<Option<Vec<u8>>, omadata_vault::StoreError> {
        self.inner.journal_snapshot()
    }
    fn save_journal_snapshot(&self, bytes: &[u8]) -> Result<(), omadata_vault::StoreError> {
        self.inner.save_journal_snapshot(bytes)
    }
}

/// A log of `n` entries in a plain store, with checkpoints at a third and at the end.
fn long_log(n: u64) -> (MemoryConsentStore, Jwks) {
    use omadata_consent::audit::AuditLog;
    let store = MemoryConsentStore::new();
    let key = Arc::new(ServiceKey::generate().unwrap());
    let log = AuditLog::open(Arc::new(store.clone()), key.clone()).unwrap();
    for i in 0..n {
        log.append_deferred(AuditEntry::new(AuditEvent::Access, t(i as i64)))
            .unwrap();
        if i + 1 == n / 3 {
            log.checkpoint(t(i as i64)).unwrap();
        }
    }
    log.checkpoint(t(n as i64)).unwrap();
    (store, Jwks::of(&[key.public()]))
}

#[test]
fn the_stored_verifier_streams_the_log_a_batch_at_a_time() {
    use omadata_consent::audit::{VERIFY_BATCH, verify_store, verify_store_cancellable};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let batch = VERIFY_BATCH as u64;
    let n = 5 * batch + 7;
    let (store, jwks) = long_log(n);
    let whole = verify_store(&store, &jwks).unwrap();
    assert_eq!(whole.entries, n);
    assert_eq!(whole.checkpoints_verified, 2);
    let entries = export_entries(&store);
    assert_eq!(
        whole,
        verify_entries(
            entries.iter().map(Vec::as_slice),
            &omadata_consent::audit::export_store(&store).unwrap().1,
            &jwks
        )
        .unwrap()
    );

    // The flag is raised while the third batch is read: the verifier stops before the
    // fourth, so it never held the log whole (an export-then-verify reads all n first).
    let cancel = Arc::new(AtomicBool::new(false));
    let counting = CountingStore {
        inner: store,
        reads: AtomicU64::new(0),
        cancel_at: 2 * batch + 1,
        cancel: cancel.clone(),
    };
    assert_eq!(
        verify_store_cancellable(&counting, &jwks, &cancel),
        Err(LogInvalid::Cancelled)
    );
    assert_eq!(counting.reads.load(Ordering::SeqCst), 3 * batch);
}

#[test]
fn a_cancelled_verification_stops_before_reading_on() {
    use omadata_consent::audit::verify_store_cancellable;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (store, jwks) = long_log(3000);
    let cancel = Arc::new(AtomicBool::new(true));
    let counting = CountingStore {
        inner: store,
        reads: AtomicU64::new(0),
        cancel_at: 0,
        cancel: cancel.clone(),
    };
    assert_eq!(
        verify_store_cancellable(&counting, &jwks, &cancel),
        Err(LogInvalid::Cancelled)
    );
    assert_eq!(counting.reads.load(Ordering::SeqCst), 0);
}

fn export_entries(store: &MemoryConsentStore) -> Vec<Vec<u8>> {
    omadata_consent::audit::export_store(store).unwrap().0
}
