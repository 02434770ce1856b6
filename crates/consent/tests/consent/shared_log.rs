//! One audit log appended by several processes sharing a store (several gateways on one
//! database): one order, one tree, chains across processes, and what happens to entries
//! a process was still waiting to write when it lost its turn.

use crate::*;
use omadata_consent::audit::{AuditEntry, AuditEvent, AuditFilter, AuditLog, verify_store};
use omadata_consent::store::{ConsentStore, MemoryConsentStore};

fn process(shared: &MemoryConsentStore, key: &Arc<ServiceKey>) -> (MemoryConsentStore, AuditLog) {
    let handle = shared.another_process();
    let log = AuditLog::open(Arc::new(handle.clone()), key.clone()).unwrap();
    (handle, log)
}

fn access(client: ClientId, at: i64) -> AuditEntry {
    let mut entry = AuditEntry::new(AuditEvent::Access, t(at));
    entry.client = Some(client);
    entry
}

#[test]
fn processes_appending_at_once_make_one_log_that_verifies() {
    let shared = MemoryConsentStore::shared();
    let key = Arc::new(ServiceKey::generate().unwrap());
    let client = ClientId::random();
    let logs: Vec<Arc<AuditLog>> = (0..3).map(|_| Arc::new(process(&shared, &key).1)).collect();
    let threads: Vec<_> = logs
        .iter()
        .enumerate()
        .flat_map(|(p, log)| {
            (0..2).map(move |thread| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..40 {
                        let at = (p * 1000 + thread * 100 + i) as i64;
                        let (_, ticket) = log.append_deferred(access(client, at)).unwrap();
                        log.sync_through(ticket).unwrap();
                    }
                })
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // A consent change from one process lands with its entry in the same log.
    logs[1]
        .append_with(
            AuditEntry::new(AuditEvent::Grant, t(5_000)),
            vec![(b"test/change".to_vec(), Some(b"made".to_vec()))],
        )
        .unwrap();
    assert_eq!(shared.journal_len().unwrap(), 3 * 2 * 40 + 1);
    let report = verify_store(&shared, &Jwks::of(&[key.public()])).unwrap();
    assert_eq!(report.entries, 241);
    // Each process sees every entry about the client, whoever appended it, once it
    // takes its next turn.
    for log in &logs {
        log.checkpoint(t(6_000)).unwrap();
        assert_eq!(log.len(), 241);
        let seen = log
            .query(AuditFilter::Client(client), None, None, None, 1000)
            .unwrap();
        assert_eq!(seen.len(), 240);
    }
    // Signed by each at the same size: one checkpoint there.
    let report = verify_store(&shared, &Jwks::of(&[key.public()])).unwrap();
    assert_eq!(report.checkpoints_verified, 1);
}

#[test]
fn entries_a_lost_turn_left_waiting_are_written_when_nobody_appended_meanwhile() {
    let shared = MemoryConsentStore::shared();
    let key = Arc::new(ServiceKey::generate().unwrap());
    let client = ClientId::random();
    let (a_store, a) = process(&shared, &key);
    let (_, b) = process(&shared, &key);
    let (_, ticket) = a.append_deferred(access(client, 1)).unwrap();
    // The connection holding A's turn ends before A writes.
    a_store.lose_turn();
    // The write that finds the turn gone fails (as a broken connection's would); the
    // next one takes the turn again and, since nobody appended, writes the entry.
    assert!(a.sync_through(ticket).is_err());
    assert!(a.settled(ticket).is_none(), "in doubt until the next turn");
    a.sync_through(ticket).unwrap();
    assert_eq!(shared.journal_len().unwrap(), 1);
    let (_, later) = b.append_deferred(access(client, 2)).unwrap();
    b.sync_through(later).unwrap();
    verify_store(&shared, &Jwks::of(&[key.public()])).unwrap();
}

#[test]
fn entries_a_lost_turn_left_waiting_are_void_when_another_process_appended_first() {
    let shared = MemoryConsentStore::shared();
    let key = Arc::new(ServiceKey::generate().unwrap());
    let client = ClientId::random();
    let (a_store, a) = process(&shared, &key);
    let (_, b) = process(&shared, &key);
    let (_, first) = a.append_deferred(access(client, 1)).unwrap();
    a.sync_through(first).unwrap();
    let (_, lost) = a.append_deferred(access(client, 2)).unwrap();
    a_store.lose_turn();
    // B takes the turn and appends at the place A's waiting entry had.
    let (b_entry, b_ticket) = b.append_deferred(access(client, 3)).unwrap();
    b.sync_through(b_ticket).unwrap();
    assert_eq!(b_entry.seq, 1);
    // A learns at its next turn that its entry never landed: its waiter is refused (so
    // nothing it covered is disclosed), and A goes on after B's entry.
    assert!(
        a.sync_through(lost).is_err(),
        "the write that finds the turn gone"
    );
    assert!(a.sync_through(lost).is_err(), "void at the next turn");
    assert!(a.settled(lost).is_some_and(|r| r.is_err()));
    let (next, ticket) = a.append_deferred(access(client, 4)).unwrap();
    a.sync_through(ticket).unwrap();
    assert_eq!(next.seq, 2);
    assert!(a.settled(first).is_some_and(|r| r.is_ok()));
    let report = verify_store(&shared, &Jwks::of(&[key.public()])).unwrap();
    assert_eq!(report.entries, 3);
    let seen: Vec<u64> = a
        .query(AuditFilter::Client(client), None, None, None, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seen, vec![2, 1, 0]);
}

#[test]
fn a_consent_change_whose_process_stopped_before_its_journal_write_is_brought_in_by_another() {
    let shared = MemoryConsentStore::shared();
    let key = Arc::new(ServiceKey::generate().unwrap());
    let (a_store, a) = process(&shared, &key);
    let (_, b) = process(&shared, &key);
    let (_, first) = a
        .append_deferred(AuditEntry::new(AuditEvent::Access, t(1)))
        .unwrap();
    a.sync_through(first).unwrap();
    let len = shared.journal_len().unwrap();
    a.append_with(
        AuditEntry::new(AuditEvent::Grant, t(2)),
        vec![(b"test/change".to_vec(), Some(b"made".to_vec()))],
    )
    .unwrap();
    // As if A stopped after its change's batch, before its journal write.
    shared.truncate_journal(len);
    a_store.lose_turn();
    drop(a);
    let (_, ticket) = b
        .append_deferred(AuditEntry::new(AuditEvent::Access, t(3)))
        .unwrap();
    b.sync_through(ticket).unwrap();
    let report = verify_store(&shared, &Jwks::of(&[key.public()])).unwrap();
    assert_eq!(report.entries, 3, "the change's entry, then B's");
    let change = b.raw_entry(1).unwrap().unwrap();
    assert!(String::from_utf8_lossy(&change).contains("grant"));
}

#[test]
fn a_consent_change_whose_turn_was_lost_after_it_read_writes_nothing() {
    let shared = MemoryConsentStore::shared();
    let key = Arc::new(ServiceKey::generate().unwrap());
    let (a_store, a) = process(&shared, &key);
    let (_, b) = process(&shared, &key);
    // A change holds the turn while it reads what it will change...
    let hold = a.hold_turn().unwrap();
    let (_, waiting) = a
        .append_deferred(AuditEntry::new(AuditEvent::Access, t(1)))
        .unwrap();
    // ... its turn is lost, and another process changes consent meanwhile.
    a_store.lose_turn();
    b.append_with(
        AuditEntry::new(AuditEvent::Revoke, t(2)),
        vec![(b"test/grant".to_vec(), Some(b"revoked".to_vec()))],
    )
    .unwrap();
    assert!(
        a.sync_through(waiting).is_err(),
        "the flush finds the turn gone"
    );
    assert!(
        a.sync_through(waiting).is_err(),
        "void: B wrote at its place"
    );
    // The turn came round again, but what A read may be stale: its change writes nothing.
    let refused = a.append_with(
        AuditEntry::new(AuditEvent::Grant, t(3)),
        vec![(b"test/grant".to_vec(), Some(b"active".to_vec()))],
    );
    assert!(refused.is_err());
    assert_eq!(
        shared.get(b"test/grant").unwrap(),
        Some(b"revoked".to_vec())
    );
    drop(hold);
    // A change that starts afresh may write.
    a.append_with(
        AuditEntry::new(AuditEvent::Grant, t(4)),
        vec![(b"test/grant".to_vec(), Some(b"active".to_vec()))],
    )
    .unwrap();
    verify_store(&shared, &Jwks::of(&[key.public()])).unwrap();
}
