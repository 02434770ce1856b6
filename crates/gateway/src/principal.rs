//! Who a request acts as.

use omadata_consent::{Staff, StaffRole};
use omadata_vault::ClientId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Professional,
    Auditor,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "client" => Some(Role::Client),
            "professional" => Some(Role::Professional),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn staff_role(self) -> Option<StaffRole> {
        match self {
            Role::Client => None,
            Role::Professional => Some(StaffRole::Professional),
            Role::Auditor => Some(StaffRole::Auditor),
            Role::Admin => Some(StaffRole::Admin),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Principal {
    Client { id: ClientId, display_name: String },
    Staff { staff: Box<Staff>, role: Role },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Client { .. } => Role::Client,
            Principal::Staff { role, .. } => *role,
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            Principal::Client { display_name, .. } => display_name,
            Principal::Staff { staff, .. } => &staff.name,
        }
    }

    /// A stable key for "the same person in the same role".
    pub fn key(&self) -> String {
        match self {
            Principal::Client { id, .. } => format!("client:{id}"),
            Principal::Staff { staff, role } => format!("{role:?}:{}", staff.id),
        }
    }
}
