//! The directory's tests: registration, login matching, enrolment and erasure.

use super::*;
use crate::store::MemoryConsentStore;

fn directory() -> (Directory, MemoryConsentStore) {
    let store = MemoryConsentStore::new();
    (
        Directory::new(Arc::new(store.clone()), EnrolmentSecret::new(b"secret")),
        store,
    )
}

const ISSUER: &str = "https://idp.example";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

fn org() -> NewOrganisation {
    NewOrganisation {
        name: "Ohjaamo Testikaupunki".into(),
        business_id: "0201256-6".into(),
        privacy_notice_url: "https://example.fi/tietosuoja".into(),
        dpo_contact: "tietosuoja@example.fi".into(),
    }
}

#[test]
fn business_ids_are_checked() {
    assert!(check_business_id("0201256-6").is_ok());
    assert!(check_business_id("1572860-0").is_ok());
    assert!(check_business_id("0201256-7").is_err());
    assert!(check_business_id("201256-6").is_err());
    assert!(check_business_id("abcdefg-h").is_err());
}

#[test]
fn staff_are_found_by_login_and_subjects_are_unique() {
    let (directory, _) = directory();
    let organisation = directory.register_organisation(org()).unwrap();
    let staff = directory
        .register_staff(
            organisation.id,
            NewStaff {
                name: "Pirjo".into(),
                title: "Ohjaaja".into(),
                profession: Profession::YouthWork,
                roles: [StaffRole::Professional].into_iter().collect(),
                login_subject: "pro-youth".into(),
                login_issuer: None,
            },
            Registrar::Operator,
            now(),
        )
        .unwrap();
    assert_eq!(
        directory
            .staff_by_login(ISSUER, "pro-youth", ISSUER)
            .unwrap(),
        Some(staff.clone())
    );
    assert_eq!(
        directory
            .staff_by_login(ISSUER, "stranger", ISSUER)
            .unwrap(),
        None
    );
    // The same subject from another provider is someone else.
    assert_eq!(
        directory
            .staff_by_login("https://other.example", "pro-youth", ISSUER)
            .unwrap(),
        None
    );
    let again = NewStaff {
        name: "X".into(),
        title: "Y".into(),
        profession: Profession::Other,
        roles: [StaffRole::Auditor].into_iter().collect(),
        login_subject: "pro-youth".into(),
        login_issuer: None,
    };
    assert!(matches!(
        directory.register_staff(organisation.id, again, Registrar::Operator, now()),
        Err(ConsentError::IdentityTaken)
    ));
    assert_eq!(
        directory.grantee(&staff).unwrap().organisation,
        organisation
    );
    assert_eq!(directory.staff_of(organisation.id).unwrap(), vec![staff]);
    let bad = NewOrganisation {
        business_id: "123".into(),
        ..org()
    };
    assert!(directory.register_organisation(bad).is_err());
}

#[test]
fn clients_are_matched_by_keyed_hash_only_and_can_be_forgotten() {
    let (directory, store) = directory();
    let client = ClientId::random();
    let hetu = "010101-123N";
    assert_eq!(
        directory
            .find_client(ClientIdentity::NationalId(hetu))
            .unwrap(),
        None
    );
    directory
        .enrol_client(ClientIdentity::NationalId(hetu), client)
        .unwrap();
    assert_eq!(
        directory
            .find_client(ClientIdentity::NationalId(hetu))
            .unwrap(),
        Some(client)
    );
    for (key, value) in store.scan(b"", None, false, usize::MAX).unwrap() {
        assert!(!String::from_utf8_lossy(&key).contains("123N"));
        assert!(!String::from_utf8_lossy(&value).contains("123N"));
    }
    // Another secret gives another hash: the store alone cannot be searched by number.
    let other = Directory::new(Arc::new(store.clone()), EnrolmentSecret::new(b"other"));
    assert_eq!(
        other.find_client(ClientIdentity::NationalId(hetu)).unwrap(),
        None
    );
    directory.forget_client(client).unwrap();
    assert_eq!(
        directory
            .find_client(ClientIdentity::NationalId(hetu))
            .unwrap(),
        None
    );
}

