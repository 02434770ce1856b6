//! Writes per second with durable acknowledgement: each iteration is one vault write
//! (validate, seal, insert, sled flush) on a real on-disk sled store.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::DateTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use omadata_store_sled::SledStore;
use omadata_vault::{Author, Catalogue, Keyring, MasterKey, Vault};
use serde_json::json;
use std::sync::Arc;

fn durable_writes(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let vault = Vault::open(
        store,
        Keyring::new(MasterKey::generate().unwrap()),
        Arc::new(Catalogue::builtin().unwrap()),
    )
    .unwrap();
    let client = vault.enrol_client().unwrap();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let value = json!("x".repeat(256));
    let mut group = c.benchmark_group("vault");
    group.throughput(Throughput::Elements(1));
    group.bench_function("durable_write_256B", |b| {
        b.iter(|| {
            vault
                .write(
                    client,
                    "plan.follow_up",
                    value.clone(),
                    Author::Client(client),
                    now,
                )
                .unwrap()
        })
    });
    group.bench_function("read_current", |b| {
        b.iter(|| vault.read(client, "plan.follow_up").unwrap())
    });
    // 64 writers at once, each on a client of its own: how far group commit carries.
    let clients: Vec<_> = (0..WRITERS)
        .map(|_| vault.enrol_client().unwrap())
        .collect();
    group.bench_function("durable_write_256B_64_writers", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for (i, client) in clients.iter().enumerate() {
                    let (vault, value) = (&vault, &value);
                    // The iterations split over the writers, the first ones taking the rest.
                    let share =
                        iters / WRITERS as u64 + u64::from((i as u64) < iters % WRITERS as u64);
                    scope.spawn(move || {
                        for _ in 0..share {
                            vault
                                .write(
                                    *client,
                                    "plan.follow_up",
                                    value.clone(),
                                    Author::Client(*client),
                                    now,
                                )
                                .unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

const WRITERS: usize = 64;

/// Audit appends that are on disk before they return.
fn durable_audit_appends(c: &mut Criterion) {
    use omadata_consent::audit::{AuditEntry, AuditEvent, AuditLog};
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let log = AuditLog::open(
        store,
        Arc::new(omadata_consent::ServiceKey::generate().unwrap()),
    )
    .unwrap();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("durable_append_sled", |b| {
        b.iter(|| {
            let mut entry = AuditEntry::new(AuditEvent::Access, now);
            entry.client = Some(omadata_vault::ClientId::random());
            entry.fields = vec!["identity.name".into()];
            log.append(entry).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, durable_writes, durable_audit_appends);
criterion_main!(benches);
