//! Consent behaviour over the in-memory store: one test binary, one module a theme.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_log;
mod decisions;
mod flows;
mod policy;
mod receipts;
mod sealed_text;
mod shared_log;

use chrono::{DateTime, Duration, Utc};
use omadata_consent::*;
use omadata_vault::{Catalogue, ClientId, Keyring, MasterKey, ProfessionalId, Vault};
use std::collections::BTreeSet;
use std::sync::Arc;

pub fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

#[derive(Debug)]
pub struct Fixture {
    pub consent: Consent,
    pub store: MemoryConsentStore,
    pub key: Arc<ServiceKey>,
    /// Holds the clients' data keys the purpose texts are sealed under.
    pub vault: Arc<Vault>,
}

/// The vault as sealer, enrolling a client on first use: the tests make up client ids
/// that the gateway would have enrolled at sign-in.
#[derive(Debug)]
pub struct EnrollingSealer(pub Arc<Vault>);

impl ClientSealer for EnrollingSealer {
    fn seal(&self, client: ClientId, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0
            .enrol(client)
            .map_err(|e| SealError::Failed(e.to_string()))?;
        self.0.seal(client, label, plaintext)
    }

    fn open(
        &self,
        client: ClientId,
        label: &str,
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, SealError> {
        self.0.open(client, label, sealed)
    }
}

pub fn test_vault() -> Arc<Vault> {
    Arc::new(
        Vault::open(
            Arc::new(omadata_vault::memory::MemoryStore::new()),
            Keyring::new(MasterKey::generate().unwrap()),
            Arc::new(Catalogue::builtin().unwrap()),
        )
        .unwrap(),
    )
}

pub fn fixture() -> Fixture {
    fixture_over(MemoryConsentStore::new(), test_vault())
}

/// A fixture over an existing store and vault (a restart).
pub fn fixture_over(store: MemoryConsentStore, vault: Arc<Vault>) -> Fixture {
    let key = Arc::new(ServiceKey::generate().unwrap());
    let consent = Consent::open(
        Arc::new(store.clone()),
        Arc::new(Catalogue::builtin().unwrap()),
        SensitivityPolicy::builtin().unwrap(),
        key.clone(),
        Arc::new(EnrollingSealer(vault.clone())),
        ConsentConfig::default(),
    )
    .unwrap();
    Fixture {
        consent,
        store,
        key,
        vault,
    }
}

pub fn organisation() -> Organisation {
    Organisation {
        id: OrganisationId::random(),
        name: "Ohjaamo Testikaupunki".into(),
        business_id: "1234567-8".into(),
        privacy_notice_url: "https://ohjaamo.example.fi/tietosuoja".into(),
        dpo_contact: "tietosuoja@example.fi".into(),
    }
}

pub fn professional(profession: Profession) -> Grantee {
    Grantee {
        professional: ProfessionalId::random(),
        name: "Pekka Ohjaaja".into(),
        title: "Ohjaaja".into(),
        profession,
        organisation: organisation(),
    }
}

pub fn paths(list: &[&str]) -> Vec<FieldSelector> {
    list.iter()
        .map(|p| FieldSelector::Path((*p).into()))
        .collect()
}

pub fn actions(list: &[Action]) -> BTreeSet<Action> {
    list.iter().copied().collect()
}

pub fn guidance() -> Purpose {
    Purpose {
        code: PurposeCode::Guidance,
        text: Some("Opiskelupaikan etsiminen".into()),
    }
}

pub fn ask(fields: &[&str], acts: &[Action], until: DateTime<Utc>) -> AccessAsk {
    AccessAsk {
        fields: paths(fields),
        actions: actions(acts),
        purpose: guidance(),
        valid_until: until,
    }
}

pub fn client() -> ClientId {
    ClientId::random()
}
