//! The access decision: the rule that decides from the grants between one professional
//! and one client, a field, an action and the time, and what it answers.

use crate::model::{Action, Grant, GrantId, GrantState, Purpose};
use chrono::{DateTime, Utc};
use omadata_vault::Catalogue;
use serde::{Deserialize, Serialize};

/// The decision rule, over the grants between one professional and one client.
pub fn decide_among(
    catalogue: &Catalogue,
    grants: &[Grant],
    field: &str,
    action: Action,
    now: DateTime<Utc>,
) -> Decision {
    let deny = |reason| Decision::Deny { reason };
    if grants.is_empty() {
        return deny(DenyReason::NoGrant);
    }
    if catalogue.field(field).is_none() {
        return deny(DenyReason::UnknownField);
    }
    let covering: Vec<&Grant> = grants.iter().filter(|g| g.fields.contains(field)).collect();
    if covering.is_empty() {
        return deny(DenyReason::FieldNotGranted);
    }
    if let Some(grant) = covering
        .iter()
        .find(|g| g.state(now) == GrantState::Active && g.actions.contains(&action))
    {
        return Decision::Permit {
            grant: grant.id,
            purpose: grant.purpose.clone(),
        };
    }
    let states: Vec<GrantState> = covering.iter().map(|g| g.state(now)).collect();
    let reason = if states.contains(&GrantState::Active) {
        DenyReason::ActionNotGranted
    } else if states.contains(&GrantState::Revoked) {
        DenyReason::Revoked
    } else if states.contains(&GrantState::Expired) {
        DenyReason::Expired
    } else {
        DenyReason::NotYetValid
    };
    deny(reason)
}

/// Why a decision denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// No grant from this client to this professional at all.
    NoGrant,
    /// Grants exist, but none covers this field.
    FieldNotGranted,
    /// A grant covers the field, but not this action.
    ActionNotGranted,
    /// The covering grant has expired.
    Expired,
    /// The covering grant was revoked.
    Revoked,
    /// The covering grant has not started yet.
    NotYetValid,
    /// The field is not in the catalogue.
    UnknownField,
}

/// The answer to "may this professional do this with this field now?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Permit { grant: GrantId, purpose: Purpose },
    Deny { reason: DenyReason },
}

impl Decision {
    pub fn is_permit(&self) -> bool {
        matches!(self, Decision::Permit { .. })
    }
}

/// The decision about one field in an audited access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDecision {
    pub field: String,
    pub decision: Decision,
}
