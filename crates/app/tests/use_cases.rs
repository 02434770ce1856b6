//! The use cases without HTTP, over the in-memory stores: what a client and a
//! professional do, in the order they do it, and what the audit log holds after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, Utc};
use omadata_app::sign_in::{self, LoginIdentity, Resolved};
use omadata_app::{AppError, Principal, Role, Services, client, professional};
use omadata_clock::{Clock, ManualClock};
use omadata_consent::audit::{AuditEvent, AuditFilter};
use omadata_consent::{
    AccessAsk, Action, Consent, ConsentConfig, Directory, EnrolmentSecret, FieldSelector,
    MemoryConsentStore, Narrowing, NewOrganisation, NewStaff, Profession, Purpose, PurposeCode,
    Registrar, SensitivityPolicy, ServiceKey, Staff, StaffRole,
};
use omadata_vault::{Catalogue, ClientId, Keyring, MasterKey, Vault};
use serde_json::json;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

struct World {
    services: Arc<Services>,
    professional: Staff,
}

fn world() -> World {
    let master = zeroize::Zeroizing::new([7u8; 32]);
    let stores = Stores {
        consent: MemoryConsentStore::new(),
        vault: Arc::new(omadata_vault::memory::MemoryStore::new()),
        master,
        service_key: Arc::new(ServiceKey::generate().unwrap()),
    };
    let services = gateway_on(&stores, stores.consent.clone());
    let professional = register_professional(&services);
    World {
        services,
        professional,
    }
}

/// What the gateways of one deployment share: the stores and the keys.
struct Stores {
    consent: MemoryConsentStore,
    vault: Arc<omadata_vault::memory::MemoryStore>,
    master: zeroize::Zeroizing<[u8; 32]>,
    service_key: Arc<ServiceKey>,
}

/// The services of one gateway over `stores`, acting as the process `consent_store` is.
fn gateway_on(stores: &Stores, consent_store: MemoryConsentStore) -> Arc<Services> {
    let store = Arc::new(consent_store);
    let catalogue = Arc::new(Catalogue::builtin().unwrap());
    let vault = Arc::new(
        Vault::open(
            stores.vault.clone(),
            Keyring::new(MasterKey::from_bytes(stores.master.clone())),
            catalogue.clone(),
        )
        .unwrap(),
    );
    let consent = Consent::open(
        store.clone(),
        catalogue,
        SensitivityPolicy::builtin().unwrap(),
        stores.service_key.clone(),
        vault.clone(),
        ConsentConfig::default(),
    )
    .unwrap();
    let directory = Directory::new(store, EnrolmentSecret::new(b"use-case-tests"));
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t0()));
    Services::start(vault, consent, directory, clock, None).unwrap()
}

fn register_professional(services: &Services) -> Staff {
    let directory = &services.directory;
    let organisation = directory
        .register_organisation(NewOrganisation {
            name: "Ohjaamo Testikaupunki".into(),
            business_id: "0201256-6".into(),
            privacy_notice_url: "https://ohjaamo.example.fi/tietosuoja".into(),
            dpo_contact: "tietosuoja@example.fi".into(),
        })
        .unwrap();
    directory
        .register_staff(
            organisation.id,
            NewStaff {
                name: "Pekka Ohjaaja".into(),
                title: "Ohjaaja".into(),
                profession: Profession::YouthWork,
                roles: [StaffRole::Professional].into_iter().collect(),
                login_subject: "pekka".into(),
                login_issuer: Some("https://idp.example".into()),
            },
            Registrar::Operator,
            t0(),
        )
        .unwrap()
}

/// Signs a new client in through the use case, as the gateway does after the provider.
fn new_client(services: &Services, subject: &str) -> ClientId {
    let identity = LoginIdentity {
        issuer: "https://idp.example",
        subject,
        national_id: None,
        name: Some("Aino"),
    };
    match sign_in::resolve_principal(
        services,
        identity,
        Some(Role::Client),
        "https://idp.example",
    )
    .unwrap()
    {
        Resolved::Principal(Principal::Client { id, .. }) => id,
        other => panic!("not enrolled as a client: {other:?}"),
    }
}

