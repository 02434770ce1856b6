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
    let mut key = b"a/e/".to_vec();
    key.extend_from_slice(&2u64.to_be_bytes());
    f.store.put_raw(&key, Some(altered));
    assert!(matches!(
        f.consent.audit().verify(&f.consent.jwks()),
        Err(LogInvalid::RootMismatch { .. })
    ));
    f.store.put_raw(&key, None);
    assert!(f.consent.audit().verify(&f.consent.jwks()).is_err());
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
            ConsentConfig::default(),
        )
        .unwrap(),
        store: MemoryConsentStore::new(),
        key: f.key.clone(),
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

/// A store whose flush is slow and counted, and remembers how many entries each flush
/// covered.
#[derive(Debug, Default)]
struct FlushCounts {
    flushes: std::sync::atomic::AtomicUsize,
    entries_flushed: std::sync::atomic::AtomicU64,
}

fn slow_flush_store() -> (MemoryConsentStore, std::sync::Arc<FlushCounts>) {
    use std::sync::atomic::Ordering;
    let counts = std::sync::Arc::new(FlushCounts::default());
    let seen = counts.clone();
    let store = MemoryConsentStore::with_sync_hook(std::sync::Arc::new(move |store| {
        let entries = store.scan(b"a/e/", None, false, usize::MAX)?.len() as u64;
        std::thread::sleep(std::time::Duration::from_millis(2));
        seen.flushes.fetch_add(1, Ordering::SeqCst);
        seen.entries_flushed.fetch_max(entries, Ordering::SeqCst);
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
            let (log, counts) = (log.clone(), counts.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let entry = log
                        .append_deferred(AuditEntry::new(AuditEvent::Access, t(i)), Vec::new())
                        .unwrap();
                    log.sync_through(entry.seq).unwrap();
                    assert!(
                        counts.entries_flushed.load(Ordering::SeqCst) > entry.seq,
                        "returned before a flush covered entry {}",
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
fn an_append_cut_short_after_its_entry_is_rederived_on_open() {
    // Entry 15 completes the first stored tree node (level 4, 16 leaves).
    let (f, _, _, clients, _) = log(16);
    let last = 15u64;
    let root_before = f.consent.audit().root(16).unwrap();
    // A crash after the entry but before its derived keys: the node, the indexes.
    let stored_node = [b"a/n/".as_slice(), &[4], &0u64.to_be_bytes()].concat();
    assert_eq!(
        f.store
            .scan(b"a/n/", None, false, usize::MAX)
            .unwrap()
            .len(),
        1,
        "nodes below level 4 are not stored"
    );
    f.store.put_raw(&stored_node, None);
    let mut cut = 1;
    for prefix in [&b"a/c/"[..], b"a/p/", b"a/o/", b"a/t/"] {
        for (key, _) in f.store.scan(prefix, None, false, usize::MAX).unwrap() {
            if key.ends_with(&last.to_be_bytes()) {
                f.store.put_raw(&key, None);
                cut += 1;
            }
        }
    }
    assert_eq!(cut, 5, "one tree node and four index keys");
    let owner = clients[(last / 2 % 2) as usize];
    let seqs = |log: &omadata_consent::audit::AuditLog| -> Vec<u64> {
        log.query(AuditFilter::Client(owner), None, None, None, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert!(!seqs(f.consent.audit()).contains(&last));
    assert_eq!(f.store.get(&stored_node).unwrap(), None);

    let reopened =
        omadata_consent::audit::AuditLog::open(std::sync::Arc::new(f.store.clone()), f.key.clone())
            .unwrap();
    assert_eq!(reopened.len(), 16);
    assert!(f.store.get(&stored_node).unwrap().is_some(), "re-derived");
    assert!(seqs(&reopened).contains(&last));
    assert_eq!(reopened.root(16).unwrap(), root_before);
    let proof = reopened.inclusion_proof(last, 16).unwrap();
    let leaf = merkle::leaf_hash(&reopened.raw_entry(last).unwrap().unwrap());
    assert!(merkle::verify_inclusion(
        last,
        16,
        &leaf,
        &proof,
        &root_before
    ));
}

#[test]
fn an_index_key_left_by_a_failed_append_never_discloses_a_later_entry() {
    let (f, _, _, clients, pros) = log(4);
    let next = f.consent.audit().len();
    // A failed append for clients[0] wrote its index key for `next`, then stopped.
    let stale = [
        b"a/c/".as_slice(),
        clients[0].as_bytes(),
        &next.to_be_bytes(),
    ]
    .concat();
    f.store.put_raw(&stale, Some(Vec::new()));
    let seqs = |c: ClientId| -> Vec<u64> {
        f.consent
            .audit()
            .query(AuditFilter::Client(c), None, None, None, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert!(!seqs(clients[0]).contains(&next), "not in the log yet");
    // The sequence number is reused by an entry about the other client.
    f.consent
        .authorize(
            pros[0].professional,
            pros[0].organisation.id,
            clients[1],
            &["identity.name".to_string()],
            Action::Read,
            t(100),
        )
        .unwrap();
    assert!(seqs(clients[1]).contains(&next));
    assert!(
        !seqs(clients[0]).contains(&next),
        "another client's entry disclosed"
    );
}
