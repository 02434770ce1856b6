//! Reads of client data: the grants between a professional and a client (cached until
//! the next consent change), decisions, and audited authorisation.

use super::{Consent, invalid};
use crate::audit::{AuditEntry, AuditEvent, Outcome, Ticket};
use crate::decision::{FieldDecision, decide_among};
use crate::error::ConsentError;
use crate::layout;
use crate::model::*;
use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// Who tries to do what with whose data, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessAttempt {
    pub professional: ProfessionalId,
    pub organisation: OrganisationId,
    pub client: ClientId,
    pub action: Action,
    pub now: DateTime<Utc>,
}

/// Grants as read in one generation.
pub(super) type CachedGrants = (u64, Vec<Grant>);

/// Pairs in the grant cache at most; it is emptied when full.
const GRANT_CACHE_LIMIT: usize = 100_000;

impl Consent {
    /// The grants between one professional and one client: an index prefix scan.
    /// From memory while no consent change has happened since they were read.
    pub fn grants_between(
        &self,
        professional: ProfessionalId,
        client: ClientId,
    ) -> Result<Vec<Grant>, ConsentError> {
        // Read before the store: a change that lands after this read makes the entry stale.
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((read_in, grants)) = self.grant_cache.lock().get(&(professional, client))
            && *read_in == generation
        {
            return Ok(grants.clone());
        }
        let grants = self.grants_by(layout::grants_of_pair(professional, client))?;
        let mut cache = self.grant_cache.lock();
        if cache.len() >= GRANT_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert((professional, client), (generation, grants.clone()));
        Ok(grants)
    }

    /// May `professional` do `action` on `client`'s `field` at `now`? Default deny; a
    /// permit names its grant. The grants come from [`Consent::grants_between`], which
    /// reads them again after any consent change, so a revocation holds from the very
    /// next decision.
    pub fn decide(
        &self,
        professional: ProfessionalId,
        client: ClientId,
        field: &str,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Decision, ConsentError> {
        let grants = self.grants_between(professional, client)?;
        Ok(decide_among(&self.catalogue, &grants, field, action, now))
    }

    /// Decides for each field and writes the decisions to the audit log (one entry per
    /// permitting grant, one for the denied fields); durable before it returns.
    pub fn authorize(
        &self,
        professional: ProfessionalId,
        organisation: OrganisationId,
        client: ClientId,
        fields: &[String],
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Vec<FieldDecision>, ConsentError> {
        let (decisions, last_entry) =
            self.authorize_deferred(professional, organisation, client, fields, action, now)?;
        if let Some(ticket) = last_entry {
            self.audit.sync_through(ticket)?;
        }
        Ok(decisions)
    }

    /// Like [`Consent::authorize`], but the audit entries may not be on disk yet: the
    /// caller must `audit().sync_through(ticket)` with the returned ticket before
    /// it acts on any decision. Lets concurrent requests share one flush.
    pub fn authorize_deferred(
        &self,
        professional: ProfessionalId,
        organisation: OrganisationId,
        client: ClientId,
        fields: &[String],
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FieldDecision>, Option<Ticket>), ConsentError> {
        let grants = self.grants_between(professional, client)?;
        let attempt = AccessAttempt {
            professional,
            organisation,
            client,
            action,
            now,
        };
        self.authorize_deferred_among(&attempt, &grants, fields)
    }

    /// Whether a professional's read of this client would be permitted for at least one
    /// field, decided without auditing: lets a refused probe be turned away before its
    /// decision adds to the log, while reads the grants allow go on.
    pub fn permits_any_read(
        &self,
        professional: ProfessionalId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<bool, ConsentError> {
        let grants = self.grants_between(professional, client)?;
        Ok(grants.iter().flat_map(|g| &g.fields).any(|field| {
            decide_among(&self.catalogue, &grants, field, Action::Read, now).is_permit()
        }))
    }

    /// A read of everything the pair's grants ever named, decided field by field with the
    /// audit entries queued as in [`Consent::authorize_deferred`]: a professional's view
    /// of a client. Fields no grant names are not even considered; with no grant at all
    /// the attempt itself is decided (and audited) as field `*`.
    pub fn authorize_granted_reads_deferred(
        &self,
        professional: ProfessionalId,
        organisation: OrganisationId,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<(Vec<FieldDecision>, Option<Ticket>), ConsentError> {
        let grants = self.grants_between(professional, client)?;
        let named: BTreeSet<&String> = grants.iter().flat_map(|g| &g.fields).collect();
        let fields: Vec<String> = if named.is_empty() {
            vec!["*".to_owned()]
        } else {
            named.into_iter().cloned().collect()
        };
        let attempt = AccessAttempt {
            professional,
            organisation,
            client,
            action: Action::Read,
            now,
        };
        self.authorize_deferred_among(&attempt, &grants, &fields)
    }

    /// [`Consent::authorize_deferred`] over grants the caller already read with
    /// [`Consent::grants_between`] for the same professional and client (one look-up
    /// per request instead of two).
    pub fn authorize_deferred_among(
        &self,
        attempt: &AccessAttempt,
        grants: &[Grant],
        fields: &[String],
    ) -> Result<(Vec<FieldDecision>, Option<Ticket>), ConsentError> {
        let AccessAttempt {
            professional,
            organisation,
            client,
            action,
            now,
        } = *attempt;
        // Another pair's grant must never decide: refuse rather than trust the caller.
        if grants
            .iter()
            .any(|g| g.grantee.professional != professional || g.client != client)
        {
            return Err(invalid(
                "grants",
                "grants of another professional or client were given",
            ));
        }
        let decisions: Vec<FieldDecision> = fields
            .iter()
            .map(|field| FieldDecision {
                field: field.clone(),
                decision: decide_among(&self.catalogue, grants, field, action, now),
            })
            .collect();
        let base = |outcome| {
            let mut entry = AuditEntry::new(AuditEvent::Access, now);
            entry.client = Some(client);
            entry.professional = Some(professional);
            entry.organisation = Some(organisation);
            entry.action = Some(action);
            entry.outcome = Some(outcome);
            entry
        };
        let mut permitted: Vec<(GrantId, PurposeCode, Vec<String>)> = Vec::new();
        let mut denied: Vec<String> = Vec::new();
        let mut reason: Option<DenyReason> = None;
        for d in &decisions {
            match &d.decision {
                Decision::Permit { grant, purpose } => {
                    match permitted.iter_mut().find(|(g, _, _)| g == grant) {
                        Some((_, _, fields)) => fields.push(d.field.clone()),
                        None => permitted.push((*grant, purpose.code, vec![d.field.clone()])),
                    }
                }
                Decision::Deny { reason: r } => {
                    denied.push(d.field.clone());
                    reason.get_or_insert(*r);
                }
            }
        }
        let mut last_entry = None;
        for (grant, purpose, fields) in permitted {
            let mut entry = base(Outcome::Permit);
            entry.grant = Some(grant);
            entry.purpose = Some(purpose);
            entry.fields = fields;
            last_entry = Some(self.audit.append_deferred(entry)?.1);
        }
        if !denied.is_empty() {
            let mut entry = base(Outcome::Deny);
            entry.fields = denied;
            entry.reason = reason
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            last_entry = Some(self.audit.append_deferred(entry)?.1);
        }
        Ok((decisions, last_entry))
    }
}
