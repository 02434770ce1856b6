//! The auditor's views of the log: events with filters, the signed checkpoint, proofs
//! and verification. Never record contents. An auditor sees the events that involve
//! their own organisation.

use crate::{AppError, AppResult, Services};
use chrono::{DateTime, Utc};
use omadata_consent::audit::{AuditEntry, AuditFilter, Checkpoint, LogReport};
use omadata_consent::{OrganisationId, Staff};
use omadata_vault::{ClientId, ProfessionalId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How an auditor names a client: the whole id, or its short reference, the first 8 hex
/// characters (4 bytes) the pages show. A short reference is a pseudonym, not a key: it
/// is looked up among the clients the log holds entries of (in memory, see
/// [`omadata_consent::audit::AuditLog::clients_starting_with`]), and when it fits more
/// than one of them the events of each are listed together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRef {
    Id(ClientId),
    Short([u8; 4]),
}

impl std::str::FromStr for ClientRef {
    type Err = AppError;

    fn from_str(text: &str) -> AppResult<Self> {
        let text = text.trim();
        if let Ok(id) = text.parse::<ClientId>() {
            return Ok(ClientRef::Id(id));
        }
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::InvalidClientReference);
        }
        u32::from_str_radix(text, 16)
            .map(|prefix| ClientRef::Short(prefix.to_be_bytes()))
            .map_err(|_| AppError::InvalidClientReference)
    }
}

/// Clients one short reference may name at most (4 random bytes: two clients of one
/// organisation sharing them is already unlikely).
const SHORT_REFERENCE_MATCHES: usize = 16;

/// What an auditor asks of the log.
#[derive(Debug, Default)]
pub struct EventQuery {
    pub client: Option<ClientRef>,
    pub professional: Option<ProfessionalId>,
    pub organisation: Option<OrganisationId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub before: Option<u64>,
    pub limit: usize,
}

/// Up to `query.limit` events of the auditor's own organisation, newest first, and the
/// `before` of the next page (none when the log has no more).
pub fn events(
    services: &Services,
    auditor: &Staff,
    query: EventQuery,
) -> AppResult<(Vec<AuditEntry>, Option<u64>)> {
    let own = auditor.organisation;
    if query.organisation.is_some_and(|o| o != own) {
        return Err(AppError::Forbidden);
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(AppError::InvalidTimeRange);
    }
    let audit = services.consent.audit();
    let filters = match (query.client, query.professional) {
        (Some(_), Some(_)) => {
            return Err(AppError::ConflictingFilters);
        }
        (Some(ClientRef::Id(client)), None) => vec![AuditFilter::Client(client)],
        (Some(ClientRef::Short(prefix)), None) => audit
            .clients_starting_with(&prefix, SHORT_REFERENCE_MATCHES)
            .into_iter()
            .map(AuditFilter::Client)
            .collect(),
        (None, Some(professional)) => vec![AuditFilter::Professional(professional)],
        (None, None) => vec![AuditFilter::Organisation(own)],
    };
    // Each filter's newest `limit` events before `before`; merged, the newest `limit` of
    // them are the page, and the next page goes on from the oldest shown.
    let mut events = Vec::new();
    let mut more = false;
    for filter in filters {
        let (found, exhausted) = own_events(services, own, filter, &query)?;
        more |= !exhausted;
        events.extend(found);
    }
    events.sort_unstable_by_key(|e| std::cmp::Reverse(e.seq));
    more |= events.len() > query.limit;
    events.truncate(query.limit);
    let next_before = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok((events, next_before))
}

