//! The `omadata` command line against a real on-disk store: keys, receipt and audit-log
//! verification (offline, from published keys only), export, and master-key rotation.

use chrono::{DateTime, Duration, Utc};
use omadata::cli::CliError;
use omadata_consent::audit::AuditFilter;
use omadata_consent::*;
use omadata_store_sled::SledStore;
use omadata_vault::{Author, Catalogue, ClientId, Keyring, MasterKey, ProfessionalId, Vault};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
}

fn omadata(args: &[&str]) -> Result<String, omadata::cli::CliError> {
    omadata_e2e::omadata_cli(args)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn grantee() -> Grantee {
    Grantee {
        professional: ProfessionalId::random(),
        name: "Pirjo Ohjaaja".into(),
        title: "Nuoriso-ohjaaja".into(),
        profession: Profession::YouthWork,
        organisation: Organisation {
            id: OrganisationId::random(),
            name: "Ohjaamo Testikaupunki".into(),
            business_id: "1234567-8".into(),
            privacy_notice_url: "https://ohjaamo.example.fi/tietosuoja".into(),
            dpo_contact: "tietosuoja@example.fi".into(),
        },
    }
}

/// A data directory with a consent history: a grant used, then revoked.
fn populated(dir: &Path) -> (ClientId, GrantId) {
    let signing = dir.join("signing.key");
    let out = omadata(&["keys", "generate-signing", "--out", p(&signing)]).unwrap();
    assert!(out.contains("signing key"));
    let store = Arc::new(SledStore::open(&dir.join("db")).unwrap());
    let consent = Consent::open(
        store,
        Arc::new(Catalogue::builtin().unwrap()),
        SensitivityPolicy::builtin().unwrap(),
        Arc::new(ServiceKey::from_file(&signing).unwrap()),
        // The purpose has no text: nothing to seal.
        Arc::new(omadata_consent::NoClientKeys),
        ConsentConfig::default(),
    )
    .unwrap();
    let client = ClientId::random();
    let pro = grantee();
    let grant = consent
        .grant(
            client,
            &pro,
            AccessAsk {
                fields: vec![FieldSelector::Path("identity.name".into())],
                actions: [Action::Read].into_iter().collect(),
                purpose: Purpose {
                    code: PurposeCode::Guidance,
                    text: None,
                },
                valid_until: t(0) + Duration::days(30),
            },
            t(0),
        )
        .unwrap();
    consent
        .authorize(
            pro.professional,
            pro.organisation.id,
            client,
            &["identity.name".into()],
            Action::Read,
            t(1),
        )
        .unwrap();
    consent.audit().checkpoint(t(2)).unwrap();
    consent.revoke(client, grant.id, t(3)).unwrap();
    consent
        .authorize(
            pro.professional,
            pro.organisation.id,
            client,
            &["identity.name".into()],
            Action::Read,
            t(4),
        )
        .unwrap();
    consent.audit().checkpoint(t(5)).unwrap();
    let seen = consent
        .audit()
        .query(AuditFilter::Client(client), None, None, None, 10)
        .unwrap();
    assert_eq!(seen.len(), 4);
    let receipts = consent.receipts(client, grant.id).unwrap();
    std::fs::write(dir.join("grant.receipt.json"), &receipts[0]).unwrap();
    std::fs::write(dir.join("revoke.receipt.json"), &receipts[1]).unwrap();
    (client, grant.id)
}

#[test]
fn receipts_and_the_audit_log_verify_offline_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_, grant) = populated(dir.path());
    let jwks = dir.path().join("jwks.json");
    let published = omadata(&[
        "keys",
        "jwks",
        "--signing-key",
        p(&dir.path().join("signing.key")),
    ])
    .unwrap();
    std::fs::write(&jwks, &published).unwrap();
    assert!(published.contains("\"crv\": \"Ed25519\""));

    for name in ["grant.receipt.json", "revoke.receipt.json"] {
        let out = omadata(&[
            "receipt",
            "verify",
            p(&dir.path().join(name)),
            "--jwks",
            p(&jwks),
        ])
        .unwrap();
        assert!(
            out.contains("receipt valid") && out.contains(&grant.to_string()),
            "{out}"
        );
    }
    let receipt = std::fs::read(dir.path().join("grant.receipt.json")).unwrap();
    let altered = String::from_utf8(receipt)
        .unwrap()
        .replace("identity.name", "identity.nami");
    std::fs::write(dir.path().join("altered.json"), altered).unwrap();
    let err = omadata(&[
        "receipt",
        "verify",
        p(&dir.path().join("altered.json")),
        "--jwks",
        p(&jwks),
    ])
    .unwrap_err();
    assert!(matches!(err, CliError::Receipt(_)), "{err}");
    assert_eq!(err.exit_code(), 1);

    let out = omadata(&[
        "audit",
        "verify",
        "--data",
        p(dir.path()),
        "--jwks",
        p(&jwks),
    ])
    .unwrap();
    assert!(
        out.contains("audit log valid: 4 entries") && out.contains("2 signed checkpoints"),
        "{out}"
    );

    let entries = dir.path().join("entries.jsonl");
    let checkpoints = dir.path().join("checkpoints.json");
    omadata(&[
        "audit",
        "export",
        "--data",
        p(dir.path()),
        "--entries",
        p(&entries),
        "--checkpoints",
        p(&checkpoints),
    ])
    .unwrap();
    let verify_export = || {
        omadata(&[
            "audit",
            "verify",
            "--entries",
            p(&entries),
            "--checkpoints",
            p(&checkpoints),
            "--jwks",
            p(&jwks),
        ])
    };
    assert!(verify_export().unwrap().contains("4 entries"));

    // Hide the denied access after revocation: drop the last line.
    let text = std::fs::read_to_string(&entries).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&entries, kept.join("\n")).unwrap();
    let err = verify_export().unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // Turn the deny into a permit.
    std::fs::write(
        &entries,
        text.replace("\"outcome\":\"deny\"", "\"outcome\":\"permit\""),
    )
    .unwrap();
    assert!(matches!(verify_export(), Err(CliError::Log(_))));
}

