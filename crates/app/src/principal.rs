//! Who a use case acts for: a client, or a staff member in one of their roles.

use omadata_consent::{Staff, StaffRole};
use omadata_vault::ClientId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Professional,
    Auditor,
    Admin,
}

impl Role {
    /// The role's name as written in the API, in the audit log and in session keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Professional => "professional",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
            Principal::Staff { staff, role } => format!("{}:{}", role.as_str(), staff.id),
        }
    }
}

/// The staff role a staff registration's role is signed in as.
pub fn staff_role_of(role: StaffRole) -> Role {
    match role {
        StaffRole::Professional => Role::Professional,
        StaffRole::Auditor => Role::Auditor,
        StaffRole::Admin => Role::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Client, Role::Professional, Role::Auditor, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::String(role.as_str().into())
            );
        }
    }
}
