//! The client's own data and consents: their record, pairing codes, requests, grants,
//! receipts, who has looked, the export, and erasure.

use crate::limits::Quota;
use crate::{AppError, AppResult, Services};
use chrono::{DateTime, Duration, Utc};
use omadata_consent::audit::{AuditEntry, AuditEvent, AuditFilter};
use omadata_consent::{
    AccessAsk, AccessRequest, Grant, GrantId, Narrowing, Organisation, PairingCode, RequestId,
    Staff, StaffRole,
};
use omadata_vault::{Author, ClientId, ProfessionalId, Record};
use std::collections::HashMap;
use std::sync::Arc;

/// A record with the staff member who wrote it, when a professional did.
#[derive(Debug)]
pub struct AuthoredRecord {
    pub record: Record,
    pub professional: Option<Staff>,
}

/// `record` with its author looked up (a professional's name and title; nothing for the
/// client, and nothing for staff no longer registered).
pub fn authored(services: &Services, record: Record) -> AuthoredRecord {
    let professional = match record.author {
        Author::Client(_) => None,
        Author::Professional(id) => services.directory.staff(id).ok().flatten(),
    };
    AuthoredRecord {
        record,
        professional,
    }
}

/// An audit entry about the client, with who acted and for which organisation.
#[derive(Debug)]
pub struct DescribedEntry {
    pub entry: AuditEntry,
    pub professional: Option<Staff>,
    pub organisation: Option<Organisation>,
}

fn described(services: &Services, entry: AuditEntry) -> DescribedEntry {
    let professional = entry
        .professional
        .and_then(|p| services.directory.staff(p).ok().flatten());
    let organisation = professional.as_ref().and_then(|s| {
        services
            .directory
            .organisation(s.organisation)
            .ok()
            .flatten()
    });
    DescribedEntry {
        entry,
        professional,
        organisation,
    }
}

/// The newest version of every field the client holds.
pub fn my_record(services: &Services, client: ClientId) -> AppResult<Vec<AuthoredRecord>> {
    Ok(services
        .vault
        .current_records(client)?
        .into_iter()
        .map(|record| authored(services, record))
        .collect())
}

