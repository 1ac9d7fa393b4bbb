//! API keys of a shop, for systems: created (the secret shown once, stored hashed), listed,
//! revoked.

use shiphold_domain::{ApiKeyId, FieldError, ValidationError};
use shiphold_storage::ApiKeyRecord;

use super::{Caller, Parsed, Role, ServiceError, audit};
use crate::auth::{generate_key, hash_secret};
use crate::state::AppState;

/// A key just made, with its secret in clear (only its hash is stored).
#[derive(Debug)]
pub struct CreatedKey {
    /// The key as stored.
    pub record: ApiKeyRecord,
    /// The key itself (`shk_…`).
    pub secret: String,
}

/// Checks a new key's label and roles, each failing field named.
pub fn parse_new_key(
    label: &str,
    roles: &[String],
) -> Result<(String, Vec<Role>), ValidationError> {
    let mut errors = ValidationError::empty();
    let label = label.trim().to_owned();
    if label.is_empty() || label.chars().count() > 100 {
        errors.push(FieldError::new(
            "label",
            "invalid",
            "a label is 1 to 100 characters",
        ));
    }
    let mut parsed = Vec::new();
    for (i, raw) in roles.iter().enumerate() {
        match Role::parse(raw) {
            Some(r) if !parsed.contains(&r) => parsed.push(r),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("roles[{i}]"),
                "invalid",
                format!("unknown role '{raw}'; expected admin, agent or integration"),
            )),
        }
    }
    if roles.is_empty() {
        errors.push(FieldError::new(
            "roles",
            "required",
            "give the key at least one role",
        ));
    }
    errors.into_result()?;
    Ok((label, parsed))
}

/// Creates an API key with `roles`.
pub async fn create(
    app: &AppState,
    caller: &Caller,
    new_key: Parsed<(String, Vec<Role>)>,
) -> Result<CreatedKey, ServiceError> {
    caller.require(Role::Admin)?;
    let (label, roles) = new_key?;
    let secret = generate_key();
    let now = app.now().business;
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(),
        shop_id: caller.shop_id.clone(),
        label,
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        secret_hash: hash_secret(&secret),
        created_at: now,
        revoked_at: None,
    };
    let (shop, actor, stored) = (caller.shop_id.clone(), caller.actor(), record.clone());
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            tx.insert_api_key(&stored)?;
            let after =
                serde_json::json!({"id": stored.id, "label": stored.label, "roles": stored.roles});
            audit(
                tx,
                &shop,
                now,
                &actor,
                "api_key.create",
                stored.id.as_str(),
                serde_json::Value::Null,
                after,
            )?;
            Ok(())
        })
        .await?;
    Ok(CreatedKey { record, secret })
}

/// Every key of the shop, revoked ones included.
pub async fn list(app: &AppState, caller: &Caller) -> Result<Vec<ApiKeyRecord>, ServiceError> {
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    Ok(app.store().read(move |tx| tx.api_keys(&shop)).await?)
}

/// Revokes a key: it authenticates nothing from now on.
pub async fn revoke(app: &AppState, caller: &Caller, key_id: ApiKeyId) -> Result<(), ServiceError> {
    caller.require(Role::Admin)?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now().business);
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            if !tx.revoke_api_key(&shop, &key_id, now)? {
                return Err(ServiceError::NotFound("API key"));
            }
            audit(
                tx,
                &shop,
                now,
                &actor,
                "api_key.revoke",
                key_id.as_str(),
                serde_json::Value::Null,
                serde_json::json!({"revoked_at": now}),
            )?;
            Ok(())
        })
        .await
}

/// The caller an API key authenticates, or `None` for an unknown or revoked key.
pub async fn authenticate(app: &AppState, key: &str) -> Result<Option<Caller>, ServiceError> {
    let hash = hash_secret(key);
    let record = app
        .store()
        .read(move |tx| tx.api_key_by_hash(&hash))
        .await?;
    Ok(record.filter(|k| k.revoked_at.is_none()).map(|k| Caller {
        shop_id: k.shop_id,
        key_id: k.id,
        roles: k.roles.iter().filter_map(|r| Role::parse(r)).collect(),
    }))
}
