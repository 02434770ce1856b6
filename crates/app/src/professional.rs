//! A professional's work: asking for access, their clients, reading and writing exactly
//! what grants permit. Every decision is audited, and durable, before the result is
//! returned.

use crate::client::{AuthoredRecord, authored};
use crate::limits::Quota;
use crate::{AppError, AppResult, Services};
use chrono::{DateTime, Utc};
use omadata_consent::audit::{AuditEntry, AuditEvent, Ticket};
use omadata_consent::{
    AccessAsk, AccessAttempt, AccessRequest, Action, ConsentError, Decision, Grant, GrantId,
    GrantState, RequestId, Staff,
};
use omadata_vault::{Author, ClientId};
use std::sync::Arc;

/// Asks the client who gave `pairing_code` for access. Wrong codes count against the
/// professional: past 5 in 15 minutes every attempt is refused, and the lockout itself is
/// audited, so repeated guessing is visible afterwards.
pub async fn request_access(
    services: &Arc<Services>,
    staff: &Staff,
    pairing_code: String,
    ask: AccessAsk,
    now: DateTime<Utc>,
) -> AppResult<AccessRequest> {
    let limiter_key = staff.id.to_string();
    if !services
        .allows(Quota::PairingFailures, &limiter_key, now)
        .await?
    {
        return Err(AppError::TooManyPairingAttempts);
    }
    let asker = staff.clone();
    let result = services
        .on_disk(move |services| {
            let grantee = services.directory.grantee(&asker)?;
            Ok(services
                .consent
                .request_access(&grantee, &pairing_code, ask, now))
        })
        .await?;
    match result {
        Err(ConsentError::PairingCodeInvalid) => {
            services
                .count(Quota::PairingFailures, limiter_key.clone(), now)
                .await?;
            if !services
                .allows(Quota::PairingFailures, &limiter_key, now)
                .await?
            {
                audit_lockout(services, staff, "pairing_code_guessing", now).await?;
            }
            Err(ConsentError::PairingCodeInvalid.into())
        }
        other => Ok(other?),
    }
}

/// The fields the policy lets `staff` be shared: all a request form should offer them.
pub fn shareable_fields(services: &Services, staff: &Staff) -> Vec<String> {
    services.consent.shareable_fields(staff.profession)
}

/// One page of the requests `staff` has sent, and where the next page starts.
pub fn sent_requests(
    services: &Services,
    staff: &Staff,
    after: Option<RequestId>,
    limit: usize,
) -> AppResult<(Vec<AccessRequest>, Option<RequestId>)> {
    Ok(services
        .consent
        .requests_by_professional_page(staff.id, after, limit)?)
}

/// The field that names a client: the professional's list shows it only when a grant
/// lets them read it.
pub const NAME_FIELD: &str = "identity.name";

/// A client in a professional's list: their active grants to the professional, and their
/// name when one of those grants lets the professional read it (and it is filled in).
#[derive(Debug)]
pub struct ListedClient {
    pub client: ClientId,
    pub grants: Vec<Grant>,
    pub name: Option<String>,
}

/// One page of the clients with at least one active grant to `staff`, and where the
/// next page starts.
pub type ClientPage = (Vec<ListedClient>, Option<ClientId>);

/// One page of the professional's clients. Reading a name for the list is an access like
/// any other: for each client whose active grant covers [`NAME_FIELD`] with read, the
/// decision is audited (one entry per client shown by name) and the name is opened from
/// the vault (one data-key unwrap per client). The page's entries share one flush
/// (group commit), so a page of 100 named clients costs 100 entries and one wait, not
/// 100 waits; nothing is returned before they are on disk.
pub async fn my_clients(
    services: &Arc<Services>,
    staff: &Staff,
    after: Option<ClientId>,
    limit: usize,
    now: DateTime<Utc>,
) -> AppResult<ClientPage> {
    let staff = staff.clone();
    // The page's reads and appends wait for the database on a shared store: they run
    // on the blocking pool there, together.
    let AppendedPage {
        listed,
        next,
        permits,
        last_entry,
    } = services
        .appending(move |services| list_clients(services, &staff, after, limit, now))
        .await?;
    services.decisions.count(permits, 0);
    // Nothing leaves before its audit entry is on disk: one shared flush for the page.
    services.committer.durable(last_entry).await?;
    Ok((listed, next))
}

