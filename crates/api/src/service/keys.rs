//! API keys of a shop, for systems: created (the secret shown once, stored hashed), listed,
//! revoked.

use shiphold_domain::{ApiKeyId, FieldError, ShopId, ValidationError};
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
        errors.push(
            FieldError::new("label", "invalid", "a label is 1 to 100 characters")
                .zh("标签应为 1 到 100 个字符"),
        );
    }
    let mut parsed = Vec::new();
    for (i, raw) in roles.iter().enumerate() {
        match Role::parse(raw) {
            Some(r) if !parsed.contains(&r) => parsed.push(r),
            Some(_) => {}
            None => errors.push(
                FieldError::new(
                    format!("roles[{i}]"),
                    "invalid",
                    format!("unknown role '{raw}'; expected admin, agent or integration"),
                )
                .zh(format!(
                    "未知的角色“{raw}”;应为 admin、agent 或 integration"
                )),
            ),
        }
    }
    if roles.is_empty() {
        errors.push(
            FieldError::new("roles", "required", "give the key at least one role")
                .zh("请至少给密钥一个角色"),
        );
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
    insert_key(
        app,
        caller.shop_id.clone(),
        caller.actor(),
        label,
        roles,
        false,
    )
    .await
}

/// Makes, stores and audits a key; `check_shop` first makes sure the shop exists (operators
/// name it by hand).
async fn insert_key(
    app: &AppState,
    shop: ShopId,
    actor: String,
    label: String,
    roles: Vec<Role>,
    check_shop: bool,
) -> Result<CreatedKey, ServiceError> {
    let secret = generate_key();
    let now = app.now().business;
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(),
        shop_id: shop.clone(),
        label,
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        secret_hash: hash_secret(&secret),
        created_at: now,
        revoked_at: None,
    };
    let stored = record.clone();
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            if check_shop && tx.shop(&shop)?.is_none() {
                return Err(ServiceError::NotFound("shop"));
            }
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

/// Whether a stored key is an admin key that still works.
fn active_admin(key: &ApiKeyRecord) -> bool {
    key.revoked_at.is_none() && key.roles.iter().any(|r| r == Role::Admin.as_str())
}

/// Revokes a key: it authenticates nothing from now on. The shop's last working admin key is
/// kept, since without one nobody could manage the shop any more.
pub async fn revoke(app: &AppState, caller: &Caller, key_id: ApiKeyId) -> Result<(), ServiceError> {
    caller.require(Role::Admin)?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now().business);
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            // The settings row serialises key changes of one shop, so two admins revoking each
            // other's keys at once cannot both succeed.
            tx.settings_for_update(&shop)?;
            let keys = tx.api_keys(&shop)?;
            let target = keys
                .iter()
                .find(|k| k.id == key_id)
                .ok_or(ServiceError::NotFound("API key"))?;
            if active_admin(target) && keys.iter().filter(|k| active_admin(k)).count() == 1 {
                return Err(ServiceError::Refused {
                    en: "this is the shop's last admin key; create another admin key before \
                         revoking it"
                        .into(),
                    zh: "这是本店最后一个管理员密钥;请先创建另一个管理员密钥再撤销它".into(),
                });
            }
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

/// Makes a new key for an existing shop, for operators (`shiphold key create`): the way back
/// into a shop whose keys were lost. Only the command line reaches this.
pub async fn create_for_operator(
    app: &AppState,
    shop: ShopId,
    label: &str,
    roles: &[String],
) -> Result<CreatedKey, ServiceError> {
    let (label, roles) = parse_new_key(label, roles)?;
    insert_key(app, shop, "operator".to_owned(), label, roles, true).await
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
        credential: super::Credential::ApiKey(k.id),
        roles: k.roles.iter().filter_map(|r| Role::parse(r)).collect(),
    }))
}
