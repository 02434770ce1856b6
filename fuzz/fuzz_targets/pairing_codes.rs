//! Pairing codes typed by a professional: never a panic, and a guess never finds a client.
#![no_main]
use libfuzzer_sys::fuzz_target;
use omadata_consent::*;
use omadata_vault::{Catalogue, ClientId, ProfessionalId};
use std::sync::{Arc, OnceLock};

struct World {
    consent: Consent,
    grantee: Grantee,
}

static WORLD: OnceLock<World> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let world = WORLD.get_or_init(|| {
        let consent = Consent::open(
            Arc::new(MemoryConsentStore::new()),
            Arc::new(Catalogue::builtin().expect("catalogue")),
            SensitivityPolicy::builtin().expect("policy"),
            Arc::new(ServiceKey::from_seed(&[5; 32])),
            ConsentConfig::default(),
        )
        .expect("consent");
        let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("time");
        consent.issue_pairing_code(ClientId::random(), now).expect("code");
        let grantee = Grantee {
            professional: ProfessionalId::random(),
            name: "P".into(),
            title: "T".into(),
            profession: Profession::YouthWork,
            organisation: Organisation {
                id: OrganisationId::random(),
                name: "O".into(),
                business_id: "0201256-6".into(),
                privacy_notice_url: "https://example.fi".into(),
                dpo_contact: "dpo@example.fi".into(),
            },
        };
        World { consent, grantee }
    });
    let Ok(code) = std::str::from_utf8(data) else { return };
    let now = chrono::DateTime::from_timestamp(1_790_000_100, 0).expect("time");
    let ask = AccessAsk {
        fields: vec![FieldSelector::Path("identity.name".into())],
        actions: [Action::Read].into_iter().collect(),
        purpose: Purpose { code: PurposeCode::Guidance, text: None },
        valid_until: now + chrono::Duration::days(1),
    };
    // The one real code is 50 random bits: a fuzzed guess does not find it.
    assert!(world.consent.request_access(&world.grantee, code, ask, now).is_err());
});
