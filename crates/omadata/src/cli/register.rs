//! `register`: organisations and their staff, written by the operator straight into the store.

use super::{CliError, say};
use crate::store::{OpenStore, StoreChoice};
use clap::Subcommand;
use omadata_consent::{
    Consent, ConsentConfig, Directory, NewOrganisation, NewStaff, OrganisationId, Profession,
    Registrar, SensitivityPolicy, ServiceKey, StaffRole, StaffStatus,
};
use omadata_vault::{Catalogue, VaultError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub(super) enum RegisterCommand {
    /// Registers an organisation; prints its id.
    Organisation {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        business_id: String,
        #[arg(long)]
        privacy_notice_url: String,
        #[arg(long)]
        dpo_contact: String,
    },
    /// Registers a professional, auditor or admin of an organisation.
    Staff {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        organisation: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        title: String,
        /// youth_work, social_work, employment_services, health_care, education, other
        #[arg(long)]
        profession: String,
        /// professional, auditor or admin (repeatable)
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The identity provider subject the person logs in as.
        #[arg(long)]
        login_subject: String,
        /// The provider (issuer URL) of that subject; default: whichever issuer the
        /// gateway is configured with.
        #[arg(long)]
        login_issuer: Option<String>,
    },
    /// Confirms a staff registration an organisation admin made for a profession that
    /// unlocks special-category data (`health_care`): until then the person cannot sign in.
    ConfirmStaff {
        #[arg(long)]
        data: PathBuf,
        /// The staff id.
        #[arg(long)]
        staff: String,
    },
    /// Deactivates a staff member: they cannot sign in again (run while the gateway is
    /// stopped; at its next start their old sessions and tokens are gone too).
    DeactivateStaff {
        #[arg(long)]
        data: PathBuf,
        /// The staff id.
        #[arg(long)]
        staff: String,
    },
}

fn open_directory(data: &Path, choice: &StoreChoice) -> Result<Directory, CliError> {
    let store = OpenStore::open(data, choice).map_err(VaultError::from)?;
    let secret = crate::server::read_enrolment_secret(&data.join("enrolment.secret"))?;
    Ok(Directory::new(store.consent(), secret))
}

/// Sets a staff member's status and writes who did what to the audit log.
fn set_staff_status(
    data: &Path,
    choice: &StoreChoice,
    staff: &str,
    status: StaffStatus,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use omadata_consent::audit::{AuditEntry, AuditEvent};
    let id: omadata_vault::ProfessionalId = staff
        .parse()
        .map_err(|_| CliError::Config("--staff must be a staff id".into()))?;
    let store = OpenStore::open(data, choice)
        .map_err(VaultError::from)?
        .consent();
    let secret = crate::server::read_enrolment_secret(&data.join("enrolment.secret"))?;
    let directory = Directory::new(store.clone(), secret);
    let current = directory
        .staff(id)?
        .ok_or_else(|| CliError::Config(format!("no staff member {id}")))?;
    if status == StaffStatus::Active && current.status != StaffStatus::PendingConfirmation {
        return Err(CliError::Config(format!(
            "staff {id} is {:?}: only a pending registration can be confirmed",
            current.status
        )));
    }
    let consent = Consent::open(
        store,
        Arc::new(Catalogue::builtin()?),
        SensitivityPolicy::builtin()?,
        Arc::new(ServiceKey::from_file(&data.join("signing.key"))?),
        // Only appends to the audit log: no client keys needed, none loaded.
        Arc::new(omadata_consent::NoClientKeys),
        ConsentConfig::default(),
    )?;
    let staff = directory.set_staff_status(id, status)?;
    let what = if status == StaffStatus::Active {
        "confirmed"
    } else {
        "deactivated"
    };
    let mut entry = AuditEntry::new(AuditEvent::Admin, now);
    entry.professional = Some(staff.id);
    entry.organisation = Some(staff.organisation);
    entry.reason = Some(format!(
        "operator {what} staff {} ({:?})",
        staff.id, staff.profession
    ));
    consent.audit().append(entry)?;
    say(
        out,
        format_args!("staff {} {what}: {}", staff.id, staff.name),
    )
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, CliError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| CliError::Config(format!("unknown {what} `{text}`")))
}

pub(super) fn register(
    command: RegisterCommand,
    choice: &StoreChoice,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let now = omadata_clock::Clock::now(&omadata_clock::SystemClock);
    match command {
        RegisterCommand::Organisation {
            data,
            name,
            business_id,
            privacy_notice_url,
            dpo_contact,
        } => {
            let organisation =
                open_directory(&data, choice)?.register_organisation(NewOrganisation {
                    name,
                    business_id,
                    privacy_notice_url,
                    dpo_contact,
                })?;
            say(
                out,
                format_args!(
                    "organisation {} registered: {}",
                    organisation.id, organisation.name
                ),
            )
        }
        RegisterCommand::Staff {
            data,
            organisation,
            name,
            title,
            profession,
            roles,
            login_subject,
            login_issuer,
        } => {
            let organisation: OrganisationId = organisation.parse().map_err(|_| {
                CliError::Config("--organisation must be an organisation id".into())
            })?;
            let profession: Profession = parse_enum("profession", &profession)?;
            let roles = roles
                .iter()
                .map(|r| parse_enum::<StaffRole>("role", r))
                .collect::<Result<_, _>>()?;
            let staff = open_directory(&data, choice)?.register_staff(
                organisation,
                NewStaff {
                    name,
                    title,
                    profession,
                    roles,
                    login_subject,
                    login_issuer,
                },
                Registrar::Operator,
                now,
            )?;
            say(
                out,
                format_args!("staff {} registered: {}", staff.id, staff.name),
            )
        }
        RegisterCommand::ConfirmStaff { data, staff } => {
            set_staff_status(&data, choice, &staff, StaffStatus::Active, now, out)
        }
        RegisterCommand::DeactivateStaff { data, staff } => {
            set_staff_status(&data, choice, &staff, StaffStatus::Deactivated, now, out)
        }
    }
}