/// Up to `query.limit` events of `filter` that involve organisation `own`, newest first,
/// and whether the log has no more of them.
fn own_events(
    services: &Services,
    own: OrganisationId,
    filter: AuditFilter,
    query: &EventQuery,
) -> AppResult<(Vec<AuditEntry>, bool)> {
    let limit = query.limit;
    let audit = services.consent.audit();
    let mut events = Vec::new();
    let mut before = query.before;
    let mut exhausted = false;
    while events.len() < limit {
        let batch = audit.query(filter, query.from, query.to, before, limit)?;
        let Some(last) = batch.last() else {
            exhausted = true;
            break;
        };
        before = Some(last.seq);
        events.extend(batch.into_iter().filter(|e| e.organisation == Some(own)));
    }
    events.truncate(limit);
    Ok((events, exhausted))
}

/// One page of the auditor's own organisation's staff: whom the events name.
pub fn staff(
    services: &Services,
    auditor: &Staff,
    after: Option<ProfessionalId>,
    limit: usize,
) -> AppResult<(Vec<Staff>, Option<ProfessionalId>)> {
    let organisation = auditor.organisation;
    Ok(services
        .directory
        .staff_page(after, limit, |s| s.organisation == organisation)?)
}

/// The newest signed checkpoint, if one has been signed.
pub fn checkpoint(services: &Services) -> AppResult<Option<Checkpoint>> {
    Ok(services.consent.audit().latest_checkpoint()?)
}

/// Signs a checkpoint over the whole log now if it has grown since the newest one
/// (otherwise returns the newest).
pub async fn sign_checkpoint(
    services: &Arc<Services>,
    now: DateTime<Utc>,
) -> AppResult<Checkpoint> {
    services
        .on_disk(move |services| Ok(services.consent.audit().checkpoint_if_grown(now)?))
        .await
}

pub fn inclusion_proof(services: &Services, seq: u64, size: u64) -> AppResult<Vec<[u8; 32]>> {
    Ok(services.consent.audit().inclusion_proof(seq, size)?)
}

pub fn consistency_proof(services: &Services, from: u64, to: u64) -> AppResult<Vec<[u8; 32]>> {
    Ok(services.consent.audit().consistency_proof(from, to)?)
}

/// Sets the flag when dropped: a verification whose caller went away (the client left,
/// or the request timed out) stops at its next batch instead of running on.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Recomputes the whole tree and checks every stored checkpoint, streaming the log in
/// bounded memory on the blocking pool. One at a time: a second call meanwhile is
/// refused with [`AppError::VerificationRunning`].
pub async fn verify(services: &Arc<Services>) -> AppResult<LogReport> {
    let Ok(running) = services
        .quotas
        .audit_verification
        .clone()
        .try_acquire_owned()
    else {
        return Err(AppError::VerificationRunning);
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let outcome = services
        .on_disk(move |services| {
            // Held until the work itself ends, not the call: a dropped call frees the
            // slot only once its verification has stopped.
            let _running = running;
            Ok(services
                .consent
                .audit()
                .verify_cancellable(&services.consent.jwks(), &cancel))
        })
        .await?;
    outcome.map_err(AppError::LogInvalid)
}

#[cfg(test)]
mod tests {
    use super::ClientRef;
    use omadata_vault::ClientId;

    #[test]
    fn a_client_is_named_by_its_id_or_its_first_eight_hex_characters() {
        let id = ClientId::random();
        assert_eq!(
            id.to_string().parse::<ClientRef>().ok(),
            Some(ClientRef::Id(id))
        );
        let short = &id.to_string()[..8];
        let expected = ClientRef::Short(id.as_bytes()[..4].try_into().unwrap());
        assert_eq!(short.parse::<ClientRef>().ok(), Some(expected));
        assert_eq!(
            short.to_uppercase().parse::<ClientRef>().ok(),
            Some(expected)
        );
        assert_eq!(
            format!(" {short} ").parse::<ClientRef>().ok(),
            Some(expected)
        );
        for wrong in [
            "",
            "1a2b3c4",
            "1a2b3c4d5",
            "zzzzzzzz",
            "+1a2b3c4",
            "1a2b-3c4",
            "ääää",
        ] {
            assert!(wrong.parse::<ClientRef>().is_err(), "{wrong}");
        }
    }
}
