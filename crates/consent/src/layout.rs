//! Where consent data lives in the key space: every key prefix, how keys are built from
//! ids, times and hashes (and the contexts of the keyed hashes) and read back, and the
//! labels sealed text is bound to. This is the on-disk format: a change here is a change
//! of format that existing stores and backups would no longer read.
//!
//! Ids are 16 bytes, times are [`time_key`]s (8 bytes, ordered), counters big-endian.

use crate::error::ConsentError;
use crate::model::{GrantId, OrganisationId, RequestId};
use chrono::{DateTime, Utc};
use omadata_vault::store::StoreError;
use omadata_vault::{ClientId, ProfessionalId};

// ---- grants and receipts ----------------------------------------------------------

/// `g/grant`: a grant record (JSON, purpose text sealed).
pub const GRANT: &[u8] = b"g/";
/// `gx/professional/client/grant`: the decision index, the grants between a pair.
pub const GRANT_BY_PAIR: &[u8] = b"gx/";
/// `gc/client/grant`: the grants a client gave.
pub const GRANT_BY_CLIENT: &[u8] = b"gc/";
/// `ge/valid_until/grant`: grants whose expiry is not yet logged, by end of access.
pub const GRANT_BY_END: &[u8] = b"ge/";
/// `rcpt/grant/index`: a grant's signed receipts, index a u32, oldest first.
pub const RECEIPT: &[u8] = b"rcpt/";

// ---- access requests --------------------------------------------------------------

/// `r/request`: an access request record (JSON, purpose text sealed).
pub const REQUEST: &[u8] = b"r/";
/// `rc/client/request`: a client's requests.
pub const REQUEST_BY_CLIENT: &[u8] = b"rc/";
/// `rp/professional/request`: a professional's requests.
pub const REQUEST_BY_PROFESSIONAL: &[u8] = b"rp/";
/// `re/answer_by/request`: pending requests, by the time they lapse.
pub const REQUEST_BY_ANSWER_TIME: &[u8] = b"re/";

// ---- pairing codes ----------------------------------------------------------------

/// `pc/sha256(code)`: a live pairing code (JSON: client, expiry).
pub const PAIRING_CODE: &[u8] = b"pc/";
/// `pcc/client/sha256(code)`: a client's codes; the value is the expiry's time key.
pub const PAIRING_CODE_BY_CLIENT: &[u8] = b"pcc/";
/// `pce/expires_at/sha256(code)`: codes by expiry, for the sweep; the value is the client.
pub const PAIRING_CODE_BY_EXPIRY: &[u8] = b"pce/";

// ---- directory --------------------------------------------------------------------

/// `do/organisation`: a registered organisation.
pub const ORGANISATION: &[u8] = b"do/";
/// `ds/staff`: a staff member.
pub const STAFF: &[u8] = b"ds/";
/// `dl/sha256(subject)`: the staff member who signs in as a subject.
pub const STAFF_LOGIN: &[u8] = b"dl/";
/// `dc/hmac(identity)`: the client enrolled under an identity.
pub const CLIENT_ENROLMENT: &[u8] = b"dc/";
/// `dk/client`: the client's enrolment key, for erasure.
pub const CLIENT_ENROLMENT_OF: &[u8] = b"dk/";
/// `dcs/hmac(subject)`: the client who signed in with a subject.
pub const CLIENT_SUBJECT: &[u8] = b"dcs/";
/// `dks/client`: the client's sign-in subject key, for erasure.
pub const CLIENT_SUBJECT_OF: &[u8] = b"dks/";
/// What the keyed hash of a `dc/` key covers: a national identity number.
pub const NATIONAL_ID_HASH: &str = "national-id";
/// What the keyed hash of a `dc/` key covers: `issuer`, a NUL, `subject`.
pub const SUBJECT_HASH: &str = "subject";
/// What the keyed hash of a `dcs/` key covers: a sign-in subject.
pub const SIGN_IN_SUBJECT_HASH: &str = "login-subject";

