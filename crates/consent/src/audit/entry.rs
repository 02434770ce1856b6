//! Audit entries: what one entry holds, and its canonical bytes (what the tree hashes).

use crate::error::ConsentError;
use crate::model::{Action, GrantId, OrganisationId, PurposeCode, RequestId};
use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditEvent {
    /// A professional asked for access.
    Request,
    /// The client approved a request (possibly narrowed); a grant was made.
    Approve,
    /// The client denied a request.
    Deny,
    /// A request lapsed unanswered.
    RequestExpire,
    /// The client granted on their own initiative.
    Grant,
    /// The client narrowed an existing grant.
    Narrow,
    /// The client revoked a grant.
    Revoke,
    /// A grant reached its end.
    Expire,
    /// An access decision about client data.
    Access,
    /// A pairing code was issued (not the code itself).
    PairingCode,
    /// The client's consent records were erased with the client.
    Erase,
    /// A person signed in (strong authentication accepted).
    Login,
    /// A sign-in was refused: weak assurance level, or not registered for the role.
    LoginRefused,
    /// A person signed out.
    Logout,
    /// An administrator registered or changed an organisation or its staff.
    Admin,
    /// Someone was locked out after too many failed attempts (guessing).
    Lockout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    Permit,
    Deny,
}

/// One log entry. Holds ids and field names, never record contents, and never a
/// national identity number: clients appear by their random internal id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event: AuditEvent,
    pub client: Option<ClientId>,
    pub professional: Option<ProfessionalId>,
    pub organisation: Option<OrganisationId>,
    pub grant: Option<GrantId>,
    pub request: Option<RequestId>,
    pub fields: Vec<String>,
    pub action: Option<Action>,
    pub purpose: Option<PurposeCode>,
    pub outcome: Option<Outcome>,
    /// A stable reason code for a deny.
    pub reason: Option<String>,
}

impl AuditEntry {
    /// A blank entry of `event` at `at`; the log assigns `seq`.
    pub fn new(event: AuditEvent, at: DateTime<Utc>) -> Self {
        Self {
            seq: 0,
            at,
            event,
            client: None,
            professional: None,
            organisation: None,
            grant: None,
            request: None,
            fields: Vec::new(),
            action: None,
            purpose: None,
            outcome: None,
            reason: None,
        }
    }
}

/// The canonical bytes of an entry, as [`canonical::to_vec`] writes them, but serialised
/// straight from a struct whose fields are in sorted order instead of through a JSON
/// tree: the generic way was 5 % of the gateway's CPU, under the log's lock. Every value
/// inside is a string, an integer, null or an array of strings, so no nested key needs
/// sorting. The verifier keeps the generic check.
pub(super) fn canonical_entry(entry: &AuditEntry) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Sorted<'a> {
        action: &'a Option<Action>,
        at: &'a DateTime<Utc>,
        client: &'a Option<ClientId>,
        event: &'a AuditEvent,
        fields: &'a [String],
        grant: &'a Option<GrantId>,
        organisation: &'a Option<OrganisationId>,
        outcome: &'a Option<Outcome>,
        professional: &'a Option<ProfessionalId>,
        purpose: &'a Option<PurposeCode>,
        reason: &'a Option<String>,
        request: &'a Option<RequestId>,
        seq: u64,
    }
    // Exhaustive, so a new field cannot be left out without this failing to compile.
    let AuditEntry {
        seq,
        at,
        event,
        client,
        professional,
        organisation,
        grant,
        request,
        fields,
        action,
        purpose,
        outcome,
        reason,
    } = entry;
    serde_json::to_vec(&Sorted {
        action,
        at,
        client,
        event,
        fields,
        grant,
        organisation,
        outcome,
        professional,
        purpose,
        reason,
        request,
        seq: *seq,
    })
}

pub(super) fn parse_entry(seq: u64, bytes: &[u8]) -> Result<AuditEntry, ConsentError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ConsentError::Corrupt(format!("audit entry {seq}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical;
    use proptest::prelude::*;

    fn entry_strategy() -> impl Strategy<Value = AuditEntry> {
        let text = "\\PC{0,12}|[\"\\\\\\n\\u{0}-\\u{1f}äö€😀]{0,6}";
        (
            any::<u64>(),
            0i64..4_000_000_000_000,
            proptest::collection::vec(proptest::string::string_regex(text).unwrap(), 0..4),
            proptest::option::of(proptest::string::string_regex(text).unwrap()),
            any::<[bool; 8]>(),
            any::<u128>(),
        )
            .prop_map(|(seq, millis, fields, reason, some, id)| {
                let uuid = uuid::Uuid::from_u128(id);
                let mut entry = AuditEntry::new(
                    AuditEvent::Revoke,
                    DateTime::from_timestamp_millis(millis).unwrap(),
                );
                entry.seq = seq;
                entry.fields = fields;
                entry.reason = reason;
                entry.client = some[0].then(|| ClientId::from_bytes(*uuid.as_bytes()));
                entry.professional = some[1].then(|| ProfessionalId::from_bytes(*uuid.as_bytes()));
                entry.organisation = some[2].then(|| OrganisationId::from_bytes(*uuid.as_bytes()));
                entry.grant = some[3].then(|| GrantId::from_bytes(*uuid.as_bytes()));
                entry.request = some[4].then(|| RequestId::from_bytes(*uuid.as_bytes()));
                entry.action = some[5].then_some(Action::Read);
                entry.purpose = some[6].then_some(PurposeCode::SharedPlan);
                entry.outcome = some[7].then_some(Outcome::Permit);
                entry
            })
    }

    proptest! {
        /// The fast canonical form of an entry is byte for byte the generic one.
        #[test]
        fn canonical_entry_is_the_generic_canonical_form(entry in entry_strategy()) {
            prop_assert_eq!(canonical_entry(&entry).unwrap(), canonical::to_vec(&entry).unwrap());
        }
    }
}