/// Writes one field of the client's own record (durable before it returns).
pub async fn write_my_field(
    services: &Arc<Services>,
    client: ClientId,
    path: String,
    value: serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<AuthoredRecord> {
    services
        .on_disk(move |services| {
            let record = services
                .vault
                .write(client, &path, value, Author::Client(client), now)?;
            Ok(authored(services, record))
        })
        .await
}

/// A new pairing code for the client to show a professional.
pub async fn issue_pairing_code(
    services: &Arc<Services>,
    client: ClientId,
    now: DateTime<Utc>,
) -> AppResult<PairingCode> {
    services
        .on_disk(move |services| Ok(services.consent.issue_pairing_code(client, now)?))
        .await
}

/// A registered professional a client can grant to, with their organisation's name.
#[derive(Debug)]
pub struct ListedProfessional {
    pub staff: Staff,
    pub organisation: String,
}

/// One page of the professionals who can act on a grant (active, with the professional
/// role, in a registered organisation), sorted by name within the page, and where the
/// next page starts (pages follow the directory's id order).
pub fn professionals(
    services: &Services,
    after: Option<ProfessionalId>,
    limit: usize,
) -> AppResult<(Vec<ListedProfessional>, Option<ProfessionalId>)> {
    let directory = &services.directory;
    // One read of the organisations and one of the staff, not one staff scan per organisation.
    let organisations: HashMap<_, _> = directory
        .organisations()?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let (staff, next) = directory.staff_page(after, limit, |s| {
        s.is_active()
            && s.roles.contains(&StaffRole::Professional)
            && organisations.contains_key(&s.organisation)
    })?;
    let mut listed: Vec<ListedProfessional> = staff
        .into_iter()
        .filter_map(|staff| {
            Some(ListedProfessional {
                organisation: organisations.get(&staff.organisation)?.clone(),
                staff,
            })
        })
        .collect();
    listed.sort_by(|a, b| a.staff.name.cmp(&b.staff.name));
    Ok((listed, next))
}

/// One page of the access requests made to the client.
pub fn my_requests(
    services: &Services,
    client: ClientId,
    after: Option<RequestId>,
    limit: usize,
) -> AppResult<(Vec<AccessRequest>, Option<RequestId>)> {
    Ok(services
        .consent
        .requests_for_client_page(client, after, limit)?)
}

/// One of the client's access requests, in any state; another client's request is
/// "not found", exactly like a missing one.
pub fn my_request(
    services: &Services,
    client: ClientId,
    request: &str,
) -> AppResult<AccessRequest> {
    let id: RequestId = request.parse().map_err(|_| AppError::NotFound("request"))?;
    services
        .consent
        .request(id)?
        .filter(|r| r.client == client)
        .ok_or(AppError::NotFound("request"))
}

/// Approves a pending request, as asked or narrowed; signs the receipt.
pub async fn approve(
    services: &Arc<Services>,
    client: ClientId,
    request: &str,
    narrowing: Narrowing,
    now: DateTime<Utc>,
) -> AppResult<Grant> {
    let request: RequestId = request.parse().map_err(|_| AppError::NotFound("request"))?;
    services
        .on_disk(move |services| Ok(services.consent.approve(client, request, &narrowing, now)?))
        .await
}

/// Denies a pending request.
pub async fn deny(
    services: &Arc<Services>,
    client: ClientId,
    request: &str,
    now: DateTime<Utc>,
) -> AppResult<AccessRequest> {
    let request: RequestId = request.parse().map_err(|_| AppError::NotFound("request"))?;
    services
        .on_disk(move |services| Ok(services.consent.deny(client, request, now)?))
        .await
}

/// One page of the client's grants.
pub fn my_grants(
    services: &Services,
    client: ClientId,
    after: Option<GrantId>,
    limit: usize,
) -> AppResult<(Vec<Grant>, Option<GrantId>)> {
    Ok(services
        .consent
        .grants_for_client_page(client, after, limit)?)
}

/// A grant the client gives on their own initiative to a registered professional (at
/// most 100 a day: each is stored for good).
pub async fn create_grant(
    services: &Arc<Services>,
    client: ClientId,
    professional: ProfessionalId,
    ask: AccessAsk,
    now: DateTime<Utc>,
) -> AppResult<Grant> {
    let grantee = services
        .reading(move |services| {
            let staff = services
                .directory
                .staff(professional)?
                .filter(|s| s.roles.contains(&StaffRole::Professional))
                .ok_or(AppError::UnknownProfessional)?;
            Ok(services.directory.grantee(&staff)?)
        })
        .await?;
    let limiter_key = client.to_string();
    if !services
        .allows(Quota::GrantsCreated, &limiter_key, now)
        .await?
    {
        return Err(AppError::TooManyGrants);
    }
    let grant = services
        .on_disk(move |services| Ok(services.consent.grant(client, &grantee, ask, now)?))
        .await?;
    services
        .count(Quota::GrantsCreated, limiter_key, now)
        .await?;
    Ok(grant)
}

/// Revokes a grant: it permits nothing from the next request on.
pub async fn revoke(
    services: &Arc<Services>,
    client: ClientId,
    grant: &str,
    now: DateTime<Utc>,
) -> AppResult<Grant> {
    let grant: GrantId = grant.parse().map_err(|_| AppError::NotFound("grant"))?;
    services
        .on_disk(move |services| Ok(services.consent.revoke(client, grant, now)?))
        .await
}

/// The latest signed receipt of one of the client's grants, exactly as signed.
pub fn receipt(services: &Services, client: ClientId, grant: &str) -> AppResult<Vec<u8>> {
    let grant: GrantId = grant.parse().map_err(|_| AppError::NotFound("grant"))?;
    services
        .consent
        .receipts(client, grant)?
        .pop()
        .ok_or(AppError::NotFound("receipt"))
}

/// "Who has seen my data, and when": up to `limit` access decisions about the client,
/// newest first, older than `before`.
pub fn access_log(
    services: &Services,
    client: ClientId,
    before: Option<u64>,
    limit: usize,
) -> AppResult<Vec<DescribedEntry>> {
    let mut accesses = Vec::new();
    let mut before = before;
    // Page through the client's index, keeping access decisions.
    while accesses.len() < limit {
        let batch = services.consent.audit().query(
            AuditFilter::Client(client),
            None,
            None,
            before,
            limit,
        )?;
        let Some(last) = batch.last() else { break };
        before = Some(last.seq);
        accesses.extend(batch.into_iter().filter(|e| e.event == AuditEvent::Access));
    }
    accesses.truncate(limit);
    Ok(accesses
        .into_iter()
        .map(|entry| described(services, entry))
        .collect())
}

/// Everything held about the client (GDPR Art. 15 and 20).
#[derive(Debug)]
pub struct Export {
    pub records: Vec<AuthoredRecord>,
    pub grants: Vec<Grant>,
    pub requests: Vec<AccessRequest>,
    pub log: Vec<DescribedEntry>,
}

pub fn export(services: &Services, client: ClientId) -> AppResult<Export> {
    let records = services.vault.all_versions(client)?;
    let grants = services.consent.grants_for_client(client)?;
    let requests = services.consent.requests_for_client(client)?;
    let log = services.consent.audit().query(
        AuditFilter::Client(client),
        None,
        None,
        None,
        usize::MAX,
    )?;
    Ok(Export {
        records: records
            .into_iter()
            .map(|record| authored(services, record))
            .collect(),
        grants,
        requests,
        log: log
            .into_iter()
            .map(|entry| described(services, entry))
            .collect(),
    })
}

/// Erasure: ends every grant, crypto-shreds the records and forgets who the client was.
/// Irreversible, so it needs a sign-in no older than `max_age`. The caller ends the
/// client's sessions once this returns.
pub async fn erase(
    services: &Arc<Services>,
    client: ClientId,
    authenticated_at: DateTime<Utc>,
    max_age: Duration,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if now - authenticated_at > max_age {
        return Err(AppError::ReauthenticationRequired);
    }
    services
        .on_disk(move |services| {
            services.consent.erase_client(client, now)?;
            services.vault.erase_client(client)?;
            services.directory.forget_client(client)?;
            Ok(())
        })
        .await
}
