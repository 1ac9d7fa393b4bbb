//! API keys of the caller's shop: create (shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shiphold_domain::ApiKeyId;
use shiphold_storage::ApiKeyRecord;
use utoipa::ToSchema;

use super::{json, shown_once};
use crate::extract::{JsonBody, Path};
use crate::problem::ApiError;
use crate::service::{Caller, keys};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CreateApiKeyBody)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// What the key is for, 1 to 100 characters, not only spaces.
    #[schema(
        example = "ERP integration",
        min_length = 1,
        max_length = 100,
        pattern = "[^\\s\\u0085]"
    )]
    label: String,
    /// At least one of `admin`, `agent`, `integration`.
    #[schema(example = json!(["integration"]), value_type = Vec<crate::schema::mirror::Role>, min_items = 1)]
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
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let new_key = keys::parse_new_key(&body.label, &body.roles);
    let created = keys::create(&state, &caller, new_key).await?;
    let what = format!("API key {}", created.record.id);
    Ok(shown_once(
        json(
            StatusCode::CREATED,
            &CreatedView {
                key: created.record.into(),
                api_key: created.secret,
            },
        ),
        what,
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
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let items: Vec<KeyView> = keys::list(&state, &caller)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
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
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
    let key_id = ApiKeyId::parse(&key_id).map_err(|_| ApiError::not_found("API key"))?;
    keys::revoke(&state, &caller, key_id).await?;
    Ok(json(StatusCode::OK, &Revoked { revoked: true }))
}