#[test]
fn keys_rotate_rewraps_a_real_store() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.key");
    let new = dir.path().join("new.key");
    omadata(&["keys", "generate-master", "--out", p(&old)]).unwrap();
    omadata(&["keys", "generate-master", "--out", p(&new)]).unwrap();
    assert!(matches!(
        omadata(&["keys", "generate-master", "--out", p(&new)]),
        Err(CliError::Vault(_))
    ));
    let client = {
        let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
        let vault = Vault::open(
            store,
            Keyring::new(MasterKey::from_file(&old).unwrap()),
            Arc::new(Catalogue::builtin().unwrap()),
        )
        .unwrap();
        let client = vault.enrol_client().unwrap();
        vault
            .write(
                client,
                "identity.name",
                json!("Aino"),
                Author::Client(client),
                t(0),
            )
            .unwrap();
        client
    };
    let out = omadata(&[
        "keys",
        "rotate",
        "--data",
        p(dir.path()),
        "--old-key",
        p(&old),
        "--new-key",
        p(&new),
    ])
    .unwrap();
    assert!(out.contains("1 data keys rewrapped"), "{out}");
    let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let vault = Vault::open(
        store,
        Keyring::new(MasterKey::from_file(&new).unwrap()),
        Arc::new(Catalogue::builtin().unwrap()),
    )
    .unwrap();
    assert_eq!(
        vault.read_value(client, "identity.name").unwrap().unwrap(),
        json!("Aino")
    );
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let err = omadata(&["receipt", "verify"]).unwrap_err();
    assert!(matches!(err, CliError::Usage(_)));
    assert_eq!(err.exit_code(), 2);
    assert!(omadata(&["--help"]).unwrap().contains("Usage"));
    let err = omadata(&[
        "receipt",
        "verify",
        "/nonexistent",
        "--jwks",
        "/nonexistent",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent"), "{err}");
}

#[test]
fn backup_and_restore_of_a_stopped_store_keep_the_log_and_refuse_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = populated(dir.path());
    let file = dir.path().join("store.backup");
    let said = omadata(&["backup", "--data", p(dir.path()), "--out", p(&file)]).unwrap();
    assert!(said.contains("(no gateway running)"), "{said}");
    assert!(omadata(&["backup", "--data", p(dir.path()), "--out", p(&file)]).is_err());

    let restored = dir.path().join("restored");
    let said = omadata(&["restore", "--from", p(&file), "--data", p(&restored)]).unwrap();
    assert!(said.contains("restored"), "{said}");
    let store = Arc::new(SledStore::open(&restored.join("db")).unwrap());
    let consent = Consent::open(
        store,
        Arc::new(Catalogue::builtin().unwrap()),
        SensitivityPolicy::builtin().unwrap(),
        Arc::new(ServiceKey::from_file(&dir.path().join("signing.key")).unwrap()),
        Arc::new(omadata_consent::NoClientKeys),
        ConsentConfig::default(),
    )
    .unwrap();
    let seen = consent
        .audit()
        .query(AuditFilter::Client(client), None, None, None, 10)
        .unwrap();
    assert_eq!(seen.len(), 4);
    assert!(consent.audit().verify(&consent.jwks()).is_ok());

    // A damaged file is refused with a usage-level error and leaves nothing behind.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let damaged = dir.path().join("damaged.backup");
    std::fs::write(&damaged, bytes).unwrap();
    let target = dir.path().join("from-damaged");
    let error = omadata(&["restore", "--from", p(&damaged), "--data", p(&target)]).unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("damaged"), "{error}");
    assert!(!target.join("db").exists());
}
