//! API keys: each belongs to one shop and has roles. Keys are shown once and stored hashed.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use shiphold_domain::{ApiKeyId, ShopId};

use crate::problem::{ApiError, ProblemKind};
use crate::state::AppState;

/// The prefix of every API key, so leaked keys are easy to find in logs and scanners.
pub const KEY_PREFIX: &str = "shk_";

/// What a key may do.
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

/// A new random API key (256 bits).
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a key or card token. A fast hash is enough: the secrets are random and
/// long, so there is nothing to brute-force.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The authenticated caller of a merchant route.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's shop: every route works only on it.
    pub shop_id: ShopId,
    /// The key used.
    pub key_id: ApiKeyId,
    /// Its roles.
    pub roles: Vec<Role>,
}

impl Caller {
    /// Refuses with 403 unless the key has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(ApiError::new(
                ProblemKind::Forbidden,
                format!("this API key lacks the '{role}' role"),
            ))
        }
    }

    /// How audit entries name the caller.
    pub fn actor(&self) -> String {
        format!("api_key:{}", self.key_id)
    }
}

fn unauthenticated(detail: &str) -> ApiError {
    ApiError::new(ProblemKind::Unauthenticated, detail)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("send the API key as 'Authorization: Bearer shk_…'"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(KEY_PREFIX))
            .ok_or_else(|| unauthenticated("the Authorization header must be 'Bearer shk_…'"))?;
        let hash = hash_secret(token);
        let key = state
            .store()
            .read(move |tx| tx.api_key_by_hash(&hash))
            .await?;
        let key = key
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| unauthenticated("the API key is unknown or revoked"))?;
        Ok(Caller {
            shop_id: key.shop_id,
            key_id: key.id,
            roles: key.roles.iter().filter_map(|r| Role::parse(r)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
