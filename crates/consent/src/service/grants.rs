//! Grants: given by a client on their own initiative (or by approving a request),
//! narrowed, revoked; their receipts; listings by client and by professional.

use super::{AccessAsk, Consent, Page, invalid};
use crate::audit::AuditEvent;
use crate::error::ConsentError;
use crate::layout;
use crate::model::*;
use crate::receipt::{self, ReceiptEvent};
use crate::sealing::SealError;
use crate::store::Write;
use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How a client narrows a request at approval, or a grant later. `None` keeps as is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Narrowing {
    #[serde(default)]
    pub fields: Option<Vec<FieldSelector>>,
    #[serde(default)]
    pub actions: Option<BTreeSet<Action>>,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// Fields, actions and end of access after a narrowing.
type Terms = (BTreeSet<String>, BTreeSet<Action>, DateTime<Utc>);

impl Consent {
    pub(super) fn narrowed(
        &self,
        fields: &BTreeSet<String>,
        actions: &BTreeSet<Action>,
        valid_until: DateTime<Utc>,
        narrowing: &Narrowing,
        now: DateTime<Utc>,
    ) -> Result<Terms, ConsentError> {
        let new_fields = match &narrowing.fields {
            Some(selectors) => self.resolve_fields(selectors)?,
            None => fields.clone(),
        };
        if let Some(extra) = new_fields.difference(fields).next() {
            return Err(ConsentError::Widening(format!(
                "`{extra}` was not asked for or granted"
            )));
        }
        let new_actions = narrowing.actions.clone().unwrap_or_else(|| actions.clone());
        Self::check_actions(&new_actions)?;
        if let Some(extra) = new_actions.difference(actions).next() {
            return Err(ConsentError::Widening(format!(
                "action {extra:?} was not asked for or granted"
            )));
        }
        let new_until = narrowing.valid_until.unwrap_or(valid_until);
        if new_until > valid_until {
            return Err(ConsentError::Widening(
                "the end may only come earlier".into(),
            ));
        }
        if new_until <= now {
            return Err(invalid(
                "valid_until",
                "the end of access must be in the future",
            ));
        }
        Ok((new_fields, new_actions, new_until))
    }

    pub(super) fn grant_writes(
        &self,
        grant: &Grant,
        receipt_bytes: Vec<u8>,
        new: bool,
    ) -> Result<Vec<Write>, ConsentError> {
        let receipt_index = self
            .store
            .scan(&layout::receipts_of(grant.id), None, false, usize::MAX)?
            .len() as u32;
        // A receipt that carries the purpose's text is kept sealed like the text; the
        // client is handed it opened.
        let stored_receipt = if grant.purpose.text.is_some() {
            self.sealer.seal(
                grant.client,
                &layout::receipt_label(grant.id, receipt_index),
                &receipt_bytes,
            )?
        } else {
            receipt_bytes
        };
        let mut writes: Vec<Write> = vec![
            (layout::grant(grant.id), Some(self.stored_grant(grant)?)),
            (
                layout::receipt(grant.id, receipt_index),
                Some(stored_receipt),
            ),
        ];
        if new {
            writes.push((
                layout::grant_by_pair(grant.grantee.professional, grant.client, grant.id),
                Some(Vec::new()),
            ));
            writes.push((
                layout::grant_by_client(grant.client, grant.id),
                Some(Vec::new()),
            ));
        }
        Ok(writes)
    }

    pub(super) fn signed_receipt(
        &self,
        grant: &Grant,
        event: ReceiptEvent,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ConsentError> {
        receipt::sign_receipt(
            &self.key,
            receipt::receipt_body(&self.catalogue, grant, event, now),
        )
    }

    /// The client grants on their own initiative.
    pub fn grant(
        &self,
        client: ClientId,
        grantee: &Grantee,
        terms: AccessAsk,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change()?;
        let AccessAsk {
            fields,
            actions,
            purpose,
            valid_until,
        } = terms;
        let fields = self.resolve_fields(&fields)?;
        Self::check_actions(&actions)?;
        Self::check_purpose(&purpose)?;
        self.check_window(valid_until, now)?;
        self.policy
            .check(&self.catalogue, grantee.profession, &fields)?;
        let grant = Grant {
            id: GrantId::random(),
            client,
            grantee: grantee.clone(),
            fields,
            actions,
            purpose,
            valid_from: now,
            valid_until,
            revoked_at: None,
            expiry_logged: false,
            request: None,
            created_at: now,
            updated_at: now,
        };
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Grant, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, true)?;
        writes.push((
            layout::grant_by_end(&grant.valid_until, grant.id),
            Some(Vec::new()),
        ));
        self.audit
            .append_with(self.entry_for_grant(AuditEvent::Grant, &grant, now), writes)?;
        Ok(grant)
    }

    pub fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, ConsentError> {
        self.store
            .get(&layout::grant(id))?
            .map(|b| self.opened(&b, "grant", &layout::grant_text_label(id)))
            .transpose()
    }

    fn client_grant(&self, client: ClientId, id: GrantId) -> Result<Grant, ConsentError> {
        self.get_grant(id)?
            .filter(|g| g.client == client)
            .ok_or(ConsentError::UnknownGrant(id))
    }

    /// The client narrows an active grant: fewer fields or actions, an earlier end.
    pub fn narrow(
        &self,
        client: ClientId,
        id: GrantId,
        narrowing: &Narrowing,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change()?;
        let mut grant = self.client_grant(client, id)?;
        if grant.state(now) != GrantState::Active {
            return Err(ConsentError::GrantNotActive(id));
        }
        let (fields, actions, valid_until) = self.narrowed(
            &grant.fields,
            &grant.actions,
            grant.valid_until,
            narrowing,
            now,
        )?;
        let old_until = grant.valid_until;
        grant.fields = fields;
        grant.actions = actions;
        grant.valid_until = valid_until;
        grant.updated_at = now;
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Narrow, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, false)?;
        writes.push((layout::grant_by_end(&old_until, id), None));
        writes.push((layout::grant_by_end(&valid_until, id), Some(Vec::new())));
        self.audit.append_with(
            self.entry_for_grant(AuditEvent::Narrow, &grant, now),
            writes,
        )?;
        Ok(grant)
    }

    /// The client revokes a grant; it permits nothing from the next decision on.
    pub fn revoke(
        &self,
        client: ClientId,
        id: GrantId,
        now: DateTime<Utc>,
    ) -> Result<Grant, ConsentError> {
        let _guard = self.change()?;
        let mut grant = self.client_grant(client, id)?;
        match grant.state(now) {
            GrantState::Active | GrantState::NotYetValid => {}
            GrantState::Revoked | GrantState::Expired => {
                return Err(ConsentError::GrantNotActive(id));
            }
        }
        grant.revoked_at = Some(now);
        grant.updated_at = now;
        let receipt_bytes = self.signed_receipt(&grant, ReceiptEvent::Revoke, now)?;
        let mut writes = self.grant_writes(&grant, receipt_bytes, false)?;
        writes.push((layout::grant_by_end(&grant.valid_until, id), None));
        self.audit.append_with(
            self.entry_for_grant(AuditEvent::Revoke, &grant, now),
            writes,
        )?;
        Ok(grant)
    }

    pub(super) fn grants_by(&self, prefix: Vec<u8>) -> Result<Vec<Grant>, ConsentError> {
        let mut out = Vec::new();
        for (key, _) in self.store.scan(&prefix, None, false, usize::MAX)? {
            if let Some(grant) = self.get_grant(GrantId::from_bytes(layout::id_suffix(&key)?))? {
                out.push(grant);
            }
        }
        Ok(out)
    }

    /// Up to `limit` ids of index `prefix` (`prefix/id` keys) after `after`, in key
    /// order, and the id to continue after when more follow: a key-range scan.
    pub(super) fn index_page(
        &self,
        prefix: &[u8],
        after: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<Page<[u8; 16], [u8; 16]>, ConsentError> {
        let from = after.map(|id| layout::key(&[prefix, &id, &[0]]));
        let mut ids = self
            .store
            .scan(prefix, from.as_deref(), false, limit.saturating_add(1))?
            .iter()
            .map(|(key, _)| layout::id_suffix(key))
            .collect::<Result<Vec<_>, _>>()?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        let next = if more { ids.last().copied() } else { None };
        Ok((ids, next))
    }

    /// A page of the client's grants (see [`Consent::grants_for_client`]), in id order.
    pub fn grants_for_client_page(
        &self,
        client: ClientId,
        after: Option<GrantId>,
        limit: usize,
    ) -> Result<(Vec<Grant>, Option<GrantId>), ConsentError> {
        let (ids, next) = self.index_page(
            &layout::grants_of_client(client),
            after.map(|g| *g.as_bytes()),
            limit,
        )?;
        let mut grants = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(grant) = self.get_grant(GrantId::from_bytes(id))? {
                grants.push(grant);
            }
        }
        Ok((grants, next.map(GrantId::from_bytes)))
    }

    /// Up to `limit` clients (in id order, after `after`) for whom `keep` accepts at
    /// least one of the professional's grants, each with those grants, and the client to
    /// continue after when more may follow. Reads the `gx/professional/client/grant`
    /// index a page at a time.
    pub fn clients_of_professional_page(
        &self,
        professional: ProfessionalId,
        after: Option<ClientId>,
        limit: usize,
        keep: impl Fn(&Grant) -> bool,
    ) -> Result<Page<(ClientId, Vec<Grant>), ClientId>, ConsentError> {
        const SCAN: usize = 256;
        let prefix = layout::grants_of_professional(professional);
        // Past every key of the client: its prefix, then the greatest grant id, then more.
        let past =
            |client: &ClientId| layout::key(&[&prefix, client.as_bytes(), &[0xff; 16], &[0]]);
        let mut from = after.as_ref().map(past);
        let mut out: Vec<(ClientId, Vec<Grant>)> = Vec::new();
        loop {
            let page = self.store.scan(&prefix, from.as_deref(), false, SCAN)?;
            let full = page.len() == SCAN;
            for (key, _) in &page {
                let client = key
                    .get(prefix.len()..prefix.len() + 16)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(ClientId::from_bytes)
                    .ok_or_else(|| ConsentError::Corrupt("malformed index key".into()))?;
                from = Some(layout::key(&[key, &[0]]));
                let Some(grant) = self.get_grant(GrantId::from_bytes(layout::id_suffix(key)?))?
                else {
                    continue;
                };
                if !keep(&grant) {
                    continue;
                }
                match out.last_mut() {
                    Some((last, grants)) if *last == client => grants.push(grant),
                    _ => {
                        if out.len() == limit {
                            let next = out.last().map(|(c, _)| *c);
                            return Ok((out, next));
                        }
                        out.push((client, vec![grant]));
                    }
                }
            }
            if !full {
                return Ok((out, None));
            }
        }
    }

    /// Every grant the client has given, in any state.
    pub fn grants_for_client(&self, client: ClientId) -> Result<Vec<Grant>, ConsentError> {
        self.grants_by(layout::grants_of_client(client))
    }

    /// Every grant given to the professional, in any state.
    pub fn grants_for_professional(
        &self,
        professional: ProfessionalId,
    ) -> Result<Vec<Grant>, ConsentError> {
        self.grants_by(layout::grants_of_professional(professional))
    }

    /// Every receipt of a grant, oldest first, if the grant is the client's: the signed
    /// bytes, opened where they are stored sealed. Once the client's key is gone (erased)
    /// a sealed receipt is left out: it can no longer be read.
    pub fn receipts(&self, client: ClientId, id: GrantId) -> Result<Vec<Vec<u8>>, ConsentError> {
        self.client_grant(client, id)?;
        let mut receipts = Vec::new();
        for (key, stored) in self
            .store
            .scan(&layout::receipts_of(id), None, false, usize::MAX)?
        {
            // A receipt file is canonical JSON; anything else is one sealed.
            if stored.first() == Some(&b'{') {
                receipts.push(stored);
                continue;
            }
            let index = layout::receipt_index_suffix(&key)?;
            match self
                .sealer
                .open(client, &layout::receipt_label(id, index), &stored)
            {
                Ok(opened) => receipts.push(opened.to_vec()),
                Err(SealError::NoKey) => {}
                Err(SealError::Store(error)) => return Err(error.into()),
                Err(error) => return Err(ConsentError::Corrupt(format!("receipt: {error}"))),
            }
        }
        Ok(receipts)
    }
}