/// A page of [`my_clients`] with its decisions appended, not yet durable.
struct AppendedPage {
    listed: Vec<ListedClient>,
    next: Option<ClientId>,
    permits: u64,
    /// The ticket of the page's last audit entry.
    last_entry: Option<Ticket>,
}

fn list_clients(
    services: &Services,
    staff: &Staff,
    after: Option<ClientId>,
    limit: usize,
    now: DateTime<Utc>,
) -> AppResult<AppendedPage> {
    let (clients, next) =
        services
            .consent
            .clients_of_professional_page(staff.id, after, limit, |grant| {
                grant.state(now) == GrantState::Active
            })?;
    let name_field = [NAME_FIELD.to_owned()];
    let mut last_entry = None;
    let mut listed = Vec::with_capacity(clients.len());
    let mut permits = 0;
    for (client, grants) in clients {
        let covers_name = grants
            .iter()
            .any(|g| g.fields.contains(NAME_FIELD) && g.actions.contains(&Action::Read));
        let mut name = None;
        if covers_name {
            let attempt = AccessAttempt {
                professional: staff.id,
                organisation: staff.organisation,
                client,
                action: Action::Read,
                now,
            };
            let (decisions, entry) =
                services
                    .consent
                    .authorize_deferred_among(&attempt, &grants, &name_field)?;
            last_entry = entry.max(last_entry);
            if decisions.iter().all(|d| d.decision.is_permit()) {
                permits += 1;
                name = client_name(services, client);
            }
        }
        listed.push(ListedClient {
            client,
            grants,
            name,
        });
    }
    Ok(AppendedPage {
        listed,
        next,
        permits,
        last_entry,
    })
}

