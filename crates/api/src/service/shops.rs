//! Shops, for operators: the `shiphold shop create` command creates one with its first key.

use shiphold_domain::{ApiKeyId, FieldError, ShopId};
use shiphold_storage::{ApiKeyRecord, ShopRecord};

use super::{Role, ServiceError};
use crate::auth::{generate_key, hash_secret};
use crate::state::AppState;

/// A shop just created, with its first API key in plain text (shown once, stored hashed).
#[derive(Debug, Clone)]
pub struct CreatedShop {
    /// The shop's id.
    pub shop_id: ShopId,
    /// The key's id.
    pub key_id: ApiKeyId,
    /// The key itself; it cannot be recovered later.
    pub api_key: String,
}

/// The longest shop name accepted, in characters.
pub const MAX_SHOP_NAME_CHARS: usize = 100;

/// Creates a shop and its first key, which has every role. Only operators reach this (the
/// command line); no API key can.
pub async fn create_shop(app: &AppState, name: &str) -> Result<CreatedShop, ServiceError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_SHOP_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            "invalid",
            format!("a shop name is 1 to {MAX_SHOP_NAME_CHARS} characters"),
        )
        .zh(format!("店铺名称应为 1 到 {MAX_SHOP_NAME_CHARS} 个字符"))
        .into());
    }
    let now = app.now().business;
    let shop_id = ShopId::generate();
    let key_id = ApiKeyId::generate();
    let api_key = generate_key();
    let shop = ShopRecord {
        id: shop_id.clone(),
        name,
        created_at: now,
    };
    let key = ApiKeyRecord {
        id: key_id.clone(),
        shop_id: shop_id.clone(),
        label: "first key".into(),
        roles: Role::ALL.iter().map(|r| r.as_str().to_owned()).collect(),
        secret_hash: hash_secret(&api_key),
        created_at: now,
        revoked_at: None,
    };
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            tx.insert_shop(&shop)?;
            tx.insert_api_key(&key)?;
            Ok(())
        })
        .await?;
    Ok(CreatedShop {
        shop_id,
        key_id,
        api_key,
    })
}
