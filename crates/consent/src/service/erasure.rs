//! Erasure: a client's consent records go with the client; the log keeps its entries.

use super::Consent;
use super::pairing::{code_removal, expiry_of};
use crate::audit::{AuditEntry, AuditEvent};
use crate::error::ConsentError;
use crate::layout;
use crate::model::*;
use crate::store::Write;
use chrono::{DateTime, Utc};
use omadata_vault::ClientId;

impl Consent {
    /// Erases the client's consent records when the client is erased: every grant ends
    /// at once (revocation entries in the log), pending requests are denied, then the
    /// grants, requests, receipts and their indexes are deleted. The log keeps its
    /// entries (see `specs/audit-log.md`).
    pub fn erase_client(
        &self,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<usize, ConsentError> {
        let grants = self.grants_for_client(client)?;
        for grant in &grants {
            if matches!(
                grant.state(now),
                GrantState::Active | GrantState::NotYetValid
            ) {
                self.revoke(client, grant.id, now)?;
            }
        }
        let requests = self.requests_for_client(client)?;
        for request in &requests {
            if request.status_at(now) == RequestStatus::Pending {
                self.deny(client, request.id, now)?;
            }
        }
        let _guard = self.change()?;
        let mut writes: Vec<Write> = Vec::new();
        for grant in self.grants_for_client(client)? {
            writes.push((layout::grant(grant.id), None));
            writes.push((
                layout::grant_by_pair(grant.grantee.professional, client, grant.id),
                None,
            ));
            writes.push((layout::grant_by_client(client, grant.id), None));
            writes.push((layout::grant_by_end(&grant.valid_until, grant.id), None));
            for (key, _) in
                self.store
                    .scan(&layout::receipts_of(grant.id), None, false, usize::MAX)?
            {
                writes.push((key, None));
            }
        }
        for request in self.requests_for_client(client)? {
            writes.push((layout::request(request.id), None));
            writes.push((layout::request_by_client(client, request.id), None));
            writes.push((
                layout::request_by_professional(request.requester.professional, request.id),
                None,
            ));
            writes.push((
                layout::request_by_answer_time(&request.answer_by, request.id),
                None,
            ));
        }
        for (key, value) in self.store.scan(
            &layout::pairing_codes_of_client(client),
            None,
            false,
            usize::MAX,
        )? {
            writes.extend(code_removal(
                layout::code_hash_suffix(&key)?,
                client,
                expiry_of(&value)?,
            ));
        }
        let mut entry = AuditEntry::new(AuditEvent::Erase, now);
        entry.client = Some(client);
        self.audit.append_with(entry, writes)?;
        Ok(grants.len())
    }
}