fn new_staff(subject: &str, profession: Profession) -> NewStaff {
    NewStaff {
        name: "Hanna".into(),
        title: "Terveydenhoitaja".into(),
        profession,
        roles: [StaffRole::Professional].into_iter().collect(),
        login_subject: subject.into(),
        login_issuer: Some(ISSUER.into()),
    }
}

#[test]
fn a_clients_sign_in_subject_cannot_be_registered_as_staff_until_forgotten() {
    let (directory, _) = directory();
    let organisation = directory.register_organisation(org()).unwrap();
    let client = ClientId::random();
    directory
        .enrol_client(ClientIdentity::NationalId("020205A9128"), client)
        .unwrap();
    directory.link_client_subject("client2", client).unwrap();
    assert_eq!(
        directory.client_by_subject("client2").unwrap(),
        Some(client)
    );
    assert!(matches!(
        directory.register_staff(
            organisation.id,
            new_staff("client2", Profession::YouthWork),
            Registrar::Operator,
            now()
        ),
        Err(ConsentError::IdentityTaken)
    ));
    directory.forget_client(client).unwrap();
    assert_eq!(directory.client_by_subject("client2").unwrap(), None);
    assert!(
        directory
            .register_staff(
                organisation.id,
                new_staff("client2", Profession::YouthWork),
                Registrar::Operator,
                now()
            )
            .is_ok()
    );
}

#[test]
fn an_admins_health_care_registration_waits_for_the_operator_and_deactivation_sticks() {
    let (directory, _) = directory();
    let organisation = directory.register_organisation(org()).unwrap();
    let pending = directory
        .register_staff(
            organisation.id,
            new_staff("pro-health-2", Profession::HealthCare),
            Registrar::OrganisationAdmin,
            now(),
        )
        .unwrap();
    assert_eq!(pending.status, StaffStatus::PendingConfirmation);
    let by_operator = directory
        .register_staff(
            organisation.id,
            new_staff("pro-health-3", Profession::HealthCare),
            Registrar::Operator,
            now(),
        )
        .unwrap();
    assert_eq!(by_operator.status, StaffStatus::Active);
    let youth = directory
        .register_staff(
            organisation.id,
            new_staff("pro-youth-2", Profession::YouthWork),
            Registrar::OrganisationAdmin,
            now(),
        )
        .unwrap();
    assert!(youth.is_active());

    // Read once (cached), then confirmed: the cached copy follows.
    assert!(!directory.staff(pending.id).unwrap().unwrap().is_active());
    directory
        .set_staff_status(pending.id, StaffStatus::Active)
        .unwrap();
    assert!(directory.staff(pending.id).unwrap().unwrap().is_active());
    directory
        .set_staff_status(pending.id, StaffStatus::Deactivated)
        .unwrap();
    let found = directory
        .staff_by_login(ISSUER, "pro-health-2", ISSUER)
        .unwrap()
        .unwrap();
    assert_eq!(found.status, StaffStatus::Deactivated);
    assert!(
        directory
            .set_staff_status(pending.id, StaffStatus::Active)
            .is_err()
    );
    assert!(matches!(
        directory.set_staff_status(ProfessionalId::random(), StaffStatus::Deactivated),
        Err(ConsentError::UnknownStaff)
    ));
}

#[test]
fn staff_records_stored_before_issuer_and_status_still_load_as_active() {
    let old = r#"{"id":"6f1c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f","organisation":"1f1c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f","name":"Pirjo","title":"Ohjaaja","profession":"youth_work","roles":["professional"],"login_subject":"pro-youth","registered_at":"2026-01-01T00:00:00Z"}"#;
    let staff: Staff = serde_json::from_str(old).unwrap();
    assert!(staff.is_active());
    assert_eq!(staff.login_issuer, None);
    assert!(staff.signs_in_as(ISSUER, "pro-youth", ISSUER));
    assert!(!staff.signs_in_as("https://other.example", "pro-youth", ISSUER));
}
