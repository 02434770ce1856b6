//! Seal and open throughput of one record at 256 B, 4 KiB and 64 KiB.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omadata_vault::ClientId;
use omadata_vault::envelope::{open_record, seal_record};
use omadata_vault::keys::DataKey;
use ring::rand::SystemRandom;
use std::hint::black_box;

fn seal_and_open(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let key = DataKey::generate(&rng).unwrap();
    let client = ClientId::random();
    let mut group = c.benchmark_group("record");
    for size in [256usize, 4 * 1024, 64 * 1024] {
        let plaintext = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &plaintext, |b, p| {
            b.iter(|| seal_record(&key, &rng, client, "plan.follow_up", 7, black_box(p)).unwrap())
        });
        let sealed = seal_record(&key, &rng, client, "plan.follow_up", 7, &plaintext).unwrap();
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, s| {
            b.iter(|| open_record(&key, client, "plan.follow_up", 7, black_box(s)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, seal_and_open);
criterion_main!(benches);
