//! Who a verified login is in OmaData: enrol-or-find at sign-in, the principal a bearer
//! token names, and the audit entries of signing in and out. The identity provider's
//! checks (signature, nonce, `acr`) are the gateway's; this starts from their result.

use crate::principal::staff_role_of;
use crate::{AppResult, Principal, Role, Services};
use chrono::{DateTime, Utc};
use omadata_consent::audit::{AuditEntry, AuditEvent};
use omadata_consent::{ClientIdentity, Staff};
use omadata_vault::{ClientId, ProfessionalId};
use std::sync::Arc;

/// A person as the identity provider verified them.
#[derive(Clone, Copy, Debug)]
pub struct LoginIdentity<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    /// The personal identity code, when the provider gives one.
    pub national_id: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// What a verified identity is in OmaData, in the role asked for.
#[derive(Debug)]
pub enum Resolved {
    Principal(Principal),
    /// Registered as staff for the role, but pending confirmation or deactivated.
    StaffNotActive(Box<Staff>),
    NotRegistered,
}

/// Who the verified person is in OmaData, in the role they asked for (`wished`), with
/// `configured_issuer` the gateway's own identity provider.
///
/// A person who is a client (enrolled by national id, or who signed in as a client with
/// this subject before) stays a client unless they explicitly ask for a staff role they
/// are registered for: a staff registration never silently turns a client into staff.
/// A person who is neither staff in that role nor a known client is enrolled as a new
/// client. Every client sign-in records a keyed hash of the subject so that a later
/// staff registration of it is refused.
pub fn resolve_principal(
    services: &Services,
    identity: LoginIdentity<'_>,
    wished: Option<Role>,
    configured_issuer: &str,
) -> AppResult<Resolved> {
    let staff =
        services
            .directory
            .staff_by_login(identity.issuer, identity.subject, configured_issuer)?;
    let client_identity = match identity.national_id {
        Some(national_id) => ClientIdentity::NationalId(national_id),
        None => ClientIdentity::Subject {
            issuer: identity.issuer,
            subject: identity.subject,
        },
    };
    let known_client = || -> AppResult<Option<ClientId>> {
        let found = match services.directory.find_client(client_identity)? {
            Some(id) => Some(id),
            None => services.directory.client_by_subject(identity.subject)?,
        };
        Ok(match found {
            Some(id) if services.vault.is_enrolled(id)? => Some(id),
            _ => None,
        })
    };
    let staff_role = match (wished, &staff) {
        (Some(Role::Client), _) => None,
        (Some(role), Some(staff)) => match role.staff_role() {
            Some(r) if staff.roles.contains(&r) => Some(role),
            _ => return Ok(Resolved::NotRegistered),
        },
        (Some(_), None) => return Ok(Resolved::NotRegistered),
        (None, Some(staff)) if known_client()?.is_none() => {
            staff.roles.iter().next().copied().map(staff_role_of)
        }
        (None, _) => None,
    };
    if let (Some(role), Some(staff)) = (staff_role, staff) {
        if !staff.is_active() {
            return Ok(Resolved::StaffNotActive(Box::new(staff)));
        }
        return Ok(Resolved::Principal(Principal::Staff {
            staff: Box::new(staff),
            role,
        }));
    }
    let id = match services.directory.find_client(client_identity)? {
        Some(id) if services.vault.is_enrolled(id)? => id,
        _ => {
            let id = services.vault.enrol_client()?;
            services.directory.enrol_client(client_identity, id)?;
            tracing::info!(client = %id, "new client enrolled");
            id
        }
    };
    services
        .directory
        .link_client_subject(identity.subject, id)?;
    Ok(Resolved::Principal(Principal::Client {
        id,
        display_name: identity.name.unwrap_or("Asiakas").to_owned(),
    }))
}