/// The client's name as written, if it is. A name that cannot be opened (the client's
/// key is gone: erased meanwhile) leaves the list with the neutral label rather than
/// failing the whole list.
fn client_name(services: &Services, client: ClientId) -> Option<String> {
    let records = services.vault.read_many(client, &[NAME_FIELD]).ok()?;
    let record = records.into_iter().next().flatten()?;
    let value: String = serde_json::from_str(record.value.get()).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The active grants between `staff` and `client` now: what a professional's view of
/// the client's record says they may do (not a read of the client's data).
pub fn active_grants(
    services: &Services,
    staff: &Staff,
    client: ClientId,
    now: DateTime<Utc>,
) -> AppResult<Vec<Grant>> {
    let mut grants = services.consent.grants_between(staff.id, client)?;
    grants.retain(|grant| grant.state(now) == GrantState::Active);
    Ok(grants)
}

/// A field of a client's record that an active grant permits, with that grant.
#[derive(Debug)]
pub struct PermittedRecord {
    pub record: AuthoredRecord,
    pub grant: GrantId,
}

/// Reads every field of `client`'s record that the professional's active grants permit
/// and that holds a value. Each field's decision is audited; nothing is returned before
/// those entries are on disk (a flush shared with concurrent reads). No permitted field
/// at all is refused like a client without grants.
pub async fn read_client_record(
    services: &Arc<Services>,
    staff: &Staff,
    client: &str,
    now: DateTime<Utc>,
) -> AppResult<(ClientId, Vec<PermittedRecord>)> {
    let (id, organisation) = (staff.id, staff.organisation);
    let (client, probing) = probed_client(services, staff, now, client).await?;
    // The probe check, the decisions and the read in one go: on a shared store each
    // waits for the database, so they run on the blocking pool together.
    let outcome = services
        .appending(move |services| {
            if probing && !services.consent.permits_any_read(id, client, now)? {
                return Ok(None);
            }
            let (decisions, audited) =
                services
                    .consent
                    .authorize_granted_reads_deferred(id, organisation, client, now)?;
            let mut permitted = Vec::new();
            for decision in &decisions {
                if let Decision::Permit { grant, .. } = &decision.decision {
                    permitted.push((decision.field.as_str(), *grant));
                }
            }
            let denies = decisions.len() - permitted.len();
            services
                .decisions
                .count(permitted.len() as u64, denies as u64);
            let paths: Vec<&str> = permitted.iter().map(|(path, _)| *path).collect();
            let records = if paths.is_empty() {
                Vec::new()
            } else {
                services.vault.read_many(client, &paths)?
            };
            let fields: Vec<PermittedRecord> = records
                .into_iter()
                .zip(&permitted)
                .filter_map(|(record, (_, grant))| {
                    record.map(|record| PermittedRecord {
                        record: authored(services, record),
                        grant: *grant,
                    })
                })
                .collect();
            Ok(Some((!permitted.is_empty(), fields, audited)))
        })
        .await?;
    let Some((any_permitted, fields, audited)) = outcome else {
        return Err(AppError::TooManyRefusedReads);
    };
    // Nothing leaves before its audit entry is on disk (a shared flush: group commit).
    services.committer.durable(audited).await?;
    if !any_permitted {
        count_refusal(services, staff, now).await?;
        return Err(AppError::Forbidden);
    }
    Ok((client, fields))
}

/// Writes one field of `client`'s record, if a grant permits writing it; the decision
/// is durable in the audit log before the write is made.
pub async fn write_client_field(
    services: &Arc<Services>,
    staff: &Staff,
    client: &str,
    path: String,
    value: serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<AuthoredRecord> {
    let (id, organisation, field) = (staff.id, staff.organisation, path.clone());
    let (client, probing) = probed_client(services, staff, now, client).await?;
    let outcome = services
        .appending(move |services| {
            if probing
                && !services
                    .consent
                    .decide(id, client, &field, Action::Write, now)?
                    .is_permit()
            {
                return Ok(None);
            }
            Ok(Some(services.consent.authorize_deferred(
                id,
                organisation,
                client,
                std::slice::from_ref(&field),
                Action::Write,
                now,
            )?))
        })
        .await?;
    let Some((decisions, audited)) = outcome else {
        return Err(AppError::TooManyRefusedReads);
    };
    services.committer.durable(audited).await?;
    if !decisions.iter().all(|d| d.decision.is_permit()) {
        services.decisions.count(0, 1);
        count_refusal(services, staff, now).await?;
        return Err(AppError::Forbidden);
    }
    services.decisions.count(1, 0);
    let author = Author::Professional(staff.id);
    services
        .on_disk(move |services| {
            let record = services.vault.write(client, &path, value, author, now)?;
            Ok(authored(services, record))
        })
        .await
}

/// Counts one refused read or write by `staff`; the refusal that reaches the limit is
/// audited once, as the summary of the probing (later ones are refused before any
/// decision, so they add nothing to the log).
async fn count_refusal(
    services: &Arc<Services>,
    staff: &Staff,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let key = staff.id.to_string();
    services
        .count(Quota::RefusedReads, key.clone(), now)
        .await?;
    if !services.allows(Quota::RefusedReads, &key, now).await? {
        audit_lockout(services, staff, "refused_reads", now).await?;
    }
    Ok(())
}

/// Audits that `staff` reached a limit (`reason`), so guessing is visible afterwards.
async fn audit_lockout(
    services: &Arc<Services>,
    staff: &Staff,
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut entry = AuditEntry::new(AuditEvent::Lockout, now);
    entry.professional = Some(staff.id);
    entry.organisation = Some(staff.organisation);
    entry.reason = Some(reason.to_owned());
    services.audit(entry).await.map(drop)
}

/// The client a professional's read or write names, and whether the professional is
/// past the refused-probe limit. A malformed id is refused like a client without grants
/// (and counted). Past the limit, the caller refuses an attempt the grants would refuse
/// before its decision is audited, so probing adds nothing to the log; what the grants
/// allow goes on, so the clients' service does not stop. (That check reads the grants,
/// so the caller makes it in the same blocking work as the decision.)
async fn probed_client(
    services: &Arc<Services>,
    staff: &Staff,
    now: DateTime<Utc>,
    client: &str,
) -> AppResult<(ClientId, bool)> {
    let probing = !services
        .allows(Quota::RefusedReads, &staff.id.to_string(), now)
        .await?;
    let Ok(client) = client.parse::<ClientId>() else {
        if probing {
            return Err(AppError::TooManyRefusedReads);
        }
        count_refusal(services, staff, now).await?;
        return Err(AppError::Forbidden);
    };
    Ok((client, probing))
}
