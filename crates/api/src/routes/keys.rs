//! API keys of the caller's shop: create (shown once), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shiphold_domain::{ApiKeyId, FieldError, ValidationError};
use shiphold_storage::ApiKeyRecord;
use utoipa::ToSchema;

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

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CreateApiKeyBody)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// What the key is for, 1 to 100 characters.
    #[schema(example = "ERP integration")]
    label: String,
    /// At least one of `admin`, `agent`, `integration`.
    #[schema(example = json!(["integration"]))]
    roles: Vec<String>,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
struct KeyView {
    #[schema(value_type = String)]
    id: ApiKeyId,
    label: String,
    /// `admin`, `agent` and/or `integration`.
    roles: Vec<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    /// When it was revoked; revoked keys authenticate nothing.
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The shop's API keys.
#[derive(Debug, Serialize, ToSchema)]
struct KeyList {
    items: Vec<KeyView>,
}

/// The answer to a revocation.
#[derive(Debug, Serialize, ToSchema)]
struct Revoked {
    /// Always `true`.
    revoked: bool,
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

/// A new key with its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
struct CreatedView {
    #[serde(flatten)]
    key: KeyView,
    /// The key itself (`shk_…`), shown this once: only its hash is stored.
    api_key: String,
}

/// Creates an API key; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    operation_id = "create_api_key",
    security(("api_key" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The key, with its secret shown once.", body = CreatedView),
        (status = 400, response = crate::openapi::MalformedRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::ValidationFailed),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
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

/// Lists the shop's API keys (admin).
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    operation_id = "list_api_keys",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Every key of the shop, revoked ones included.", body = KeyList),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    let keys = state.store().read(move |tx| tx.api_keys(&shop)).await?;
    let items: Vec<KeyView> = keys.into_iter().map(Into::into).collect();
    Ok(json(StatusCode::OK, &KeyList { items }))
}

/// Revokes an API key (admin).
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{key_id}",
    tag = "api-keys",
    operation_id = "revoke_api_key",
    security(("api_key" = [])),
    params(("key_id" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The key is revoked.", body = Revoked),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
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
    Ok(json(StatusCode::OK, &Revoked { revoked: true }))
}