/// The subject a bearer token names for `principal`.
pub fn token_subject(principal: &Principal) -> String {
    match principal {
        Principal::Client { id, .. } => format!("client:{id}"),
        Principal::Staff { staff, .. } => format!("staff:{}", staff.id),
    }
}

/// The principal a bearer token's subject names, if it still exists in that role (an
/// enrolled client; an active staff member registered for the role).
pub fn principal_from_subject(
    services: &Services,
    subject: &str,
    role: Role,
) -> AppResult<Option<Principal>> {
    if let Some(id) = subject.strip_prefix("client:") {
        let Ok(id) = id.parse::<ClientId>() else {
            return Ok(None);
        };
        if role != Role::Client || !services.vault.is_enrolled(id)? {
            return Ok(None);
        }
        return Ok(Some(Principal::Client {
            id,
            display_name: "Asiakas".into(),
        }));
    }
    if let Some(id) = subject.strip_prefix("staff:") {
        let Ok(id) = id.parse::<ProfessionalId>() else {
            return Ok(None);
        };
        return Ok(services
            .directory
            .staff(id)?
            .and_then(|staff| staff_principal(staff, role)));
    }
    Ok(None)
}

/// [`principal_from_subject`] answered from memory, when it can be: a staff subject
/// whose record is cached (`None`: the store must be asked).
pub fn principal_from_cached_subject(
    services: &Services,
    subject: &str,
    role: Role,
) -> Option<Option<Principal>> {
    let id = subject
        .strip_prefix("staff:")?
        .parse::<ProfessionalId>()
        .ok()?;
    let staff = services.directory.cached_staff(id)?;
    Some(staff_principal(staff, role))
}

/// `staff` acting in `role`, if active and registered for it.
fn staff_principal(staff: Staff, role: Role) -> Option<Principal> {
    if !staff.is_active() {
        return None;
    }
    role.staff_role()
        .filter(|r| staff.roles.contains(r))
        .map(|_| Principal::Staff {
            staff: Box::new(staff),
            role,
        })
}

fn entry_about(principal: &Principal, event: AuditEvent, now: DateTime<Utc>) -> AuditEntry {
    let mut entry = AuditEntry::new(event, now);
    match principal {
        Principal::Client { id, .. } => entry.client = Some(*id),
        Principal::Staff { staff, .. } => {
            entry.professional = Some(staff.id);
            entry.organisation = Some(staff.organisation);
        }
    }
    entry
}

/// Audits a sign-in (the role in the reason); durable before it returns.
pub async fn audit_sign_in(
    services: &Arc<Services>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut entry = entry_about(principal, AuditEvent::Login, now);
    entry.reason = Some(principal.role().as_str().to_owned());
    services.audit(entry).await.map(drop)
}

/// Audits a sign-out; durable before it returns.
pub async fn audit_sign_out(
    services: &Arc<Services>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> AppResult<()> {
    services
        .audit(entry_about(principal, AuditEvent::Logout, now))
        .await
        .map(drop)
}

/// Audits a refused sign-in with its reason (a stable code, or a count summary).
pub async fn audit_refusal(
    services: &Arc<Services>,
    reason: String,
    professional: Option<ProfessionalId>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut entry = AuditEntry::new(AuditEvent::LoginRefused, now);
    entry.reason = Some(reason);
    entry.professional = professional;
    services.audit(entry).await.map(drop)
}

/// A signed-in staff member as they stand now (registrations change under live
/// sessions): none when no longer registered or no longer active.
pub fn current_staff(services: &Services, id: ProfessionalId) -> AppResult<Option<Staff>> {
    Ok(services.directory.staff(id)?.filter(|s| s.is_active()))
}

/// [`current_staff`] answered from memory, when the record is cached (`None`: the store
/// must be asked).
pub fn cached_current_staff(services: &Services, id: ProfessionalId) -> Option<Option<Staff>> {
    let staff = services.directory.cached_staff(id)?;
    Some(staff.is_active().then_some(staff))
}
