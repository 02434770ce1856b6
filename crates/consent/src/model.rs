//! What consent is made of: grantees, purposes, actions, grants and access requests.

use chrono::{DateTime, Utc};
use omadata_vault::{ClientId, ProfessionalId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use uuid::Uuid;

pub use crate::decision::{Decision, DenyReason};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name(Uuid);

        impl $name {
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A grant's id.
    GrantId
);
uuid_id!(
    /// An access request's id.
    RequestId
);
uuid_id!(
    /// A registered organisation's id.
    OrganisationId
);

/// A professional's registered profession; the sensitivity policy is written in these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Profession {
    YouthWork,
    SocialWork,
    EmploymentServices,
    HealthCare,
    Education,
    Other,
}

/// What a grant lets the grantee do with a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Read,
    Write,
}

/// The closed list of purposes data may be shared for (specs/domain.md rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PurposeCode {
    Guidance,
    ServiceNeedAssessment,
    ServiceDecision,
    EmployerCooperation,
    SharedPlan,
}

impl PurposeCode {
    pub fn label_en(self) -> &'static str {
        match self {
            PurposeCode::Guidance => "Guidance",
            PurposeCode::ServiceNeedAssessment => "Service-need assessment",
            PurposeCode::ServiceDecision => "Service decision",
            PurposeCode::EmployerCooperation => "Employer cooperation",
            PurposeCode::SharedPlan => "Shared plan",
        }
    }
}

/// A purpose from the closed list, with optional free text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Purpose {
    pub code: PurposeCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The longest free-text purpose accepted.
pub const MAX_PURPOSE_TEXT: usize = 500;

/// The organisation behind a grantee, as registered (specs/domain.md, Organisations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    pub business_id: String,
    pub privacy_notice_url: String,
    pub dpo_contact: String,
}

/// The one named professional a grant is given to, as registered when it was given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grantee {
    pub professional: ProfessionalId,
    pub name: String,
    pub title: String,
    pub profession: Profession,
    pub organisation: Organisation,
}

/// Fields named by path or by whole category.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldSelector {
    Path(String),
    Category(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GrantState {
    Active,
    Revoked,
    Expired,
    /// Given with a start in the future.
    NotYetValid,
}

/// A client's consent to one professional: fields, actions, one purpose, a window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Grant {
    pub id: GrantId,
    pub client: ClientId,
    pub grantee: Grantee,
    /// Resolved field paths; a category is resolved when the grant is given, so a field
    /// added to the catalogue later is never shared without a new consent.
    pub fields: BTreeSet<String>,
    pub actions: BTreeSet<Action>,
    pub purpose: Purpose,
    pub valid_from: DateTime<Utc>,
    /// Exclusive: at this instant the grant no longer permits anything.
    pub valid_until: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the expiry was written to the audit log, once it was.
    pub expiry_logged: bool,
    pub request: Option<RequestId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Grant {
    pub fn state(&self, now: DateTime<Utc>) -> GrantState {
        if self.revoked_at.is_some_and(|at| at <= now) {
            GrantState::Revoked
        } else if now >= self.valid_until {
            GrantState::Expired
        } else if now < self.valid_from {
            GrantState::NotYetValid
        } else {
            GrantState::Active
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

/// A professional's request for access, found through the client's pairing code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessRequest {
    pub id: RequestId,
    pub client: ClientId,
    pub requester: Grantee,
    pub fields: BTreeSet<String>,
    pub actions: BTreeSet<Action>,
    pub purpose: Purpose,
    /// The end of access the professional asked for.
    pub valid_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Unanswered by then, the request lapses.
    pub answer_by: DateTime<Utc>,
    pub status: RequestStatus,
    pub grant: Option<GrantId>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl AccessRequest {
    /// The status as of `now`: a pending request past its answer time has lapsed.
    pub fn status_at(&self, now: DateTime<Utc>) -> RequestStatus {
        if self.status == RequestStatus::Pending && now >= self.answer_by {
            RequestStatus::Expired
        } else {
            self.status
        }
    }
}