// ---- the gateway's sessions ---------------------------------------------------------

/// `sess/sid`: a signed-in session, sealed under a key derived from the service key
/// (expiry in clear first, for the sweep).
pub const SESSION: &[u8] = b"sess/";

/// `q/quota\0key\0time n`: one counted event of a quota (a failed pairing code, a
/// refused read, a created grant), kept while it counts.
pub const QUOTA_EVENT: &[u8] = b"q/";

// ---- audit log (entries themselves live in the store's journal) -------------------

/// `a/e/seq`: entries of stores from before the journal, and the copies a consent change
/// writes with its batch: imported into the journal on open, then removed.
pub const AUDIT_ENTRY: &[u8] = b"a/e/";
/// `a/k/tree_size`: a signed checkpoint.
pub const AUDIT_CHECKPOINT: &[u8] = b"a/k/";
/// Tree nodes (`a/n/`) and client, professional, organisation and time indexes
/// (`a/c|p|o|t/`) of stores from before the journal: removed on open.
pub const AUDIT_LEGACY: [&[u8]; 5] = [b"a/n/", b"a/c/", b"a/p/", b"a/o/", b"a/t/"];

// ---- building keys ----------------------------------------------------------------

/// The parts, one after the other.
/// What a batch of writes may make stale in another process's memory (a shared store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Nothing cached: only new sessions (a session is cached only once read).
    Nothing,
    /// Only quota events.
    Quotas,
    /// Anything else: grants, staff, sessions ended, the log's checkpoints.
    Caches,
}

/// The [`ChangeKind`] of a batch writing `keys` (`removed`: whether each is a removal).
pub fn change_kind<'a>(writes: impl IntoIterator<Item = (&'a [u8], bool)>) -> ChangeKind {
    let mut kind = ChangeKind::Nothing;
    for (key, removed) in writes {
        if key.starts_with(QUOTA_EVENT) {
            kind = ChangeKind::Quotas;
        } else if !key.starts_with(SESSION) || removed {
            return ChangeKind::Caches;
        }
    }
    kind
}

pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A time in a key: milliseconds with the sign bit flipped, big-endian, so keys sort in
/// time order.
pub fn time_key(at: &DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time a [`time_key`] encodes (`None`: not one).
pub fn time_of_key(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let raw = <[u8; 8]>::try_from(bytes).ok()?;
    DateTime::from_timestamp_millis((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

/// A grant record's key.
pub fn grant(id: GrantId) -> Vec<u8> {
    key(&[GRANT, id.as_bytes()])
}

/// The decision index key of a grant between `professional` and `client`.
pub fn grant_by_pair(professional: ProfessionalId, client: ClientId, id: GrantId) -> Vec<u8> {
    key(&[
        GRANT_BY_PAIR,
        professional.as_bytes(),
        client.as_bytes(),
        id.as_bytes(),
    ])
}

/// The prefix of the grants between `professional` and `client`.
pub fn grants_of_pair(professional: ProfessionalId, client: ClientId) -> Vec<u8> {
    key(&[GRANT_BY_PAIR, professional.as_bytes(), client.as_bytes()])
}

/// The prefix of the grants given to `professional`, client by client.
pub fn grants_of_professional(professional: ProfessionalId) -> Vec<u8> {
    key(&[GRANT_BY_PAIR, professional.as_bytes()])
}

/// The key of a grant in its client's index.
pub fn grant_by_client(client: ClientId, id: GrantId) -> Vec<u8> {
    key(&[GRANT_BY_CLIENT, client.as_bytes(), id.as_bytes()])
}

/// The prefix of the grants `client` gave.
pub fn grants_of_client(client: ClientId) -> Vec<u8> {
    key(&[GRANT_BY_CLIENT, client.as_bytes()])
}

/// The key of a grant ending at `valid_until` in the expiry index.
pub fn grant_by_end(valid_until: &DateTime<Utc>, id: GrantId) -> Vec<u8> {
    key(&[GRANT_BY_END, &time_key(valid_until), id.as_bytes()])
}

/// The prefix of a grant's receipts.
pub fn receipts_of(id: GrantId) -> Vec<u8> {
    key(&[RECEIPT, id.as_bytes()])
}

/// The key of a grant's `index`-th receipt.
pub fn receipt(id: GrantId, index: u32) -> Vec<u8> {
    key(&[RECEIPT, id.as_bytes(), &index.to_be_bytes()])
}

/// An access request record's key.
pub fn request(id: RequestId) -> Vec<u8> {
    key(&[REQUEST, id.as_bytes()])
}

/// The key of a request in its client's index.
pub fn request_by_client(client: ClientId, id: RequestId) -> Vec<u8> {
    key(&[REQUEST_BY_CLIENT, client.as_bytes(), id.as_bytes()])
}

/// The prefix of a client's requests.
pub fn requests_of_client(client: ClientId) -> Vec<u8> {
    key(&[REQUEST_BY_CLIENT, client.as_bytes()])
}

/// The key of a request in its professional's index.
pub fn request_by_professional(professional: ProfessionalId, id: RequestId) -> Vec<u8> {
    key(&[
        REQUEST_BY_PROFESSIONAL,
        professional.as_bytes(),
        id.as_bytes(),
    ])
}

/// The prefix of a professional's requests.
pub fn requests_of_professional(professional: ProfessionalId) -> Vec<u8> {
    key(&[REQUEST_BY_PROFESSIONAL, professional.as_bytes()])
}

/// The key of a pending request that lapses at `answer_by`.
pub fn request_by_answer_time(answer_by: &DateTime<Utc>, id: RequestId) -> Vec<u8> {
    key(&[REQUEST_BY_ANSWER_TIME, &time_key(answer_by), id.as_bytes()])
}

/// A pairing code's key, by the code's hash.
pub fn pairing_code(hash: &[u8]) -> Vec<u8> {
    key(&[PAIRING_CODE, hash])
}

/// The key of a code in its client's index.
pub fn pairing_code_by_client(client: ClientId, hash: &[u8]) -> Vec<u8> {
    key(&[PAIRING_CODE_BY_CLIENT, client.as_bytes(), hash])
}

/// The prefix of a client's codes.
pub fn pairing_codes_of_client(client: ClientId) -> Vec<u8> {
    key(&[PAIRING_CODE_BY_CLIENT, client.as_bytes()])
}

/// The key of a code expiring at `expires_at` in the expiry index.
pub fn pairing_code_by_expiry(expires_at: &DateTime<Utc>, hash: &[u8]) -> Vec<u8> {
    key(&[PAIRING_CODE_BY_EXPIRY, &time_key(expires_at), hash])
}

/// The expiry's time key inside a [`pairing_code_by_expiry`] key.
pub fn expiry_in_pairing_code_key(key: &[u8]) -> Option<&[u8]> {
    key.get(PAIRING_CODE_BY_EXPIRY.len()..PAIRING_CODE_BY_EXPIRY.len() + 8)
}

/// An organisation's key.
pub fn organisation(id: OrganisationId) -> Vec<u8> {
    key(&[ORGANISATION, id.as_bytes()])
}

/// A staff member's key.
pub fn staff(id: ProfessionalId) -> Vec<u8> {
    key(&[STAFF, id.as_bytes()])
}

/// The login index key of a subject, by its SHA-256.
pub fn staff_login(subject_hash: &[u8]) -> Vec<u8> {
    key(&[STAFF_LOGIN, subject_hash])
}

/// A client enrolment key, by the identity's keyed hash.
pub fn client_enrolment(identity_hash: &[u8]) -> Vec<u8> {
    key(&[CLIENT_ENROLMENT, identity_hash])
}

/// Where a client's enrolment key is kept.
pub fn client_enrolment_of(client: ClientId) -> Vec<u8> {
    key(&[CLIENT_ENROLMENT_OF, client.as_bytes()])
}

/// A client sign-in subject key, by the subject's keyed hash.
pub fn client_subject(subject_hash: &[u8]) -> Vec<u8> {
    key(&[CLIENT_SUBJECT, subject_hash])
}

/// Where a client's sign-in subject key is kept.
pub fn client_subject_of(client: ClientId) -> Vec<u8> {
    key(&[CLIENT_SUBJECT_OF, client.as_bytes()])
}

/// The key of audit entry `seq` in the key space.
pub fn audit_entry(seq: u64) -> Vec<u8> {
    key(&[AUDIT_ENTRY, &seq.to_be_bytes()])
}

/// The key of a checkpoint of `tree_size` entries.
pub fn audit_checkpoint(tree_size: u64) -> Vec<u8> {
    key(&[AUDIT_CHECKPOINT, &tree_size.to_be_bytes()])
}

// ---- reading keys back ------------------------------------------------------------

/// The last 16 bytes of an index key: the id it points to.
pub(crate) fn id_suffix(key: &[u8]) -> Result<[u8; 16], ConsentError> {
    key.len()
        .checked_sub(16)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| ConsentError::Corrupt("malformed index key".into()))
}

/// The last 32 bytes of a pairing code key: the code's hash.
pub(crate) fn code_hash_suffix(key: &[u8]) -> Result<[u8; 32], ConsentError> {
    key.len()
        .checked_sub(32)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ConsentError::Corrupt("malformed pairing code key".into()))
}

/// The last 4 bytes of a receipt key: the receipt's index.
pub(crate) fn receipt_index_suffix(key: &[u8]) -> Result<u32, ConsentError> {
    key.len()
        .checked_sub(4)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| ConsentError::Corrupt("malformed receipt key".into()))
}

/// The last 8 bytes of an audit key: the entry's sequence number.
pub(crate) fn seq_suffix(key: &[u8]) -> Result<u64, StoreError> {
    let tail = key
        .len()
        .checked_sub(8)
        .and_then(|start| key.get(start..))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| StoreError::Corrupt("malformed audit key".into()))?;
    Ok(u64::from_be_bytes(tail))
}

