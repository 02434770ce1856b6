//! An organisation admin's work: their organisation and its staff. Registrations name
//! the gateway's configured issuer; `health_care` ones wait for the operator's
//! confirmation. Every change is audited.

use crate::{AppError, AppResult, Services};
use chrono::{DateTime, Utc};
use omadata_consent::audit::{AuditEntry, AuditEvent};
use omadata_consent::{NewStaff, Organisation, Registrar, Staff, StaffStatus};
use omadata_vault::ProfessionalId;
use std::sync::Arc;

pub fn organisation(services: &Services, admin: &Staff) -> AppResult<Organisation> {
    services
        .directory
        .organisation(admin.organisation)?
        .ok_or(AppError::NotFound("organisation"))
}

/// One page of the admin's organisation's staff.
pub fn staff(
    services: &Services,
    admin: &Staff,
    after: Option<ProfessionalId>,
    limit: usize,
) -> AppResult<(Vec<Staff>, Option<ProfessionalId>)> {
    let organisation = admin.organisation;
    Ok(services
        .directory
        .staff_page(after, limit, |s| s.organisation == organisation)?)
}

fn admin_entry(admin: &Staff, reason: String, now: DateTime<Utc>) -> AuditEntry {
    let mut entry = AuditEntry::new(AuditEvent::Admin, now);
    entry.professional = Some(admin.id);
    entry.organisation = Some(admin.organisation);
    entry.reason = Some(reason);
    entry
}

/// Registers a staff member in the admin's organisation, signing in through
/// `configured_issuer` (the only issuer an admin may name).
pub async fn register_staff(
    services: &Arc<Services>,
    admin: &Staff,
    mut registration: NewStaff,
    configured_issuer: &str,
    now: DateTime<Utc>,
) -> AppResult<Staff> {
    match &registration.login_issuer {
        Some(issuer) if issuer != configured_issuer => {
            return Err(AppError::ForeignIssuer);
        }
        _ => registration.login_issuer = Some(configured_issuer.to_owned()),
    }
    let organisation = admin.organisation;
    let staff = services
        .on_disk(move |services| {
            Ok(services.directory.register_staff(
                organisation,
                registration,
                Registrar::OrganisationAdmin,
                now,
            )?)
        })
        .await?;
    // The auditors' tools read these names as they have always been written.
    let reason = format!(
        "admin {} registered staff {} ({:?}, roles {:?}, status {:?})",
        admin.id, staff.id, staff.profession, staff.roles, staff.status
    );
    services.audit(admin_entry(admin, reason, now)).await?;
    Ok(staff)
}

/// Deactivates a staff member of the admin's own organisation: they cannot sign in
/// again. Another organisation's member, or no such member, is refused alike. The caller
/// ends the member's sessions once this returns.
pub async fn deactivate_staff(
    services: &Arc<Services>,
    admin: &Staff,
    id: &str,
    now: DateTime<Utc>,
) -> AppResult<Staff> {
    let id: ProfessionalId = id.parse().map_err(|_| AppError::InvalidStaffId)?;
    let organisation = admin.organisation;
    let staff = services
        .on_disk(move |services| {
            let target = services
                .directory
                .staff(id)?
                .filter(|s| s.organisation == organisation)
                .ok_or(AppError::Forbidden)?;
            Ok(services
                .directory
                .set_staff_status(target.id, StaffStatus::Deactivated)?)
        })
        .await?;
    let reason = format!("admin {} deactivated staff {}", admin.id, staff.id);
    services.audit(admin_entry(admin, reason, now)).await?;
    Ok(staff)
}
