//! Demo data: one organisation with staff for every test person, and clients with
//! records, grants and a pending request, so every role has something to see.

use crate::test_idp;
use chrono::{DateTime, Duration, Utc};
use omadata_consent::{
    AccessAsk, Action, ClientIdentity, Consent, ConsentError, Directory, FieldSelector,
    NewOrganisation, NewStaff, Profession, Purpose, PurposeCode, Registrar, StaffRole,
};
use omadata_vault::{Author, ClientId, Vault, VaultError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("demo data needs the test person {0}")]
    MissingPerson(&'static str),
}

fn paths(list: &[&str]) -> Vec<FieldSelector> {
    list.iter()
        .map(|p| FieldSelector::Path((*p).to_owned()))
        .collect()
}

fn enrol(vault: &Vault, directory: &Directory, login: &'static str) -> Result<ClientId, DemoError> {
    let person = test_idp::person(login).ok_or(DemoError::MissingPerson(login))?;
    let national_id = person.national_id.ok_or(DemoError::MissingPerson(login))?;
    let id = vault.enrol_client()?;
    directory.enrol_client(ClientIdentity::NationalId(national_id), id)?;
    // Their test-provider subject is their login: no staff registration may claim it.
    directory.link_client_subject(login, id)?;
    Ok(id)
}

/// Seeds a fresh store. Returns the demo clients (client1, client2).
pub fn seed(
    vault: &Vault,
    consent: &Consent,
    directory: &Directory,
    now: DateTime<Utc>,
) -> Result<(ClientId, ClientId), DemoError> {
    let organisation = directory.register_organisation(NewOrganisation {
        name: "Ohjaamo Demokaupunki".into(),
        business_id: "0201256-6".into(),
        privacy_notice_url: "https://ohjaamo.example.fi/tietosuojaseloste".into(),
        dpo_contact: "tietosuojavastaava@ohjaamo.example.fi".into(),
    })?;
    let staff = [
        (
            "pro-youth",
            "Nuoriso-ohjaaja",
            Profession::YouthWork,
            StaffRole::Professional,
        ),
        (
            "pro-employment",
            "Työvalmentaja",
            Profession::EmploymentServices,
            StaffRole::Professional,
        ),
        (
            "pro-health",
            "Terveydenhoitaja",
            Profession::HealthCare,
            StaffRole::Professional,
        ),
        (
            "pro-unrelated",
            "Opinto-ohjaaja",
            Profession::Education,
            StaffRole::Professional,
        ),
        (
            "auditor",
            "Tietosuojavastaava",
            Profession::Other,
            StaffRole::Auditor,
        ),
        (
            "admin",
            "Palvelupäällikkö",
            Profession::Other,
            StaffRole::Admin,
        ),
    ];
    let mut registered = Vec::new();
    for (login, title, profession, role) in staff {
        let person = test_idp::person(login).ok_or(DemoError::MissingPerson(login))?;
        registered.push(directory.register_staff(
            organisation.id,
            NewStaff {
                name: person.name.into(),
                title: title.into(),
                profession,
                roles: [role].into_iter().collect(),
                login_subject: login.into(),
                login_issuer: None,
            },
            Registrar::Operator,
            now,
        )?);
    }
    let client1 = enrol(vault, directory, "client1")?;
    let client2 = enrol(vault, directory, "client2")?;
    let me = Author::Client(client1);
    vault.write(client1, "identity.name", json!("Aino Asiakas"), me, now)?;
    vault.write(
        client1,
        "identity.phone",
        json!("+358 40 123 4567"),
        me,
        now,
    )?;
    vault.write(
        client1,
        "identity.municipality",
        json!("Demokaupunki"),
        me,
        now,
    )?;
    vault.write(
        client1,
        "needs.own_goals",
        json!("Haluan opiskelupaikan syksyllä ja oman asunnon."),
        me,
        now,
    )?;
    vault.write(
        client1,
        "situation.housing",
        json!("Asun vanhempien luona."),
        me,
        now,
    )?;
    vault.write(
        client1,
        "health.status",
        json!("Astma, lääkitys kunnossa."),
        me,
        now,
    )?;
    let youth = &registered[0];
    vault.write(
        client1,
        "plan.agreed_actions",
        json!("Tutustutaan ammattiopiston avoimiin oviin. Haetaan yhteishaussa."),
        Author::Professional(youth.id),
        now,
    )?;
    consent.grant(
        client1,
        &directory.grantee(youth)?,
        AccessAsk {
            fields: paths(&[
                "identity.name",
                "identity.phone",
                "needs.own_goals",
                "situation.housing",
                "plan.agreed_actions",
            ]),
            actions: [Action::Read, Action::Write].into_iter().collect(),
            purpose: Purpose {
                code: PurposeCode::Guidance,
                text: Some("Opiskelupaikan ja asunnon etsiminen".into()),
            },
            valid_until: now + Duration::days(90),
        },
        now,
    )?;
    consent.grant(
        client1,
        &directory.grantee(&registered[2])?,
        AccessAsk {
            fields: paths(&["identity.name", "health.status"]),
            actions: [Action::Read].into_iter().collect(),
            purpose: Purpose {
                code: PurposeCode::ServiceNeedAssessment,
                text: None,
            },
            valid_until: now + Duration::days(30),
        },
        now,
    )?;
    let me2 = Author::Client(client2);
    vault.write(client2, "identity.name", json!("Eero Esimerkki"), me2, now)?;
    vault.write(
        client2,
        "background.skills",
        json!(["asiakaspalvelu", "trukkikortti"]),
        me2,
        now,
    )?;
    let code = consent.issue_pairing_code(client2, now)?;
    consent.request_access(
        &directory.grantee(&registered[1])?,
        &code.code,
        AccessAsk {
            fields: paths(&["identity.name", "background.skills"]),
            actions: [Action::Read].into_iter().collect(),
            purpose: Purpose {
                code: PurposeCode::EmployerCooperation,
                text: Some("Työkokeilupaikan etsiminen".into()),
            },
            valid_until: now + Duration::days(60),
        },
        now,
    )?;
    Ok((client1, client2))
}
