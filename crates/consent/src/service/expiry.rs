//! The sweep: logs grants that reached their end, lapses unanswered requests and removes
//! expired pairing codes.

use super::Consent;
use crate::audit::AuditEvent;
use crate::error::ConsentError;
use crate::layout;
use crate::model::*;
use chrono::{DateTime, Utc};

/// What a sweep recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub grants_expired: usize,
    pub requests_expired: usize,
    /// Expired pairing codes removed from storage.
    pub codes_removed: usize,
}

impl Consent {
    /// Writes `expire` entries for grants that reached their end and lapses unanswered
    /// requests. Decisions never depend on this having run; it makes the log complete.
    pub fn sweep(&self, now: DateTime<Utc>) -> Result<Sweep, ConsentError> {
        let _guard = self.change()?;
        let mut sweep = Sweep::default();
        for (key, id) in self.due(layout::GRANT_BY_END, now)? {
            let id = GrantId::from_bytes(id);
            let Some(mut grant) = self.get_grant(id)? else {
                self.store.apply(vec![(key, None)])?;
                continue;
            };
            if grant.state(now) != GrantState::Expired {
                continue;
            }
            grant.expiry_logged = true;
            let writes = vec![
                (layout::grant(id), Some(self.stored_grant(&grant)?)),
                (key, None),
            ];
            self.audit.append_with(
                self.entry_for_grant(AuditEvent::Expire, &grant, now),
                writes,
            )?;
            sweep.grants_expired += 1;
        }
        for (key, id) in self.due(layout::REQUEST_BY_ANSWER_TIME, now)? {
            let id = RequestId::from_bytes(id);
            let Some(mut request) = self.request(id)? else {
                self.store.apply(vec![(key, None)])?;
                continue;
            };
            if request.status_at(now) != RequestStatus::Expired {
                continue;
            }
            request.status = RequestStatus::Expired;
            let writes = vec![
                (layout::request(id), Some(self.stored_request(&request)?)),
                (key, None),
            ];
            self.audit.append_with(
                self.entry_for_request(AuditEvent::RequestExpire, &request, now),
                writes,
            )?;
            sweep.requests_expired += 1;
        }
        // Expired codes carry no audit entry of their own (their issue was logged), so
        // they go in plain batches.
        loop {
            let removals = self.expired_code_removals(now, 256)?;
            if removals.is_empty() {
                break;
            }
            sweep.codes_removed += removals.len() / 3;
            self.store.apply(removals)?;
        }
        Ok(sweep)
    }
}

/// An index key due for the sweep, with the id it points to.
type DueKey = (Vec<u8>, [u8; 16]);

impl Consent {
    /// Keys of a time index (`prefix/time/id`) due at `now`, read a page at a time so
    /// that a sweep reads only what is due, not the whole index.
    fn due(&self, prefix: &[u8], now: DateTime<Utc>) -> Result<Vec<DueKey>, ConsentError> {
        const PAGE: usize = 256;
        let last = layout::key(&[prefix, &layout::time_key(&now), &[0xff; 16]]);
        let mut due = Vec::new();
        let mut from: Option<Vec<u8>> = None;
        loop {
            let page = self.store.scan(prefix, from.as_deref(), false, PAGE)?;
            let full = page.len() == PAGE;
            for (key, _) in page {
                if key > last {
                    return Ok(due);
                }
                if from.as_ref() == Some(&key) {
                    continue;
                }
                let id = layout::id_suffix(&key)?;
                from = Some(key.clone());
                due.push((key, id));
            }
            if !full {
                return Ok(due);
            }
        }
    }
}
