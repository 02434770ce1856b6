//! Access requests: a professional asks with the client's pairing code; the client
//! approves (possibly narrowed) or denies; listings by client and by professional.

use super::pairing::{StoredPairingCode, code_hash, code_removal, normalise_code};
use super::{AccessAsk, Consent, Narrowing, parse};
use crate::audit::AuditEvent;
use crate::error::ConsentError;
use crate::layout;
use crate::model::*;
use crate::receipt::ReceiptEvent;
use crate::store::Write;
use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};

impl Consent {
    /// A professional asks for access with the client's pairing code. Refused before the
    /// client sees it if it breaks the sensitivity policy or the limits.
    pub fn request_access(
        &self,
        requester: &Grantee,
        pairing_code: &str,
        ask: AccessAsk,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ConsentError> {
        let _guard = self.change()?;
        let code_key = layout::pairing_code(&code_hash(&normalise_code(pairing_code)));
        let stored: StoredPairingCode = match self.store.get(&code_key)? {
            Some(bytes) => parse(&bytes, "pairing code")?,
            None => return Err(ConsentError::PairingCodeInvalid),
        };
        if now >= stored.expires_at {
            return Err(ConsentError::PairingCodeInvalid);
        }
        let fields = self.resolve_fields(&ask.fields)?;
        Self::check_actions(&ask.actions)?;
        Self::check_purpose(&ask.purpose)?;
        self.check_window(ask.valid_until, now)?;
        self.policy
            .check(&self.catalogue, requester.profession, &fields)?;
        let request = AccessRequest {
            id: RequestId::random(),
            client: stored.client,
            requester: requester.clone(),
            fields,
            actions: ask.actions,
            purpose: ask.purpose,
            valid_until: ask.valid_until,
            created_at: now,
            answer_by: now + self.config.request_answer_time,
            status: RequestStatus::Pending,
            grant: None,
            answered_at: None,
        };
        let mut writes: Vec<Write> = code_removal(
            layout::code_hash_suffix(&code_key)?,
            stored.client,
            stored.expires_at,
        );
        writes.extend([
            (
                layout::request(request.id),
                Some(self.stored_request(&request)?),
            ),
            (
                layout::request_by_client(request.client, request.id),
                Some(Vec::new()),
            ),
            (
                layout::request_by_professional(requester.professional, request.id),
                Some(Vec::new()),
            ),
            (
                layout::request_by_answer_time(&request.answer_by, request.id),
                Some(Vec::new()),
            ),
        ]);
        let mut entry = self.entry_for_request(AuditEvent::Request, &request, now);
        entry.fields = request.fields.iter().cloned().collect();
        self.audit.append_with(entry, writes)?;
        Ok(request)
    }

    pub fn request(&self, id: RequestId) -> Result<Option<AccessRequest>, ConsentError> {
        self.store
            .get(&layout::request(id))?
            .map(|b| self.opened(&b, "request", &layout::request_text_label(id)))
            .transpose()
    }

    fn requests_by(&self, prefix: Vec<u8>) -> Result<Vec<AccessRequest>, ConsentError> {
        let mut out = Vec::new();
        for (key, _) in self.store.scan(&prefix, None, false, usize::MAX)? {
            let id = layout::id_suffix(&key)?;
            if let Some(request) = self.request(RequestId::from_bytes(id))? {
                out.push(request);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(out)
    }

    /// The client's requests, newest first (status as stored; see `status_at`).
    pub fn requests_for_client(
        &self,
        client: ClientId,
    ) -> Result<Vec<AccessRequest>, ConsentError> {
        self.requests_by(layout::requests_of_client(client))
    }

    pub fn requests_by_professional(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<AccessRequest>, ConsentError> {
        self.requests_by(layout::requests_of_professional(professional))
    }

    fn pending_request(
        &self,
        client: ClientId,
        id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ConsentError> {
        // Another client's request answers exactly like a missing one.
        let request = self
            .request(id)?
            .filter(|r| r.client == client)
            .ok_or(ConsentError::UnknownRequest(id))?;
        if request.status_at(now) != RequestStatus::Pending {
            return Err(ConsentError::RequestNotPending(id));
        }
        Ok(request)
    }

    /// The client approves a request, possibly narrowed. Returns the new grant.
    pub fn approve(
        &self,
        client: ClientId,
        request_id: RequestId,
        narrowing: &Narrowing,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change()?;
        let mut request = self.pending_request(client, request_id, now)?;
        let (fields, actions, valid_until) = self.narrowed(
            &request.fields,
            &request.actions,
            request.valid_until,
            narrowing,
            now,
        )?;
        self.check_window(valid_until, now)?;
        self.policy
            .check(&self.catalogue, request.requester.profession, &fields)?;
        let grant = Grant {
            id: GrantId::random(),
            client,
            grantee: request.requester.clone(),
            fields,
            actions,
            purpose: request.purpose.clone(),
            valid_from: now,
            valid_until,
            revoked_at: None,
            expiry_logged: false,
            request: Some(request.id),
            created_at: now,
            updated_at: now,
        };
        request.status = RequestStatus::Approved;
        request.grant = Some(grant.id);
        request.answered_at = Some(now);
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Grant, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, true)?;
        writes.push((
            layout::grant_by_end(&grant.valid_until, grant.id),
            Some(Vec::new()),
        ));
        writes.extend(self.request_answered_writes(&request)?);
        self.audit.append_with(
            self.entry_for_grant(AuditEvent::Approve, &grant, now),
            writes,
        )?;
        Ok(grant)
    }

    fn request_answered_writes(&self, request: &AccessRequest) -> Result<Vec<Write>, ConsentError> {
        Ok(vec![
            (
                layout::request(request.id),
                Some(self.stored_request(request)?),
            ),
            (
                layout::request_by_answer_time(&request.answer_by, request.id),
                None,
            ),
        ])
    }

    /// The client denies a request. Nothing is shared and nothing else changes for them.
    pub fn deny(
        &self,
        client: ClientId,
        request_id: RequestId,
        now: DateTime<Utc>,
    ) -> Result<AccessRequest, ConsentError> {
        let _guard = self.change()?;
        let mut request = self.pending_request(client, request_id, now)?;
        request.status = RequestStatus::Denied;
        request.answered_at = Some(now);
        let writes = self.request_answered_writes(&request)?;
        self.audit.append_with(
            self.entry_for_request(AuditEvent::Deny, &request, now),
            writes,
        )?;
        Ok(request)
    }

    fn requests_page(
        &self,
        prefix: Vec<u8>,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<RequestId>), ConsentError> {
        let (ids, next) = self.index_page(&prefix, after.map(|r| *r.as_bytes()), limit)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(request) = self.request(RequestId::from_bytes(id))? {
                out.push(request);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok((out, next.map(RequestId::from_bytes)))
    }

    /// A page of the client's requests: pages follow the index (id order), each page
    /// newest first.
    pub fn requests_for_client_page(
        &self,
        client: ClientId,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<RequestId>), ConsentError> {
        self.requests_page(layout::requests_of_client(client), after, limit)
    }

    /// A page of the professional's requests, like [`Consent::requests_for_client_page`].
    pub fn requests_by_professional_page(
        &self,
        professional: ProfessionalId,
        after: Option<RequestId>,
        limit: usize,
    ) -> Result<(Vec<AccessRequest>, Option<RequestId>), ConsentError> {
        self.requests_page(layout::requests_of_professional(professional), after, limit)
    }
}
