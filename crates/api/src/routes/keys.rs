//! API keys of the caller's shop: create (shown once), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shiphold_domain::{ApiKeyId, FieldError, ValidationError};
use shiphold_storage::ApiKeyRecord;

use super::{Auth, Table};
use super::{audit, json};
use crate::auth::{Caller, Role, generate_key, hash_secret};
use crate::extract::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;

pub(super) fn routes(table: Table) -> Table {
    table
        .get("/v1/api-keys", Auth::Key, list)
        .post("/v1/api-keys", Auth::Key, create)
        .delete("/v1/api-keys/{key_id}", Auth::Key, revoke)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    label: String,
    roles: Vec<String>,
}

#[derive(Debug, Serialize)]
struct KeyView {
    id: ApiKeyId,
    label: String,
    roles: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            label: k.label,
            roles: k.roles,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct CreatedView {
    #[serde(flatten)]
    key: KeyView,
    /// Shown once.
    api_key: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let body = body.value;
    let mut errors = ValidationError::empty();
    let label = body.label.trim().to_owned();
    if label.is_empty() || label.chars().count() > 100 {
        errors.push(FieldError::new(
            "label",
            "invalid",
            "a label is 1 to 100 characters",
        ));
    }
    let mut roles = Vec::new();
    for (i, raw) in body.roles.iter().enumerate() {
        match Role::parse(raw) {
            Some(r) if !roles.contains(&r) => roles.push(r),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("roles[{i}]"),
                "invalid",
                format!("unknown role '{raw}'; expected admin, agent or integration"),
            )),
        }
    }
    if body.roles.is_empty() {
        errors.push(FieldError::new(
            "roles",
            "required",
            "give the key at least one role",
        ));
    }
    errors.into_result()?;
    let secret = generate_key();
    let now = state.now();
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
    state
        .store()
        .write(move |tx| -> Result<(), ApiError> {
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
    Ok(json(
        StatusCode::CREATED,
        &CreatedView {
            key: record.into(),
            api_key: secret,
        },
    ))
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    let keys = state.store().read(move |tx| tx.api_keys(&shop)).await?;
    let items: Vec<KeyView> = keys.into_iter().map(Into::into).collect();
    Ok(json(StatusCode::OK, &serde_json::json!({ "items": items })))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let key_id = ApiKeyId::parse(&key_id).map_err(|_| ApiError::not_found("API key"))?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), state.now());
    state
        .store()
        .write(move |tx| -> Result<(), ApiError> {
            if !tx.revoke_api_key(&shop, &key_id, now)? {
                return Err(ApiError::not_found("API key"));
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
        .await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"revoked": true})))
}
