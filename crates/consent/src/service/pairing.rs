//! Pairing codes: issued to a client, used once by a professional to find them, and
//! removed once used or expired.

use super::{Consent, invalid, json};
use crate::audit::{AuditEntry, AuditEvent};
use crate::error::ConsentError;
use crate::layout;
use crate::store::Write;
use chrono::{DateTime, Utc};
use omadata_vault::ClientId;
use ring::digest;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

/// A code the client shows so a professional can find them. 50 random bits; single use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredPairingCode {
    pub(super) client: ClientId,
    pub(super) expires_at: DateTime<Utc>,
}

/// Unused, unexpired pairing codes a client may hold at once: enough to pair with a few
/// professionals in one sitting, too few to fill storage.
pub const MAX_LIVE_PAIRING_CODES: usize = 5;

/// Expired codes (of anyone) removed per code issued: the sweep's work spread over use,
/// so storage stays bounded even if no scheduled sweep runs.
const CODES_SWEPT_PER_ISSUE: usize = 32;

const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32

const CODE_LEN: usize = 10;

pub(super) fn code_hash(code: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, code.as_bytes())
        .as_ref()
        .to_vec()
}

/// Upper-case, without separators or spaces, with the Crockford look-alikes mapped.
pub(super) fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

impl Consent {
    /// Issues a short-lived, single-use pairing code for `client`: at most
    /// [`MAX_LIVE_PAIRING_CODES`] unused, unexpired ones at a time (the client's expired
    /// codes are removed first, and a few of anyone's with them).
    pub fn issue_pairing_code(
        &self,
        client: ClientId,
        now: DateTime<Utc>,
    ) -> Result<PairingCode, ConsentError> {
        let _guard = self.change()?;
        let mut writes: Vec<Write> = Vec::new();
        let mut live = 0usize;
        for (key, value) in self.store.scan(
            &layout::pairing_codes_of_client(client),
            None,
            false,
            usize::MAX,
        )? {
            let expires_at = expiry_of(&value)?;
            if now >= expires_at {
                writes.extend(code_removal(
                    layout::code_hash_suffix(&key)?,
                    client,
                    expires_at,
                ));
            } else {
                live += 1;
            }
        }
        if live >= MAX_LIVE_PAIRING_CODES {
            return Err(ConsentError::TooManyPairingCodes {
                limit: MAX_LIVE_PAIRING_CODES,
            });
        }
        writes.extend(self.expired_code_removals(now, CODES_SWEPT_PER_ISSUE)?);
        let mut random = [0u8; CODE_LEN];
        self.rng
            .fill(&mut random)
            .map_err(|_| invalid("pairing code", "the random number generator failed"))?;
        let raw: String = random
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
            .collect();
        let expires_at = now + self.config.pairing_code_lifetime;
        let stored = StoredPairingCode { client, expires_at };
        let hash = code_hash(&raw);
        writes.push((layout::pairing_code(&hash), Some(json(&stored)?)));
        writes.push((
            layout::pairing_code_by_client(client, &hash),
            Some(layout::time_key(&expires_at).to_vec()),
        ));
        writes.push((
            layout::pairing_code_by_expiry(&expires_at, &hash),
            Some(client.as_bytes().to_vec()),
        ));
        let mut entry = AuditEntry::new(AuditEvent::PairingCode, now);
        entry.client = Some(client);
        self.audit.append_with(entry, writes)?;
        Ok(PairingCode {
            code: format!("{}-{}", &raw[..5], &raw[5..]),
            expires_at,
        })
    }

    /// The writes that remove up to `limit` codes that expired by `now`, oldest first
    /// (the expiry index is in time order, so only due keys are read).
    pub(super) fn expired_code_removals(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Write>, ConsentError> {
        let last = layout::key(&[layout::PAIRING_CODE_BY_EXPIRY, &layout::time_key(&now)]);
        let mut writes = Vec::new();
        for (key, value) in self
            .store
            .scan(layout::PAIRING_CODE_BY_EXPIRY, None, false, limit)?
        {
            // `time_key(now)` then the hash: keys before it expired strictly before now,
            // keys equal in time expired exactly now (expiry is `now >= expires_at`).
            if key.get(..last.len()).is_some_and(|t| t > last.as_slice()) {
                break;
            }
            let client = ClientId::from_bytes(
                <[u8; 16]>::try_from(value.as_slice())
                    .map_err(|_| ConsentError::Corrupt("malformed code index".into()))?,
            );
            let expires_at = layout::expiry_in_pairing_code_key(&key)
                .map(expiry_of)
                .transpose()?
                .ok_or_else(|| ConsentError::Corrupt("malformed code index".into()))?;
            writes.extend(code_removal(
                layout::code_hash_suffix(&key)?,
                client,
                expires_at,
            ));
        }
        Ok(writes)
    }
}

/// The three keys of one pairing code (by hash, by client, by expiry), removed.
pub(super) fn code_removal(
    hash: [u8; 32],
    client: ClientId,
    expires_at: DateTime<Utc>,
) -> Vec<Write> {
    vec![
        (layout::pairing_code(&hash), None),
        (layout::pairing_code_by_client(client, &hash), None),
        (layout::pairing_code_by_expiry(&expires_at, &hash), None),
    ]
}

/// The expiry a pairing code index holds (a [`layout::time_key`]).
pub(super) fn expiry_of(bytes: &[u8]) -> Result<DateTime<Utc>, ConsentError> {
    layout::time_of_key(bytes)
        .ok_or_else(|| ConsentError::Corrupt("malformed pairing code expiry".into()))
}