fn access_entries(services: &Services, client: ClientId) -> usize {
    services
        .consent
        .audit()
        .query(AuditFilter::Client(client), None, None, None, 1000)
        .unwrap()
        .iter()
        .filter(|e| e.event == AuditEvent::Access)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_professional_reads_exactly_what_was_approved_and_every_read_is_durable_first() {
    let World {
        services,
        professional: pro,
    } = world();
    let now = t0();
    let aino = new_client(&services, "aino");
    // Signing in again finds the same client.
    assert_eq!(new_client(&services, "aino"), aino);
    for (path, value) in [
        ("identity.name", json!("Aino Esimerkki")),
        ("identity.phone", json!("+358401234567")),
    ] {
        client::write_my_field(&services, aino, path.into(), value, now)
            .await
            .unwrap();
    }
    let code = client::issue_pairing_code(&services, aino, now)
        .await
        .unwrap();
    let ask = AccessAsk {
        fields: vec![
            FieldSelector::Path("identity.name".into()),
            FieldSelector::Path("identity.phone".into()),
        ],
        actions: [Action::Read].into_iter().collect(),
        purpose: Purpose {
            code: PurposeCode::Guidance,
            text: None,
        },
        valid_until: now + Duration::days(30),
    };
    let request = professional::request_access(&services, &pro, code.code, ask, now)
        .await
        .unwrap();
    // The client approves less than was asked: the name only.
    let narrowing: Narrowing =
        serde_json::from_value(json!({"fields": [{"path": "identity.name"}]})).unwrap();
    let grant = client::approve(&services, aino, &request.id.to_string(), narrowing, now)
        .await
        .unwrap();

    let audited_before = services.consent.audit().len();
    let (_, fields) = professional::read_client_record(&services, &pro, &aino.to_string(), now)
        .await
        .unwrap();
    let paths: Vec<&str> = fields
        .iter()
        .map(|f| f.record.record.path.as_str())
        .collect();
    assert_eq!(paths, ["identity.name"]);
    assert_eq!(fields[0].grant, grant.id);
    // The decision is in the log and on disk by the time the read returns.
    assert!(services.consent.audit().len() > audited_before);
    assert!(services.consent.audit().durable_below() >= services.consent.audit().len());
    assert!(
        services
            .decisions
            .permits
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );

    // Revoked: refused from the next read on, and the refusal is audited too.
    client::revoke(&services, aino, &grant.id.to_string(), now)
        .await
        .unwrap();
    let accesses = access_entries(&services, aino);
    let refused = professional::read_client_record(&services, &pro, &aino.to_string(), now).await;
    assert!(matches!(refused, Err(AppError::Forbidden)), "{refused:?}");
    assert!(access_entries(&services, aino) > accesses);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_client_ids_is_stopped_without_growing_the_log() {
    let World {
        services,
        professional: pro,
    } = world();
    let now = t0();
    for _ in 0..20 {
        let probe = ClientId::random().to_string();
        let refused = professional::read_client_record(&services, &pro, &probe, now).await;
        assert!(matches!(refused, Err(AppError::Forbidden)), "{refused:?}");
    }
    let logged = services.consent.audit().len();
    for probe in [ClientId::random().to_string(), "not-an-id".to_owned()] {
        let refused = professional::read_client_record(&services, &pro, &probe, now).await;
        assert!(
            matches!(refused, Err(AppError::TooManyRefusedReads)),
            "{refused:?}"
        );
    }
    assert_eq!(services.consent.audit().len(), logged);
    // The window passes: probing is answered again (and counted) as before.
    let later = now + Duration::minutes(16);
    let refused =
        professional::read_client_record(&services, &pro, &ClientId::random().to_string(), later)
            .await;
    assert!(matches!(refused, Err(AppError::Forbidden)), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_needs_a_recent_sign_in_and_then_forgets_the_client() {
    let World { services, .. } = world();
    let now = t0();
    let aino = new_client(&services, "aino");
    let max_age = Duration::minutes(5);
    let stale = client::erase(&services, aino, now - Duration::minutes(6), max_age, now).await;
    assert!(
        matches!(stale, Err(AppError::ReauthenticationRequired)),
        "{stale:?}"
    );
    assert!(services.vault.is_enrolled(aino).unwrap());
    client::erase(&services, aino, now - Duration::minutes(1), max_age, now)
        .await
        .unwrap();
    assert!(!services.vault.is_enrolled(aino).unwrap());
    // The same person signing in again is a new client.
    assert_ne!(new_client(&services, "aino"), aino);
}

/// Two gateways on one shared store: a revocation made through one holds at the other's
/// next request, once that request has looked at the shared change counts, even though
/// the other had the grant in memory; looks made at once all pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_gateway_holds_at_the_next_request_through_another() {
    let shared = MemoryConsentStore::shared();
    let stores = Stores {
        consent: shared.clone(),
        vault: Arc::new(omadata_vault::memory::MemoryStore::new()),
        master: zeroize::Zeroizing::new([9u8; 32]),
        service_key: Arc::new(ServiceKey::generate().unwrap()),
    };
    let a = gateway_on(&stores, shared.another_process());
    let b = gateway_on(&stores, shared.another_process());
    let pro = register_professional(&a);
    let now = t0();
    let aino = new_client(&a, "aino");
    client::write_my_field(&a, aino, "identity.name".into(), json!("Aino"), now)
        .await
        .unwrap();
    let code = client::issue_pairing_code(&a, aino, now).await.unwrap();
    let ask = AccessAsk {
        fields: vec![FieldSelector::Path("identity.name".into())],
        actions: [Action::Read].into_iter().collect(),
        purpose: Purpose {
            code: PurposeCode::Guidance,
            text: None,
        },
        valid_until: now + Duration::days(30),
    };
    b.observe_changes(|| {}).await.unwrap();
    let request = professional::request_access(&b, &pro, code.code, ask, now)
        .await
        .unwrap();
    a.observe_changes(|| {}).await.unwrap();
    let narrowing: Narrowing = serde_json::from_value(json!({})).unwrap();
    let grant = client::approve(&a, aino, &request.id.to_string(), narrowing, now)
        .await
        .unwrap();
    // B reads (and so caches the grant) after looking.
    b.observe_changes(|| {}).await.unwrap();
    let (_, fields) = professional::read_client_record(&b, &pro, &aino.to_string(), now)
        .await
        .unwrap();
    assert_eq!(fields.len(), 1);

    a.observe_changes(|| {}).await.unwrap();
    client::revoke(&a, aino, &grant.id.to_string(), now)
        .await
        .unwrap();
    // Without a look B would still decide from the grant it holds in memory; the look
    // tells it what to forget, and it forgets the gateway's own caches as well.
    let forgotten = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut looks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (b, forgotten) = (b.clone(), forgotten.clone());
        looks.spawn(async move {
            b.observe_changes(|| {
                forgotten.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            })
            .await
        });
    }
    while let Some(look) = looks.join_next().await {
        look.unwrap().unwrap();
    }
    assert_eq!(forgotten.load(std::sync::atomic::Ordering::Relaxed), 1);
    let refused = professional::read_client_record(&b, &pro, &aino.to_string(), now).await;
    assert!(matches!(refused, Err(AppError::Forbidden)), "{refused:?}");
}
