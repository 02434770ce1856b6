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

/// What an auditor asks of the log.
#[derive(Debug, Default)]
pub struct EventQuery {
    pub client: Option<ClientId>,
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
    let filter = match (query.client, query.professional) {
        (Some(_), Some(_)) => {
            return Err(AppError::ConflictingFilters);
        }
        (Some(client), None) => AuditFilter::Client(client),
        (None, Some(professional)) => AuditFilter::Professional(professional),
        (None, None) => AuditFilter::Organisation(own),
    };
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(AppError::InvalidTimeRange);
    }
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
    let next_before = if exhausted {
        None
    } else {
        events.last().map(|e| e.seq)
    };
    Ok((events, next_before))
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