// ---- sealed text ------------------------------------------------------------------

/// The field of a stored grant's or request's `purpose` that holds its sealed text.
pub(crate) const SEALED_TEXT: &str = "sealed_text";

/// What a grant's purpose text is sealed for (the associated data binds it).
pub(crate) fn grant_text_label(id: GrantId) -> String {
    format!("grant/{id}/purpose.text")
}

/// What a request's purpose text is sealed for.
pub(crate) fn request_text_label(id: RequestId) -> String {
    format!("request/{id}/purpose.text")
}

/// What a grant's `index`-th receipt is sealed for.
pub(crate) fn receipt_label(id: GrantId, index: u32) -> String {
    format!("grant/{id}/receipt/{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Existing stores hold exactly these bytes.
    #[test]
    fn keys_are_the_bytes_stores_hold() {
        let id = GrantId::from_bytes([7; 16]);
        let at = DateTime::from_timestamp_millis(1).unwrap();
        let time = [0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(time_key(&at), time);
        assert_eq!(time_of_key(&time), Some(at));
        assert_eq!(
            grant_by_end(&at, id),
            [b"ge/".as_slice(), &time, &[7; 16]].concat()
        );
        assert_eq!(
            receipt(id, 2),
            [b"rcpt/".as_slice(), &[7; 16], &[0, 0, 0, 2]].concat()
        );
        assert_eq!(
            audit_entry(3),
            [b"a/e/".as_slice(), &[0, 0, 0, 0, 0, 0, 0, 3]].concat()
        );
        let code = pairing_code_by_expiry(&at, &[9; 32]);
        assert_eq!(expiry_in_pairing_code_key(&code), Some(time.as_slice()));
        assert_eq!(code_hash_suffix(&code).unwrap(), [9; 32]);
    }
}
