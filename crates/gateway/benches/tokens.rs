//! Bearer-token verification: the first sight of a token (Ed25519 signature check) and
//! every later use (cache hit, expiry still checked).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Duration};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use omadata_app::Role;
use omadata_consent::ServiceKey;
use omadata_gateway::BearerKeys;
use std::hint::black_box;

fn tokens(c: &mut Criterion) {
    let key = ServiceKey::generate().unwrap();
    let keys = BearerKeys::new(&key, "http://127.0.0.1:8080/".into()).unwrap();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let mut group = c.benchmark_group("bearer");
    group.bench_function("verify_first_use", |b| {
        b.iter_batched(
            || {
                keys.issue(
                    "staff:x".into(),
                    Role::Professional,
                    "sid".into(),
                    now,
                    Duration::minutes(15),
                )
                .unwrap()
                .0
            },
            |token| assert!(keys.verify(black_box(&token), now).is_some()),
            BatchSize::SmallInput,
        )
    });
    let (token, _) = keys
        .issue(
            "staff:y".into(),
            Role::Professional,
            "sid".into(),
            now,
            Duration::minutes(15),
        )
        .unwrap();
    keys.verify(&token, now).unwrap();
    group.bench_function("verify_cached", |b| {
        b.iter(|| assert!(keys.verify(black_box(&token), now).is_some()))
    });
    group.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
