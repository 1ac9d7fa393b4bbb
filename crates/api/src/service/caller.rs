//! Who is asking: the caller of a use case, with the roles that authorise it. Every service
//! function checks them itself, so no path into a use case (route, replayed request, job, CLI)
//! can skip the check.

use std::fmt;

use shiphold_domain::{ApiKeyId, ShopId, StaffId};

use super::ServiceError;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Settings, keys, event windows.
    Admin,
    /// Customer service: cards, interceptions, releases.
    Agent,
    /// Order intake from the merchant's or the marketplace's systems.
    Integration,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Agent, Role::Integration];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Integration => "integration",
        }
    }

    /// Parses a role name.
    pub fn parse(raw: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller proved who they are with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A system, with an API key.
    ApiKey(ApiKeyId),
    /// A person, signed in to the console.
    Staff {
        /// The account.
        id: StaffId,
        /// Its login, which names the person in the history.
        login: String,
    },
}

/// A shop's system or person calling a merchant use case.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's shop: every use case works only on it.
    pub shop_id: ShopId,
    /// The API key or the signed-in account.
    pub credential: Credential,
    /// Its roles.
    pub roles: Vec<Role>,
}

impl Caller {
    /// Refuses unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ServiceError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(role))
        }
    }

    /// Refuses unless the caller has one of `roles` (the last is named when refused).
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ServiceError> {
        match roles.iter().find(|r| self.roles.contains(r)) {
            Some(_) => Ok(()),
            None => Err(ServiceError::Forbidden(
                roles.last().copied().unwrap_or(Role::Admin),
            )),
        }
    }

    /// How audit entries and history rows name the caller: `staff:<login>` for a person,
    /// `api_key:<id>` for a system.
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::ApiKey(id) => format!("api_key:{id}"),
            Credential::Staff { login, .. } => format!("staff:{login}"),
        }
    }

    /// The signed-in account, if a person is calling.
    pub fn staff_id(&self) -> Option<&StaffId> {
        match &self.credential {
            Credential::Staff { id, .. } => Some(id),
            Credential::ApiKey(_) => None,
        }
    }
}
