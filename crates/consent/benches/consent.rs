//! Access decisions with 10^3 and 10^6 grants stored, audit appends per second (in
//! memory and durable on sled is in `omadata-store-sled`), and verification of a log of
//! 10^6 entries.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Duration, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use omadata_consent::audit::{AuditEntry, AuditEvent, verify_store};
use omadata_consent::*;
use omadata_vault::{Catalogue, ClientId, ProfessionalId};
use std::hint::black_box;
use std::sync::Arc;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

fn consent(store: MemoryConsentStore) -> Consent {
    Consent::open(
        Arc::new(store),
        Arc::new(Catalogue::builtin().unwrap()),
        SensitivityPolicy::builtin().unwrap(),
        Arc::new(ServiceKey::generate().unwrap()),
        // The benchmarks' purposes carry no text: nothing is sealed.
        Arc::new(NoClientKeys),
        ConsentConfig::default(),
    )
    .unwrap()
}

fn grantee(professional: ProfessionalId, organisation: OrganisationId) -> Grantee {
    Grantee {
        professional,
        name: "P".into(),
        title: "T".into(),
        profession: Profession::YouthWork,
        organisation: Organisation {
            id: organisation,
            name: "O".into(),
            business_id: "1234567-8".into(),
            privacy_notice_url: "https://example.fi/p".into(),
            dpo_contact: "dpo@example.fi".into(),
        },
    }
}

/// `n` grants over sqrt(n) professionals x sqrt(n) clients; returns one pair with a grant.
fn seeded(n: usize) -> (Consent, ProfessionalId, ClientId) {
    let consent = consent(MemoryConsentStore::new());
    let side = (n as f64).sqrt().ceil() as usize;
    let professionals: Vec<ProfessionalId> = (0..side).map(|_| ProfessionalId::random()).collect();
    let clients: Vec<ClientId> = (0..side).map(|_| ClientId::random()).collect();
    let organisation = OrganisationId::random();
    let terms = AccessAsk {
        fields: vec![
            FieldSelector::Path("identity.name".into()),
            FieldSelector::Path("plan.agreed_actions".into()),
        ],
        actions: [Action::Read].into_iter().collect(),
        purpose: Purpose {
            code: PurposeCode::Guidance,
            text: None,
        },
        valid_until: t(0) + Duration::days(300),
    };
    for i in 0..n {
        let pro = grantee(professionals[i % side], organisation);
        consent
            .grant(clients[i / side % side], &pro, terms.clone(), t(0))
            .unwrap();
    }
    (consent, professionals[0], clients[0])
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    for n in [1_000usize, 1_000_000] {
        let (consent, pro, client) = seeded(n);
        group.bench_with_input(BenchmarkId::new("grants", n), &n, |b, _| {
            b.iter(|| {
                let decision = consent
                    .decide(pro, client, black_box("identity.name"), Action::Read, t(10))
                    .unwrap();
                assert!(decision.is_permit());
            })
        });
    }
    group.finish();
}

fn access_entry(i: u64) -> AuditEntry {
    let mut entry = AuditEntry::new(AuditEvent::Access, t(i as i64));
    entry.client = Some(ClientId::random());
    entry.professional = Some(ProfessionalId::random());
    entry.organisation = Some(OrganisationId::random());
    entry.grant = Some(GrantId::random());
    entry.fields = vec!["identity.name".into(), "plan.agreed_actions".into()];
    entry.action = Some(Action::Read);
    entry.purpose = Some(PurposeCode::Guidance);
    entry.outcome = Some(audit::Outcome::Permit);
    entry
}

fn audit_appends(c: &mut Criterion) {
    let consent = consent(MemoryConsentStore::new());
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("append_memory", |b| {
        b.iter(|| {
            i += 1;
            consent.audit().append(access_entry(i)).unwrap()
        })
    });
    group.finish();
}

fn verification(c: &mut Criterion) {
    let store = MemoryConsentStore::new();
    let consent = consent(store.clone());
    for i in 0..1_000_000 {
        consent.audit().append(access_entry(i)).unwrap();
    }
    consent.audit().checkpoint(t(2_000_000)).unwrap();
    let jwks = consent.jwks();
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("verify_1e6_entries", |b| {
        b.iter(|| {
            let report = verify_store(&store, &jwks).unwrap();
            assert_eq!(report.entries, 1_000_000);
        })
    });
    group.finish();
}

criterion_group!(benches, decisions, audit_appends, verification);
criterion_main!(benches);
